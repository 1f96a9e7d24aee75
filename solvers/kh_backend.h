/* The two kinds of work that run on the CPU or on a GPU, each behind one
 * table of functions, so that a run picks a device once and then calls the
 * same functions whatever it picked:
 *   - a learner: the fast rule over a data set (solvers/kh_fast.h);
 *   - an ensemble: batched forward Euler of B trajectories (solvers/kh_euler.h).
 * The CPU's instances are in solvers/ (kh_fast_cpu_backend in fast.c,
 * kh_ens_cpu_backend in euler.c); the GPU's in gpu/kh_gpu.cu, reached through
 * gpu/kh_gpu.h (kh_gpu_learner_backend(), NULL when built without CUDA). The
 * per-element arithmetic of both is core/kh_kernels.h. Every function that
 * returns int returns a KH_* code; alloc returns NULL + KH_ERROR. */
#ifndef KH_BACKEND_H
#define KH_BACKEND_H

#include "core/kh_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_learner_backend {
    const char *name; /* "cpu", "cuda" */
    /* KH_OK when it can run study p's rule, else why (KH_ENOTSUP). */
    int (*usable)(const kh_params *p);
    /* The data X [N, n] (n = p->n_visible), W0 [m, n], minibatches of at
     * most max_batch samples; p is borrowed and must outlive the learner. */
    void *(*alloc)(const kh_params *p, const double *X, long N, const double *W0, long max_batch);
    /* One minibatch of the samples idx [nb] at learning rate eps. */
    int (*step)(void *L, const long *idx, long nb, double eps);
    /* Optional: the minibatches of max_batch samples of order [N] at once. */
    int (*epoch)(void *L, const long *order, double eps);
    /* The weights as double [m, n]. */
    int (*get_W)(void *L, double *W);
    /* The units that have won a sample since the last reset. */
    int (*winners)(void *L, int reset, long *count);
    /* Optional: floating-point operations of the last step (else 2 nb m n). */
    double (*flops)(const void *L);
    /* Optional: sample b of the last step's currents and activities [m],
     * and every unit's B = sum |W|^p [m]; NULL: the caller computes them
     * from W. */
    void (*last)(const void *L, long b, double *current, double *activity, double *B);
    void (*release)(void *L);
} kh_learner_backend;

typedef struct kh_ensemble_backend {
    const char *name;
    /* B trajectories of m units and n inputs in precision KH_PREC_*; prm
     * [B] is copied. */
    void *(*alloc)(long B, long m, long n, int precision, const kh_ens_params *prm);
    /* h [B, m] and W [B, m, n] (either may be NULL: unchanged). */
    int (*set_state)(void *e, const double *h, const double *W);
    /* The inputs v [B, n]. */
    int (*set_input)(void *e, const double *v);
    /* steps Euler steps of dt for every trajectory. */
    int (*advance)(void *e, long steps, double dt);
    /* h [B, m], W [B, m, n], I and B [B, m] (any may be NULL). */
    int (*get)(void *e, double *h, double *W, double *I, double *Bn);
    /* W [m, n] of trajectory t. */
    int (*get_W)(void *e, long t, double *W);
    void (*release)(void *e);
} kh_ensemble_backend;

extern const kh_learner_backend kh_fast_cpu_backend;
extern const kh_ensemble_backend kh_ens_cpu_backend;

#ifdef __cplusplus
}
#endif
#endif
