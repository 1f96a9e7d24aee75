/* A disk that another process fills, for the tests (LD_PRELOAD): once the
 * process has written KH_DISK_FILLS_AFTER bytes with pwrite (HDF5's writes),
 * every further pwrite fails with ENOSPC and statvfs reports no free space,
 * as when another process takes the last of the disk between two of khsim's
 * room checks. Unset, it changes nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

static int full = 0;

/* Whether n more bytes may be written; the disk is full from the first
 * write that does not fit. */
static int take(size_t n)
{
    static long long left = -2;
    if (left == -2) {
        const char *e = getenv("KH_DISK_FILLS_AFTER");
        left = e ? atoll(e) : -1;
    }
    if (left < 0) {
        return 1;
    }
    if (full || (long long)n > left) {
        full = 1;
        return 0;
    }
    left -= (long long)n;
    return 1;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) {
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    }
    if (!take(n)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}

int statvfs(const char *path, struct statvfs *s)
{
    static int (*real)(const char *, struct statvfs *);
    if (!real) {
        real = (int (*)(const char *, struct statvfs *))dlsym(RTLD_NEXT, "statvfs");
    }
    const int r = real(path, s);
    if (r == 0 && full) {
        s->f_bavail = s->f_bfree = 0;
    }
    return r;
}
