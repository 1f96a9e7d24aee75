/* Large arrays (the weights, the state vector, the moments' tables).
 *
 * An array of megabytes costs one page fault per 4 KiB page the first time
 * it is written; on a virtual machine a fault costs microseconds, and a run
 * at m = 2000 touches tens of megabytes when it starts. kh_big_alloc
 * aligns an array of 2 MiB or more to 2 MiB and asks the kernel for
 * transparent huge pages there (madvise MADV_HUGEPAGE; Debian's kernels
 * give them only where asked), so the same array costs one fault per 2 MiB
 * and fewer TLB misses afterwards. Where the kernel refuses, the array is
 * an ordinary one. Free it with free(). */
#ifndef KH_MEM_H
#define KH_MEM_H

#include <stddef.h>

/* `count` elements of `size` bytes, uninitialised; NULL when out of memory
 * or when count * size overflows. */
void *kh_big_alloc(size_t count, size_t size);
/* The same, zeroed. */
void *kh_big_zalloc(size_t count, size_t size);

#endif
