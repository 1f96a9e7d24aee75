/* The fast approximation (method = fast): see kh_fast.h for the rule and its
 * three switches.
 *
 * Reference: D. Krotov and J. J. Hopfield, "Unsupervised learning by
 * competing hidden units", PNAS 116:7723 (2019), section 3, and Krotov's
 * notebook (github.com/DimaKrotov/Biological_Learning), which this follows
 * step for step: per-epoch rate eps0 (1 - epoch/epochs), max |Delta W|
 * floored at learning.min_norm.
 *
 * Where the time goes, and what is done about it: the current product is a
 * GEMM (OpenBLAS); a top-k scan replaces the notebook's full argsort; Delta W
 * is formed only for the rows some sample touches (at most two per sample)
 * from per-row lists of (sample, g); the p-1
 * power sgn(W)|W|^(p-1) is kept for the touched rows only, with integer
 * powers by multiplication. Everything else is O(touched rows x n). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_mem.h"
#include "core/kh_threads.h"
#include "solvers/kh_backend.h"
#include "solvers/kh_fast.h"
#include "solvers/kh_solver.h"
#include "solvers/kh_steady.h"

/* OpenBLAS's cblas.h pulls in <complex.h>, whose macro I would rename the
 * currents of the headers above: it comes last, and I is dropped. */
#include <cblas.h>
#undef I

/* Data with at most this fraction of non-zero inputs take the sparse current
 * product (MNIST: 0.19); denser data the GEMM. */
#define KH_FAST_SPARSE 0.5

/* The largest learning.k the ranking keeps on the stack. */
#define KH_FAST_KMAX 64

struct impl_d_impl;
struct impl_f_impl;

struct kh_fast {
    const kh_params *p;
    long m, n, N, max_batch, k;
    double p1, Rp; /* p - 1, R^p */
    int ip1;       /* integer form of p - 1, or -1 */
    int sparse;    /* currents from the non-zero inputs (data density < KH_FAST_SPARSE) */
    double flops;
    /* The contributions (row, sample, g) of the minibatch, and per-row lists. */
    long *crow, *cb;
    double *cval;
    long n_contrib;
    long *head, *next; /* head[m] = first contribution of a row or -1 */
    long *rows;        /* the touched rows */
    long n_touched;
    long *tile_start;      /* sparse data: where each tile's rows start in rows[], and the end */
    long n_tile_start;     /* the number of tiles with touched rows */
    long *won;             /* [m]: times each unit was a sample's winner since the reset */
    int rows_mode;         /* samples are handed to each step (kh_fast_alloc_rows), no X */
    struct impl_d_impl *d; /* the double learner, or NULL */
    struct impl_f_impl *f; /* the float learner, or NULL */
};

static void contribute(kh_fast *f, long row, long b, double g)
{
    long c = f->n_contrib++;
    f->crow[c] = row;
    f->cb[c] = b;
    f->cval[c] = g;
    if (g == 1.0) {
        f->won[row]++;
    }
}

/* Keeps the contributions 0 .. n-1 whose row is set (a sample or group
 * whose currents are all NaN has none) and counts the winners. */
static void keep_contributions(kh_fast *f, long n)
{
    long n_c = 0;
    for (long c = 0; c < n; c++) {
        if (f->crow[c] >= 0) {
            f->crow[n_c] = f->crow[c];
            f->cb[n_c] = f->cb[c];
            f->cval[n_c] = f->cval[c];
            if (f->cval[n_c] == 1.0) {
                f->won[f->crow[n_c]]++;
            }
            n_c++;
        }
    }
    f->n_contrib = n_c;
}

static void contributions_reset(kh_fast *f)
{
    for (long r = 0; r < f->n_touched; r++) {
        f->head[f->rows[r]] = -1;
    }
    f->n_touched = 0;
    f->n_contrib = 0;
}

/* Builds the per-row lists, each in the order of the samples. */
static void contributions_link(kh_fast *f)
{
    for (long c = f->n_contrib - 1; c >= 0; c--) {
        long row = f->crow[c];
        if (f->head[row] < 0) {
            f->rows[f->n_touched++] = row;
        }
        f->next[c] = f->head[row];
        f->head[row] = c;
    }
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Sorts the touched rows and marks where each tile of `tile` units starts. */
static void tiles_of_rows(kh_fast *f, long tile)
{
    if (!f->sparse) {
        return;
    }
    qsort(f->rows, (size_t)f->n_touched, sizeof(long), cmp_long);
    long nt = 0;
    for (long r = 0; r < f->n_touched; r++) {
        if (r == 0 || f->rows[r] / tile != f->rows[r - 1] / tile) {
            f->tile_start[nt++] = r;
        }
    }
    f->tile_start[nt] = f->n_touched;
    f->n_tile_start = nt;
}

/* The steady state of h at the currents d (overwritten with h*). */
static int steady_activity(kh_fast *f, double *d, double *h, long *order)
{
    const kh_params *p = f->p;
    memset(h, 0, (size_t)f->m * sizeof(double));
    kh_steady_result res;
    int st = kh_steady_state(d, f->m, p->w_inh, p->tau, p->steady_tol, p->steady_max_steps, h,
                             order, &res);
    if (st != KH_OK) {
        return st;
    }
    memcpy(d, h, (size_t)f->m * sizeof(double));
    return KH_OK;
}

/* The code of one sample from its activities d [m] (double): with fast_code,
 * 1 for the top unit and -delta for the k-th (with fast_rank off, only
 * where the activity is > 0); without it, g(d) for every unit. */
static void code_from_activity(kh_fast *f, const double *d, long b)
{
    const kh_params *p = f->p;
    const long m = f->m, k = f->k;
    double top[KH_FAST_KMAX];
    long idx[KH_FAST_KMAX];
    kh_topk_of(d, m, 0, k, top, idx);
    if (p->fast_code) {
        if (idx[0] >= 0 && (p->fast_rank || top[0] > 0.0)) {
            contribute(f, idx[0], b, 1.0);
        }
        if (idx[k - 1] >= 0 && (p->fast_rank || top[k - 1] > 0.0)) {
            contribute(f, idx[k - 1], b, -p->delta);
        }
        return;
    }
    for (long mu = 0; mu < m; mu++) {
        double g = kh_g(p->g, d[mu], p->delta, p->h_star, p->g_n);
        if (g != 0.0) {
            contribute(f, mu, b, g);
        }
    }
    if (idx[0] >= 0 && kh_g(p->g, top[0], p->delta, p->h_star, p->g_n) > 0.0) {
        f->won[idx[0]]++;
    }
}

/* The factor of Delta W in the update. */
static double step_scale(const kh_fast *f, double max_abs, double eps)
{
    const kh_params *p = f->p;
    if (p->fast_maxnorm) {
        return eps / (max_abs > p->fast_min_norm ? max_abs : p->fast_min_norm);
    }
    return eps * p->presentation_time / p->tau_L;
}

#define R double
#define FR(name) impl_d_##name
#define KS(name) name
#define GEMM cblas_dgemm
#define KH_FABS_R fabs
#define FR_TILE 32
#include "solvers/fast_real.h"
#undef R
#undef FR
#undef KS
#undef GEMM
#undef KH_FABS_R
#undef FR_TILE

#define R float
#define FR(name) impl_f_##name
#define KS(name) name##_f
#define GEMM cblas_sgemm
#define KH_FABS_R fabsf
#define FR_TILE 64
#include "solvers/fast_real.h"
#undef R
#undef FR
#undef KS
#undef GEMM
#undef KH_FABS_R
#undef FR_TILE

void kh_fast_free(kh_fast *f)
{
    if (!f) {
        return;
    }
    impl_d_free(f->d);
    impl_f_free(f->f);
    free(f->crow);
    free(f->cb);
    free(f->cval);
    free(f->head);
    free(f->next);
    free(f->rows);
    free(f->tile_start);
    free(f->won);
    free(f);
}

/* The learner of kh_fast_alloc (X, N: the data) and of kh_fast_alloc_rows
 * (X = NULL, N = 0: rows handed to each step). */
static kh_fast *plan(const kh_params *p, const double *X, long N, const double *W0, long max_batch)
{
    const int rows_mode = X == NULL;
    if (p->k < 2 || p->k > KH_FAST_KMAX || (!rows_mode && p->k > p->n_hidden)) {
        KH_ERROR(KH_EINVAL, "learning.k = %ld: the fast rule needs 2 <= k <= min(hidden, %d)", p->k,
                 KH_FAST_KMAX);
        return NULL;
    }
    if ((!rows_mode && N < 1) || max_batch < 1 || p->n_visible < 1 || p->n_hidden < 1) {
        KH_ERROR(KH_EINVAL, "the fast rule needs samples, inputs and a batch (got %ld, %ld, %ld)",
                 N, p->n_visible, max_batch);
        return NULL;
    }
    if (rows_mode && !(p->fast_rank && p->fast_code)) {
        KH_ERROR(KH_EINVAL, "the fast rule over groups of rows (convolutional layers) takes the "
                            "paper's ranking and code: learning.fast_rank and fast_code on");
        return NULL;
    }
    if ((double)p->n_hidden * (double)max_batch > 2147483647.0 ||
        (double)p->n_visible * (double)max_batch > 2147483647.0) {
        KH_ERROR(KH_EINVAL, "hidden x batch = %ld x %ld is beyond the BLAS index range",
                 p->n_hidden, max_batch);
        return NULL;
    }
    kh_fast *f = calloc(1, sizeof *f);
    if (!f) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the fast rule");
        return NULL;
    }
    f->p = p;
    f->rows_mode = rows_mode;
    f->m = p->n_hidden;
    f->n = p->n_visible;
    f->N = N;
    f->max_batch = max_batch;
    f->k = p->k;
    f->p1 = p->p - 1.0;
    f->ip1 = kh_int_exponent(f->p1);
    f->Rp = pow(p->R, p->p);
    const size_t m = (size_t)f->m, cap = (size_t)max_batch * m;
    f->crow = malloc(cap * sizeof(long));
    f->cb = malloc(cap * sizeof(long));
    f->cval = malloc(cap * sizeof(double));
    f->next = malloc(cap * sizeof(long));
    f->head = malloc(m * sizeof(long));
    f->rows = malloc(m * sizeof(long));
    f->tile_start = malloc((m + 1) * sizeof(long));
    f->won = calloc(m, sizeof(long));
    if (!f->crow || !f->cb || !f->cval || !f->next || !f->head || !f->rows || !f->tile_start ||
        !f->won) {
        kh_fast_free(f);
        KH_ERROR(KH_ENOMEM, "cannot allocate the fast rule's lists (%zu entries)", cap);
        return NULL;
    }
    for (size_t mu = 0; mu < m; mu++) {
        f->head[mu] = -1;
    }
    /* Rows handed to each step go through the GEMM. */
    size_t nnz = 0, total = (size_t)N * (size_t)p->n_visible;
    for (size_t i = 0; X && i < total; i++) {
        nnz += X[i] != 0.0;
    }
    f->sparse = !rows_mode && (double)nnz <= KH_FAST_SPARSE * (double)total;
    if (p->precision == KH_PREC_FLOAT) {
        f->f = impl_f_alloc(f, X, W0);
    } else {
        f->d = impl_d_alloc(f, X, W0);
    }
    if (!f->f && !f->d) {
        kh_fast_free(f);
        KH_ERROR(KH_ENOMEM, "cannot allocate the fast rule for %ld samples x %ld inputs",
                 rows_mode ? max_batch : N, p->n_visible);
        return NULL;
    }
    return f;
}

kh_fast *kh_fast_alloc(const kh_params *p, const double *X, long N, const double *W0,
                       long max_batch)
{
    if (!X) {
        KH_ERROR(KH_EINVAL, "the fast rule needs its data");
        return NULL;
    }
    return plan(p, X, N, W0, max_batch);
}

kh_fast *kh_fast_alloc_rows(const kh_params *p, const double *W0, long max_rows)
{
    return plan(p, NULL, 0, W0, max_rows);
}

static int check_batch(const kh_fast *f, const long *idx, long nb)
{
    if (f->rows_mode) {
        return KH_ERROR(KH_EINVAL, "this fast-rule learner takes rows (kh_fast_step_rows)");
    }
    if (nb < 1 || nb > f->max_batch) {
        return KH_ERROR(KH_EINVAL, "minibatch of %ld samples (1 to %ld)", nb, f->max_batch);
    }
    for (long b = 0; b < nb; b++) {
        if (idx[b] < 0 || idx[b] >= f->N) {
            return KH_ERROR(KH_EINVAL, "sample index %ld outside 0..%ld", idx[b], f->N - 1);
        }
    }
    return KH_OK;
}

int kh_fast_step(kh_fast *f, const long *idx, long nb, double eps)
{
    int st = check_batch(f, idx, nb);
    if (st != KH_OK) {
        return st;
    }
    if (f->f) {
        return (st = impl_f_delta(f, f->f, idx, nb)) != KH_OK ? st : impl_f_apply(f, f->f, eps);
    }
    return (st = impl_d_delta(f, f->d, idx, nb)) != KH_OK ? st : impl_d_apply(f, f->d, eps);
}

static int check_rows(const kh_fast *f, long nv, const long *gend, long ng)
{
    if (!f->rows_mode) {
        return KH_ERROR(KH_EINVAL, "this fast-rule learner takes samples of its data, not rows");
    }
    if (nv < 1 || nv > f->max_batch || ng < 1 || ng > nv) {
        return KH_ERROR(KH_EINVAL, "%ld rows in %ld groups (1 to %ld rows)", nv, ng, f->max_batch);
    }
    for (long g = 0; g < ng; g++) {
        if (gend[g] <= (g ? gend[g - 1] : 0) || gend[g] > nv) {
            return KH_ERROR(KH_EINVAL, "group %ld of the rows is empty or ends past them", g);
        }
    }
    return gend[ng - 1] == nv ? KH_OK : KH_ERROR(KH_EINVAL, "the groups do not cover the rows");
}

int kh_fast_step_rows(kh_fast *f, const double *V, long nv, const long *gend, long ng, double eps)
{
    int st = check_rows(f, nv, gend, ng);
    if (st != KH_OK) {
        return st;
    }
    if (f->f) {
        impl_f_delta_rows(f, f->f, V, nv, gend, ng);
        return impl_f_apply(f, f->f, eps);
    }
    impl_d_delta_rows(f, f->d, V, nv, gend, ng);
    return impl_d_apply(f, f->d, eps);
}

int kh_fast_delta_rows(kh_fast *f, const double *V, long nv, const long *gend, long ng, double *dW)
{
    int st = check_rows(f, nv, gend, ng);
    if (st != KH_OK) {
        return st;
    }
    if (f->f) {
        impl_f_delta_rows(f, f->f, V, nv, gend, ng);
        impl_f_dense_delta(f, f->f, dW);
    } else {
        impl_d_delta_rows(f, f->d, V, nv, gend, ng);
        impl_d_dense_delta(f, f->d, dW);
    }
    return KH_OK;
}

int kh_fast_delta(kh_fast *f, const long *idx, long nb, double *dW)
{
    int st = check_batch(f, idx, nb);
    if (st != KH_OK) {
        return st;
    }
    if (f->f) {
        if ((st = impl_f_delta(f, f->f, idx, nb)) == KH_OK) {
            impl_f_dense_delta(f, f->f, dW);
        }
        return st;
    }
    if ((st = impl_d_delta(f, f->d, idx, nb)) == KH_OK) {
        impl_d_dense_delta(f, f->d, dW);
    }
    return st;
}

void kh_fast_last(const kh_fast *f, long b, double *current, double *activity, double *g)
{
    if (f->f) {
        impl_f_last(f, f->f, b, current, activity);
    } else {
        impl_d_last(f, f->d, b, current, activity);
    }
    if (g) {
        memset(g, 0, (size_t)f->m * sizeof(double));
        for (long c = 0; c < f->n_contrib; c++) {
            if (f->cb[c] == b) {
                g[f->crow[c]] += f->cval[c];
            }
        }
    }
}

void kh_fast_get_W(const kh_fast *f, double *W)
{
    if (f->f) {
        impl_f_get_W(f, f->f, W);
    } else {
        impl_d_get_W(f, f->d, W);
    }
}

void kh_fast_set_W(kh_fast *f, const double *W)
{
    if (f->f) {
        impl_f_set_W(f, f->f, W);
    } else {
        impl_d_set_W(f, f->d, W);
    }
}

void kh_fast_pnorm(const kh_fast *f, double *B)
{
    if (f->f) {
        impl_f_pnorm(f, f->f, B);
    } else {
        impl_d_pnorm(f, f->d, B);
    }
}

long kh_fast_winners(kh_fast *f, int reset)
{
    long c = 0;
    for (long mu = 0; mu < f->m; mu++) {
        c += f->won[mu] != 0;
    }
    if (reset) {
        memset(f->won, 0, (size_t)f->m * sizeof(long));
    }
    return c;
}

void kh_fast_win_counts(const kh_fast *f, long *counts)
{
    memcpy(counts, f->won, (size_t)f->m * sizeof(long));
}

double kh_fast_flops(const kh_fast *f)
{
    return f->flops;
}

/* method = fast in the table of solvers, so that the study file and the
 * error messages know it; it is not an ODE stepper: khsim run trains it by
 * minibatches (run/kh_sim_fast.c), and alloc says so. */
static const char *const names[] = {"fast", NULL};

static void *not_a_stepper(const char *method, const kh_model_type *model, void *ws, size_t dim,
                           const kh_params *p, const volatile sig_atomic_t *stop)
{
    (void)method, (void)model, (void)ws, (void)dim, (void)p, (void)stop;
    KH_ERROR(KH_ENOTSUP, "method fast trains by minibatches and does not integrate an ODE: "
                         "run it with khsim run");
    return NULL;
}

const kh_solver_type kh_solver_fast = {
    .names = names, .caps = KH_SOLVER_NOT_ODE, .alloc = not_a_stepper};

/* The CPU's learner behind solvers/kh_backend.h. */
static int cpu_usable(const kh_params *p)
{
    (void)p;
    return KH_OK;
}

static void *cpu_alloc(const kh_params *p, const double *X, long N, const double *W0,
                       long max_batch)
{
    return kh_fast_alloc(p, X, N, W0, max_batch);
}

static int cpu_step(void *L, const long *idx, long nb, double eps)
{
    return kh_fast_step(L, idx, nb, eps);
}

static int cpu_get_W(void *L, double *W)
{
    kh_fast_get_W(L, W);
    return KH_OK;
}

static int cpu_winners(void *L, int reset, long *count)
{
    *count = kh_fast_winners(L, reset);
    return KH_OK;
}

static double cpu_flops(const void *L)
{
    return kh_fast_flops(L);
}

static void cpu_last(const void *L, long b, double *current, double *activity, double *B)
{
    kh_fast_last(L, b, current, activity, NULL);
    kh_fast_pnorm(L, B);
}

static void cpu_release(void *L)
{
    kh_fast_free(L);
}

const kh_learner_backend kh_fast_cpu_backend = {
    .name = "cpu",
    .usable = cpu_usable,
    .alloc = cpu_alloc,
    .step = cpu_step,
    .get_W = cpu_get_W,
    .winners = cpu_winners,
    .flops = cpu_flops,
    .last = cpu_last,
    .release = cpu_release,
};
