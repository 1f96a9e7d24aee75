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

#include "core/kh_error.h"
#include "models/kh_model.h"

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

static void coefficients(const double *h, const double *dh, const double *z, int jac, void *ws)
{
    (void)dh; /* g is continuous */
    (void)z;
    (void)jac;
    kh_model_ws *w = ws;
    for (long mu = 0; mu < w->m; mu++) {
        w->a[mu] = h[mu];
        w->b[mu] = 0.0;
        w->ah[mu] = 1.0;
        w->bh[mu] = w->aI[mu] = w->bI[mu] = w->aB[mu] = w->bB[mu] = 0.0;
    }
}

const kh_model_type kh_model_hebb = {
    .name = "hebb",
    .summary = "linear neurons with plain Hebbian plasticity; the norm grows without bound",
    .dim = kh_net_dim,
    .alloc = ws_alloc,
    KH_NET_RULE,
    .observe_moments = kh_net_observe_plain,
    .n_switch = kh_net_no_switches,
    .switches = NULL,
    .coefficients = coefficients,
};
