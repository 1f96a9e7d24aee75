/* The steady state of the neuron dynamics at fixed W and v (DESIGN.md
 * section 1):  0 = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu.
 *
 * For w_inh < 1 it is unique and stable, and found in closed form after one
 * sort: with A the active set, S = sum_A I / (1 - w_inh + w_inh |A|),
 * h_mu = (I_mu - w_inh S) / (1 - w_inh) on A and h_mu = I_mu - w_inh S <= 0
 * off A, where A is the top-k set of units with I_mu > w_inh S. */
#ifndef KH_STEADY_H
#define KH_STEADY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Closed-form steady state for 0 <= w_inh < 1. I [m] in, h [m] out;
 * `order` is caller-owned scratch of 2m indices; on return its
 * first m entries hold the units by decreasing current. *n_active receives |A|.
 * KH_OK, or KH_EINVAL when w_inh is outside [0, 1). Never allocates. */
int kh_steady_closed_form(const double *I, long m, double w_inh, double *h, long *order,
                          long *n_active);

#ifdef __cplusplus
}
#endif
#endif
