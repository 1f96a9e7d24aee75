/* The checks of an output before a run creates it: its directory (made when
 * missing), links, the study's own files, an existing record (--force). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"
#include "run/kh_sim.h"

/* Refuses an output path whose directory is missing or read-only before any
 * computation. */
/* The directory of an output path ("." for a bare name). */
void kh_sim_output_dir(const char *path, char *dir, size_t len)
{
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        dir[1] = '\0';
    } else if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, len, ".");
    }
}

double kh_sim_output_room(const char *path, char *dir, size_t len)
{
    kh_sim_output_dir(path, dir, len);
    struct statvfs sv;
    return statvfs(dir, &sv) == 0 ? (double)sv.f_bavail * (double)sv.f_frsize : HUGE_VAL;
}

/* Creates directory `dir` and its parents as needed (mkdir -p). */
static int make_dirs(const char *dir)
{
    char buf[KH_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *q = buf + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            const char c = *q;
            *q = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return -1;
            }
            if (c == '\0') {
                return 0;
            }
            *q = c;
        }
    }
}

/* Whether a and b name the same file (both must exist). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a[0] && b[0] && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int kh_sim_check_output(const kh_config *c, int resume)
{
    const kh_params *p = &c->p;
    const char *path = p->out_path;
    char dir[KH_PATH_MAX];
    kh_sim_output_dir(path, dir, sizeof dir);
    struct stat ds;
    if (stat(dir, &ds) != 0 && make_dirs(dir) != 0) {
        return KH_ERROR(KH_EIO, "output.path = %s: cannot create its directory %s: %s", path, dir,
                        strerror(errno));
    }
    if (access(dir, W_OK | X_OK) != 0) {
        return KH_ERROR(KH_EIO, "output.path = %s: directory %s is not writable: %s", path, dir,
                        strerror(errno));
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        return KH_OK; /* a new file */
    }
    if (S_ISLNK(st.st_mode)) {
        return KH_ERROR(KH_EINVAL,
                        "output.path = %s is a symbolic link: khsim does not write through "
                        "links (name the file itself)",
                        path);
    }
    if (!S_ISREG(st.st_mode)) {
        return KH_ERROR(KH_EINVAL, "output.path = %s exists and is not a regular file", path);
    }
    if (same_file(path, c->study_path)) {
        return KH_ERROR(KH_EINVAL, "output.path = %s is the study file itself", path);
    }
    const int reads_init = p->weights == KH_INIT_FILE || p->tr_features == KH_FEAT_FILE ||
                           p->tr_features == KH_FEAT_CONV;
    if ((p->source == KH_SRC_FILE && same_file(path, p->input_path)) ||
        (reads_init && same_file(path, p->init_path))) {
        return KH_ERROR(KH_EINVAL, "output.path = %s is a file the study reads (%s)", path,
                        p->source == KH_SRC_FILE && same_file(path, p->input_path) ? "input.path"
                                                                                   : "init.path");
    }
    if (!resume && !p->overwrite && st.st_size > 0) {
        return KH_ERROR(KH_EINVAL,
                        "output.path = %s exists: khsim does not replace it without --force (or "
                        "output.overwrite = true); to continue an interrupted run, khsim run "
                        "--resume %s",
                        path, path);
    }
    if (access(path, W_OK) != 0) {
        return KH_ERROR(KH_EIO, "output.path = %s: the file exists and is not writable", path);
    }
    return KH_OK;
}
