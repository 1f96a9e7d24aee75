/* idx reader (Y. LeCun's MNIST format) over zlib, which reads gzip and raw
 * files alike, and the seeded uniform input source. */
#include "io/kh_data.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/kh_error.h"
#include "core/kh_mem.h"
#include "core/kh_rng.h"
#include "io/kh_cifar.h"

void kh_dataset_release(kh_dataset *d)
{
    free(d->x);
    free(d->labels);
    d->x = NULL;
    d->labels = NULL;
}

static uint32_t be32(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* Reads exactly len bytes; KH_EIO naming the file when it ends early. */
static int read_exact(gzFile f, void *buf, size_t len, const char *path, const char *what)
{
    unsigned char *p = buf;
    while (len > 0) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int got = gzread(f, p, chunk);
        if (got <= 0) {
            int err = 0;
            const char *m = gzerror(f, &err);
            return KH_ERROR(KH_EIO, "%s: truncated file: %s ends early%s%s", path, what,
                            err ? ": " : "", err ? m : "");
        }
        p += got;
        len -= (size_t)got;
    }
    return KH_OK;
}

/* Reads len bytes into a buffer that grows as they arrive (64 MiB at a
 * time), so that a header promising more than the file holds fails as a
 * truncated file instead of asking for that much memory up front. *out is
 * malloc'd (caller frees) on KH_OK. */
static int read_grown(gzFile f, size_t len, const char *path, const char *what, unsigned char **out)
{
    const size_t step = (size_t)64 << 20;
    unsigned char *buf = NULL;
    size_t have = 0;
    while (have < len) {
        size_t want = len - have < step ? len - have : step;
        unsigned char *nb = realloc(buf, have + want > 0 ? have + want : 1);
        if (!nb) {
            free(buf);
            return KH_ERROR(KH_ENOMEM, "%s: cannot allocate %zu bytes for %s", path, have + want,
                            what);
        }
        buf = nb;
        int s = read_exact(f, buf + have, want, path, what);
        if (s != KH_OK) {
            free(buf);
            return s;
        }
        have += want;
    }
    *out = buf ? buf : malloc(1);
    return *out ? KH_OK : KH_ERROR(KH_ENOMEM, "%s: out of memory", path);
}

typedef struct idx_header {
    int type, ndim;
    long dims[4];
} idx_header;

static int open_idx(const char *path, gzFile *f, idx_header *h)
{
    *f = gzopen(path, "rb");
    if (!*f) {
        return KH_ERROR(KH_EIO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    }
    unsigned char b[4];
    int s = read_exact(*f, b, 4, path, "the magic number");
    if (s != KH_OK) {
        return s;
    }
    if (b[0] != 0 || b[1] != 0 || (b[2] != 0x08 && b[2] != 0x0D && b[2] != 0x0E) || b[3] < 1 ||
        b[3] > 4) {
        return KH_ERROR(KH_EINVAL,
                        "%s: wrong magic number 0x%02x%02x%02x%02x: not an idx file of "
                        "ubyte, float or double with 1 to 4 dimensions",
                        path, b[0], b[1], b[2], b[3]);
    }
    h->type = b[2];
    h->ndim = b[3];
    for (int i = 0; i < h->ndim; i++) {
        if ((s = read_exact(*f, b, 4, path, "the header")) != KH_OK) {
            return s;
        }
        h->dims[i] = (long)be32(b);
        if (h->dims[i] <= 0 || h->dims[i] > (1L << 28)) {
            return KH_ERROR(KH_EINVAL, "%s: dimension %d of the idx header is %ld", path, i,
                            h->dims[i]);
        }
    }
    /* No product of the dimensions may overflow the sizes computed from them. */
    double total = 8.0;
    for (int i = 0; i < h->ndim; i++) {
        total *= (double)h->dims[i];
    }
    if (total > (double)(1L << 40)) {
        return KH_ERROR(KH_EINVAL, "%s: the idx header promises %.3g bytes of values", path, total);
    }
    return KH_OK;
}

static int select_range(const char *path, long total, long first, long *count)
{
    if (first >= total) {
        return KH_ERROR(KH_EINVAL, "%s: input.first = %ld but the file holds %ld samples", path,
                        first, total);
    }
    if (*count < 0) {
        *count = total - first;
    }
    if (first + *count > total) {
        return KH_ERROR(KH_EINVAL,
                        "%s: input.first + input.samples = %ld exceeds the %ld "
                        "samples in the file",
                        path, first + *count, total);
    }
    return KH_OK;
}

/* Skips `bytes` by reading (gzseek on a compressed stream reads anyway). */
static int skip(gzFile f, size_t bytes, const char *path, const char *what)
{
    unsigned char buf[65536];
    while (bytes > 0) {
        size_t c = bytes < sizeof buf ? bytes : sizeof buf;
        int s = read_exact(f, buf, c, path, what);
        if (s != KH_OK) {
            return s;
        }
        bytes -= c;
    }
    return KH_OK;
}

/* After the samples read: the rest of the file, which must hold exactly
 * what the header promised (`rest` more bytes) and then end, with a valid
 * gzip trailer when compressed (zlib checks the CRC-32 and the length of
 * each member when it reaches the member's end). KH_OK or KH_EINVAL. */
static int finish(gzFile f, size_t rest, const char *path)
{
    int s = skip(f, rest, path, "the samples after those read (the idx header promises more)");
    if (s != KH_OK) {
        return s;
    }
    unsigned char extra;
    int got = gzread(f, &extra, 1);
    int err = Z_OK;
    const char *m = gzerror(f, &err);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
        return KH_ERROR(KH_EINVAL, "%s: damaged at its end (%s): truncated, or its checksum fails",
                        path, m && *m ? m : "read error");
    }
    if (got > 0) {
        return KH_ERROR(KH_EINVAL, "%s: holds more bytes than its idx header promises", path);
    }
    return KH_OK;
}

int kh_idx_count(const char *path, long *n)
{
    gzFile f = NULL;
    idx_header h;
    int s = open_idx(path, &f, &h);
    if (f) {
        gzclose(f);
    }
    *n = s == KH_OK ? h.dims[0] : 0;
    return s;
}

int kh_idx_read(const char *path, long first, long count, kh_dataset *out)
{
    memset(out, 0, sizeof *out);
    gzFile f = NULL;
    idx_header h;
    int s = open_idx(path, &f, &h);
    if (s != KH_OK) {
        if (f) {
            gzclose(f);
        }
        return s;
    }
    long feat = 1;
    for (int i = 1; i < h.ndim; i++) {
        feat *= h.dims[i];
    }
    size_t esz = h.type == 0x08 ? 1 : (h.type == 0x0D ? 4 : 8);
    if ((s = select_range(path, h.dims[0], first, &count)) != KH_OK ||
        (s = skip(f, (size_t)first * (size_t)feat * esz, path, "the data before input.first")) !=
            KH_OK) {
        gzclose(f);
        return s;
    }
    size_t nv = (size_t)count * (size_t)feat;
    unsigned char *raw = NULL;
    s = read_grown(f, nv * esz, path, "the sample data", &raw);
    if (s == KH_OK) {
        s = finish(f, (size_t)(h.dims[0] - first - count) * (size_t)feat * esz, path);
    }
    gzclose(f);
    if (s != KH_OK) {
        free(raw);
        kh_dataset_release(out);
        return s;
    }
    out->x = kh_big_alloc(nv ? nv : 1, sizeof(double));
    if (!out->x) {
        free(raw);
        kh_dataset_release(out);
        return KH_ERROR(KH_ENOMEM, "%s: cannot allocate %zu values", path, nv);
    }
    for (size_t i = 0; i < nv; i++) {
        if (h.type == 0x08) {
            out->x[i] = raw[i] / 255.0;
        } else if (h.type == 0x0D) {
            uint32_t u = be32(raw + 4 * i);
            float fv;
            memcpy(&fv, &u, 4);
            out->x[i] = (double)fv;
        } else {
            uint64_t u = ((uint64_t)be32(raw + 8 * i) << 32) | be32(raw + 8 * i + 4);
            memcpy(&out->x[i], &u, 8);
        }
        if (!isfinite(out->x[i])) {
            free(raw);
            kh_dataset_release(out);
            return KH_ERROR(KH_EINVAL, "%s: value %zu is not finite", path, i);
        }
    }
    free(raw);
    out->n_samples = count;
    out->n_features = feat;
    return KH_OK;
}

int kh_idx_read_labels(const char *path, long first, long count, long **labels)
{
    *labels = NULL;
    gzFile f = NULL;
    idx_header h;
    int s = open_idx(path, &f, &h);
    if (s == KH_OK && (h.type != 0x08 || h.ndim != 1)) {
        s = KH_ERROR(KH_EINVAL, "%s: not an idx1 ubyte label file", path);
    }
    if (s == KH_OK) {
        s = select_range(path, h.dims[0], first, &count);
    }
    if (s == KH_OK) {
        s = skip(f, (size_t)first, path, "the labels before input.first");
    }
    unsigned char *raw = NULL;
    if (s == KH_OK) {
        s = read_grown(f, (size_t)count, path, "the labels", &raw);
    }
    if (s == KH_OK) {
        s = finish(f, (size_t)(h.dims[0] - first - count), path);
    }
    for (long i = 0; s == KH_OK && i < count; i++) {
        if (raw[i] > 9) {
            s = KH_ERROR(KH_EINVAL, "%s: label %d of sample %ld is not a digit 0..9", path, raw[i],
                         first + i);
        }
    }
    if (s == KH_OK && !(*labels = malloc((size_t)(count > 0 ? count : 1) * sizeof(long)))) {
        s = KH_ERROR(KH_ENOMEM, "%s: cannot allocate %ld labels", path, count);
    }
    if (f) {
        gzclose(f);
    }
    if (s == KH_OK) {
        for (long i = 0; i < count; i++) {
            (*labels)[i] = raw[i];
        }
    } else {
        free(*labels);
        *labels = NULL;
    }
    free(raw);
    return s;
}

int kh_data_find(const char *dir, const char *name, char *path, size_t len)
{
    struct stat st;
    snprintf(path, len, "%s/%s", dir, name);
    if (stat(path, &st) == 0) {
        return KH_OK;
    }
    snprintf(path, len, "%s/%s.gz", dir, name);
    if (stat(path, &st) == 0) {
        return KH_OK;
    }
    return KH_ERROR(KH_EIO,
                    "input.path = %s: neither %s nor %s.gz exists there (run 'make "
                    "data' for the full MNIST set)",
                    dir, name, name);
}

void kh_dataset_normalize(const kh_params *p, kh_dataset *d)
{
    if (p->normalize != KH_NORM_L2) {
        return;
    }
    for (long k = 0; k < d->n_samples; k++) {
        double *x = d->x + (size_t)k * (size_t)d->n_features, ss = 0.0;
        for (long i = 0; i < d->n_features; i++) {
            ss += x[i] * x[i];
        }
        if (ss > 0.0) {
            const double inv = 1.0 / sqrt(ss);
            for (long i = 0; i < d->n_features; i++) {
                x[i] *= inv;
            }
        }
    }
}

/* The samples of the study, as stored (kh_data_load normalizes them). */
static int load_raw(const kh_params *p, kh_dataset *out)
{
    memset(out, 0, sizeof *out);
    int s = KH_OK;
    if (p->source == KH_SRC_UNIFORM) {
        size_t nv = (size_t)p->n_samples * (size_t)p->n_visible;
        out->x = malloc(nv * sizeof(double));
        if (!out->x) {
            return KH_ERROR(KH_ENOMEM, "cannot allocate %zu input values", nv);
        }
        kh_rng r;
        kh_rng_seed(&r, (uint64_t)p->input_seed, 1);
        for (size_t i = 0; i < nv; i++) {
            out->x[i] = kh_rng_uniform(&r);
        }
        out->n_samples = p->n_samples;
        out->n_features = p->n_visible;
        return KH_OK;
    }
    if (p->source == KH_SRC_CIFAR10) {
        return kh_cifar_read(p->input_path, 0, p->first, p->n_samples, out);
    }
    char path[KH_PATH_MAX + 32];
    if (p->source == KH_SRC_MNIST) {
        if ((s = kh_data_find(p->input_path, "train-images-idx3-ubyte", path, sizeof path)) !=
            KH_OK) {
            return s;
        }
    } else {
        snprintf(path, sizeof path, "%s", p->input_path);
    }
    if ((s = kh_idx_read(path, p->first, p->n_samples, out)) != KH_OK) {
        return s;
    }
    if (p->source == KH_SRC_MNIST &&
        kh_data_find(p->input_path, "train-labels-idx1-ubyte", path, sizeof path) == KH_OK) {
        if ((s = kh_idx_read_labels(path, p->first, p->n_samples, &out->labels)) != KH_OK) {
            kh_dataset_release(out);
            return s;
        }
    }
    return KH_OK;
}

int kh_data_load(const kh_params *p, kh_dataset *out)
{
    int s = load_raw(p, out);
    if (s != KH_OK) {
        return s;
    }
    kh_dataset_normalize(p, out);
    if (p->n_visible != 0 && p->n_visible != out->n_features) {
        long nf = out->n_features;
        kh_dataset_release(out);
        return KH_ERROR(KH_EINVAL, "network.inputs = %ld but the samples of %s have %ld values",
                        p->n_visible, p->input_path, nf);
    }
    return KH_OK;
}
