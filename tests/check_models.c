/* Registry conformance: every model in kh_models[] runs the same tests. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "kh_test.h"
#include "models/kh_model.h"

static size_t n_models(void)
{
    size_t n = 0;
    while (kh_models[n]) {
        n++;
    }
    return n;
}

typedef struct fixture {
    kh_params p;
    const kh_model_type *m;
    void *ws;
    size_t dim;
    double *y, *v;
} fixture;

/* A state away from the kinks: h in +-(0.3..1.3), W normal, v in (0.2, 1). */
static void setup(fixture *f, const kh_model_type *model, int g, int drive)
{
    kh_config *c = kh_test_config("[network]\nhidden = 4\ninputs = 6\np = 3\nw_inh = 0.3\n"
                                  "tau = 0.7\ntau_L = 3.3\n[input]\nsource = uniform\n"
                                  "[learning]\nepsilon = 0.2\ntau_theta = 2.5\nn = 2\n");
    f->p = c->p;
    kh_config_free(c);
    f->p.g = g;
    f->p.drive = drive;
    snprintf(f->p.model, sizeof f->p.model, "%s", model->name);
    f->m = model;
    f->ws = model->alloc(&f->p);
    if (!f->ws) {
        /* Rules with fixed p or w_inh (hebb, oja) refuse the general setting. */
        ck_assert_int_eq(strstr(kh_errmsg(), "network.") != NULL, 1);
        f->p.p = 2.0;
        f->p.w_inh = 0.0;
        f->ws = model->alloc(&f->p);
    }
    ck_assert_msg(f->ws != NULL, "%s: %s", model->name, kh_errmsg());
    f->dim = model->dim(&f->p);
    f->y = malloc(f->dim * sizeof(double));
    f->v = malloc(6 * sizeof(double));
    kh_rng r;
    kh_rng_seed(&r, 2385, 0);
    for (size_t i = 0; i < f->dim; i++) {
        f->y[i] = kh_rng_normal(&r);
    }
    for (int mu = 0; mu < 4; mu++) {
        double a = 0.3 + kh_rng_uniform(&r);
        f->y[mu] = (mu % 2) ? -a : a;
    }
    for (size_t i = 4 + 24; i < f->dim; i++) {
        f->y[i] = 0.1 + kh_rng_uniform(&r); /* extra state (bcm's theta) */
    }
    for (int i = 0; i < 6; i++) {
        f->v[i] = 0.2 + 0.8 * kh_rng_uniform(&r);
    }
    kh_model_set_input(f->ws, f->v);
}

static void teardown(fixture *f)
{
    f->m->free(f->ws);
    free(f->y);
    free(f->v);
}

START_TEST(test_rhs_finite_deterministic_threads)
{
    fixture f;
    setup(&f, kh_models[_i], KH_G_POWER, KH_DRIVE_H);
    double *a = malloc(f.dim * sizeof(double)), *b = malloc(f.dim * sizeof(double));
    omp_set_num_threads(1);
    ck_assert_int_eq(f.m->rhs(0.0, f.y, a, f.ws), 0);
    omp_set_num_threads(2);
    ck_assert_int_eq(f.m->rhs(0.0, f.y, b, f.ws), 0);
    for (size_t i = 0; i < f.dim; i++) {
        ck_assert(isfinite(a[i]));
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof(double)) == 0, "%s: dydt[%zu] differs", f.m->name,
                      i);
    }
    /* A non-finite state is reported as recoverable (> 0), never as success. */
    f.y[4] = NAN;
    ck_assert_int_gt(f.m->rhs(0.0, f.y, a, f.ws), 0);
    free(a);
    free(b);
    teardown(&f);
}
END_TEST

static void check_jacobian(fixture *f)
{
    size_t d = f->dim;
    double *J = malloc(d * d * sizeof(double)), *dfdt = malloc(d * sizeof(double));
    double *fp = malloc(d * sizeof(double)), *fm = malloc(d * sizeof(double));
    ck_assert(f->m->jacobian != NULL);
    ck_assert_int_eq(f->m->jacobian(0.0, f->y, J, dfdt, f->ws), 0);
    for (size_t j = 0; j < d; j++) {
        double y0 = f->y[j], e = 1e-6 * fmax(1.0, fabs(y0));
        f->y[j] = y0 + e;
        f->m->rhs(0.0, f->y, fp, f->ws);
        f->y[j] = y0 - e;
        f->m->rhs(0.0, f->y, fm, f->ws);
        f->y[j] = y0;
        for (size_t i = 0; i < d; i++) {
            double fd = (fp[i] - fm[i]) / (2 * e);
            ck_assert_msg(fabs(J[i * d + j] - fd) <= 1e-6 * (1.0 + fabs(fd)),
                          "%s (g %d, drive %d): J[%zu][%zu] = %.10g, central difference %.10g",
                          f->m->name, f->p.g, f->p.drive, i, j, J[i * d + j], fd);
        }
    }
    free(J);
    free(dfdt);
    free(fp);
    free(fm);
}

START_TEST(test_jacobian_central_differences)
{
    fixture f;
    setup(&f, kh_models[_i], KH_G_POWER, KH_DRIVE_H);
    check_jacobian(&f);
    teardown(&f);
}
END_TEST

/* The full system's Jacobian for each g and drive (away from the kinks). */
START_TEST(test_jacobian_kh_variants)
{
    const int g[] = {KH_G_LINEAR, KH_G_POWER, KH_G_BCM_STEP};
    fixture f;
    setup(&f, kh_model_find("krotov_hopfield"), g[_i / 2], _i % 2 ? KH_DRIVE_Q : KH_DRIVE_H);
    check_jacobian(&f);
    teardown(&f);
}
END_TEST

START_TEST(test_invalid_params)
{
    kh_config *c = kh_test_config("[network]\ninputs = 3\np = 3\nw_inh = 0.5\n"
                                  "[input]\nsource = uniform\n");
    ck_assert_ptr_null(kh_model_find("oja")->alloc(&c->p));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "network.p = 2"));
    ck_assert_ptr_null(kh_model_find("hebb")->alloc(&c->p));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "network.w_inh = 0"));
    ck_assert_ptr_null(kh_model_find("no_such_model"));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "krotov_hopfield"));
    kh_config_free(c);
}
END_TEST

/* observe's pnorm and current against a direct sum. */
START_TEST(test_observe_direct)
{
    fixture f;
    setup(&f, kh_models[_i], KH_G_LINEAR, KH_DRIVE_Q);
    double cur[4], pn[4];
    kh_obs o = {cur, pn, 0, 0};
    ck_assert_int_eq(f.m->observe(f.y, f.ws, &o), 0);
    for (int mu = 0; mu < 4; mu++) {
        double I = 0, B = 0;
        for (int i = 0; i < 6; i++) {
            double w = f.y[4 + mu * 6 + i];
            I += copysign(pow(fabs(w), f.p.p - 1), w) * f.v[i];
            B += pow(fabs(w), f.p.p);
        }
        ck_assert_double_eq_tol(cur[mu], I, 1e-12 * (1 + fabs(I)));
        ck_assert_double_eq_tol(pn[mu], B, 1e-12 * (1 + B));
    }
    teardown(&f);
}
END_TEST

Suite *kh_models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 60);
    int n = (int)n_models();
    tcase_add_loop_test(tc, test_rhs_finite_deterministic_threads, 0, n);
    tcase_add_loop_test(tc, test_jacobian_central_differences, 0, n);
    tcase_add_loop_test(tc, test_jacobian_kh_variants, 0, 6);
    tcase_add_loop_test(tc, test_observe_direct, 0, n);
    tcase_add_test(tc, test_invalid_params);
    suite_add_tcase(s, tc);
    return s;
}
