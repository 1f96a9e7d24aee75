/* Helpers shared by the Check suites. */
#ifndef KH_TEST_H
#define KH_TEST_H

#include <check.h>
#include <stddef.h>

#include "io/kh_config.h"

/* Parses and validates INI text; fails the test on any error. */
kh_config *kh_test_config(const char *ini);

/* A fresh temporary file name in $TMPDIR (or /tmp) ending in `suffix`; the
 * file is created empty and should be removed by the caller. */
void kh_test_tmpname(char *buf, size_t len, const char *suffix);

/* Runs the khsim binary ($KHSIM, default ./khsim) with argv (NULL-ended),
 * capturing stderr into err. Returns the exit status (128 + signal if
 * killed). If sigint_after > 0, sends SIGINT after that many seconds. */
int kh_test_khsim(const char *const argv[], char *err, size_t errlen, double sigint_after);

/* The same, sending signal sig (instead of SIGINT) after `after` seconds. */
int kh_test_khsim_signal(const char *const argv[], char *err, size_t errlen, double after, int sig);
/* Runs khsim so that it raises `sig` itself at a point of its work: `at` is
 * "FRACTION [WORD]", the first progress report at FRACTION or later of the
 * work (of the phase whose progress line holds WORD; KHSIM_SIGNAL_AT in
 * cmd/main.c). Independent of the machine's speed. Returns as kh_test_khsim. */
int kh_test_khsim_at(const char *const argv[], char *err, size_t errlen, int sig, const char *at);

/* kh_test_khsim_signal, with KHSIM_SIGNAL_AT = signal_at when not NULL. */
int kh_test_khsim_env(const char *const argv[], char *err, size_t errlen, double sigint_after,
                      int sig, const char *signal_at);

/* Reads a dataset, failing the test on error; returns the data (caller frees). */
double *kh_test_read(const char *path, const char *ds, int *rank, long dims[3]);

/* Fails the test unless every dataset of the record at `path` has a
 * `units` and a `description` attribute and a label (HDF5 dimension
 * label) on each axis. Returns the number of datasets seen. */
int kh_test_record_described(const char *path);

/* Writes text to a new temporary file with `suffix`; returns its path in buf. */
void kh_test_write_file(char *buf, size_t len, const char *suffix, const char *text);

/* The fast rule's step written as directly as possible (tests/check_fast.c):
 * W [m, n] += eps dW / max(max |dW|, min_norm) for the samples idx [nb] of X. */
void kh_test_fast_direct_step(double *W, long m, long n, const double *X, const long *idx, long nb,
                              double p, double R, long k, double delta, double eps,
                              double min_norm);

Suite *kh_config_suite(void);
Suite *kh_data_suite(void);
Suite *kh_models_suite(void);
Suite *kh_solvers_suite(void);
Suite *kh_physics_suite(void);
Suite *kh_h5_suite(void);
Suite *kh_cli_suite(void);
Suite *kh_fast_suite(void);
Suite *kh_gpu_suite(void);
Suite *kh_train_suite(void);
Suite *kh_sweep_suite(void);
Suite *kh_reliability_suite(void);
Suite *kh_reduced_suite(void);
Suite *kh_stdp_suite(void);
Suite *kh_conv_suite(void);
Suite *kh_kcap_suite(void);
Suite *kh_backends_suite(void);

#endif
