/* Steady state of the neuron dynamics with global lateral inhibition: in
 * closed form for w_inh < 1, by integration and with its stability for
 * w_inh >= 1 (see kh_steady.h for the equations).
 * Reference: D. Krotov and J. J. Hopfield, PNAS 116:7723 (2019), eq. 3;
 * the derivation is in docs/solvers.md, "Steady state". */
#include <math.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "solvers/kh_steady.h"

/* Sorts the indices by decreasing current (ties by index, so the order is
 * deterministic). A merge sort
 * keeps it O(m log m) and stable. */
static void sort_desc(const double *I, long *idx, long *tmp, long lo, long hi)
{
    if (hi - lo < 2) {
        return;
    }
    long mid = lo + (hi - lo) / 2;
    sort_desc(I, idx, tmp, lo, mid);
    sort_desc(I, idx, tmp, mid, hi);
    long a = lo, b = mid, k = lo;
    while (a < mid && b < hi) {
        if (I[idx[a]] > I[idx[b]] || (I[idx[a]] == I[idx[b]] && idx[a] < idx[b])) {
            tmp[k++] = idx[a++];
        } else {
            tmp[k++] = idx[b++];
        }
    }
    while (a < mid) {
        tmp[k++] = idx[a++];
    }
    while (b < hi) {
        tmp[k++] = idx[b++];
    }
    for (k = lo; k < hi; k++) {
        idx[k] = tmp[k];
    }
}

int kh_steady_closed_form(const double *I, long m, double w_inh, double *h, long *order,
                          long *n_active)
{
    if (!(w_inh >= 0.0 && w_inh < 1.0)) {
        return KH_ERROR(KH_EINVAL, "the closed-form steady state needs 0 <= w_inh < 1, got %g",
                        w_inh);
    }
    for (long mu = 0; mu < m; mu++) {
        order[mu] = mu;
    }
    sort_desc(I, order, order + m, 0, m);
    /* Grow the active set while the next unit is above the inhibition. */
    double sum = 0.0, S = 0.0;
    long k = 0;
    while (k < m) {
        double sum1 = sum + I[order[k]];
        double S1 = sum1 / (1.0 - w_inh + w_inh * (double)(k + 1));
        if (!(I[order[k]] > w_inh * S1)) {
            break;
        }
        sum = sum1;
        S = S1;
        k++;
    }
    for (long j = 0; j < m; j++) {
        long mu = order[j];
        h[mu] = j < k ? (I[mu] - w_inh * S) / (1.0 - w_inh) : I[mu] - w_inh * S;
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
