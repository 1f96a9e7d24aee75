/* dopri5: the explicit Runge-Kutta pair of Dormand and Prince, order 5(4),
 * with first-same-as-last stages and Hairer's step-size control; the method
 * of scipy.integrate.solve_ivp(method="RK45") and of MATLAB's ode45.
 *
 *   k1 = f(t, y),  k_s = f(t + c_s h, y + h sum_j a_sj k_j)  (s = 2..7)
 *   y1 = y + h sum_j b_j k_j  (= the argument of k7, so k7 = f(t + h, y1))
 *   err_i = h sum_j e_j k_j,  |err| = sqrt(mean_i (err_i / sc_i)^2),
 *   sc_i = atol + rtol max(|y_i|, |y1_i|);  accept when |err| <= 1,
 *   h_new = h min(10, max(0.2, 0.9 |err|^(-1/5))) (no growth after a rejection).
 *
 * Unlike the GSL steppers, whose stage arithmetic runs on one core, every
 * stage here is one fused OpenMP loop over the state, and the error norm is
 * summed in fixed blocks, so results are bit-identical for any thread count.
 * Switches of the RHS are located as in gsl.c (see kh_switch.h): the step to
 * just before the switch is taken under error control, and k7 of that step
 * (FSAL, no extra evaluation) carries the state across it.
 * Reference: J. R. Dormand and P. J. Prince, J. Comput. Appl. Math. 6:19
 * (1980); E. Hairer, S. P. Norsett and G. Wanner, Solving Ordinary
 * Differential Equations I, 2nd ed., section II.4-5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../gpu/kh_kernels.h"
#include "../src/kh_error.h"
#include "kh_solver.h"
#include "kh_switch.h"

#define KH_DP_BLOCK 4096 /* elements per block of the error norm's sum */
#define KH_DP_ROUNDS 3   /* dense-output locations of a switch before real brackets */

static const double C[7] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
static const double A[7][6] = {
    {0, 0, 0, 0, 0, 0},
    {1.0 / 5, 0, 0, 0, 0, 0},
    {3.0 / 40, 9.0 / 40, 0, 0, 0, 0},
    {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656, 0},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
/* Hairer's dense output of DOPRI5 (order 4): the weights of r5 below. */
static const double D[7] = {-12715105075.0 / 11282082432.0, 0, 87487479700.0 / 32700410799.0,
                            -10690763975.0 / 1880347072.0,  701980252875.0 / 199316789632.0,
                            -1453857185.0 / 822651844.0,    69997945.0 / 29380423.0};
static const double E[7] = {71.0 / 57600,  0, -71.0 / 16695, 71.0 / 1920,
                            -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

typedef struct dp_state {
    const kh_model_type *model;
    void *ws;
    size_t dim;
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    double *k[7], *y0, *ytr, *r5, *blocks;
    const double *y1; /* end of the step whose dense output is prepared */
    double dense_h;
    size_t n_blocks;
    int fsal; /* k[0] = f(t, y) of the current state */
    double h, t0;
    long steps, failed, rhs_evals, steps_since_reset;
    kh_switch sw;
} dp_state;

static const char *const names[] = {"dopri5", NULL};

static void dp_free(void *vs)
{
    dp_state *s = vs;
    if (!s) {
        return;
    }
    for (int j = 0; j < 7; j++) {
        free(s->k[j]);
    }
    free(s->y0);
    free(s->ytr);
    free(s->r5);
    free(s->blocks);
    kh_switch_release(&s->sw);
    free(s);
}

static void *dp_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                      const kh_params *p, const volatile sig_atomic_t *stop)
{
    (void)method;
    dp_state *s = calloc(1, sizeof *s);
    if (!s) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the dopri5 solver");
        return NULL;
    }
    s->model = model;
    s->ws = ws;
    s->dim = dim;
    s->p = p;
    s->stop = stop;
    s->h = p->first_step;
    s->n_blocks = (dim + KH_DP_BLOCK - 1) / KH_DP_BLOCK;
    int ok = kh_switch_init(&s->sw, model, ws, p) == KH_OK;
    for (int j = 0; j < 7 && ok; j++) {
        ok = (s->k[j] = malloc(dim * sizeof(double))) != NULL;
    }
    if (ok) {
        s->y0 = malloc(dim * sizeof(double));
        s->ytr = malloc(dim * sizeof(double));
        s->r5 = malloc(dim * sizeof(double));
        s->blocks = malloc((s->n_blocks ? s->n_blocks : 1) * sizeof(double));
        ok = s->y0 && s->ytr && s->r5 && s->blocks;
    }
    if (!ok) {
        dp_free(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the dopri5 solver for %zu states", dim);
        return NULL;
    }
    return s;
}

static void dp_reset(void *vs)
{
    dp_state *s = vs;
    s->fsal = 0;
    s->steps_since_reset = 0;
    kh_switch_reset(&s->sw);
}

static int eval(dp_state *s, double t, const double *y, double *f)
{
    s->rhs_evals++;
    return s->model->rhs(t, y, f, s->ws);
}

/* The static share [*i0, *i1) of this thread in a loop of n (the same
 * split OpenMP's schedule(static) makes; the results do not depend on it). */
static void share(long n, long *i0, long *i1)
{
#ifdef _OPENMP
    long nt = omp_get_num_threads(), t = omp_get_thread_num();
#else
    long nt = 1, t = 0;
#endif
    long q = n / nt, r = n % nt;
    *i0 = t * q + (t < r ? t : r);
    *i1 = *i0 + q + (t < r ? 1 : 0);
}

/* out[i0..i1) = y + h sum_{j < ns} a[j] k[j], written out for each number
 * of stages so that it vectorises; compiled for AVX2 and any x86-64. */
KH_CLONES static void combine_chunk(long i0, long i1, double *out, const double *y, double h,
                                    const double *a, double *const *k, int ns)
{
    switch (ns) {
    case 1:
        for (long i = i0; i < i1; i++) {
            out[i] = y[i] + h * (a[0] * k[0][i]);
        }
        break;
    case 2:
        for (long i = i0; i < i1; i++) {
            out[i] = y[i] + h * (a[0] * k[0][i] + a[1] * k[1][i]);
        }
        break;
    case 3:
        for (long i = i0; i < i1; i++) {
            out[i] = y[i] + h * (a[0] * k[0][i] + a[1] * k[1][i] + a[2] * k[2][i]);
        }
        break;
    case 4:
        for (long i = i0; i < i1; i++) {
            out[i] = y[i] + h * (a[0] * k[0][i] + a[1] * k[1][i] + a[2] * k[2][i] + a[3] * k[3][i]);
        }
        break;
    case 5:
        for (long i = i0; i < i1; i++) {
            out[i] = y[i] + h * (a[0] * k[0][i] + a[1] * k[1][i] + a[2] * k[2][i] + a[3] * k[3][i] + a[4] * k[4][i]);
        }
        break;
    case 6:
        for (long i = i0; i < i1; i++) {
            out[i] = y[i] + h * (a[0] * k[0][i] + a[1] * k[1][i] + a[2] * k[2][i] + a[3] * k[3][i] + a[4] * k[4][i] + a[5] * k[5][i]);
        }
        break;
    default:
        break;
    }
}

static void combine(const dp_state *s, double *out, const double *y, double h, const double *a,
                    int ns)
{
    const long dim = (long)s->dim;
    double *const *k = s->k;
#pragma omp parallel default(none) shared(out, y, a, k) firstprivate(dim, h, ns)
    {
        long i0, i1;
        share(dim, &i0, &i1);
        combine_chunk(i0, i1, out, y, h, a, k, ns);
    }
}

/* The stages of a step of h from (t0, y0) with k[0] = f(t0, y0); y1 goes to
 * out and k[6] = f(t0 + h, y1). Returns the rhs status (> 0: not finite). */
static int stages(dp_state *s, double h, double *out)
{
    for (int st = 1; st < 7; st++) {
        double *y = st == 6 ? out : s->ytr;
        combine(s, y, s->y0, h, A[st], st);
        int r = eval(s, s->t0 + C[st] * h, y, s->k[st]);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

/* The sum of (err_i / sc_i)^2 over one block; AVX2 and any x86-64. */
KH_CLONES static double error_block(long i0, long i1, double h, double atol, double rtol,
                                    const double *y0, const double *y1, double *const *k)
{
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (long i = i0; i < i1; i++) {
        double e = E[0] * k[0][i] + E[2] * k[2][i] + E[3] * k[3][i] + E[4] * k[4][i] +
                   E[5] * k[5][i] + E[6] * k[6][i];
        double a0 = fabs(y0[i]), a1 = fabs(y1[i]);
        double r = h * e / (atol + rtol * (a0 > a1 ? a0 : a1));
        sum += r * r;
    }
    return sum;
}

/* The RMS norm of the error estimate, summed in fixed blocks (so that it
 * does not depend on the thread count). */
static double error_norm(dp_state *s, double h, const double *y1)
{
    const double atol = s->p->atol, rtol = s->p->rtol;
    const long dim = (long)s->dim, nb = (long)s->n_blocks;
    const double *y0 = s->y0;
    double *const *k = s->k;
    double *blocks = s->blocks;
#pragma omp parallel for default(none) shared(y0, y1, k, blocks) \
    firstprivate(dim, nb, h, atol, rtol) schedule(static)
    for (long b = 0; b < nb; b++) {
        long end = (b + 1) * KH_DP_BLOCK < dim ? (b + 1) * KH_DP_BLOCK : dim;
        blocks[b] = error_block(b * KH_DP_BLOCK, end, h, atol, rtol, y0, y1, k);
    }
    double sum = 0.0;
    for (long b = 0; b < nb; b++) {
        sum += blocks[b];
    }
    return sqrt(sum / (double)(dim > 0 ? dim : 1));
}

/* kh_trial_fn: a step of dt from (t0, y0) without error control. */
static int trial(void *ctx, double dt, double *y)
{
    return stages(ctx, dt, y) != 0;
}

/* Prepares the dense output of the step of h from (t0, y0) to y1:
 * r5 = h sum_j D_j k_j (Hairer, section II.6). */
static void dense_prepare(dp_state *s, double h, const double *y1)
{
    const long dim = (long)s->dim;
    const double *k0 = s->k[0], *k2 = s->k[2], *k3 = s->k[3], *k4 = s->k[4], *k5 = s->k[5],
                 *k6 = s->k[6];
    const double d0 = D[0], d2 = D[2], d3 = D[3], d4 = D[4], d5 = D[5], d6 = D[6];
    double *r5 = s->r5;
#pragma omp parallel for simd default(none) shared(r5, k0, k2, k3, k4, k5, k6) \
    firstprivate(dim, h, d0, d2, d3, d4, d5, d6) schedule(static)
    for (long i = 0; i < dim; i++) {
        r5[i] = h * (d0 * k0[i] + d2 * k2[i] + d3 * k3[i] + d4 * k4[i] + d5 * k5[i] + d6 * k6[i]);
    }
    s->y1 = y1;
    s->dense_h = h;
}

/* kh_trial_fn on the dense output: y(t0 + dt), with theta = dt / h,
 *   y = y0 + theta (r2 + (1 - theta)(r3 + theta (r4 + (1 - theta) r5))),
 *   r2 = y1 - y0, r3 = h k1 - r2, r4 = r2 - h k7 - r3. No evaluation. */
static int dense_trial(void *ctx, double dt, double *y)
{
    dp_state *s = ctx;
    const long dim = (long)s->dim;
    const double h = s->dense_h, th = dt / h, th1 = 1.0 - th;
    const double *y0 = s->y0, *y1 = s->y1, *k0 = s->k[0], *k6 = s->k[6], *r5 = s->r5;
#pragma omp parallel for simd default(none) shared(y, y0, y1, k0, k6, r5) \
    firstprivate(dim, h, th, th1) schedule(static)
    for (long i = 0; i < dim; i++) {
        double r2 = y1[i] - y0[i], r3 = h * k0[i] - r2, r4 = r2 - h * k6[i] - r3;
        y[i] = y0[i] + th * (r2 + th1 * (r3 + th * (r4 + th1 * r5[i])));
    }
    return 0;
}

static double grow(double err)
{
    return err > 0.0 ? fmin(10.0, fmax(0.2, 0.9 * pow(err, -0.2))) : 10.0;
}

/* One accepted step from (*t, y) towards t1. */
static int dp_step(dp_state *s, double *t, double t1, double y[])
{
    const size_t bytes = s->dim * sizeof(double);
    s->t0 = *t;
    memcpy(s->y0, y, bytes);
    if (!s->fsal) {
        if (eval(s, s->t0, s->y0, s->k[0]) != 0) {
            return KH_ERROR(KH_ESOLVER, "the state became non-finite (NaN or Inf) near t = "
                                        "%.9g: the dynamics diverge", s->t0);
        }
        s->fsal = 1;
    }
    double h = s->h;
    int rejected = 0;
    for (;;) {
        int final = 0;
        if (h >= t1 - s->t0) {
            h = t1 - s->t0;
            final = 1;
        }
        if (stages(s, h, y) != 0) {
            s->failed++; /* a trial state that is not finite: halve the step */
            h *= 0.5;
            rejected = 1;
            if (!(s->t0 + h > s->t0)) {
                memcpy(y, s->y0, bytes);
                return KH_ERROR(KH_ESOLVER, "the state became non-finite (NaN or Inf) near t = "
                                            "%.9g: the dynamics diverge", s->t0);
            }
            continue;
        }
        if (kh_switch_crossed(&s->sw, y) >= 0) {
            /* Locate the switch on the step's dense output (no evaluation),
             * then take the step to a little before it. The interpolant saw
             * stages past the switch, so it may place it late: if the step
             * crosses, locate again on that shorter step's dense output,
             * whose stages barely pass it; after KH_DP_ROUNDS rounds, bracket
             * with real steps. */
            double lo = h, hi = h;
            long k = -1;
            int located = 0;
            for (int round = 0; round < KH_DP_ROUNDS && !located; round++) {
                dense_prepare(s, lo, y);
                hi = kh_switch_bracket(&s->sw, lo, dense_trial, s, s->ytr, &lo, &k);
                lo = fmax(0.0, lo - fmax(4.0 * s->sw.tol, 1e-7 * hi));
                if (lo <= 0.0) {
                    located = 1;
                } else if (stages(s, lo, y) != 0) {
                    break;
                } else {
                    located = kh_switch_crossed(&s->sw, y) < 0;
                }
            }
            if (!located && lo > 0.0) {
                if (kh_switch_crossed(&s->sw, y) < 0) {
                    s->failed++; /* a non-finite trial on the way: halve the step */
                    h = 0.5 * lo;
                    continue;
                }
                double top = lo;
                hi = kh_switch_bracket(&s->sw, top, trial, s, s->ytr, &lo, &k);
                if (lo > 0.0 && stages(s, lo, y) != 0) {
                    s->failed++;
                    h = 0.5 * lo;
                    continue;
                }
            }
            if (lo > 0.0) {
                double err = error_norm(s, lo, y);
                if (err > 1.0) {
                    s->failed++;
                    h = lo * fmax(0.2, 0.9 * pow(err, -0.2));
                    rejected = 1;
                    continue;
                }
            } else {
                memcpy(y, s->y0, bytes);
                memcpy(s->k[6], s->k[0], bytes);
            }
            /* Across: one Euler step with k7 = f(y_lo), of the smallest
             * length hi - lo, 2 (hi - lo), 4 (hi - lo), ... (up to a few
             * margins) that does cross: the located time carries the
             * interpolant's error. Its error is that length times the jump
             * of the RHS. */
            double d0 = fmax(hi - lo, s->sw.tol);
            double d = kh_switch_cross(&s->sw, y, s->k[6], s->dim, d0,
                                       fmin(64.0 * fmax(d0, 1e-7 * h), h - lo), s->ytr);
            if (d == 0.0) {
                /* No switch near lo after all: the step simply ends there. */
                *t = s->t0 + lo;
                double *tmp = s->k[0];
                s->k[0] = s->k[6];
                s->k[6] = tmp;
                return KH_OK;
            }
            *t = (final && lo + d >= h) ? t1 : s->t0 + lo + d;
            s->fsal = 0;
            kh_switch_note(&s->sw, k, *t);
            return KH_OK; /* s->h is kept: the step size before the switch */
        }
        double err = error_norm(s, h, y);
        if (err > 1.0) {
            s->failed++;
            h *= fmax(0.2, 0.9 * pow(err, -0.2));
            rejected = 1;
            if (!(s->t0 + h > s->t0)) {
                memcpy(y, s->y0, bytes);
                return KH_ERROR(KH_ESOLVER, "dopri5: the step size fell to the resolution of "
                                            "t = %.9g (the dynamics may diverge)", s->t0);
            }
            continue;
        }
        *t = final ? t1 : s->t0 + h;
        double *tmp = s->k[0]; /* FSAL: k7 is the next step's k1 */
        s->k[0] = s->k[6];
        s->k[6] = tmp;
        double next = h * (rejected ? fmin(1.0, grow(err)) : grow(err));
        /* A step cut short to land on t1 must not shrink the next one. */
        if (!(final && next < s->h)) {
            s->h = next;
        }
        return KH_OK;
    }
}

static int dp_apply(void *vs, double *t, double t1, double y[])
{
    dp_state *s = vs;
    /* The caller may have changed y (a reset of h): k1 is then stale. */
    s->fsal = 0;
    kh_switch_start(&s->sw, y);
    while (*t < t1) {
        if (s->stop && *s->stop) {
            return KH_ERROR(KH_EINTR, "interrupted at t = %.9g", *t);
        }
        if (s->p->max_steps > 0 && s->steps_since_reset >= s->p->max_steps) {
            return KH_ERROR(KH_ESOLVER, "solver.max_steps = %ld reached at t = %.9g",
                            s->p->max_steps, *t);
        }
        int r = dp_step(s, t, t1, y);
        if (r != KH_OK) {
            return r;
        }
        s->steps++;
        s->steps_since_reset++;
        kh_switch_start(&s->sw, y);
    }
    return KH_OK;
}

static void dp_stats(const void *vs, kh_solver_stats *st)
{
    const dp_state *s = vs;
    st->steps = s->steps;
    st->failed_steps = s->failed;
    st->rhs_evals = s->rhs_evals;
    st->switches = s->sw.switches;
    st->sliding = s->sw.sliding;
}

const kh_solver_type kh_solver_dopri5 = {
    .names = names,
    .alloc = dp_alloc,
    .apply = dp_apply,
    .reset = dp_reset,
    .free = dp_free,
    .stats = dp_stats,
};
