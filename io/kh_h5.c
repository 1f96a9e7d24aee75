/* The HDF5 writer of a record (the layout of docs/record.md): the file's
 * life (lock, room check, SWMR live mode, close) and every dataset and
 * attribute it writes. Its readers are in kh_h5_read.c. */
#include "io/kh_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_version.h"
#include "io/kh_h5_internal.h"

/* The /solver attributes that add up over the parts of a resumed run:
 * kh_h5_write_solver's N_COUNTERS counters, its wall time, then the fast
 * rule's flops (written by kh_sim_fast). */
#define N_COUNTERS 8
#define PRIOR_WALL N_COUNTERS
static const char *const prior_names[KH_H5_N_PRIOR] = {
    "steps",   "failed_steps",          "rhs_evals", "jac_evals",    "switches",
    "sliding", "unstable_fixed_points", "parked",    "wall_seconds", "flops"};

typedef struct ds_spec {
    const char *name;
    int rank;    /* 1, 2 or 3 */
    int is_long; /* int64 instead of double */
    const char *units;
    const char *description;
    int scale;           /* the D_* dataset that is this one's first axis (-1: none, or itself) */
    const char *axes[3]; /* the name of each axis (HDF5 dimension labels) */
} ds_spec;

/* Time is in the study's unit of time (that of network.tau and tau_L). */
static const ds_spec specs[D_N] = {
    {"/input/v",
     2,
     0,
     "1 (MNIST: pixel / 255)",
     "the input of each presentation, v_i",
     D_TSTART,
     {"presentation", "input", NULL}},
    {"/input/t_start", 1, 0, "time", "when each presentation starts", -1, {"presentation"}},
    {"/input/t_end", 1, 0, "time", "when each presentation ends", D_TSTART, {"presentation"}},
    {"/trajectory/t", 1, 0, "time", "the time of each row", -1, {"time"}},
    {"/trajectory/h",
     2,
     0,
     "activity (the unit of I)",
     "h_mu, the hidden units' state",
     D_T,
     {"time", "unit", NULL}},
    {"/trajectory/current",
     2,
     0,
     "weight^(p-1) x input",
     "I_mu = sum_i sgn(W_mui) |W_mui|^(p-1) v_i",
     D_T,
     {"time", "unit", NULL}},
    {"/trajectory/pnorm", 2, 0, "weight^p", "B_mu = sum_i |W_mui|^p", D_T, {"time", "unit", NULL}},
    {"/trajectory/lyapunov",
     1,
     0,
     "dimensionless",
     "L = sum_mu G(Q_mu), Q_mu = I_mu / B_mu^((p-1)/p)",
     D_T,
     {"time"}},
    {"/trajectory/dL_dt", 1, 0, "1/time", "dL/dt at each row", D_T, {"time"}},
    {"/trajectory/sample", 1, 1, "index", "the row of /input/v shown at each row", D_T, {"time"}},
    {"/snapshots/t", 1, 0, "time", "the time of each snapshot", -1, {"snapshot"}},
    {"/snapshots/W", 3, 0, "weight", "W_mui at each snapshot", D_ST, {"snapshot", "unit", "input"}},
};

/* Each dataset's description, its axes' labels, and its first axis's
 * coordinate (an HDF5 dimension scale: /trajectory/t for every /trajectory
 * dataset, /snapshots/t for W, /input/t_start for the inputs), so that
 * h5py's .dims, xarray and other readers see named axes. At creation, before
 * the file goes live. */
static int describe(kh_h5 *f)
{
    for (int i = 0; i < D_N; i++) {
        const ds_spec *s = &specs[i];
        if (kh_h5i_attr_string(f->ds[i], "description", s->description) != KH_OK) {
            return KH_EIO;
        }
        for (int a = 0; a < s->rank; a++) {
            if (s->axes[a] && H5DSset_label(f->ds[i], (unsigned)a, s->axes[a]) < 0) {
                return KH_ERROR(KH_EIO, "%s: cannot label the axes of %s", f->path, s->name);
            }
        }
    }
    for (int i = 0; i < D_N; i++) {
        const int sc = specs[i].scale;
        if (sc >= 0 &&
            (H5DSis_scale(f->ds[sc]) > 0 || H5DSset_scale(f->ds[sc], specs[sc].axes[0]) >= 0)) {
            if (H5DSattach_scale(f->ds[i], f->ds[sc], 0) < 0) {
                return KH_ERROR(KH_EIO, "%s: cannot attach %s to %s", f->path, specs[sc].name,
                                specs[i].name);
            }
        }
    }
    return KH_OK;
}

/* An axis named time or snapshot gets the record's coordinate as its
 * dimension scale (/trajectory/t, /snapshots/t), where the file has it.
 * 0, or -1 when HDF5 fails. */
static int attach_coordinate(hid_t d, int axis, const char *label)
{
    const int is_time = strcmp(label, "time") == 0;
    const char *group = is_time ? "/trajectory" : "/snapshots";
    const char *coord = is_time ? "/trajectory/t" : "/snapshots/t";
    hid_t file = is_time || strcmp(label, "snapshot") == 0 ? H5Iget_file_id(d) : -1;
    if (file < 0) {
        return 0;
    }
    int r = 0;
    if (H5Lexists(file, group, H5P_DEFAULT) > 0 && H5Lexists(file, coord, H5P_DEFAULT) > 0) {
        hid_t sc = H5Dopen2(file, coord, H5P_DEFAULT);
        r = sc >= 0 && H5DSis_scale(sc) > 0 ? (H5DSattach_scale(d, sc, (unsigned)axis) < 0 ? -1 : 0)
                                            : 0;
        if (sc >= 0) {
            H5Dclose(sc);
        }
    }
    H5Fclose(file);
    return r;
}

/* A dataset's "units", "description" and axis labels from `text`,
 * "UNITS|DESCRIPTION@AXIS0,AXIS1" (the description and the axes may be left
 * out; the axes, when given, name every axis, as HDF5 dimension labels). */
static int units_and_description(hid_t d, const char *text)
{
    const char *at = strrchr(text, '@');
    const size_t len = at ? (size_t)(at - text) : strlen(text);
    const char *bar = memchr(text, '|', len);
    char units[128], desc[512];
    snprintf(units, sizeof units, "%.*s", (int)(bar ? (size_t)(bar - text) : len), text);
    if (kh_h5i_attr_string(d, "units", units) != KH_OK) {
        return KH_EIO;
    }
    if (bar) {
        snprintf(desc, sizeof desc, "%.*s", (int)(len - (size_t)(bar + 1 - text)), bar + 1);
        if (kh_h5i_attr_string(d, "description", desc) != KH_OK) {
            return KH_EIO;
        }
    }
    if (!at) {
        return KH_OK;
    }
    hid_t sp = H5Dget_space(d);
    const int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (sp >= 0) {
        H5Sclose(sp);
    }
    int names = 1;
    for (const char *c = at + 1; *c; c++) {
        names += *c == ',';
    }
    if (names != rank) { /* the writer's axes and its data disagree */
        return KH_ERROR(KH_EINVAL, "the axes \"%s\" do not name the %d axes of the dataset", at + 1,
                        rank);
    }
    const char *a = at + 1;
    for (int axis = 0; axis < rank; axis++) {
        const size_t n = strcspn(a, ",");
        char label[64];
        snprintf(label, sizeof label, "%.*s", (int)n, a);
        if (H5DSset_label(d, (unsigned)axis, label) < 0 || attach_coordinate(d, axis, label) < 0) {
            return KH_EIO;
        }
        a += n + (a[n] == ',');
    }
    return KH_OK;
}

const char *kh_h5i_dataset_name(int i)
{
    return specs[i].name;
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
    if (s->rank == 3) {
        /* A snapshot's chunk is one whole snapshot, written in one call: the
         * fill value HDF5 would write first is never seen (at m = 2000, perf:
         * appending a snapshot cost 2.6 times its write system call). */
        H5Pset_fill_time(pl, H5D_FILL_TIME_NEVER);
    }
    if (s->rank < 3 || compress_snapshots) {
        /* Weights are full-entropy doubles: deflate saves about 10 % on them
         * and, for m = 2000, costs more than the integration (docs/study.md),
         * so snapshots are compressed only when output.compress_snapshots. */
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
    if (d >= 0 && kh_h5i_attr_string(d, "units", s->units) != KH_OK) {
        H5Dclose(d);
        return -1;
    }
    return d;
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
            s = kh_h5i_attr_double(g, name, *(const double *)base);
            break;
        case KH_PT_LONG:
            s = kh_h5i_attr_long(g, name, *(const long *)base);
            break;
        case KH_PT_BOOL:
            s = kh_h5i_attr_long(g, name, *(const int *)base);
            break;
        default:
            kh_param_format(&c->p, i, buf, sizeof buf);
            s = kh_h5i_attr_string(g, name, buf);
            break;
        }
    }
    H5Gclose(g);
    return s;
}

kh_h5 *kh_h5_create(const char *path, const kh_config *c, const char *model_summary,
                    const char *overrides, long m, long n)
{
    kh_h5 *f = kh_h5i_writer_alloc(path);
    if (!f) {
        return NULL;
    }
    f->m = m;
    f->n = n;
    if (kh_h5i_claim(f, 1) != KH_OK) {
        free(f);
        return NULL;
    }
    hid_t fa = kh_h5i_writer_fapl(0);
    f->file = kh_h5i_create_waiting(path, fa);
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
    kh_h5i_expose(f, 1);
    kh_h5i_track(f, 1);
    char now[64];
    kh_h5i_iso_now(now, sizeof now);
    int s = kh_h5i_attr_string(f->file, "khsim_version", KH_VERSION);
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "created", now);
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "study", c->study_text ? c->study_text : "");
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "study_path", c->study_path);
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "overrides", overrides ? overrides : "");
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "model_summary", model_summary);
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "status", "running");
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
        s = describe(f);
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
    if (kh_h5i_flush(f) != KH_OK) { /* and live from here on */
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
    int s = kh_h5i_room_for(f, row_bytes(f, cols, 3, rows));
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
 * creating it with its groups at length 0 when missing (*created = 1). */
static hid_t series_open(kh_h5 *f, const char *path, int tail_rank, const long *tail, int is_long,
                         const char *units, int *created)
{
    *created = !link_exists(f->file, path);
    if (!*created) {
        return H5Dopen2(f->file, path, H5P_DEFAULT);
    }
    if (kh_h5i_settle(f) != KH_OK) {
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
    if (d >= 0 && units && units_and_description(d, units) != KH_OK) {
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
    int room = kh_h5i_room_for(f, bytes);
    if (room != KH_OK) {
        return room;
    }
    int created;
    hid_t d = series_open(f, path, tail_rank, tail, is_long, units, &created);
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
    return created ? kh_h5i_flush(f) : KH_OK;
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
        int room = kh_h5i_room_for(f, bytes);
        if (room != KH_OK) {
            return room;
        }
    }
    int s = kh_h5i_settle(f);
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
    if (e >= 0 && units && units_and_description(d, units) != KH_OK) {
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
    if (kh_h5i_settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t g = group_open(f->file, group);
    if (g < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open group %s", f->path, group);
    }
    int s = text ? kh_h5i_attr_string(g, name, text) : kh_h5i_attr_double(g, name, x);
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
    herr_t e = a < 0 || kh_h5i_attr_count(a) != 1 ? -1 : H5Aread(a, H5T_NATIVE_DOUBLE, &v);
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

int kh_h5_append_input(kh_h5 *f, const double *v, double t_start, double t_end)
{
    long k = f->n_input;
    const int cols[] = {D_V, D_TSTART, D_TEND};
    int s = kh_h5i_room_for(f, row_bytes(f, cols, 3, 1));
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
    int s = kh_h5i_room_for(f, row_bytes(f, cols, 7, 1));
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
    int s = kh_h5i_room_for(f, row_bytes(f, cols, 2, 1));
    if (s != KH_OK) {
        return s;
    }
    if ((s = append(f, D_SW, &k, W)) != KH_OK || (s = append(f, D_ST, &k, &t)) != KH_OK) {
        return s;
    }
    f->n_snap++;
    return kh_h5i_flush(f);
}

int kh_h5_write_state(kh_h5 *f, const char *name, const double *x, long len)
{
    char full[256];
    snprintf(full, sizeof full, "/state/%s", name);
    if (kh_h5i_settle(f) != KH_OK) {
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
    /* What each final-state dataset holds. */
    const int is_t = strcmp(name, "t") == 0, is_h = strcmp(name, "h") == 0;
    if (e >= 0 && units_and_description(d, is_t   ? "time|the time at which the run ended@end"
                                           : is_h ? "activity|h_mu at the end of the run@unit"
                                                  : "activity|the state after W (bcm's theta) at "
                                                    "the end of the run@unit") != KH_OK) {
        e = -1;
    }
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
    if (kh_h5i_settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t g = H5Gopen2(f->file, "/solver", H5P_DEFAULT);
    if (g < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open /solver", f->path);
    }
    const long counters[N_COUNTERS] = {st->steps,    st->failed_steps, st->rhs_evals, st->jac_evals,
                                       st->switches, st->sliding,      st->unstable,  st->parked};
    int s = kh_h5i_attr_string(g, "method", method);
    if (s == KH_OK) {
        s = kh_h5i_attr_double(g, "rtol", rtol);
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_double(g, "atol", atol);
    }
    for (int i = 0; i < N_COUNTERS && s == KH_OK; i++) {
        s = kh_h5i_attr_long(g, prior_names[i], counters[i] + (long)f->solver_prior[i]);
    }
    if (s == KH_OK) {
        s = kh_h5i_attr_double(g, "wall_seconds", wall_seconds + f->solver_prior[PRIOR_WALL]);
    }
    H5Gclose(g);
    return s;
}

int kh_h5_set_status(kh_h5 *f, const char *status, const char *message)
{
    int s = kh_h5i_settle(f);
    if (s != KH_OK) {
        return s;
    }
    s = kh_h5i_attr_string(f->file, "status", status);
    if (s == KH_OK) {
        s = kh_h5i_attr_string(f->file, "message", message ? message : "");
    }
    if (s == KH_OK) {
        s = kh_h5i_flush(f);
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
    if (kh_h5i_settle(f) != KH_OK) {
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
    if (kh_h5i_settle(f) != KH_OK) {
        return KH_EIO;
    }
    if (link_exists(f->file, path) && H5Ldelete(f->file, path, H5P_DEFAULT) < 0) {
        return KH_ERROR(KH_EIO, "%s: cannot replace %s", f->path, path);
    }
    return kh_h5_write_array(f, path, x, rank, dims, is_long, units);
}

int kh_h5_external_link(kh_h5 *f, const char *link, const char *target_file)
{
    if (kh_h5i_settle(f) != KH_OK) {
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
    if (kh_h5i_settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t d = H5Dopen2(f->file, dataset, H5P_DEFAULT);
    if (d < 0) {
        return KH_ERROR(KH_EIO, "%s: no dataset %s", f->path, dataset);
    }
    int s = kh_h5i_attr_string(d, name, text);
    H5Dclose(d);
    return s;
}

int kh_h5_attach_scale(kh_h5 *f, const char *dataset, unsigned axis, const char *scale,
                       const char *label)
{
    if (kh_h5i_settle(f) != KH_OK) {
        return KH_EIO;
    }
    hid_t d = H5Dopen2(f->file, dataset, H5P_DEFAULT);
    hid_t sc = d < 0 ? -1 : H5Dopen2(f->file, scale, H5P_DEFAULT);
    int ok = d >= 0 && sc >= 0 && (H5DSis_scale(sc) > 0 || H5DSset_scale(sc, label) >= 0) &&
             H5DSset_label(d, axis, label) >= 0 && H5DSattach_scale(d, sc, axis) >= 0;
    if (sc >= 0) {
        H5Dclose(sc);
    }
    if (d >= 0) {
        H5Dclose(d);
    }
    return ok ? KH_OK
              : KH_ERROR(KH_EIO, "%s: cannot make %s the axis %u of %s", f->path, scale, axis,
                         dataset);
}

int kh_h5_end(kh_h5 *f, int st, const char *msg, int closing)
{
    if (closing == KH_OK) {
        closing = kh_h5_set_status(
            f, st == KH_OK ? "complete" : (st == KH_EINTR ? "interrupted" : "failed"),
            st == KH_OK ? "" : msg);
    }
    int s3 = kh_h5_close(f);
    return kh_error_first(st, msg, closing != KH_OK ? closing : s3);
}

kh_h5 *kh_h5_create_rw(const char *path, const kh_config *c, const char *model_summary,
                       const char *overrides, long m, long n)
{
    kh_h5 *f = kh_h5_create(path, c, model_summary, overrides, m, n);
    if (!f) {
        return NULL;
    }
    if (kh_h5_close(f) != KH_OK) {
        return NULL;
    }
    return kh_h5_open_rw(path);
}
