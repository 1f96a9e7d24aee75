/* quasi_static: the adiabatic limit tau / tau_L -> 0 of the full system.
 *
 * h is slaved to the steady state of the neuron dynamics for the current W
 * and sample,
 *   0 = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu,
 * and W (with any state after it, such as bcm's theta) is integrated with
 * dopri5 under the model's plasticity at that h:
 * - w_inh < 1: the steady state is unique; its closed form (solvers/steady.c)
 *   is taken again at every evaluation of the right-hand side, so h follows
 *   W within a presentation;
 * - w_inh >= 1: several fixed points may be stable. At each presentation's
 *   start the one reached by integration from the h the presentation starts
 *   with (0 after a reset) is found; if it has a single winner, h follows W
 *   on that branch (h = I for the winner, I - w_inh I_winner for the rest);
 *   otherwise it is held over the presentation.
 * The recorded h is that steady state. The tests check that the final W
 * approaches the full system's as tau / tau_L shrinks.
 *
 * The reduced state. For every model with observe_moments (all four), W is
 * not integrated as m x n numbers: within a presentation each row stays
 * W_mu = alpha_mu W0_mu + beta_mu v (solvers/reduced.c), and the state is
 * u = [alpha | beta | z], 2m + nz numbers, integrated by Dormand-Prince 5(4)
 * (solvers/kh_dp5.h, dopri5's tableau and step control) with its moments
 * taken without W (solvers/moments.c: O(m) per evaluation for p = 2, 3, 4).
 * The error norm is the RMS over the full state's m n weights and nz extra
 * numbers, as dopri5 weighs them: an error (ea, eb) of a row moves it by
 * ea W0_mu + eb v, whose mean square over the row is
 * |ea W0_mu + eb v|^2 / n, scaled by atol + rtol times the row's RMS size.
 * The switches of the right-hand side (the ranking of the currents) are
 * not located on this path: error control takes them, as in reduced. W is
 * formed at snapshots and presentation ends (sync), the record's rows are
 * observed from the moments. A model without observe_moments keeps the
 * full state under dopri5, switches located.
 * Reference: Krotov and Hopfield, PNAS 116:7723 (2019), section 3; the
 * nested solves of D. Manzali's notebook, Fig. 5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "solvers/kh_dp5.h"
#include "solvers/kh_moments.h"
#include "solvers/kh_sliding.h"
#include "solvers/kh_solver.h"
#include "solvers/kh_steady.h"

typedef struct qs_state {
    kh_model_type slaved; /* the model with h at its steady state */
    kh_model_ws *ws;
    const kh_params *p;
    kh_solver *inner;
    double *hs; /* the steady state at the last evaluation */
    long *order;
    long winner;   /* w_inh >= 1: the single winner of this presentation, or -1 */
    long unstable; /* presentations whose fixed point was unstable */
    /* The reduced state (see the header comment), when `reduced`. */
    int reduced;
    long m, n, nz;
    kh_moments mo;
    int captured; /* mo holds this presentation's basis, u its state */
    int moved;    /* u's alpha, beta have left (1, 0) since the capture */
    double *u;    /* [2m + nz] alpha | beta | z */
    double *dh;   /* [m] scratch for the model's dh/dt, unused */
    kh_dp5 dp;
    kh_sliding *sl; /* the sliding mode, where it applies (kh_sliding.h) */
    int sl_started; /* sl holds this capture's state */
    const volatile sig_atomic_t *stop;
} qs_state;

static const char *const names[] = {"quasi_static", NULL};

/* hs <- the steady state for the moments in ws (see the header comment). */
static void steady(qs_state *s)
{
    const kh_model_ws *w = s->ws;
    const double wi = s->p->w_inh;
    if (wi < 1.0) {
        long k;
        kh_steady_closed_form(w->I, w->m, wi, s->hs, s->order, &k);
    } else if (s->winner >= 0) {
        double Iw = w->I[s->winner];
        for (long mu = 0; mu < w->m; mu++) {
            s->hs[mu] = mu == s->winner ? Iw : w->I[mu] - wi * Iw;
        }
    } /* else: held since the start */
}

static int slaved_reduced(const double *h, const double *z, double *dh, double *dz, void *ws)
{
    (void)h;
    kh_model_ws *w = ws;
    qs_state *s = w->aux;
    steady(s);
    int r = w->type->reduced(s->hs, z, dh, dz, ws);
    memset(dh, 0, (size_t)w->m * sizeof(double));
    return r;
}

static void slaved_reduced_switches(const double *h, void *ws, double out[])
{
    (void)h;
    kh_model_ws *w = ws;
    qs_state *s = w->aux;
    steady(s);
    w->type->reduced_switches(s->hs, ws, out);
}

static int slaved_need_moments(const void *ws)
{
    (void)ws;
    return 1; /* h depends on W through the steady state */
}

static int slaved_rhs(double t, const double y[], double dydt[], void *ws)
{
    (void)t;
    kh_model_ws *w = ws;
    const long mn = w->m * w->n;
    kh_net_moments(w, y, y + w->m, 0);
    int r = slaved_reduced(y, y + w->m + mn, dydt, dydt + w->m + mn, ws);
    if (r == 0) {
        kh_net_dwdt(w, y + w->m, dydt + w->m);
    }
    return r;
}

static void slaved_switches(const double y[], void *ws, double out[])
{
    kh_model_ws *w = ws;
    kh_net_moments(w, y, y + w->m, 0);
    slaved_reduced_switches(y, ws, out);
}

/* The reduced state: the moments at u = [alpha | beta | z] into ws, vv too
 * unless NULL (1 when alpha <= 0: alpha = exp(-int b / tau_L), the trial
 * step is too long). */
static int basis_moments(qs_state *s, const double *u, double *vv)
{
    const long m = s->m;
    for (long mu = 0; mu < m; mu++) {
        if (!(u[mu] > 0.0)) {
            return 1;
        }
    }
    kh_moments_eval(&s->mo, u, u + m, s->ws->I, s->ws->B, vv);
    return 0;
}

/* du/dt: tau_L dalpha/dt = -b alpha, tau_L dbeta/dt = a - b beta, and dz, at
 * the steady state of h. */
static int basis_rhs(void *ctx, const double u[], double du[])
{
    qs_state *s = ctx;
    kh_model_ws *w = s->ws;
    const long m = s->m;
    if (basis_moments(s, u, NULL) != 0) {
        return 1;
    }
    steady(s);
    int r = w->type->reduced(s->hs, u + 2 * m, s->dh, du + 2 * m, w);
    if (r != 0) {
        return r;
    }
    const double inv = 1.0 / s->p->tau_L;
    const double *be = u + m;
    for (long mu = 0; mu < m; mu++) {
        du[mu] = -w->b[mu] * u[mu] * inv;
        du[m + mu] = (w->a[mu] - w->b[mu] * be[mu]) * inv;
    }
    return 0;
}

/* The RMS error of a step from u0 to u1 (see the header comment). */
static double basis_norm(void *ctx, const double *u0, const double *u1, const double *e)
{
    const qs_state *s = ctx;
    const long m = s->m;
    const double atol = s->p->atol, rtol = s->p->rtol;
    double sum = 0.0;
    for (long mu = 0; mu < m; mu++) {
        sum += kh_moments_row_err(&s->mo, mu, u0[mu], u0[m + mu], u1[mu], u1[m + mu], e[mu],
                                  e[m + mu], atol, rtol);
    }
    for (long i = 2 * m; i < 2 * m + s->nz; i++) {
        double r = e[i] / (atol + rtol * fmax(fabs(u0[i]), fabs(u1[i])));
        sum += r * r;
    }
    return sqrt(sum / (double)(m * s->n + s->nz));
}

static void qs_free(void *vs)
{
    qs_state *s = vs;
    if (!s) {
        return;
    }
    kh_solver_free(s->inner);
    kh_sliding_free(s->sl);
    kh_moments_release(&s->mo);
    kh_dp5_release(&s->dp);
    free(s->hs);
    free(s->order);
    free(s->u);
    free(s->dh);
    free(s);
}

static void *qs_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                      const kh_params *p, const volatile sig_atomic_t *stop)
{
    (void)method;
    if (!model->reduced) {
        KH_ERROR(KH_EINVAL, "solver.method = quasi_static needs the reduced form of model %s",
                 model->name);
        return NULL;
    }
    qs_state *s = calloc(1, sizeof *s);
    if (!s || !(s->hs = calloc((size_t)p->n_hidden, sizeof(double))) ||
        !(s->order = malloc((size_t)p->n_hidden * sizeof(long)))) {
        qs_free(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the quasi_static solver");
        return NULL;
    }
    s->ws = ws;
    s->p = p;
    s->winner = -1;
    s->ws->aux = s;
    s->m = p->n_hidden;
    s->n = p->n_visible;
    s->nz = (long)dim - s->m - s->m * s->n;
    s->reduced = model->observe_moments != NULL;
    s->slaved = *model;
    s->slaved.jacobian = NULL;
    if (s->reduced) {
        size_t nu = (size_t)(2 * s->m + s->nz);
        if (kh_moments_init(&s->mo, s->m, s->n, p->p) != KH_OK) {
            qs_free(s);
            return NULL;
        }
        if (!(s->u = calloc(nu, sizeof(double))) ||
            !(s->dh = calloc((size_t)s->m, sizeof(double)))) {
            qs_free(s);
            KH_ERROR(KH_ENOMEM, "cannot allocate the quasi_static solver");
            return NULL;
        }
        if (kh_dp5_init(&s->dp, (long)nu, p->first_step) != KH_OK) {
            qs_free(s);
            return NULL;
        }
        if (kh_sliding_applies(p, model) && !(s->sl = kh_sliding_alloc(&s->mo, ws, p))) {
            qs_free(s);
            return NULL;
        }
        s->stop = stop;
        return s;
    }
    s->slaved.rhs = slaved_rhs;
    s->slaved.reduced = slaved_reduced;
    if (model->switches) {
        s->slaved.switches = slaved_switches;
        s->slaved.reduced_switches = slaved_reduced_switches;
        s->slaved.switches_need_moments = slaved_need_moments;
    }
    s->inner = kh_solver_alloc("dopri5", &s->slaved, ws, dim, p, stop);
    if (!s->inner) {
        qs_free(s);
        return NULL;
    }
    /* h is at its steady state here (dh/dt = 0 up to rounding): g at h = 0
     * is the contract's, not a side's (kh_model_ws). */
    ((kh_model_ws *)ws)->one_sided = 0;
    return s;
}

static void qs_reset(void *vs)
{
    qs_state *s = vs;
    s->captured = 0;
    if (s->reduced) {
        kh_dp5_reset(&s->dp, s->p->first_step);
    } else {
        kh_solver_reset(s->inner);
    }
}

/* The reduced state: this presentation's basis W0 = y's W, alpha = 1,
 * beta = 0, z from y. */
static void capture(qs_state *s, const double y[])
{
    const long m = s->m;
    kh_moments_capture(&s->mo, y + m, s->ws->v);
    for (long mu = 0; mu < m; mu++) {
        s->u[mu] = 1.0;
        s->u[m + mu] = 0.0;
    }
    memcpy(s->u + 2 * m, y + m + m * s->n, (size_t)s->nz * sizeof(double));
    s->captured = 1;
    s->moved = 0;
    s->sl_started = 0;
}

/* The moments of y's W into ws: from the basis when captured. */
static int moments_of(qs_state *s, const double y[])
{
    kh_model_ws *w = s->ws;
    if (s->captured) {
        return basis_moments(s, s->u, NULL);
    }
    return kh_net_moments(w, y, y + w->m, 0);
}

/* Puts h in y at the steady state of y's W. */
static int settle(qs_state *s, double t, double y[])
{
    kh_model_ws *w = s->ws;
    if (moments_of(s, y)) {
        return KH_ERROR(KH_ESOLVER, "the state is not finite at t = %.9g", t);
    }
    steady(s);
    memcpy(y, s->hs, (size_t)w->m * sizeof(double));
    return KH_OK;
}

/* At a presentation's start: the fixed point, and for w_inh >= 1 its branch. */
static int qs_start(void *vs, double t, double y[])
{
    qs_state *s = vs;
    kh_model_ws *w = s->ws;
    if (s->reduced && !s->captured) {
        capture(s, y); /* the start's moments from the capture, not a second pass */
    }
    if (moments_of(s, y)) {
        return KH_ERROR(KH_ESOLVER, "the state is not finite at t = %.9g", t);
    }
    kh_steady_result res;
    memcpy(s->hs, y, (size_t)w->m * sizeof(double));
    int st = kh_steady_state(w->I, w->m, s->p->w_inh, s->p->tau, s->p->steady_tol,
                             s->p->steady_max_steps, s->hs, s->order, &res);
    if (st != KH_OK) {
        return KH_ERROR(st, "quasi_static at t = %.9g: %s", t, kh_errmsg());
    }
    s->unstable += !res.stable;
    s->winner = -1;
    if (s->p->w_inh >= 1.0 && res.n_active == 1) {
        for (long mu = 0; mu < w->m; mu++) {
            if (s->hs[mu] > 0.0) {
                s->winner = mu;
            }
        }
    }
    memcpy(y, s->hs, (size_t)w->m * sizeof(double));
    return KH_OK;
}

static int qs_apply(void *vs, double *t, double t1, double y[])
{
    qs_state *s = vs;
    if (!s->reduced) {
        int st = kh_solver_apply(s->inner, t, t1, y);
        int s2 = settle(s, *t, y);
        return st != KH_OK ? st : s2;
    }
    const long m = s->m;
    double *z = y + m + m * s->n;
    if (!s->captured) {
        capture(s, y);
    } else if (memcmp(s->u + 2 * m, z, (size_t)s->nz * sizeof(double)) != 0) {
        /* the run set z: a discontinuity of the state */
        memcpy(s->u + 2 * m, z, (size_t)s->nz * sizeof(double));
        kh_dp5_reset(&s->dp, s->p->first_step);
    }
    const double t0 = *t;
    if (s->sl) {
        if (!s->sl_started) {
            kh_sliding_start(s->sl, s->u, s->u + m);
            s->sl_started = 1;
        }
        int st = kh_sliding_apply(s->sl, t, t1, s->u, s->u + m, s->p->max_steps, s->stop);
        s->moved |= *t > t0;
        int s2 = settle(s, *t, y);
        return st != KH_OK ? st : s2;
    }
    int st = kh_dp5_apply(&s->dp, t, t1, s->u, basis_rhs, basis_norm, s, s->p->max_steps, s->stop);
    s->moved |= *t > t0;
    memcpy(z, s->u + 2 * m, (size_t)s->nz * sizeof(double));
    int s2 = settle(s, *t, y);
    return st != KH_OK ? st : s2;
}

/* W <- alpha W0 + beta v in y for the rows that moved; the next apply takes
 * it as its basis. */
static void qs_sync(void *vs, double y[])
{
    qs_state *s = vs;
    if (!s->captured || !s->moved) {
        return;
    }
    kh_moments_form(&s->mo, y + s->m, s->ws->v, s->u, s->u + s->m);
    s->captured = 0;
}

/* The record's observation from the moments of the basis; -1 while y's W is
 * current (the model observes it). */
static int qs_observe(void *vs, const double y[], kh_obs *o)
{
    qs_state *s = vs;
    if (!s->captured) {
        return -1;
    }
    kh_model_ws *w = s->ws;
    const long m = s->m;
    const double *z = y + m + m * s->n;
    if (basis_moments(s, s->u, w->vv) != 0 || kh_net_not_finite(w, y, z, s->nz)) {
        return 1;
    }
    s->slaved.observe_moments(y, z, w, o);
    return 0;
}

static void qs_stats(const void *vs, kh_solver_stats *st)
{
    const qs_state *s = vs;
    if (s->sl) {
        memset(st, 0, sizeof *st);
        kh_sliding_stats(s->sl, st);
    } else if (s->reduced) {
        memset(st, 0, sizeof *st);
        st->steps = s->dp.steps;
        st->failed_steps = s->dp.failed;
        st->rhs_evals = s->dp.rhs_evals;
    } else {
        kh_solver_stats_get(s->inner, st);
    }
    st->unstable = s->unstable;
}

const kh_solver_type kh_solver_quasi_static = {
    .names = names,
    .caps = KH_SOLVER_ADAPTIVE | KH_SOLVER_NEEDS_REDUCED,
    .stiff = names,
    .alloc = qs_alloc,
    .apply = qs_apply,
    .reset = qs_reset,
    .start = qs_start,
    .free = qs_free,
    .stats = qs_stats,
    .sync = qs_sync,
    .observe = qs_observe,
};
