/* oja: Oja's rule, the p = 2, linear-g, drive-h member of the family.
 *
 *   tau   dh_mu/dt  = I_mu - h_mu                 (w_inh = 0)
 *   tau_L dW_mui/dt = h_mu [ R^2 v_i - I_mu W_mui ]
 *   I_mu = sum_i W_mui v_i,  B_mu = |W_mu|^2,  L = sum_mu Q_mu^2 / 2
 * With h settled to I this is Oja's rule: W_mu -> +-R times the principal
 * eigenvector of E[v v^T]. Parameters: R, tau, tau_L; network.p must be 2
 * and network.w_inh 0; learning.g and learning.drive are fixed (linear, h)
 * and their keys are ignored by this model.
 * Reference: E. Oja, J. Math. Biol. 15:267 (1982); Krotov and Hopfield,
 * PNAS 116:7723 (2019), eq. 2. Every entry of the interface is provided. */
#include <math.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "models/kh_model.h"

static void *ws_alloc(const kh_params *p)
{
    if (p->p != 2.0 || p->w_inh != 0.0) {
        KH_ERROR(KH_EINVAL,
                 "network.model = oja needs network.p = 2 and network.w_inh = 0, "
                 "got p = %g, w_inh = %g",
                 p->p, p->w_inh);
        return NULL;
    }
    return kh_net_alloc(p, "oja");
}

static void coefficients(const double *h, const double *dh, const double *z, int jac, void *ws)
{
    (void)dh; /* g is continuous */
    (void)z;
    (void)jac;
    kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        w->a[mu] = h[mu] * w->Rp;
        w->b[mu] = h[mu] * w->I[mu];
        w->ah[mu] = w->Rp;
        w->bh[mu] = w->I[mu];
        w->bI[mu] = h[mu];
        w->aI[mu] = w->aB[mu] = w->bB[mu] = 0.0;
    }
}

static void observe_moments(const double *y, const double *z, void *ws, kh_obs *o)
{
    (void)z;
    kh_model_ws *w = ws;
    double L = 0.0, dL = 0.0;
    for (long mu = 0; mu < w->m; mu++) {
        double Q = kh_q(w->I[mu], w->B[mu], 2.0);
        L += kh_G(KH_K_LINEAR, Q, 0.0, 1.0, 1.0);
        dL += kh_dL_term(Q, y[mu], w->I[mu], w->B[mu], w->vv[mu], 2.0, w->Rp);
        o->current[mu] = w->I[mu];
        o->pnorm[mu] = w->B[mu];
    }
    o->L = L;
    o->dL_dt = dL / w->p->tau_L;
}

/* g linear with drive h: g(d) = h, and g(Q) g(d) = Q h. */
static double sphere_gain(double h, double I, double B, const void *ws)
{
    (void)I;
    (void)B;
    (void)ws;
    return h;
}

static double lyapunov_weight(double h, double I, double B, const void *ws)
{
    (void)ws;
    return kh_q(I, B, 2.0) * h;
}

const kh_model_type kh_model_oja = {
    .name = "oja",
    .summary = "Oja's rule (p = 2, g linear, drive h, no inhibition): the principal component",
    .dim = kh_net_dim,
    .alloc = ws_alloc,
    KH_NET_RULE,
    .observe_moments = observe_moments,
    .n_switch = kh_net_no_switches,
    .switches = NULL,
    .coefficients = coefficients,
    .sphere_gain = sphere_gain,
    .lyapunov_weight = lyapunov_weight,
};
