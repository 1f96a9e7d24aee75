/* The batched Euler ensemble in one precision: included twice by
 * solvers/euler.c (ER = double, ER = float; EB(name) its names, KS(name) the
 * kh_kernels.h function of that precision). No include guard on purpose. */

typedef struct EB(state) {
    ER *h, *W, *v, *I, *Bn, *a, *b; /* [B m], [B m n], [B n], then [B m] each */
} EB(state);

static void EB(free)(EB(state) * s)
{
    if (!s) {
        return;
    }
    free(s->h);
    free(s->W);
    free(s->v);
    free(s->I);
    free(s->Bn);
    free(s->a);
    free(s->b);
    free(s);
}

static EB(state) * EB(alloc)(long B, long m, long n)
{
    EB(state) *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    const size_t bm = (size_t)B * (size_t)m;
    s->h = calloc(bm, sizeof(ER));
    s->W = calloc(bm * (size_t)n, sizeof(ER));
    s->v = calloc((size_t)B * (size_t)n, sizeof(ER));
    s->I = calloc(bm, sizeof(ER));
    s->Bn = calloc(bm, sizeof(ER));
    s->a = calloc(bm, sizeof(ER));
    s->b = calloc(bm, sizeof(ER));
    if (!s->h || !s->W || !s->v || !s->I || !s->Bn || !s->a || !s->b) {
        EB(free)(s);
        return NULL;
    }
    return s;
}

/* I and B of row mu of trajectory t from its W and v. */
static void EB(row_moments)(const kh_ens *e, EB(state) * s, long t, long mu)
{
    const long n = e->n;
    const ER p2 = (ER)(e->prm[t].p - 2.0);
    const int ip2 = kh_int_exponent(e->prm[t].p - 2.0);
    const ER *w = s->W + ((size_t)t * (size_t)e->m + (size_t)mu) * (size_t)n;
    const ER *v = s->v + (size_t)t * (size_t)n;
    ER si = (ER)0, sb = (ER)0;
    for (long i = 0; i < n; i++) {
        ER ti, tb;
        KS(kh_moment_elem)(w[i], v[i], KS(kh_abspow)(w[i], p2, ip2), &ti, &tb);
        si += ti;
        sb += tb;
    }
    s->I[(size_t)t * (size_t)e->m + (size_t)mu] = si;
    s->Bn[(size_t)t * (size_t)e->m + (size_t)mu] = sb;
}

static void EB(moments)(const kh_ens *e, EB(state) * s)
{
    const long B = e->B, m = e->m;
#pragma omp parallel for default(none) shared(e, s) firstprivate(B, m) if (KH_PAR(B * m * e->n))   \
    schedule(static)
    for (long r = 0; r < B * m; r++) {
        EB(row_moments)(e, s, r / m, r % m);
    }
}

/* One step of every trajectory: the unit phase (a, b and h from the state
 * at the step's start), then each row of W and its new moments. */
static int EB(step)(const kh_ens *e, EB(state) * s, double dt_d)
{
    const long B = e->B, m = e->m, n = e->n;
    const ER dt = (ER)dt_d;
    int bad = 0;
    for (long t = 0; t < B; t++) {
        const kh_ens_params *q = &e->prm[t];
        ER *h = s->h + (size_t)t * (size_t)m, *I = s->I + (size_t)t * (size_t)m;
        ER *Bn = s->Bn + (size_t)t * (size_t)m, *a = s->a + (size_t)t * (size_t)m;
        ER *b = s->b + (size_t)t * (size_t)m;
        ER S = (ER)0;
        for (long mu = 0; mu < m; mu++) {
            S += KS(kh_relu)(h[mu]);
        }
        const ER Rp = (ER)pow(q->R, q->p);
        for (long mu = 0; mu < m; mu++) {
            KS(kh_unit_coefficients)
            (h[mu], I[mu], Bn[mu], q->drive_q, q->g, (ER)q->p, Rp, (ER)q->delta, (ER)q->h_star,
             (ER)q->g_n, &a[mu], &b[mu]);
            h[mu] += dt * KS(kh_dhdt)(I[mu], h[mu], S, (ER)q->w_inh, (ER)q->tau);
            bad |= !(h[mu] - h[mu] == (ER)0);
        }
    }
#pragma omp parallel for default(none) shared(e, s)                                                \
    firstprivate(B, m, n, dt) if (KH_PAR(B * m * n)) schedule(static) reduction(|                  \
                                                                                : bad)
    for (long r = 0; r < B * m; r++) {
        const long t = r / m;
        const ER inv = (ER)(1.0 / e->prm[t].tau_L);
        ER *w = s->W + (size_t)r * (size_t)n;
        const ER *v = s->v + (size_t)t * (size_t)n;
        for (long i = 0; i < n; i++) {
            w[i] = KS(kh_euler_w)(w[i], v[i], s->a[r], s->b[r], inv, dt);
        }
        EB(row_moments)(e, s, t, r % m);
        bad |= !(s->I[r] - s->I[r] == (ER)0) || !(s->Bn[r] - s->Bn[r] == (ER)0);
    }
    return bad;
}
