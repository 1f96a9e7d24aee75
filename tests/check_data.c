/* The idx reader, the CIFAR-10 reader, l2 normalisation and the uniform
 * source. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cmd/kh_train.h"
#include "core/kh_error.h"
#include "io/kh_cifar.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "kh_test.h"

static void put32(unsigned char *b, uint32_t x)
{
    b[0] = (unsigned char)(x >> 24);
    b[1] = (unsigned char)(x >> 16);
    b[2] = (unsigned char)(x >> 8);
    b[3] = (unsigned char)x;
}

/* Writes an idx3 ubyte file of N 2x3 images with pixel (s, i) = 10 s + i,
 * truncated by `cut` bytes, gzip-compressed if gz. */
static void write_idx(const char *path, int N, int cut, int gz, unsigned magic)
{
    size_t len = 16 + (size_t)N * 6;
    unsigned char *b = malloc(len);
    put32(b, magic);
    put32(b + 4, (uint32_t)N);
    put32(b + 8, 2);
    put32(b + 12, 3);
    for (int s = 0; s < N; s++) {
        for (int i = 0; i < 6; i++) {
            b[16 + s * 6 + i] = (unsigned char)(10 * s + i);
        }
    }
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, b, (unsigned)(len - (size_t)cut));
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(b, 1, len - (size_t)cut, f);
        fclose(f);
    }
    free(b);
}

START_TEST(test_idx_roundtrip)
{
    char path[512];
    kh_test_tmpname(path, sizeof path, _i ? ".gz" : ".idx");
    write_idx(path, 5, 0, _i, 0x00000803);
    kh_dataset d;
    ck_assert_int_eq(kh_idx_read(path, 2, 2, &d), KH_OK);
    ck_assert_int_eq(d.n_samples, 2);
    ck_assert_int_eq(d.n_features, 6);
    ck_assert_double_eq_tol(d.x[0], 20.0 / 255.0, 1e-15);
    ck_assert_double_eq_tol(d.x[11], 35.0 / 255.0, 1e-15);
    kh_dataset_release(&d);
    ck_assert_int_eq(kh_idx_read(path, 4, 2, &d), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "exceeds"));
    remove(path);
}
END_TEST

START_TEST(test_idx_truncated)
{
    char path[512];
    kh_test_tmpname(path, sizeof path, ".idx");
    write_idx(path, 5, 7, 0, 0x00000803);
    kh_dataset d;
    ck_assert_int_eq(kh_idx_read(path, 0, -1, &d), KH_EIO);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "truncated"));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), path));
    remove(path);
}
END_TEST

START_TEST(test_idx_bad_magic)
{
    char path[512];
    kh_test_tmpname(path, sizeof path, ".idx");
    write_idx(path, 5, 0, 0, 0x00000903);
    kh_dataset d;
    ck_assert_int_eq(kh_idx_read(path, 0, -1, &d), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "wrong magic number"));
    remove(path);
}
END_TEST

/* The size against the header and the gzip trailer: a header promising
 * more samples than the file holds, a .gz missing its last bytes (its
 * CRC-32 and length), one flipped byte in the compressed stream, and a
 * label outside 0..9 are all refused, also when only the first samples are
 * read. */
START_TEST(test_idx_integrity)
{
    char path[512];
    kh_dataset d;
    kh_test_tmpname(path, sizeof path, ".idx");
    write_idx(path, 5, 6, 0, 0x00000803); /* the header says 5, the file holds 4 */
    ck_assert_int_ne(kh_idx_read(path, 0, 2, &d), KH_OK);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "promises more"));
    remove(path);
    kh_test_tmpname(path, sizeof path, ".gz");
    write_idx(path, 40, 0, 1, 0x00000803);
    FILE *f = fopen(path, "rb");
    unsigned char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (int cut = 1; cut <= 8; cut += 7) {
        f = fopen(path, "wb");
        fwrite(buf, 1, len - (size_t)cut, f);
        fclose(f);
        ck_assert_msg(kh_idx_read(path, 0, 2, &d) != KH_OK, "a .gz without its last %d bytes read",
                      cut);
    }
    buf[len / 2] ^= 0x10;
    f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    ck_assert_msg(kh_idx_read(path, 0, -1, &d) != KH_OK, "a flipped byte went unnoticed");
    remove(path);
    /* Labels: an idx1 file whose third label is 200. */
    kh_test_tmpname(path, sizeof path, ".idx");
    unsigned char lab[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 3, 1, 200, 4, 9};
    f = fopen(path, "wb");
    fwrite(lab, 1, sizeof lab, f);
    fclose(f);
    long *labels = NULL;
    ck_assert_int_eq(kh_idx_read_labels(path, 0, -1, &labels), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "not a digit"));
    ck_assert_ptr_null(labels);
    lab[10] = 7;
    f = fopen(path, "wb");
    fwrite(lab, 1, sizeof lab, f);
    fclose(f);
    ck_assert_int_eq(kh_idx_read_labels(path, 0, -1, &labels), KH_OK);
    ck_assert_int_eq(labels[2], 7);
    free(labels);
    remove(path);
}
END_TEST

START_TEST(test_shipped_mnist)
{
    /* The shipped subset: 1000 real digits with their labels. */
    kh_dataset d;
    ck_assert_int_eq(kh_idx_read("data/mnist-1000/train-images-idx3-ubyte.gz", 0, -1, &d), KH_OK);
    ck_assert_int_eq(d.n_samples, 1000);
    ck_assert_int_eq(d.n_features, 784);
    double lo = 1, hi = 0, mean = 0;
    for (long i = 0; i < 1000 * 784; i++) {
        lo = d.x[i] < lo ? d.x[i] : lo;
        hi = d.x[i] > hi ? d.x[i] : hi;
        mean += d.x[i];
    }
    mean /= 1000.0 * 784.0;
    ck_assert(lo == 0.0);
    ck_assert(hi == 1.0);
    ck_assert_double_le(fabs(mean - 0.13), 0.01); /* MNIST's mean intensity is 0.1307 */
    kh_dataset_release(&d);
    long *lab = NULL;
    ck_assert_int_eq(kh_idx_read_labels("data/mnist-1000/train-labels-idx1-ubyte.gz", 0, 3, &lab),
                     KH_OK);
    /* The first three MNIST training labels are 5, 0, 4. */
    ck_assert_int_eq(lab[0], 5);
    ck_assert_int_eq(lab[1], 0);
    ck_assert_int_eq(lab[2], 4);
    free(lab);
}
END_TEST

START_TEST(test_uniform_source)
{
    kh_config *c = kh_test_config("[network]\ninputs = 50\n[input]\nsource = uniform\n"
                                  "samples = 40\nseed = 3\n");
    kh_dataset a, b;
    ck_assert_int_eq(kh_data_load(&c->p, &a), KH_OK);
    ck_assert_int_eq(kh_data_load(&c->p, &b), KH_OK);
    double mean = 0;
    for (long i = 0; i < 2000; i++) {
        ck_assert(a.x[i] >= 0.0 && a.x[i] < 1.0);
        ck_assert(a.x[i] == b.x[i]);
        mean += a.x[i] / 2000.0;
    }
    ck_assert_double_le(fabs(mean - 0.5), 0.03);
    kh_dataset_release(&a);
    kh_dataset_release(&b);
    kh_config_free(c);
}
END_TEST

/* The pixel byte of image k (its index in the set) at i, and its label:
 * "high-entropy" values that differ from image to image. */
static unsigned char cifar_pixel(long k, long i)
{
    return (unsigned char)((k * 131 + i * 7 + (i >> 10) * 29) % 256);
}

static int cifar_label(long k)
{
    return (int)((k * 3 + 1) % 10);
}

/* Writes `records` records of images first.. into path; `cut` bytes fewer. */
static void write_cifar(const char *path, long first, long records, long cut)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned char rec[KH_CIFAR_RECORD];
    for (long r = 0; r < records; r++) {
        rec[0] = (unsigned char)cifar_label(first + r);
        for (long i = 0; i < KH_CIFAR_FEATURES; i++) {
            rec[1 + i] = cifar_pixel(first + r, i);
        }
        const size_t len = r == records - 1 ? sizeof rec - (size_t)cut : sizeof rec;
        ck_assert_int_eq(fwrite(rec, 1, len, f), len);
    }
    fclose(f);
}

/* A CIFAR-10 directory: data_batch_1.bin (7 images), data_batch_2.bin (5)
 * and test_batch.bin (4, numbered 100..). */
static void cifar_dir(char *dir, size_t len)
{
    kh_test_tmpname(dir, len, ".cifar");
    remove(dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/data_batch_1.bin", dir);
    write_cifar(path, 0, 7, 0);
    snprintf(path, sizeof path, "%s/data_batch_2.bin", dir);
    write_cifar(path, 7, 5, 0);
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_cifar(path, 100, 4, 0);
}

static void cifar_dir_remove(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The reader gives back every label and pixel / 255 the test wrote, in the
 * set's order across the batches, from any first image. */
START_TEST(test_cifar_roundtrip)
{
    char dir[512];
    cifar_dir(dir, sizeof dir);
    long n;
    ck_assert_int_eq(kh_cifar_count(dir, 0, &n), KH_OK);
    ck_assert_int_eq(n, 12);
    ck_assert_int_eq(kh_cifar_count(dir, 1, &n), KH_OK);
    ck_assert_int_eq(n, 4);
    const long first[3] = {0, 5, 11}, count[3] = {-1, 4, 1}, test[3] = {0, 0, 0};
    for (int c = 0; c < 4; c++) {
        kh_dataset d;
        const long f = c < 3 ? first[c] : 1, k = c < 3 ? count[c] : 3;
        const int t = c < 3 ? (int)test[c] : 1;
        ck_assert_int_eq(kh_cifar_read(dir, t, f, k, &d), KH_OK);
        ck_assert_int_eq(d.n_samples, k < 0 ? 12 : k);
        ck_assert_int_eq(d.n_features, 3072);
        for (long r = 0; r < d.n_samples; r++) {
            const long img = (t ? 100 : 0) + f + r;
            ck_assert_int_eq(d.labels[r], cifar_label(img));
            for (long i = 0; i < 3072; i += 97) {
                ck_assert_double_eq_tol(d.x[r * 3072 + i], cifar_pixel(img, i) / 255.0, 1e-15);
            }
        }
        kh_dataset_release(&d);
    }
    cifar_dir_remove(dir);
}
END_TEST

/* Damaged sets are refused with the reason: a batch cut short (1 byte or a
 * whole record but one byte), a label outside 0..9, images the set does not
 * hold, a directory without batches; khsim run exits 2 on a cut batch. */
START_TEST(test_cifar_damaged)
{
    char dir[512], path[600];
    kh_dataset d;
    const long cuts[2] = {1, KH_CIFAR_RECORD - 1};
    for (int k = 0; k < 2; k++) {
        cifar_dir(dir, sizeof dir);
        snprintf(path, sizeof path, "%s/data_batch_2.bin", dir);
        write_cifar(path, 7, 5, cuts[k]);
        ck_assert_int_eq(kh_cifar_read(dir, 0, 0, 3, &d), KH_EINVAL);
        ck_assert_msg(strstr(kh_errmsg(), "truncated"), "%s", kh_errmsg());
        char study[512], err[8192];
        char text[1024];
        snprintf(text, sizeof text,
                 "[network]\nhidden = 3\n[input]\nsource = cifar10\npath = %s\nsamples = 2\n"
                 "presentation_time = 1\n",
                 dir);
        kh_test_write_file(study, sizeof study, ".ini", text);
        char out[600];
        snprintf(out, sizeof out, "%s.h5", study);
        const char *argv[] = {"run", study, "-o", out, NULL};
        ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 2);
        ck_assert_msg(strstr(err, "truncated"), "%s", err);
        ck_assert_int_eq(access(out, F_OK), -1);
        remove(study);
        cifar_dir_remove(dir);
    }
    cifar_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 2 * KH_CIFAR_RECORD, SEEK_SET), 0);
    ck_assert_int_eq(fputc(10, f), 10);
    fclose(f);
    ck_assert_int_eq(kh_cifar_read(dir, 1, 0, -1, &d), KH_EINVAL);
    ck_assert_msg(strstr(kh_errmsg(), "label 10"), "%s", kh_errmsg());
    ck_assert_int_eq(kh_cifar_read(dir, 1, 0, 2, &d), KH_OK); /* before the bad record */
    kh_dataset_release(&d);
    ck_assert_int_eq(kh_cifar_read(dir, 0, 10, 3, &d), KH_EINVAL);
    ck_assert_msg(strstr(kh_errmsg(), "holds 12 images"), "%s", kh_errmsg());
    cifar_dir_remove(dir);
    ck_assert_int_eq(kh_cifar_read(dir, 0, 0, 1, &d), KH_EIO);
    ck_assert_msg(strstr(kh_errmsg(), "make data-cifar"), "%s", kh_errmsg());
}
END_TEST

/* input.normalize = l2: every sample of the study has 2-norm 1, in the
 * direction of the raw sample (CIFAR-10 and MNIST); none leaves them. */
START_TEST(test_l2_normalize)
{
    char dir[512];
    cifar_dir(dir, sizeof dir);
    for (int k = 0; k < 3; k++) {
        char text[1024];
        snprintf(text, sizeof text, "[input]\nsource = %s\npath = %s\nsamples = 6\nfirst = 3\n%s",
                 k == 2 ? "mnist" : "cifar10", k == 2 ? "data/mnist-1000" : dir,
                 k == 1 ? "" : "normalize = l2\n");
        kh_config *c = kh_test_config(text);
        kh_dataset d, raw;
        ck_assert_int_eq(kh_data_load(&c->p, &d), KH_OK);
        c->p.normalize = KH_NORM_NONE;
        ck_assert_int_eq(kh_data_load(&c->p, &raw), KH_OK);
        for (long r = 0; r < d.n_samples; r++) {
            double ss = 0.0, rs = 0.0;
            for (long i = 0; i < d.n_features; i++) {
                ss += d.x[r * d.n_features + i] * d.x[r * d.n_features + i];
                rs += raw.x[r * d.n_features + i] * raw.x[r * d.n_features + i];
            }
            if (k == 1) {
                ck_assert_double_eq_tol(ss, rs, 1e-12 * rs);
                continue;
            }
            ck_assert_double_eq_tol(ss, 1.0, 1e-12);
            for (long i = 0; i < d.n_features; i += 13) {
                ck_assert_double_eq_tol(d.x[r * d.n_features + i] * sqrt(rs),
                                        raw.x[r * d.n_features + i], 1e-12);
            }
        }
        kh_dataset_release(&d);
        kh_dataset_release(&raw);
        kh_config_free(c);
    }
    cifar_dir_remove(dir);
}
END_TEST

/* khsim train on a CIFAR-10 directory: the fast rule on the training
 * images, the readout measured on test_batch.bin, v = x / ||x||_2. */
START_TEST(test_cifar_train)
{
    char dir[512], text[1024], out[512];
    cifar_dir(dir, sizeof dir);
    snprintf(text, sizeof text,
             "[network]\nhidden = 8\np = 4\n[learning]\nepochs = 2\nbatch = 4\n"
             "[input]\nsource = cifar10\npath = %s\nsamples = 12\nnormalize = l2\n"
             "[solver]\nmethod = fast\n[train]\nepochs = 3\nbatch = 4\n",
             dir);
    kh_config *c = kh_test_config(text);
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_train_result res;
    ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    int rank;
    long dims[3];
    double *S = kh_test_read(out, "/train/S", &rank, dims);
    ck_assert_int_eq(dims[0], 10);
    ck_assert_int_eq(dims[1], 8);
    double x;
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/train", "test_samples", &x), KH_OK);
    ck_assert_double_eq_tol(x, 4, 1e-12);
    ck_assert(res.test_error >= 0.0 && res.test_error <= 1.0);
    /* The inputs the fast rule saw are the l2-normalised images. */
    double *v = kh_test_read(out, "/input/v", &rank, dims);
    ck_assert_int_eq(dims[1], 3072);
    for (long r = 0; r < dims[0]; r++) {
        double ss = 0.0;
        for (long i = 0; i < 3072; i++) {
            ss += v[r * 3072 + i] * v[r * 3072 + i];
        }
        ck_assert_double_eq_tol(ss, 1.0, 1e-12);
    }
    free(v);
    free(S);
    remove(out);
    kh_config_free(c);
    cifar_dir_remove(dir);
}
END_TEST

Suite *kh_data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("idx");
    tcase_add_loop_test(tc, test_idx_roundtrip, 0, 2);
    tcase_add_test(tc, test_idx_truncated);
    tcase_add_test(tc, test_idx_bad_magic);
    tcase_add_test(tc, test_idx_integrity);
    tcase_add_test(tc, test_shipped_mnist);
    tcase_add_test(tc, test_uniform_source);
    tcase_add_test(tc, test_cifar_roundtrip);
    tcase_add_test(tc, test_cifar_damaged);
    tcase_add_test(tc, test_l2_normalize);
    tcase_add_test(tc, test_cifar_train);
    suite_add_tcase(s, tc);
    return s;
}
