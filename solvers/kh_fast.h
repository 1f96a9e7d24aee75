/* The fast approximation of Krotov & Hopfield (PNAS 2019, section 3;
 * README, "The model"), `solver.method = fast`.
 *
 * For a minibatch of samples v_b: currents I_mub = sum_i sgn(W)|W|^(p-1) v_ib
 * (one GEMM); per sample, g = 1 for the unit with the largest current and
 * -delta for the k-th largest; Delta W_mui = R^p sum_b g_mub v_ib -
 * (sum_b g_mub I_mub) W_mui; W += eps Delta W / max|Delta W|. Only the rows
 * some sample touches are formed and updated, and sgn(W)|W|^(p-1) is kept
 * up to date for those rows only.
 *
 * Each departure from the exact dynamics is a switch (learning.*):
 *   fast_rank    on: activities = the currents, ranked;
 *                off: activities = the steady state h* of the neuron dynamics
 *                (solvers/steady.c; integrated from h = 0 when w_inh >= 1).
 *   fast_code    on: the code 1 (top) / -delta (k-th); with fast_rank off only
 *                units with h* > 0 receive it; off: g(activity), the study's g.
 *   fast_maxnorm on: the max-normalised step; off: the plain Euler step
 *                W += eps (presentation_time / tau_L) Delta W.
 *
 * Arithmetic in solver.precision (float or double), through OpenBLAS for the
 * current product; the per-element functions are those of core/kh_kernels.h. */
#ifndef KH_FAST_H
#define KH_FAST_H

#include "core/kh_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_fast kh_fast;

/* Plans a fast-rule learner for the data X [N, n] (copied, in the study's
 * precision) from the initial weights W0 [m, n], for minibatches of at most
 * max_batch samples. p is borrowed and must outlive the learner.
 * NULL + KH_ERROR (KH_EINVAL, KH_ENOMEM) on failure. */
kh_fast *kh_fast_alloc(const kh_params *p, const double *X, long N, const double *W0,
                       long max_batch);
void kh_fast_free(kh_fast *f);

/* One minibatch: the samples idx[0..nb-1] (rows of X, 1 <= nb <= max_batch)
 * at learning rate eps. KH_OK, KH_EINVAL (bad index), KH_ENOCONV (a steady
 * state of h not reached, fast_rank off), KH_ESOLVER (W not finite). */
int kh_fast_step(kh_fast *f, const long *idx, long nb, double eps);

/* The update a minibatch would make at the current W, without applying it:
 * Delta W [m, n] (dense, before any step size). Same codes as kh_fast_step. */
int kh_fast_delta(kh_fast *f, const long *idx, long nb, double *dW);

/* For sample b of the last kh_fast_step or kh_fast_delta: its currents,
 * the activities the code was taken from and the code g (each [m], any may
 * be NULL). */
void kh_fast_last(const kh_fast *f, long b, double *current, double *activity, double *g);

/* A learner without data of its own, for the fast rule over patches
 * (solvers/conv.c): each step is handed its rows V [nv, n] (nv <= max_rows),
 * in groups of consecutive rows (one image's patches), and the ranking runs
 * over all (row, unit) entries of a group together. Needs the paper's
 * switches (fast_rank, fast_code on); 2 <= k <= 64. NULL + KH_ERROR on
 * failure. kh_fast_step and kh_fast_delta refuse it, as the rows functions
 * refuse a learner with data. */
kh_fast *kh_fast_alloc_rows(const kh_params *p, const double *W0, long max_rows);

/* One step on the rows V [nv, n] in ng groups, group g ending before row
 * gend[g] (increasing, the last = nv): per group, g = 1 for the largest
 * current entry and -delta for the k-th, Delta W_mu = R^p sum g v_row -
 * (sum g I_mu,row) W_mu over the group's two entries, summed over the
 * groups, then W += eps Delta W / max|Delta W|. KH_OK, KH_EINVAL,
 * KH_ESOLVER (W not finite). */
int kh_fast_step_rows(kh_fast *f, const double *V, long nv, const long *gend, long ng, double eps);

/* The Delta W [m, n] such a step would make, without applying it. */
int kh_fast_delta_rows(kh_fast *f, const double *V, long nv, const long *gend, long ng, double *dW);

/* The current weights as double [m, n]; or sets them. */
void kh_fast_get_W(const kh_fast *f, double *W);
void kh_fast_set_W(kh_fast *f, const double *W);

/* B_mu = sum_i |W_mui|^p of every unit into B [m]. */
void kh_fast_pnorm(const kh_fast *f, double *B);

/* The number of units that have been a sample's winner (g = 1) since the
 * last reset; reset != 0 starts a new count. */
long kh_fast_winners(kh_fast *f, int reset);

/* How many times each unit [m] has been a sample's (or group's) winner
 * since the last reset. */
void kh_fast_win_counts(const kh_fast *f, long *counts);

/* Floating-point operations of the last step (GEMM plus row updates). */
double kh_fast_flops(const kh_fast *f);

#ifdef __cplusplus
}
#endif
#endif
