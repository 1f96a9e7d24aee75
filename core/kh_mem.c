/* Large arrays on transparent huge pages (kh_mem.h). */
#include "core/kh_mem.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/kh_error.h"

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

/* ---- the memory limit ---- */

static double limit_bytes = 0.0;
static int limit_auto = 0;

int kh_mem_parse_size(const char *text, double *bytes)
{
    if (!text) {
        return -1;
    }
    char *end;
    double x = strtod(text, &end);
    if (end == text || !(x > 0.0) || x > 1e18) {
        return -1;
    }
    double unit = 1.0;
    switch (*end) {
    case 'k':
    case 'K':
        unit = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        unit = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        unit = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        unit = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (unit > 1.0 && (*end == 'i' || *end == 'I')) {
        end++; /* "8GiB" */
    }
    if (unit > 1.0 && (*end == 'b' || *end == 'B')) {
        end++;
    }
    if (*end != 0) {
        return -1;
    }
    *bytes = x * unit;
    return 0;
}

/* The value in kB of the line of `text` that starts with `key`; -1 when
 * there is none. */
static double meminfo_kb(const char *text, const char *key)
{
    const size_t len = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, len) == 0) {
            char *end;
            double kb = strtod(line + len, &end);
            return end == line + len ? -1.0 : kb;
        }
    }
    return -1.0;
}

double kh_mem_available_from(const char *meminfo)
{
    double avail = meminfo_kb(meminfo, "MemAvailable:");
    if (avail < 0.0) {
        return -1.0;
    }
    double swap = meminfo_kb(meminfo, "SwapFree:");
    return 1024.0 * (avail + (swap > 0.0 ? swap : 0.0));
}

/* The first `max - 1` bytes of a file, NUL-terminated; 0 when unread. */
static size_t read_small(const char *path, char *buf, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    size_t got = fread(buf, 1, max - 1, f);
    fclose(f);
    buf[got] = 0;
    return got;
}

/* One number from a file (a control group's limit or usage); -1 when
 * absent or "max". */
static double file_number(const char *dir, const char *name)
{
    char path[4200], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!read_small(path, buf, sizeof buf)) {
        return -1.0;
    }
    char *end;
    double x = strtod(buf, &end);
    return end == buf ? -1.0 : x;
}

double kh_mem_cgroup_room(const char *groups_text, const char *root)
{
    char groups[4096];
    snprintf(groups, sizeof groups, "%s", groups_text);
    double room = -1.0;
    char *save = NULL;
    for (char *line = strtok_r(groups, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *v2 = strncmp(line, "0::", 3) == 0 ? line + 3 : NULL;
        const char *v1 = strstr(line, ":memory:");
        if (!v2 && !v1) {
            continue;
        }
        char mount[1024];
        snprintf(mount, sizeof mount, "%s%s", root, v2 ? "" : "/memory");
        const char *limit = v2 ? "memory.max" : "memory.limit_in_bytes";
        const char *usage = v2 ? "memory.current" : "memory.usage_in_bytes";
        char dir[4096];
        snprintf(dir, sizeof dir, "%s%s", mount, v2 ? v2 : v1 + 8);
        for (;;) {
            double lim = file_number(dir, limit), use = file_number(dir, usage);
            if (lim > 0.0 && lim < 1e18 && use >= 0.0) {
                double r = lim > use ? lim - use : 0.0;
                room = room < 0.0 || r < room ? r : room;
            }
            char *slash = strrchr(dir, '/');
            if (!slash || (size_t)(slash - dir) < strlen(mount)) {
                break;
            }
            *slash = 0; /* the parent group, up to the mount */
        }
    }
    return room;
}

/* What the control groups over this process still allow (-1: none
 * limits it). */
static double cgroup_room(void)
{
    char groups[4096];
    if (!read_small("/proc/self/cgroup", groups, sizeof groups)) {
        return -1.0;
    }
    return kh_mem_cgroup_room(groups, "/sys/fs/cgroup");
}

/* The process's data now (VmData), in bytes; 0 when unread. */
static double data_now(void)
{
    char status[8192];
    if (!read_small("/proc/self/status", status, sizeof status)) {
        return 0.0;
    }
    double kb = meminfo_kb(status, "VmData:");
    return kb > 0.0 ? 1024.0 * kb : 0.0;
}

int kh_mem_limit_start(void)
{
    const char *env = getenv("KHSIM_MEMORY");
    double bytes = 0.0;
    int automatic = !env || !*env || strcmp(env, "auto") == 0;
    if (env && strcmp(env, "unlimited") == 0) {
        return KH_OK;
    }
    if (!automatic && kh_mem_parse_size(env, &bytes) != 0) {
        return KH_ERROR(KH_EINVAL,
                        "KHSIM_MEMORY = %s: expected auto, unlimited or a size such as 8G or 512M",
                        env);
    }
    if (!automatic && bytes < KH_MEM_FLOOR) {
        return KH_ERROR(KH_EINVAL,
                        "KHSIM_MEMORY = %s: below %.0fM, what khsim's libraries need to start "
                        "(BLAS's buffers)",
                        env, KH_MEM_FLOOR / (1024.0 * 1024));
    }
#if defined(__SANITIZE_ADDRESS__)
    if (automatic) {
        return KH_OK;
    }
#endif
    if (automatic) {
        char info[16384];
        if (!read_small("/proc/meminfo", info, sizeof info)) {
            return KH_OK;
        }
        double avail = kh_mem_available_from(info);
        if (avail < 0.0) {
            return KH_OK;
        }
        double room = cgroup_room();
        if (room >= 0.0 && room < avail) {
            avail = room;
        }
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        bytes = avail + KH_MEM_SLACK + KH_MEM_SLACK_THREAD * (double)(cpus > 1 ? cpus : 1);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_DATA, &rl) != 0) {
        return KH_OK;
    }
    double cap = data_now() + bytes;
    if (rl.rlim_cur != RLIM_INFINITY && cap >= (double)rl.rlim_cur) {
        return KH_OK; /* a tighter limit is already there (rlim_cur <= rlim_max) */
    }
    rl.rlim_cur = (rlim_t)cap;
    if (setrlimit(RLIMIT_DATA, &rl) == 0) {
        limit_bytes = bytes;
        limit_auto = automatic;
    }
    return KH_OK;
}

double kh_mem_limit_bytes(int *automatic)
{
    if (automatic) {
        *automatic = limit_auto;
    }
    return limit_bytes;
}
