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

/* ---- The battery of GSL's own stepper tests (gsl/ode-initval2/test.c),
 * run over every method of every registered solver that integrates any
 * system (KH_SOLVER_ANY_SYSTEM): a "model" that is a plain ODE. ---- */

enum { B_LINEAR, B_EXP, B_SINE, B_STIFF, B_FAIL, B_BREAK };

typedef struct battery {
    int kind;
    long evals;
    volatile sig_atomic_t *stop; /* B_BREAK: raised after 40 evaluations */
} battery;

static size_t battery_dim(const kh_params *p)
{
    (void)p;
    return 2;
}

static int battery_rhs(double t, const double y[], double f[], void *ws)
{
    battery *b = ws;
    b->evals++;
    switch (b->kind) {
    case B_LINEAR: /* y' = A y, A = [[-1, 2], [-2, -1]] */
        f[0] = -y[0] + 2.0 * y[1];
        f[1] = -2.0 * y[0] - y[1];
        break;
    case B_EXP: /* y' = y */
        f[0] = y[0];
        f[1] = 0.5 * y[1];
        break;
    case B_SINE: /* y0'' = -y0 */
    case B_BREAK:
        f[0] = y[1];
        f[1] = -y[0];
        if (b->kind == B_BREAK && b->evals >= 40) {
            *b->stop = 1;
        }
        break;
    case B_STIFF: /* y' = -1000 (y - cos t) - sin t: y = cos t */
        f[0] = -1000.0 * (y[0] - cos(t)) - sin(t);
        f[1] = -1000.0 * (y[1] - sin(t)) + cos(t);
        break;
    case B_FAIL: /* a right-hand side that fails for good past t = 0.5 */
        f[0] = y[1];
        f[1] = -y[0];
        return t > 0.5 ? -1 : 0;
    }
    return 0;
}

static int battery_jac(double t, const double y[], double *J, double dfdt[], void *ws)
{
    battery *b = ws;
    (void)y;
    static const double A[6][4] = {{-1, 2, -2, -1},      {1, 0, 0, 0.5}, {0, 1, -1, 0},
                                   {-1000, 0, 0, -1000}, {0, 1, -1, 0},  {0, 1, -1, 0}};
    memcpy(J, A[b->kind], 4 * sizeof(double));
    dfdt[0] = b->kind == B_STIFF ? -1000.0 * sin(t) - cos(t) : 0.0;
    dfdt[1] = b->kind == B_STIFF ? 1000.0 * cos(t) - sin(t) : 0.0;
    return 0;
}

static size_t battery_n_switch(const void *ws)
{
    (void)ws;
    return 0;
}

static const kh_model_type battery_model = {
    .name = "battery",
    .summary = "plain ODEs of GSL's stepper tests",
    .dim = battery_dim,
    .rhs = battery_rhs,
    .jacobian = battery_jac,
    .n_switch = battery_n_switch,
};

/* The exact solution of the problem from y(0) = (1, 0) (exp: (1, 1)). */
static void battery_exact(int kind, double t, double y[2])
{
    switch (kind) {
    case B_LINEAR:
        y[0] = exp(-t) * cos(2.0 * t);
        y[1] = -exp(-t) * sin(2.0 * t);
        break;
    case B_EXP:
        y[0] = exp(t);
        y[1] = exp(0.5 * t);
        break;
    case B_STIFF:
        y[0] = cos(t);
        y[1] = sin(t);
        break;
    default:
        y[0] = cos(t);
        y[1] = -sin(t);
    }
}

/* Every method of every solver that integrates any system, from the
 * registry. */
static int battery_methods(const char **out, int max)
{
    int k = 0;
    for (size_t i = 0; kh_solvers[i]; i++) {
        if (!(kh_solvers[i]->caps & KH_SOLVER_ANY_SYSTEM)) {
            continue;
        }
        for (size_t j = 0; kh_solvers[i]->names[j] && k < max; j++) {
            out[k++] = kh_solvers[i]->names[j];
        }
    }
    return k;
}

/* Runs one problem with one method to t1; returns the status, the state,
 * the time reached and the stats. */
static int battery_run(const char *method, int kind, double rtol, double dt, double t1,
                       long max_steps, double y[2], double *t, kh_solver_stats *st)
{
    kh_config *c = kh_test_config("[network]\nhidden = 2\ninputs = 1\n");
    c->p.rtol = rtol;
    c->p.atol = rtol * 1e-3;
    c->p.dt = dt;
    c->p.first_step = 1e-4;
    c->p.max_steps = max_steps;
    c->p.locate_switches = KH_LOCATE_NONE;
    volatile sig_atomic_t stop = 0;
    battery b = {kind, 0, &stop};
    kh_solver *s = kh_solver_alloc(method, &battery_model, &b, 2, &c->p, &stop);
    ck_assert_msg(s != NULL, "%s: %s", method, kh_errmsg());
    y[0] = 1.0;
    y[1] = kind == B_EXP ? 1.0 : 0.0;
    *t = 0.0;
    int status = kh_solver_apply(s, t, t1, y);
    if (st) {
        kh_solver_stats_get(s, st);
    }
    kh_solver_free(s);
    kh_config_free(c);
    return status;
}

/* Linear, exponential, sine and stiff problems to their closed forms;
 * tolerance proportionality (an adaptive method's error falls with rtol)
 * or, for a fixed step, the measured order of convergence; a failing
 * right-hand side, a user break and max_steps end the run with the right
 * status at an accepted, finite state. */
START_TEST(test_battery)
{
    const char *methods_all[32];
    const int nm = battery_methods(methods_all, 32);
    ck_assert_int_ge(nm, 12); /* the 11 GSL steppers and euler */
    const char *method = methods_all[_i % nm];
    (void)_i;
    const kh_solver_type *type = kh_solver_find(method);
    ck_assert_ptr_nonnull(type);
    const int adaptive = (type->caps & KH_SOLVER_ADAPTIVE) != 0;
    const int first_order = strcmp(method, "rk1imp") == 0 || strcmp(method, "euler") == 0;
    const int implicit = kh_solver_is_implicit(method);
    double y[2], ex[2], t;
    kh_solver_stats st;
    /* 1. Closed forms. Explicit methods on the stiff problem are held to
     * small steps by stability, but must still be right. */
    for (int kind = B_LINEAR; kind <= B_STIFF; kind++) {
        const double t1 = kind == B_STIFF ? 0.2 : (first_order ? 0.5 : 2.0);
        const double rtol = first_order ? 1e-8 : 1e-9;
        const double dt = kind == B_STIFF ? 1e-4 : 1e-5;
        ck_assert_int_eq(battery_run(method, kind, rtol, dt, t1, 0, y, &t, &st), KH_OK);
        ck_assert(t == t1);
        battery_exact(kind, t1, ex);
        const double err = fmax(fabs(y[0] - ex[0]), fabs(y[1] - ex[1])) /
                           fmax(1.0, fmax(fabs(ex[0]), fabs(ex[1])));
        const double tol = adaptive ? (first_order ? 1e-4 : 1e-6) : 2e-4;
        ck_assert_msg(err < tol, "%s, problem %d: relative error %g", method, kind, err);
    }
    /* An implicit method is not held back by the stiffness: at rtol 1e-4 on
     * t in [0, 1] it takes fewer steps than the 150 or more that stability
     * asks of an explicit one at a rate of 1000. */
    if (adaptive) {
        ck_assert_int_eq(battery_run(method, B_STIFF, 1e-4, 0, 1.0, 0, y, &t, &st), KH_OK);
        ck_assert_msg(implicit ? st.steps < 150 : st.steps >= 150,
                      "%s: %ld steps on the stiff "
                      "problem",
                      method, st.steps);
    }
    /* 2. Tolerance proportionality, or the order of convergence. */
    double e[2];
    for (int k = 0; k < 2; k++) {
        const double rtol = k ? 1e-9 : 1e-6, dt = k ? 5e-4 : 1e-3;
        ck_assert_int_eq(battery_run(method, B_SINE, rtol, dt, 1.0, 0, y, &t, NULL), KH_OK);
        battery_exact(B_SINE, 1.0, ex);
        e[k] = fmax(fabs(y[0] - ex[0]), fabs(y[1] - ex[1]));
    }
    if (adaptive) {
        ck_assert_msg(e[1] < e[0] / 10.0 || e[1] < 1e-12, "%s: error %g at rtol 1e-6, %g at 1e-9",
                      method, e[0], e[1]);
    } else {
        const double order = log(e[0] / e[1]) / log(2.0);
        ck_assert_msg(fabs(order - 1.0) < 0.1, "%s: measured order %g", method, order);
    }
    /* 3. A right-hand side that fails for good: KH_ESOLVER, t short of it. */
    int r = battery_run(method, B_FAIL, 1e-8, 1e-3, 2.0, 0, y, &t, NULL);
    ck_assert_msg(r == KH_ESOLVER, "%s: failing rhs gave %d", method, r);
    ck_assert_msg(t <= 0.5 + 1e-9 && isfinite(y[0]) && isfinite(y[1]), "%s: stopped at t = %g",
                  method, t);
    /* 4. The user's break: KH_EINTR at an accepted state before t1. */
    r = battery_run(method, B_BREAK, 1e-8, 1e-3, 100.0, 0, y, &t, NULL);
    ck_assert_msg(r == KH_EINTR, "%s: break gave %d", method, r);
    ck_assert(t < 100.0 && isfinite(y[0]) && isfinite(y[1]));
    battery_exact(B_SINE, t, ex);
    ck_assert_msg(fabs(y[0] - ex[0]) < 1e-2, "%s: the state at the break is not the solution's",
                  method);
    /* 5. max_steps. */
    r = battery_run(method, B_SINE, 1e-10, 1e-3, 100.0, 5, y, &t, NULL);
    ck_assert_msg(r == KH_ESOLVER && strstr(kh_errmsg(), "max_steps"), "%s: max_steps gave %d: %s",
                  method, r, kh_errmsg());
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
    TCase *tb = tcase_create("battery");
    tcase_set_timeout(tb, 120);
    const char *methods_all[32];
    tcase_add_loop_test(tb, test_battery, 0, battery_methods(methods_all, 32));
    suite_add_tcase(s, tb);
    return s;
}
