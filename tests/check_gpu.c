/* The GPU's arithmetic, tested on the CPU through the shared header
 * (core/kh_kernels.h): the functions the kernels call against the model code,
 * their float forms against the double ones, the batched Euler ensemble
 * (the CPU twin of the CUDA kernel) against GSL's rk8pd and against separate
 * runs, and what a run without a GPU says. gpu/check.sh compares the
 * kernels themselves with the CPU on a machine with a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_rng.h"
#include "gpu/kh_gpu.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "models/kh_model.h"
#include "run/kh_sim.h"
#include "solvers/kh_euler.h"
#include "solvers/kh_solver.h"

/* kh_unit_coefficients (what the kernels call) gives the a and b of the
 * krotov_hopfield model's own coefficients, bit for bit, for every g and
 * drive. */
START_TEST(test_shared_coefficients)
{
    const char *g[] = {"bcm_step", "linear", "power"};
    const char *drive[] = {"h", "Q"};
    char ini[512];
    snprintf(ini, sizeof ini,
             "[network]\nhidden = 9\ninputs = 3\np = 3.5\nR = 1.3\n[learning]\ng = %s\n"
             "drive = %s\nn = 2.5\nh_star = 0.3\ndelta = 0.4\n[input]\nsource = uniform\n",
             g[_i / 2], drive[_i % 2]);
    kh_config *c = kh_test_config(ini);
    const kh_model_type *m = kh_model_find("krotov_hopfield");
    kh_model_ws *ws = m->alloc(&c->p);
    ck_assert_ptr_nonnull(ws);
    kh_rng r;
    kh_rng_seed(&r, 2385, (uint64_t)_i);
    double h[9];
    for (int mu = 0; mu < 9; mu++) {
        h[mu] = kh_rng_normal(&r);
        ws->I[mu] = kh_rng_normal(&r);
        ws->B[mu] = 0.1 + kh_rng_uniform(&r);
    }
    m->coefficients(h, NULL, NULL, 0, ws);
    const double Rp = pow(1.3, 3.5);
    for (int mu = 0; mu < 9; mu++) {
        double a, b;
        kh_unit_coefficients(h[mu], ws->I[mu], ws->B[mu], _i % 2, (int)c->p.g, 3.5, Rp, 0.4, 0.3,
                             2.5, &a, &b);
        ck_assert_msg(a == ws->a[mu] && b == ws->b[mu], "unit %d: (%g, %g) vs the model (%g, %g)",
                      mu, a, b, ws->a[mu], ws->b[mu]);
    }
    m->free(ws);
    kh_config_free(c);
}
END_TEST

/* |x|^e without pow (integer and half-integer e, the codes of
 * kh_int_exponent) equals pow to a few ulps, in double and float. */
START_TEST(test_abspow_forms)
{
    ck_assert_int_eq(kh_int_exponent(3.0), 3);
    ck_assert_int_eq(kh_int_exponent(2.5), KH_HALF_EXPONENT + 2);
    ck_assert_int_eq(kh_int_exponent(0.5), KH_HALF_EXPONENT);
    ck_assert_int_eq(kh_int_exponent(2.7), -1);
    ck_assert_int_eq(kh_int_exponent(5.5), -1);
    kh_rng r;
    kh_rng_seed(&r, 8, 8);
    for (int k = 0; k <= 9; k++) {
        const double e = 0.5 * k;
        const int ie = kh_int_exponent(e);
        ck_assert_int_ne(ie, -1);
        for (int j = 0; j < 200; j++) {
            const double x = 4.0 * kh_rng_normal(&r), ref = pow(fabs(x), e);
            ck_assert_msg(fabs(kh_abspow(x, e, ie) - ref) <= 4e-16 * ref, "|%g|^%g: %.17g vs %.17g",
                          x, e, kh_abspow(x, e, ie), ref);
            const float rf = powf(fabsf((float)x), (float)e);
            ck_assert_msg(fabsf(kh_abspow_f((float)x, (float)e, ie) - rf) <= 3e-7f * rf,
                          "float |%g|^%g", x, e);
        }
    }
}
END_TEST

/* The float forms agree with the double ones to float rounding. */
START_TEST(test_float_forms)
{
    kh_rng r;
    kh_rng_seed(&r, 7, 7);
    for (int k = 0; k < 1000; k++) {
        double x = 3.0 * kh_rng_normal(&r), y = kh_rng_uniform(&r) + 0.1;
        double e = 2.0 + 3.0 * kh_rng_uniform(&r);
        int ie = kh_int_exponent(e);
        float xf = (float)x, yf = (float)y, ef = (float)e;
        ck_assert_double_eq_tol(kh_signed_pow_f(xf, ef, ie), kh_signed_pow(x, e, ie),
                                1e-5 * (1.0 + fabs(kh_signed_pow(x, e, ie))));
        for (int g = 0; g < 3; g++) {
            ck_assert_double_eq_tol(kh_g_f(g, xf, 0.4f, 0.3f, 2.0f), kh_g(g, x, 0.4, 0.3, 2.0),
                                    1e-5 * (1.0 + fabs(kh_g(g, x, 0.4, 0.3, 2.0))));
            ck_assert_double_eq_tol(kh_G_f(g, xf, 0.4f, 0.3f, 2.0f), kh_G(g, x, 0.4, 0.3, 2.0),
                                    1e-5 * (1.0 + fabs(kh_G(g, x, 0.4, 0.3, 2.0))));
        }
        ck_assert_double_eq_tol(kh_q_f(xf, yf, ef), kh_q(x, y, e),
                                1e-5 * (1.0 + fabs(kh_q(x, y, e))));
        ck_assert_double_eq_tol(kh_euler_w_f(xf, yf, 0.3f, -0.7f, 0.01f, 0.1f),
                                kh_euler_w(x, y, 0.3, -0.7, 0.01, 0.1), 1e-5 * (1.0 + fabs(x)));
        ck_assert_double_eq_tol(kh_relax_step_f(xf, yf, 1.5f, 0.5f, 0.1f),
                                kh_relax_step(x, y, 1.5, 0.5, 0.1), 1e-5 * (1.0 + fabs(x)));
    }
}
END_TEST

/* The same smooth problem as the solvers suite, as a batched ensemble of
 * two identical trajectories: first-order convergence to rk8pd (the error
 * halves with dt), in double and in float at the largest step. */
START_TEST(test_ensemble_first_order)
{
    const char *ini = "[network]\nhidden = 3\ninputs = 4\np = 3\nw_inh = 0\ntau = 1\ntau_L = 2\n"
                      "[learning]\ng = linear\ndrive = Q\n[input]\nsource = uniform\n";
    kh_config *c = kh_test_config(ini);
    const kh_model_type *m = kh_model_find("krotov_hopfield");
    void *ws = m->alloc(&c->p);
    const size_t dim = m->dim(&c->p);
    double y0[15], v[4], ref[15];
    kh_rng r;
    kh_rng_seed(&r, 2385, 5);
    memset(y0, 0, sizeof y0);
    for (size_t i = 3; i < dim; i++) {
        y0[i] = 0.4 + 0.6 * kh_rng_uniform(&r);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = 0.1 + kh_rng_uniform(&r);
    }
    kh_model_set_input(ws, v);
    c->p.rtol = 1e-13;
    c->p.atol = 1e-15;
    kh_solver *s = kh_solver_alloc("rk8pd", m, ws, dim, &c->p, NULL);
    ck_assert_ptr_nonnull(s);
    memcpy(ref, y0, sizeof ref);
    double t = 0.0;
    ck_assert_int_eq(kh_solver_apply(s, &t, 1.0, ref), KH_OK);
    kh_solver_free(s);
    kh_ens_params prm[2];
    for (int b = 0; b < 2; b++) {
        prm[b] = (kh_ens_params){3.0, 1.0, 0.0, 1.0, 2.0, 0.4, 0.8, 1.0, KH_K_LINEAR, 1};
    }
    double h[6] = {0}, W[24], vv[8], hout[6], Wout[24], err[4];
    for (int b = 0; b < 2; b++) {
        memcpy(W + 12 * b, y0 + 3, 12 * sizeof(double));
        memcpy(vv + 4 * b, v, 4 * sizeof(double));
    }
    for (int k = 0; k < 4; k++) {
        int prec = k == 3 ? KH_PREC_FLOAT : KH_PREC_DOUBLE;
        double dt = 1e-3 / (1 << (k == 3 ? 0 : k));
        kh_ens *e = kh_ens_alloc(2, 3, 4, prec, prm);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(kh_ens_set_input(e, vv), KH_OK);
        ck_assert_int_eq(kh_ens_set_state(e, h, W), KH_OK);
        ck_assert_int_eq(kh_ens_advance(e, (long)lround(1.0 / dt), dt), KH_OK);
        ck_assert_int_eq(kh_ens_get(e, hout, Wout, NULL, NULL), KH_OK);
        err[k] = 0.0;
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 3; i++) {
                err[k] = fmax(err[k], fabs(hout[3 * b + i] - ref[i]));
            }
            for (int i = 0; i < 12; i++) {
                err[k] = fmax(err[k], fabs(Wout[12 * b + i] - ref[3 + i]));
            }
        }
        kh_ens_free(e);
    }
    ck_assert_double_eq_tol(err[0] / err[1], 2.0, 0.05);
    ck_assert_double_eq_tol(err[1] / err[2], 2.0, 0.05);
    /* float: the same first-order error, plus rounding far below it. */
    ck_assert_double_eq_tol(err[3], err[0], 1e-3 * err[0] + 1e-5);
    m->free(ws);
    kh_config_free(c);
}
END_TEST

/* The CPU batch path gives each trajectory what a separate run gives. */
START_TEST(test_ensemble_matches_separate_runs)
{
    const char *ini = "[network]\nhidden = 6\ninputs = 10\np = 3\nw_inh = 0.4\ntau_L = 5\n"
                      "[learning]\ng = bcm_step\nh_star = 0.2\n[input]\nsource = uniform\n"
                      "samples = 3\npresentation_time = 2\nreset_h = true\n[init]\n"
                      "weights = uniform\nscale = 0.5\nseed = 4\n[solver]\nmethod = euler\n"
                      "dt = 0.01\nbatch = 3\n[output]\nrecord_every = 0.5\nsnapshot_every = 3\n";
    kh_config *c = kh_test_config(ini);
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_sim_result res;
    ck_assert_msg(kh_sim_run(c, NULL, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    int rank;
    long dW[3], dH[3];
    double *Wf = kh_test_read(out, "/ensemble/W_final", &rank, dW);
    double *H = kh_test_read(out, "/ensemble/h", &rank, dH);
    ck_assert_int_eq(dW[0], 3);
    ck_assert_int_eq(dH[1], 3);
    for (int b = 0; b < 3; b++) {
        kh_config *c1 = kh_test_config(ini);
        c1->p.ensemble = 1;
        c1->p.init_seed = 4 + b;
        char o1[512];
        kh_test_tmpname(o1, sizeof o1, ".h5");
        snprintf(c1->p.out_path, sizeof c1->p.out_path, "%s", o1);
        ck_assert_int_eq(kh_sim_run(c1, NULL, NULL, NULL, NULL, &res), KH_OK);
        long d1[3], d2[3];
        double *W1 = kh_test_read(o1, "/snapshots/W", &rank, d1);
        double *h1 = kh_test_read(o1, "/trajectory/h", &rank, d2);
        ck_assert_int_eq(d2[0], dH[0]);
        const long mn = 60;
        double err = 0.0, scale = 0.0;
        for (long i = 0; i < mn; i++) {
            err = fmax(err, fabs(Wf[b * mn + i] - W1[(d1[0] - 1) * mn + i]));
            scale = fmax(scale, fabs(W1[(d1[0] - 1) * mn + i]));
        }
        for (long t = 0; t < d2[0]; t++) {
            for (long mu = 0; mu < 6; mu++) {
                err = fmax(err, fabs(H[(t * 3 + b) * 6 + mu] - h1[t * 6 + mu]));
            }
        }
        ck_assert_msg(err <= 1e-12 * fmax(scale, 1.0), "trajectory %d differs by %g", b, err);
        free(W1);
        free(h1);
        remove(o1);
        kh_config_free(c1);
    }
    free(Wf);
    free(H);
    kh_test_record_described(out);
    remove(out);
    kh_config_free(c);
}
END_TEST

/* Without a GPU (this build, or this machine): device = cuda is a clear
 * error (exit 2), device = auto runs on the CPU and the file says why. */
START_TEST(test_no_gpu)
{
    char name[128];
    double mem;
    int ma, mi;
    if (kh_gpu_probe(name, sizeof name, &mem, &ma, &mi) == KH_OK) {
        printf("check_gpu: a GPU is present (%s): the no-GPU paths are not exercised here\n", name);
        return;
    }
    const char *ini = "[network]\nhidden = 4\ninputs = 5\n[input]\nsource = uniform\n"
                      "[solver]\nmethod = euler\ndt = 0.01\ndevice = %s\n[output]\n"
                      "record_every = 1\n";
    char text[512], study[512], out[600], err[8192];
    snprintf(text, sizeof text, ini, "cuda");
    kh_test_write_file(study, sizeof study, ".ini", text);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 2);
    ck_assert_ptr_nonnull(strstr(err, "solver.device = cuda"));
    remove(study);
    snprintf(text, sizeof text, ini, "auto");
    kh_test_write_file(study, sizeof study, ".ini", text);
    snprintf(out, sizeof out, "%s.h5", study);
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    ck_assert_ptr_nonnull(strstr(err, "ran on the cpu"));
    char dev[512];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/solver", "device", dev, sizeof dev), KH_OK);
    ck_assert_ptr_nonnull(strstr(dev, "cpu (device = auto"));
    remove(out);
    remove(study);
}
END_TEST

Suite *kh_gpu_suite(void)
{
    Suite *s = suite_create("gpu");
    TCase *tc = tcase_create("shared");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_shared_coefficients, 0, 6);
    tcase_add_test(tc, test_abspow_forms);
    tcase_add_test(tc, test_float_forms);
    tcase_add_test(tc, test_ensemble_first_order);
    tcase_add_test(tc, test_ensemble_matches_separate_runs);
    tcase_add_test(tc, test_no_gpu);
    suite_add_tcase(s, tc);
    return s;
}
