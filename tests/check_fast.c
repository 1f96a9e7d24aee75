/* The fast rule (solvers/fast.c): against a direct loop of the same maths,
 * float against double, against the exact dynamics where they must agree,
 * against Krotov's numpy notebook, and its error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/kh_compare.h"
#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "run/kh_sim.h"
#include "solvers/kh_fast.h"

/* The fast rule written as directly as possible: every unit's current by a
 * plain sum, a full sort-free scan for the top and k-th unit, the dense
 * update over every row, W += eps dW / max |dW| (README, "The model"). */
void kh_test_fast_direct_step(double *W, long m, long n, const double *X, const long *idx, long nb,
                              double p, double R, long k, double delta, double eps, double min_norm)
{
    double *g = calloc((size_t)(m * nb), sizeof(double));
    double *I = calloc((size_t)(m * nb), sizeof(double));
    double *dW = calloc((size_t)(m * n), sizeof(double));
    for (long b = 0; b < nb; b++) {
        const double *v = X + idx[b] * n;
        for (long mu = 0; mu < m; mu++) {
            double s = 0.0;
            for (long i = 0; i < n; i++) {
                double w = W[mu * n + i];
                s += (w < 0 ? -1.0 : (w > 0 ? 1.0 : 0.0)) * pow(fabs(w), p - 1.0) * v[i];
            }
            I[mu * nb + b] = s;
        }
        /* The rank of each unit: how many have a larger current. */
        for (long mu = 0; mu < m; mu++) {
            long above = 0;
            for (long nu = 0; nu < m; nu++) {
                double a = I[nu * nb + b], c = I[mu * nb + b];
                above += a > c || (a == c && nu < mu);
            }
            if (above == 0) {
                g[mu * nb + b] = 1.0;
            } else if (above == k - 1) {
                g[mu * nb + b] = -delta;
            }
        }
    }
    double mx = 0.0;
    for (long mu = 0; mu < m; mu++) {
        double gI = 0.0;
        for (long b = 0; b < nb; b++) {
            gI += g[mu * nb + b] * I[mu * nb + b];
        }
        for (long i = 0; i < n; i++) {
            double gv = 0.0;
            for (long b = 0; b < nb; b++) {
                gv += g[mu * nb + b] * X[idx[b] * n + i];
            }
            dW[mu * n + i] = pow(R, p) * gv - gI * W[mu * n + i];
            mx = fmax(mx, fabs(dW[mu * n + i]));
        }
    }
    double scale = eps / fmax(mx, min_norm);
    for (long j = 0; j < m * n; j++) {
        W[j] += scale * dW[j];
    }
    free(g);
    free(I);
    free(dW);
}

/* Random data: dense (uniform) or sparse (a quarter of the inputs non-zero). */
static void fill(double *x, long len, int sparse, uint64_t seed)
{
    kh_rng r;
    kh_rng_seed(&r, seed, 0);
    for (long i = 0; i < len; i++) {
        double u = kh_rng_uniform(&r);
        x[i] = sparse && kh_rng_uniform(&r) > 0.25 ? 0.0 : 0.1 + 2.385 * u;
    }
}

static const char *small_ini = "[network]\nhidden = 13\ninputs = 9\np = %g\nR = 1.3\n"
                               "[learning]\nk = %ld\ndelta = 0.4\nbatch = 5\n"
                               "[input]\nsource = uniform\n[solver]\nmethod = fast\n";

/* Loop i: dense data (the GEMM) and sparse data (the sparse product), p = 3
 * and p = 4.5 (pow), k = 2 and 3. Three minibatches against the direct loop. */
START_TEST(test_fast_direct_loop)
{
    const int sparse = _i & 1;
    const double p = (_i & 2) ? 4.5 : 3.0;
    const long k = (_i & 2) ? 3 : 2;
    char ini[512];
    snprintf(ini, sizeof ini, small_ini, p, k);
    kh_config *c = kh_test_config(ini);
    const long m = 13, n = 9, N = 17;
    double X[17 * 9], W0[13 * 9], W[13 * 9], Wf[13 * 9];
    fill(X, N * n, sparse, 7);
    kh_rng r;
    kh_rng_seed(&r, 3, 1);
    for (long j = 0; j < m * n; j++) {
        W0[j] = W[j] = kh_rng_normal(&r);
    }
    kh_fast *f = kh_fast_alloc(&c->p, X, N, W0, 5);
    ck_assert_ptr_nonnull(f);
    const long batches[3][5] = {{3, 16, 0, 7, 9}, {1, 2, 11, 4, 5}, {12, 8, 6, 10, 14}};
    const double eps[3] = {0.04, 0.03, 0.02};
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(kh_fast_step(f, batches[s], 5, eps[s]), KH_OK);
        kh_test_fast_direct_step(W, m, n, X, batches[s], 5, p, 1.3, k, 0.4, eps[s], 1e-30);
    }
    kh_fast_get_W(f, Wf);
    double err = 0.0, moved = 0.0;
    for (long j = 0; j < m * n; j++) {
        err = fmax(err, fabs(Wf[j] - W[j]));
        moved = fmax(moved, fabs(W[j] - W0[j]));
    }
    ck_assert_msg(err < 1e-12, "fast vs direct loop: %g", err);
    ck_assert_msg(moved > 1e-3, "the weights did not move (%g)", moved);
    kh_fast_free(f);
    kh_config_free(c);
}
END_TEST

/* float and double after one epoch of a small MNIST problem: within 1e-4. */
START_TEST(test_fast_float_double)
{
    const char *ini = "[network]\nhidden = 40\np = 3\n[learning]\nepochs = 1\nbatch = 20\n"
                      "[input]\nsamples = 400\n[solver]\nmethod = fast\nprecision = %s\n";
    char text[512], out[2][512];
    double *W[2];
    for (int q = 0; q < 2; q++) {
        snprintf(text, sizeof text, ini, q ? "float" : "double");
        kh_config *c = kh_test_config(text);
        kh_test_tmpname(out[q], sizeof out[q], ".h5");
        snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out[q]);
        kh_sim_result res;
        ck_assert_msg(kh_sim_run(c, NULL, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
        ck_assert_int_eq(res.epochs, 1);
        int rank;
        long d[3];
        W[q] = kh_test_read(out[q], "/snapshots/W", &rank, d);
        ck_assert_int_eq(d[0], 2);
        kh_config_free(c);
    }
    const long mn = 40 * 784;
    double err = 0.0, moved = 0.0;
    for (long j = 0; j < mn; j++) {
        err = fmax(err, fabs(W[0][mn + j] - W[1][mn + j]));
        moved = fmax(moved, fabs(W[0][mn + j] - W[0][j]));
    }
    ck_assert_msg(err < 1e-4, "float vs double after an epoch: %g", err);
    ck_assert_msg(moved > 1e-2, "the weights did not move (%g)", moved);
    for (int q = 0; q < 2; q++) {
        free(W[q]);
        remove(out[q]);
    }
}
END_TEST

/* With all three switches off and batch 1, the fast rule's update is the
 * exact dynamics' dW/dt at the steady state of h: against quasi_static over a
 * presentation short next to tau_L, where w_inh < 1 makes the ranking and
 * the steady state agree. The update's direction matches (cosine > 0.99). */
START_TEST(test_fast_matches_quasi_static)
{
    const char *ini =
        "[network]\nhidden = 12\ninputs = 10\np = 3\nw_inh = 0.3\ntau = 1\ntau_L = 1000\n"
        "[learning]\ng = bcm_step\nh_star = 0.05\ndelta = 0.4\nbatch = 1\nfast_rank = false\n"
        "fast_code = false\nfast_maxnorm = false\neps0 = 1\n"
        "[input]\nsource = uniform\nsamples = 1\npresentation_time = 0.5\nseed = 5\n"
        "[init]\nweights = uniform\nscale = 0.6\nseed = 9\n"
        "[solver]\nmethod = quasi_static\nrtol = 1e-10\natol = 1e-13\n"
        "[output]\nsnapshot_every = 0.5\n";
    kh_config *c = kh_test_config(ini);
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_sim_result res;
    ck_assert_msg(kh_sim_run(c, NULL, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    int rank;
    long d[3], dv[3];
    double *W = kh_test_read(out, "/snapshots/W", &rank, d);
    double *v = kh_test_read(out, "/input/v", &rank, dv);
    const long mn = 12 * 10;
    double dW[120];
    long idx = 0;
    kh_fast *f = kh_fast_alloc(&c->p, v, 1, W, 1);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(kh_fast_delta(f, &idx, 1, dW), KH_OK);
    double dot = 0.0, a = 0.0, b = 0.0;
    for (long j = 0; j < mn; j++) {
        double e = W[(d[0] - 1) * mn + j] - W[j];
        dot += e * dW[j];
        a += e * e;
        b += dW[j] * dW[j];
    }
    ck_assert_msg(a > 0 && b > 0, "no update (%g, %g)", a, b);
    double cosine = dot / sqrt(a * b);
    ck_assert_msg(cosine > 0.99, "cosine(fast, quasi_static) = %g", cosine);
    /* And the plain step's size: eps T / tau_L Delta W is the Euler step. */
    ck_assert_msg(fabs(sqrt(a) - 0.5 / 1000 * sqrt(b)) < 0.05 * sqrt(a), "step %g vs %g", sqrt(a),
                  0.5 / 1000 * sqrt(b));
    kh_fast_free(f);
    free(W);
    free(v);
    remove(out);
    kh_config_free(c);
}
END_TEST

/* khsim's float64 weights equal the numpy version's (bench/fast_numpy.py,
 * written like Krotov's notebook) to 1e-10 after an epoch, from the same W
 * and sample order (both read from the file). */
START_TEST(test_fast_numpy_notebook)
{
    const char *ini = "[network]\nhidden = 30\np = 4\n[learning]\nepochs = 2\nbatch = 16\n"
                      "eps0 = 0.05\n[input]\nsamples = 200\n[solver]\nmethod = fast\n";
    char study[512], out[600], err[8192], cmd[2048];
    kh_test_write_file(study, sizeof study, ".ini", ini);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    const char *py = getenv("PYTHON");
    snprintf(cmd, sizeof cmd, "%s bench/fast_numpy.py replay %s --epochs 1 --compare --tol 1e-10",
             py && *py ? py : "/usr/bin/python3", out);
    ck_assert_msg(system(cmd) == 0, "numpy's fast rule differs from khsim's (see above)");
    remove(out);
    remove(study);
}
END_TEST

/* The record: /epochs per epoch, /fast/order a permutation per epoch, a
 * snapshot per epoch, the sphere deviation falling as W learns. */
START_TEST(test_fast_record)
{
    const char *ini = "[network]\nhidden = 20\np = 3\n[learning]\nepochs = 4\nbatch = 50\n"
                      "eps0 = 0.1\n[input]\nsamples = 300\n[solver]\nmethod = fast\n"
                      "[init]\nscale = 0.1\n";
    kh_config *c = kh_test_config(ini);
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_sim_result res;
    ck_assert_msg(kh_sim_run(c, NULL, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    int rank;
    long d[3];
    double *eps = kh_test_read(out, "/epochs/eps", &rank, d);
    ck_assert_int_eq(d[0], 4);
    ck_assert_double_eq_tol(eps[0], 0.1, 1e-15);
    ck_assert_double_eq_tol(eps[3], 0.025, 1e-15);
    double *dev = kh_test_read(out, "/epochs/sphere_dev_mean", &rank, d);
    ck_assert_msg(dev[3] < dev[0], "|B - R^p| did not fall: %g -> %g", dev[0], dev[3]);
    double *won = kh_test_read(out, "/epochs/won_fraction", &rank, d);
    ck_assert(won[0] > 0.0 && won[0] <= 1.0);
    double *W = kh_test_read(out, "/snapshots/W", &rank, d);
    ck_assert_int_eq(d[0], 5);
    double *order = kh_test_read(out, "/fast/order", &rank, d);
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(d[0], 4);
    ck_assert_int_eq(d[1], 300);
    for (long e = 0; e < 4; e++) {
        char seen[300] = {0};
        for (long j = 0; j < 300; j++) {
            long s = (long)order[e * 300 + j];
            ck_assert(s >= 0 && s < 300 && !seen[s]);
            seen[s] = 1;
        }
    }
    double *t = kh_test_read(out, "/trajectory/t", &rank, d);
    ck_assert_int_eq(d[0], 4);
    ck_assert_double_eq_tol(t[3], 4 * 300 * 10.0, 1e-9);
    free(eps);
    free(dev);
    free(won);
    free(W);
    free(order);
    free(t);
    kh_test_record_described(out);
    remove(out);
    kh_config_free(c);
}
END_TEST

/* Bad input: k beyond the units, a sample index outside the data, a model
 * the fast rule does not approximate. */
START_TEST(test_fast_errors)
{
    kh_config *c = kh_test_config("[network]\nhidden = 4\ninputs = 3\n[solver]\nmethod = fast\n"
                                  "[input]\nsource = uniform\n");
    double X[6] = {1, 2, 3, 4, 5, 6}, W[12] = {0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2};
    c->p.k = 5;
    ck_assert_ptr_null(kh_fast_alloc(&c->p, X, 2, W, 1));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "learning.k"));
    c->p.k = 2;
    kh_fast *f = kh_fast_alloc(&c->p, X, 2, W, 1);
    ck_assert_ptr_nonnull(f);
    long bad = 2;
    ck_assert_int_eq(kh_fast_step(f, &bad, 1, 0.1), KH_EINVAL);
    long two[2] = {0, 1};
    ck_assert_int_eq(kh_fast_step(f, two, 2, 0.1), KH_EINVAL);
    kh_fast_free(f);
    kh_config_free(c);
    c = kh_test_config("[network]\nmodel = oja\nhidden = 4\ninputs = 3\n[solver]\nmethod = fast\n"
                       "[input]\nsource = uniform\n");
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_sim_result res;
    ck_assert_int_eq(kh_sim_run(c, NULL, NULL, NULL, NULL, &res), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "krotov_hopfield"));
    ck_assert_int_eq(kh_compare_run(c, NULL, NULL, NULL, NULL, stdout), KH_EINVAL);
    kh_config_free(c);
    /* compare needs the exact method in solver.method. */
    c = kh_test_config("[network]\nhidden = 4\ninputs = 3\n[solver]\nmethod = fast\n"
                       "[input]\nsource = uniform\n");
    ck_assert_int_eq(kh_compare_run(c, NULL, NULL, NULL, NULL, stdout), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "not fast"));
    remove(out);
    kh_config_free(c);
}
END_TEST

/* khsim compare on constructed cases. With w_inh < 1, h relaxed within each
 * presentation (T = 30 tau) and W nearly still (tau_L = 1e6), the exact
 * winner is the unit of largest current: 100 % winner agreement. With
 * w_inh = 2 and h kept between samples (no reset), the previous winner
 * holds on while its current exceeds half the largest: agreement < 100 %. */
static double compare_agreement(const char *ini, double *g_agree)
{
    kh_config *c = kh_test_config(ini);
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    FILE *report = tmpfile();
    ck_assert_ptr_nonnull(report);
    int st = kh_compare_run(c, NULL, NULL, NULL, NULL, report);
    ck_assert_msg(st == KH_OK, "compare: %s", kh_errmsg());
    rewind(report);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, report);
    text[n] = '\0';
    fclose(report);
    ck_assert_ptr_nonnull(strstr(text, "winner agrees"));
    double win;
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/comparison", "winner_agreement", &win), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/comparison", "g_agreement_mean", g_agree),
                     KH_OK);
    int rank;
    long d[3];
    double *cosine = kh_test_read(out, "/comparison/unit_cosine_batch", &rank, d);
    ck_assert_int_eq(d[0], c->p.n_hidden);
    free(cosine);
    kh_test_record_described(out);
    remove(out);
    kh_config_free(c);
    return win;
}

START_TEST(test_compare_agreement)
{
    const char *base = "[network]\nhidden = 8\np = 3\nw_inh = %g\ntau = 1\n"
                       "tau_L = 1e6\n[learning]\ng = bcm_step\nh_star = 0.01\nbatch = 4\n"
                       "[input]\nsamples = 40\npresentation_time = 30\n"
                       "reset_h = %s\n[init]\nweights = normal\nscale = 0.1\nseed = 2\n"
                       "[solver]\nrtol = 1e-8\n[output]\nrecord_every = 5\n";
    char ini[1024];
    double g_must, g_not;
    snprintf(ini, sizeof ini, base, 0.5, "true");
    double must = compare_agreement(ini, &g_must);
    ck_assert_msg(must == 1.0, "w_inh < 1, relaxed: winner agreement %g, expected 1", must);
    snprintf(ini, sizeof ini, base, 2.0, "false");
    double not = compare_agreement(ini, &g_not);
    ck_assert_msg(not < 0.9, "w_inh = 2 without reset: winner agreement %g, expected < 0.9", not );
    ck_assert(g_must > 0.0 && g_must <= 1.0 && g_not <= 1.0);
}
END_TEST

Suite *kh_fast_suite(void)
{
    Suite *s = suite_create("fast");
    TCase *tc = tcase_create("fast");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fast_direct_loop, 0, 4);
    tcase_add_test(tc, test_fast_float_double);
    tcase_add_test(tc, test_fast_matches_quasi_static);
    tcase_add_test(tc, test_fast_numpy_notebook);
    tcase_add_test(tc, test_fast_record);
    tcase_add_test(tc, test_fast_errors);
    tcase_add_test(tc, test_compare_agreement);
    suite_add_tcase(s, tc);
    return s;
}
