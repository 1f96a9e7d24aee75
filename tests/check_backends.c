/* One suite for every registered backend (solvers/kh_backend.h): the CPU's
 * always, the GPU's where this khsim was built with CUDA and a device is
 * there. Each learner against the direct loop of the fast rule; each
 * ensemble against single trajectories integrated by `method = euler`
 * through the model's right-hand side. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "gpu/kh_gpu.h"
#include "kh_test.h"
#include "models/kh_model.h"
#include "solvers/kh_backend.h"
#include "solvers/kh_solver.h"

/* The backends this build and machine offer: the CPU's, then the GPU's. */
static int gpu_here(void)
{
    char name[256];
    double mem;
    int ma, mi;
    const int ok = kh_gpu_probe(name, sizeof name, &mem, &ma, &mi) == KH_OK;
    kh_error_clear();
    return ok;
}

static int learners(const kh_learner_backend **out)
{
    int k = 0;
    out[k++] = &kh_fast_cpu_backend;
    if (kh_gpu_learner_backend() && gpu_here()) {
        out[k++] = kh_gpu_learner_backend();
    }
    return k;
}

static int ensembles(const kh_ensemble_backend **out)
{
    int k = 0;
    out[k++] = &kh_ens_cpu_backend;
    if (kh_gpu_ensemble_backend() && gpu_here()) {
        out[k++] = kh_gpu_ensemble_backend();
    }
    return k;
}

/* Three minibatches of the paper's rule through each learner, in double,
 * against the direct loop to 1e-12; the winners it counts lie between one
 * and the 12 samples, and a reset sets them to zero. */
START_TEST(test_learners)
{
    const kh_learner_backend *be[4];
    const int nb_be = learners(be);
    ck_assert_int_ge(nb_be, 1);
    kh_config *c = kh_test_config("[network]\nhidden = 11\ninputs = 7\np = 3\nR = 1.2\n"
                                  "[learning]\nk = 2\ndelta = 0.4\nbatch = 4\n"
                                  "[input]\nsource = uniform\n[solver]\nmethod = fast\n");
    c->p.n_visible = 7;
    c->p.fast_min_norm = 1e-30;
    const long m = 11, n = 7, N = 12;
    double X[12 * 7], W0[11 * 7];
    kh_rng r;
    kh_rng_seed(&r, 8, 0);
    for (long i = 0; i < N * n; i++) {
        X[i] = kh_rng_uniform(&r) < 0.5 ? 0.0 : kh_rng_uniform(&r);
    }
    for (long i = 0; i < m * n; i++) {
        W0[i] = kh_rng_normal(&r);
    }
    const long batches[3][4] = {{3, 7, 0, 11}, {1, 2, 9, 4}, {10, 8, 6, 5}};
    const double eps[3] = {0.04, 0.03, 0.02};
    for (int q = 0; q < nb_be; q++) {
        ck_assert_int_eq(be[q]->usable(&c->p), KH_OK);
        void *L = be[q]->alloc(&c->p, X, N, W0, 4);
        ck_assert_msg(L, "%s: %s", be[q]->name, kh_errmsg());
        double W[11 * 7], Wb[11 * 7];
        memcpy(W, W0, sizeof W);
        for (int s = 0; s < 3; s++) {
            ck_assert_int_eq(be[q]->step(L, batches[s], 4, eps[s]), KH_OK);
            kh_test_fast_direct_step(W, m, n, X, batches[s], 4, 3.0, 1.2, 2, 0.4, eps[s], 1e-30);
        }
        ck_assert_int_eq(be[q]->get_W(L, Wb), KH_OK);
        double err = 0.0;
        for (long i = 0; i < m * n; i++) {
            err = fmax(err, fabs(Wb[i] - W[i]));
        }
        ck_assert_msg(err < 1e-12, "%s: W differs from the direct loop by %g", be[q]->name, err);
        long winners = -1;
        ck_assert_int_eq(be[q]->winners(L, 1, &winners), KH_OK);
        ck_assert_msg(winners >= 1 && winners <= 12, "%s: %ld winners", be[q]->name, winners);
        long again = -1;
        ck_assert_int_eq(be[q]->winners(L, 0, &again), KH_OK);
        ck_assert_int_eq(again, 0); /* the reset */
        be[q]->release(L);
    }
    kh_config_free(c);
}
END_TEST

/* Two trajectories of 40 Euler steps through each ensemble against the same
 * two integrated one by one with `method = euler` through the model's
 * right-hand side, to 1e-12. */
START_TEST(test_ensembles)
{
    const kh_ensemble_backend *be[4];
    const int nb_be = ensembles(be);
    const char *ini = "[network]\nhidden = 5\ninputs = 6\np = 3\nw_inh = 0.4\ntau_L = 5\n"
                      "[learning]\ng = bcm_step\nh_star = 0.2\n[input]\nsource = uniform\n"
                      "[solver]\nmethod = euler\ndt = 0.01\nlocate_switches = none\n";
    kh_config *c = kh_test_config(ini);
    kh_params *p = &c->p;
    p->n_visible = 6;
    const long B = 2, m = 5, n = 6, steps = 40;
    const double dt = 0.01;
    double h0[2 * 5], W0[2 * 5 * 6], v[2 * 6];
    kh_rng r;
    kh_rng_seed(&r, 9, 0);
    for (long i = 0; i < B * m; i++) {
        h0[i] = 0.2 * kh_rng_normal(&r);
    }
    for (long i = 0; i < B * m * n; i++) {
        W0[i] = 0.5 * (2.0 * kh_rng_uniform(&r) - 1.0);
    }
    for (long i = 0; i < B * n; i++) {
        v[i] = kh_rng_uniform(&r);
    }
    /* The reference: each trajectory alone through the model. */
    const kh_model_type *model = kh_model_find("krotov_hopfield");
    double ref[2][5 + 30];
    for (long b = 0; b < B; b++) {
        void *ws = model->alloc(p);
        ck_assert_ptr_nonnull(ws);
        kh_model_set_input(ws, v + b * n);
        memcpy(ref[b], h0 + b * m, (size_t)m * sizeof(double));
        memcpy(ref[b] + m, W0 + b * m * n, (size_t)(m * n) * sizeof(double));
        kh_solver *s = kh_solver_alloc("euler", model, ws, (size_t)(m + m * n), p, NULL);
        ck_assert_ptr_nonnull(s);
        double t = 0.0;
        ck_assert_int_eq(kh_solver_apply(s, &t, (double)steps * dt, ref[b]), KH_OK);
        kh_solver_free(s);
        model->free(ws);
    }
    kh_ens_params prm[2];
    for (long b = 0; b < B; b++) {
        prm[b] = (kh_ens_params){p->p,     p->R,      p->w_inh, p->tau, p->tau_L,
                                 p->delta, p->h_star, p->g_n,   p->g,   p->drive == KH_DRIVE_Q};
    }
    for (int q = 0; q < nb_be; q++) {
        void *e = be[q]->alloc(B, m, n, KH_PREC_DOUBLE, prm);
        ck_assert_msg(e, "%s: %s", be[q]->name, kh_errmsg());
        ck_assert_int_eq(be[q]->set_input(e, v), KH_OK);
        ck_assert_int_eq(be[q]->set_state(e, h0, W0), KH_OK);
        ck_assert_int_eq(be[q]->advance(e, steps, dt), KH_OK);
        double h[2 * 5], W[2 * 5 * 6], W1[5 * 6];
        ck_assert_int_eq(be[q]->get(e, h, W, NULL, NULL), KH_OK);
        ck_assert_int_eq(be[q]->get_W(e, 1, W1), KH_OK);
        double err = 0.0, moved = 0.0;
        for (long b = 0; b < B; b++) {
            for (long i = 0; i < m; i++) {
                err = fmax(err, fabs(h[b * m + i] - ref[b][i]));
            }
            for (long i = 0; i < m * n; i++) {
                err = fmax(err, fabs(W[b * m * n + i] - ref[b][m + i]));
                moved = fmax(moved, fabs(W[b * m * n + i] - W0[b * m * n + i]));
            }
        }
        for (long i = 0; i < m * n; i++) {
            err = fmax(err, fabs(W1[i] - W[m * n + i]));
        }
        ck_assert_msg(err < 1e-12, "%s: differs from method = euler by %g", be[q]->name, err);
        ck_assert_msg(moved > 1e-4, "%s: W did not move (%g)", be[q]->name, moved);
        be[q]->release(e);
    }
    kh_config_free(c);
}
END_TEST

Suite *kh_backends_suite(void)
{
    Suite *s = suite_create("backends");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_learners);
    tcase_add_test(tc, test_ensembles);
    suite_add_tcase(s, tc);
    return s;
}
