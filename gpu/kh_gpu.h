/* The C API of the CUDA code (gpu/kh_gpu.cu), and of gpu/stub.c, built when
 * nvcc is absent, where every function returns KH_ENOTSUP. Device memory
 * belongs to the objects here; host code holds opaque handles and moves data
 * through the explicit copy calls. Every function returns KH_OK, KH_ENOTSUP
 * (no CUDA build, or no device), KH_EGPU (a CUDA or cuBLAS error, named in
 * the message), KH_ENOMEM or KH_EINVAL.
 *
 * The arithmetic of every kernel is that of core/kh_kernels.h, shared with
 * the CPU code (solvers/euler.c, solvers/fast.c). */
#ifndef KH_GPU_H
#define KH_GPU_H

#include <stddef.h>

#include "core/kh_types.h"
#include "solvers/kh_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The name of the first CUDA device, its memory and compute capability, or
 * KH_ENOTSUP when there is none (or no CUDA build). */
int kh_gpu_probe(char *name, size_t len, double *mem_gib, int *cc_major, int *cc_minor);

/* The card's copy bandwidth in GB/s (bytes read + written per second) from
 * `reps` device-to-device copies of a buffer of `bytes`; 0 on failure. */
double kh_gpu_copy_bandwidth(size_t bytes, int reps);

/* --- (a) The batched Euler ensemble: B independent systems in lockstep, a
 * thread block per trajectory. State per trajectory: h [m], W [m, n], its
 * input v [n] and its parameters. --- */
typedef struct kh_gpu_ens kh_gpu_ens;

kh_gpu_ens *kh_gpu_ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm);
void kh_gpu_ens_free(kh_gpu_ens *e);
/* Uploads h [B, m] and W [B, m, n] (either may be NULL: unchanged). */
int kh_gpu_ens_set_state(kh_gpu_ens *e, const double *h, const double *W);
/* Uploads the inputs v [B, n]. */
int kh_gpu_ens_set_input(kh_gpu_ens *e, const double *v);
/* steps forward Euler steps of size dt for every trajectory. */
int kh_gpu_ens_advance(kh_gpu_ens *e, long steps, double dt);
/* Downloads h [B, m], W [B, m, n] and the moments I, B [B, m] of the current
 * state (any may be NULL). */
int kh_gpu_ens_get(kh_gpu_ens *e, double *h, double *W, double *I, double *Bn);
/* W [m, n] of trajectory t alone. */
int kh_gpu_ens_get_W(kh_gpu_ens *e, long t, double *W);

/* --- (b) The steady state of the neuron dynamics for a whole minibatch:
 * for currents I [nb, m], relaxes tau dh/dt = I - w_inh sum_{nu != mu}
 * r(h_nu) - h from h = 0 with Euler at the step tau / (1 + w_inh (m - 1))
 * (solvers/steady.c's step) until max |tau dh/dt| <= tol, a block per
 * sample; h [nb, m] out, and iters [nb] the steps taken (may be NULL).
 * KH_ENOCONV when some sample needs more than max_iter steps. --- */
int kh_gpu_relax(const double *I, long nb, long m, double w_inh, double tol, long max_iter,
                 double *h, long *iters);

/* --- (c) The fast rule (solvers/kh_fast.h, the paper's switches: ranking,
 * the code 1/-delta and the max-normalised step): cuBLAS for the current
 * product, then a top-k kernel, the row-sparse Delta W and the update. --- */
typedef struct kh_gpu_fast kh_gpu_fast;

/* X [N, n] (uploaded once), W0 [m, n]; p, R, k, delta, min_norm as in the
 * study file; precision KH_PREC_*. */
kh_gpu_fast *kh_gpu_fast_alloc(const double *X, long N, long n, const double *W0, long m,
                               long max_batch, double p, double R, long k, double delta,
                               double min_norm, int precision);
void kh_gpu_fast_free(kh_gpu_fast *f);
/* One minibatch of samples idx [nb] at learning rate eps. */
int kh_gpu_fast_step(kh_gpu_fast *f, const long *idx, long nb, double eps);
/* A whole epoch: the minibatches of order [N] (in place of N / max_batch
 * calls of kh_gpu_fast_step, without a host round trip per minibatch). */
int kh_gpu_fast_epoch(kh_gpu_fast *f, const long *order, double eps);
int kh_gpu_fast_get_W(kh_gpu_fast *f, double *W);
/* The number of units that have been a sample's winner since the last reset
 * into *count; reset != 0 starts a new count. */
int kh_gpu_fast_winners(kh_gpu_fast *f, int reset, long *count);

/* The GPU's learner and ensemble behind solvers/kh_backend.h, or NULL when
 * this khsim was built without CUDA (gpu/stub.c): a run that finds NULL
 * has no GPU to offer. Whether a device is there shows at alloc. */
const kh_learner_backend *kh_gpu_learner_backend(void);
const kh_ensemble_backend *kh_gpu_ensemble_backend(void);

/* The fast rule over groups of rows (the convolutional layers of
 * solvers/kh_conv.h): no data of its own; each step uploads its rows V
 * [nv, n] (nv <= max_rows) in ng <= max_groups (<= 1024) groups, group g
 * ending before row gend[g], ranked over all (row, unit) entries of the
 * group as kh_fast_step_rows does on the CPU. */
kh_gpu_fast *kh_gpu_fast_alloc_rows(long n, const double *W0, long m, long max_rows,
                                    long max_groups, double p, double R, long k, double delta,
                                    double min_norm, int precision);
int kh_gpu_fast_step_rows(kh_gpu_fast *f, const double *V, long nv, const long *gend, long ng,
                          double eps);
/* How many times each unit [m] won a group since the last reset. */
int kh_gpu_fast_win_counts(kh_gpu_fast *f, long *counts, int reset);

#ifdef __cplusplus
}
#endif
#endif
