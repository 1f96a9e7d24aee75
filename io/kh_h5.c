/* HDF5 writer and readers for the layout of docs/record.md. */
#include "io/kh_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_version.h"

enum { D_V, D_TSTART, D_TEND, D_T, D_H, D_CUR, D_PNORM, D_L, D_DL, D_SAMPLE, D_ST, D_SW, D_N };

struct kh_h5 {
    hid_t file;
    hid_t ds[D_N];
    long m, n;
    long n_input, n_rows, n_snap;
    double pending; /* bytes appended since the last flush (an upper bound) */
    int full;       /* the room check stopped the run: no more bulk writes */
    char path[KH_PATH_MAX];
    int lock_fd;         /* holds a write lock on the file while it is written (claim) */
    int live;            /* in HDF5's SWMR mode (go_live) */
    int no_live;         /* the file cannot go live (a record from before SWMR) */
    int exposed;         /* open to write outside live mode: counted in `exposed` */
    int broken;          /* a write or flush failed: the file is left as it is on disk */
    double free_at_stop; /* free disk bytes when the room check stopped the run for the disk */
    /* /solver's counters and wall time as the file held them when it was
     * opened to go on (kh_h5_open_append): the earlier parts of a resumed
     * run, added to this part's by kh_h5_write_solver. */
    double solver_prior[KH_H5_N_PRIOR];
};

/* The /solver attributes that add up over the parts of a resumed run:
 * kh_h5_write_solver's N_COUNTERS counters, its wall time, then the fast
 * rule's flops (written by kh_sim_fast). */
#define N_COUNTERS 7
#define PRIOR_WALL N_COUNTERS
static const char *const prior_names[KH_H5_N_PRIOR] = {
    "steps",   "failed_steps",          "rhs_evals",    "jac_evals", "switches",
    "sliding", "unstable_fixed_points", "wall_seconds", "flops"};

typedef struct ds_spec {
    const char *name;
    int rank;    /* 1, 2 or 3 */
    int is_long; /* int64 instead of double */
    const char *units;
} ds_spec;

static const ds_spec specs[D_N] = {
    {"/input/v", 2, 0, "input units (MNIST: pixel / 255)"},
    {"/input/t_start", 1, 0, "time"},
    {"/input/t_end", 1, 0, "time"},
    {"/trajectory/t", 1, 0, "time"},
    {"/trajectory/h", 2, 0, "activity"},
    {"/trajectory/current", 2, 0, "I_mu = sum_i sgn(W)|W|^(p-1) v_i"},
    {"/trajectory/pnorm", 2, 0, "B_mu = sum_i |W_mui|^p"},
    {"/trajectory/lyapunov", 1, 0, "L = sum_mu G(Q_mu)"},
    {"/trajectory/dL_dt", 1, 0, "1/time"},
    {"/trajectory/sample", 1, 1, "index into /input/v"},
    {"/snapshots/t", 1, 0, "time"},
    {"/snapshots/W", 3, 0, "weight"},
};

/* At most this much of what was appended since the last flush is still in
 * HDF5's caches and not yet in the file's size (1 MiB of chunk cache per open
 * dataset, the metadata cache): the rest is in the file already. */
#define KH_H5_CACHED (32.0 * 1024 * 1024)

/* What a record keeps free for its last writes (status, solver attributes,
 * final state) once the room check has stopped a run. */
#define KH_H5_RESERVE (1.0 * 1024 * 1024)

/* Whether `bytes` more fit: the file's size, what is still in HDF5's caches
 * since the last flush, these bytes and the reserve against the smaller of
 * the file-size limit (RLIMIT_FSIZE) and the free space of its file system.
 * When they do not, the run is stopped here with KH_EIO, so that the file can
 * still be closed valid (a write that fails inside HDF5 leaves it unreadable). */
static int room_check(kh_h5 *f, double bytes, int take);

static int room_for(kh_h5 *f, double bytes)
{
    return room_check(f, bytes, 1);
}

/* room_for, counting the bytes as appended when `take`. */
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

/* The access list of every file khsim writes: the latest format (SWMR
 * needs it) and, for a file opened again, its "open for writing" flags
 * cleared: claim holds the lock that a live khsim writer would hold, so flags
 * left set are those of a killed run. (clear_status_flags is the property
 * h5clear -s sets.) */
static hid_t writer_fapl(int clear)
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

static void expose(kh_h5 *f, int yes)
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

static void track(kh_h5 *f, int open)
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
    expose(f, 0);
}

static int settle(kh_h5 *f)
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
    expose(f, 1);
    hid_t fa = writer_fapl(0);
    const herr_t e = H5Fclose(f->file);
    f->file = e < 0 ? -1 : H5Fopen(f->path, H5F_ACC_RDWR, fa);
    H5Pclose(fa);
    if (f->file < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot close and reopen the HDF5 file (disk full?)", f->path);
    }
    for (int i = 0; i < D_N; i++) {
        if (open[i] && (f->ds[i] = H5Dopen2(f->file, specs[i].name, H5P_DEFAULT)) < 0) {
            return KH_ERROR(KH_EIO, "%s: cannot reopen %s", f->path, specs[i].name);
        }
    }
    return KH_OK;
}

static int flush(kh_h5 *f)
{
    if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0) {
        f->broken = 1;
        return KH_ERROR(KH_EIO, "%s: cannot flush (disk full?)", f->path);
    }
    f->pending = 0.0;
    go_live(f);
    return KH_OK;
}

/* The number of values an attribute holds (1 for a scalar), or -1. Every
 * reader of one value checks it first: an array read into one double
 * would write past it. */
static long attr_count(hid_t a)
{
    hid_t sp = H5Aget_space(a);
    if (sp < 0) {
        return -1;
    }
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    return n < 0 ? -1 : (long)n;
}

static int attr_string(hid_t obj, const char *name, const char *value)
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

static int attr_num(hid_t obj, const char *name, hid_t type, const void *value)
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

static int attr_double(hid_t obj, const char *name, double x)
{
    return attr_num(obj, name, H5T_NATIVE_DOUBLE, &x);
}

static int attr_long(hid_t obj, const char *name, long x)
{
    return attr_num(obj, name, H5T_NATIVE_LONG, &x);
}

static hid_t make_dataset(hid_t file, const ds_spec *s, long m, long n, int compress_snapshots)
{
    hsize_t dims[3] = {0, (hsize_t)m, (hsize_t)n};
    hsize_t maxd[3] = {H5S_UNLIMITED, (hsize_t)m, (hsize_t)n};
    hsize_t chunk[3] = {1024, (hsize_t)m, (hsize_t)n};
    if (s->rank == 2) {
        if (strcmp(s->name, "/input/v") == 0) {
            dims[1] = maxd[1] = chunk[1] = (hsize_t)n;
        }
        long rows = 65536 / (8 * (long)dims[1]);
        chunk[0] = (hsize_t)(rows < 1 ? 1 : (rows > 1024 ? 1024 : rows));
    } else if (s->rank == 3) {
        chunk[0] = 1;
    }
    hid_t sp = H5Screate_simple(s->rank, dims, maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, s->rank, chunk);
    if (s->rank < 3 || compress_snapshots) {
        /* Weights are full-entropy doubles: deflate saves about 10 % on them
         * and, for m = 2000, costs more than the integration (README, "The record"), so
         * snapshots are compressed only when output.compress_snapshots. */
        H5Pset_shuffle(pl);
        H5Pset_deflate(pl, 1);
    }
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    hid_t d = H5Dcreate2(file, s->name, s->is_long ? H5T_NATIVE_LONG : H5T_NATIVE_DOUBLE, sp, lc,
                         pl, H5P_DEFAULT);
    H5Pclose(lc);
    H5Pclose(pl);
    H5Sclose(sp);
    if (d >= 0 && attr_string(d, "units", s->units) != KH_OK) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

static void iso_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}

static int write_params(hid_t file, const kh_config *c)
{
    hid_t g = H5Gcreate2(file, "/params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        return KH_ERROR(KH_EIO, "cannot create /params");
    }
    int s = KH_OK;
    for (size_t i = 0; kh_param_table[i].key && s == KH_OK; i++) {
        const kh_param_info *e = &kh_param_table[i];
        char name[160], buf[KH_PATH_MAX + 16];
        snprintf(name, sizeof name, "%s.%s", e->section, e->key);
        const char *base = (const char *)&c->p + e->offset;
        switch (e->kind) {
        case KH_PT_DOUBLE:
            s = attr_double(g, name, *(const double *)base);
            break;
        case KH_PT_LONG:
            s = attr_long(g, name, *(const long *)base);
            break;
        case KH_PT_BOOL:
            s = attr_long(g, name, *(const int *)base);
            break;
        default:
            kh_param_format(&c->p, i, buf, sizeof buf);
            s = attr_string(g, name, buf);
            break;
        }
    }
    H5Gclose(g);
    return s;
}

/* A writer with no file open yet and no dataset, for `path`. */
static kh_h5 *writer_alloc(const char *path)
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
static int claim(kh_h5 *f, int create)
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

kh_h5 *kh_h5_create(const char *path, const kh_config *c, const char *model_summary,
                    const char *overrides, long m, long n)
{
    kh_h5 *f = writer_alloc(path);
    if (!f) {
        return NULL;
    }
    f->m = m;
    f->n = n;
    if (claim(f, 1) != KH_OK) {
        free(f);
        return NULL;
    }
    hid_t fa = writer_fapl(0);
    f->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fa);
    H5Pclose(fa);
    if (f->file < 0) {
        close(f->lock_fd);
        KH_ERROR(KH_EIO,
                 "output.path = %s: cannot create the HDF5 file (does the directory "
                 "exist and is it writable?)",
                 path);
        free(f);
        return NULL;
    }
    expose(f, 1);
    track(f, 1);
    char now[64];
    iso_now(now, sizeof now);
    int s = attr_string(f->file, "khsim_version", KH_VERSION);
    if (s == KH_OK) {
        s = attr_string(f->file, "created", now);
    }
    if (s == KH_OK) {
        s = attr_string(f->file, "study", c->study_text ? c->study_text : "");
    }
    if (s == KH_OK) {
        s = attr_string(f->file, "study_path", c->study_path);
    }
    if (s == KH_OK) {
        s = attr_string(f->file, "overrides", overrides ? overrides : "");
    }
    if (s == KH_OK) {
        s = attr_string(f->file, "model_summary", model_summary);
    }
    if (s == KH_OK) {
        s = attr_string(f->file, "status", "running");
    }
    if (s == KH_OK) {
        s = write_params(f->file, c);
    }
    for (int i = 0; i < D_N && s == KH_OK; i++) {
        f->ds[i] = make_dataset(f->file, &specs[i], m, n, c->p.compress_snapshots);
        if (f->ds[i] < 0) {
            s = KH_ERROR(KH_EIO, "%s: cannot create dataset %s", path, specs[i].name);
        }
    }
    if (s == KH_OK) {
        hid_t g = H5Gcreate2(f->file, "/solver", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            s = KH_ERROR(KH_EIO, "%s: cannot create /solver", path);
        } else {
            H5Gclose(g);
        }
    }
    if (s != KH_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", kh_errmsg());
        kh_h5_close(f);
        remove(path);
        KH_ERROR(KH_EIO, "%s", msg);
        return NULL;
    }
    if (flush(f) != KH_OK) { /* and live from here on */
        kh_h5_close(f);
        return NULL;
    }
    return f;
}

/* Appends `rows` rows of the trailing shape at index *len. */
static int append_n(kh_h5 *f, int which, long *len, long rows, const void *data)
{
    const ds_spec *s = &specs[which];
    hid_t d = f->ds[which];
    hsize_t dims[3], start[3] = {(hsize_t)*len, 0, 0}, count[3];
    hid_t sp = H5Dget_space(d);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);

    dims[0] = (hsize_t)(*len + rows);
    if (H5Dset_extent(d, dims) < 0) {
        f->broken = 1;
        return KH_ERROR(KH_EIO, "%s: cannot extend %s (disk full?)", f->path, s->name);
    }
    for (int i = 0; i < s->rank; i++) {
        count[i] = i == 0 ? (hsize_t)rows : dims[i];
    }
    hid_t fs = H5Dget_space(d);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(s->rank, count, NULL);
    herr_t e =
        H5Dwrite(d, s->is_long ? H5T_NATIVE_LONG : H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, data);
    H5Sclose(ms);
    H5Sclose(fs);
    if (e < 0) {
        f->broken = 1;
        return KH_ERROR(KH_EIO, "%s: cannot write %s (disk full or out of memory?)", f->path,
                        s->name);
    }
    return KH_OK;
}

static int append(kh_h5 *f, int which, long *len, const void *data)
{
    return append_n(f, which, len, 1, data);
}

/* Bytes of `rows` rows of the datasets `which` [n]. */
static double row_bytes(const kh_h5 *f, const int *which, int n, long rows)
{
    double b = 0.0;
    for (int k = 0; k < n; k++) {
        const ds_spec *s = &specs[which[k]];
        double r = 8.0 * (double)rows;
        if (s->rank >= 2) {
            r *= (double)(which[k] == D_V ? f->n : f->m);
        }
        if (s->rank == 3) {
            r *= (double)f->n;
        }
        b += r;
    }
    return b;
}

int kh_h5_append_inputs(kh_h5 *f, const double *v, long rows, const double *t_start,
                        const double *t_end)
{
    long k = f->n_input;
    const int cols[] = {D_V, D_TSTART, D_TEND};
    int s = room_for(f, row_bytes(f, cols, 3, rows));
    if (s != KH_OK) {
        return s;
    }
    if ((s = append_n(f, D_V, &k, rows, v)) != KH_OK ||
        (s = append_n(f, D_TSTART, &k, rows, t_start)) != KH_OK ||
        (s = append_n(f, D_TEND, &k, rows, t_end)) != KH_OK) {
        return s;
    }
    f->n_input += rows;
    return KH_OK;
}

/* Whether `path` exists, checking each of its groups in turn (H5Lexists
 * itself fails when an intermediate group is missing). */
static int link_exists(hid_t file, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *q = buf + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
                return 0;
            }
            if (c == '\0') {
                return 1;
            }
            *q = c;
        }
    }
}

/* Opens `path` ([E] or [E, tail...], extendible along its first axis),
 * creating it with its groups at length 0 when missing. */
static hid_t series_open(kh_h5 *f, const char *path, int tail_rank, const long *tail, int is_long,
                         const char *units)
{
    if (link_exists(f->file, path)) {
        return H5Dopen2(f->file, path, H5P_DEFAULT);
    }
    if (settle(f) != KH_OK) {
        return -1;
    }
    const int rank = 1 + tail_rank;
    hsize_t dims[3] = {0, 0, 0}, maxd[3] = {H5S_UNLIMITED, 0, 0}, chunk[3] = {1, 1, 1};
    long per = 1;
    for (int i = 0; i < tail_rank; i++) {
        dims[1 + i] = maxd[1 + i] = chunk[1 + i] = (hsize_t)tail[i];
        per *= tail[i] > 0 ? tail[i] : 1;
    }
    long rows = 65536 / (8 * per);
    chunk[0] = (hsize_t)(rows < 1 ? 1 : (rows > 1024 ? 1024 : rows));
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank, chunk);
    H5Pset_shuffle(pl);
    H5Pset_deflate(pl, 1);
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    hid_t d = H5Dcreate2(f->file, path, is_long ? H5T_NATIVE_LONG : H5T_NATIVE_DOUBLE, sp, lc, pl,
                         H5P_DEFAULT);
    H5Pclose(lc);
    H5Pclose(pl);
    H5Sclose(sp);
    if (d >= 0 && units && attr_string(d, "units", units) != KH_OK) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

static int series_append_rows(kh_h5 *f, const char *path, const void *row, long n_rows,
                              int tail_rank, const long *tail, int is_long, const char *units);

int kh_h5_series_append_nd(kh_h5 *f, const char *path, const void *row, int tail_rank,
                           const long *tail, int is_long, const char *units)
{
    return series_append_rows(f, path, row, 1, tail_rank, tail, is_long, units);
}

int kh_h5_series_append_block(kh_h5 *f, const char *path, const double *rows, long n_rows, long len,
                              const char *units)
{
    if (n_rows <= 0) {
        return KH_OK;
    }
    return series_append_rows(f, path, rows, n_rows, 1, &len, 0, units);
}

static int series_append_rows(kh_h5 *f, const char *path, const void *row, long n_rows,
                              int tail_rank, const long *tail, int is_long, const char *units)
{
    if (tail_rank < 0 || tail_rank > 2) {
        return KH_ERROR(KH_EINVAL, "%s: a series row has rank 0 to 2, not %d", path, tail_rank);
    }
    double bytes = 8.0 * (double)n_rows;
    for (int i = 0; i < tail_rank; i++) {
        bytes *= (double)tail[i];
    }
    int room = room_for(f, bytes);
    if (room != KH_OK) {
        return room;
    }
    const int created = !link_exists(f->file, path);
    hid_t d = series_open(f, path, tail_rank, tail, is_long, units);
    if (d < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot create %s", f->path, path);
    }
    const int rank = 1 + tail_rank;
    hsize_t dims[3], start[3] = {0, 0, 0}, count[3] = {(hsize_t)n_rows, 1, 1};
    for (int i = 0; i < tail_rank; i++) {
        count[1 + i] = (hsize_t)tail[i];
    }
    hid_t sp = H5Dget_space(d);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    start[0] = dims[0];
    dims[0] += (hsize_t)n_rows;
    herr_t e = H5Dset_extent(d, dims);
    if (e >= 0) {
        hid_t fs = H5Dget_space(d);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(rank, count, NULL);
        e = H5Dwrite(d, is_long ? H5T_NATIVE_LONG : H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, row);
        H5Sclose(ms);
        H5Sclose(fs);
    }
    H5Dclose(d);
    if (e < 0) {
        f->broken = 1;
        return KH_ERROR(KH_EIO, "%s: cannot append to %s (disk full?)", f->path, path);
    }
    /* A new dataset left live mode (settle): back to it at once. */
    return created ? flush(f) : KH_OK;
}

int kh_h5_series_append(kh_h5 *f, const char *path, const void *row, long len, int is_long,
                        const char *units)
{
    return kh_h5_series_append_nd(f, path, row, len > 0 ? 1 : 0, &len, is_long, units);
}

int kh_h5_write_array(kh_h5 *f, const char *path, const void *x, int rank, const long *dims,
                      int is_long, const char *units)
{
    double bytes = 8.0;
    for (int i = 0; i < rank; i++) {
        bytes *= (double)dims[i];
    }
    /* Small arrays (a final state) may use the reserve; bulk ones may not. */
    if (bytes > KH_H5_RESERVE / 8) {
        int room = room_for(f, bytes);
        if (room != KH_OK) {
            return room;
        }
    }
    int s = settle(f);
    if (s != KH_OK) {
        return s;
    }
    hsize_t hd[3];
    for (int i = 0; i < rank; i++) {
        hd[i] = (hsize_t)dims[i];
    }
    hid_t sp = H5Screate_simple(rank, hd, NULL);
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    hid_t type = is_long ? H5T_NATIVE_LONG : H5T_NATIVE_DOUBLE;
    hid_t d = H5Dcreate2(f->file, path, type, sp, lc, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    if (e >= 0 && units && attr_string(d, "units", units) != KH_OK) {
        e = -1;
    }
    if (d >= 0) {
        H5Dclose(d);
    }
    H5Pclose(lc);
    H5Sclose(sp);
    return e < 0 ? KH_ERROR(KH_EIO, "%s: cannot write %s", f->path, path) : KH_OK;
}

/* Opens group `path`, creating it (and its parents) when missing. */
static hid_t group_open(hid_t file, const char *path)
{
    if (strcmp(path, "/") == 0) {
        return H5Gopen2(file, "/", H5P_DEFAULT);
    }
    if (link_exists(file, path)) {
        return H5Gopen2(file, path, H5P_DEFAULT);
    }
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    hid_t g = H5Gcreate2(file, path, lc, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lc);
    return g;
}

int kh_h5_set_attr(kh_h5 *f, const char *group, const char *name, double x, const char *text)
{
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t g = group_open(f->file, group);
    if (g < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open group %s", f->path, group);
    }
    int s = text ? attr_string(g, name, text) : attr_double(g, name, x);
    H5Gclose(g);
    return s;
}

int kh_h5_get_attr(kh_h5 *f, const char *obj, const char *name, double *x)
{
    if ((strcmp(obj, "/") != 0 && !link_exists(f->file, obj)) ||
        H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT) <= 0) {
        return 0;
    }
    hid_t a = H5Aopen_by_name(f->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    double v;
    herr_t e = a < 0 || attr_count(a) != 1 ? -1 : H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    if (a >= 0) {
        H5Aclose(a);
    }
    if (e < 0) {
        return 0;
    }
    *x = v;
    return 1;
}

double kh_h5_solver_prior(const kh_h5 *f, const char *name)
{
    for (int i = 0; i < KH_H5_N_PRIOR; i++) {
        if (strcmp(prior_names[i], name) == 0) {
            return f->solver_prior[i];
        }
    }
    return 0.0;
}

int kh_h5_room(kh_h5 *f, double bytes)
{
    return room_check(f, bytes, 0);
}

int kh_h5_flush(kh_h5 *f)
{
    return flush(f);
}

int kh_h5_append_input(kh_h5 *f, const double *v, double t_start, double t_end)
{
    long k = f->n_input;
    const int cols[] = {D_V, D_TSTART, D_TEND};
    int s = room_for(f, row_bytes(f, cols, 3, 1));
    if (s != KH_OK) {
        return s;
    }
    if ((s = append(f, D_V, &k, v)) != KH_OK || (s = append(f, D_TSTART, &k, &t_start)) != KH_OK ||
        (s = append(f, D_TEND, &k, &t_end)) != KH_OK) {
        return s;
    }
    f->n_input++;
    return KH_OK;
}

int kh_h5_append_row(kh_h5 *f, double t, const double *h, const double *current,
                     const double *pnorm, double L, double dL_dt, long sample)
{
    long k = f->n_rows;
    const int cols[] = {D_H, D_CUR, D_PNORM, D_L, D_DL, D_SAMPLE, D_T};
    /* Room for the whole row first: a row is written whole or not at all. */
    int s = room_for(f, row_bytes(f, cols, 7, 1));
    if (s != KH_OK) {
        return s;
    }
    /* The time column goes last: a reader sees t only for complete rows. */
    if ((s = append(f, D_H, &k, h)) != KH_OK || (s = append(f, D_CUR, &k, current)) != KH_OK ||
        (s = append(f, D_PNORM, &k, pnorm)) != KH_OK || (s = append(f, D_L, &k, &L)) != KH_OK ||
        (s = append(f, D_DL, &k, &dL_dt)) != KH_OK ||
        (s = append(f, D_SAMPLE, &k, &sample)) != KH_OK || (s = append(f, D_T, &k, &t)) != KH_OK) {
        return s;
    }
    f->n_rows++;
    return KH_OK;
}

int kh_h5_append_snapshot(kh_h5 *f, double t, const double *W)
{
    long k = f->n_snap;
    const int cols[] = {D_SW, D_ST};
    int s = room_for(f, row_bytes(f, cols, 2, 1));
    if (s != KH_OK) {
        return s;
    }
    if ((s = append(f, D_SW, &k, W)) != KH_OK || (s = append(f, D_ST, &k, &t)) != KH_OK) {
        return s;
    }
    f->n_snap++;
    return flush(f);
}

int kh_h5_write_state(kh_h5 *f, const char *name, const double *x, long len)
{
    char full[256];
    snprintf(full, sizeof full, "/state/%s", name);
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    hsize_t dims[1] = {(hsize_t)len};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    if (H5Lexists(f->file, "/state", H5P_DEFAULT) > 0 &&
        H5Lexists(f->file, full, H5P_DEFAULT) > 0) {
        H5Ldelete(f->file, full, H5P_DEFAULT);
    }
    hid_t d = H5Dcreate2(f->file, full, H5T_NATIVE_DOUBLE, sp, lc, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    if (d >= 0) {
        H5Dclose(d);
    }
    H5Pclose(lc);
    H5Sclose(sp);
    return e < 0 ? KH_ERROR(KH_EIO, "%s: cannot write %s", f->path, full) : KH_OK;
}

int kh_h5_write_solver(kh_h5 *f, const char *method, double rtol, double atol,
                       const kh_solver_stats *st, double wall_seconds)
{
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t g = H5Gopen2(f->file, "/solver", H5P_DEFAULT);
    if (g < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open /solver", f->path);
    }
    const long counters[N_COUNTERS] = {st->steps,    st->failed_steps, st->rhs_evals, st->jac_evals,
                                       st->switches, st->sliding,      st->unstable};
    int s = attr_string(g, "method", method);
    if (s == KH_OK) {
        s = attr_double(g, "rtol", rtol);
    }
    if (s == KH_OK) {
        s = attr_double(g, "atol", atol);
    }
    for (int i = 0; i < N_COUNTERS && s == KH_OK; i++) {
        s = attr_long(g, prior_names[i], counters[i] + (long)f->solver_prior[i]);
    }
    if (s == KH_OK) {
        s = attr_double(g, "wall_seconds", wall_seconds + f->solver_prior[PRIOR_WALL]);
    }
    H5Gclose(g);
    return s;
}

int kh_h5_set_status(kh_h5 *f, const char *status, const char *message)
{
    int s = settle(f);
    if (s != KH_OK) {
        return s;
    }
    s = attr_string(f->file, "status", status);
    if (s == KH_OK) {
        s = attr_string(f->file, "message", message ? message : "");
    }
    if (s == KH_OK) {
        s = flush(f);
    }
    return s;
}

long kh_h5_rows(const kh_h5 *f)
{
    return f->n_rows;
}

kh_h5 *kh_h5_open_append(const char *path, long rows_keep, long snaps_keep)
{
    kh_h5 *f = kh_h5_open_rw(path);
    if (!f) {
        return NULL;
    }
    int s = KH_OK;
    for (int i = 0; i < D_N && s == KH_OK; i++) {
        f->ds[i] = H5Dopen2(f->file, specs[i].name, H5P_DEFAULT);
        if (f->ds[i] < 0) {
            s = KH_ERROR(KH_EIO, "%s: no dataset %s: not a khsim record", path, specs[i].name);
            break;
        }
        hsize_t dims[3];
        hid_t sp = H5Dget_space(f->ds[i]);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        long len = (long)dims[0];
        if (i == D_V) {
            f->n_input = len;
            f->n = specs[i].rank == 2 ? (long)dims[1] : 0;
        } else if (i == D_H) {
            f->m = (long)dims[1];
        }
        long keep = -1;
        if (i >= D_T && i <= D_SAMPLE) {
            keep = rows_keep;
        } else if (i == D_ST || i == D_SW) {
            keep = snaps_keep;
        }
        if (keep >= 0 && keep < len) {
            dims[0] = (hsize_t)keep;
            if (H5Dset_extent(f->ds[i], dims) < 0) {
                s = KH_ERROR(KH_EIO, "%s: cannot shorten %s", path, specs[i].name);
            }
            len = keep;
        }
        if (i == D_T) {
            f->n_rows = len;
        } else if (i == D_SW) {
            f->n_snap = len;
        }
    }
    for (int i = 0; i < KH_H5_N_PRIOR && s == KH_OK; i++) {
        kh_h5_get_attr(f, "/solver", prior_names[i], &f->solver_prior[i]); /* else 0 (calloc) */
    }
    if (s != KH_OK) {
        kh_h5_close(f);
        return NULL;
    }
    return f;
}

int kh_h5_reopen_counts(kh_h5 *f)
{
    long *counts[] = {&f->n_input, &f->n_rows, &f->n_snap};
    const int which[] = {D_V, D_T, D_SW};
    for (int i = 0; i < 3; i++) {
        hsize_t dims[3];
        hid_t sp = H5Dget_space(f->ds[which[i]]);
        if (sp < 0) {
            return KH_ERROR(KH_EIO, "%s: cannot read the extent of %s", f->path,
                            specs[which[i]].name);
        }
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        *counts[i] = (long)dims[0];
    }
    return KH_OK;
}

int kh_h5_truncate(kh_h5 *f, const char *path, long rows)
{
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    if (!link_exists(f->file, path)) {
        return KH_OK;
    }
    hid_t d = H5Dopen2(f->file, path, H5P_DEFAULT);
    if (d < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open %s", f->path, path);
    }
    hsize_t dims[3];
    hid_t sp = H5Dget_space(d);
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    herr_t e = 0;
    if (rank > 0 && (hsize_t)rows < dims[0]) {
        dims[0] = (hsize_t)rows;
        e = H5Dset_extent(d, dims);
    }
    H5Dclose(d);
    return e < 0 ? KH_ERROR(KH_EIO, "%s: cannot shorten %s", f->path, path) : KH_OK;
}

long kh_h5_length(kh_h5 *f, const char *path)
{
    if (!link_exists(f->file, path)) {
        return 0;
    }
    hid_t d = H5Dopen2(f->file, path, H5P_DEFAULT);
    if (d < 0) {
        return -1;
    }
    hsize_t dims[3] = {0, 0, 0};
    hid_t sp = H5Dget_space(d);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return (long)dims[0];
}

int kh_h5_overwrite(kh_h5 *f, const char *path, const void *x, int rank, const long *dims,
                    int is_long, const char *units)
{
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    if (link_exists(f->file, path) && H5Ldelete(f->file, path, H5P_DEFAULT) < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot replace %s", f->path, path);
    }
    return kh_h5_write_array(f, path, x, rank, dims, is_long, units);
}

kh_h5 *kh_h5_create_plain(const char *path)
{
    kh_h5 *f = writer_alloc(path);
    if (!f) {
        return NULL;
    }
    if (claim(f, 1) != KH_OK) {
        free(f);
        return NULL;
    }
    f->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    char now[64];
    iso_now(now, sizeof now);
    if (f->file < 0 || attr_string(f->file, "khsim_version", KH_VERSION) != KH_OK ||
        attr_string(f->file, "created", now) != KH_OK) {
        kh_h5_close(f);
        KH_ERROR(KH_EIO, "%s: cannot create the HDF5 file", path);
        return NULL;
    }
    return f;
}

int kh_h5_external_link(kh_h5 *f, const char *link, const char *target_file)
{
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    herr_t e = H5Lcreate_external(target_file, "/", f->file, link, lc, H5P_DEFAULT);
    H5Pclose(lc);
    return e < 0 ? KH_ERROR(KH_EIO, "%s: cannot link %s to %s", f->path, link, target_file) : KH_OK;
}

int kh_h5_set_dataset_attr(kh_h5 *f, const char *dataset, const char *name, const char *text)
{
    if (settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t d = H5Dopen2(f->file, dataset, H5P_DEFAULT);
    if (d < 0) {
        return KH_ERROR(KH_EIO, "%s: no dataset %s", f->path, dataset);
    }
    int s = attr_string(d, name, text);
    H5Dclose(d);
    return s;
}

kh_h5 *kh_h5_open_rw(const char *path)
{
    kh_h5 *f = writer_alloc(path);
    if (!f) {
        return NULL;
    }
    if (claim(f, 0) != KH_OK) {
        free(f);
        return NULL;
    }
    hid_t fa = writer_fapl(1);
    f->file = H5Fopen(path, H5F_ACC_RDWR, fa);
    H5Pclose(fa);
    if (f->file < 0) {
        close(f->lock_fd);
        free(f);
        KH_ERROR(KH_EIO, "%s: cannot open for writing", path);
        return NULL;
    }
    expose(f, 1);
    track(f, 1);
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
    expose(f, 0);
    track(f, 0);
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

/* --- Readers --- */

/* Opens `path` to read; *open_for_writing (when not NULL) is set when
 * the file is marked open for writing: a record being written, or one whose
 * writer was killed (its flags refuse a plain open, not a SWMR read). */
static hid_t open_ro_ex(const char *path, int *open_for_writing)
{
    if (open_for_writing) {
        *open_for_writing = 0;
    }
    if (H5Fis_hdf5(path) <= 0) {
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
        if (f >= 0 && open_for_writing) {
            *open_for_writing = 1;
        }
    }
    return f;
}

static hid_t open_ro(const char *path)
{
    return open_ro_ex(path, NULL);
}

/* Whether a process holds the write lock claim takes on `path`. */
static int writer_holds(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    const int held = fcntl(fd, F_OFD_GETLK, &l) == 0 && l.l_type != F_UNLCK;
    close(fd);
    return held;
}

int kh_h5_read(const char *path, const char *dataset, double **data, int *rank, long dims[3])
{
    *data = NULL;
    hid_t f = open_ro(path);
    if (f < 0) {
        return KH_ERROR(KH_EIO, "%s: not a readable HDF5 file", path);
    }
    if (H5Lexists(f, dataset, H5P_DEFAULT) <= 0) {
        H5Fclose(f);
        return KH_ERROR(KH_EIO, "%s: no dataset %s", path, dataset);
    }
    hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    int s = KH_OK;
    if (r < 0 || r > 3) {
        s = KH_ERROR(KH_EIO, "%s: %s is not a dataset of rank 1 to 3", path, dataset);
    } else {
        hsize_t hd[3] = {1, 1, 1};
        H5Sget_simple_extent_dims(sp, hd, NULL);
        size_t total = 1;
        for (int i = 0; i < 3; i++) {
            dims[i] = i < r ? (long)hd[i] : 1;
            total *= (size_t)dims[i];
        }
        *rank = r;
        /* A dataset cannot hold more than its file (deflated at most about
         * 1000 to 1): larger dimensions come from a damaged file, and are
         * refused before they are allocated. */
        hsize_t fsize = 0;
        H5Fget_filesize(f, &fsize);
        if ((double)total * 8.0 > 1100.0 * (double)fsize + (double)(1 << 20)) {
            s = KH_ERROR(KH_EIO, "%s: %s claims %zu values, more than the file can hold", path,
                         dataset, total);
        } else if (!(*data = malloc((total ? total : 1) * sizeof(double)))) {
            s = KH_ERROR(KH_ENOMEM, "%s: cannot allocate %s", path, dataset);
        } else if (total &&
                   H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0) {
            s = KH_ERROR(KH_EIO, "%s: cannot read %s", path, dataset);
        }
    }
    if (s != KH_OK) {
        free(*data);
        *data = NULL;
    }
    if (sp >= 0) {
        H5Sclose(sp);
    }
    if (d >= 0) {
        H5Dclose(d);
    }
    H5Fclose(f);
    return s;
}

static hid_t open_attr(const char *path, const char *obj, const char *name, hid_t *f)
{
    *f = open_ro(path);
    if (*f < 0) {
        return -1;
    }
    if (H5Aexists_by_name(*f, obj, name, H5P_DEFAULT) <= 0) {
        return -1;
    }
    return H5Aopen_by_name(*f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
}

int kh_h5_read_row(const char *path, const char *dataset, long row, double *out, long len)
{
    hid_t f = open_ro(path);
    if (f < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open", path);
    }
    hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    int s = KH_OK;
    if (d < 0) {
        s = KH_ERROR(KH_EIO, "%s: no dataset %s", path, dataset);
    } else {
        hid_t sp = H5Dget_space(d);
        hsize_t dims[3] = {0, 1, 1}, start[3] = {(hsize_t)row, 0, 0};
        int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
        long per = 1;
        for (int i = 1; i < rank; i++) {
            per *= (long)dims[i];
        }
        if (rank < 1 || row < 0 || (hsize_t)row >= dims[0] || per != len) {
            s = KH_ERROR(KH_EIO, "%s: %s has no row %ld of %ld values", path, dataset, row, len);
        } else {
            hsize_t count[3] = {1, dims[1], dims[2]};
            H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
            hsize_t ml[1] = {(hsize_t)len};
            hid_t ms = H5Screate_simple(1, ml, NULL);
            if (H5Dread(d, H5T_NATIVE_DOUBLE, ms, sp, H5P_DEFAULT, out) < 0) {
                s = KH_ERROR(KH_EIO, "%s: cannot read row %ld of %s", path, row, dataset);
            }
            H5Sclose(ms);
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    return s;
}

int kh_h5_read_attr_double(const char *path, const char *obj, const char *name, double *x)
{
    hid_t f;
    hid_t a = open_attr(path, obj, name, &f);
    int s = KH_OK;
    if (a < 0) {
        s = KH_ERROR(KH_EIO, "%s: no numeric attribute %s of %s", path, name, obj);
    } else {
        hid_t t = H5Aget_type(a);
        H5T_class_t cl = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
        long n = attr_count(a);
        if (cl != H5T_INTEGER && cl != H5T_FLOAT) {
            s = KH_ERROR(KH_EINVAL, "%s: attribute %s of %s is not a number", path, name, obj);
        } else if (n != 1) {
            s = KH_ERROR(KH_EINVAL, "%s: attribute %s of %s holds %ld values, not one number", path,
                         name, obj, n);
        } else if (H5Aread(a, H5T_NATIVE_DOUBLE, x) < 0) {
            s = KH_ERROR(KH_EIO, "%s: cannot read attribute %s of %s", path, name, obj);
        }
        if (t >= 0) {
            H5Tclose(t);
        }
        H5Aclose(a);
    }
    if (f >= 0) {
        H5Fclose(f);
    }
    return s;
}

int kh_h5_read_attr_string(const char *path, const char *obj, const char *name, char *buf,
                           size_t len)
{
    hid_t f;
    hid_t a = open_attr(path, obj, name, &f);
    int s = KH_OK;
    if (a < 0) {
        s = KH_ERROR(KH_EIO, "%s: no attribute %s of %s", path, name, obj);
    } else {
        hid_t t = H5Aget_type(a);
        long n = attr_count(a);
        if (H5Tget_class(t) != H5T_STRING) {
            s = KH_ERROR(KH_EINVAL, "%s: attribute %s of %s is not a string", path, name, obj);
        } else if (n != 1) {
            s = KH_ERROR(KH_EINVAL, "%s: attribute %s of %s holds %ld strings, not one", path, name,
                         obj, n);
        } else if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5T_CSET_UTF8);
            H5Tset_cset(mt, H5T_CSET_UTF8);
            if (H5Aread(a, mt, &v) < 0) {
                s = KH_ERROR(KH_EIO, "%s: cannot read attribute %s", path, name);
            } else {
                snprintf(buf, len, "%s", v ? v : "");
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            char *v = calloc(sz + 1, 1);
            if (!v || H5Aread(a, t, v) < 0) {
                s = KH_ERROR(KH_EIO, "%s: cannot read attribute %s", path, name);
            } else {
                snprintf(buf, len, "%s", v);
            }
            free(v);
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    if (f >= 0) {
        H5Fclose(f);
    }
    return s;
}

int kh_h5_read_params(const char *path, kh_config *c)
{
    /* A file that is missing or not HDF5 is said so, not taken for a
     * record without /params. */
    if (access(path, R_OK) != 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    hid_t f = open_ro(path);
    if (f < 0) {
        return KH_ERROR(KH_EIO, "%s: not a readable HDF5 file", path);
    }
    H5Fclose(f);
    for (size_t i = 0; kh_param_table[i].key; i++) {
        const kh_param_info *e = &kh_param_table[i];
        char name[160], text[KH_PATH_MAX + 32], where[KH_PATH_MAX + 16];
        snprintf(name, sizeof name, "%s.%s", e->section, e->key);
        snprintf(where, sizeof where, "%s: /params: ", path);
        if (e->kind == KH_PT_STRING || e->kind == KH_PT_ENUM) {
            int rs = kh_h5_read_attr_string(path, "/params", name, text, sizeof text);
            if (rs == KH_EINVAL) {
                return rs;
            }
            if (rs != KH_OK) {
                if (strcmp(name, "network.model") == 0) {
                    return KH_ERROR(KH_EIO, "%s: /params lacks %s: not a khsim file", path, name);
                }
                continue; /* a key newer than the file: its default */
            }
            if (text[0] == '\0') {
                continue; /* an unset optional path */
            }
        } else {
            double x;
            int rs = kh_h5_read_attr_double(path, "/params", name, &x);
            if (rs == KH_EINVAL) {
                return rs; /* there, but not one number */
            }
            if (rs != KH_OK) {
                continue; /* a key newer than the file: its default */
            }
            snprintf(text, sizeof text, "%.17g", x);
        }
        int s = kh_config_set_kv(c, e->section, e->key, text, where);
        if (s != KH_OK) {
            return s;
        }
    }
    return KH_OK;
}

typedef struct info_ctx {
    FILE *out;
    hid_t file;
} info_ctx;

static herr_t print_attr(hid_t loc, const char *name, const H5A_info_t *ainfo, void *op)
{
    (void)ainfo;
    info_ctx *c = op;
    if (strcmp(name, "study") == 0) {
        return 0;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        fprintf(c->out, "    %-32s (unreadable)\n", name);
        return 0;
    }
    hid_t t = H5Aget_type(a);
    H5T_class_t cl = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    const long n = attr_count(a);
    if (n != 1) {
        fprintf(c->out, "    %-32s (%ld values, not shown)\n", name, n);
    } else if (cl == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        if (H5Aread(a, mt, &v) >= 0) {
            fprintf(c->out, "    %-32s %s\n", name, v ? v : "");
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else if (cl == H5T_INTEGER) {
        long x = 0;
        H5Aread(a, H5T_NATIVE_LONG, &x);
        fprintf(c->out, "    %-32s %ld\n", name, x);
    } else if (cl == H5T_FLOAT) {
        double x = 0;
        H5Aread(a, H5T_NATIVE_DOUBLE, &x);
        fprintf(c->out, "    %-32s %.10g\n", name, x);
    } else {
        fprintf(c->out, "    %-32s (unprintable)\n", name);
    }
    if (t >= 0) {
        H5Tclose(t);
    }
    H5Aclose(a);
    return 0;
}

static herr_t print_obj(hid_t loc, const char *name, const H5O_info_t *info, void *op)
{
    info_ctx *c = op;
    if (strcmp(name, ".") == 0) {
        return 0;
    }
    if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        hsize_t dims[8];
        int r = H5Sget_simple_extent_dims(sp, dims, NULL);
        fprintf(c->out, "  /%-28s [", name);
        for (int i = 0; i < r; i++) {
            fprintf(c->out, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
        }
        fprintf(c->out, "]\n");
        H5Sclose(sp);
        H5Dclose(d);
    } else if (info->type == H5O_TYPE_GROUP) {
        hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
        fprintf(c->out, "  /%s/\n", name);
        H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attr, c);
        H5Gclose(g);
    }
    return 0;
}

int kh_h5_info(const char *path, FILE *out)
{
    int writing;
    hid_t f = open_ro_ex(path, &writing);
    if (f < 0) {
        return KH_ERROR(KH_EIO, "%s: not a readable HDF5 file", path);
    }
    info_ctx c = {out, f};
    fprintf(out, "%s\n", path);
    if (writing && writer_holds(path)) {
        fprintf(out, "  live: a run is writing this record (h5py follows it with "
                     "h5py.File(path, 'r', swmr=True))\n");
    } else if (writing) {
        fprintf(out,
                "  killed: the run writing this record stopped without closing it; "
                "it holds every row up to its last flush (snapshot): khsim run --resume "
                "%s goes on from there, and until then other tools open it with "
                "h5py.File(path, 'r', swmr=True)\n",
                path);
    }
    fprintf(out, "  root attributes:\n");
    H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attr, &c);
    herr_t e = H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, print_obj, &c, H5O_INFO_BASIC);
    H5Fclose(f);
    return e < 0 ? KH_ERROR(KH_EIO, "%s: cannot walk the file", path) : KH_OK;
}
