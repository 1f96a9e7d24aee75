/* Steady state of the neuron dynamics with global lateral inhibition: in
 * closed form for w_inh < 1, by integration and with its stability for
 * w_inh >= 1 (see kh_steady.h for the equations).
 * Reference: D. Krotov and J. J. Hopfield, PNAS 116:7723 (2019), eq. 3;
 * the derivation is in docs/solvers.md, "Steady state". */
#include <math.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "solvers/kh_steady.h"

int kh_steady_closed_form(const double *I, long m, double w_inh, double *h, long *order,
                          long *n_active)
{
    if (!(w_inh >= 0.0 && w_inh < 1.0)) {
        return KH_ERROR(KH_EINVAL, "the closed-form steady state needs 0 <= w_inh < 1, got %g",
                        w_inh);
    }
    /* Sorted by decreasing current, the active set is the longest prefix
     * whose every unit is above the threshold theta_k = w_inh S_k of the
     * units before it and itself; equivalently the next unit joins while
     * I > theta_k, and theta_k rises while units join and falls after. So
     * theta* = max_k theta_k, and every theta_k is a lower bound of it:
     * theta_1 = w_inh max I, and F(C) = w_inh sum_C I / (1 - w_inh +
     * w_inh |C|) of any set C of the top currents. No sort is needed
     * (it was most of quasi_static's time at m = 2000): the candidates
     * above theta_1, then, as Michelot's projection onto the simplex does,
     * those above F of the last candidates, until none leaves; the set that
     * stays is the prefix the sorted loop would take. */
    double Imax = 0.0;
    for (long mu = 0; mu < m; mu++) {
        Imax = I[mu] > Imax ? I[mu] : Imax;
    }
    long k = 0;
    double S = 0.0;
    if (Imax > 0.0) {
        const double lo = w_inh * Imax;
        for (long mu = 0; mu < m; mu++) {
            if (I[mu] > lo || I[mu] == Imax) {
                order[k++] = mu;
            }
        }
        for (;;) {
            double sum = 0.0;
            for (long j = 0; j < k; j++) {
                sum += I[order[j]];
            }
            S = sum / (1.0 - w_inh + w_inh * (double)k);
            long k2 = 0;
            for (long j = 0; j < k; j++) {
                if (I[order[j]] > w_inh * S) {
                    order[k2++] = order[j];
                }
            }
            if (k2 == k) {
                break;
            }
            k = k2;
        }
    }
    for (long mu = 0; mu < m; mu++) {
        h[mu] = I[mu] - w_inh * S;
    }
    for (long j = 0; j < k; j++) {
        const long mu = order[j];
        h[mu] = (I[mu] - w_inh * S) / (1.0 - w_inh);
    }
    *n_active = k;
    return KH_OK;
}

/* Eigenvalues of the Jacobian at a point with n_active units (units of 1/tau):
 * -1 off A; on A, -(1 - w + w |A|) and, if |A| >= 2, -(1 - w). */
static double lambda_max(long n_active, double w)
{
    double l = -1.0;
    if (n_active >= 1) {
        l = fmax(l, -(1.0 - w + w * (double)n_active));
    }
    if (n_active >= 2) {
        l = fmax(l, -(1.0 - w));
    }
    return l;
}

/* max |tau dh/dt| at h. */
static double residual(const double *I, long m, double w, const double *h)
{
    double S = 0.0, r = 0.0;
    for (long mu = 0; mu < m; mu++) {
        S += kh_relu(h[mu]);
    }
    for (long mu = 0; mu < m; mu++) {
        r = fmax(r, fabs(kh_relax_rate(h[mu], I[mu], S, w)));
    }
    return r;
}

int kh_steady_state(const double *I, long m, double w_inh, double tau, double tol, long max_iter,
                    double *h, long *order, kh_steady_result *res)
{
    if (!(w_inh >= 0.0) || !(tau > 0.0)) {
        return KH_ERROR(KH_EINVAL, "steady state: w_inh = %g must be >= 0 and tau = %g > 0", w_inh,
                        tau);
    }
    res->iterations = 0;
    if (w_inh < 1.0) {
        int s = kh_steady_closed_form(I, m, w_inh, h, order, &res->n_active);
        if (s != KH_OK) {
            return s;
        }
    } else {
        const double dt = kh_relax_dt(w_inh, m);
        double r = residual(I, m, w_inh, h);
        while (r > tol) {
            if (res->iterations >= max_iter) {
                return KH_ERROR(KH_ENOCONV,
                                "steady state not reached after %ld steps: max |tau dh/dt| = %.3g "
                                "> %.3g",
                                res->iterations, r, tol);
            }
            double S = 0.0;
            for (long mu = 0; mu < m; mu++) {
                S += kh_relu(h[mu]);
            }
            /* One Euler step; each unit reads only its own old h and S. */
            for (long mu = 0; mu < m; mu++) {
                h[mu] = kh_relax_step(h[mu], I[mu], S, w_inh, dt);
            }
            res->iterations++;
            r = residual(I, m, w_inh, h);
        }
        res->n_active = 0;
        for (long mu = 0; mu < m; mu++) {
            res->n_active += h[mu] > 0.0;
        }
    }
    res->residual = residual(I, m, w_inh, h) / tau;
    res->lambda_max = lambda_max(res->n_active, w_inh);
    res->stable = res->lambda_max < 0.0;
    return KH_OK;
}
