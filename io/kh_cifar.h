/* CIFAR-10's binary batches (Krizhevsky, "Learning multiple layers of
 * features from tiny images", 2009): records of 1 label byte (0..9) and
 * 3 072 pixel bytes (1 024 red, 1 024 green, 1 024 blue, each 32 x 32 row by
 * row), 10 000 records per official batch. The training set is
 * data_batch_1.bin, data_batch_2.bin, ... in order (the official five, or as
 * many as the directory holds from 1 on); the test set is test_batch.bin. */
#ifndef KH_CIFAR_H
#define KH_CIFAR_H

#include "io/kh_data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KH_CIFAR_FEATURES 3072L
#define KH_CIFAR_RECORD (1L + KH_CIFAR_FEATURES)

/* The number of images of the training (test = 0) or test (test = 1) set in
 * directory dir. KH_OK; KH_EIO when a batch is missing or unreadable;
 * KH_EINVAL when a file is not a whole number of records (truncated). */
int kh_cifar_count(const char *dir, int test, long *n);

/* Reads `count` images (-1: all from first) from image `first` of the set,
 * pixels scaled by 1/255 into out->x [count, 3072] and their labels into
 * out->labels. KH_OK, KH_EIO, KH_EINVAL (a truncated batch, a label outside
 * 0..9, images the set does not hold), KH_ENOMEM. */
int kh_cifar_read(const char *dir, int test, long first, long count, kh_dataset *out);

#ifdef __cplusplus
}
#endif
#endif
