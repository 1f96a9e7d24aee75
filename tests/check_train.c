/* khsim train: the readout's gradient, Adam, a small run on the shipped
 * digits against a random frozen W, and resume after an interruption. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/kh_backprop.h"
#include "cmd/kh_readout.h"
#include "cmd/kh_train.h"
#include "core/kh_error.h"
#include "core/kh_lr.h"
#include "core/kh_rng.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "run/kh_sim.h"

/* OpenBLAS's cblas.h: openblas_get/set_num_threads. */
#include <cblas.h>

/* dL/dS from kh_readout_loss against central differences of the loss. */
START_TEST(test_readout_gradient)
{
    const long C = 10, M = 7, B = 5;
    double S[70], G[70], H[35];
    long lab[5] = {3, 0, 9, 3, 7};
    kh_readout_work w;
    ck_assert_int_eq(kh_readout_work_alloc(&w, C, M, B, 0), 0);
    const kh_hrows Hr = {H, 0};
    kh_rng r;
    kh_rng_seed(&r, 2385, 1);
    for (int i = 0; i < C * M; i++) {
        S[i] = 0.3 * kh_rng_normal(&r);
    }
    for (int i = 0; i < B * M; i++) {
        H[i] = pow(kh_rng_uniform(&r), 2.0) * 3.0;
    }
    const double beta = 0.7, m = 6.0 + (_i ? 4.0 : 0.0);
    kh_readout_loss(S, C, M, beta, m, Hr, lab, B, G, &w);
    double worst = 0.0;
    for (int i = 0; i < C * M; i++) {
        const double h = 1e-6, s0 = S[i];
        S[i] = s0 + h;
        double lp = kh_readout_loss(S, C, M, beta, m, Hr, lab, B, NULL, &w);
        S[i] = s0 - h;
        double lm = kh_readout_loss(S, C, M, beta, m, Hr, lab, B, NULL, &w);
        S[i] = s0;
        double fd = (lp - lm) / (2.0 * h);
        worst = fmax(worst, fabs(fd - G[i]) / (1e-3 + fabs(fd)));
    }
    ck_assert_msg(worst < 1e-6, "gradient vs central differences: relative error %g", worst);
    kh_readout_work_free(&w);
}
END_TEST

/* The float readout (solver.precision = float: H and the products in float)
 * against the double one on the same H: the loss and the gradient within
 * float rounding, the same errors. */
START_TEST(test_readout_float_matches_double)
{
    const long C = 10, M = 300, B = 100, N = 700;
    double *S = malloc((size_t)(C * M) * sizeof(double));
    double *X = malloc((size_t)(N * M) * sizeof(double));
    float *Xf = malloc((size_t)(N * M) * sizeof(float));
    double Gd[3000], Gf[3000];
    long *lab = malloc((size_t)N * sizeof(long));
    ck_assert(S && X && Xf && lab);
    kh_rng r;
    kh_rng_seed(&r, 2385, 2);
    for (long i = 0; i < C * M; i++) {
        S[i] = 0.2 * kh_rng_normal(&r);
    }
    for (long i = 0; i < N * M; i++) {
        X[i] = pow(kh_rng_uniform(&r), 4.5);
    }
    for (long b = 0; b < N; b++) {
        lab[b] = (long)(10.0 * kh_rng_uniform(&r)) % 10;
    }
    const kh_hrows Hd = {X, 0}, Hf = {Xf, 1};
    kh_hrows_set(Hf, 0, X, N, M);
    ck_assert_double_eq_tol(Xf[N * M - 1], X[N * M - 1], 1e-7);
    kh_readout_work wd, wf;
    ck_assert_int_eq(kh_readout_work_alloc(&wd, C, M, B, 0), 0);
    ck_assert_int_eq(kh_readout_work_alloc(&wf, C, M, B, 1), 0);
    const double beta = 0.05;
    double ld = kh_readout_loss(S, C, M, beta, 6.0, Hd, lab, B, Gd, &wd);
    double lf = kh_readout_loss(S, C, M, beta, 6.0, Hf, lab, B, Gf, &wf);
    ck_assert_msg(fabs(lf - ld) < 1e-5 * ld, "loss float %.9g, double %.9g", lf, ld);
    double gmax = 0.0, diff = 0.0;
    for (long i = 0; i < C * M; i++) {
        gmax = fmax(gmax, fabs(Gd[i]));
        diff = fmax(diff, fabs(Gf[i] - Gd[i]));
    }
    ck_assert_msg(gmax > 0.0 && diff < 1e-5 * gmax, "gradient: float - double %g, max %g", diff,
                  gmax);
    long ed = kh_readout_errors(S, C, M, beta, Hd, lab, N, &wd);
    long ef = kh_readout_errors(S, C, M, beta, Hf, lab, N, &wf);
    ck_assert_int_eq(ed, ef);
    ck_assert(ed > 0 && ed < N);
    /* The per-digit beta's row operations in float. */
    double mx = kh_hrows_row_max(Hd, 3, M);
    ck_assert_double_eq_tol(kh_hrows_row_max(Hf, 3, M), mx, 1e-7 * mx);
    kh_hrows_scale_row(Hf, 3, M, 1.0 / mx);
    ck_assert_double_eq_tol(kh_hrows_row_max(Hf, 3, M), 1.0, 1e-7);
    kh_readout_work_free(&wd);
    kh_readout_work_free(&wf);
    free(S);
    free(X);
    free(Xf);
    free(lab);
}
END_TEST

/* Adam on f(x) = g . x (a constant gradient): its bias-corrected moments are
 * exactly g and g^2 at every step, so x_t = x_0 - t lr g / (|g| + eps). On
 * the quadratic f = sum a_i (x_i - c_i)^2 / 2 it converges to c. */
START_TEST(test_adam_closed_form)
{
    kh_lr_schedule paper;
    ck_assert_int_eq(kh_lr_schedule_parse("paper", &paper), KH_OK);
    double x[3] = {1.5, -2.0, 0.25}, g[3] = {0.3, -2.385, 1e-3}, m1[3] = {0}, m2[3] = {0};
    const double lr = 0.01, eps = 1e-8;
    for (long t = 1; t <= 50; t++) {
        kh_adam_step(x, g, m1, m2, 3, t, lr, 0.9, 0.999, eps);
    }
    const double x0[3] = {1.5, -2.0, 0.25};
    for (int i = 0; i < 3; i++) {
        double want = x0[i] - 50.0 * lr * g[i] / (fabs(g[i]) + eps);
        ck_assert_double_eq_tol(x[i], want, 1e-12);
    }
    double y[2] = {3.0, -1.0}, a[2] = {2.0, 0.5}, c[2] = {-0.7, 2.385}, gy[2];
    double n1[2] = {0}, n2[2] = {0};
    for (long t = 1; t <= 5000; t++) {
        for (int i = 0; i < 2; i++) {
            gy[i] = a[i] * (y[i] - c[i]);
        }
        kh_adam_step(y, gy, n1, n2, 2, t, kh_lr_at(&paper, 0.05, t - 1, 5000), 0.9, 0.999, eps);
    }
    ck_assert_double_eq_tol(y[0], c[0], 1e-4);
    ck_assert_double_eq_tol(y[1], c[1], 1e-4);
    /* The paper's schedule at E = 300. */
    ck_assert_double_eq_tol(kh_lr_at(&paper, 1e-3, 99, 300), 1e-3, 1e-18);
    ck_assert_double_eq_tol(kh_lr_at(&paper, 1e-3, 100, 300), 5e-4, 1e-18);
    ck_assert_double_eq_tol(kh_lr_at(&paper, 1e-3, 150, 300), 1e-4, 1e-18);
    ck_assert_double_eq_tol(kh_lr_at(&paper, 1e-3, 249, 300), 5e-5, 1e-18);
    ck_assert_double_eq_tol(kh_lr_at(&paper, 1e-3, 299, 300), 1e-5, 1e-18);
}
END_TEST

/* train.lr_schedule: constant is lr at every epoch; pieces give their
 * absolute rates from their first epoch on (the paper's CIFAR-10 baseline:
 * 0.004 for 50 epochs, then 0.001); bad texts are refused with the reason. */
START_TEST(test_lr_schedule_closed_form)
{
    kh_lr_schedule s;
    ck_assert_int_eq(kh_lr_schedule_parse("constant", &s), KH_OK);
    for (long e = 0; e < 300; e += 37) {
        ck_assert_double_eq_tol(kh_lr_at(&s, 2.385e-4, e, 300), 2.385e-4, 1e-20);
    }
    ck_assert_int_eq(kh_lr_schedule_parse(" 0:0.004, 50:0.001", &s), KH_OK);
    ck_assert_int_eq(s.n, 2);
    for (long e = 0; e < 100; e++) {
        ck_assert_double_eq_tol(kh_lr_at(&s, 1.0, e, 100), e < 50 ? 0.004 : 0.001, 1e-20);
    }
    ck_assert_int_eq(kh_lr_schedule_parse("0:1e-3,10:5e-4,20:1e-4", &s), KH_OK);
    ck_assert_double_eq_tol(kh_lr_at(&s, 1.0, 9, 30), 1e-3, 1e-20);
    ck_assert_double_eq_tol(kh_lr_at(&s, 1.0, 10, 30), 5e-4, 1e-20);
    ck_assert_double_eq_tol(kh_lr_at(&s, 1.0, 29, 30), 1e-4, 1e-20);
    const char *bad[] = {"5:0.1",        "0:0.1,0:0.2", "0:0.1,20:0.2,10:0.3", "0:-1",
                         "0:0.1,",       "fast",        "0:0.1 50:0.2",        "0:nan",
                         "0:0.1;50:0.2", ":0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(kh_lr_schedule_parse(bad[i], &s) == KH_EINVAL, "%s accepted", bad[i]);
        ck_assert_msg(strstr(kh_errmsg(), "train.lr_schedule") != NULL, "%s", kh_errmsg());
    }
    /* A study file with a bad schedule is refused when it is read. */
    kh_config *c = kh_config_alloc();
    ck_assert_int_eq(kh_config_parse_string(c, "[train]\nlr_schedule = 0:0.1, 0:0.2\n", "t.ini"),
                     KH_OK);
    ck_assert_int_eq(kh_config_validate(c), KH_EINVAL);
    ck_assert_msg(strstr(kh_errmsg(), "each next one later") != NULL, "%s", kh_errmsg());
    kh_config_free(c);
}
END_TEST

/* Backpropagation's gradients (train.beta fixed, so that beta is a
 * constant of the loss) against central differences of the loss, for the
 * ReLU (n = 1) and the paper's power 4.5, loss powers 4 and 6. */
START_TEST(test_backprop_gradient)
{
    const long m = 5, n = 7, nb = 4;
    char ini[256];
    snprintf(ini, sizeof ini, "[train]\nbeta = 0.3\npower = %s\nloss_power = %s\n",
             _i ? "4.5" : "1", _i ? "6" : "4");
    kh_config *c = kh_test_config(ini);
    kh_backprop bp;
    ck_assert_int_eq(kh_backprop_alloc(&bp, m, n, nb), KH_OK);
    kh_rng r;
    kh_rng_seed(&r, 2385, 0);
    double V[4 * 7];
    long labels[4] = {3, 0, 7, 3};
    for (long i = 0; i < nb * n; i++) {
        V[i] = kh_rng_uniform(&r);
    }
    for (long i = 0; i < m * n; i++) {
        bp.W[i] = 0.6 * kh_rng_normal(&r);
    }
    for (long i = 0; i < 10 * m; i++) {
        bp.S[i] = 0.4 * kh_rng_normal(&r);
    }
    kh_backprop_grad(&bp, &c->p, V, labels, nb);
    double dW[5 * 7], dS[10 * 5];
    memcpy(dW, bp.dW, sizeof dW);
    memcpy(dS, bp.dS, sizeof dS);
    double *par[2] = {bp.W, bp.S}, *grad[2] = {dW, dS};
    const long len[2] = {m * n, 10 * m};
    for (int k = 0; k < 2; k++) {
        for (long i = 0; i < len[k]; i++) {
            const double x = par[k][i], h = 1e-6 * fmax(1.0, fabs(x));
            par[k][i] = x + h;
            const double up = kh_backprop_grad(&bp, &c->p, V, labels, nb);
            par[k][i] = x - h;
            const double down = kh_backprop_grad(&bp, &c->p, V, labels, nb);
            par[k][i] = x;
            const double fd = (up - down) / (2.0 * h);
            ck_assert_msg(fabs(fd - grad[k][i]) <= 1e-5 * fmax(1.0, fabs(fd)),
                          "%s[%ld]: backprop %.10g, central difference %.10g", k ? "S" : "W", i,
                          grad[k][i], fd);
        }
    }
    kh_backprop_free(&bp);
    kh_config_free(c);
}
END_TEST

/* train.features = backprop on the shipped digits (m = 30, 200 to train,
 * 100 to test): W trained end to end beats a random frozen W on the sphere
 * with the same readout, the record holds every epoch and its W is not
 * W(0); --resume is refused. */
START_TEST(test_backprop_beats_random)
{
    const char *ini = "[network]\nhidden = 30\np = 3\n[learning]\nepochs = 1\nbatch = 50\n"
                      "[input]\nsamples = 200\n[solver]\nmethod = fast\n[train]\nepochs = 30\n"
                      "batch = 20\ntest_samples = 100\nloss_power = 4\npower = 1\nlr = 0.004\n"
                      "lr_schedule = constant\nfeatures = %s\n";
    double err[2];
    const char *feat[2] = {"backprop", "random"};
    for (int k = 0; k < 2; k++) {
        char text[512], out[512];
        snprintf(text, sizeof text, ini, feat[k]);
        kh_config *c = kh_test_config(text);
        kh_test_tmpname(out, sizeof out, ".h5");
        snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
        kh_train_result res;
        ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
        err[k] = res.test_error;
        int rank;
        long d[3];
        double *te = kh_test_read(out, "/train/test_error", &rank, d);
        ck_assert_int_eq(d[0], 30);
        ck_assert_double_eq_tol(te[29], res.test_error, 1e-15);
        free(te);
        if (k == 0) {
            char f[32];
            ck_assert_int_eq(kh_h5_read_attr_string(out, "/train", "features", f, sizeof f), KH_OK);
            ck_assert_str_eq(f, "backprop");
            double *W = kh_test_read(out, "/train/W", &rank, d);
            double *W0 = malloc((size_t)(d[0] * d[1]) * sizeof(double));
            ck_assert_int_eq(kh_sim_init_weights(&c->p, W0), KH_OK);
            double moved = 0.0;
            for (long i = 0; i < d[0] * d[1]; i++) {
                moved = fmax(moved, fabs(W[i] - W0[i]));
            }
            ck_assert_msg(moved > 1e-2, "W moved by %g", moved);
            free(W);
            free(W0);
            kh_train_result again;
            ck_assert_int_eq(kh_train_run(c, NULL, 1, NULL, NULL, NULL, &again), KH_ENOTSUP);
        }
        remove(out);
        kh_config_free(c);
    }
    ck_assert_msg(err[0] < err[1] - 0.05, "test error: backprop %.3f, random W %.3f", err[0],
                  err[1]);
}
END_TEST

static const char *small = "[network]\nhidden = 100\np = 4\n[learning]\nepochs = 150\n"
                           "batch = 100\neps0 = 0.04\n[input]\nsamples = 1000\n"
                           "[solver]\nmethod = fast\n[train]\nloss_power = 6\nepochs = 60\n"
                           "features = %s\n";

/* The gradient FGSM follows on khsim train's classifier, dL/dx with beta
 * held fixed, against central differences of the loss (n = 1 and 4.5); a
 * training with train.fgsm_eps records /fgsm, whose accuracy at the largest
 * eps is below the clean test accuracy. */
START_TEST(test_readout_fgsm)
{
    const long C = 10, M = 6, n = 8;
    kh_rng r;
    kh_rng_seed(&r, 2385, 0);
    double W[6 * 8], S[10 * 6], x[8], a[6], dh[6], g[8];
    for (long i = 0; i < M * n; i++) {
        W[i] = 0.7 * kh_rng_normal(&r);
    }
    for (long i = 0; i < C * M; i++) {
        S[i] = 0.3 * kh_rng_normal(&r);
    }
    for (long j = 0; j < n; j++) {
        x[j] = kh_rng_uniform(&r);
    }
    const double power = _i ? 4.5 : 1.0;
    kh_readout_input_gradient(W, S, C, M, n, power, 0.2, 0, 6.0, x, 3, a, dh, g);
    for (long j = 0; j < n; j++) {
        const double h = 1e-6, x0 = x[j];
        double gd[8];
        x[j] = x0 + h;
        const double up =
            kh_readout_input_gradient(W, S, C, M, n, power, 0.2, 0, 6.0, x, 3, a, dh, gd);
        x[j] = x0 - h;
        const double dn =
            kh_readout_input_gradient(W, S, C, M, n, power, 0.2, 0, 6.0, x, 3, a, dh, gd);
        x[j] = x0;
        const double fd = (up - dn) / (2.0 * h);
        ck_assert_msg(fabs(fd - g[j]) <= 1e-6 * fmax(1.0, fabs(fd)), "x[%ld]: %.10g against %.10g",
                      j, g[j], fd);
    }
    if (_i == 0) {
        return;
    }
    char ini[512], out[512];
    snprintf(ini, sizeof ini, small, "learned\nfgsm_eps = 0.1, 0.3");
    kh_config *c = kh_test_config(ini);
    c->p.epochs = 30; /* the fast rule's, and the readout's below: a quick training */
    c->p.tr_epochs = 20;
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_train_result res;
    ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    int rank;
    long d[3];
    double *acc = kh_test_read(out, "/fgsm/accuracy", &rank, d);
    ck_assert_int_eq(d[0], 2);
    ck_assert_msg(acc[1] < 1.0 - res.test_error - 0.05, "FGSM at 0.3: %g, clean %g", acc[1],
                  1.0 - res.test_error);
    free(acc);
    char cmd[4096];
    const char *py = getenv("PYTHON");
    py = py && *py ? py : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd,
             "%s plots/fgsm.py %s --out %s.figs > /dev/null && %s -c \"import matplotlib.image "
             "as I, glob; a = I.imread(glob.glob('%s.figs/*_fgsm.png')[0]); assert "
             "a[..., :3].std() > 0.01\" && rm -rf %s.figs",
             py, out, out, py, out, out);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    remove(out);
    kh_config_free(c);
}
END_TEST

/* The record is the model of eq. 1 whatever the automatic beta did to H:
 * the train and test errors recomputed from /train/W and /train/S alone,
 * with h = max(W v, 0)^n and the class argmax_alpha (S h)_alpha, equal the
 * recorded ones (per-digit beta divides each digit's h by its largest, which
 * leaves the argmax alone; a factor per unit would not). */
static void check_record_classifies(const char *out, const kh_params *p, long Ntr, long Nt)
{
    /* The held-out digits: the test file, or (train.measure = validation)
     * the training file's digits after the training set. */
    const int val = p->tr_measure == KH_MEASURE_VALIDATION;
    const char *img_name[2] = {"train-images-idx3-ubyte",
                               val ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"};
    const char *lab_name[2] = {"train-labels-idx1-ubyte",
                               val ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte"};
    const char *series[2] = {"/train/train_error", "/train/test_error"};
    const long count[2] = {Ntr, Nt}, first[2] = {p->first, val ? p->first + p->n_samples : 0};
    int rank;
    long dw[3], ds[3];
    double *W = kh_test_read(out, "/train/W", &rank, dw);
    double *S = kh_test_read(out, "/train/S", &rank, ds);
    ck_assert_int_eq(ds[1], dw[0]);
    for (int k = 0; k < 2; k++) {
        char img[KH_PATH_MAX + 64], lab[KH_PATH_MAX + 64];
        ck_assert_int_eq(kh_data_find(p->input_path, img_name[k], img, sizeof img), KH_OK);
        ck_assert_int_eq(kh_data_find(p->input_path, lab_name[k], lab, sizeof lab), KH_OK);
        kh_dataset d;
        memset(&d, 0, sizeof d);
        const long N = count[k];
        ck_assert_int_eq(kh_idx_read(img, first[k], N, &d), KH_OK);
        ck_assert_int_eq(kh_idx_read_labels(lab, first[k], N, &d.labels), KH_OK);
        ck_assert_int_eq(dw[1], d.n_features);
        long de[3];
        double *E = kh_test_read(out, series[k], &rank, de);
        /* In the precision the readout ran in (float rounds H and S h). */
        char prec[16];
        ck_assert_int_eq(kh_h5_read_attr_string(out, "/train", "precision", prec, sizeof prec),
                         KH_OK);
        const int single = strcmp(prec, "float") == 0;
        kh_hrows H = {malloc((size_t)(N * dw[0]) * (single ? sizeof(float) : sizeof(double))),
                      single};
        kh_readout_work w;
        ck_assert_ptr_nonnull(H.x);
        ck_assert_int_eq(kh_readout_work_alloc(&w, 10, dw[0], 50, single), 0);
        ck_assert_int_eq(kh_readout_features(W, dw[0], dw[1], d.x, N, p->tr_power, H), 0);
        long errors = kh_readout_errors(S, 10, dw[0], 1.0, H, d.labels, N, &w);
        ck_assert_msg(errors == lround(E[de[0] - 1] * (double)N),
                      "%s: %ld errors recomputed, %.0f recorded", series[k], errors,
                      E[de[0] - 1] * (double)N);
        free(H.x);
        kh_readout_work_free(&w);
        free(E);
        kh_dataset_release(&d);
    }
    free(W);
    free(S);
}

static double train_error(const char *features, double *train_err)
{
    char ini[512], out[512];
    snprintf(ini, sizeof ini, small, features);
    kh_config *c = kh_test_config(ini);
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_train_result res;
    ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    ck_assert_int_eq(res.epochs, 60);
    int rank;
    long d[3];
    double *te = kh_test_read(out, "/train/test_error", &rank, d);
    ck_assert_int_eq(d[0], 60);
    ck_assert_double_eq_tol(te[59], res.test_error, 1e-15);
    free(te);
    check_record_classifies(out, &c->p, 1000, 1000);
    *train_err = res.train_error;
    remove(out);
    kh_config_free(c);
    return res.test_error;
}

/* The shipped digits (1000 to train, 1000 to test), m = 100: the learned
 * features reach a test error that a random frozen W on the same sphere does
 * not. */
START_TEST(test_learned_beats_random)
{
    double tr_l, tr_r;
    double learned = train_error("learned", &tr_l);
    double random = train_error("random", &tr_r);
    ck_assert_msg(learned < random - 0.1, "test error learned %.3f vs random %.3f", learned,
                  random);
    ck_assert_msg(learned < 0.35, "test error of the learned features %.3f", learned);
}
END_TEST

/* Interrupted (SIGINT) in the unsupervised phase or in the readout, then
 * `khsim train --resume`: the same S and errors as an uninterrupted run. */
START_TEST(test_resume_equals_uninterrupted)
{
    const char *ini = "[network]\nhidden = 100\np = 4\n[learning]\nepochs = 120\nbatch = 100\n"
                      "[input]\nsamples = 1000\n[solver]\nmethod = fast\nthreads = 2\n"
                      "[train]\nloss_power = 6\nepochs = 300\n";
    char study[512], full[600], cut[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini", ini);
    snprintf(full, sizeof full, "%s.full.h5", study);
    snprintf(cut, sizeof cut, "%s.cut.h5", study);
    const char *a_full[] = {"train", study, "-o", full, "--quiet", NULL};
    ck_assert_int_eq(kh_test_khsim(a_full, err, sizeof err, 0), 0);
    /* Stops at points of the work, whatever the machine's load: halfway
     * through the unsupervised phase (its progress lines name minibatches),
     * then halfway through the readout. */
    const char *when[2] = {"0.5 minibatch", "0.5 readout"};
    int rank;
    long d1[3], d2[3];
    double *S1 = kh_test_read(full, "/train/S", &rank, d1);
    double *E1 = kh_test_read(full, "/train/test_error", &rank, d2);
    for (int k = 0; k < 2; k++) {
        const char *a_cut[] = {"train", study, "-o", cut, "--quiet", NULL};
        int code = kh_test_khsim_at(a_cut, err, sizeof err, SIGINT, when[k]);
        ck_assert_msg(code == 130, "the run was to be interrupted at %s (exit %d): %s", when[k],
                      code, err);
        /* The time of the phase the stop cut, as recorded before the resume:
         * the fast rule's /solver time (k = 0), /train's readout time (k = 1). */
        double before = 0.0, after;
        const char *obj[2] = {"/solver", "/train"}, *att[2] = {"wall_seconds", "seconds_readout"};
        const char *phase[2] = {"seconds_unsupervised", "seconds_readout"};
        ck_assert_int_eq(kh_h5_read_attr_double(cut, obj[k], att[k], &before), KH_OK);
        const char *a_res[] = {"train", "--resume", cut, "--quiet", NULL};
        ck_assert_msg(kh_test_khsim(a_res, err, sizeof err, 0) == 0, "resume: %s", err);
        ck_assert_int_eq(kh_h5_read_attr_double(cut, "/train", phase[k], &after), KH_OK);
        ck_assert_msg(after > before, "%s %g s after the resume, %g s before it", phase[k], after,
                      before);
        /* Both add up over the parts: the unsupervised phase holds the fast
         * rule's time in /solver. */
        double unsup_after, fast_wall;
        ck_assert_int_eq(
            kh_h5_read_attr_double(cut, "/train", "seconds_unsupervised", &unsup_after), KH_OK);
        ck_assert_int_eq(kh_h5_read_attr_double(cut, "/solver", "wall_seconds", &fast_wall), KH_OK);
        ck_assert_msg(unsup_after >= fast_wall, "seconds_unsupervised %g < the fast rule's %g s",
                      unsup_after, fast_wall);
        long e1[3], e2[3];
        double *S2 = kh_test_read(cut, "/train/S", &rank, e1);
        double *E2 = kh_test_read(cut, "/train/test_error", &rank, e2);
        ck_assert_int_eq(e2[0], d2[0]);
        double *sec = kh_test_read(cut, "/train/epoch_seconds", &rank, e1);
        ck_assert_int_eq(e1[0], d2[0]);
        free(sec);
        for (long i = 0; i < d1[0] * d1[1]; i++) {
            ck_assert_msg(S1[i] == S2[i], "S differs at %ld after a stop at %s", i, when[k]);
        }
        for (long i = 0; i < d2[0]; i++) {
            ck_assert(E1[i] == E2[i]);
        }
        char status[64];
        ck_assert_int_eq(kh_h5_read_attr_string(cut, "/", "status", status, sizeof status), KH_OK);
        ck_assert_str_eq(status, "complete");
        free(S2);
        free(E2);
        remove(cut);
    }
    free(S1);
    free(E1);
    remove(full);
    remove(study);
}
END_TEST

/* The readout's error counts run beside the next epoch's minibatches when
 * there are two BLAS threads or more: the record is the one the counts in
 * line give (one thread), bit for bit, in both precisions, with one and
 * with two counting threads (three BLAS threads: each thread's share).
 * Pixels as features: no GEMM before the readout, whose rounding could
 * depend on the thread count. */
START_TEST(test_readout_overlap_same_record)
{
    const char *ini = "[network]\nhidden = 40\np = 3\n[learning]\nepochs = 2\nbatch = 100\n"
                      "[input]\nsamples = 1000\n[solver]\nmethod = fast\nprecision = %s\n"
                      "[train]\nepochs = 12\nbatch = 100\nfeatures = pixels\n";
    const char *series[] = {"/train/S",    "/train/adam_m1",     "/train/adam_m2",
                            "/train/loss", "/train/train_error", "/train/test_error"};
    const int saved = openblas_get_num_threads();
    for (int prec = 0; prec < 2; prec++) {
        char text[512], out[3][512];
        snprintf(text, sizeof text, ini, prec ? "float" : "double");
        const int threads[3] = {1, 2, 3};
        for (int k = 0; k < 3; k++) {
            kh_config *c = kh_test_config(text);
            kh_test_tmpname(out[k], sizeof out[k], ".h5");
            snprintf(c->p.out_path, sizeof c->p.out_path, "%.511s", out[k]);
            openblas_set_num_threads(threads[k]);
            kh_train_result res;
            ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s",
                          kh_errmsg());
            ck_assert_int_eq(res.epochs, 12);
            ck_assert_int_eq(openblas_get_num_threads(), threads[k]); /* restored */
            kh_config_free(c);
        }
        openblas_set_num_threads(saved);
        for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
            int rank;
            long d0[3], d1[3];
            double *a = kh_test_read(out[0], series[i], &rank, d0);
            for (int k = 1; k < 3; k++) {
                double *b = kh_test_read(out[k], series[i], &rank, d1);
                ck_assert_int_eq(d0[0], d1[0]);
                ck_assert_msg(
                    memcmp(a, b, (size_t)(d0[0] * (rank > 1 ? d0[1] : 1)) * sizeof(double)) == 0,
                    "%s (%s) differs with %d BLAS threads", series[i], prec ? "float" : "double",
                    threads[k]);
                free(b);
            }
            free(a);
        }
        double at0, at1;
        ck_assert_int_eq(kh_h5_read_attr_double(out[0], "/train", "adam_t", &at0), KH_OK);
        ck_assert_int_eq(kh_h5_read_attr_double(out[2], "/train", "adam_t", &at1), KH_OK);
        ck_assert_double_eq(at0, at1);
        ck_assert_double_eq(at0, 12 * 10);
        for (int k = 0; k < 3; k++) {
            remove(out[k]);
        }
    }
}
END_TEST

/* The whole pipeline on a tiny problem, through the library: the record's
 * shapes, the hyper-parameters, and a pixels baseline (no W in /train). */
/* A training whose features overflow (train.power = 1e300) fails: exit
 * status KH_ESOLVER, record status failed with the reason, not a complete
 * record of NaN. */
START_TEST(test_train_nan_fails)
{
    const char *ini = "[network]\nhidden = 30\np = 3\n[learning]\nepochs = 2\nbatch = 50\n"
                      "[input]\nsamples = 200\n[solver]\nmethod = fast\n[train]\nepochs = 3\n"
                      "batch = 50\ntest_samples = 100\npower = 1e300\n";
    char out[512];
    kh_config *c = kh_test_config(ini);
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_train_result res;
    int st = kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res);
    ck_assert_msg(st == KH_ESOLVER, "status %d: %s", st, kh_errmsg());
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "not finite"));
    char buf[256];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "failed");
    kh_config_free(c);
    remove(out);
}
END_TEST

START_TEST(test_train_smoke)
{
    const char *ini = "[network]\nhidden = 30\np = 3\n[learning]\nepochs = 3\nbatch = 50\n"
                      "[input]\nsamples = 200\n[solver]\nmethod = fast\n[train]\nepochs = 40\n"
                      "batch = 50\ntest_samples = 100\nfeatures = %s\n";
    /* The third: one beta for the set instead of one per digit; the fourth:
     * the readout in float; the fifth: measured on the training file's
     * digits 200 to 299 (train.measure = validation), not the test digits. */
    const char *feat[5] = {"learned", "pixels", "learned\nbeta_auto = set",
                           "learned\n[solver]\nprecision = float", "learned\nmeasure = validation"};
    for (int k = 0; k < 5; k++) {
        char text[512], out[512];
        snprintf(text, sizeof text, ini, feat[k]);
        kh_config *c = kh_test_config(text);
        kh_test_tmpname(out, sizeof out, ".h5");
        snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
        kh_train_result res;
        ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
        int rank;
        long d[3];
        double *S = kh_test_read(out, "/train/S", &rank, d);
        ck_assert_int_eq(d[0], 10);
        ck_assert_int_eq(d[1], k == 1 ? 784 : 30);
        long de[3];
        double *sec = kh_test_read(out, "/train/epoch_seconds", &rank, de);
        ck_assert_int_eq(de[0], 40);
        for (long e = 0; e < de[0]; e++) {
            ck_assert(sec[e] > 0.0 && sec[e] < 60.0);
        }
        free(sec);
        double x;
        ck_assert_int_eq(kh_h5_read_attr_double(out, "/train", "test_samples", &x), KH_OK);
        ck_assert_double_eq_tol(x, 100, 1e-12);
        ck_assert_int_eq(kh_h5_read_attr_double(out, "/train", "test_first", &x), KH_OK);
        ck_assert_double_eq_tol(x, k == 4 ? 200 : 0, 1e-12);
        char measure[200];
        ck_assert_int_eq(kh_h5_read_attr_string(out, "/train", "measure", measure, sizeof measure),
                         KH_OK);
        ck_assert_int_eq(strncmp(measure, k == 4 ? "validation:" : "test:", k == 4 ? 11 : 5), 0);
        ck_assert_int_eq(kh_h5_read_attr_double(out, "/train", "beta", &x), KH_OK);
        ck_assert(x > 0.0);
        ck_assert(res.test_error >= 0.0 && res.test_error <= 1.0);
        if (k != 1) {
            check_record_classifies(out, &c->p, 200, 100);
        }
        if (k == 0) {
            /* Resuming a finished training changes nothing and reports the
             * recorded result. */
            kh_train_result again;
            ck_assert_msg(kh_train_run(c, NULL, 1, NULL, NULL, NULL, &again) == KH_OK, "%s",
                          kh_errmsg());
            ck_assert_int_eq(again.epochs, 40);
            ck_assert_double_eq_tol(again.test_error, res.test_error, 1e-15);
            ck_assert_double_eq_tol(again.train_error, res.train_error, 1e-15);
            double *te = kh_test_read(out, "/train/test_error", &rank, de);
            ck_assert_int_eq(de[0], 40);
            ck_assert_double_eq_tol(te[39], res.test_error, 1e-15);
            free(te);
        }
        free(S);
        kh_test_record_described(out);
        remove(out);
        kh_config_free(c);
    }
    /* Bad input: not the fast rule; not MNIST. */
    kh_config *c = kh_test_config("[network]\nhidden = 4\n[solver]\nmethod = dopri5\n");
    kh_train_result res;
    ck_assert_int_eq(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res), KH_EINVAL);
    kh_config_free(c);
    c = kh_test_config("[network]\nhidden = 4\ninputs = 5\n[input]\nsource = uniform\n"
                       "[solver]\nmethod = fast\n");
    ck_assert_int_eq(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res), KH_EINVAL);
    kh_config_free(c);
    /* Validation digits the training file does not have: the shipped file
     * holds 1000, the study trains on 950 of them and asks for 100 more, or
     * on all of them. */
    const char *nodigits[2] = {"samples = 950\n[train]\nmeasure = validation\ntest_samples = 100\n",
                               "samples = 1000\n[train]\nmeasure = validation\n"};
    for (int k = 0; k < 2; k++) {
        char text[512];
        snprintf(text, sizeof text,
                 "[network]\nhidden = 4\n[learning]\nepochs = 1\n[solver]\nmethod = fast\n"
                 "[input]\n%s",
                 nodigits[k]);
        c = kh_test_config(text);
        ck_assert_int_eq(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res), KH_EINVAL);
        ck_assert_msg(strstr(kh_errmsg(), "lower input.samples") != NULL, "%s", kh_errmsg());
        kh_config_free(c);
    }
}
END_TEST

/* train.features = file: the readout on W learned by another method (here
 * the exact dynamics, method = reduced, on 40 shipped digits). /train/W is
 * that record's last snapshot, element for element, and the recorded errors
 * are the classifier of that W; without init.path the study is refused. */
START_TEST(test_features_from_file)
{
    char exact[512], out[512];
    kh_test_tmpname(exact, sizeof exact, ".h5");
    kh_test_tmpname(out, sizeof out, ".h5");
    kh_config *c = kh_test_config("[network]\nhidden = 30\np = 4\nw_inh = 0.9\ntau_L = 100\n"
                                  "[learning]\ng = bcm_step\nh_star = 0.2\n"
                                  "[input]\nsamples = 40\npresentation_time = 5\n"
                                  "[init]\nscale = 0.145\n[solver]\nmethod = reduced\n"
                                  "[output]\nrecord_every = 5\nsnapshot_every = 200\n");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", exact);
    kh_sim_result sr;
    ck_assert_msg(kh_sim_run(c, NULL, NULL, NULL, NULL, &sr) == KH_OK, "%s", kh_errmsg());
    kh_config_free(c);
    int rank;
    long ds[3], dw[3];
    double *snaps = kh_test_read(exact, "/snapshots/W", &rank, ds);
    ck_assert_int_eq(ds[0], 2);
    char text[1024];
    snprintf(text, sizeof text,
             "[network]\nhidden = 30\np = 4\n[input]\nsamples = 200\n[init]\npath = %s\n"
             "[solver]\nmethod = fast\n[train]\nepochs = 20\nbatch = 50\ntest_samples = 100\n"
             "features = file\n",
             exact);
    c = kh_test_config(text);
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_train_result res;
    ck_assert_msg(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res) == KH_OK, "%s", kh_errmsg());
    double *W = kh_test_read(out, "/train/W", &rank, dw);
    ck_assert_int_eq(dw[0] * dw[1], ds[1] * ds[2]);
    const double *last = snaps + ds[1] * ds[2];
    for (long i = 0; i < dw[0] * dw[1]; i++) {
        ck_assert_msg(W[i] == last[i], "/train/W[%ld] = %g, the record's %g", i, W[i], last[i]);
    }
    /* The exact run moved W away from W(0): the readout did not see W(0). */
    double moved = 0.0;
    for (long i = 0; i < dw[0] * dw[1]; i++) {
        moved = fmax(moved, fabs(last[i] - snaps[i]));
    }
    ck_assert_msg(moved > 1e-3, "the exact run moved W by %g", moved);
    check_record_classifies(out, &c->p, 200, 100);
    char feat[32];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/train", "features", feat, sizeof feat), KH_OK);
    ck_assert_str_eq(feat, "file");
    free(W);
    free(snaps);
    remove(out);
    c->p.init_path[0] = '\0';
    ck_assert_int_eq(kh_train_run(c, NULL, 0, NULL, NULL, NULL, &res), KH_EINVAL);
    ck_assert_msg(strstr(kh_errmsg(), "init.path") != NULL, "%s", kh_errmsg());
    kh_config_free(c);
    remove(out);
    remove(exact);
}
END_TEST

Suite *kh_train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_readout_gradient, 0, 2);
    tcase_add_test(tc, test_readout_float_matches_double);
    tcase_add_test(tc, test_adam_closed_form);
    tcase_add_test(tc, test_lr_schedule_closed_form);
    tcase_add_test(tc, test_train_smoke);
    tcase_add_test(tc, test_train_nan_fails);
    tcase_add_test(tc, test_readout_overlap_same_record);
    tcase_add_test(tc, test_features_from_file);
    tcase_add_loop_test(tc, test_backprop_gradient, 0, 2);
    tcase_add_test(tc, test_backprop_beats_random);
    tcase_add_loop_test(tc, test_readout_fgsm, 0, 2);
    suite_add_tcase(s, tc);
    /* Runs of several seconds: make test-sanitize leaves them out
     * (CK_EXCLUDE_TAGS=slow); the plain build runs them. */
    TCase *slow = tcase_create("train-runs");
    tcase_set_tags(slow, "slow");
    tcase_set_timeout(slow, 300);
    tcase_add_test(slow, test_learned_beats_random);
    tcase_add_test(slow, test_resume_equals_uninterrupted);
    suite_add_tcase(s, slow);
    return s;
}
