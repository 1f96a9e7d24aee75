/* Adaptive integration with GSL odeiv2, for every stepper of solver.method
 * except euler, with location of the switches of the right-hand side.
 *
 * The right-hand side is smooth except where a model's switching function
 * changes sign (the jumps of bcm_step, the kinks of the ReLU and of the power
 * g). A step that crosses one would be rejected again and again by error
 * control, collapsing the step size. Instead, after each accepted step the
 * signs of the switching functions are compared with those at the step's
 * start; if one changed, the earliest crossing is bracketed in [t0 + lo,
 * t0 + hi] by trial steps from the step's start (alternating secant and
 * bisection) until hi - lo <= solver.switch_tol. The state is then
 * integrated, with error control, from t0 to t0 + hi (just past the switch),
 * the stepper's history is reset, and the step size before the switch is
 * kept. Each located switch is counted in /solver/switches.
 *
 * Implicit steppers (rk1imp, rk2imp, rk4imp, bsimp, msbdf) need the model's
 * analytic Jacobian, stored dense: they are refused above KH_DENSE_MAX states.
 * Reference: GSL manual, "Ordinary Differential Equations" (odeiv2). */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kh_error.h"
#include "kh_solver.h"

#define KH_DENSE_MAX 5000

typedef struct gsl_state {
    const kh_model_type *model;
    void *ws;
    size_t dim, nsw;
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    gsl_odeiv2_system sys;
    gsl_odeiv2_driver *d;
    double h;
    double *y0, *ytr, *yerr, *s0, *s1, *slo, *shi, *str;
    long steps, failed, switches, rhs_evals, jac_evals, steps_since_reset;
    int rhs_status;
} gsl_state;

static const char *const names[] = {"rk2",    "rk4",    "rkf45",  "rkck", "rk8pd", "msadams",
                                    "rk1imp", "rk2imp", "rk4imp", "bsimp", "msbdf", NULL};

static const gsl_odeiv2_step_type *step_type(const char *m, int *implicit)
{
    const gsl_odeiv2_step_type *const types[] = {
        gsl_odeiv2_step_rk2,    gsl_odeiv2_step_rk4,    gsl_odeiv2_step_rkf45,
        gsl_odeiv2_step_rkck,   gsl_odeiv2_step_rk8pd,  gsl_odeiv2_step_msadams,
        gsl_odeiv2_step_rk1imp, gsl_odeiv2_step_rk2imp, gsl_odeiv2_step_rk4imp,
        gsl_odeiv2_step_bsimp,  gsl_odeiv2_step_msbdf};
    for (size_t i = 0; names[i]; i++) {
        if (strcmp(m, names[i]) == 0) {
            *implicit = i >= 6;
            return types[i];
        }
    }
    return NULL;
}

/* RHS contract (STYLE.md section 4): > 0 recoverable, < 0 fatal. */
static int sys_rhs(double t, const double y[], double dydt[], void *params)
{
    gsl_state *s = params;
    s->rhs_evals++;
    int r = s->model->rhs(t, y, dydt, s->ws);
    if (r > 0) {
        s->rhs_status = r;
        return GSL_EFAILED;
    }
    return r < 0 ? GSL_EBADFUNC : GSL_SUCCESS;
}

static int sys_jac(double t, const double y[], double *dfdy, double dfdt[], void *params)
{
    gsl_state *s = params;
    s->jac_evals++;
    int r = s->model->jacobian(t, y, dfdy, dfdt, s->ws);
    if (r > 0) {
        return GSL_EFAILED;
    }
    return r < 0 ? GSL_EBADFUNC : GSL_SUCCESS;
}

static void gsl_free_state(void *vs)
{
    gsl_state *s = vs;
    if (!s) {
        return;
    }
    if (s->d) {
        gsl_odeiv2_driver_free(s->d);
    }
    free(s->y0);
    free(s->ytr);
    free(s->yerr);
    free(s->s0);
    free(s->s1);
    free(s->slo);
    free(s->shi);
    free(s->str);
    free(s);
}

static void *gsl_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                       const kh_params *p, const volatile sig_atomic_t *stop)
{
    int implicit = 0;
    const gsl_odeiv2_step_type *T = step_type(method, &implicit);
    if (!T) {
        KH_ERROR(KH_EINVAL, "solver.method = '%s' is not a GSL stepper", method);
        return NULL;
    }
    if (implicit && !model->jacobian) {
        KH_ERROR(KH_EINVAL, "solver.method = %s needs a Jacobian, which model %s lacks", method,
                 model->name);
        return NULL;
    }
    if (implicit && dim > KH_DENSE_MAX) {
        KH_ERROR(KH_EINVAL,
                 "solver.method = %s needs a dense %zu x %zu Jacobian (%.1f GB); implicit "
                 "steppers are limited to %d states: use an explicit method such as rk8pd",
                 method, dim, dim, (double)dim * (double)dim * 8e-9, KH_DENSE_MAX);
        return NULL;
    }
    gsl_state *s = calloc(1, sizeof *s);
    if (!s) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the GSL solver");
        return NULL;
    }
    s->model = model;
    s->ws = ws;
    s->dim = dim;
    s->p = p;
    s->stop = stop;
    s->nsw = (p->locate_switches && model->switches) ? model->n_switch(ws) : 0;
    s->sys.function = sys_rhs;
    s->sys.jacobian = model->jacobian ? sys_jac : NULL;
    s->sys.dimension = dim;
    s->sys.params = s;
    s->h = p->first_step;
    size_t ns = s->nsw ? s->nsw : 1;
    s->y0 = malloc(dim * sizeof(double));
    s->ytr = malloc(dim * sizeof(double));
    s->yerr = malloc(dim * sizeof(double));
    s->s0 = malloc(ns * sizeof(double));
    s->s1 = malloc(ns * sizeof(double));
    s->slo = malloc(ns * sizeof(double));
    s->shi = malloc(ns * sizeof(double));
    s->str = malloc(ns * sizeof(double));
    s->d = gsl_odeiv2_driver_alloc_y_new(&s->sys, T, p->first_step, p->atol, p->rtol);
    if (!s->y0 || !s->ytr || !s->yerr || !s->s0 || !s->s1 || !s->slo || !s->shi || !s->str ||
        !s->d) {
        gsl_free_state(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the %s stepper for %zu states", method, dim);
        return NULL;
    }
    return s;
}

static void gsl_reset(void *vs)
{
    gsl_state *s = vs;
    gsl_odeiv2_evolve_reset(s->d->e);
    gsl_odeiv2_step_reset(s->d->s);
    s->steps_since_reset = 0;
}

/* Index of the first switching function whose side differs, or -1. */
static long first_change(const double *a, const double *b, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if ((a[k] > 0.0) != (b[k] > 0.0)) {
            return (long)k;
        }
    }
    return -1;
}

/* The earliest linear-interpolation crossing in (lo, hi) of the functions
 * whose side differs between slo and shi. */
static double secant_guess(const gsl_state *s, double lo, double hi)
{
    double best = hi;
    for (size_t k = 0; k < s->nsw; k++) {
        if ((s->slo[k] > 0.0) != (s->shi[k] > 0.0) && s->slo[k] != s->shi[k]) {
            double c = lo + (hi - lo) * s->slo[k] / (s->slo[k] - s->shi[k]);
            if (c < best) {
                best = c;
            }
        }
    }
    double margin = 0.05 * (hi - lo);
    return fmin(fmax(best, lo + margin), hi - margin);
}

static int gsl_failure(gsl_state *s, int status, double t)
{
    if (s->rhs_status > 0 || status == GSL_EFAILED) {
        return KH_ERROR(KH_ESOLVER, "the state became non-finite (NaN or Inf) near t = %.9g: "
                                    "the dynamics diverge (%s)", t, gsl_strerror(status));
    }
    return KH_ERROR(KH_ESOLVER, "GSL stepper failed at t = %.9g: %s (the step size fell to "
                                "the resolution of t; the dynamics may diverge or be too stiff "
                                "for this method)", t, gsl_strerror(status));
}

/* Locates the earliest switch in the accepted step from (t0, y0) to t0+dt,
 * then integrates to just past it. y and *t receive the new state. */
static int locate(gsl_state *s, double t0, double dt, double *t, double y[])
{
    gsl_odeiv2_step *st = s->d->s;
    double lo = 0.0, hi = dt;
    memcpy(s->slo, s->s0, s->nsw * sizeof(double));
    memcpy(s->shi, s->s1, s->nsw * sizeof(double));
    for (int it = 0; hi - lo > s->p->switch_tol && it < 200; it++) {
        double mid = (it % 2 == 0) ? secant_guess(s, lo, hi) : 0.5 * (lo + hi);
        memcpy(s->ytr, s->y0, s->dim * sizeof(double));
        gsl_odeiv2_step_reset(st);
        int r = gsl_odeiv2_step_apply(st, t0, mid, s->ytr, s->yerr, NULL, NULL, &s->sys);
        if (r != GSL_SUCCESS) {
            hi = mid; /* A trial that fails lies past the trouble: shrink from above. */
            continue;
        }
        s->model->switches(s->ytr, s->ws, s->str);
        if (first_change(s->s0, s->str, s->nsw) >= 0) {
            hi = mid;
            memcpy(s->shi, s->str, s->nsw * sizeof(double));
        } else {
            lo = mid;
            memcpy(s->slo, s->str, s->nsw * sizeof(double));
        }
    }
    /* Integrate with error control from the step's start to just past the switch. */
    memcpy(y, s->y0, s->dim * sizeof(double));
    *t = t0;
    gsl_odeiv2_evolve_reset(s->d->e);
    gsl_odeiv2_step_reset(st);
    double t1 = t0 + hi, h = s->h;
    while (*t < t1) {
        unsigned long f0 = s->d->e->failed_steps;
        int r = gsl_odeiv2_evolve_apply(s->d->e, s->d->c, st, &s->sys, t, t1, &h, y);
        s->failed += (long)(s->d->e->failed_steps - f0);
        if (r != GSL_SUCCESS) {
            return gsl_failure(s, r, *t);
        }
        s->steps++;
    }
    gsl_reset(s);
    s->switches++;
    return KH_OK;
}

static int gsl_apply(void *vs, double *t, double t1, double y[])
{
    gsl_state *s = vs;
    const kh_params *p = s->p;
    if (s->nsw) {
        s->model->switches(y, s->ws, s->s0);
    }
    while (*t < t1) {
        if (s->stop && *s->stop) {
            return KH_ERROR(KH_EINTR, "interrupted at t = %.9g", *t);
        }
        if (p->max_steps > 0 && s->steps_since_reset >= p->max_steps) {
            return KH_ERROR(KH_ESOLVER, "solver.max_steps = %ld reached at t = %.9g",
                            p->max_steps, *t);
        }
        double t0 = *t, h_before = s->h;
        if (s->nsw) {
            memcpy(s->y0, y, s->dim * sizeof(double));
        }
        s->rhs_status = 0;
        unsigned long f0 = s->d->e->failed_steps;
        int r = gsl_odeiv2_evolve_apply(s->d->e, s->d->c, s->d->s, &s->sys, t, t1, &s->h, y);
        s->failed += (long)(s->d->e->failed_steps - f0);
        if (r != GSL_SUCCESS) {
            return gsl_failure(s, r, *t);
        }
        s->steps++;
        s->steps_since_reset++;
        /* A step cut short to land on t1 must not shrink the next one. */
        if (*t == t1 && s->h < h_before) {
            s->h = h_before;
        }
        if (s->nsw) {
            s->model->switches(y, s->ws, s->s1);
            if (first_change(s->s0, s->s1, s->nsw) >= 0) {
                int st = locate(s, t0, *t - t0, t, y);
                if (st != KH_OK) {
                    return st;
                }
                s->h = h_before;
                s->model->switches(y, s->ws, s->s1);
            }
            double *tmp = s->s0;
            s->s0 = s->s1;
            s->s1 = tmp;
        }
    }
    return KH_OK;
}

static void gsl_stats(const void *vs, kh_solver_stats *st)
{
    const gsl_state *s = vs;
    st->steps = s->steps;
    st->failed_steps = s->failed;
    st->rhs_evals = s->rhs_evals;
    st->jac_evals = s->jac_evals;
    st->switches = s->switches;
}

const kh_solver_type kh_solver_gsl = {
    .names = names,
    .alloc = gsl_alloc,
    .apply = gsl_apply,
    .reset = gsl_reset,
    .free = gsl_free_state,
    .stats = gsl_stats,
};
