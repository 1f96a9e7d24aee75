/* hebb: plain Hebbian learning of linear neurons, which has no fixed norm.
 *
 *   tau   dh_mu/dt  = I_mu - h_mu                (linear neurons, w_inh = 0)
 *   tau_L dW_mui/dt = h_mu v_i
 *   I_mu = sum_i sgn(W_mui)|W_mui|^(p-1) v_i
 * For p = 2, tau_L dB_mu/dt = 2 h_mu I_mu, which is 2 h^2 once h has settled
 * to I: the norm grows without bound (exponentially, at rate 2<v,v>... along
 * the direction of v). Parameters: p >= 2, tau, tau_L > 0; w_inh must be 0.
 * Reference: D. O. Hebb (1949); the lineage in Krotov and Hopfield, PNAS
 * 116:7723 (2019). There is no Lyapunov function for this rule, so observe
 * reports L = NaN. The Jacobian is provided. */
#include <math.h>

#include "../src/kh_error.h"
#include "kh_model.h"

static size_t dim(const kh_params *p)
{
    return (size_t)p->n_hidden * (1 + (size_t)p->n_visible);
}

static void *ws_alloc(const kh_params *p)
{
    if (p->w_inh != 0.0) {
        KH_ERROR(KH_EINVAL,
                 "network.model = hebb needs network.w_inh = 0 (linear neurons), "
                 "got %g",
                 p->w_inh);
        return NULL;
    }
    return kh_net_alloc(p, "hebb");
}

static void coefficients(kh_model_ws *w, const double *h)
{
    for (long mu = 0; mu < w->m; mu++) {
        w->a[mu] = h[mu];
        w->b[mu] = 0.0;
        w->ah[mu] = 1.0;
        w->bh[mu] = w->aI[mu] = w->bI[mu] = w->aB[mu] = w->bB[mu] = 0.0;
    }
}

extern const kh_model_type kh_model_hebb;

static int reduced(const double *h, const double *z, double *dh, double *dz, void *ws)
{
    (void)z;
    (void)dz;
    kh_model_ws *w = ws;
    if (kh_net_not_finite(w, h, NULL, 0)) {
        return 1;
    }
    kh_net_dhdt(w, h, dh);
    coefficients(w, h);
    return 0;
}

static int rhs(double t, const double y[], double dydt[], void *ws)
{
    (void)t;
    return kh_net_rhs(&kh_model_hebb, ws, y, dydt);
}

static int jacobian(double t, const double y[], double *dfdy, double dfdt[], void *ws)
{
    (void)t;
    kh_model_ws *w = ws;
    size_t d = dim(w->p);
    if (kh_net_moments(w, y, y + w->m, 0)) {
        return 1;
    }
    coefficients(w, y);
    kh_net_jacobian(w, y, dfdy, d);
    for (size_t i = 0; i < d; i++) {
        dfdt[i] = 0.0;
    }
    return 0;
}

static int observe(const double y[], void *ws, kh_obs *o)
{
    kh_model_ws *w = ws;
    if (kh_net_moments(w, y, y + w->m, 0)) {
        return 1;
    }
    for (long mu = 0; mu < w->m; mu++) {
        o->current[mu] = w->I[mu];
        o->pnorm[mu] = w->B[mu];
    }
    o->L = NAN;
    o->dL_dt = NAN;
    return 0;
}

static size_t n_switch(const void *ws)
{
    (void)ws;
    return 0;
}

const kh_model_type kh_model_hebb = {
    .name = "hebb",
    .summary = "linear neurons with plain Hebbian plasticity; the norm grows without bound",
    .dim = dim,
    .alloc = ws_alloc,
    .free = kh_net_free,
    .rhs = rhs,
    .jacobian = jacobian,
    .observe = observe,
    .n_switch = n_switch,
    .switches = NULL,
    .reduced = reduced,
};
