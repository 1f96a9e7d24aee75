/* Steady state of the neuron dynamics with global lateral inhibition, in
 * closed form for w_inh < 1 (see kh_steady.h for the equations).
 * Reference: D. Krotov and J. J. Hopfield, PNAS 116:7723 (2019), eq. 3;
 * the derivation is in the README's "Steady state" section. */
#include "../gpu/kh_kernels.h"
#include "../src/kh_error.h"
#include "kh_steady.h"

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
