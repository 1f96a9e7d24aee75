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

/* khsim's memory limit: a run that needs more memory than the machine has
 * is refused with "out of memory" when it allocates, instead of being
 * killed by the kernel (or making it kill another process) when it first
 * touches what it was promised. Set once at the start of the process as a
 * limit on its data (RLIMIT_DATA, which counts what is allocated, touched
 * or not), from KHSIM_MEMORY:
 * - unset or "auto": the memory available when the process starts (the
 *   kernel's MemAvailable plus free swap, at most what its control group
 *   still allows), plus KH_MEM_SLACK and KH_MEM_SLACK_THREAD per online
 *   processor for reservations never touched, OpenBLAS's buffers among
 *   them (a thread of OpenBLAS that cannot map its buffer retries forever,
 *   deaf to signals: with this room a study that leaves it too little
 *   would have needed more than the memory available anyway);
 * - "unlimited": no limit;
 * - a size ("8G", "512M", "2.5G", "1000000000"; K, M, G, T are powers of
 *   1024): that much, at least KH_MEM_FLOOR (below it a library, OpenBLAS
 *   among them, can fail to start its threads, and some hang or crash
 *   instead of saying so).
 * The limit counts from what the process holds when it is set. Returns
 * KH_OK, or KH_EINVAL for a KHSIM_MEMORY that is none of those (with its
 * message). Not applied under AddressSanitizer, whose own reservations the
 * limit would count. */
#define KH_MEM_SLACK (512.0 * 1024 * 1024)
#define KH_MEM_SLACK_THREAD (256.0 * 1024 * 1024)
#define KH_MEM_FLOOR (256.0 * 1024 * 1024)
int kh_mem_limit_start(void);

/* The limit set by kh_mem_limit_start (bytes beyond the start), 0 when
 * none; *automatic says whether it came from the machine (auto). */
double kh_mem_limit_bytes(int *automatic);

/* The parts, for the tests. A size as KHSIM_MEMORY takes it: 0 and
 * *bytes, or -1. */
int kh_mem_parse_size(const char *text, double *bytes);
/* MemAvailable plus SwapFree from the text of /proc/meminfo, in bytes;
 * -1 when MemAvailable is absent. */
double kh_mem_available_from(const char *meminfo);
/* What the control groups named in `groups_text` (the text of
 * /proc/self/cgroup) still allow, their files under `root` (the mount,
 * /sys/fs/cgroup): the least of limit - usage over the memory
 * controller's groups from the process's own up to the mount (cgroup v2's
 * memory.max and memory.current; v1's memory.limit_in_bytes and
 * memory.usage_in_bytes under root/memory), in bytes; -1 when none limits
 * it. */
double kh_mem_cgroup_room(const char *groups_text, const char *root);

#endif
