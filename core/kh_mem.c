/* Large arrays on transparent huge pages (kh_mem.h). */
#include "core/kh_mem.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KH_HUGE_PAGE ((size_t)2 << 20)

void *kh_big_alloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        return NULL;
    }
    size_t bytes = count * size;
    if (bytes < KH_HUGE_PAGE) {
        return malloc(bytes ? bytes : 1);
    }
    void *p = NULL;
    if (posix_memalign(&p, KH_HUGE_PAGE, bytes) != 0) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* The whole huge pages inside the array; a refusal leaves small ones. */
    size_t whole = bytes & ~(KH_HUGE_PAGE - 1);
    (void)madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
}

void *kh_big_zalloc(size_t count, size_t size)
{
    void *p = kh_big_alloc(count, size);
    if (p) {
        memset(p, 0, count * size);
    }
    return p;
}

void kh_mem_policy(void)
{
#ifdef M_TRIM_THRESHOLD
    (void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}
