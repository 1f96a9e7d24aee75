/* quasi_static: the adiabatic limit tau / tau_L -> 0 of the full system.
 *
 * At the start of each presentation h is put at the steady state of the
 * neuron dynamics for the current W and the new sample,
 *   0 = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu
 * (solvers/steady.c: the closed form for w_inh < 1; for w_inh >= 1 the fixed
 * point reached by integration from the h the presentation starts with, 0
 * after a reset), and held there while W (and any state after it, such as
 * bcm's theta) is integrated over the presentation with dopri5, the model's
 * right-hand side with dh/dt set to 0. This is the approximation of the
 * notebooks that solve for h first and then for W, done once per sample;
 * the tests check that its W approaches the full system's as tau / tau_L
 * shrinks. Reference: Krotov and Hopfield, PNAS 116:7723 (2019), section 3;
 * D. Manzali's slides (../shared/seeds), Fig. 5. */
#include <stdlib.h>
#include <string.h>

#include "../src/kh_error.h"
#include "kh_solver.h"
#include "kh_steady.h"

typedef struct qs_state {
    kh_model_type held; /* the model with dh/dt = 0 */
    kh_model_ws *ws;
    const kh_params *p;
    kh_solver *inner;
    long *order;
} qs_state;

static const char *const names[] = {"quasi_static", NULL};

static int held_rhs(double t, const double y[], double dydt[], void *ws)
{
    kh_model_ws *w = ws;
    int r = w->type->rhs(t, y, dydt, ws);
    memset(dydt, 0, (size_t)w->m * sizeof(double));
    return r;
}

static int held_reduced(const double *h, const double *z, double *dh, double *dz, void *ws)
{
    kh_model_ws *w = ws;
    int r = w->type->reduced(h, z, dh, dz, ws);
    memset(dh, 0, (size_t)w->m * sizeof(double));
    return r;
}

static int held_jacobian(double t, const double y[], double *dfdy, double dfdt[], void *ws)
{
    kh_model_ws *w = ws;
    int r = w->type->jacobian(t, y, dfdy, dfdt, ws);
    size_t dim = w->type->dim(w->p);
    memset(dfdy, 0, (size_t)w->m * dim * sizeof(double));
    return r;
}

static void qs_free(void *vs)
{
    qs_state *s = vs;
    if (!s) {
        return;
    }
    kh_solver_free(s->inner);
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
    if (!s || !(s->order = malloc(2 * (size_t)p->n_hidden * sizeof(long)))) {
        qs_free(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the quasi_static solver");
        return NULL;
    }
    s->ws = ws;
    s->p = p;
    s->held = *model;
    s->held.rhs = held_rhs;
    s->held.reduced = held_reduced;
    s->held.jacobian = model->jacobian ? held_jacobian : NULL;
    s->inner = kh_solver_alloc("dopri5", &s->held, ws, dim, p, stop);
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

/* h <- the steady state for the current W and sample. */
static int qs_start(void *vs, double t, double y[])
{
    qs_state *s = vs;
    kh_model_ws *w = s->ws;
    if (kh_net_moments(w, y, y + w->m, 0)) {
        return KH_ERROR(KH_ESOLVER, "the state is not finite at t = %.9g", t);
    }
    kh_steady_result res;
    int st = kh_steady_state(w->I, w->m, s->p->w_inh, s->p->tau, s->p->steady_tol,
                             s->p->steady_max_steps, y, s->order, &res);
    if (st != KH_OK) {
        return KH_ERROR(st, "quasi_static at t = %.9g: %s", t, kh_errmsg());
    }
    return KH_OK;
}

static int qs_apply(void *vs, double *t, double t1, double y[])
{
    return kh_solver_apply(((qs_state *)vs)->inner, t, t1, y);
}

static void qs_stats(const void *vs, kh_solver_stats *st)
{
    kh_solver_stats_get(((const qs_state *)vs)->inner, st);
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
