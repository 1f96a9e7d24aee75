/* krotov_hopfield: rate neurons with global lateral inhibition and the
 * local plasticity rule that converges to the L^p sphere.
 *
 *   tau   dh_mu/dt  = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu
 *   tau_L dW_mui/dt = g(d_mu) [ R^p v_i - I_mu W_mui ]
 *   I_mu = sum_i sgn(W_mui)|W_mui|^(p-1) v_i,  B_mu = sum_i |W_mui|^p
 *   d_mu = h_mu (drive = h, the network of eq. 4) or
 *   d_mu = Q_mu = I_mu / B_mu^((p-1)/p) (drive = Q, the single unit of eq. 2)
 *   L = sum_mu G(Q_mu),  tau_L dL/dt = sum_mu (p-1) R^p g(Q) g(d) [B<v,v> - I^2] / B^((p-1)/p+1)
 *
 * Parameters: p >= 2 (order of the sphere), R > 0 (its radius), w_inh >= 0
 * (inhibition), tau and tau_L > 0 (time units), g = bcm_step | linear | power
 * with delta, h_star, n. Reference: D. Krotov and J. J. Hopfield,
 * "Unsupervised learning by competing hidden units", PNAS 116:7723 (2019).
 * Every entry of the interface is provided. */
#include <math.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "models/kh_model.h"

static void *ws_alloc(const kh_params *p)
{
    return kh_net_alloc(p, "krotov_hopfield");
}

static double drive_of(const kh_model_ws *w, long mu, double h)
{
    return w->p->drive == KH_DRIVE_H ? h : kh_q(w->I[mu], w->B[mu], w->p->p);
}

/* g at unit mu's drive d; at a jump of bcm_step (d = 0 or h_star) with
 * drive h, on the side h moves to when dh says (kh_model_type.coefficients):
 * a unit at h = 0 going down is below 0 at every instant after this one. */
static double g_at(const kh_model_ws *w, const double *dh, long mu, double d)
{
    const kh_params *p = w->p;
    /* (d on a jump first: almost never true, so the branch is predicted,
     * while the sign of dh of a unit at the edge is not) */
    if (dh && p->drive == KH_DRIVE_H && p->g == KH_G_BCM_STEP && (d == 0.0 || d == p->h_star) &&
        dh[mu] < 0.0) {
        d = nextafter(d, -HUGE_VAL);
    }
    return kh_g(p->g, d, p->delta, p->h_star, p->g_n);
}

/* a = g(d) R^p and b = g(d) I, with their partials when `jac` is set. */
static void coefficients(const double *h, const double *dh, const double *z, int jac, void *ws)
{
    (void)z;
    kh_model_ws *w = ws;
    const kh_params *p = w->p;
    for (long mu = 0; mu < w->m; mu++) {
        double d = drive_of(w, mu, h[mu]);
        double g = g_at(w, dh, mu, d);
        w->a[mu] = g * w->Rp;
        w->b[mu] = g * w->I[mu];
        if (!jac) {
            continue;
        }
        double dg = kh_dg(p->g, d, p->delta, p->h_star, p->g_n);
        w->ah[mu] = w->bh[mu] = w->aI[mu] = w->aB[mu] = w->bB[mu] = 0.0;
        w->bI[mu] = g;
        if (p->drive == KH_DRIVE_H) {
            w->ah[mu] = dg * w->Rp;
            w->bh[mu] = dg * w->I[mu];
        } else if (w->B[mu] > 0.0) {
            double e = (p->p - 1.0) / p->p;
            double dQdI = 1.0 / pow(w->B[mu], e);
            double dQdB = -e * w->I[mu] / pow(w->B[mu], e + 1.0);
            w->aI[mu] = dg * w->Rp * dQdI;
            w->aB[mu] = dg * w->Rp * dQdB;
            w->bI[mu] += dg * w->I[mu] * dQdI;
            w->bB[mu] = dg * w->I[mu] * dQdB;
        }
    }
}

static void observe_moments(const double *y, const double *z, void *ws, kh_obs *o)
{
    (void)z;
    kh_model_ws *w = ws;
    const kh_params *p = w->p;
    double L = 0.0, dL = 0.0;
    for (long mu = 0; mu < w->m; mu++) {
        double Q = kh_q(w->I[mu], w->B[mu], p->p);
        double gQ = kh_g(p->g, Q, p->delta, p->h_star, p->g_n);
        double gd = kh_g(p->g, drive_of(w, mu, y[mu]), p->delta, p->h_star, p->g_n);
        L += kh_G(p->g, Q, p->delta, p->h_star, p->g_n);
        dL += kh_dL_term(gQ, gd, w->I[mu], w->B[mu], w->vv[mu], p->p, w->Rp);
        o->current[mu] = w->I[mu];
        o->pnorm[mu] = w->B[mu];
    }
    o->L = L;
    o->dL_dt = dL / p->tau_L;
}

/* Per unit: h (the ReLU of the inhibition, when w_inh > 0), then the kinks
 * of g at its drive: d and d - h_star for bcm_step, d for power. With drive
 * h, the kink of g at d = 0 is the ReLU's switching function itself, so h
 * is listed once. */
static int h_listed(const kh_params *p)
{
    return p->w_inh > 0.0 || (p->drive == KH_DRIVE_H && p->g != KH_G_LINEAR);
}

static size_t per_unit(const kh_params *p)
{
    size_t k = h_listed(p) ? 1 : 0;
    if (p->drive == KH_DRIVE_Q && p->g != KH_G_LINEAR) {
        k += 1;
    }
    if (p->g == KH_G_BCM_STEP) {
        k += 1;
    }
    return k;
}

static size_t n_switch(const void *ws)
{
    const kh_model_ws *w = ws;
    return per_unit(w->p) * (size_t)w->m;
}

static int switches_need_moments(const void *ws)
{
    const kh_model_ws *w = ws;
    return w->p->drive == KH_DRIVE_Q && w->p->g != KH_G_LINEAR;
}

static void reduced_switches(const double *h, void *ws, double s[])
{
    kh_model_ws *w = ws;
    const kh_params *p = w->p;
    const int with_h = h_listed(p);
    size_t k = 0;
    for (long mu = 0; mu < w->m; mu++) {
        if (with_h) {
            s[k++] = h[mu];
        }
        if (p->g == KH_G_LINEAR) {
            continue;
        }
        double d = drive_of(w, mu, h[mu]);
        if (p->drive == KH_DRIVE_Q) {
            s[k++] = d;
        }
        if (p->g == KH_G_BCM_STEP) {
            s[k++] = d - p->h_star;
        }
    }
}

static double sphere_gain(double h, double I, double B, const void *ws)
{
    const kh_params *p = ((const kh_model_ws *)ws)->p;
    double d = p->drive == KH_DRIVE_H ? h : kh_q(I, B, p->p);
    return kh_g(p->g, d, p->delta, p->h_star, p->g_n);
}

static double lyapunov_weight(double h, double I, double B, const void *ws)
{
    const kh_params *p = ((const kh_model_ws *)ws)->p;
    double gQ = kh_g(p->g, kh_q(I, B, p->p), p->delta, p->h_star, p->g_n);
    return gQ * sphere_gain(h, I, B, ws);
}

/* h switches g itself (0 to -delta) only for bcm_step with drive h; else it
 * is the kink of the ReLU. d is a jump for bcm_step, a kink for power g;
 * d - h_star (bcm_step) is a jump. */
static void switch_jumps(const void *ws, unsigned char jump[])
{
    const kh_model_ws *w = ws;
    const kh_params *p = w->p;
    const int step = p->g == KH_G_BCM_STEP;
    size_t k = 0;
    for (long mu = 0; mu < w->m; mu++) {
        if (h_listed(p)) {
            jump[k++] = (unsigned char)(step && p->drive == KH_DRIVE_H);
        }
        if (p->g == KH_G_LINEAR) {
            continue;
        }
        if (p->drive == KH_DRIVE_Q) {
            jump[k++] = (unsigned char)step;
        }
        if (step) {
            jump[k++] = 1;
        }
    }
}

const kh_model_type kh_model_krotov_hopfield = {
    .name = "krotov_hopfield",
    .summary = "rate neurons with lateral inhibition and the L^p-sphere rule (PNAS 2019)",
    .caps = KH_MODEL_FAST_RULE | KH_MODEL_BATCHED | KH_MODEL_G_TIMES_FLOW,
    .dim = kh_net_dim,
    .alloc = ws_alloc,
    KH_NET_RULE,
    .observe_moments = observe_moments,
    .n_switch = n_switch,
    .switches = kh_net_switches,
    .switch_jumps = switch_jumps,
    .coefficients = coefficients,
    .reduced_switches = reduced_switches,
    .switches_need_moments = switches_need_moments,
    .sphere_gain = sphere_gain,
    .lyapunov_weight = lyapunov_weight,
};
