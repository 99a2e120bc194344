/* Constants shared by the benchmark kernels' C and assembly. */
#ifndef VMXEMU_GUEST_BENCH_H
#define VMXEMU_GUEST_BENCH_H

#define FIB_N 20               /* the depth of the calls workload's fib */
#define PAGED_VA 0x40000000    /* bench64: 256 4 KiB pages mapped here */
#define PAGED_PAGES 256

#endif
