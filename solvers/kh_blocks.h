/* Linear systems (A - u v^T) x = r with A block-diagonal (nb blocks of
 * bs x bs, bs <= KH_BLOCKS_MAX) and one rank-one term: each block is
 * factored by LU with partial pivoting and the rank one is taken by
 * Sherman-Morrison, so a factorisation and a solve cost O(nb bs^3) and
 * O(nb bs^2) (solvers/reduced.c: the per-unit blocks of the Jacobian and
 * the global inhibition).
 *
 * Each block's inverse is formed from its LU (the blocks are a few numbers
 * each: a solve is then one small product per block).
 *
 * Vectors are laid out component-major: component k of block b is
 * x[k * nb + b]. */
#ifndef KH_BLOCKS_H
#define KH_BLOCKS_H

#ifdef __cplusplus
extern "C" {
#endif

#define KH_BLOCKS_MAX 4

typedef struct kh_blocks {
    long nb;
    int bs;
    double *lu; /* [nb x bs x bs] the inverses of the blocks */
    double *y;  /* [nb bs] A^-1 u */
    const double *v;
    double denom; /* 1 - v^T A^-1 u; 1 without a rank one */
} kh_blocks;

/* KH_OK or KH_ENOMEM (KH_ERROR). */
int kh_blocks_init(kh_blocks *b, long nb, int bs);
void kh_blocks_release(kh_blocks *b);
/* Factors A - u v^T. The blocks of A are given row-major, block after block
 * ([nb x bs x bs]); u and v (length nb bs, borrowed until the next factor)
 * may be NULL for no rank one. 0, or 1 when the matrix is singular. */
int kh_blocks_factor(kh_blocks *b, const double *A, const double *u, const double *v);
/* x <- (A - u v^T)^-1 x. */
void kh_blocks_solve(const kh_blocks *b, double *x);

#ifdef __cplusplus
}
#endif
#endif
