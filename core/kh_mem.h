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

/* The heap's policy for the whole process, set once at its start: memory
 * that is freed stays with the process (up to 64 MiB at the heap's top)
 * instead of going back to the kernel at once, and blocks below 1 MiB come
 * from the heap (larger ones, the arrays above, keep mappings of their own,
 * where huge pages apply). Without it, HDF5's deflate, which allocates and
 * frees zlib's state (about 270 KB) for every chunk it writes, made glibc
 * map and unmap it, or grow and trim the heap, tens of thousands of times
 * a fast-rule epoch: each a system call and a TLB flush, each regrowth page
 * faults (a fast-rule run at m = 2000, one epoch: 9.4 s, half of it in the
 * kernel; with it 4.9 s). */
void kh_mem_policy(void);

#endif
