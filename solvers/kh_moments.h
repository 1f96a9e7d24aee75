/* The moments of the rows W_mu = alpha_mu W0_mu + beta_mu v within one
 * presentation, without forming W (solvers/reduced.c).
 *
 *   I_mu = sum_i sgn(w_i)|w_i|^(p-1) v_i,  B_mu = sum_i |w_i|^p,
 *   vv_mu = sum_i |w_i|^(p-2) v_i^2,       w_i = alpha W0_mui + beta v_i.
 *
 * A capture, once per presentation, reads W0 once (O(m n)). After it an
 * evaluation costs
 * - O(m) for p = 2 and p = 4: the sums are polynomials in (alpha, beta)
 *   whose coefficients M_k = sum_i W0_i^k v_i^(p-k), k = 0..p, the capture
 *   takes;
 * - O(m) for p = 3 as well: there |w|^3 = sgn(w) w^3, and with alpha > 0 the
 *   sign of w_i = alpha v_i (rho - r_i), rho = beta / alpha, r_i = -W0_i / v_i,
 *   changes only where rho passes r_i. The row's r_i are sorted, with
 *   prefix sums of sgn(v_i) W0_i^k v_i^(3-k) in that order, at its first
 *   evaluation with beta != 0 (before it, w = alpha W0 and the sums the
 *   capture took at beta = 0 serve: most rows never move); an
 *   evaluation finds rho's place (from the row's last place: a step or two)
 *   and takes the signed sums as 2 prefix - total; while rho stays between
 *   the same two breakpoints it reads the sums the row's window kept;
 * - O(m nnz(v)) for any other p: the pixels with v_i = 0 contribute only
 *   |alpha|^p sum_{v_i = 0} |W0_i|^p to B (a constant per row the capture
 *   takes), the others are summed from a packed copy of W0's columns at
 *   them.
 * Each row is summed by one thread in a fixed order: bit-identical for any
 * thread count. */
#ifndef KH_MOMENTS_H
#define KH_MOMENTS_H

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_moments {
    long m, n, nnz;
    double p, p2;          /* p and p - 2 */
    int ip, ip2;           /* p and p - 2 as integers 0..4, or -1 */
    int poly;              /* p is 2 or 4: the polynomial moments */
    int odd;               /* p is 3: the sorted breakpoints */
    long *idx;             /* [n] the pixels with v_i != 0 */
    double *vnz;           /* [n] v at them */
    long *lane;            /* [n] the j of each of row_sums' four lanes, lane by lane */
    long lane_len[4];      /* how many each lane has */
    double *w0;            /* [m x nnz] W0 at them, row-major (not poly) */
    double *cz;            /* [m] sum over the pixels with v_i = 0 of |W0_i|^p */
    double *mk;            /* [m x 5] M_0..M_p (poly) */
    double *rs;            /* [m x nnz] (odd) r_i, sorted, of each row in its slot */
    double *pre;           /* [m x (nnz + 1) x 4] (odd) prefix sums in that order, by slot */
    long *slot;            /* [m] (odd) the row's place in rs and pre while sorted != 0: the
                              rows sorted since the capture take places 0, 1, ... in turn, so
                              that what they touch is packed (few rows move in a presentation)
                              and the same memory serves the next presentation */
    long nslot;            /* (odd) places taken since the capture */
    long *at;              /* [m] (odd) the place of rho at the last evaluation */
    double *win;           /* [m x 6] (odd) its window r[at-1], r[at] and sums there */
    double *s0;            /* [m x 3] (odd) the row's sums at beta = 0 */
    unsigned char *sorted; /* [m] (odd) 0: rs and pre do not hold the row yet; 1: only the
                              breakpoints about rho at its first move are sorted, and rho
                              may move within span; 2: the whole row is */
    double *span;          /* [m x 2] (odd) where rs, pre are good while sorted is 1 */
    double *g00, *g01;     /* [m] sum_i W0_i^2, sum_i W0_i v_i: the row norms */
    double g11;            /* sum_i v_i^2 */
    /* Rows that no one wrote since the last capture (p = 2, 3, 4): what that
     * capture summed over every pixel is kept, and the next capture reads
     * only their non-zero pixels (most rows do not move in a presentation). */
    const double *seen;  /* the W0 the last capture read */
    unsigned char *kept; /* [m] 1: row mu of `seen` is as it was read (kh_moments_form clears) */
    double *tot;         /* [m x 2] its sums over every pixel: W0^2, and |W0|^3 or W0^4 */
    double *edge;        /* [m x 2] its first and last weight then, checked before use */
    long reread;         /* rows the captures read whole (a count, for the tests) */
} kh_moments;

/* For m rows of n inputs and order p >= 2. KH_OK or KH_ENOMEM (KH_ERROR). */
int kh_moments_init(kh_moments *mo, long m, long n, double p);
void kh_moments_release(kh_moments *mo);
/* Takes W0 (m x n, row-major) and v (n) as the basis (borrowed only here).
 * A row of the same W0 as the last capture's that kh_moments_form did not
 * write since (and whose first and last weights are as they were) is read
 * only at v's non-zero pixels; its sums come out the same to the bit. Code
 * that writes W0 by other means calls kh_moments_forget first. */
void kh_moments_capture(kh_moments *mo, const double *W0, const double *v);
/* The next capture reads every row whole. */
void kh_moments_forget(kh_moments *mo);
/* I, B (and vv unless NULL) of every row at alpha, beta (length m each);
 * alpha > 0 for p = 3. Only the rows' sorted breakpoints and places of rho
 * (rs, pre, sorted, at, win) change in mo, each row's by its own
 * evaluations: rows may be evaluated by different threads. */
void kh_moments_eval(kh_moments *mo, const double *alpha, const double *beta, double *I, double *B,
                     double *vv);
/* The same for k rows: row rows[j] (j when rows is NULL) at alpha[j],
 * beta[j] into I[j], B[j] (vv[j]). */
void kh_moments_eval_rows(kh_moments *mo, const long *rows, long k, const double *alpha,
                          const double *beta, double *I, double *B, double *vv);
/* The same for row mu alone (its place of rho changes for p = 3). */
void kh_moments_eval_row(kh_moments *mo, long mu, double alpha, double beta, double *I, double *B,
                         double *vv);
/* W_mu <- alpha_mu W_mu + beta_mu v in place (W is the captured W0, m x n)
 * for the rows whose (alpha, beta) left (1, 0): W as the basis stands for.
 * Those rows are read whole at the next capture. */
void kh_moments_form(kh_moments *mo, double *W, const double *v, const double *alpha,
                     const double *beta);
/* |alpha W0_mu + beta v|^2 summed over the row, and that of the row
 * ea W0_mu + eb v (an error in the basis): from the capture's Gram sums. */
static inline double kh_moments_row_sq(const kh_moments *mo, long mu, double alpha, double beta)
{
    const double s =
        alpha * alpha * mo->g00[mu] + 2.0 * alpha * beta * mo->g01[mu] + beta * beta * mo->g11;
    return s > 0.0 ? s : 0.0;
}

/* A step's error in row mu's basis coordinates, (ea, eb), from (a0, b0) to
 * (a1, b1): n times the row's mean square error over the square of its
 * scale atol + rtol (the row's RMS size, the larger of the two ends).
 * Summed over the rows (and divided by the weights' count) it is the RMS
 * norm dopri5 takes over the full state's weights. */
static inline double kh_moments_row_err(const kh_moments *mo, long mu, double a0, double b0,
                                        double a1, double b1, double ea, double eb, double atol,
                                        double rtol)
{
    const double ew2 = kh_moments_row_sq(mo, mu, ea, eb);
    const double w0 = kh_moments_row_sq(mo, mu, a0, b0);
    const double w1 = kh_moments_row_sq(mo, mu, a1, b1);
    const double sc =
        atol + rtol * sqrt((w0 > w1 ? w0 : w1) * (1.0 / (double)(mo->n > 0 ? mo->n : 1)));
    return ew2 / (sc * sc);
}

#ifdef __cplusplus
}
#endif
#endif
