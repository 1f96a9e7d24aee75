/* Every solver on exact and smooth problems, and every error path. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "kh_test.h"
#include "models/kh_model.h"
#include "solvers/kh_solver.h"

/* A smooth problem: krotov_hopfield with g linear, drive Q, no inhibition
 * (no switching function), m = 3 units of n = 4 inputs. */
static const char *smooth_ini = "[network]\nhidden = 3\ninputs = 4\np = 3\nw_inh = 0\ntau = 1\n"
                                "tau_L = 2\n[learning]\ng = linear\ndrive = Q\n"
                                "[input]\nsource = uniform\n";

typedef struct problem {
    kh_config *c;
    const kh_model_type *m;
    void *ws;
    size_t dim;
    double y0[64], v[4];
} problem;

static void problem_init(problem *pb, const char *ini)
{
    pb->c = kh_test_config(ini);
    pb->m = kh_model_find(pb->c->p.model);
    pb->ws = pb->m->alloc(&pb->c->p);
    ck_assert_ptr_nonnull(pb->ws);
    pb->dim = pb->m->dim(&pb->c->p);
    ck_assert_uint_le(pb->dim, 64);
    kh_rng r;
    kh_rng_seed(&r, 2385, 5);
    memset(pb->y0, 0, sizeof pb->y0);
    for (size_t i = 3; i < pb->dim; i++) {
        pb->y0[i] = 0.4 + 0.6 * kh_rng_uniform(&r);
    }
    for (int i = 0; i < 4; i++) {
        pb->v[i] = 0.1 + kh_rng_uniform(&r);
    }
    kh_model_set_input(pb->ws, pb->v);
}

static void problem_free(problem *pb)
{
    pb->m->free(pb->ws);
    kh_config_free(pb->c);
}

/* Integrates the problem with a method to t1; returns the status. */
static int solve(problem *pb, const char *method, double rtol, double dt, double t1, double *y,
                 kh_solver_stats *st)
{
    pb->c->p.rtol = rtol;
    pb->c->p.atol = rtol * 1e-2;
    pb->c->p.dt = dt;
    snprintf(pb->c->p.method, sizeof pb->c->p.method, "%s", method);
    kh_solver *s = kh_solver_alloc(method, pb->m, pb->ws, pb->dim, &pb->c->p, NULL);
    ck_assert_msg(s != NULL, "%s: %s", method, kh_errmsg());
    memcpy(y, pb->y0, pb->dim * sizeof(double));
    double t = 0.0;
    int status = kh_solver_apply(s, &t, t1, y);
    if (status == KH_OK) {
        ck_assert(t == t1);
    }
    if (st) {
        kh_solver_stats_get(s, st);
    }
    kh_solver_free(s);
    return status;
}

static const char *const methods[] = {"rk2",    "rk4",    "rkf45",  "rkck",  "msadams", "dopri5",
                                      "rk1imp", "rk2imp", "rk4imp", "bsimp", "msbdf"};

START_TEST(test_steppers_agree_with_rk8pd)
{
    problem pb;
    problem_init(&pb, smooth_ini);
    double ref[64], y[64];
    /* First-order rk1imp needs a tighter tolerance for the same accuracy,
     * and so a shorter horizon to stay quick. */
    int first_order = strcmp(methods[_i], "rk1imp") == 0;
    double rtol = first_order ? 1e-9 : 1e-10, t1 = first_order ? 0.5 : 3.0;
    ck_assert_int_eq(solve(&pb, "rk8pd", 1e-13, 0, t1, ref, NULL), KH_OK);
    kh_solver_stats st;
    ck_assert_int_eq(solve(&pb, methods[_i], rtol, 0, t1, y, &st), KH_OK);
    double err = 0;
    for (size_t i = 0; i < pb.dim; i++) {
        err = fmax(err, fabs(y[i] - ref[i]));
    }
    ck_assert_msg(err < 1e-6, "%s differs from rk8pd by %g", methods[_i], err);
    ck_assert_int_gt(st.steps, 0);
    ck_assert_int_gt(st.rhs_evals, 0);
    problem_free(&pb);
}
END_TEST

/* Euler converges at first order: halving dt halves the error. */
START_TEST(test_euler_first_order)
{
    problem pb;
    problem_init(&pb, smooth_ini);
    double ref[64], y[64], err[3];
    ck_assert_int_eq(solve(&pb, "rk8pd", 1e-13, 0, 1.0, ref, NULL), KH_OK);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(solve(&pb, "euler", 1e-6, 1e-3 / (1 << k), 1.0, y, NULL), KH_OK);
        err[k] = 0;
        for (size_t i = 0; i < pb.dim; i++) {
            err[k] = fmax(err[k], fabs(y[i] - ref[i]));
        }
    }
    ck_assert_double_eq_tol(err[0] / err[1], 2.0, 0.05);
    ck_assert_double_eq_tol(err[1] / err[2], 2.0, 0.05);
    problem_free(&pb);
}
END_TEST

/* dy/dt = -y exactly: h' = -h/tau (I = 0 from zero weights). */
START_TEST(test_exact_decay)
{
    problem pb;
    problem_init(&pb, smooth_ini);
    memset(pb.y0, 0, sizeof pb.y0);
    pb.y0[0] = 2.385;
    pb.y0[1] = -1.25;
    double y[64];
    ck_assert_int_eq(solve(&pb, "rkf45", 1e-10, 0, 2.0, y, NULL), KH_OK);
    ck_assert_double_eq_tol(y[0], 2.385 * exp(-2.0), 1e-8);
    ck_assert_double_eq_tol(y[1], -1.25 * exp(-2.0), 1e-8);
    problem_free(&pb);
}
END_TEST

START_TEST(test_error_paths)
{
    problem pb;
    problem_init(&pb, smooth_ini);
    double y[64];
    memcpy(y, pb.y0, sizeof y);
    /* t1 < t. */
    kh_solver *s = kh_solver_alloc("rkf45", pb.m, pb.ws, pb.dim, &pb.c->p, NULL);
    double t = 1.0;
    ck_assert_int_eq(kh_solver_apply(s, &t, 0.5, y), KH_EINVAL);
    kh_solver_free(s);
    /* Unknown method. */
    ck_assert_ptr_null(kh_solver_alloc("rk99", pb.m, pb.ws, pb.dim, &pb.c->p, NULL));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "rk8pd"));
    /* An implicit stepper on a state too large for a dense Jacobian. */
    ck_assert_ptr_null(kh_solver_alloc("msbdf", pb.m, pb.ws, 100000, &pb.c->p, NULL));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "dense"));
    /* A NaN state: the adaptive solver and euler both fail with KH_ESOLVER. */
    const char *ms[] = {"rkf45", "euler", "dopri5"};
    for (int k = 0; k < 3; k++) {
        s = kh_solver_alloc(ms[k], pb.m, pb.ws, pb.dim, &pb.c->p, NULL);
        memcpy(y, pb.y0, sizeof y);
        y[5] = NAN;
        t = 0.0;
        ck_assert_int_eq(kh_solver_apply(s, &t, 1.0, y), KH_ESOLVER);
        ck_assert_ptr_nonnull(strstr(kh_errmsg(), "non-finite"));
        kh_solver_free(s);
    }
    /* The stop flag ends the run with KH_EINTR at an accepted state. */
    volatile sig_atomic_t stop = 1;
    s = kh_solver_alloc("rk8pd", pb.m, pb.ws, pb.dim, &pb.c->p, &stop);
    memcpy(y, pb.y0, sizeof y);
    t = 0.0;
    ck_assert_int_eq(kh_solver_apply(s, &t, 1.0, y), KH_EINTR);
    ck_assert(t == 0.0);
    kh_solver_free(s);
    /* max_steps. */
    pb.c->p.max_steps = 3;
    s = kh_solver_alloc("rkf45", pb.m, pb.ws, pb.dim, &pb.c->p, NULL);
    t = 0.0;
    ck_assert_int_eq(kh_solver_apply(s, &t, 100.0, y), KH_ESOLVER);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "max_steps"));
    kh_solver_free(s);
    problem_free(&pb);
}
END_TEST

Suite *kh_solvers_suite(void)
{
    Suite *s = suite_create("solvers");
    TCase *tc = tcase_create("steppers");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_steppers_agree_with_rk8pd, 0,
                        (int)(sizeof methods / sizeof methods[0]));
    tcase_add_test(tc, test_euler_first_order);
    tcase_add_test(tc, test_exact_decay);
    tcase_add_test(tc, test_error_paths);
    suite_add_tcase(s, tc);
    return s;
}
