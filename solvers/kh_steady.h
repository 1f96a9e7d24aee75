/* The steady state of the neuron dynamics at fixed W and v (README,
 * "The model"):  0 = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu.
 *
 * For w_inh < 1 it is unique and stable, and found in closed form in O(m)
 * (no sort; solvers/steady.c): with A the active set, S = sum_A I / (1 - w_inh + w_inh |A|),
 * h_mu = (I_mu - w_inh S) / (1 - w_inh) on A and h_mu = I_mu - w_inh S <= 0
 * off A, where A is the top-k set of units with I_mu > w_inh S. */
#ifndef KH_STEADY_H
#define KH_STEADY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What kh_steady_state found. */
typedef struct kh_steady_result {
    long n_active;     /* |A|, the units with h > 0 */
    int stable;        /* 1: every eigenvalue of the Jacobian at h is < 0 */
    double lambda_max; /* the largest eigenvalue, in units of 1/tau */
    double residual;   /* max |dh/dt| at h */
    long iterations;   /* Euler steps taken (0 for the closed form) */
} kh_steady_result;

/* The steady state of tau dh/dt = I - w_inh sum_{nu != mu} r(h_nu) - h at
 * fixed currents I [m]. For 0 <= w_inh < 1 the closed form (h0 unused). For
 * w_inh >= 1, where fixed points with two or more active units are unstable
 * and several single winners may be stable, it integrates from h (in: h0,
 * out: the fixed point reached) with forward Euler at the step
 * tau / (1 + w_inh (m - 1)), within the stability bound of every Jacobian of
 * the system (Gershgorin), until max |dh/dt| <= tol / tau.
 * Stability: off A the Jacobian is -1/tau; on A its eigenvalues are
 * -(1 - w_inh + w_inh |A|)/tau and, when |A| >= 2, -(1 - w_inh)/tau
 * (|A| - 1 times). `order` is caller-owned scratch of m indices.
 * KH_OK; KH_ENOCONV after max_iter steps, with the residual in the message;
 * KH_EINVAL for w_inh < 0 or tau <= 0. Never allocates. */
int kh_steady_state(const double *I, long m, double w_inh, double tau, double tol, long max_iter,
                    double *h, long *order, kh_steady_result *res);

/* Closed-form steady state for 0 <= w_inh < 1. I [m] in, h [m] out;
 * `order` is caller-owned scratch of m indices; on return its
 * first *n_active entries hold the active units, in index order. *n_active
 * receives |A|.
 * KH_OK, or KH_EINVAL when w_inh is outside [0, 1). Never allocates. */
int kh_steady_closed_form(const double *I, long m, double w_inh, double *h, long *order,
                          long *n_active);

#ifdef __cplusplus
}
#endif
#endif
