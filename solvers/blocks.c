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
    b->y = malloc((size_t)nb * (size_t)bs * sizeof(double));
    if (!b->lu || !b->y || bs < 1 || bs > KH_BLOCKS_MAX) {
        kh_blocks_release(b);
        return KH_ERROR(KH_ENOMEM, "cannot allocate %ld blocks of %d x %d", nb, bs, bs);
    }
    return KH_OK;
}

void kh_blocks_release(kh_blocks *b)
{
    free(b->lu);
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

/* The inverse of a 3 x 3 matrix by its cofactors. 0, or 1 when singular. */
static int inverse3(const double *a, double *inv)
{
    const double c00 = a[4] * a[8] - a[5] * a[7], c01 = a[5] * a[6] - a[3] * a[8],
                 c02 = a[3] * a[7] - a[4] * a[6];
    const double det = a[0] * c00 + a[1] * c01 + a[2] * c02;
    if (!(fabs(det) > 0.0) || !isfinite(det)) {
        return 1;
    }
    const double r = 1.0 / det;
    inv[0] = c00 * r;
    inv[1] = (a[2] * a[7] - a[1] * a[8]) * r;
    inv[2] = (a[1] * a[5] - a[2] * a[4]) * r;
    inv[3] = c01 * r;
    inv[4] = (a[0] * a[8] - a[2] * a[6]) * r;
    inv[5] = (a[2] * a[3] - a[0] * a[5]) * r;
    inv[6] = c02 * r;
    inv[7] = (a[1] * a[6] - a[0] * a[7]) * r;
    inv[8] = (a[0] * a[4] - a[1] * a[3]) * r;
    return 0;
}

/* x <- A^-1 x, block by block, with the inverses the factorisation
 * formed; bs is a constant in each call, so the loops unroll. */
static inline void solve_blocks_bs(const kh_blocks *b, double *x, const int bs)
{
    const long nb = b->nb;
    for (long j = 0; j < nb; j++) {
        const double *Ai = b->lu + (size_t)j * (size_t)(bs * bs);
        double xb[KH_BLOCKS_MAX], yb[KH_BLOCKS_MAX];
        for (int k = 0; k < bs; k++) {
            xb[k] = x[k * nb + j];
        }
        for (int k = 0; k < bs; k++) {
            double acc = 0.0;
            for (int l = 0; l < bs; l++) {
                acc += Ai[k * bs + l] * xb[l];
            }
            yb[k] = acc;
        }
        for (int k = 0; k < bs; k++) {
            x[k * nb + j] = yb[k];
        }
    }
}

static void solve_blocks(const kh_blocks *b, double *x)
{
    switch (b->bs) {
    case 3:
        solve_blocks_bs(b, x, 3);
        break;
    case 4:
        solve_blocks_bs(b, x, 4);
        break;
    default:
        solve_blocks_bs(b, x, b->bs);
        break;
    }
}

int kh_blocks_factor(kh_blocks *b, const double *A, const double *u, const double *v)
{
    const long nb = b->nb, len = nb * b->bs;
    const int bs = b->bs;
    for (long j = 0; j < nb; j++) {
        if (bs == 3) {
            if (inverse3(A + (size_t)j * 9, b->lu + (size_t)j * 9)) {
                return 1;
            }
            continue;
        }
        /* LU of the block, then its inverse column by column. */
        double lu[KH_BLOCKS_MAX * KH_BLOCKS_MAX];
        int piv[KH_BLOCKS_MAX];
        memcpy(lu, A + (size_t)j * (size_t)(bs * bs), (size_t)(bs * bs) * sizeof(double));
        if (block_factor(lu, piv, bs)) {
            return 1;
        }
        double *inv = b->lu + (size_t)j * (size_t)(bs * bs);
        for (int c = 0; c < bs; c++) {
            double e[KH_BLOCKS_MAX] = {0.0, 0.0, 0.0, 0.0};
            e[c] = 1.0;
            block_solve(lu, piv, bs, e);
            for (int k = 0; k < bs; k++) {
                inv[k * bs + c] = e[k];
            }
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
