/* Hosted build of the compute code: the oracle for the guests' output.
 * Build: gcc -O2 -DCOMPUTE_HOSTED -o compute-host compute.c host_main.c */
#include "compute.h"

int main(void)
{
	return compute_run() ? 1 : 0;
}
