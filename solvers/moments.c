/* The moments of a row in the basis {W0_mu, v} of one presentation
 * (solvers/kh_moments.h). */
#include "solvers/kh_moments.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_mem.h"
#include "core/kh_threads.h"

/* Rows of up to this many non-zero pixels sort on the stack. */
#define KH_MOMENTS_SORT_MAX 4096

int kh_moments_init(kh_moments *mo, long m, long n, double p)
{
    memset(mo, 0, sizeof *mo);
    mo->m = m;
    mo->n = n;
    mo->p = p;
    mo->p2 = p - 2.0;
    mo->ip2 = kh_int_exponent(mo->p2);
    mo->ip = kh_int_exponent(p);
    mo->poly = p == 2.0 || p == 4.0;
    mo->odd = p == 3.0;
    size_t mn = (size_t)m * (size_t)n;
    if (mo->odd) {
        mo->rs = kh_big_alloc(mn, sizeof(double));
        mo->pre = kh_big_alloc((size_t)m * 4 * ((size_t)n + 1), sizeof(double));
        mo->at = calloc((size_t)m, sizeof(long));
        mo->win = malloc((size_t)m * 6 * sizeof(double));
        mo->s0 = malloc((size_t)m * 3 * sizeof(double));
        mo->sorted = calloc((size_t)m, 1);
        mo->slot = malloc((size_t)(m > 0 ? m : 1) * sizeof(long));
        mo->span = malloc((size_t)m * 2 * sizeof(double));
        if (!mo->rs || !mo->pre || !mo->at || !mo->win || !mo->s0 || !mo->sorted || !mo->slot ||
            !mo->span) {
            kh_moments_release(mo);
            return KH_ERROR(KH_ENOMEM, "cannot allocate the moments of %ld x %ld weights", m, n);
        }
    }
    mo->idx = malloc((size_t)n * sizeof(long));
    mo->vnz = malloc((size_t)n * sizeof(double));
    mo->lane = malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    mo->w0 = mo->poly ? NULL : kh_big_alloc(mn, sizeof(double));
    mo->cz = malloc((size_t)m * sizeof(double));
    mo->mk = malloc((size_t)m * 5 * sizeof(double));
    mo->g00 = malloc((size_t)m * sizeof(double));
    mo->g01 = malloc((size_t)m * sizeof(double));
    mo->kept = calloc((size_t)(m > 0 ? m : 1), 1);
    mo->tot = malloc((size_t)(m > 0 ? m : 1) * 2 * sizeof(double));
    mo->edge = malloc((size_t)(m > 0 ? m : 1) * 2 * sizeof(double));
    if (!mo->idx || !mo->vnz || !mo->lane || (!mo->poly && !mo->w0) || !mo->cz || !mo->mk ||
        !mo->g00 || !mo->g01 || !mo->kept || !mo->tot || !mo->edge) {
        kh_moments_release(mo);
        return KH_ERROR(KH_ENOMEM, "cannot allocate the moments of %ld x %ld weights", m, n);
    }
    return KH_OK;
}

void kh_moments_release(kh_moments *mo)
{
    free(mo->idx);
    free(mo->vnz);
    free(mo->lane);
    free(mo->w0);
    free(mo->cz);
    free(mo->mk);
    free(mo->g00);
    free(mo->g01);
    free(mo->kept);
    free(mo->tot);
    free(mo->edge);
    free(mo->rs);
    free(mo->pre);
    free(mo->at);
    free(mo->win);
    free(mo->s0);
    free(mo->sorted);
    free(mo->slot);
    free(mo->span);
    memset(mo, 0, sizeof *mo);
}

/* Sorts key[0..n) ascending and carries val[0..n) along (Shell's sort with
 * Ciura's gaps: no recursion, no allocation, fast for the few hundred
 * pixels of a row). */
static void sort_pairs(double *key, long *val, long n)
{
    static const long gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        const long gap = gaps[g];
        for (long i = gap; i < n; i++) {
            double k = key[i];
            long v = val[i], j = i;
            for (; j >= gap && key[j - gap] > k; j -= gap) {
                key[j] = key[j - gap];
                val[j] = val[j - gap];
            }
            key[j] = k;
            val[j] = v;
        }
    }
}

/* Moves the pairs (key, val) whose key is below `x` (equal to it when
 * `equal`) to the front; their number. Without a branch on the key
 * (Lomuto's scheme as Alexandrescu writes it): each pair goes to the
 * partition's end and the end moves past it when its key is in; a pair
 * that is out is put back where one that is out was. Breakpoints come in
 * random order, so a branch on each would be mispredicted half of the
 * time. */
KH_INLINE static inline long move_front(double *key, long *val, long n, double x, int equal)
{
    long i = 0;
    for (long j = 0; j < n; j++) {
        const double k = key[j];
        const long v = val[j];
        key[j] = key[i];
        val[j] = val[i];
        key[i] = k;
        val[i] = v;
        i += equal ? k == x : k < x;
    }
    return i;
}

static long partition_below(double *key, long *val, long n, double x)
{
    return move_front(key, val, n, x, 0);
}

/* Reorders the n pairs so that the k with the smallest keys come first
 * (in no order): quickselect, pivots at the median of three. */
static void select_smallest(double *key, long *val, long n, long k)
{
    long lo = 0, hi = n;
    while (hi - lo > 1 && k > lo && k < hi) {
        const double a = key[lo], b = key[lo + (hi - lo) / 2], c = key[hi - 1];
        const double piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        const long lt = lo + partition_below(key + lo, val + lo, hi - lo, piv);
        /* [lo, lt) < piv; among [lt, hi) those equal to piv next */
        const long eq = lt + move_front(key + lt, val + lt, hi - lt, piv, 1);
        if (k <= lt) {
            hi = lt;
        } else if (k >= eq) {
            lo = eq;
        } else {
            return;
        }
    }
}

/* The breakpoints sorted about rho at a row's first move, on each side. */
#define SORT_NEAR 12

/* p = 3: row mu's breakpoints r_j = -W0_j / v_j, and the prefix sums of
 * sgn(v) W0^k v^(3-k), k = 0..3, in their order, from its packed W0 at the
 * non-zero pixels. At the row's first evaluation away from beta = 0 (most
 * rows never move in a presentation), at rho: only the SORT_NEAR
 * breakpoints below rho and the SORT_NEAR above are sorted, between the
 * others below and the others above (in no order), which is all the prefix
 * sums need while rho stays between the first and the last of those sorted
 * (span; most rows move that little in a presentation). When rho leaves the
 * span, the whole row is sorted (whole = 1). */
static void sort_row(kh_moments *mo, long mu, double rho, int whole)
{
    const long nnz = mo->nnz;
    const double *w = mo->w0 + (size_t)mu * (size_t)nnz;
    if (!mo->sorted[mu]) { /* the next free place (rows sort on several threads) */
        long place;
#pragma omp atomic capture
        place = mo->nslot++;
        mo->slot[mu] = place;
    }
    double *r = mo->rs + (size_t)mo->slot[mu] * (size_t)nnz;
    double *pre = mo->pre + (size_t)mo->slot[mu] * 4 * (size_t)(nnz + 1);
    long order[KH_MOMENTS_SORT_MAX];
    long *ord = nnz <= KH_MOMENTS_SORT_MAX ? order : NULL;
    long *heap = ord ? NULL : malloc((size_t)nnz * sizeof(long));
    ord = ord ? ord : heap;
    for (long j = 0; j < nnz; j++) {
        r[j] = -w[j] / mo->vnz[j];
        ord[j] = j;
    }
    long jl = 0, jh = nnz;
    if (!whole && nnz > 4 * SORT_NEAR) {
        const long nb = partition_below(r, ord, nnz, rho);
        jl = nb > SORT_NEAR ? nb - SORT_NEAR : 0;
        jh = nnz - nb > SORT_NEAR ? nb + SORT_NEAR : nnz;
        /* the largest below rho to the end of their part, the smallest above
         * to the start of theirs */
        select_smallest(r, ord, nb, jl);
        select_smallest(r + nb, ord + nb, nnz - nb, jh - nb);
    }
    sort_pairs(r + jl, ord + jl, jh - jl);
    /* The prefix sums, stored only where they are good ([jl, jh]) and at
     * nnz (the total): the stores were most of a partial sort's time. */
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    for (int k = 0; k < 4; k++) {
        pre[k] = 0.0;
    }
    for (long j = 0; j < nnz; j++) {
        const double v = mo->vnz[ord[j]], w0 = w[ord[j]];
        const double sg = v < 0.0 ? -1.0 : 1.0;
        const double c[4] = {sg * v * v * v, sg * w0 * v * v, sg * w0 * w0 * v, sg * w0 * w0 * w0};
        for (int k = 0; k < 4; k++) {
            acc[k] += c[k];
        }
        if ((j + 1 >= jl && j + 1 <= jh) || j + 1 == nnz) {
            for (int k = 0; k < 4; k++) {
                pre[4 * (j + 1) + k] = acc[k];
            }
        }
    }
    /* The prefix sum at j counts the j smallest breakpoints for j in
     * [jl, jh]; the place of rho, #{r_i < rho}, is known to be one of those
     * while r[jl] < rho <= r[jh - 1] (or unbounded where a part is empty). */
    mo->span[2 * mu] = jl > 0 ? r[jl] : -HUGE_VAL;
    mo->span[2 * mu + 1] = jh < nnz ? r[jh - 1] : HUGE_VAL;
    mo->at[mu] = jl;
    mo->win[6 * mu] = HUGE_VAL; /* no place yet: the first evaluation walks */
    mo->sorted[mu] = jl == 0 && jh == nnz ? 2 : 1;
    free(heap);
}

/* p = 3 at the capture: the sums of the row at beta = 0, where sgn(w_i) =
 * sgn(W0_i): sum W0 |W0| v, sum |W0|^3 and sum |W0| v^2 over the non-zero
 * pixels (the rest of B is cz). */
static void sums_at_zero(kh_moments *mo, long mu)
{
    const long nnz = mo->nnz;
    const double *w = mo->w0 + (size_t)mu * (size_t)nnz;
    double s[3] = {0.0, 0.0, 0.0};
    for (long j = 0; j < nnz; j++) {
        const double v = mo->vnz[j], aw = fabs(w[j]);
        s[0] += w[j] * aw * v;
        s[1] += aw * aw * aw;
        s[2] += aw * v * v;
    }
    memcpy(mo->s0 + 3 * mu, s, sizeof s);
    mo->sorted[mu] = 0;
}

/* sum w^2, sum w v and sum w^4 (|w|^3 when `cube`) over a row, each in
 * four interleaved partial sums (so the adds do not wait on each other),
 * added in a fixed order. */
static void row_sums(const double *w, const double *v, long n, int cube, double out[3])
{
    double a[3][4] = {{0.0}};
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int l = 0; l < 4; l++) {
            const double w2 = w[i + l] * w[i + l];
            a[0][l] += w2;
            a[1][l] += w[i + l] * v[i + l];
            a[2][l] += w2 * (cube ? fabs(w[i + l]) : w2);
        }
    }
    for (; i < n; i++) {
        const double w2 = w[i] * w[i];
        a[0][0] += w2;
        a[1][0] += w[i] * v[i];
        a[2][0] += w2 * (cube ? fabs(w[i]) : w2);
    }
    for (int k = 0; k < 3; k++) {
        out[k] = (a[k][0] + a[k][1]) + (a[k][2] + a[k][3]);
    }
}

/* The lanes in which row_sums adds pixel i (i mod 4, and lane 0 for the
 * tail past the last multiple of 4, which it adds last), as lists of the
 * non-zero pixels' j, each in the order row_sums adds them. */
static void lanes(kh_moments *mo)
{
    const long n4 = mo->n / 4 * 4;
    long *at = mo->lane;
    for (int l = 0; l < 4; l++) {
        mo->lane_len[l] = 0;
        for (long j = 0; j < mo->nnz; j++) {
            const long i = mo->idx[j];
            if ((i < n4 ? (i & 3) : 0) == l) {
                at[mo->lane_len[l]++] = j;
            }
        }
        at += mo->lane_len[l];
    }
}

/* sum_i w_i v_i over the non-zero pixels only, in the lanes and order in
 * which row_sums adds it over every pixel (a zero pixel adds an exact zero
 * there, which leaves a lane's sum as it is: it starts at +0 and so never
 * is -0): the same number to the bit. The four lanes' sums are independent
 * chains, taken side by side. */
static double row_dot_nnz(const kh_moments *mo, const double *w, const double *packed)
{
    const long *l0 = mo->lane, *l1 = l0 + mo->lane_len[0], *l2 = l1 + mo->lane_len[1],
               *l3 = l2 + mo->lane_len[2];
    const long *lists[4] = {l0, l1, l2, l3};
    long common = mo->lane_len[0];
    for (int l = 1; l < 4; l++) {
        common = mo->lane_len[l] < common ? mo->lane_len[l] : common;
    }
    const double *v = mo->vnz;
    double a[4] = {0.0, 0.0, 0.0, 0.0};
    if (packed) {
        for (long k = 0; k < common; k++) {
            a[0] += packed[l0[k]] * v[l0[k]];
            a[1] += packed[l1[k]] * v[l1[k]];
            a[2] += packed[l2[k]] * v[l2[k]];
            a[3] += packed[l3[k]] * v[l3[k]];
        }
    } else {
        const long *idx = mo->idx;
        for (long k = 0; k < common; k++) {
            a[0] += w[idx[l0[k]]] * v[l0[k]];
            a[1] += w[idx[l1[k]]] * v[l1[k]];
            a[2] += w[idx[l2[k]]] * v[l2[k]];
            a[3] += w[idx[l3[k]]] * v[l3[k]];
        }
    }
    for (int l = 0; l < 4; l++) {
        const long *list = lists[l];
        for (long k = common; k < mo->lane_len[l]; k++) {
            const long j = list[k];
            a[l] += (packed ? packed[j] : w[mo->idx[j]]) * v[j];
        }
    }
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/* One row of the capture; `keep`: the row may be as the last capture read it. */
KH_CLONES static void capture_row(kh_moments *mo, const double *w, const double *v, long mu,
                                  int keep)
{
    const long n = mo->n, nnz = mo->nnz;
    const int ip = mo->ip;
    double sums[3], cz = 0.0;
    double *tot = mo->tot + 2 * mu, *edge = mo->edge + 2 * mu;
    const int kept = keep && mo->kept[mu] && n > 0 && w[0] == edge[0] && w[n - 1] == edge[1];
    double *packed = mo->poly ? NULL : mo->w0 + (size_t)mu * (size_t)nnz;
    if (packed) { /* W0 at the non-zero pixels */
        for (long j = 0; j < nnz; j++) {
            packed[j] = w[mo->idx[j]];
        }
    }
    if (kept) {
        sums[0] = tot[0];
        sums[1] = row_dot_nnz(mo, w, packed);
        sums[2] = tot[1];
    } else {
        row_sums(w, v, n, mo->odd, sums);
        tot[0] = sums[0];
        tot[1] = sums[2];
        edge[0] = n > 0 ? w[0] : 0.0;
        edge[1] = n > 0 ? w[n - 1] : 0.0;
        mo->kept[mu] = keep;
#pragma omp atomic
        mo->reread++;
    }
    mo->g00[mu] = sums[0];
    mo->g01[mu] = sums[1];
    if (mo->poly) {
        /* M_P = sum W0^P over every pixel; the others have a power of v in
         * them, so only the non-zero pixels add to them. */
        const int P = (int)mo->p;
        double mk[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
        mk[P] = P == 4 ? sums[2] : sums[0];
        for (long j = 0; j < nnz; j++) {
            const double wi = w[mo->idx[j]], vi = mo->vnz[j];
            double vp[5], wp = 1.0;
            vp[0] = 1.0;
            for (int k = 1; k <= P; k++) {
                vp[k] = vp[k - 1] * vi;
            }
            for (int k = 0; k < P; k++) {
                mk[k] += wp * vp[P - k];
                wp *= wi;
            }
        }
        memcpy(mo->mk + 5 * mu, mk, sizeof mk);
        return;
    }
    if (mo->odd) {
        /* the zero pixels' |w|^3: the row's, less the non-zero pixels' (the
         * row is read once) */
        sums_at_zero(mo, mu);
        cz = sums[2] - mo->s0[3 * mu + 1];
        mo->cz[mu] = cz > 0.0 ? cz : 0.0;
        return;
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
    mo->nslot = 0; /* every row's sorted is 0 after it */
    lanes(mo);
    /* p = 2, 3, 4: the sums over every pixel are all a row's capture needs
     * beyond its non-zero pixels */
    const int keep = mo->poly || mo->odd;
    const int same = keep && W0 == mo->seen;
    if (!same) {
        memset(mo->kept, 0, (size_t)m);
    }
#pragma omp parallel for default(none) shared(mo, W0, v)                                           \
    firstprivate(m, n, keep) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        capture_row(mo, W0 + (size_t)mu * (size_t)n, v, mu, keep);
    }
    mo->seen = keep ? W0 : NULL;
}

void kh_moments_forget(kh_moments *mo)
{
    mo->seen = NULL;
}

/* sum_k C(q, k) alpha^k beta^(q-k) M_k, k = 0..q. */
KH_INLINE static inline double binomial_sum(const double *mk, int q, double alpha, double beta)
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

/* p = 3: the signed sums S_k = sum_i sgn(w_i) W0_i^k v_i^(3-k) of row mu at
 * rho = beta / alpha, from the prefix sums at rho's place. */
static void signed_sums(kh_moments *mo, long mu, double rho, double S[4])
{
    /* Most evaluations find rho between the same two breakpoints as the
     * last one: then the sums are those it left in the row's window, read
     * from 48 bytes instead of the row's breakpoints and prefix sums (the
     * walk's cache misses were most of an evaluation at m = 2000). */
    double *c = mo->win + 6 * mu;
    if (c[0] < rho && !(c[1] < rho)) {
        for (int k = 0; k < 4; k++) {
            S[k] = c[2 + k];
        }
        return;
    }
    const long nnz = mo->nnz;
    if (mo->sorted[mu] == 1 && !(mo->span[2 * mu] < rho && rho <= mo->span[2 * mu + 1])) {
        sort_row(mo, mu, rho, 1);
    }
    const double *r = mo->rs + (size_t)mo->slot[mu] * (size_t)nnz;
    const double *pre = mo->pre + (size_t)mo->slot[mu] * 4 * (size_t)(nnz + 1);
    long j = mo->at[mu]; /* j = #{r_i < rho} */
    while (j < nnz && r[j] < rho) {
        j++;
    }
    while (j > 0 && !(r[j - 1] < rho)) {
        j--;
    }
    mo->at[mu] = j;
    for (int k = 0; k < 4; k++) {
        S[k] = 2.0 * pre[4 * j + k] - pre[4 * nnz + k];
    }
    /* The window where the walk would stay at j: r[j - 1] < rho <= r[j]. */
    c[0] = j > 0 ? r[j - 1] : -HUGE_VAL;
    c[1] = j < nnz ? r[j] : HUGE_VAL;
    for (int k = 0; k < 4; k++) {
        c[2 + k] = S[k];
    }
}

/* p = 3: I, B (and vv unless NULL) of row mu at (a, b), a > 0. */
static void eval_sorted(kh_moments *mo, long mu, double a, double b, double *I, double *B,
                        double *vv)
{
    if (!mo->sorted[mu]) {
        if (b == 0.0) { /* w = a W0: the capture's sums */
            const double *s0 = mo->s0 + 3 * mu;
            *I = a * a * s0[0];
            *B = a * a * a * (s0[1] + mo->cz[mu]);
            if (vv) {
                *vv = a * s0[2];
            }
            return;
        }
        sort_row(mo, mu, b / a, 0);
    }
    double S[4];
    signed_sums(mo, mu, b / a, S);
    /* binomial_sum for q = 2, 3 and 1, written out. */
    const double a2 = a * a, b2 = b * b, ab = a * b;
    *I = b2 * S[0] + 2.0 * ab * S[1] + a2 * S[2];
    *B = b * (b2 * S[0] + 3.0 * ab * S[1] + 3.0 * a2 * S[2]) + a2 * a * (S[3] + mo->cz[mu]);
    if (vv) {
        *vv = b * S[0] + a * S[1];
    }
}

/* p = 2 or 4: the same from the polynomial's coefficients. P is a constant
 * at each call, so the sums unroll (the same operations in the same order
 * as the loops: the results are those of the loops, bit for bit). */
KH_INLINE static inline void poly_sums(const double *mk, int P, double a, double b, double *I,
                                       double *B, double *vv)
{
    *I = binomial_sum(mk, P - 1, a, b);
    *B = binomial_sum(mk, P, a, b);
    if (vv) {
        *vv = binomial_sum(mk, P - 2, a, b);
    }
}

static void eval_poly(const kh_moments *mo, long mu, double a, double b, double *I, double *B,
                      double *vv)
{
    const double *mk = mo->mk + 5 * mu;
    if (mo->ip == 4) {
        poly_sums(mk, 4, a, b, I, B, vv);
    } else {
        poly_sums(mk, 2, a, b, I, B, vv);
    }
}

/* Any other p: the sums over the non-zero pixels, plus |a|^p times the rest. */
static void eval_packed(const kh_moments *mo, long mu, double a, double b, double *I, double *B,
                        double *vv)
{
    const long nnz = mo->nnz;
    double sv;
    eval_row(mo->w0 + (size_t)mu * (size_t)nnz, mo->vnz, nnz, a, b, mo->p2, mo->ip2, I, B, &sv);
    *B += kh_abspow(a, mo->p, mo->ip) * mo->cz[mu];
    if (vv) {
        *vv = sv;
    }
}

void kh_moments_eval_row(kh_moments *mo, long mu, double alpha, double beta, double *I, double *B,
                         double *vv)
{
    if (mo->odd) {
        eval_sorted(mo, mu, alpha, beta, I, B, vv);
    } else if (mo->poly) {
        eval_poly(mo, mu, alpha, beta, I, B, vv);
    } else {
        eval_packed(mo, mu, alpha, beta, I, B, vv);
    }
}

void kh_moments_eval(kh_moments *mo, const double *alpha, const double *beta, double *I, double *B,
                     double *vv)
{
    kh_moments_eval_rows(mo, NULL, mo->m, alpha, beta, I, B, vv);
}

void kh_moments_eval_rows(kh_moments *mo, const long *rows, long k, const double *alpha,
                          const double *beta, double *I, double *B, double *vv)
{
    const long nnz = mo->nnz;
    if (mo->odd) {
        for (long j = 0; j < k; j++) {
            eval_sorted(mo, rows ? rows[j] : j, alpha[j], beta[j], &I[j], &B[j],
                        vv ? &vv[j] : NULL);
        }
        return;
    }
    if (mo->poly) {
        for (long j = 0; j < k; j++) {
            eval_poly(mo, rows ? rows[j] : j, alpha[j], beta[j], &I[j], &B[j], vv ? &vv[j] : NULL);
        }
        return;
    }
#pragma omp parallel for default(none) shared(mo, rows, alpha, beta, I, B, vv)                     \
    firstprivate(k, nnz) if (KH_PAR(k * nnz)) schedule(static)
    for (long j = 0; j < k; j++) {
        eval_packed(mo, rows ? rows[j] : j, alpha[j], beta[j], &I[j], &B[j], vv ? &vv[j] : NULL);
    }
}

KH_CLONES static void row_form(double *w, const double *v, long n, double al, double be)
{
    kh_row_affine(w, v, n, al, be);
}

void kh_moments_form(kh_moments *mo, double *W, const double *v, const double *alpha,
                     const double *beta)
{
    const long m = mo->m, n = mo->n;
    unsigned char *kept = mo->kept;
#pragma omp parallel for default(none) shared(W, v, alpha, beta, kept)                             \
    firstprivate(m, n) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        if (alpha[mu] != 1.0 || beta[mu] != 0.0) {
            row_form(W + (size_t)mu * (size_t)n, v, n, alpha[mu], beta[mu]);
            kept[mu] = 0;
        }
    }
}
