/* The readers of khsim's HDF5 files: datasets, rows and attributes read
 * whole and checked (type and shape) before use, a record's study read back
 * (kh_h5_read_params), and khsim info. Files marked open for writing (a
 * live run, or one whose writer was killed) are read in SWMR mode. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "io/kh_h5.h"
#include "io/kh_h5_internal.h"

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

/* open_ro for the readers: a missing file and one that is not HDF5 are
 * each said so (KH_ERROR, KH_EIO) before -1 is returned. */
static hid_t open_reading(const char *path)
{
    if (access(path, R_OK) != 0) {
        KH_ERROR(KH_EIO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    hid_t f = open_ro(path);
    if (f < 0) {
        KH_ERROR(KH_EIO, "%s: not a readable HDF5 file", path);
    }
    return f;
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
    hid_t f = open_reading(path);
    if (f < 0) {
        return KH_EIO;
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
    hid_t f = open_reading(path);
    if (f < 0) {
        return KH_EIO;
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
        if (row == -1 && rank >= 1) {
            row = (long)dims[0] - 1; /* the last row */
            start[0] = (hsize_t)(row < 0 ? 0 : row);
        }
        if (rank < 1 || rank > 3 || row < 0 || (hsize_t)row >= dims[0] || per != len) {
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
        long n = kh_h5i_attr_count(a);
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
        long n = kh_h5i_attr_count(a);
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
    hid_t f = open_reading(path);
    if (f < 0) {
        return KH_EIO;
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
    const long n = kh_h5i_attr_count(a);
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
