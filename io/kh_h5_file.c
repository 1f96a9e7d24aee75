/* The life of an HDF5 file khsim writes (kh_h5_internal.h): the write lock
 * taken before HDF5 truncates it, the room check, HDF5's SWMR live mode and
 * leaving it, flushes, the records left open when a library ends the
 * process, closing, and the attribute helpers. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_version.h"
#include "io/kh_h5.h"
#include "io/kh_h5_internal.h"

/* Live mode. While a run only appends rows to datasets that exist, its file
 * is in HDF5's single-writer/multiple-reader (SWMR) mode. There HDF5 writes
 * its metadata in dependency order, so that the file on disk is valid at
 * every instant, and it never frees the old place of a chunk it rewrites
 * larger (outside SWMR that place is reused at once while the metadata on
 * disk still points there: the "inflate() failed" of a killed record). So a
 * record killed at any instant opens and holds every row up to its last
 * flush; readers may also follow a live run (h5py: swmr=True). A file goes
 * live at each flush (go_live) and leaves live mode before anything SWMR does
 * not allow: a new dataset or group, an attribute, a shorter dataset
 * (settle, which closes and reopens it). */

/* Whether `bytes` more fit: the file's size, what is still in HDF5's caches
 * since the last flush, these bytes and the reserve against the smaller of
 * the file-size limit (RLIMIT_FSIZE) and the free space of its file system.
 * When they do not, the run is stopped here with KH_EIO, so that the file can
 * still be closed valid (a write that fails inside HDF5 leaves it unreadable). */
static int room_check(kh_h5 *f, double bytes, int take);

int kh_h5i_room_for(kh_h5 *f, double bytes)
{
    return room_check(f, bytes, 1);
}

/* kh_h5i_room_for, counting the bytes as appended when `take`. */
static int room_check(kh_h5 *f, double bytes, int take)
{
    hsize_t size = 0;
    H5Fget_filesize(f->file, &size);
    double limit = INFINITY;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        limit = (double)rl.rlim_cur;
    }
    struct statvfs sv;
    double disk = INFINITY;
    if (statvfs(f->path, &sv) == 0) {
        disk = (double)sv.f_bavail * (double)sv.f_frsize;
        limit = fmin(limit, (double)size + disk);
    }
    const double unflushed = fmin(f->pending + bytes, KH_H5_CACHED);
    if (f->full || (double)size + unflushed + KH_H5_RESERVE > limit) {
        if (!f->full && (double)size + disk == limit) {
            f->free_at_stop = disk; /* the disk, not the file-size limit */
        }
        f->full = 1;
        return KH_ERROR(KH_EIO,
                        "%s: no room for more (%.0f bytes written, %.0f allowed by the file-size "
                        "limit or the free disk space): the run stops here and the file keeps "
                        "every row so far",
                        f->path, (double)size, limit);
    }
    if (take) {
        f->pending += bytes;
    }
    return KH_OK;
}

/* The access list of every file khsim writes: the latest format (SWMR
 * needs it) and, for a file opened again, its "open for writing" flags
 * cleared: claim holds the lock that a live khsim writer would hold, so flags
 * left set are those of a killed run. (clear_status_flags is the property
 * h5clear -s sets.) */
hid_t kh_h5i_writer_fapl(int clear)
{
    hid_t fa = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fa, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    if (clear) {
        hbool_t yes = 1;
        H5Pset(fa, "clear_status_flags", &yes);
    }
    return fa;
}

/* How many records are open to write outside live mode, where a process
 * that ends leaves them unreadable, and the signal that should end the
 * process once none is (kh_h5_defer_signal). */
static volatile sig_atomic_t exposed = 0;

static volatile sig_atomic_t deferred = 0;

int kh_h5_defer_signal(int sig)
{
    if (exposed > 0) {
        deferred = sig;
        return 1;
    }
    return 0;
}

void kh_h5i_expose(kh_h5 *f, int yes)
{
    if (yes == f->exposed || (yes && f->no_live)) {
        return;
    }
    f->exposed = yes;
    exposed += yes ? 1 : -1;
    if (exposed == 0 && deferred) {
        const int sig = deferred;
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/* The records this process has open to write, so that a library that ends
 * the process with exit() (libgomp when it cannot create a thread) leaves
 * them "failed" with a message, not "running" (on_exit_unclosed). */
#define KH_H5_OPEN_MAX 16
static kh_h5 *unclosed[KH_H5_OPEN_MAX];
static pid_t unclosed_pid;

static void on_exit_unclosed(void)
{
    if (getpid() != unclosed_pid) {
        return;
    }
    int any = 0;
    for (int i = 0; i < KH_H5_OPEN_MAX; i++) {
        kh_h5 *f = unclosed[i];
        if (f) {
            any = 1;
            fprintf(stderr,
                    "khsim: the process is ending inside a library (its message is above); "
                    "%s is marked failed\n",
                    f->path);
            kh_h5_set_status(f, "failed",
                             "the process ended inside a library before the run could stop "
                             "(libgomp: thread creation failed? then use fewer solver.threads)");
            kh_h5_close(f);
        }
    }
    if (any) {
        _exit(2);
    }
}

void kh_h5i_track(kh_h5 *f, int open)
{
    static int registered = 0;
    if (!registered) {
        registered = 1;
        unclosed_pid = getpid();
        atexit(on_exit_unclosed);
    }
    for (int i = 0; i < KH_H5_OPEN_MAX; i++) {
        if (open ? unclosed[i] == NULL : unclosed[i] == f) {
            unclosed[i] = open ? f : NULL;
            return;
        }
    }
}

static void go_live(kh_h5 *f)
{
    if (f->live || f->no_live) {
        return;
    }
    if (H5Fstart_swmr_write(f->file) < 0) {
        f->no_live = 1; /* the file keeps working outside SWMR */
    } else {
        f->live = 1;
    }
    kh_h5i_expose(f, 0);
}

/* 50 ms apart: a minute. */
#define KH_H5_REOPEN_TRIES 1200

/* Whether another process holds HDF5's lock (flock) on path. */
static int locked_by_other(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    const int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* and with it the lock, when it was taken */
    return busy;
}

/* Opens path to write, or with `create` creates it (truncating). A reader
 * (khsim info, a plot, h5py on the live record, a script polling for the
 * record) holds HDF5's lock on the file for a moment, and the call fails:
 * it is tried again, 50 ms apart, for up to a minute, while that can be
 * why (an open: the file is a writable HDF5 file; a creation: another
 * process holds the lock). */
static hid_t open_waiting(const char *path, hid_t fa, int create)
{
    for (int tries = 0;; tries++) {
        const hid_t h = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fa)
                               : H5Fopen(path, H5F_ACC_RDWR, fa);
        if (h >= 0 || tries == KH_H5_REOPEN_TRIES ||
            !(create ? locked_by_other(path) : access(path, W_OK) == 0 && H5Fis_hdf5(path) > 0)) {
            return h;
        }
        usleep(50000);
    }
}

hid_t kh_h5i_create_waiting(const char *path, hid_t fa)
{
    return open_waiting(path, fa, 1);
}

int kh_h5i_settle(kh_h5 *f)
{
    if (!f->live) {
        return KH_OK;
    }
    /* Leaving live mode rewrites metadata outside SWMR's order: not after a
     * failed write, nor without room for it (a disk another process filled),
     * where the record is better left as it is on disk. */
    struct statvfs sv;
    double disk = INFINITY;
    if (f->free_at_stop > 0.0) {
        /* The disk stopped the run: if its free space still shrinks now that
         * khsim writes nothing, another process is filling it. */
        usleep(100000);
    }
    if (statvfs(f->path, &sv) == 0) {
        disk = (double)sv.f_bavail * (double)sv.f_frsize;
    }
    if (f->broken || disk < KH_H5_RESERVE / 2 ||
        (f->free_at_stop > 0.0 && disk < f->free_at_stop)) {
        f->broken = 1;
        return KH_ERROR(KH_EIO,
                        "%s: a write failed or the disk is full: the record is left as it is "
                        "on disk, with every row up to its last snapshot; khsim run --resume "
                        "%s goes on from there once there is room",
                        f->path, f->path);
    }
    int open[D_N];
    for (int i = 0; i < D_N; i++) {
        open[i] = f->ds[i] >= 0;
        if (open[i]) {
            H5Dclose(f->ds[i]);
            f->ds[i] = -1;
        }
    }
    f->live = 0;
    kh_h5i_expose(f, 1);
    hid_t fa = kh_h5i_writer_fapl(0);
    const herr_t e = H5Fclose(f->file);
    f->file = e < 0 ? -1 : open_waiting(f->path, fa, 0);
    H5Pclose(fa);
    if (f->file < 0) {
        return KH_ERROR(KH_EIO,
                        "%s: cannot close and reopen the HDF5 file (disk full, or another "
                        "process kept it open for a minute?)",
                        f->path);
    }
    for (int i = 0; i < D_N; i++) {
        if (open[i] && (f->ds[i] = H5Dopen2(f->file, kh_h5i_dataset_name(i), H5P_DEFAULT)) < 0) {
            return KH_ERROR(KH_EIO, "%s: cannot reopen %s", f->path, kh_h5i_dataset_name(i));
        }
    }
    return KH_OK;
}

int kh_h5i_flush(kh_h5 *f)
{
    if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0) {
        f->broken = 1;
        return KH_ERROR(KH_EIO, "%s: cannot flush (disk full?)", f->path);
    }
    f->pending = 0.0;
    go_live(f);
    return KH_OK;
}

long kh_h5i_attr_count(hid_t a)
{
    hid_t sp = H5Aget_space(a);
    if (sp < 0) {
        return -1;
    }
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    return n < 0 ? -1 : (long)n;
}

int kh_h5i_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0) {
        H5Adelete(obj, name);
    }
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0) {
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(t);
    return e < 0 ? KH_ERROR(KH_EIO, "cannot write attribute %s", name) : KH_OK;
}

int kh_h5i_attr_num(hid_t obj, const char *name, hid_t type, const void *value)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0) {
        H5Adelete(obj, name);
    }
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, type, value);
    if (a >= 0) {
        H5Aclose(a);
    }
    H5Sclose(sp);
    return e < 0 ? KH_ERROR(KH_EIO, "cannot write attribute %s", name) : KH_OK;
}

int kh_h5i_attr_double(hid_t obj, const char *name, double x)
{
    return kh_h5i_attr_num(obj, name, H5T_NATIVE_DOUBLE, &x);
}

int kh_h5i_attr_long(hid_t obj, const char *name, long x)
{
    return kh_h5i_attr_num(obj, name, H5T_NATIVE_LONG, &x);
}

void kh_h5i_iso_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}

/* A writer with no file open yet and no dataset, for `path`. */
kh_h5 *kh_h5i_writer_alloc(const char *path)
{
    kh_h5 *f = calloc(1, sizeof *f);
    if (!f) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the HDF5 writer");
        return NULL;
    }
    for (int i = 0; i < D_N; i++) {
        f->ds[i] = -1;
    }
    f->lock_fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    return f;
}

/* Before a file is created (truncated) or opened to write: opens it
 * without following a symbolic link and takes a write lock of the open file
 * description (Linux's OFD lock: closing another descriptor of the file, as
 * HDF5 does, does not drop it), which another khsim writing it holds; so a
 * second run never truncates the file of a first. (HDF5's own lock, flock,
 * comes only after its truncation, and does not interact with this one.)
 * KH_OK, KH_EINVAL, KH_EIO. */
int kh_h5i_claim(kh_h5 *f, int create)
{
    int fd = open(f->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) {
        if (errno == ELOOP) {
            return KH_ERROR(KH_EINVAL, "%s is a symbolic link: khsim does not write through links",
                            f->path);
        }
        return KH_ERROR(KH_EIO, "%s: cannot open for writing: %s", f->path, strerror(errno));
    }
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_SETLK, &l) != 0) {
        close(fd);
        return KH_ERROR(KH_EIO, "%s: another process is writing this file (left untouched)",
                        f->path);
    }
    f->lock_fd = fd;
    return KH_OK;
}

int kh_h5_room(kh_h5 *f, double bytes)
{
    return room_check(f, bytes, 0);
}

int kh_h5_flush(kh_h5 *f)
{
    return kh_h5i_flush(f);
}

kh_h5 *kh_h5_create_plain(const char *path)
{
    kh_h5 *f = kh_h5i_writer_alloc(path);
    if (!f) {
        return NULL;
    }
    if (kh_h5i_claim(f, 1) != KH_OK) {
        free(f);
        return NULL;
    }
    f->file = kh_h5i_create_waiting(path, H5P_DEFAULT);
    char now[64];
    kh_h5i_iso_now(now, sizeof now);
    if (f->file < 0 || kh_h5i_attr_string(f->file, "khsim_version", KH_VERSION) != KH_OK ||
        kh_h5i_attr_string(f->file, "created", now) != KH_OK) {
        kh_h5_close(f);
        KH_ERROR(KH_EIO, "%s: cannot create the HDF5 file", path);
        return NULL;
    }
    return f;
}

kh_h5 *kh_h5_open_rw(const char *path)
{
    kh_h5 *f = kh_h5i_writer_alloc(path);
    if (!f) {
        return NULL;
    }
    if (kh_h5i_claim(f, 0) != KH_OK) {
        free(f);
        return NULL;
    }
    hid_t fa = kh_h5i_writer_fapl(1);
    f->file = open_waiting(path, fa, 0);
    H5Pclose(fa);
    if (f->file < 0) {
        close(f->lock_fd);
        free(f);
        KH_ERROR(KH_EIO, "%s: cannot open for writing", path);
        return NULL;
    }
    kh_h5i_expose(f, 1);
    kh_h5i_track(f, 1);
    return f;
}

int kh_h5_close(kh_h5 *f)
{
    if (!f) {
        return KH_OK;
    }
    herr_t e = 0;
    const int left_live = f->live && f->broken;
    if (left_live) {
        /* A write failed in live mode: what is on disk is valid (SWMR's
         * order) and closing would write more (first the flags that a live
         * file is open, then what is cached) where it no longer fits. So the
         * file's descriptor is pointed at /dev/null, read-only: HDF5's last
         * writes fail, and the record stays as it was on disk. */
        void *handle = NULL;
        if (H5Fget_vfd_handle(f->file, H5P_DEFAULT, &handle) >= 0 && handle) {
            const int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (nul >= 0) {
                dup2(nul, *(int *)handle);
                close(nul);
            }
        }
    }
    for (int i = 0; i < D_N; i++) {
        if (f->ds[i] >= 0 && H5Dclose(f->ds[i]) < 0) {
            e = -1;
        }
    }
    if (f->file >= 0 && H5Fclose(f->file) < 0) {
        e = -1;
    }
    if (f->lock_fd >= 0) {
        close(f->lock_fd);
    }
    kh_h5i_expose(f, 0);
    kh_h5i_track(f, 0);
    char path[KH_PATH_MAX];
    snprintf(path, sizeof path, "%s", f->path);
    free(f);
    if (left_live) {
        return KH_ERROR(KH_EIO,
                        "%s: a write failed or the disk is full: the record is left as it was "
                        "on disk, with every row up to its last snapshot; khsim run --resume "
                        "%s goes on from there once there is room",
                        path, path);
    }
    return e < 0 ? KH_ERROR(KH_EIO, "%s: cannot close the HDF5 file (disk full?)", path) : KH_OK;
}
