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

#include "core/kh_error.h"
#include "models/kh_model.h"

static size_t dim(const kh_params *p)
{
    return (size_t)p->n_hidden * (2 + (size_t)p->n_visible);
}

static void *ws_alloc(const kh_params *p)
{
    return kh_net_alloc(p, "bcm");
}

/* z = theta. */
static void coefficients(const double *h, const double *dh, const double *theta, int jac, void *ws)
{
    (void)dh; /* g is continuous */
    (void)jac;
    kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        w->a[mu] = (h[mu] - theta[mu]) * h[mu];
        w->b[mu] = w->p->epsilon;
        w->ah[mu] = 2.0 * h[mu] - theta[mu];
        w->az[mu] = -h[mu];
        w->bh[mu] = w->aI[mu] = w->bI[mu] = w->aB[mu] = w->bB[mu] = w->bz[mu] = 0.0;
    }
}

static void extra_rhs(const double *h, const double *theta, double *dtheta, void *ws)
{
    kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        dtheta[mu] = (h[mu] * h[mu] - theta[mu]) / w->p->tau_theta;
    }
}

/* The partials of dtheta/dt in the unit's h and theta. */
static void extra_partials(const double *h, const double *theta, void *ws)
{
    (void)theta;
    kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        w->zh[mu] = 2.0 * h[mu] / w->p->tau_theta;
        w->zz[mu] = -1.0 / w->p->tau_theta;
    }
}

/* d a / d theta = -h through tau_L dW = a v - epsilon W, and the theta rows. */
static void extra_jacobian(const double *y, double *dfdy, size_t d, void *ws)
{
    kh_model_ws *w = ws;
    const long m = w->m, n = w->n;
    const size_t th = (size_t)(m + m * n);
    for (long mu = 0; mu < m; mu++) {
        for (long i = 0; i < n; i++) {
            dfdy[(size_t)(m + mu * n + i) * d + th + (size_t)mu] = -y[mu] * w->v[i] / w->p->tau_L;
        }
        double *row = dfdy + (th + (size_t)mu) * d;
        row[mu] = 2.0 * y[mu] / w->p->tau_theta;
        row[th + (size_t)mu] = -1.0 / w->p->tau_theta;
    }
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
    KH_NET_RULE,
    .observe_moments = kh_net_observe_plain,
    .n_switch = n_switch,
    .switches = kh_net_switches,
    .switch_jumps = switch_jumps,
    .coefficients = coefficients,
    .extra_rhs = extra_rhs,
    .extra_jacobian = extra_jacobian,
    .extra_partials = extra_partials,
    .reduced_switches = reduced_switches,
    .switches_need_moments = switches_need_moments,
};
