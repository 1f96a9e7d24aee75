/* bcm: the Bienenstock-Cooper-Munro rule with a sliding threshold.
 *
 *   tau     dh_mu/dt     = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu
 *   tau_L   dW_mui/dt    = (h_mu - theta_mu) h_mu v_i - epsilon W_mui
 *   tau_theta dtheta_mu/dt = h_mu^2 - theta_mu
 *   I_mu = sum_i sgn(W_mui)|W_mui|^(p-1) v_i
 * State: [h | W | theta], theta starting at 0. Parameters: p, w_inh, tau,
 * tau_L, epsilon >= 0 (weight decay), tau_theta > 0.
 * Reference: E. L. Bienenstock, L. N. Cooper and P. W. Munro, J. Neurosci.
 * 2:32 (1982); the lineage in Krotov and Hopfield, PNAS 116:7723 (2019).
 * The rule has no Lyapunov function here: observe reports L = NaN. */
#include <math.h>

#include "../src/kh_error.h"
#include "kh_model.h"

static size_t dim(const kh_params *p)
{
    return (size_t)p->n_hidden * (2 + (size_t)p->n_visible);
}

static void *ws_alloc(const kh_params *p)
{
    return kh_net_alloc(p, "bcm");
}

static void coefficients(kh_model_ws *w, const double *h, const double *theta)
{
    for (long mu = 0; mu < w->m; mu++) {
        w->a[mu] = (h[mu] - theta[mu]) * h[mu];
        w->b[mu] = w->p->epsilon;
        w->ah[mu] = 2.0 * h[mu] - theta[mu];
        w->bh[mu] = w->aI[mu] = w->bI[mu] = w->aB[mu] = w->bB[mu] = 0.0;
    }
}

extern const kh_model_type kh_model_bcm;

/* z = theta. */
static int reduced(const double *h, const double *theta, double *dh, double *dtheta, void *ws)
{
    kh_model_ws *w = ws;
    if (kh_net_not_finite(w, h, theta, w->m)) {
        return 1;
    }
    kh_net_dhdt(w, h, dh);
    coefficients(w, h, theta);
    for (long mu = 0; mu < w->m; mu++) {
        dtheta[mu] = (h[mu] * h[mu] - theta[mu]) / w->p->tau_theta;
    }
    return 0;
}

static int rhs(double t, const double y[], double dydt[], void *ws)
{
    (void)t;
    return kh_net_rhs(&kh_model_bcm, ws, y, dydt);
}

static int jacobian(double t, const double y[], double *dfdy, double dfdt[], void *ws)
{
    (void)t;
    kh_model_ws *w = ws;
    const long m = w->m, n = w->n;
    const size_t d = dim(w->p), th = (size_t)(m + m * n);
    const double *theta = y + th;
    if (kh_net_moments(w, y, y + m, 0)) {
        return 1;
    }
    coefficients(w, y, theta);
    kh_net_jacobian(w, y, dfdy, d);
    for (long mu = 0; mu < m; mu++) {
        for (long i = 0; i < n; i++) {
            /* d a / d theta = -h, through tau_L dW = a v - epsilon W. */
            dfdy[(size_t)(m + mu * n + i) * d + th + (size_t)mu] = -y[mu] * w->v[i] / w->p->tau_L;
        }
        double *row = dfdy + (th + (size_t)mu) * d;
        row[mu] = 2.0 * y[mu] / w->p->tau_theta;
        row[th + (size_t)mu] = -1.0 / w->p->tau_theta;
    }
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
    const kh_model_ws *w = ws;
    return w->p->w_inh > 0.0 ? (size_t)w->m : 0;
}

static void reduced_switches(const double *h, void *ws, double s[])
{
    const kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        s[mu] = h[mu];
    }
}

static int switches_need_moments(const void *ws)
{
    (void)ws;
    return 0;
}

static void switches(const double y[], void *ws, double s[])
{
    kh_net_switches(&kh_model_bcm, ws, y, s);
}

/* The ReLU of the inhibition is a kink: the RHS stays continuous. */
static void switch_jumps(const void *ws, unsigned char jump[])
{
    const kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        jump[mu] = 0;
    }
}

const kh_model_type kh_model_bcm = {
    .name = "bcm",
    .summary = "BCM rule with a sliding threshold theta (tau_theta) and weight decay epsilon",
    .dim = dim,
    .alloc = ws_alloc,
    .free = kh_net_free,
    .rhs = rhs,
    .jacobian = jacobian,
    .observe = observe,
    .n_switch = n_switch,
    .switches = switches,
    .switch_jumps = switch_jumps,
    .reduced = reduced,
    .reduced_switches = reduced_switches,
    .switches_need_moments = switches_need_moments,
};
