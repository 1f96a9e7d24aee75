/* The supervised readout (kh_readout.h): Krotov & Hopfield, PNAS 2019, eq. 1
 * and appendix B; Adam from Kingma & Ba, ICLR 2015. */
#include "cmd/kh_readout.h"
#include "core/kh_error.h"
#include "core/kh_threads.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's cblas.h includes <complex.h>, whose macro I is not used here. */
#include <cblas.h>

/* Rows of features in one GEMM when H is float (a double scratch between). */
#define FEATURE_CHUNK 512

int kh_readout_work_alloc(kh_readout_work *w, long C, long M, long rows, int single)
{
    memset(w, 0, sizeof *w);
    w->rows = rows;
    w->Z = malloc((size_t)(rows * C) * sizeof(double));
    w->D = malloc((size_t)(rows * C) * sizeof(double));
    int ok = w->Z && w->D;
    if (single) {
        w->Sf = malloc((size_t)(C * M) * sizeof(float));
        w->Gf = malloc((size_t)(C * M) * sizeof(float));
        w->Zf = malloc((size_t)(rows * C) * sizeof(float));
        w->Df = malloc((size_t)(rows * C) * sizeof(float));
        ok = ok && w->Sf && w->Gf && w->Zf && w->Df;
    }
    if (!ok) {
        kh_readout_work_free(w);
        return -1;
    }
    return 0;
}

void kh_readout_work_free(kh_readout_work *w)
{
    free(w->Z);
    free(w->D);
    free(w->Sf);
    free(w->Gf);
    free(w->Zf);
    free(w->Df);
    memset(w, 0, sizeof *w);
}

/* x = max(x, 0)^power over len values. */
double kh_readout_activation(double a, double power)
{
    const double v = a > 0.0 ? a : 0.0;
    if (power == floor(power) && power <= 8.0) {
        double y = 1.0;
        for (int k = 0; k < (int)power; k++) {
            y *= v;
        }
        return y;
    }
    return pow(v, power);
}

static void activate(double *x, long len, double power)
{
#pragma omp parallel for default(none) shared(x) firstprivate(len, power) if (KH_PAR(len))         \
    schedule(static)
    for (long i = 0; i < len; i++) {
        x[i] = kh_readout_activation(x[i], power);
    }
}

/* One output's term of the loss, |c - t|^m with c = tanh(z) and t = +1 for
 * the label, -1 otherwise, and its derivative dL/dz = m |c - t|^(m-1)
 * sgn(c - t) (1 - c^2) into *d. */
static double loss_term(double z, int is_label, double m, double *d)
{
    const double c = tanh(z), t = is_label ? 1.0 : -1.0, e = fabs(c - t);
    const double em1 = pow(e, m - 1.0);
    *d = m * em1 * (c > t ? 1.0 : (c < t ? -1.0 : 0.0)) * (1.0 - c * c);
    return em1 * e;
}

static double *row_d(kh_hrows H, long i, long M)
{
    return (double *)H.x + i * M;
}

static float *row_f(kh_hrows H, long i, long M)
{
    return (float *)H.x + i * M;
}

int kh_readout_features(const double *W, long M, long n, const double *X, long N, double power,
                        kh_hrows H)
{
    if (!H.single) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)M, (int)n, 1.0, X, (int)n,
                    W, (int)n, 0.0, (double *)H.x, (int)M);
        activate((double *)H.x, N * M, power);
        return 0;
    }
    const long rows = N < FEATURE_CHUNK ? N : FEATURE_CHUNK;
    double *buf = malloc((size_t)(rows * M) * sizeof(double));
    if (!buf) {
        return -1;
    }
    for (long b0 = 0; b0 < N; b0 += rows) {
        const long nb = N - b0 < rows ? N - b0 : rows;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)M, (int)n, 1.0,
                    X + b0 * n, (int)n, W, (int)n, 0.0, buf, (int)M);
        activate(buf, nb * M, power);
        kh_hrows_set(H, b0, buf, nb, M);
    }
    free(buf);
    return 0;
}

void kh_hrows_set(kh_hrows H, long i0, const double *x, long rows, long M)
{
    if (!H.single) {
        memcpy(row_d(H, i0, M), x, (size_t)(rows * M) * sizeof(double));
        return;
    }
    float *y = row_f(H, i0, M);
    for (long k = 0; k < rows * M; k++) {
        y[k] = (float)x[k];
    }
}

kh_hrows kh_hrows_at(kh_hrows H, long i, long M)
{
    return (kh_hrows){H.single ? (void *)row_f(H, i, M) : (void *)row_d(H, i, M), H.single};
}

void kh_hrows_copy(kh_hrows dst, long i, kh_hrows src, long j, long M)
{
    const size_t size = dst.single ? sizeof(float) : sizeof(double);
    memcpy((char *)dst.x + (size_t)(i * M) * size, (const char *)src.x + (size_t)(j * M) * size,
           (size_t)M * size);
}

double kh_hrows_row_max(kh_hrows H, long i, long M)
{
    double mx = 0.0;
    for (long mu = 0; mu < M; mu++) {
        double h = H.single ? (double)row_f(H, i, M)[mu] : row_d(H, i, M)[mu];
        mx = h > mx ? h : mx;
    }
    return mx;
}

void kh_hrows_scale_row(kh_hrows H, long i, long M, double factor)
{
    for (long mu = 0; mu < M; mu++) {
        if (H.single) {
            float *h = row_f(H, i, M);
            h[mu] = (float)((double)h[mu] * factor);
        } else {
            row_d(H, i, M)[mu] *= factor;
        }
    }
}

/* S in H's precision for the products: float H takes S rounded into w->Sf
 * (once per call of the loss or of the error count, not per GEMM). */
static void stage_S(const double *S, long CM, kh_hrows H, kh_readout_work *w)
{
    if (H.single) {
        for (long k = 0; k < CM; k++) {
            w->Sf[k] = (float)S[k];
        }
    }
}

/* w->Z [B, C] = beta H S^T, in H's precision (float: S from stage_S). */
static void outputs(const double *S, long C, long M, double beta, kh_hrows H, long B,
                    kh_readout_work *w)
{
    if (!H.single) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)C, (int)M, beta,
                    (const double *)H.x, (int)M, S, (int)M, 0.0, w->Z, (int)C);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)C, (int)M, (float)beta,
                (const float *)H.x, (int)M, w->Sf, (int)M, 0.0f, w->Zf, (int)C);
    for (long k = 0; k < B * C; k++) {
        w->Z[k] = (double)w->Zf[k];
    }
}

double kh_readout_loss(const double *S, long C, long M, double beta, double m, kh_hrows H,
                       const long *labels, long B, double *G, kh_readout_work *w)
{
    stage_S(S, C * M, H, w);
    outputs(S, C, M, beta, H, B, w);
    double loss = 0.0;
    for (long b = 0; b < B; b++) {
        for (long a = 0; a < C; a++) {
            loss += loss_term(w->Z[b * C + a], labels[b] == a, m, &w->D[b * C + a]);
        }
    }
    if (!G) {
        return loss;
    }
    /* dL/dS [C, M] = beta D^T H. */
    if (!H.single) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)M, (int)B, beta, w->D,
                    (int)C, (const double *)H.x, (int)M, 0.0, G, (int)M);
        return loss;
    }
    for (long k = 0; k < B * C; k++) {
        w->Df[k] = (float)w->D[k];
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)M, (int)B, (float)beta, w->Df,
                (int)C, (const float *)H.x, (int)M, 0.0f, w->Gf, (int)M);
    for (long k = 0; k < C * M; k++) {
        G[k] = (double)w->Gf[k];
    }
    return loss;
}

long kh_readout_errors(const double *S, long C, long M, double beta, kh_hrows H, const long *labels,
                       long N, kh_readout_work *w)
{
    long errors = 0;
    stage_S(S, C * M, H, w);
    for (long b0 = 0; b0 < N; b0 += w->rows) {
        long nb = N - b0 < w->rows ? N - b0 : w->rows;
        outputs(S, C, M, beta, kh_hrows_at(H, b0, M), nb, w);
        for (long b = 0; b < nb; b++) {
            long best = 0;
            for (long a = 1; a < C; a++) {
                if (w->Z[b * C + a] > w->Z[b * C + best]) {
                    best = a;
                }
            }
            errors += best != labels[b0 + b];
        }
    }
    return errors;
}

void kh_adam_step(double *x, const double *g, double *m1, double *m2, long len, long t, double lr,
                  double b1, double b2, double eps)
{
    const double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    for (long i = 0; i < len; i++) {
        m1[i] = b1 * m1[i] + (1.0 - b1) * g[i];
        m2[i] = b2 * m2[i] + (1.0 - b2) * g[i] * g[i];
        x[i] -= lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + eps);
    }
}

double kh_readout_input_gradient(const double *W, const double *S, long C, long M, long n,
                                 double power, double beta_scale, int per_digit, double m,
                                 const double *x, long label, double *a, double *dh, double *g)
{
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)n, 1.0, W, (int)n, x, 1, 0.0, a, 1);
    double mx = 0.0;
    for (long mu = 0; mu < M; mu++) {
        dh[mu] = kh_readout_activation(a[mu], power);
        mx = dh[mu] > mx ? dh[mu] : mx;
    }
    const double beta = per_digit ? (mx > 0.0 ? beta_scale / mx : beta_scale) : beta_scale;
    double dz[KH_READOUT_MAX_CLASSES], loss = 0.0;
    for (long c = 0; c < C; c++) {
        double z = 0.0;
        for (long mu = 0; mu < M; mu++) {
            z += S[c * M + mu] * dh[mu];
        }
        /* dL/d(S h) = dL/dz beta, z = beta S h. */
        loss += loss_term(beta * z, c == label, m, &dz[c]);
        dz[c] *= beta;
    }
    for (long mu = 0; mu < M; mu++) {
        double s = 0.0;
        for (long c = 0; c < C; c++) {
            s += S[c * M + mu] * dz[c];
        }
        dh[mu] = a[mu] > 0.0 ? s * power * pow(a[mu], power - 1.0) : 0.0;
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)M, (int)n, 1.0, W, (int)n, dh, 1, 0.0, g, 1);
    return loss;
}

void kh_fgsm_step(const double *x, const double *g, long n, double eps, double *xp)
{
    for (long j = 0; j < n; j++) {
        const double v = x[j] + eps * (g[j] > 0.0 ? 1.0 : (g[j] < 0.0 ? -1.0 : 0.0));
        xp[j] = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
    }
}

double kh_readout_fgsm_accuracy(const double *W, const double *S, long C, long M, long n,
                                double power, double beta_scale, int per_digit, double m,
                                const double *X, const long *labels, long N, double eps)
{
    double *a = malloc((size_t)M * sizeof(double)), *dh = malloc((size_t)M * sizeof(double));
    double *g = malloc((size_t)n * sizeof(double)), *xp = malloc((size_t)n * sizeof(double));
    if (!a || !dh || !g || !xp) {
        free(a);
        free(dh);
        free(g);
        free(xp);
        return -1.0;
    }
    long right = 0;
    for (long i = 0; i < N; i++) {
        const double *x = X + i * n;
        kh_readout_input_gradient(W, S, C, M, n, power, beta_scale, per_digit, m, x, labels[i], a,
                                  dh, g);
        kh_fgsm_step(x, g, n, eps, xp);
        /* The class of x': argmax_c (S h')_c (a positive beta does not move it). */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)n, 1.0, W, (int)n, xp, 1, 0.0, a, 1);
        for (long mu = 0; mu < M; mu++) {
            a[mu] = kh_readout_activation(a[mu], power);
        }
        long best = 0;
        double zb = -INFINITY;
        for (long c = 0; c < C; c++) {
            double z = 0.0;
            for (long mu = 0; mu < M; mu++) {
                z += S[c * M + mu] * a[mu];
            }
            if (z > zb) {
                zb = z;
                best = c;
            }
        }
        right += best == labels[i];
    }
    free(a);
    free(dh);
    free(g);
    free(xp);
    return N ? (double)right / (double)N : 0.0;
}

int kh_parse_fractions(const char *text, const char *key, double *out, int max, int *k)
{
    *k = 0;
    const char *c = text;
    while (*c == ' ') {
        c++;
    }
    while (*c) {
        char *end;
        double v = strtod(c, &end);
        if (end == c) {
            return KH_ERROR(KH_EINVAL, "%s = %s: expected numbers or N/D, separated by commas", key,
                            text);
        }
        c = end;
        while (*c == ' ') {
            c++;
        }
        if (*c == '/') {
            double den = strtod(c + 1, &end);
            if (end == c + 1 || !(den > 0.0)) {
                return KH_ERROR(KH_EINVAL, "%s = %s: a fraction needs a denominator > 0", key,
                                text);
            }
            v /= den;
            c = end;
        }
        if (!(v >= 0.0) || !(v <= 1.0) || *k == max) {
            return KH_ERROR(KH_EINVAL, "%s = %s: at most %d values in [0, 1]", key, text, max);
        }
        out[(*k)++] = v;
        while (*c == ' ' || *c == ',') {
            c++;
        }
    }
    return KH_OK;
}
