/* Adaptive integration with GSL odeiv2, for every stepper of solver.method
 * except euler, with location of the switches of the right-hand side.
 *
 * The right-hand side is smooth except where a model's switching function
 * changes sign (the jumps of bcm_step, the kinks of the ReLU and of the power
 * g). A step across one is rejected again and again by error control, which
 * collapses the step size. So for the one-step methods (rk2 ... rk8pd and the
 * implicit rk1imp, rk2imp, rk4imp, bsimp) this file runs its own copy of
 * odeiv2's evolve loop (step, then gsl_odeiv2_control_hadjust), and checks
 * the signs of the switching functions after every trial step, before error
 * control judges it. If one changed, the earliest crossing is bracketed in
 * [t0 + lo, t0 + hi] by trial steps from the step's start (alternating secant
 * and bisection) until hi - lo <= solver.switch_tol; the step to t0 + hi
 * (just past the switch) is then taken under error control, and the next
 * step starts with the step size from before the switch. The multistep
 * methods (msadams, msbdf) keep state inside gsl_odeiv2_evolve, so they use
 * gsl_odeiv2_evolve_apply and the same location after an accepted step that
 * crossed a switch, then restart their history there. Each located switch
 * is counted in /solver/switches. solver.locate_switches chooses which
 * switches are located: the jumps of the RHS (default), all of them
 * (kinks too), or none (kh_switch.h).
 *
 * Implicit steppers need the model's analytic Jacobian, stored dense: they are
 * refused above KH_DENSE_MAX states.
 * Reference: GSL 2.7 manual, "Ordinary Differential Equations"; the loop
 * mirrors ode-initval2/evolve.c. */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_mem.h"
#include "solvers/kh_solver.h"
#include "solvers/kh_switch.h"

#define KH_DENSE_MAX 5000

typedef struct gsl_state {
    const kh_model_type *model;
    void *ws;
    size_t dim;
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    gsl_odeiv2_system sys;
    gsl_odeiv2_driver *d;
    double h;
    double *y0, *ytr, *yerr, *dydt_in, *dydt_out;
    const double *trial_dydt; /* f(t0, y0) for trial steps, or NULL */
    double trial_t0;
    int multistep;
    kh_switch sw;
    long steps, failed, rhs_evals, jac_evals, steps_since_reset;
    int rhs_status;
} gsl_state;

static const char *const names[] = {"rk2",    "rk4",    "rkf45",  "rkck",  "rk8pd", "msadams",
                                    "rk1imp", "rk2imp", "rk4imp", "bsimp", "msbdf", NULL};
static const char *const stiff[] = {"rk1imp", "rk2imp", "rk4imp", "bsimp", "msbdf", NULL};

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

int kh_solver_is_implicit(const char *method)
{
    int implicit = 0;
    return step_type(method, &implicit) ? implicit : 0;
}

/* The right-hand side returns > 0 for a recoverable failure, < 0 for a fatal one. */
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
    free(s->dydt_in);
    free(s->dydt_out);
    kh_switch_release(&s->sw);
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
    if (model->reduced) {
        /* a network's workspace (kh_model_ws): g on the side h moves to */
        ((kh_model_ws *)ws)->one_sided = 1;
    }
    s->dim = dim;
    s->p = p;
    s->stop = stop;
    s->sys.function = sys_rhs;
    s->sys.jacobian = model->jacobian ? sys_jac : NULL;
    s->sys.dimension = dim;
    s->sys.params = s;
    s->h = p->first_step;
    if (kh_switch_init(&s->sw, model, ws, p) != KH_OK) {
        gsl_free_state(s);
        return NULL;
    }
    s->y0 = kh_big_alloc(dim, sizeof(double));
    s->ytr = kh_big_alloc(dim, sizeof(double));
    s->yerr = kh_big_alloc(dim, sizeof(double));
    s->dydt_in = kh_big_alloc(dim, sizeof(double));
    s->dydt_out = kh_big_alloc(dim, sizeof(double));
    s->multistep = T == gsl_odeiv2_step_msadams || T == gsl_odeiv2_step_msbdf;
    s->d = gsl_odeiv2_driver_alloc_y_new(&s->sys, T, p->first_step, p->atol, p->rtol);
    if (!s->y0 || !s->ytr || !s->yerr || !s->dydt_in || !s->dydt_out || !s->d) {
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
    kh_switch_reset(&s->sw);
}

static int gsl_failure(gsl_state *s, int status, double t)
{
    if (s->rhs_status > 0 || status == GSL_EFAILED) {
        return KH_ERROR(KH_ESOLVER,
                        "the state became non-finite (NaN or Inf) near t = %.9g: "
                        "the dynamics diverge (%s)",
                        t, gsl_strerror(status));
    }
    return KH_ERROR(KH_ESOLVER,
                    "GSL stepper failed at t = %.9g: %s (the step size fell to "
                    "the resolution of t; the dynamics may diverge or be too stiff "
                    "for this method)",
                    t, gsl_strerror(status));
}

/* kh_trial_fn: a step of dt from the step's start (t0, y0), without error
 * control. Multistep steppers are reset first, so that the trial depends on
 * (t0, y0) alone. */
static int trial_step(void *ctx, double dt, double *y)
{
    gsl_state *s = ctx;
    memcpy(y, s->y0, s->dim * sizeof(double));
    if (s->multistep) {
        gsl_odeiv2_step_reset(s->d->s);
    }
    return gsl_odeiv2_step_apply(s->d->s, s->trial_t0, dt, y, s->yerr, s->trial_dydt, NULL,
                                 &s->sys) != GSL_SUCCESS;
}

/* Across a switch from y just before it (at t): kh_switch_cross with
 * f(t, y). Sets *d to the length taken (0: no crossing near, y unchanged). */
static int cross(gsl_state *s, double t, double d0, double h, double y[], double *d)
{
    int r = sys_rhs(t, y, s->dydt_out, s);
    if (r != GSL_SUCCESS) {
        return gsl_failure(s, r, t);
    }
    d0 = fmax(d0, s->sw.tol);
    *d = kh_switch_cross(&s->sw, y, s->dydt_out, s->dim, d0, kh_switch_cross_limit(d0, h, h),
                         s->ytr);
    return KH_OK;
}

/* One accepted step of a one-step method from (*t, y) towards t1, with
 * switch location (the loop of gsl_odeiv2_evolve_apply, plus the check). */
static int rk_step(gsl_state *s, double *t, double t1, double y[])
{
    gsl_odeiv2_step *st = s->d->s;
    gsl_odeiv2_control *con = s->d->c;
    const double t0 = *t;
    const size_t bytes = s->dim * sizeof(double);
    memcpy(s->y0, y, bytes);
    const double *dydt_in = NULL;
    if (st->type->can_use_dydt_in) {
        int r = sys_rhs(t0, s->y0, s->dydt_in, s);
        if (r != GSL_SUCCESS) {
            return gsl_failure(s, r, t0);
        }
        dydt_in = s->dydt_in;
    }
    double h0 = s->h;
    for (;;) {
        int final = 0;
        if (h0 >= t1 - t0) {
            h0 = t1 - t0;
            final = 1;
        }
        memcpy(y, s->y0, bytes);
        int r = gsl_odeiv2_step_apply(st, t0, h0, y, s->yerr, dydt_in, s->dydt_out, &s->sys);
        if (r == GSL_EBADFUNC || r == GSL_EFAULT) {
            memcpy(y, s->y0, bytes);
            return gsl_failure(s, r, t0);
        }
        if (r != GSL_SUCCESS) {
            /* A trial state that is not finite: halve the step (odeiv2's rule). */
            s->failed++;
            h0 *= 0.5;
            if (!(t0 + h0 > t0)) {
                memcpy(y, s->y0, bytes);
                return gsl_failure(s, r, t0);
            }
            continue;
        }
        if (kh_switch_crossed(&s->sw, y) >= 0) {
            s->trial_t0 = t0;
            s->trial_dydt = dydt_in;
            double lo;
            long k;
            double hi = kh_switch_bracket(&s->sw, h0, trial_step, s, s->ytr, &lo, &k);
            /* Up to the switch, under error control: the RHS is smooth there. */
            memcpy(y, s->y0, bytes);
            if (lo > 0.0) {
                r = gsl_odeiv2_step_apply(st, t0, lo, y, s->yerr, dydt_in, s->dydt_out, &s->sys);
                double hn = lo;
                if (r != GSL_SUCCESS) {
                    s->failed++;
                    h0 = 0.5 * lo;
                    continue;
                }
                if (gsl_odeiv2_control_hadjust(con, st, y, s->yerr, s->dydt_out, &hn) ==
                        GSL_ODEIV_HADJ_DEC &&
                    hn < lo && t0 + hn > t0) {
                    s->failed++; /* too long even before the switch: retry shorter */
                    h0 = hn;
                    continue;
                }
            }
            double d;
            if ((r = cross(s, t0 + lo, hi - lo, h0 - lo, y, &d)) != KH_OK) {
                return r;
            }
            *t = (final && lo + d >= h0) ? t1 : t0 + lo + d;
            if (d > 0.0) {
                kh_switch_note(&s->sw, k, *t);
            } else {
                kh_switch_near_miss(&s->sw, k, *t);
            }
            return KH_OK; /* s->h is kept: the step size before the switch */
        }
        double h_old = h0;
        int adj = gsl_odeiv2_control_hadjust(con, st, y, s->yerr, s->dydt_out, &h0);
        if (adj == GSL_ODEIV_HADJ_DEC) {
            if (h0 < h_old && t0 + h0 > t0) {
                s->failed++;
                continue;
            }
            h0 = h_old;
        }
        *t = final ? t1 : t0 + h_old;
        /* A step cut short to land on t1 must not shrink the next one. */
        if (!(final && h0 < s->h)) {
            s->h = h0;
        }
        return KH_OK;
    }
}

/* One accepted step of a multistep method (msadams, msbdf) through
 * gsl_odeiv2_evolve_apply; a crossed switch is located afterwards, the state
 * integrated to just past it, and the method's history restarted. */
static int ms_step(gsl_state *s, double *t, double t1, double y[])
{
    const double t0 = *t, h_before = s->h;
    if (s->sw.n) {
        memcpy(s->y0, y, s->dim * sizeof(double));
    }
    unsigned long f0 = s->d->e->failed_steps;
    int r = gsl_odeiv2_evolve_apply(s->d->e, s->d->c, s->d->s, &s->sys, t, t1, &s->h, y);
    s->failed += (long)(s->d->e->failed_steps - f0);
    if (r != GSL_SUCCESS) {
        return gsl_failure(s, r, *t);
    }
    if (*t == t1 && s->h < h_before) {
        s->h = h_before;
    }
    if (kh_switch_crossed(&s->sw, y) < 0) {
        return KH_OK;
    }
    /* Keep the accepted step: it stands if no switch is found near. */
    const double t_acc = *t;
    memcpy(s->dydt_in, y, s->dim * sizeof(double));
    s->trial_t0 = t0;
    s->trial_dydt = NULL;
    double lo;
    long k;
    double hi = kh_switch_bracket(&s->sw, *t - t0, trial_step, s, s->ytr, &lo, &k);
    /* Integrate with error control from the step's start to the switch, then
     * across it. */
    memcpy(y, s->y0, s->dim * sizeof(double));
    *t = t0;
    gsl_odeiv2_evolve_reset(s->d->e);
    gsl_odeiv2_step_reset(s->d->s);
    double ts = t0 + lo, h = h_before;
    while (*t < ts) {
        f0 = s->d->e->failed_steps;
        r = gsl_odeiv2_evolve_apply(s->d->e, s->d->c, s->d->s, &s->sys, t, ts, &h, y);
        s->failed += (long)(s->d->e->failed_steps - f0);
        if (r != GSL_SUCCESS) {
            return gsl_failure(s, r, *t);
        }
        s->steps++;
    }
    double d;
    if ((r = cross(s, ts, hi - lo, (t_acc - t0) - lo, y, &d)) != KH_OK) {
        return r;
    }
    if (d == 0.0) {
        memcpy(y, s->dydt_in, s->dim * sizeof(double));
        *t = t_acc;
    } else {
        *t = ts + d;
        kh_switch_note(&s->sw, k, *t);
    }
    gsl_odeiv2_evolve_reset(s->d->e);
    gsl_odeiv2_step_reset(s->d->s);
    s->h = h_before;
    return KH_OK;
}

static int gsl_apply(void *vs, double *t, double t1, double y[])
{
    gsl_state *s = vs;
    const kh_params *p = s->p;
    kh_switch_start(&s->sw, y);
    while (*t < t1) {
        int st = kh_solver_may_step(s->stop, s->steps_since_reset, p->max_steps, *t);
        if (st != KH_OK) {
            return st;
        }
        s->rhs_status = 0;
        int r = s->multistep ? ms_step(s, t, t1, y) : rk_step(s, t, t1, y);
        if (r != KH_OK) {
            return r;
        }
        s->steps++;
        s->steps_since_reset++;
        kh_switch_start(&s->sw, y);
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
    st->switches = s->sw.switches;
    st->sliding = s->sw.sliding;
}

const kh_solver_type kh_solver_gsl = {
    .names = names,
    .caps = KH_SOLVER_ANY_SYSTEM | KH_SOLVER_ADAPTIVE | KH_SOLVER_LOCATES,
    .stiff = stiff,
    .alloc = gsl_alloc,
    .apply = gsl_apply,
    .reset = gsl_reset,
    .free = gsl_free_state,
    .stats = gsl_stats,
};
