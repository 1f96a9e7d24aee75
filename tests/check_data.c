/* The idx reader and the uniform source. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/kh_error.h"
#include "io/kh_data.h"
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
    suite_add_tcase(s, tc);
    return s;
}
