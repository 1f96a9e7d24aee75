/* The moments of a row in the basis {W0_mu, v} of one presentation
 * (solvers/kh_moments.h). */
#include "solvers/kh_moments.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_threads.h"

int kh_moments_init(kh_moments *mo, long m, long n, double p)
{
    memset(mo, 0, sizeof *mo);
    mo->m = m;
    mo->n = n;
    mo->p = p;
    mo->p2 = p - 2.0;
    mo->ip2 = kh_int_exponent(mo->p2);
    mo->poly = p == 2.0 || p == 4.0;
    size_t mn = (size_t)m * (size_t)n;
    mo->idx = malloc((size_t)n * sizeof(long));
    mo->vnz = malloc((size_t)n * sizeof(double));
    mo->w0 = mo->poly ? NULL : malloc(mn * sizeof(double));
    mo->cz = malloc((size_t)m * sizeof(double));
    mo->mk = malloc((size_t)m * 5 * sizeof(double));
    mo->g00 = malloc((size_t)m * sizeof(double));
    mo->g01 = malloc((size_t)m * sizeof(double));
    if (!mo->idx || !mo->vnz || (!mo->poly && !mo->w0) || !mo->cz || !mo->mk || !mo->g00 ||
        !mo->g01) {
        kh_moments_release(mo);
        return KH_ERROR(KH_ENOMEM, "cannot allocate the moments of %ld x %ld weights", m, n);
    }
    return KH_OK;
}

void kh_moments_release(kh_moments *mo)
{
    free(mo->idx);
    free(mo->vnz);
    free(mo->w0);
    free(mo->cz);
    free(mo->mk);
    free(mo->g00);
    free(mo->g01);
    memset(mo, 0, sizeof *mo);
}

/* One row of the capture. */
KH_CLONES static void capture_row(const kh_moments *mo, const double *w, const double *v, long mu)
{
    const long n = mo->n, nnz = mo->nnz;
    const int ip = kh_int_exponent(mo->p);
    double g00 = 0.0, g01 = 0.0, cz = 0.0;
    for (long i = 0; i < n; i++) {
        g00 += w[i] * w[i];
        g01 += w[i] * v[i];
    }
    mo->g00[mu] = g00;
    mo->g01[mu] = g01;
    if (mo->poly) {
        const int P = (int)mo->p;
        double mk[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
        for (long i = 0; i < n; i++) {
            double vp[5], wp = 1.0;
            vp[0] = 1.0;
            for (int k = 1; k <= P; k++) {
                vp[k] = vp[k - 1] * v[i];
            }
            for (int k = 0; k <= P; k++) {
                mk[k] += wp * vp[P - k];
                wp *= w[i];
            }
        }
        memcpy(mo->mk + 5 * mu, mk, sizeof mk);
        return;
    }
    double *packed = mo->w0 + (size_t)mu * (size_t)nnz;
    for (long j = 0; j < nnz; j++) {
        packed[j] = w[mo->idx[j]];
    }
    for (long i = 0; i < n; i++) {
        if (v[i] == 0.0) {
            cz += kh_abspow(w[i], mo->p, ip);
        }
    }
    mo->cz[mu] = cz;
}

void kh_moments_capture(kh_moments *mo, const double *W0, const double *v)
{
    const long m = mo->m, n = mo->n;
    long nnz = 0;
    double g11 = 0.0;
    for (long i = 0; i < n; i++) {
        g11 += v[i] * v[i];
        if (v[i] != 0.0) {
            mo->idx[nnz] = i;
            mo->vnz[nnz++] = v[i];
        }
    }
    mo->nnz = nnz;
    mo->g11 = g11;
#pragma omp parallel for default(none) shared(mo, W0, v) firstprivate(m, n) if (KH_PAR(m * n))     \
    schedule(static)
    for (long mu = 0; mu < m; mu++) {
        capture_row(mo, W0 + (size_t)mu * (size_t)n, v, mu);
    }
}

/* sum_k C(q, k) alpha^k beta^(q-k) M_k, k = 0..q. */
static double binomial_sum(const double *mk, int q, double alpha, double beta)
{
    static const double C[5][5] = {
        {1, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, {1, 2, 1, 0, 0}, {1, 3, 3, 1, 0}, {1, 4, 6, 4, 1}};
    double s = 0.0, ak = 1.0;
    for (int k = 0; k <= q; k++) {
        double bk = 1.0;
        for (int j = 0; j < q - k; j++) {
            bk *= beta;
        }
        s += C[q][k] * ak * bk * mk[k];
        ak *= alpha;
    }
    return s;
}

KH_CLONES static void eval_row(const double *w0, const double *v, long n, double alpha, double beta,
                               double p2, int ip2, double *I, double *B, double *vv)
{
    kh_row_moments_affine_vv(w0, v, n, alpha, beta, p2, ip2, I, B, vv);
}

void kh_moments_eval(const kh_moments *mo, const double *alpha, const double *beta, double *I,
                     double *B, double *vv)
{
    const long m = mo->m, nnz = mo->nnz;
    if (mo->poly) {
        const int P = (int)mo->p;
        for (long mu = 0; mu < m; mu++) {
            const double *mk = mo->mk + 5 * mu;
            I[mu] = binomial_sum(mk, P - 1, alpha[mu], beta[mu]);
            B[mu] = binomial_sum(mk, P, alpha[mu], beta[mu]);
            if (vv) {
                vv[mu] = binomial_sum(mk, P - 2, alpha[mu], beta[mu]);
            }
        }
        return;
    }
    const double p = mo->p, p2 = mo->p2;
    const int ip2 = mo->ip2, ip = kh_int_exponent(p);
    const double *w0 = mo->w0, *vnz = mo->vnz, *cz = mo->cz;
#pragma omp parallel for default(none) shared(w0, vnz, cz, alpha, beta, I, B, vv)                  \
    firstprivate(m, nnz, p, p2, ip2, ip) if (KH_PAR(m * nnz)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        double sv;
        eval_row(w0 + (size_t)mu * (size_t)nnz, vnz, nnz, alpha[mu], beta[mu], p2, ip2, &I[mu],
                 &B[mu], &sv);
        B[mu] += kh_abspow(alpha[mu], p, ip) * cz[mu];
        if (vv) {
            vv[mu] = sv;
        }
    }
}

double kh_moments_row_sq(const kh_moments *mo, long mu, double alpha, double beta)
{
    double s =
        alpha * alpha * mo->g00[mu] + 2.0 * alpha * beta * mo->g01[mu] + beta * beta * mo->g11;
    return s > 0.0 ? s : 0.0;
}
