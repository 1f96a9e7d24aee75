/* The supervised readout (kh_readout.h): Krotov & Hopfield, PNAS 2019, eq. 1
 * and appendix B; Adam from Kingma & Ba, ICLR 2015. */
#include "kh_readout.h"

#include <math.h>
#include <stddef.h>

/* OpenBLAS's cblas.h includes <complex.h>, whose macro I is not used here. */
#include <cblas.h>

void kh_readout_features(const double *W, long M, long n, const double *X, long N, double power,
                         double *H)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)M, (int)n, 1.0, X, (int)n, W,
                (int)n, 0.0, H, (int)M);
    const long len = N * M;
    const int integer = power == floor(power) && power <= 8.0;
#pragma omp parallel for default(none) shared(H) firstprivate(len, power, integer) schedule(static)
    for (long i = 0; i < len; i++) {
        double x = H[i] > 0.0 ? H[i] : 0.0;
        if (integer) {
            double y = 1.0;
            for (int k = 0; k < (int)power; k++) {
                y *= x;
            }
            H[i] = y;
        } else {
            H[i] = pow(x, power);
        }
    }
}

/* Z [B, C] = beta H S^T. */
static void outputs(const double *S, long C, long M, double beta, const double *H, long B,
                    double *Z)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)C, (int)M, beta, H, (int)M, S,
                (int)M, 0.0, Z, (int)C);
}

double kh_readout_loss(const double *S, long C, long M, double beta, double m, const double *H,
                       const long *labels, long B, double *G, double *Z, double *D)
{
    outputs(S, C, M, beta, H, B, Z);
    double loss = 0.0;
    for (long b = 0; b < B; b++) {
        for (long a = 0; a < C; a++) {
            double c = tanh(Z[b * C + a]);
            double t = labels[b] == a ? 1.0 : -1.0;
            double e = fabs(c - t);
            double em1 = pow(e, m - 1.0);
            loss += em1 * e;
            /* dL/dz = m |c - t|^(m-1) sgn(c - t) (1 - c^2). */
            D[b * C + a] = m * em1 * (c > t ? 1.0 : (c < t ? -1.0 : 0.0)) * (1.0 - c * c);
        }
    }
    if (G) {
        /* dL/dS [C, M] = beta D^T H. */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)M, (int)B, beta, D,
                    (int)C, H, (int)M, 0.0, G, (int)M);
    }
    return loss;
}

long kh_readout_errors(const double *S, long C, long M, double beta, const double *H,
                       const long *labels, long N, double *Z, long chunk)
{
    long errors = 0;
    for (long b0 = 0; b0 < N; b0 += chunk) {
        long nb = N - b0 < chunk ? N - b0 : chunk;
        outputs(S, C, M, beta, H + b0 * M, nb, Z);
        for (long b = 0; b < nb; b++) {
            long best = 0;
            for (long a = 1; a < C; a++) {
                if (Z[b * C + a] > Z[b * C + best]) {
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

double kh_readout_lr(double lr0, long e, long E)
{
    static const double factor[] = {1.0, 0.5, 0.1, 0.05, 0.01};
    double third = (double)E / 3.0, sixth = (double)E / 6.0;
    if ((double)e < third) {
        return lr0;
    }
    long k = 1 + (long)floor(((double)e - third) / sixth);
    return lr0 * factor[k < 4 ? k : 4];
}
