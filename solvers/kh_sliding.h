/* quasi_static's sliding mode (solvers/sliding.c): the limit tau / tau_L -> 0
 * of the network with g = bcm_step driven by h and w_inh < 1, integrated
 * with the units at the edge of the active set held on it (Filippov's
 * solution) instead of chattering across it.
 *
 * h at its steady state (kh_steady.h): on the active set A (h > 0)
 * h_mu = (I_mu - w S) / (1 - w), off it h_mu = I_mu - w S <= 0, with
 * S = sum_A I / (1 - w + w |A|). A unit off A has g = 0 and keeps its
 * current, until the falling inhibition brings it to h = 0. There g jumps
 * to -delta, which lowers I_mu below w S: the unit slides on h = 0, its g
 * between -delta and 0 set so that I_mu = w S. It adds nothing to S
 * either way, so
 *   I_mu(t) = min(I_mu(t_0), w min_[t_0, t] S)
 * for every unit off A (t_0: when it left A or the presentation began), and
 * its row moves along its own flow line under g < 0, which as a curve does
 * not depend on g's size: the row is the point of that curve where the
 * current is I_mu(t). Only A is integrated (dopri5 on its alpha, beta); the
 * others follow S. Events, each located:
 * - a unit of A reaches h = 0 (it leaves A) or h* (g changes);
 * - a sliding unit cannot follow S: holding I_mu = w S needs
 *   g = w tau_L (dS/dt) / c_mu, c_mu = (p - 1)(R^p vv_mu - I_mu^2) (tau_L
 *   dI/dt = g c), and below g = -delta (S falls faster than
 *   delta c_mu / (w tau_L)) the unit joins A at h = 0. */
#ifndef KH_SLIDING_H
#define KH_SLIDING_H

#include <signal.h>

#include "models/kh_model.h"
#include "solvers/kh_moments.h"
#include "solvers/kh_solver.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_sliding kh_sliding;

/* Whether the sliding mode applies to the study: a model with
 * KH_MODEL_G_TIMES_FLOW (krotov_hopfield) with g = bcm_step, delta > 0,
 * h* > 0 (a band where g = -delta), drive h, 0 <= w_inh < 1 and
 * solver.sliding. */
int kh_sliding_applies(const kh_params *p, const kh_model_type *model);
/* For the moments mo (captured by the caller at each presentation's start)
 * and the model's scratch ws (I, B, vv, gI_neg). NULL on failure (KH_ERROR). */
kh_sliding *kh_sliding_alloc(kh_moments *mo, kh_model_ws *ws, const kh_params *p);
void kh_sliding_free(kh_sliding *sl);
/* Takes the rows at alpha, beta (length m each) as the state at t: the
 * active set from the steady state there. Call after every capture. */
void kh_sliding_start(kh_sliding *sl, double *alpha, double *beta);
/* Advances from *t to t1 (kh_solver_type.apply's contract). On return alpha
 * and beta hold every row at *t. */
int kh_sliding_apply(kh_sliding *sl, double *t, double t1, double *alpha, double *beta,
                     long max_steps, const volatile sig_atomic_t *stop);
/* steps, failed_steps, rhs_evals (of A), switches (located events) and
 * sliding (units that began to slide). */
void kh_sliding_stats(const kh_sliding *sl, kh_solver_stats *st);

#ifdef __cplusplus
}
#endif
#endif
