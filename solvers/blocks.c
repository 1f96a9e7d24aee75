/* Block-diagonal plus rank-one solves (solvers/kh_blocks.h). */
#include "solvers/kh_blocks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"

int kh_blocks_init(kh_blocks *b, long nb, int bs)
{
    memset(b, 0, sizeof *b);
    b->nb = nb;
    b->bs = bs;
    b->lu = malloc((size_t)nb * (size_t)(bs * bs) * sizeof(double));
    b->piv = malloc((size_t)nb * (size_t)bs * sizeof(int));
    b->y = malloc((size_t)nb * (size_t)bs * sizeof(double));
    if (!b->lu || !b->piv || !b->y || bs < 1 || bs > KH_BLOCKS_MAX) {
        kh_blocks_release(b);
        return KH_ERROR(KH_ENOMEM, "cannot allocate %ld blocks of %d x %d", nb, bs, bs);
    }
    return KH_OK;
}

void kh_blocks_release(kh_blocks *b)
{
    free(b->lu);
    free(b->piv);
    free(b->y);
    memset(b, 0, sizeof *b);
}

/* LU with partial pivoting of one bs x bs block, in place. 0, or 1 when
 * singular. */
static int block_factor(double *A, int *piv, int bs)
{
    for (int k = 0; k < bs; k++) {
        int q = k;
        for (int i = k + 1; i < bs; i++) {
            if (fabs(A[i * bs + k]) > fabs(A[q * bs + k])) {
                q = i;
            }
        }
        piv[k] = q;
        if (A[q * bs + k] == 0.0) {
            return 1;
        }
        if (q != k) {
            for (int j = 0; j < bs; j++) {
                double t = A[k * bs + j];
                A[k * bs + j] = A[q * bs + j];
                A[q * bs + j] = t;
            }
        }
        for (int i = k + 1; i < bs; i++) {
            double l = A[i * bs + k] / A[k * bs + k];
            A[i * bs + k] = l;
            for (int j = k + 1; j < bs; j++) {
                A[i * bs + j] -= l * A[k * bs + j];
            }
        }
    }
    return 0;
}

static void block_solve(const double *A, const int *piv, int bs, double *x)
{
    for (int k = 0; k < bs; k++) {
        double t = x[k];
        x[k] = x[piv[k]];
        x[piv[k]] = t;
        for (int i = k + 1; i < bs; i++) {
            x[i] -= A[i * bs + k] * x[k];
        }
    }
    for (int k = bs - 1; k >= 0; k--) {
        for (int j = k + 1; j < bs; j++) {
            x[k] -= A[k * bs + j] * x[j];
        }
        x[k] /= A[k * bs + k];
    }
}

/* x <- A^-1 x, block by block. */
static void solve_blocks(const kh_blocks *b, double *x)
{
    const long nb = b->nb;
    const int bs = b->bs;
    for (long j = 0; j < nb; j++) {
        double xb[KH_BLOCKS_MAX];
        for (int k = 0; k < bs; k++) {
            xb[k] = x[k * nb + j];
        }
        block_solve(b->lu + (size_t)j * (size_t)(bs * bs), b->piv + j * bs, bs, xb);
        for (int k = 0; k < bs; k++) {
            x[k * nb + j] = xb[k];
        }
    }
}

int kh_blocks_factor(kh_blocks *b, const double *A, const double *u, const double *v)
{
    const long nb = b->nb, len = nb * b->bs;
    const int bs = b->bs;
    memcpy(b->lu, A, (size_t)nb * (size_t)(bs * bs) * sizeof(double));
    for (long j = 0; j < nb; j++) {
        if (block_factor(b->lu + (size_t)j * (size_t)(bs * bs), b->piv + j * bs, bs)) {
            return 1;
        }
    }
    b->v = u && v ? v : NULL;
    b->denom = 1.0;
    if (!b->v) {
        return 0;
    }
    memcpy(b->y, u, (size_t)len * sizeof(double));
    solve_blocks(b, b->y);
    double vy = 0.0;
    for (long i = 0; i < len; i++) {
        vy += v[i] * b->y[i];
    }
    b->denom = 1.0 - vy;
    return !(fabs(b->denom) > 0.0);
}

void kh_blocks_solve(const kh_blocks *b, double *x)
{
    solve_blocks(b, x);
    if (!b->v) {
        return;
    }
    const long len = b->nb * b->bs;
    double vx = 0.0;
    for (long i = 0; i < len; i++) {
        vx += b->v[i] * x[i];
    }
    const double c = vx / b->denom;
    for (long i = 0; i < len; i++) {
        x[i] += c * b->y[i];
    }
}
