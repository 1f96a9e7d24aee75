/* Per-element arithmetic of the Krotov-Hopfield network, shared by the CPU
 * code (models/, solvers/) and the CUDA kernels (gpu/\*.cu).
 *
 * Every function is KH_HD static inline, takes only scalars and raw
 * pointers, and is valid C11 and C++17 (make test compiles this header as
 * C++17). Symbols follow README, "The model":
 *   I_mu = sum_i sgn(W_mui) |W_mui|^(p-1) v_i      (input current)
 *   B_mu = sum_i |W_mui|^p                          (p-th power of the p-norm)
 *   <v,v>_mu = sum_i |W_mui|^(p-2) v_i^2            (p-inner product of v)
 *   tau dh/dt = I - w_inh sum_{nu != mu} r(h_nu) - h
 *   tau_L dW_mui/dt = a_mu v_i - b_mu W_mui          (a = g R^p, b = g I for KH)
 * Reference: D. Krotov and J. J. Hopfield, PNAS 116:7723 (2019). */
#ifndef KH_KERNELS_H
#define KH_KERNELS_H

#include <math.h>

#ifdef __CUDACC__
#define KH_HD __host__ __device__
#else
#define KH_HD
#endif

/* Learning activations, in the order of the study file's learning.g. */
#define KH_K_BCM_STEP 0
#define KH_K_LINEAR 1
#define KH_K_POWER 2

/* The functions that exist in double and float (core/kh_kernels_real.h):
 * kh_abspow, kh_signed_pow, kh_moment_elem, kh_relu, kh_g, kh_G, kh_q,
 * kh_dhdt, kh_dw_elem, kh_dw_row, kh_dL_term, kh_euler_axpy,
 * kh_unit_coefficients, kh_fast_dw, kh_rank_above, kh_topk_offer, kh_topk_init,
 * kh_topk_of; the float ones end in _f. */
#if defined(__GNUC__) && !defined(__CUDACC__)
#define KH_INLINE __attribute__((always_inline))
#else
#define KH_INLINE
#endif

/* kh_int_exponent's code for an exponent k + 1/2 is KH_HALF_EXPONENT + k. */
#define KH_HALF_EXPONENT 8

#define KH_R double
#define KH_S(name) name
#define KH_C(x) x
#define KH_FABS fabs
#define KH_POW pow
#define KH_SQRT sqrt
#define KH_COPYSIGN copysign
#include "core/kh_kernels_real.h"
#undef KH_R
#undef KH_S
#undef KH_C
#undef KH_FABS
#undef KH_POW
#undef KH_SQRT
#undef KH_COPYSIGN

#define KH_R float
#define KH_S(name) name##_f
#define KH_C(x) x##f
#define KH_FABS fabsf
#define KH_POW powf
#define KH_SQRT sqrtf
#define KH_COPYSIGN copysignf
#include "core/kh_kernels_real.h"
#undef KH_R
#undef KH_S
#undef KH_C
#undef KH_FABS
#undef KH_POW
#undef KH_SQRT
#undef KH_COPYSIGN

/* The integer form of an exponent for kh_abspow: e itself if it is an
 * integer in 0..4, KH_HALF_EXPONENT + k if it is k + 1/2 with k in 0..4
 * (|x|^e is then |x|^k sqrt|x|, not pow), else -1. */
KH_HD static inline int kh_int_exponent(double e)
{
    if (e >= 0.0 && e <= 4.0 && e == floor(e)) {
        return (int)e;
    }
    if (e > 0.0 && e < 5.0 && e - 0.5 == floor(e)) {
        return KH_HALF_EXPONENT + (int)floor(e);
    }
    return -1;
}

/* Hot CPU loops are compiled twice, for AVX2 and for any x86-64, and the
 * loader picks the one the processor runs (GCC's function multiversioning);
 * elsewhere this is empty. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define KH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define KH_CLONES
#endif

#if defined(__CUDA_ARCH__) || !defined(_OPENMP)
#define KH_SIMD_SUM3
#define KH_SIMD_SUM2
#else
/* A vectorised sum of si, sb, sv. Its order is fixed by the build (the vector width), not
 * by the thread count: each row is summed by one thread. */
#define KH_SIMD_SUM3 _Pragma("omp simd reduction(+ : si, sb, sv)")
#define KH_SIMD_SUM2 _Pragma("omp simd reduction(+ : si, sb)")
#endif

/* The body of the row moments for one form of |w|^(p-2) (EXPR of a = |w|),
 * with the weight W_EXPR of element i and VV the statement that accumulates
 * <v,v>_mu, or nothing. */
#define KH_MOMENTS_LOOP(W_EXPR, EXPR, VV, SIMD)                                                    \
    SIMD for (long i = 0; i < n; i++)                                                              \
    {                                                                                              \
        double wi = (W_EXPR);                                                                      \
        double a = fabs(wi);                                                                       \
        double a2 = (EXPR); /* |w|^(p-2) */                                                        \
        double ti, tb;                                                                             \
        (void)a;                                                                                   \
        kh_moment_elem(wi, v[i], a2, &ti, &tb);                                                    \
        si += ti;                                                                                  \
        sb += tb;                                                                                  \
        VV;                                                                                        \
    }

/* The exponent dispatch of the row moments, once per row, on ip2 =
 * kh_int_exponent(p2): the integer forms, and p = 2.5 and 3.5 by a square
 * root (it vectorises; pow does not: the p = 2.5 path of solvers/moments.c
 * spent most of its time in pow). */
#define KH_MOMENTS_DISPATCH(W_EXPR, VV, SIMD)                                                      \
    switch (ip2) {                                                                                 \
    case 0:                                                                                        \
        KH_MOMENTS_LOOP(W_EXPR, 1.0, VV, SIMD)                                                     \
        break;                                                                                     \
    case 1:                                                                                        \
        KH_MOMENTS_LOOP(W_EXPR, a, VV, SIMD)                                                       \
        break;                                                                                     \
    case 2:                                                                                        \
        KH_MOMENTS_LOOP(W_EXPR, a *a, VV, SIMD)                                                    \
        break;                                                                                     \
    case KH_HALF_EXPONENT:                                                                         \
        KH_MOMENTS_LOOP(W_EXPR, sqrt(a), VV, SIMD)                                                 \
        break;                                                                                     \
    case KH_HALF_EXPONENT + 1:                                                                     \
        KH_MOMENTS_LOOP(W_EXPR, a *sqrt(a), VV, SIMD)                                              \
        break;                                                                                     \
    default:                                                                                       \
        KH_MOMENTS_LOOP(W_EXPR, pow(a, p2), VV, SIMD)                                              \
        break;                                                                                     \
    }

/* One row's I, B and <v,v>_mu. p2 = p - 2 and its integer form ip2 (see
 * kh_int_exponent); vv may be NULL when not wanted (the loop then skips it). */
KH_HD KH_INLINE static inline void kh_row_moments(const double *w, const double *v, long n,
                                                  double p2, int ip2, double *I, double *B,
                                                  double *vv)
{
    double si = 0.0, sb = 0.0, sv = 0.0;
    if (vv) {
        KH_MOMENTS_DISPATCH(w[i], sv += a2 * v[i] * v[i], KH_SIMD_SUM3)
        *vv = sv;
    } else {
        KH_MOMENTS_DISPATCH(w[i], (void)0, KH_SIMD_SUM2)
    }
    *I = si;
    *B = sb;
}

/* The same for the row alpha w0 + beta v, without forming it (the weights of
 * a Runge-Kutta stage in the basis {W_mu(t0), v}; solvers/dopri5.c). */
KH_HD KH_INLINE static inline void kh_row_moments_affine(const double *w0, const double *v, long n,
                                                         double alpha, double beta, double p2,
                                                         int ip2, double *I, double *B)
{
    double si = 0.0, sb = 0.0;
    KH_MOMENTS_DISPATCH(alpha * w0[i] + beta * v[i], (void)0, KH_SIMD_SUM2)
    *I = si;
    *B = sb;
}

/* The same with <v,v>_mu = sum_i |w_i|^(p-2) v_i^2 as well (solvers/moments.c). */
KH_HD KH_INLINE static inline void kh_row_moments_affine_vv(const double *w0, const double *v,
                                                            long n, double alpha, double beta,
                                                            double p2, int ip2, double *I,
                                                            double *B, double *vv)
{
    double si = 0.0, sb = 0.0, sv = 0.0;
    KH_MOMENTS_DISPATCH(alpha * w0[i] + beta * v[i], sv += a2 * v[i] * v[i], KH_SIMD_SUM3)
    *I = si;
    *B = sb;
    *vv = sv;
}

/* w <- alpha w + beta v. */
KH_HD KH_INLINE static inline void kh_row_affine(double *w, const double *v, long n, double alpha,
                                                 double beta)
{
    for (long i = 0; i < n; i++) {
        w[i] = alpha * w[i] + beta * v[i];
    }
}

/* d I / d W_i = (p-1) |W_i|^(p-2) v_i. */
KH_HD static inline double kh_dI_dw(double w, double v, double p, double p2, int ip2)
{
    return (p - 1.0) * kh_abspow(w, p2, ip2) * v;
}

/* d B / d W_i = p sgn(W_i) |W_i|^(p-1). */
KH_HD static inline double kh_dB_dw(double w, double p, double p2, int ip2)
{
    double a1 = kh_abspow(w, p2, ip2) * fabs(w);
    return p * (w < 0.0 ? -a1 : a1);
}

/* g'(x), taken as 0 at the jumps of bcm_step. */
KH_HD static inline double kh_dg(int kind, double x, double delta, double h_star, double n)
{
    (void)delta;
    (void)h_star;
    switch (kind) {
    case KH_K_BCM_STEP:
        return 0.0;
    case KH_K_LINEAR:
        return 1.0;
    default:
        return x > 0.0 ? n * pow(x, n - 1.0) : 0.0;
    }
}

#endif
