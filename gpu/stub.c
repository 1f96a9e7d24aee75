/* The GPU API when khsim is built without nvcc (make, not make gpu): every
 * entry says so with KH_ENOTSUP, so `device = auto` falls back to the CPU
 * and `device = cuda` is a clear error. */
#include "core/kh_error.h"
#include "gpu/kh_gpu.h"

#define NO_CUDA "this khsim was built without CUDA (build it with make gpu)"

int kh_gpu_probe(char *name, size_t len, double *mem_gib, int *cc_major, int *cc_minor)
{
    (void)name, (void)len, (void)mem_gib, (void)cc_major, (void)cc_minor;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

double kh_gpu_copy_bandwidth(size_t bytes, int reps)
{
    (void)bytes, (void)reps;
    KH_ERROR(KH_ENOTSUP, NO_CUDA);
    return 0.0;
}

kh_gpu_ens *kh_gpu_ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm)
{
    (void)B, (void)m, (void)n, (void)precision, (void)prm;
    KH_ERROR(KH_ENOTSUP, NO_CUDA);
    return NULL;
}

void kh_gpu_ens_free(kh_gpu_ens *e)
{
    (void)e;
}

int kh_gpu_ens_set_state(kh_gpu_ens *e, const double *h, const double *W)
{
    (void)e, (void)h, (void)W;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_ens_set_input(kh_gpu_ens *e, const double *v)
{
    (void)e, (void)v;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_ens_advance(kh_gpu_ens *e, long steps, double dt)
{
    (void)e, (void)steps, (void)dt;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_ens_get(kh_gpu_ens *e, double *h, double *W, double *I, double *Bn)
{
    (void)e, (void)h, (void)W, (void)I, (void)Bn;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_ens_get_W(kh_gpu_ens *e, long t, double *W)
{
    (void)e, (void)t, (void)W;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_relax(const double *I, long nb, long m, double w_inh, double tol, long max_iter,
                 double *h, long *iters)
{
    (void)I, (void)nb, (void)m, (void)w_inh, (void)tol, (void)max_iter, (void)h, (void)iters;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

kh_gpu_fast *kh_gpu_fast_alloc(const double *X, long N, long n, const double *W0, long m,
                               long max_batch, double p, double R, long k, double delta,
                               double min_norm, int precision)
{
    (void)X, (void)N, (void)n, (void)W0, (void)m, (void)max_batch, (void)p, (void)R, (void)k;
    (void)delta, (void)min_norm, (void)precision;
    KH_ERROR(KH_ENOTSUP, NO_CUDA);
    return NULL;
}

void kh_gpu_fast_free(kh_gpu_fast *f)
{
    (void)f;
}

int kh_gpu_fast_step(kh_gpu_fast *f, const long *idx, long nb, double eps)
{
    (void)f, (void)idx, (void)nb, (void)eps;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_fast_epoch(kh_gpu_fast *f, const long *order, double eps)
{
    (void)f, (void)order, (void)eps;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_fast_get_W(kh_gpu_fast *f, double *W)
{
    (void)f, (void)W;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_fast_winners(kh_gpu_fast *f, int reset, long *count)
{
    (void)f, (void)reset, (void)count;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

kh_gpu_fast *kh_gpu_fast_alloc_rows(long n, const double *W0, long m, long max_rows,
                                    long max_groups, double p, double R, long k, double delta,
                                    double min_norm, int precision)
{
    (void)n, (void)W0, (void)m, (void)max_rows, (void)max_groups, (void)p, (void)R, (void)k;
    (void)delta, (void)min_norm, (void)precision;
    KH_ERROR(KH_ENOTSUP, NO_CUDA);
    return NULL;
}

int kh_gpu_fast_step_rows(kh_gpu_fast *f, const double *V, long nv, const long *gend, long ng,
                          double eps)
{
    (void)f, (void)V, (void)nv, (void)gend, (void)ng, (void)eps;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

int kh_gpu_fast_win_counts(kh_gpu_fast *f, long *counts, int reset)
{
    (void)f, (void)counts, (void)reset;
    return KH_ERROR(KH_ENOTSUP, NO_CUDA);
}

const kh_learner_backend *kh_gpu_learner_backend(void)
{
    return NULL;
}

const kh_ensemble_backend *kh_gpu_ensemble_backend(void)
{
    return NULL;
}
