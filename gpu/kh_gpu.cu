/* The CUDA kernels of khsim (API in kh_gpu.h): (a) the batched Euler
 * ensemble, a thread block per trajectory; (b) the relaxation of a
 * minibatch's neuron dynamics to steady state, a block per sample; (c) the
 * fast rule: cuBLAS for the currents, a top-k kernel, the row-sparse Delta W
 * and the max-normalised update.
 *
 * Every per-unit and per-element expression is a function of kh_kernels.h,
 * the ones solvers/euler.c, solvers/steady.c and solvers/fast.c call; the
 * overloads below only pick the double or the float one. Reductions run in
 * a fixed order per launch configuration (so a run repeats bit for bit), but
 * their order differs from the CPU's: the two agree to rounding, which
 * gpu/check.sh measures. */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_types.h"
#include "gpu/kh_gpu.h"

#define THREADS 256
#define WARP 32
/* The largest learning.k the GPU's ranking keeps in registers. */
#define KH_GPU_KMAX 8

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            return KH_ERROR(KH_EGPU, "%s: %s", #call, cudaGetErrorString(e_));                     \
        }                                                                                          \
    } while (0)

#define CK_LAUNCH(what)                                                                            \
    do {                                                                                           \
        cudaError_t e_ = cudaGetLastError();                                                       \
        if (e_ != cudaSuccess) {                                                                   \
            return KH_ERROR(KH_EGPU, "launch of %s: %s", what, cudaGetErrorString(e_));            \
        }                                                                                          \
    } while (0)

/* --- The kh_kernels.h functions of each precision, by overload --- */
__device__ inline double abspow(double x, double e, int ie)
{
    return kh_abspow(x, e, ie);
}
__device__ inline float abspow(float x, float e, int ie)
{
    return kh_abspow_f(x, e, ie);
}
__device__ inline double signed_pow(double x, double e, int ie)
{
    return kh_signed_pow(x, e, ie);
}
__device__ inline float signed_pow(float x, float e, int ie)
{
    return kh_signed_pow_f(x, e, ie);
}
__device__ inline void moment_elem(double w, double v, double a2, double *ti, double *tb)
{
    kh_moment_elem(w, v, a2, ti, tb);
}
__device__ inline void moment_elem(float w, float v, float a2, float *ti, float *tb)
{
    kh_moment_elem_f(w, v, a2, ti, tb);
}
__device__ inline double relu(double x)
{
    return kh_relu(x);
}
__device__ inline float relu(float x)
{
    return kh_relu_f(x);
}
__device__ inline double dhdt(double I, double h, double S, double w, double tau)
{
    return kh_dhdt(I, h, S, w, tau);
}
__device__ inline float dhdt(float I, float h, float S, float w, float tau)
{
    return kh_dhdt_f(I, h, S, w, tau);
}
__device__ inline double euler_w(double w, double v, double a, double b, double inv, double dt)
{
    return kh_euler_w(w, v, a, b, inv, dt);
}
__device__ inline float euler_w(float w, float v, float a, float b, float inv, float dt)
{
    return kh_euler_w_f(w, v, a, b, inv, dt);
}
__device__ inline void unit_coefficients(double h, double I, double B, const kh_ens_params &q,
                                         double Rp, double *a, double *b)
{
    kh_unit_coefficients(h, I, B, q.drive_q, q.g, q.p, Rp, q.delta, q.h_star, q.g_n, a, b);
}
__device__ inline void unit_coefficients(float h, float I, float B, const kh_ens_params &q,
                                         float Rp, float *a, float *b)
{
    kh_unit_coefficients_f(h, I, B, q.drive_q, q.g, (float)q.p, Rp, (float)q.delta, (float)q.h_star,
                           (float)q.g_n, a, b);
}
__device__ inline double fast_dw(double w, double gv, double gI, double Rp)
{
    return kh_fast_dw(w, gv, gI, Rp);
}
__device__ inline float fast_dw(float w, float gv, float gI, float Rp)
{
    return kh_fast_dw_f(w, gv, gI, Rp);
}
__device__ inline void topk_offer(double *top, long *idx, long k, double c, long mu)
{
    kh_topk_offer(top, idx, k, c, mu);
}
__device__ inline void topk_offer(float *top, long *idx, long k, float c, long mu)
{
    kh_topk_offer_f(top, idx, k, c, mu);
}
__device__ inline void topk_init(double *top, long *idx, long k)
{
    kh_topk_init(top, idx, k);
}
__device__ inline void topk_init(float *top, long *idx, long k)
{
    kh_topk_init_f(top, idx, k);
}

/* --- Block reductions in a fixed order --- */
template <typename T> __device__ T warp_sum(T x)
{
    for (int o = WARP / 2; o > 0; o /= 2) {
        x += __shfl_down_sync(0xffffffffu, x, o);
    }
    return x;
}

template <typename T> __device__ T warp_max(T x)
{
    for (int o = WARP / 2; o > 0; o /= 2) {
        T y = __shfl_down_sync(0xffffffffu, x, o);
        x = y > x ? y : x;
    }
    return x;
}

/* The sum (or max) over the block; every thread gets it. `sh` holds
 * THREADS / WARP values. Ends with a barrier. */
template <typename T> __device__ T block_sum(T x, T *sh)
{
    x = warp_sum(x);
    if (threadIdx.x % WARP == 0) {
        sh[threadIdx.x / WARP] = x;
    }
    __syncthreads();
    T s = 0;
    for (int w = 0; w < (int)(blockDim.x / WARP); w++) {
        s += sh[w];
    }
    __syncthreads();
    return s;
}

template <typename T> __device__ T block_max(T x, T *sh)
{
    x = warp_max(x);
    if (threadIdx.x % WARP == 0) {
        sh[threadIdx.x / WARP] = x;
    }
    __syncthreads();
    T s = sh[0];
    for (int w = 1; w < (int)(blockDim.x / WARP); w++) {
        s = sh[w] > s ? sh[w] : s;
    }
    __syncthreads();
    return s;
}

int kh_gpu_probe(char *name, size_t len, double *mem_gib, int *cc_major, int *cc_minor)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        return KH_ERROR(KH_ENOTSUP, "no CUDA device (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    snprintf(name, len, "%s", prop.name);
    *mem_gib = (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0);
    *cc_major = prop.major;
    *cc_minor = prop.minor;
    return KH_OK;
}

double kh_gpu_copy_bandwidth(size_t bytes, int reps)
{
    void *a = NULL, *b = NULL;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
        cudaFree(a);
        return 0.0;
    }
    cudaMemset(a, 1, bytes);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); /* warm-up */
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaEventRecord(e0);
    for (int r = 0; r < reps; r++) {
        cudaMemcpy(r % 2 ? a : b, r % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice);
    }
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    return ms > 0.0f ? 2.0 * (double)bytes * reps / ((double)ms * 1e-3) * 1e-9 : 0.0;
}

/* ===================== (a) the batched Euler ensemble ===================== */

/* I and B of every row of trajectory blockIdx.x, a warp per row. */
template <typename R>
__global__ void ens_moments(const R *W, const R *v, R *I, R *Bn, const kh_ens_params *prm, long m,
                            long n)
{
    const long t = blockIdx.x;
    const kh_ens_params q = prm[t];
    const R p2 = (R)(q.p - 2.0);
    const int ip2 = kh_int_exponent(q.p - 2.0);
    const R *Wt = W + (size_t)t * m * n, *vt = v + (size_t)t * n;
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, nw = blockDim.x / WARP;
    for (long mu = warp; mu < m; mu += nw) {
        R si = 0, sb = 0;
        for (long i = lane; i < n; i += WARP) {
            R w = Wt[mu * n + i], ti, tb;
            moment_elem(w, vt[i], abspow(w, p2, ip2), &ti, &tb);
            si += ti;
            sb += tb;
        }
        si = warp_sum(si);
        sb = warp_sum(sb);
        if (lane == 0) {
            I[(size_t)t * m + mu] = si;
            Bn[(size_t)t * m + mu] = sb;
        }
    }
}

/* `steps` Euler steps of trajectory blockIdx.x: per step, S = sum r(h) over
 * the block, the unit phase (a, b from the step's start, then h), then a warp
 * per row: W += dt (a v - b W) / tau_L and the new row's I and B. */
template <typename R>
__global__ void ens_steps(R *h, R *W, const R *v, R *I, R *Bn, R *a, R *b, const kh_ens_params *prm,
                          long m, long n, long steps, R dt)
{
    __shared__ R sh[THREADS / WARP];
    const long t = blockIdx.x;
    const kh_ens_params q = prm[t];
    const R p2 = (R)(q.p - 2.0), Rp = (R)pow(q.R, q.p), inv = (R)(1.0 / q.tau_L);
    const int ip2 = kh_int_exponent(q.p - 2.0);
    R *ht = h + (size_t)t * m, *It = I + (size_t)t * m, *Bt = Bn + (size_t)t * m;
    R *at = a + (size_t)t * m, *bt = b + (size_t)t * m, *Wt = W + (size_t)t * m * n;
    const R *vt = v + (size_t)t * n;
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, nw = blockDim.x / WARP;
    for (long k = 0; k < steps; k++) {
        R s = 0;
        for (long mu = threadIdx.x; mu < m; mu += blockDim.x) {
            s += relu(ht[mu]);
        }
        const R S = block_sum(s, sh);
        for (long mu = threadIdx.x; mu < m; mu += blockDim.x) {
            unit_coefficients(ht[mu], It[mu], Bt[mu], q, Rp, &at[mu], &bt[mu]);
            ht[mu] += dt * dhdt(It[mu], ht[mu], S, (R)q.w_inh, (R)q.tau);
        }
        __syncthreads();
        for (long mu = warp; mu < m; mu += nw) {
            const R am = at[mu], bm = bt[mu];
            R si = 0, sb = 0;
            R *wr = Wt + mu * n;
            long i = lane;
            /* Four coalesced loads in flight per lane, then the rest. */
            for (; i + 3 * WARP < n; i += 4 * WARP) {
                R w[4], x[4];
                for (int u = 0; u < 4; u++) {
                    w[u] = wr[i + u * WARP];
                    x[u] = vt[i + u * WARP];
                }
                for (int u = 0; u < 4; u++) {
                    R ti, tb;
                    w[u] = euler_w(w[u], x[u], am, bm, inv, dt);
                    moment_elem(w[u], x[u], abspow(w[u], p2, ip2), &ti, &tb);
                    si += ti;
                    sb += tb;
                }
                for (int u = 0; u < 4; u++) {
                    wr[i + u * WARP] = w[u];
                }
            }
            for (; i < n; i += WARP) {
                R w = euler_w(wr[i], vt[i], am, bm, inv, dt), ti, tb;
                wr[i] = w;
                moment_elem(w, vt[i], abspow(w, p2, ip2), &ti, &tb);
                si += ti;
                sb += tb;
            }
            si = warp_sum(si);
            sb = warp_sum(sb);
            if (lane == 0) {
                It[mu] = si;
                Bt[mu] = sb;
            }
        }
        __syncthreads();
    }
}

struct kh_gpu_ens {
    long B, m, n;
    int fl; /* float */
    void *h, *W, *v, *I, *Bn, *a, *b;
    kh_ens_params *prm;
    void *host; /* staging, B m n values of the precision */
};

void kh_gpu_ens_free(kh_gpu_ens *e)
{
    if (!e) {
        return;
    }
    cudaFree(e->h);
    cudaFree(e->W);
    cudaFree(e->v);
    cudaFree(e->I);
    cudaFree(e->Bn);
    cudaFree(e->a);
    cudaFree(e->b);
    cudaFree(e->prm);
    free(e->host);
    free(e);
}

kh_gpu_ens *kh_gpu_ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm)
{
    char name[256];
    double mem;
    int ma, mi;
    if (kh_gpu_probe(name, sizeof name, &mem, &ma, &mi) != KH_OK) {
        return NULL;
    }
    kh_gpu_ens *e = (kh_gpu_ens *)calloc(1, sizeof *e);
    if (!e) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the GPU ensemble");
        return NULL;
    }
    e->B = B;
    e->m = m;
    e->n = n;
    e->fl = precision == KH_PREC_FLOAT;
    const size_t r = e->fl ? sizeof(float) : sizeof(double);
    const size_t bm = (size_t)B * m, bmn = bm * n;
    cudaError_t st = cudaSuccess;
    void **bufs[] = {&e->h, &e->W, &e->v, &e->I, &e->Bn, &e->a, &e->b};
    size_t sizes[] = {bm, bmn, (size_t)B * n, bm, bm, bm, bm};
    for (int i = 0; i < 7 && st == cudaSuccess; i++) {
        st = cudaMalloc(bufs[i], sizes[i] * r);
    }
    if (st == cudaSuccess) {
        st = cudaMalloc((void **)&e->prm, (size_t)B * sizeof *prm);
    }
    if (st == cudaSuccess) {
        st = cudaMemcpy(e->prm, prm, (size_t)B * sizeof *prm, cudaMemcpyHostToDevice);
    }
    e->host = malloc(bmn * r);
    if (st != cudaSuccess || !e->host) {
        KH_ERROR(st != cudaSuccess ? KH_EGPU : KH_ENOMEM,
                 "cannot allocate a GPU ensemble of %ld x %ld x %ld: %s", B, m, n,
                 cudaGetErrorString(st));
        kh_gpu_ens_free(e);
        return NULL;
    }
    return e;
}

/* Converts len doubles into the precision of e and uploads them to dst. */
static int upload(kh_gpu_ens *e, void *dst, const double *src, size_t len)
{
    if (e->fl) {
        float *f = (float *)e->host;
        for (size_t i = 0; i < len; i++) {
            f[i] = (float)src[i];
        }
        CK(cudaMemcpy(dst, f, len * sizeof(float), cudaMemcpyHostToDevice));
    } else {
        CK(cudaMemcpy(dst, src, len * sizeof(double), cudaMemcpyHostToDevice));
    }
    return KH_OK;
}

static int download(kh_gpu_ens *e, double *dst, const void *src, size_t len)
{
    if (e->fl) {
        float *f = (float *)e->host;
        CK(cudaMemcpy(f, src, len * sizeof(float), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < len; i++) {
            dst[i] = (double)f[i];
        }
    } else {
        CK(cudaMemcpy(dst, src, len * sizeof(double), cudaMemcpyDeviceToHost));
    }
    return KH_OK;
}

static int ens_refresh_moments(kh_gpu_ens *e)
{
    if (e->fl) {
        ens_moments<float><<<e->B, THREADS>>>((const float *)e->W, (const float *)e->v,
                                              (float *)e->I, (float *)e->Bn, e->prm, e->m, e->n);
    } else {
        ens_moments<double><<<e->B, THREADS>>>((const double *)e->W, (const double *)e->v,
                                               (double *)e->I, (double *)e->Bn, e->prm, e->m, e->n);
    }
    CK_LAUNCH("ens_moments");
    return KH_OK;
}

int kh_gpu_ens_set_state(kh_gpu_ens *e, const double *h, const double *W)
{
    int s;
    if (h && (s = upload(e, e->h, h, (size_t)e->B * e->m)) != KH_OK) {
        return s;
    }
    if (W && (s = upload(e, e->W, W, (size_t)e->B * e->m * e->n)) != KH_OK) {
        return s;
    }
    return ens_refresh_moments(e);
}

int kh_gpu_ens_set_input(kh_gpu_ens *e, const double *v)
{
    int s = upload(e, e->v, v, (size_t)e->B * e->n);
    return s != KH_OK ? s : ens_refresh_moments(e);
}

int kh_gpu_ens_advance(kh_gpu_ens *e, long steps, double dt)
{
    if (e->fl) {
        ens_steps<float><<<e->B, THREADS>>>((float *)e->h, (float *)e->W, (const float *)e->v,
                                            (float *)e->I, (float *)e->Bn, (float *)e->a,
                                            (float *)e->b, e->prm, e->m, e->n, steps, (float)dt);
    } else {
        ens_steps<double><<<e->B, THREADS>>>((double *)e->h, (double *)e->W, (const double *)e->v,
                                             (double *)e->I, (double *)e->Bn, (double *)e->a,
                                             (double *)e->b, e->prm, e->m, e->n, steps, dt);
    }
    CK_LAUNCH("ens_steps");
    CK(cudaDeviceSynchronize());
    return KH_OK;
}

int kh_gpu_ens_get(kh_gpu_ens *e, double *h, double *W, double *I, double *Bn)
{
    const size_t bm = (size_t)e->B * e->m;
    int s = KH_OK;
    if (h && (s = download(e, h, e->h, bm)) != KH_OK) {
        return s;
    }
    if (W && (s = download(e, W, e->W, bm * e->n)) != KH_OK) {
        return s;
    }
    if (I && (s = download(e, I, e->I, bm)) != KH_OK) {
        return s;
    }
    if (Bn && (s = download(e, Bn, e->Bn, bm)) != KH_OK) {
        return s;
    }
    return KH_OK;
}

int kh_gpu_ens_get_W(kh_gpu_ens *e, long t, double *W)
{
    if (t < 0 || t >= e->B) {
        return KH_ERROR(KH_EINVAL, "trajectory %ld of an ensemble of %ld", t, e->B);
    }
    const size_t mn = (size_t)e->m * e->n;
    const size_t r = e->fl ? sizeof(float) : sizeof(double);
    return download(e, W, (const char *)e->W + (size_t)t * mn * r, mn);
}

/* ============== (b) the minibatch relaxation to steady state ============== */

__global__ void relax_kernel(const double *I, long m, double w_inh, double tol, long max_iter,
                             double *h, long *iters)
{
    __shared__ double sh[THREADS / WARP];
    const long s = blockIdx.x;
    const double *Is = I + (size_t)s * m;
    double *hs = h + (size_t)s * m;
    const double dt = kh_relax_dt(w_inh, m);
    for (long mu = threadIdx.x; mu < m; mu += blockDim.x) {
        hs[mu] = 0.0;
    }
    __syncthreads();
    long it = 0;
    for (;;) {
        double x = 0.0;
        for (long mu = threadIdx.x; mu < m; mu += blockDim.x) {
            x += kh_relu(hs[mu]);
        }
        const double S = block_sum(x, sh);
        double r = 0.0;
        for (long mu = threadIdx.x; mu < m; mu += blockDim.x) {
            r = fmax(r, fabs(kh_relax_rate(hs[mu], Is[mu], S, w_inh)));
        }
        r = block_max(r, sh);
        if (r <= tol || it >= max_iter) {
            break;
        }
        for (long mu = threadIdx.x; mu < m; mu += blockDim.x) {
            hs[mu] = kh_relax_step(hs[mu], Is[mu], S, w_inh, dt);
        }
        __syncthreads();
        it++;
    }
    if (threadIdx.x == 0) {
        iters[s] = it;
    }
}

int kh_gpu_relax(const double *I, long nb, long m, double w_inh, double tol, long max_iter,
                 double *h, long *iters)
{
    char name[256];
    double mem;
    int ma, mi;
    int st = kh_gpu_probe(name, sizeof name, &mem, &ma, &mi);
    if (st != KH_OK) {
        return st;
    }
    double *dI = NULL, *dh = NULL;
    long *dit = NULL;
    long *hit = (long *)malloc((size_t)nb * sizeof(long));
    cudaError_t e = cudaMalloc((void **)&dI, (size_t)nb * m * sizeof(double));
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&dh, (size_t)nb * m * sizeof(double));
    }
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&dit, (size_t)nb * sizeof(long));
    }
    if (e == cudaSuccess) {
        e = cudaMemcpy(dI, I, (size_t)nb * m * sizeof(double), cudaMemcpyHostToDevice);
    }
    if (e == cudaSuccess && hit) {
        relax_kernel<<<nb, THREADS>>>(dI, m, w_inh, tol, max_iter, dh, dit);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess && hit) {
        e = cudaMemcpy(h, dh, (size_t)nb * m * sizeof(double), cudaMemcpyDeviceToHost);
    }
    if (e == cudaSuccess && hit) {
        e = cudaMemcpy(hit, dit, (size_t)nb * sizeof(long), cudaMemcpyDeviceToHost);
    }
    cudaFree(dI);
    cudaFree(dh);
    cudaFree(dit);
    if (e != cudaSuccess || !hit) {
        free(hit);
        return e != cudaSuccess ? KH_ERROR(KH_EGPU, "relaxation: %s", cudaGetErrorString(e))
                                : KH_ERROR(KH_ENOMEM, "relaxation of %ld samples", nb);
    }
    st = KH_OK;
    for (long s = 0; s < nb; s++) {
        if (iters) {
            iters[s] = hit[s];
        }
        if (hit[s] >= max_iter && st == KH_OK) {
            st = KH_ERROR(KH_ENOCONV, "steady state of sample %ld not reached after %ld steps", s,
                          max_iter);
        }
    }
    free(hit);
    return st;
}

/* =========================== (c) the fast rule =========================== */

template <typename R> __global__ void fast_gather(R *Vb, const R *X, const long *idx, long n)
{
    const long b = blockIdx.x;
    const R *x = X + (size_t)idx[b] * n;
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
        Vb[(size_t)b * n + i] = x[i];
    }
}

/* The k largest of the entries C[e0 .. e1) of this block, offered as index
 * e - base: each thread ranks its share, thread 0 merges the lists
 * (kh_topk_offer both times, ties to the lower index, so the result is the
 * CPU's) into top and idx; only thread 0's are the block's. */
template <typename R>
__device__ void block_topk(const R *C, long e0, long e1, long base, long k, R *top, long *idx)
{
    __shared__ R tv[THREADS * KH_GPU_KMAX];
    __shared__ long ti[THREADS * KH_GPU_KMAX];
    topk_init(top, idx, k);
    for (long e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
        topk_offer(top, idx, k, C[e], e - base);
    }
    for (long j = 0; j < k; j++) {
        tv[threadIdx.x * k + j] = top[j];
        ti[threadIdx.x * k + j] = idx[j];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        topk_init(top, idx, k);
        for (long q = 0; q < (long)blockDim.x * k; q++) {
            if (ti[q] >= 0) {
                topk_offer(top, idx, k, tv[q], ti[q]);
            }
        }
    }
}

/* The top and k-th unit of sample blockIdx.x. */
template <typename R>
__global__ void fast_topk(const R *C, long m, long k, long *crow, unsigned char *touched,
                          unsigned char *won)
{
    const long b = blockIdx.x;
    R top[KH_GPU_KMAX];
    long idx[KH_GPU_KMAX];
    block_topk(C, b * m, (b + 1) * m, b * m, k, top, idx);
    if (threadIdx.x == 0) {
        crow[2 * b] = idx[0];
        crow[2 * b + 1] = idx[k - 1];
        if (idx[0] >= 0) {
            touched[idx[0]] = 1;
            won[idx[0]] = 1;
        }
        if (idx[k - 1] >= 0) {
            touched[idx[k - 1]] = 1;
        }
    }
}

/* The top and k-th entry of group blockIdx.x of rows [gend[g-1], gend[g])
 * (its rows' currents ranked together over rows x units, entry e = row m +
 * unit, ties to the lower e as on the CPU): each entry's unit into crow and
 * its row into cvrow; wins counts each unit's wins. */
template <typename R>
__global__ void fast_topk_groups(const R *C, long m, long k, const long *gend, long *crow,
                                 long *cvrow, unsigned char *touched, unsigned char *won,
                                 unsigned long long *wins)
{
    const long g = blockIdx.x;
    R top[KH_GPU_KMAX];
    long idx[KH_GPU_KMAX];
    block_topk(C, (g ? gend[g - 1] : 0) * m, gend[g] * m, 0, k, top, idx);
    if (threadIdx.x == 0) {
        const long pick[2] = {idx[0], idx[k - 1]};
        for (int j = 0; j < 2; j++) {
            crow[2 * g + j] = pick[j] < 0 ? -1 : pick[j] % m;
            cvrow[2 * g + j] = pick[j] < 0 ? -1 : pick[j] / m;
            if (pick[j] >= 0) {
                touched[pick[j] % m] = 1;
            }
        }
        if (pick[0] >= 0) {
            won[pick[0] % m] = 1;
            atomicAdd(&wins[pick[0] % m], 1ULL);
        }
    }
}

/* Delta W of row blockIdx.x when some sample touched it: its contributions
 * in sample order (as the CPU's lists), then per element kh_fast_dw, and
 * the row's max |Delta W| into rowmax (0 for an untouched row). */
template <typename R>
__global__ void fast_delta(const R *W, const R *Vb, const R *C, const long *crow, const long *cvrow,
                           long nb, long m, long n, R delta, R Rp, const unsigned char *touched,
                           R *dW, R *rowmax)
{
    __shared__ long cb[2 * 1024];
    __shared__ R cg[2 * 1024];
    __shared__ int nc;
    __shared__ R gI, sh[THREADS / WARP];
    const long mu = blockIdx.x;
    if (!touched[mu]) {
        if (threadIdx.x == 0) {
            rowmax[mu] = 0;
        }
        return;
    }
    if (threadIdx.x == 0) {
        int c = 0;
        R s = 0;
        for (long q = 0; q < 2 * nb; q++) {
            if (crow[q] == mu) {
                cb[c] = cvrow ? cvrow[q] : q / 2; /* the row of Vb: the sample's, or the group's */
                cg[c] = (q % 2 == 0) ? (R)1 : -delta;
                s += cg[c] * C[(size_t)cb[c] * m + mu];
                c++;
            }
        }
        nc = c;
        gI = s;
    }
    __syncthreads();
    R mx = 0;
    const R *w = W + (size_t)mu * n;
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
        R gv = 0;
        for (int c = 0; c < nc; c++) {
            gv += cg[c] * Vb[(size_t)cb[c] * n + i];
        }
        R d = fast_dw(w[i], gv, gI, Rp);
        dW[(size_t)mu * n + i] = d;
        R a = d < 0 ? -d : d;
        mx = a > mx ? a : mx;
    }
    mx = block_max(mx, sh);
    if (threadIdx.x == 0) {
        rowmax[mu] = mx;
    }
}

/* W += eps Delta W / max(max |Delta W|, min_norm) on the touched rows, and
 * their sgn(W)|W|^(p-1); clears the row's mark for the next minibatch. */
template <typename R>
__global__ void fast_apply(R *W, R *Wp, const R *dW, const R *rowmax, long m, long n, R eps,
                           R min_norm, R p1, int ip1, unsigned char *touched)
{
    __shared__ R sh[THREADS / WARP];
    const long mu = blockIdx.x;
    if (!touched[mu]) {
        return;
    }
    R mx = 0;
    for (long r = threadIdx.x; r < m; r += blockDim.x) {
        mx = rowmax[r] > mx ? rowmax[r] : mx;
    }
    mx = block_max(mx, sh);
    const R scale = eps / (mx > min_norm ? mx : min_norm);
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
        const size_t o = (size_t)mu * n + i;
        R w = W[o] + scale * dW[o];
        W[o] = w;
        Wp[o] = signed_pow(w, p1, ip1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        touched[mu] = 0;
    }
}

template <typename R> __global__ void fast_wp(const R *W, R *Wp, size_t len, R p1, int ip1)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < len;
         i += (size_t)gridDim.x * blockDim.x) {
        Wp[i] = signed_pow(W[i], p1, ip1);
    }
}

struct kh_gpu_fast {
    long N, n, m, max_batch, k;
    double p, Rp, delta, min_norm;
    int fl;
    cublasHandle_t blas;
    void *X, *W, *Wp, *Vb, *C, *dW, *rowmax;
    long *idx, *crow;
    unsigned char *touched, *won;
    /* rows mode (kh_gpu_fast_alloc_rows): groups' ends, each contribution's row, wins */
    long max_groups, *gend, *cvrow;
    unsigned long long *wins;
    void *stage; /* host: the rows of a step in the learner's precision */
};

void kh_gpu_fast_free(kh_gpu_fast *f)
{
    if (!f) {
        return;
    }
    if (f->blas) {
        cublasDestroy(f->blas);
    }
    void *bufs[] = {f->X,   f->W,    f->Wp,      f->Vb,  f->C,    f->dW,    f->rowmax,
                    f->idx, f->crow, f->touched, f->won, f->gend, f->cvrow, f->wins};
    for (void *b : bufs) {
        cudaFree(b);
    }
    free(f->stage);
    free(f);
}

template <typename R> static void to_precision(R *dst, const double *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        dst[i] = (R)src[i];
    }
}

/* The learner of kh_gpu_fast_alloc (X, N: the data) and of
 * kh_gpu_fast_alloc_rows (X = NULL, N = 0: up to max_batch rows in up to
 * max_groups groups handed to each step). */
static kh_gpu_fast *fast_plan(const double *X, long N, long n, const double *W0, long m,
                              long max_batch, long max_groups, double p, double R, long k,
                              double delta, double min_norm, int precision)
{
    char name[256];
    double mem;
    int ma, mi;
    if (kh_gpu_probe(name, sizeof name, &mem, &ma, &mi) != KH_OK) {
        return NULL;
    }
    const int rows = X == NULL;
    const long groups = rows ? max_groups : max_batch;
    if (k < 2 || k > KH_GPU_KMAX || (!rows && k > m) || max_batch < 1 || groups < 1 ||
        groups > 1024) {
        KH_ERROR(KH_EINVAL,
                 "the GPU's fast rule takes 2 <= k <= %d (got %ld) and batches of 1 to "
                 "1024 samples or groups (got %ld)",
                 KH_GPU_KMAX, k, groups);
        return NULL;
    }
    kh_gpu_fast *f = (kh_gpu_fast *)calloc(1, sizeof *f);
    if (!f) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the GPU's fast rule");
        return NULL;
    }
    f->N = N;
    f->n = n;
    f->m = m;
    f->max_batch = max_batch;
    f->max_groups = groups;
    f->k = k;
    f->p = p;
    f->Rp = pow(R, p);
    f->delta = delta;
    f->min_norm = min_norm;
    f->fl = precision == KH_PREC_FLOAT;
    const size_t r = f->fl ? sizeof(float) : sizeof(double);
    const size_t xn = (size_t)N * n, mn = (size_t)m * n;
    cudaError_t e = cudaSuccess;
    void **bufs[] = {&f->X, &f->W, &f->Wp, &f->Vb, &f->C, &f->dW, &f->rowmax};
    size_t sizes[] = {xn, mn, mn, (size_t)max_batch * n, (size_t)max_batch * m, mn, (size_t)m};
    for (int i = rows ? 1 : 0; i < 7 && e == cudaSuccess; i++) {
        e = cudaMalloc(bufs[i], sizes[i] * r);
    }
    if (e == cudaSuccess && !rows) {
        e = cudaMalloc((void **)&f->idx, (size_t)N * sizeof(long));
    }
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&f->crow, 2 * (size_t)groups * sizeof(long));
    }
    if (e == cudaSuccess && rows) {
        e = cudaMalloc((void **)&f->cvrow, 2 * (size_t)groups * sizeof(long));
    }
    if (e == cudaSuccess && rows) {
        e = cudaMalloc((void **)&f->gend, (size_t)groups * sizeof(long));
    }
    if (e == cudaSuccess && rows) {
        e = cudaMalloc((void **)&f->wins, (size_t)m * sizeof(unsigned long long));
    }
    if (e == cudaSuccess && rows) {
        e = cudaMemset(f->wins, 0, (size_t)m * sizeof(unsigned long long));
    }
    if (e == cudaSuccess && rows && !(f->stage = malloc((size_t)max_batch * n * r))) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the staging of %ld rows", max_batch);
        kh_gpu_fast_free(f);
        return NULL;
    }
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&f->touched, (size_t)m);
    }
    if (e == cudaSuccess) {
        e = cudaMemset(f->touched, 0, (size_t)m);
    }
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&f->won, (size_t)m);
    }
    if (e == cudaSuccess) {
        e = cudaMemset(f->won, 0, (size_t)m);
    }
    /* Float needs a staging copy in its precision; double uploads as is. */
    void *host = f->fl ? malloc((xn > mn ? xn : mn) * r) : (void *)f;
    if (e == cudaSuccess && host && !rows) {
        if (f->fl) {
            to_precision((float *)host, X, xn);
        }
        e = cudaMemcpy(f->X, f->fl ? host : (const void *)X, xn * r, cudaMemcpyHostToDevice);
    }
    if (e == cudaSuccess && host) {
        if (f->fl) {
            to_precision((float *)host, W0, mn);
        }
        e = cudaMemcpy(f->W, f->fl ? host : (const void *)W0, mn * r, cudaMemcpyHostToDevice);
    }
    if (f->fl) {
        free(host);
    }
    if (e != cudaSuccess || !host) {
        KH_ERROR(e != cudaSuccess ? KH_EGPU : KH_ENOMEM,
                 "cannot set up the GPU's fast rule for %ld samples x %ld inputs, %ld units: %s", N,
                 n, m, cudaGetErrorString(e));
        kh_gpu_fast_free(f);
        return NULL;
    }
    if (cublasCreate(&f->blas) != CUBLAS_STATUS_SUCCESS) {
        f->blas = NULL;
        KH_ERROR(KH_EGPU, "cublasCreate failed");
        kh_gpu_fast_free(f);
        return NULL;
    }
    const int ip1 = kh_int_exponent(p - 1.0);
    if (f->fl) {
        fast_wp<float>
            <<<1024, THREADS>>>((const float *)f->W, (float *)f->Wp, mn, (float)(p - 1.0), ip1);
    } else {
        fast_wp<double><<<1024, THREADS>>>((const double *)f->W, (double *)f->Wp, mn, p - 1.0, ip1);
    }
    if (cudaGetLastError() != cudaSuccess) {
        KH_ERROR(KH_EGPU, "launch of fast_wp failed");
        kh_gpu_fast_free(f);
        return NULL;
    }
    return f;
}

kh_gpu_fast *kh_gpu_fast_alloc(const double *X, long N, long n, const double *W0, long m,
                               long max_batch, double p, double R, long k, double delta,
                               double min_norm, int precision)
{
    if (!X) {
        KH_ERROR(KH_EINVAL, "the GPU's fast rule needs its data");
        return NULL;
    }
    return fast_plan(X, N, n, W0, m, max_batch, 0, p, R, k, delta, min_norm, precision);
}

kh_gpu_fast *kh_gpu_fast_alloc_rows(long n, const double *W0, long m, long max_rows,
                                    long max_groups, double p, double R, long k, double delta,
                                    double min_norm, int precision)
{
    return fast_plan(NULL, 0, n, W0, m, max_rows, max_groups, p, R, k, delta, min_norm, precision);
}

/* One minibatch whose sample indices are already on the device at didx. */
template <typename R> static int fast_batch(kh_gpu_fast *f, const long *didx, long nb, double eps)
{
    const long m = f->m, n = f->n;
    R *X = (R *)f->X, *W = (R *)f->W, *Wp = (R *)f->Wp, *Vb = (R *)f->Vb, *C = (R *)f->C;
    R *dW = (R *)f->dW, *rowmax = (R *)f->rowmax;
    fast_gather<R><<<nb, THREADS>>>(Vb, X, didx, n);
    CK_LAUNCH("fast_gather");
    /* C [nb, m] (row-major) = Vb [nb, n] Wp^T: column-major C^T = Wp Vb^T. */
    const R one = 1, zero = 0;
    cublasStatus_t bs;
    if (sizeof(R) == sizeof(float)) {
        bs = cublasSgemm(f->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)m, (int)nb, (int)n,
                         (const float *)&one, (const float *)Wp, (int)n, (const float *)Vb, (int)n,
                         (const float *)&zero, (float *)C, (int)m);
    } else {
        bs = cublasDgemm(f->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)m, (int)nb, (int)n,
                         (const double *)&one, (const double *)Wp, (int)n, (const double *)Vb,
                         (int)n, (const double *)&zero, (double *)C, (int)m);
    }
    if (bs != CUBLAS_STATUS_SUCCESS) {
        return KH_ERROR(KH_EGPU, "cuBLAS gemm failed (status %d)", (int)bs);
    }
    fast_topk<R><<<nb, THREADS>>>(C, m, f->k, f->crow, f->touched, f->won);
    CK_LAUNCH("fast_topk");
    fast_delta<R><<<m, THREADS>>>(W, Vb, C, f->crow, NULL, nb, m, n, (R)f->delta, (R)f->Rp,
                                  f->touched, dW, rowmax);
    CK_LAUNCH("fast_delta");
    fast_apply<R><<<m, THREADS>>>(W, Wp, dW, rowmax, m, n, (R)eps, (R)f->min_norm, (R)(f->p - 1.0),
                                  kh_int_exponent(f->p - 1.0), f->touched);
    CK_LAUNCH("fast_apply");
    return KH_OK;
}

int kh_gpu_fast_step(kh_gpu_fast *f, const long *idx, long nb, double eps)
{
    if (nb < 1 || nb > f->max_batch) {
        return KH_ERROR(KH_EINVAL, "minibatch of %ld samples (1 to %ld)", nb, f->max_batch);
    }
    CK(cudaMemcpy(f->idx, idx, (size_t)nb * sizeof(long), cudaMemcpyHostToDevice));
    int s = f->fl ? fast_batch<float>(f, f->idx, nb, eps) : fast_batch<double>(f, f->idx, nb, eps);
    if (s == KH_OK) {
        CK(cudaDeviceSynchronize());
    }
    return s;
}

int kh_gpu_fast_epoch(kh_gpu_fast *f, const long *order, double eps)
{
    CK(cudaMemcpy(f->idx, order, (size_t)f->N * sizeof(long), cudaMemcpyHostToDevice));
    for (long b0 = 0; b0 < f->N; b0 += f->max_batch) {
        long nb = f->N - b0 < f->max_batch ? f->N - b0 : f->max_batch;
        int s = f->fl ? fast_batch<float>(f, f->idx + b0, nb, eps)
                      : fast_batch<double>(f, f->idx + b0, nb, eps);
        if (s != KH_OK) {
            return s;
        }
    }
    CK(cudaDeviceSynchronize());
    return KH_OK;
}

int kh_gpu_fast_get_W(kh_gpu_fast *f, double *W)
{
    const size_t mn = (size_t)f->m * f->n;
    if (!f->fl) {
        CK(cudaMemcpy(W, f->W, mn * sizeof(double), cudaMemcpyDeviceToHost));
        return KH_OK;
    }
    float *h = (float *)malloc(mn * sizeof(float));
    if (!h) {
        return KH_ERROR(KH_ENOMEM, "cannot download W");
    }
    cudaError_t e = cudaMemcpy(h, f->W, mn * sizeof(float), cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < mn && e == cudaSuccess; i++) {
        W[i] = (double)h[i];
    }
    free(h);
    return e != cudaSuccess ? KH_ERROR(KH_EGPU, "download of W: %s", cudaGetErrorString(e)) : KH_OK;
}

int kh_gpu_fast_winners(kh_gpu_fast *f, int reset, long *count)
{
    unsigned char *h = (unsigned char *)malloc((size_t)f->m);
    if (!h) {
        return KH_ERROR(KH_ENOMEM, "cannot download the winners");
    }
    cudaError_t e = cudaMemcpy(h, f->won, (size_t)f->m, cudaMemcpyDeviceToHost);
    long c = 0;
    for (long mu = 0; mu < f->m && e == cudaSuccess; mu++) {
        c += h[mu];
    }
    free(h);
    if (e == cudaSuccess && reset) {
        e = cudaMemset(f->won, 0, (size_t)f->m);
    }
    if (e != cudaSuccess) {
        return KH_ERROR(KH_EGPU, "winners: %s", cudaGetErrorString(e));
    }
    *count = c;
    return KH_OK;
}

/* The currents of nv rows already in Vb, C [nv, m] = Vb Wp^T. */
template <typename R> static int fast_currents(kh_gpu_fast *f, long nv)
{
    const long m = f->m, n = f->n;
    const R one = 1, zero = 0;
    cublasStatus_t bs;
    if (sizeof(R) == sizeof(float)) {
        bs = cublasSgemm(f->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)m, (int)nv, (int)n,
                         (const float *)&one, (const float *)f->Wp, (int)n, (const float *)f->Vb,
                         (int)n, (const float *)&zero, (float *)f->C, (int)m);
    } else {
        bs = cublasDgemm(f->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)m, (int)nv, (int)n,
                         (const double *)&one, (const double *)f->Wp, (int)n, (const double *)f->Vb,
                         (int)n, (const double *)&zero, (double *)f->C, (int)m);
    }
    return bs == CUBLAS_STATUS_SUCCESS
               ? KH_OK
               : KH_ERROR(KH_EGPU, "cuBLAS gemm failed (status %d)", (int)bs);
}

/* One step over nv rows in ng groups: upload, currents, the groups' top
 * and k-th entries, Delta W of the touched units, the step. */
template <typename R>
static int fast_rows(kh_gpu_fast *f, const double *V, long nv, const long *gend, long ng,
                     double eps)
{
    const long m = f->m, n = f->n;
    const size_t len = (size_t)nv * n;
    R *h = (R *)f->stage;
    to_precision(h, V, len);
    cudaError_t e = cudaMemcpy(f->Vb, h, len * sizeof(R), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        return KH_ERROR(KH_EGPU, "upload of the rows: %s", cudaGetErrorString(e));
    }
    CK(cudaMemcpy(f->gend, gend, (size_t)ng * sizeof(long), cudaMemcpyHostToDevice));
    int s = fast_currents<R>(f, nv);
    if (s != KH_OK) {
        return s;
    }
    fast_topk_groups<R><<<ng, THREADS>>>((const R *)f->C, m, f->k, f->gend, f->crow, f->cvrow,
                                         f->touched, f->won, f->wins);
    CK_LAUNCH("fast_topk_groups");
    fast_delta<R><<<m, THREADS>>>((const R *)f->W, (const R *)f->Vb, (const R *)f->C, f->crow,
                                  f->cvrow, ng, m, n, (R)f->delta, (R)f->Rp, f->touched, (R *)f->dW,
                                  (R *)f->rowmax);
    CK_LAUNCH("fast_delta");
    fast_apply<R><<<m, THREADS>>>((R *)f->W, (R *)f->Wp, (const R *)f->dW, (const R *)f->rowmax, m,
                                  n, (R)eps, (R)f->min_norm, (R)(f->p - 1.0),
                                  kh_int_exponent(f->p - 1.0), f->touched);
    CK_LAUNCH("fast_apply");
    CK(cudaDeviceSynchronize());
    return KH_OK;
}

int kh_gpu_fast_step_rows(kh_gpu_fast *f, const double *V, long nv, const long *gend, long ng,
                          double eps)
{
    if (!f->gend) {
        return KH_ERROR(KH_EINVAL, "this GPU learner takes samples of its data, not rows");
    }
    if (nv < 1 || nv > f->max_batch || ng < 1 || ng > f->max_groups || gend[ng - 1] != nv) {
        return KH_ERROR(KH_EINVAL, "%ld rows in %ld groups (at most %ld rows, %ld groups)", nv, ng,
                        f->max_batch, f->max_groups);
    }
    return f->fl ? fast_rows<float>(f, V, nv, gend, ng, eps)
                 : fast_rows<double>(f, V, nv, gend, ng, eps);
}

int kh_gpu_fast_win_counts(kh_gpu_fast *f, long *counts, int reset)
{
    if (!f->wins) {
        return KH_ERROR(KH_EINVAL, "win counts are kept by the rows learner only");
    }
    unsigned long long *h = (unsigned long long *)malloc((size_t)f->m * sizeof *h);
    if (!h) {
        return KH_ERROR(KH_ENOMEM, "cannot download the win counts");
    }
    cudaError_t e = cudaMemcpy(h, f->wins, (size_t)f->m * sizeof *h, cudaMemcpyDeviceToHost);
    for (long mu = 0; mu < f->m && e == cudaSuccess; mu++) {
        counts[mu] = (long)h[mu];
    }
    free(h);
    if (e == cudaSuccess && reset) {
        e = cudaMemset(f->wins, 0, (size_t)f->m * sizeof(unsigned long long));
    }
    return e != cudaSuccess ? KH_ERROR(KH_EGPU, "win counts: %s", cudaGetErrorString(e)) : KH_OK;
}

/* ---- The GPU's instances of solvers/kh_backend.h ---- */

static int gpu_learner_usable(const kh_params *p)
{
    if (!(p->fast_rank && p->fast_code && p->fast_maxnorm)) {
        return KH_ERROR(KH_ENOTSUP, "the GPU's fast rule is the paper's: learning.fast_rank, "
                                    "fast_code and fast_maxnorm must be on");
    }
    return KH_OK;
}

static void *gpu_learner_alloc(const kh_params *p, const double *X, long N, const double *W0,
                               long max_batch)
{
    return kh_gpu_fast_alloc(X, N, p->n_visible, W0, p->n_hidden, max_batch, p->p, p->R, p->k,
                             p->delta, p->fast_min_norm, p->precision);
}

static int gpu_learner_step(void *L, const long *idx, long nb, double eps)
{
    return kh_gpu_fast_step((kh_gpu_fast *)L, idx, nb, eps);
}

static int gpu_learner_epoch(void *L, const long *order, double eps)
{
    return kh_gpu_fast_epoch((kh_gpu_fast *)L, order, eps);
}

static int gpu_learner_get_W(void *L, double *W)
{
    return kh_gpu_fast_get_W((kh_gpu_fast *)L, W);
}

static int gpu_learner_winners(void *L, int reset, long *count)
{
    return kh_gpu_fast_winners((kh_gpu_fast *)L, reset, count);
}

static void gpu_learner_release(void *L)
{
    kh_gpu_fast_free((kh_gpu_fast *)L);
}

static const kh_learner_backend gpu_learner = {"cuda",
                                               gpu_learner_usable,
                                               gpu_learner_alloc,
                                               gpu_learner_step,
                                               gpu_learner_epoch,
                                               gpu_learner_get_W,
                                               gpu_learner_winners,
                                               NULL,
                                               NULL,
                                               gpu_learner_release};

static void *gpu_ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm)
{
    return kh_gpu_ens_alloc(B, m, n, precision, prm);
}

static int gpu_ens_set_state(void *e, const double *h, const double *W)
{
    return kh_gpu_ens_set_state((kh_gpu_ens *)e, h, W);
}

static int gpu_ens_set_input(void *e, const double *v)
{
    return kh_gpu_ens_set_input((kh_gpu_ens *)e, v);
}

static int gpu_ens_advance(void *e, long steps, double dt)
{
    return kh_gpu_ens_advance((kh_gpu_ens *)e, steps, dt);
}

static int gpu_ens_get(void *e, double *h, double *W, double *I, double *Bn)
{
    return kh_gpu_ens_get((kh_gpu_ens *)e, h, W, I, Bn);
}

static int gpu_ens_get_W(void *e, long t, double *W)
{
    return kh_gpu_ens_get_W((kh_gpu_ens *)e, t, W);
}

static void gpu_ens_release(void *e)
{
    kh_gpu_ens_free((kh_gpu_ens *)e);
}

static const kh_ensemble_backend gpu_ensemble = {
    "cuda",          gpu_ens_alloc, gpu_ens_set_state, gpu_ens_set_input,
    gpu_ens_advance, gpu_ens_get,   gpu_ens_get_W,     gpu_ens_release};

const kh_learner_backend *kh_gpu_learner_backend(void)
{
    return &gpu_learner;
}

const kh_ensemble_backend *kh_gpu_ensemble_backend(void)
{
    return &gpu_ensemble;
}
