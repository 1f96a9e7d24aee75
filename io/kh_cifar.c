/* CIFAR-10's binary batches (io/kh_cifar.h). */
#include "io/kh_cifar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_mem.h"

#define MAX_BATCHES 64

/* The files of a set, with their record counts. */
typedef struct batches {
    int n;
    char path[MAX_BATCHES][KH_PATH_MAX + 32];
    long records[MAX_BATCHES];
} batches;

static int one_batch(const char *path, long *records)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return KH_ERROR(KH_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % KH_CIFAR_RECORD != 0) {
        return KH_ERROR(KH_EINVAL,
                        "%s: %lld bytes is not a whole number of CIFAR-10 records (%ld bytes: "
                        "a label and 3 072 pixels); the file is truncated or not a batch",
                        path, (long long)st.st_size, KH_CIFAR_RECORD);
    }
    *records = (long)(st.st_size / KH_CIFAR_RECORD);
    return KH_OK;
}

static int list_batches(const char *dir, int test, batches *b)
{
    b->n = 0;
    if (test) {
        snprintf(b->path[0], sizeof b->path[0], "%s/test_batch.bin", dir);
        b->n = 1;
        return one_batch(b->path[0], &b->records[0]);
    }
    for (int k = 0; k < MAX_BATCHES; k++) {
        snprintf(b->path[k], sizeof b->path[k], "%s/data_batch_%d.bin", dir, k + 1);
        if (access(b->path[k], F_OK) != 0) {
            break;
        }
        int s = one_batch(b->path[k], &b->records[k]);
        if (s != KH_OK) {
            return s;
        }
        b->n = k + 1;
    }
    if (b->n == 0) {
        return KH_ERROR(KH_EIO,
                        "input.path = %s: no data_batch_1.bin there (the CIFAR-10 binary "
                        "version; make data-cifar fetches it into data/cifar-10-batches-bin)",
                        dir);
    }
    return KH_OK;
}

int kh_cifar_count(const char *dir, int test, long *n)
{
    *n = 0;
    batches *b = malloc(sizeof *b);
    if (!b) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the CIFAR-10 batch list");
    }
    int s = list_batches(dir, test, b);
    for (int k = 0; s == KH_OK && k < b->n; k++) {
        *n += b->records[k];
    }
    free(b);
    return s;
}

int kh_cifar_read(const char *dir, int test, long first, long count, kh_dataset *out)
{
    memset(out, 0, sizeof *out);
    batches *b = malloc(sizeof *b);
    if (!b) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the CIFAR-10 batch list");
    }
    int s = list_batches(dir, test, b);
    long total = 0;
    for (int k = 0; s == KH_OK && k < b->n; k++) {
        total += b->records[k];
    }
    if (s == KH_OK && count < 0) {
        count = total - first;
    }
    if (s == KH_OK && (first < 0 || count <= 0 || first + count > total)) {
        s = KH_ERROR(KH_EINVAL,
                     "%s: the CIFAR-10 %s set holds %ld images; images %ld to %ld were asked "
                     "for (input.first, input.samples)",
                     dir, test ? "test" : "training", total, first, first + count - 1);
    }
    if (s == KH_OK) {
        out->x = kh_big_alloc((size_t)count * KH_CIFAR_FEATURES, sizeof(double));
        out->labels = malloc((size_t)count * sizeof(long));
        if (!out->x || !out->labels) {
            s = KH_ERROR(KH_ENOMEM, "cannot allocate %ld CIFAR-10 images", count);
        }
    }
    unsigned char rec[KH_CIFAR_RECORD];
    long start = 0, done = 0; /* start: the set's index of the batch's first image */
    for (int k = 0; s == KH_OK && k < b->n && done < count; k++) {
        const long lo = first + done - start; /* the first wanted record of this batch */
        if (lo >= b->records[k]) {
            start += b->records[k];
            continue;
        }
        FILE *f = fopen(b->path[k], "rb");
        if (!f) {
            s = KH_ERROR(KH_EIO, "%s: cannot open: %s", b->path[k], strerror(errno));
            break;
        }
        if (fseek(f, lo * KH_CIFAR_RECORD, SEEK_SET) != 0) {
            s = KH_ERROR(KH_EIO, "%s: cannot seek to record %ld", b->path[k], lo);
        }
        for (long r = lo; s == KH_OK && r < b->records[k] && done < count; r++) {
            if (fread(rec, 1, sizeof rec, f) != sizeof rec) {
                s = KH_ERROR(KH_EIO, "%s: record %ld is cut short (the file changed?)", b->path[k],
                             r);
                break;
            }
            if (rec[0] > 9) {
                s = KH_ERROR(KH_EINVAL, "%s: record %ld has label %d, not a class 0..9", b->path[k],
                             r, rec[0]);
                break;
            }
            out->labels[done] = rec[0];
            double *x = out->x + (size_t)done * KH_CIFAR_FEATURES;
            for (long i = 0; i < KH_CIFAR_FEATURES; i++) {
                x[i] = rec[1 + i] / 255.0;
            }
            done++;
        }
        fclose(f);
        start += b->records[k];
    }
    free(b);
    if (s != KH_OK) {
        kh_dataset_release(out);
        return s;
    }
    out->n_samples = count;
    out->n_features = KH_CIFAR_FEATURES;
    return KH_OK;
}
