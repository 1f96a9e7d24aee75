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
 * Reference: Krotov and Hopfield, PNAS 116:7723 (2019), section 3; the
 * nested solves of D. Manzali's notebook, Fig. 5. */
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
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

static void qs_free(void *vs)
{
    qs_state *s = vs;
    if (!s) {
        return;
    }
    kh_solver_free(s->inner);
    free(s->hs);
    free(s->order);
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
        !(s->order = malloc(2 * (size_t)p->n_hidden * sizeof(long)))) {
        qs_free(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the quasi_static solver");
        return NULL;
    }
    s->ws = ws;
    s->p = p;
    s->winner = -1;
    s->ws->aux = s;
    s->slaved = *model;
    s->slaved.rhs = slaved_rhs;
    s->slaved.jacobian = NULL;
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
    return s;
}

static void qs_reset(void *vs)
{
    kh_solver_reset(((qs_state *)vs)->inner);
}

/* Puts h in y at the steady state of y's W. */
static int settle(qs_state *s, double t, double y[])
{
    kh_model_ws *w = s->ws;
    if (kh_net_moments(w, y, y + w->m, 0)) {
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
    if (kh_net_moments(w, y, y + w->m, 0)) {
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
    int st = kh_solver_apply(s->inner, t, t1, y);
    int s2 = settle(s, *t, y);
    return st != KH_OK ? st : s2;
}

static void qs_stats(const void *vs, kh_solver_stats *st)
{
    const qs_state *s = vs;
    kh_solver_stats_get(s->inner, st);
    st->unstable = s->unstable;
}

const kh_solver_type kh_solver_quasi_static = {
    .names = names,
    .alloc = qs_alloc,
    .apply = qs_apply,
    .reset = qs_reset,
    .start = qs_start,
    .free = qs_free,
    .stats = qs_stats,
};
