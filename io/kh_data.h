/* Input data: idx files (the MNIST format, raw or gzip-compressed) and the
 * seeded uniform source. */
#ifndef KH_DATA_H
#define KH_DATA_H

#include <stddef.h>

#include "core/kh_types.h"

typedef struct kh_dataset {
    long n_samples, n_features;
    double *x;    /* owned: [n_samples, n_features], row-major */
    long *labels; /* owned, may be NULL */
} kh_dataset;

/* Reads an idx file (magic 0x0000TTDD: type TT = 0x08 ubyte, scaled by 1/255;
 * 0x0D float or 0x0E double, as stored) holding `count` samples from index
 * `first` (count = -1: all from first). Checks the magic number and that the
 * file holds every byte its header promises. KH_OK, KH_EIO, KH_EINVAL. */
int kh_idx_read(const char *path, long first, long count, kh_dataset *out);

/* The number of samples an idx file's header declares (its first dimension). */
int kh_idx_count(const char *path, long *n);

/* Reads the labels of an idx1 ubyte file, same rules. */
int kh_idx_read_labels(const char *path, long first, long count, long **labels);

/* Loads the inputs of a study (input.source, path, first, samples, seed) and
 * checks them against network.inputs. KH_OK, KH_EIO, KH_EINVAL, KH_ENOMEM. */
int kh_data_load(const kh_params *p, kh_dataset *out);

/* Applies input.normalize to every sample of d (l2: each divided by its
 * 2-norm; an all-zero sample stays zero). */
void kh_dataset_normalize(const kh_params *p, kh_dataset *d);

/* Finds "<dir>/<name>" or "<dir>/<name>.gz"; KH_OK or KH_EIO. */
int kh_data_find(const char *dir, const char *name, char *path, size_t len);

void kh_dataset_release(kh_dataset *d);

#endif
