/* The fast rule in one precision: included twice by solvers/fast.c, with
 * R = double and R = float (FR(name) gives each its own names, GEMM its
 * BLAS routine, KS(name) the kh_kernels.h function of that precision). No
 * include guard on purpose. The algorithm is described in kh_fast.h. */

typedef struct FR(impl) {
    R *W;               /* [m, n]: weights */
    R *Wp;              /* sgn(W)|W|^(p-1): [m, n] for the GEMM, [n, m] for sparse data */
    long *rowptr, *col; /* sparse data: CSR of X (N + 1 row starts, column of each entry) */
    R *val;             /* and its values */
    R *X;               /* [N, n]: the data */
    R *Vb;              /* [max_batch, n]: the samples of the minibatch */
    R *C;               /* [max_batch, m]: their currents */
    R *dW;              /* [m, n]: rows of Delta W, touched rows only */
    R *cg;              /* [max_batch * m]: the code of each contribution */
    R *rowmax;          /* [m]: max |Delta W| of each touched row */
    double *act;        /* [max_batch, m]: activities when fast_rank or fast_code is off */
    double *hbuf;       /* [m]: steady-state scratch */
    long *steady_order; /* [2m] */
} FR(impl);

static void FR(free)(FR(impl) * s)
{
    if (!s) {
        return;
    }
    free(s->W);
    free(s->Wp);
    free(s->rowptr);
    free(s->col);
    free(s->val);
    free(s->X);
    free(s->Vb);
    free(s->C);
    free(s->dW);
    free(s->cg);
    free(s->rowmax);
    free(s->act);
    free(s->hbuf);
    free(s->steady_order);
    free(s);
}

/* sgn(W)|W|^(p-1) of the rows `rows` (all rows when rows is NULL), in the
 * layout of the current product. */
static void FR(refresh_wp)(const kh_fast *f, FR(impl) * s, const long *rows, long nr)
{
    const long n = f->n;
    const R p1 = (R)f->p1;
    const int ip1 = f->ip1;
    R *W = s->W, *Wp = s->Wp;
    if (f->sparse) {
        /* Unit mu = t FR_TILE + u sits at [(t n + i) FR_TILE + u]: each tile of
         * units is one contiguous block, n x FR_TILE. The rows come sorted
         * by tile (tiles[] gives each tile's first row), and each tile is
         * written row of Wp by row, all its touched units together. */
        const long *ts = f->tile_start;
        const long nts = rows ? f->n_tile_start : -1;
        const long nblocks = rows ? nts : (f->m + FR_TILE - 1) / FR_TILE;
        const long m = f->m;
#pragma omp parallel for default(none) shared(rows, W, Wp, ts)                                     \
    firstprivate(nblocks, n, m, p1, ip1) if (KH_PAR(nblocks * FR_TILE * n)) schedule(static)
        for (long t = 0; t < nblocks; t++) {
            long r0 = rows ? ts[t] : t * FR_TILE;
            long r1 = rows ? ts[t + 1] : (t + 1) * FR_TILE < m ? (t + 1) * FR_TILE : m;
            const long tile = (rows ? rows[r0] : r0) / FR_TILE;
            R *blk = Wp + (size_t)tile * (size_t)n * FR_TILE;
            for (long i = 0; i < n; i++) {
                for (long r = r0; r < r1; r++) {
                    const long mu = rows ? rows[r] : r;
                    blk[(size_t)i * FR_TILE + (size_t)(mu % FR_TILE)] =
                        KS(kh_signed_pow)(W[(size_t)mu * (size_t)n + (size_t)i], p1, ip1);
                }
            }
        }
        return;
    }
#pragma omp parallel for default(none) shared(rows, W, Wp)                                         \
    firstprivate(nr, n, p1, ip1) if (KH_PAR(nr * n)) schedule(static)
    for (long r = 0; r < nr; r++) {
        const size_t o = (size_t)(rows ? rows[r] : r) * (size_t)n;
        for (long i = 0; i < n; i++) {
            Wp[o + (size_t)i] = KS(kh_signed_pow)(W[o + (size_t)i], p1, ip1);
        }
    }
}

/* One tile of FR_TILE units of every sample's currents, from the sparse
 * inputs: C[b, t0 + u] = sum_q val_q Wp[col_q, t0 + u]. The tile's block of
 * Wp (n x FR_TILE, contiguous) stays in the cache while every sample of the
 * minibatch goes through it, and the accumulators stay in eight vector
 * registers (GCC's vector extension; FR_TILE = 8 vectors of 32 bytes). Only
 * the units below m are stored. */
typedef R FR(vec) __attribute__((vector_size(32)));
#define FR_VL ((int)(32 / sizeof(R)))

KH_CLONES static void FR(tile_currents)(R *C, const R *Wpt, const long *rowptr, const long *col,
                                        const R *val, const long *idx, long nb, long m, long n,
                                        long t0)
{
    const R *blk = Wpt + (size_t)t0 * (size_t)n; /* tile t0 / FR_TILE: n x FR_TILE */
    for (long b = 0; b < nb; b++) {
        FR(vec) acc[8];
        for (int k = 0; k < 8; k++) {
            acc[k] = (FR(vec)){0};
        }
        const long j = idx[b];
        for (long q = rowptr[j]; q < rowptr[j + 1]; q++) {
            const R x = val[q];
            const R *w = blk + (size_t)col[q] * FR_TILE;
            for (int k = 0; k < 8; k++) {
                FR(vec) wk;
                memcpy(&wk, w + k * FR_VL, sizeof wk);
                acc[k] += x * wk;
            }
        }
        R *c = C + (size_t)b * (size_t)m + (size_t)t0;
        memcpy(c, acc, (size_t)(m - t0 < FR_TILE ? m - t0 : FR_TILE) * sizeof(R));
    }
}
#undef FR_VL

/* d [n] += g v [n]. */
KH_CLONES static void FR(acc_row)(R *d, const R *v, long n, R g)
{
    for (long i = 0; i < n; i++) {
        d[i] += g * v[i];
    }
}

/* d [n] <- Delta W of a row from d = sum_b g v_b; returns max |d|. */
KH_CLONES static R FR(finish_row)(R *d, const R *w, long n, R gI, R Rp)
{
    R mx = (R)0;
    for (long i = 0; i < n; i++) {
        d[i] = KS(kh_fast_dw)(w[i], d[i], gI, Rp);
        R a = KH_FABS_R(d[i]);
        mx = a > mx ? a : mx;
    }
    return mx;
}

/* The currents of the minibatch into C [nb, m]: a GEMM with OpenBLAS for
 * dense data; for sparse data (MNIST: 19 % of pixels are non-zero), per
 * sample the sum over its non-zero inputs i of v_i sgn(W_i)|W_i|^(p-1),
 * columns of the transposed Wp. */
static void FR(currents)(kh_fast *f, FR(impl) * s, const long *idx, long nb)
{
    const long m = f->m, n = f->n;
    if (!f->sparse) {
        for (long b = 0; b < nb; b++) {
            memcpy(s->Vb + (size_t)b * (size_t)n, s->X + (size_t)idx[b] * (size_t)n,
                   (size_t)n * sizeof(R));
        }
        /* C [nb, m] = Vb [nb, n] Wp^T. */
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)m, (int)n, (R)1, s->Vb, (int)n,
             s->Wp, (int)n, (R)0, s->C, (int)m);
        f->flops = 2.0 * (double)nb * (double)m * (double)n;
        return;
    }
    const long *rowptr = s->rowptr, *col = s->col;
    const R *val = s->val, *Wp = s->Wp;
    R *C = s->C;
    /* The last tile may be partial: its padding units of Wp are zero. */
    const long n_tiles = (m + FR_TILE - 1) / FR_TILE;
#pragma omp parallel for default(none) shared(idx, rowptr, col, val, Wp, C)                        \
    firstprivate(nb, m, n, n_tiles) if (KH_PAR(nb * m * n)) schedule(static)
    for (long t = 0; t < n_tiles; t++) {
        FR(tile_currents)(C, Wp, rowptr, col, val, idx, nb, m, n, t * FR_TILE);
    }
    long nnz = 0;
    for (long b = 0; b < nb; b++) {
        nnz += rowptr[idx[b] + 1] - rowptr[idx[b]];
    }
    f->flops = 2.0 * (double)nnz * (double)m;
}

static FR(impl) * FR(alloc)(const kh_fast *f, const double *X, const double *W0)
{
    const size_t m = (size_t)f->m, n = (size_t)f->n, N = (size_t)f->N, B = (size_t)f->max_batch;
    FR(impl) *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->W = kh_big_alloc(m * n, sizeof(R));
    /* Sparse data: Wp in tiles of FR_TILE units, the last one zero-padded. */
    const size_t m_pad = (m + FR_TILE - 1) / FR_TILE * FR_TILE;
    s->Wp = kh_big_zalloc((f->sparse ? m_pad : m) * n, sizeof(R));
    s->X = X ? kh_big_alloc(N * n, sizeof(R)) : NULL;
    s->Vb = malloc(B * n * sizeof(R));
    s->C = malloc(B * m * sizeof(R));
    s->dW = kh_big_alloc(m * n, sizeof(R));
    s->cg = malloc(B * m * sizeof(R));
    s->rowmax = malloc(m * sizeof(R));
    s->act = malloc(B * m * sizeof(double));
    s->hbuf = malloc(m * sizeof(double));
    s->steady_order = malloc(2 * m * sizeof(long));
    if (!s->W || !s->Wp || (X && !s->X) || !s->Vb || !s->C || !s->dW || !s->cg || !s->rowmax ||
        !s->act || !s->hbuf || !s->steady_order) {
        FR(free)(s);
        return NULL;
    }
    for (size_t i = 0; X && i < N * n; i++) {
        s->X[i] = (R)X[i];
    }
    if (f->sparse) {
        size_t nnz = 0;
        for (size_t i = 0; i < N * n; i++) {
            nnz += X[i] != 0.0;
        }
        s->rowptr = malloc((N + 1) * sizeof(long));
        s->col = kh_big_alloc(nnz ? nnz : 1, sizeof(long));
        s->val = kh_big_alloc(nnz ? nnz : 1, sizeof(R));
        if (!s->rowptr || !s->col || !s->val) {
            FR(free)(s);
            return NULL;
        }
        size_t c = 0;
        for (size_t j = 0; j < N; j++) {
            s->rowptr[j] = (long)c;
            for (size_t i = 0; i < n; i++) {
                if (X[j * n + i] != 0.0) {
                    s->col[c] = (long)i;
                    s->val[c++] = (R)X[j * n + i];
                }
            }
        }
        s->rowptr[N] = (long)c;
    }
    for (size_t i = 0; i < m * n; i++) {
        s->W[i] = (R)W0[i];
    }
    FR(refresh_wp)(f, s, NULL, (long)m);
    return s;
}

/* The activities and code of sample b from its currents C[b]: appends its
 * contributions (row, sample, g) to the learner's lists. */
static int FR(code_sample)(kh_fast *f, FR(impl) * s, long b)
{
    const kh_params *p = f->p;
    const long m = f->m;
    const R *c = s->C + (size_t)b * (size_t)m;
    double *d = s->act + (size_t)b * (size_t)m;
    for (long mu = 0; mu < m; mu++) {
        d[mu] = (double)c[mu];
    }
    if (!p->fast_rank) {
        int st = steady_activity(f, d, s->hbuf, s->steady_order);
        if (st != KH_OK) {
            return st;
        }
    }
    code_from_activity(f, d, b);
    return KH_OK;
}

/* The paper's code for every sample of the minibatch, in parallel over the
 * samples: sample b's contributions are entries 2b (g = 1, its top unit)
 * and 2b + 1 (g = -delta, its k-th unit). */
static void FR(code_ranked)(kh_fast *f, FR(impl) * s, long nb)
{
    const long m = f->m, k = f->k;
    const R *C = s->C;
    long *crow = f->crow, *cb = f->cb;
    double *cval = f->cval;
    const double delta = f->p->delta;
#pragma omp parallel for default(none) shared(C, crow, cb, cval)                                   \
    firstprivate(nb, m, k, delta) if (KH_PAR(nb * m)) schedule(static)
    for (long b = 0; b < nb; b++) {
        R top[KH_FAST_KMAX];
        long idx[KH_FAST_KMAX];
        KS(kh_topk_of)(C + (size_t)b * (size_t)m, m, 0, k, top, idx);
        crow[2 * b] = idx[0];
        crow[2 * b + 1] = idx[k - 1];
        cb[2 * b] = cb[2 * b + 1] = b;
        cval[2 * b] = 1.0;
        cval[2 * b + 1] = -delta;
    }
    keep_contributions(f, 2 * nb);
}

/* The touched rows' Delta W into s->dW and their max |Delta W| into
 * s->rowmax, from the contributions (row, sample, g) of the minibatch: the
 * inputs of sample b are row b of V, or row vrow[b] when vrow is set. */
static void FR(rows_delta)(kh_fast *f, FR(impl) * s, const R *V, const long *vrow)
{
    const long m = f->m, n = f->n;
    for (long c = 0; c < f->n_contrib; c++) {
        s->cg[c] = (R)f->cval[c];
    }
    contributions_link(f);
    const long nt = f->n_touched;
    const long *rows = f->rows, *head = f->head, *next = f->next, *cb = f->cb;
    const R Rp = (R)f->Rp;
    R *dW = s->dW, *rowmax = s->rowmax;
    const R *W = s->W, *C = s->C, *cg = s->cg;
#pragma omp parallel for default(none) shared(rows, head, next, cb, dW, rowmax, W, C, V, vrow, cg) \
    firstprivate(nt, n, m, Rp) if (KH_PAR(nt * n)) schedule(static)
    for (long r = 0; r < nt; r++) {
        const long mu = rows[r];
        R *d = dW + (size_t)mu * (size_t)n;
        const R *w = W + (size_t)mu * (size_t)n;
        R gI = (R)0;
        for (long i = 0; i < n; i++) {
            d[i] = (R)0;
        }
        for (long c = head[mu]; c >= 0; c = next[c]) {
            const R g = cg[c];
            gI += g * C[(size_t)cb[c] * (size_t)m + (size_t)mu];
            const long b = cb[c];
            FR(acc_row)(d, V + (size_t)(vrow ? vrow[b] : b) * (size_t)n, n, g);
        }
        rowmax[r] = FR(finish_row)(d, w, n, gI, Rp);
    }
    f->flops += 4.0 * (double)n * (double)nt + 2.0 * (double)n * (double)f->n_contrib;
}

/* The currents and codes of a minibatch, then Delta W of the touched rows
 * into s->dW and their max |Delta W| into s->rowmax. */
static int FR(delta)(kh_fast *f, FR(impl) * s, const long *idx, long nb)
{
    FR(currents)(f, s, idx, nb);
    contributions_reset(f);
    if (f->p->fast_rank && f->p->fast_code) {
        FR(code_ranked)(f, s, nb);
    } else {
        for (long b = 0; b < nb; b++) {
            int st = FR(code_sample)(f, s, b);
            if (st != KH_OK) {
                return st;
            }
        }
    }
    /* The samples' inputs: the gathered minibatch (GEMM) or the data's rows. */
    FR(rows_delta)(f, s, f->sparse ? s->X : s->Vb, f->sparse ? idx : NULL);
    return KH_OK;
}

/* Rows handed to the step (kh_fast_step_rows): V [nv, n] into Vb, their
 * currents C [nv, m] = Vb Wp^T, then the paper's code per group of rows,
 * ranked over all (row, unit) entries of the group together: g = 1 at the
 * largest entry and -delta at the k-th (ties to the lower row, then the
 * lower unit), then Delta W of the touched rows. */
static void FR(delta_rows)(kh_fast *f, FR(impl) * s, const double *V, long nv, const long *gend,
                           long ng)
{
    const long m = f->m, n = f->n, k = f->k;
    R *Vb = s->Vb;
    const size_t len = (size_t)nv * (size_t)n;
    for (size_t i = 0; i < len; i++) {
        Vb[i] = (R)V[i];
    }
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nv, (int)m, (int)n, (R)1, Vb, (int)n, s->Wp,
         (int)n, (R)0, s->C, (int)m);
    f->flops = 2.0 * (double)nv * (double)m * (double)n;
    contributions_reset(f);
    const R *C = s->C;
    long *crow = f->crow, *cb = f->cb;
    double *cval = f->cval;
    const double delta = f->p->delta;
#pragma omp parallel for default(none) shared(C, crow, cb, cval, gend)                             \
    firstprivate(ng, m, k, delta) if (KH_PAR(nv * m)) schedule(static)
    for (long g = 0; g < ng; g++) {
        R top[KH_FAST_KMAX];
        long idx[KH_FAST_KMAX];
        const long e0 = (g ? gend[g - 1] : 0) * m, e1 = gend[g] * m;
        KS(kh_topk_of)(C + e0, e1 - e0, e0, k, top, idx);
        const long e[2] = {idx[0], idx[k - 1]};
        for (int j = 0; j < 2; j++) {
            crow[2 * g + j] = e[j] < 0 ? -1 : e[j] % m;
            cb[2 * g + j] = e[j] < 0 ? -1 : e[j] / m;
            cval[2 * g + j] = j == 0 ? 1.0 : -delta;
        }
    }
    keep_contributions(f, 2 * ng);
    FR(rows_delta)(f, s, Vb, NULL);
}

/* W += scale Delta W on the touched rows, and their sgn(W)|W|^(p-1). */
static int FR(apply)(kh_fast *f, FR(impl) * s, double eps)
{
    const long nt = f->n_touched, n = f->n;
    R mx = (R)0;
    for (long r = 0; r < nt; r++) {
        mx = s->rowmax[r] > mx ? s->rowmax[r] : mx;
    }
    const R scale = (R)step_scale(f, (double)mx, eps);
    const long *rows = f->rows;
    R *W = s->W;
    const R *dW = s->dW;
    int bad = 0;
#pragma omp parallel for default(none) shared(rows, W, dW) firstprivate(nt, n, scale)              \
    reduction(|                                                                                    \
              : bad) if (KH_PAR(nt * n)) schedule(static)
    for (long r = 0; r < nt; r++) {
        const size_t o = (size_t)rows[r] * (size_t)n;
        for (long i = 0; i < n; i++) {
            R w = W[o + (size_t)i] + scale * dW[o + (size_t)i];
            W[o + (size_t)i] = w;
            bad |= !(w - w == (R)0);
        }
    }
    tiles_of_rows(f, FR_TILE);
    FR(refresh_wp)(f, s, rows, nt);
    f->flops += 3.0 * (double)n * (double)nt;
    return bad ? KH_ERROR(KH_ESOLVER, "the fast rule made W non-finite (NaN or Inf)") : KH_OK;
}

static void FR(dense_delta)(const kh_fast *f, const FR(impl) * s, double *dW)
{
    const size_t n = (size_t)f->n;
    memset(dW, 0, (size_t)f->m * n * sizeof(double));
    for (long r = 0; r < f->n_touched; r++) {
        const size_t o = (size_t)f->rows[r] * n;
        for (size_t i = 0; i < n; i++) {
            dW[o + i] = (double)s->dW[o + i];
        }
    }
}

static void FR(last)(const kh_fast *f, const FR(impl) * s, long b, double *current,
                     double *activity)
{
    const size_t m = (size_t)f->m;
    const int from_c = f->p->fast_rank && f->p->fast_code;
    for (size_t mu = 0; mu < m; mu++) {
        double c = (double)s->C[(size_t)b * m + mu];
        if (current) {
            current[mu] = c;
        }
        if (activity) {
            activity[mu] = from_c ? c : s->act[(size_t)b * m + mu];
        }
    }
}

static void FR(get_W)(const kh_fast *f, const FR(impl) * s, double *W)
{
    const size_t mn = (size_t)f->m * (size_t)f->n;
    for (size_t i = 0; i < mn; i++) {
        W[i] = (double)s->W[i];
    }
}

static void FR(set_W)(const kh_fast *f, FR(impl) * s, const double *W)
{
    const size_t mn = (size_t)f->m * (size_t)f->n;
    for (size_t i = 0; i < mn; i++) {
        s->W[i] = (R)W[i];
    }
    FR(refresh_wp)(f, s, NULL, f->m);
}

static void FR(pnorm)(const kh_fast *f, const FR(impl) * s, double *B)
{
    const long n = f->n;
    const double pp = f->p->p;
    const int ip = kh_int_exponent(pp);
    for (long mu = 0; mu < f->m; mu++) {
        B[mu] = KS(kh_row_pnorm)(s->W + (size_t)mu * (size_t)n, n, pp, ip);
    }
}
