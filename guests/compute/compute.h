/*
 * The environment of the shared compute code.  compute.c is built three
 * ways: into the 32-bit guest, into the 64-bit guest, and as an ordinary
 * hosted program (COMPUTE_HOSTED) whose output, computed by the host CPU
 * and the host C library, is the independent oracle for the guests' output.
 */
#ifndef VMXEMU_COMPUTE_H
#define VMXEMU_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef COMPUTE_HOSTED
#include <setjmp.h>
#include <stdio.h>
#define kprintf printf
typedef jmp_buf k_jmp_buf;
#define k_setjmp(env) setjmp(env)
#define k_longjmp(env, val) longjmp(env, val)
#else
#include "kernel.h"
#endif

/* Runs every computation, prints one line per result and returns the
 * number of failed self-checks. */
int compute_run(void);

#endif
