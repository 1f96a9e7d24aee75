/* The batched forward Euler ensemble on the CPU (solvers/euler.c): B
 * independent krotov_hopfield systems, each with its own h [m], W [m, n],
 * input v [n] and parameters (kh_ens_params of core/kh_types.h), stepped in
 * lockstep in double or float. Its arithmetic per unit and per element is
 * that of core/kh_kernels.h, the same the CUDA kernel (gpu/kh_gpu.cu) calls,
 * and the same as one `method = euler` run through the model's right-hand
 * side: h += dt dh/dt, W += dt (a v - b W) / tau_L, with a = g(d) R^p,
 * b = g(d) I from the state at the start of the step. */
#ifndef KH_EULER_H
#define KH_EULER_H

#include "core/kh_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Euler's rule for landing on an output time: the step from t toward t1 is
 * the whole remainder t1 - t when that is within rounding of dt, else dt.
 * Used by `method = euler` (solvers/euler.c) and by the batched ensemble's
 * run (run/kh_sim_ens.c), so both land on the same times. */
static inline int kh_euler_lands(double remainder, double dt)
{
    return remainder <= dt * (1.0 + 1e-9);
}

typedef struct kh_ens kh_ens;

/* B trajectories of m units and n inputs in precision KH_PREC_*; prm [B] is
 * copied. NULL + KH_ERROR (KH_EINVAL, KH_ENOMEM). */
kh_ens *kh_ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm);
void kh_ens_free(kh_ens *e);
/* h [B, m] and W [B, m, n] (either may be NULL: unchanged); the moments
 * I and B of W are recomputed. */
int kh_ens_set_state(kh_ens *e, const double *h, const double *W);
/* The inputs v [B, n]; the moments are recomputed. */
int kh_ens_set_input(kh_ens *e, const double *v);
/* steps Euler steps of dt. KH_OK, or KH_ESOLVER when a state is not finite. */
int kh_ens_advance(kh_ens *e, long steps, double dt);
/* h [B, m], W [B, m, n], I and B [B, m] of the current state (any NULL). */
int kh_ens_get(const kh_ens *e, double *h, double *W, double *I, double *Bn);

/* W [m, n] of trajectory t alone. */
int kh_ens_get_W(const kh_ens *e, long t, double *W);

#ifdef __cplusplus
}
#endif
#endif
