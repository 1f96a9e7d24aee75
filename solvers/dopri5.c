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
 * The plasticity of every model here is affine in each row of W while the
 * input v is constant: tau_L dW_mu/dt = a_mu v - b_mu W_mu. So every stage's
 * W, every k_s on W, and y1 lie in the span of {W_mu(t0), v}, row by row:
 *   W_s = alpha_s W0 + beta_s v,  k_s[W] = c_s v + d_s W0,
 *   c_s = (a_s - b_s beta_s) / tau_L,  d_s = -b_s alpha_s / tau_L,
 *   alpha_s = 1 + h sum_j a_sj d_j,  beta_s = h sum_j a_sj c_j.
 * This file carries out exactly the Dormand-Prince arithmetic in that basis
 * (the model's reduced form, kh_model_type.reduced): a stage reads W0 once,
 * to take the moments I and B of its W_s (kh_row_moments_affine), instead of
 * storing seven vectors of the state's size; W is written once per accepted
 * step. The result equals the textbook method up to rounding; h and any state
 * after W are integrated as ordinary vectors. The error norm and every loop
 * over W run in parallel over rows with fixed sums, so results are
 * bit-identical for any thread count.
 *
 * Switches of the RHS are located as in gsl.c (kh_switch.h), on the step's
 * dense output first (Hairer's order-4 interpolant, also in the basis), then
 * with real steps; the step to just before a switch is taken under error
 * control, and k7 of that step (no extra evaluation) carries the state across.
 * Reference: J. R. Dormand and P. J. Prince, J. Comput. Appl. Math. 6:19
 * (1980); E. Hairer, S. P. Norsett and G. Wanner, Solving Ordinary
 * Differential Equations I, 2nd ed., sections II.4-6. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_mem.h"
#include "core/kh_threads.h"
#include "solvers/kh_dp5.h"
#include "solvers/kh_solver.h"
#include "solvers/kh_switch.h"

#define KH_DP_ROUNDS 3  /* dense-output locations of a switch before real brackets */
#define KH_DP_NEAR 1e-3 /* a switch this early in a step is located on a shorter one */

static const double A[7][6] = {
    {0, 0, 0, 0, 0, 0},
    {1.0 / 5, 0, 0, 0, 0, 0},
    {3.0 / 40, 9.0 / 40, 0, 0, 0, 0},
    {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656, 0},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
static const double E[7] = {71.0 / 57600,      0,          -71.0 / 16695, 71.0 / 1920,
                            -17253.0 / 339200, 22.0 / 525, -1.0 / 40};
/* Hairer's dense output: the weights of r5 = h sum_j D_j k_j. */
static const double D[7] = {-12715105075.0 / 11282082432.0,  0,
                            87487479700.0 / 32700410799.0,   -10690763975.0 / 1880347072.0,
                            701980252875.0 / 199316789632.0, -1453857185.0 / 822651844.0,
                            69997945.0 / 29380423.0};

typedef struct dp_state {
    const kh_model_type *model;
    kh_model_ws *ws;
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    long m, n, nz, nu; /* units, inputs, state after W, nu = m + nz */
    double *W;         /* the caller's W (inside y), during a step */
    /* The small part u = [h, z]: start, stage state, stages. */
    double *u0, *u1, *us, *ku[7];
    /* Per row and stage: the model's coefficients and the stage's basis
     * weights; coefficients of the step's end and of a trial's end. */
    double *a[7], *b[7], *al[7], *be[7], *cc[7], *dd[7];
    double *wa, *wb; /* per row: weights of a dense or crossing state */
    double *rows;    /* per row: partial sums of the error norm */
    double *save_I, *save_B;
    int fsal; /* ku[0], a[0], b[0] hold f at the current state */
    double h, t0, dense_h;
    long steps, failed, rhs_evals, steps_since_reset;
    kh_switch sw;
    /* What the switching functions are evaluated on: the small state of the
     * last trial, whose moments are in ws->I, ws->B. */
    const double *sw_u;
} dp_state;

static const char *const names[] = {"dopri5", NULL};

static void dp_free(void *vs)
{
    dp_state *s = vs;
    if (!s) {
        return;
    }
    double **arrays[] = {&s->u0, &s->u1, &s->us, &s->wa, &s->wb, &s->rows, &s->save_I, &s->save_B};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        free(*arrays[i]);
    }
    for (int j = 0; j < 7; j++) {
        free(s->ku[j]);
        free(s->a[j]);
        free(s->b[j]);
        free(s->al[j]);
        free(s->be[j]);
        free(s->cc[j]);
        free(s->dd[j]);
    }
    kh_switch_release(&s->sw);
    free(s);
}

/* kh_switch_values_fn: the switching functions from the small state u of
 * the last evaluated state and the moments it left in ws. */
static void values(void *ctx, const double *y, double *out)
{
    (void)y;
    dp_state *s = ctx;
    s->model->reduced_switches(s->sw_u, s->ws, out);
}

static void *dp_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                      const kh_params *p, const volatile sig_atomic_t *stop)
{
    (void)method;
    if (!model->reduced) {
        KH_ERROR(KH_EINVAL,
                 "solver.method = dopri5 needs the reduced form of the model, which "
                 "%s lacks: use rkf45, rkck or rk8pd",
                 model->name);
        return NULL;
    }
    dp_state *s = calloc(1, sizeof *s);
    if (!s) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the dopri5 solver");
        return NULL;
    }
    s->model = model;
    s->ws = ws;
    ((kh_model_ws *)ws)->one_sided = 1; /* (kh_model_ws: g on the side h moves to) */
    s->p = p;
    s->stop = stop;
    s->m = p->n_hidden;
    s->n = p->n_visible;
    s->nz = (long)dim - s->m - s->m * s->n;
    s->nu = s->m + s->nz;
    s->h = p->first_step;
    size_t nu = (size_t)s->nu, m = (size_t)s->m;
    int ok = kh_switch_init(&s->sw, model, ws, p) == KH_OK;
    if (ok && s->sw.n && !model->reduced_switches) {
        kh_switch_release(&s->sw);
        KH_ERROR(KH_EINVAL,
                 "dopri5: model %s has switching functions but no reduced form of "
                 "them",
                 model->name);
        free(s);
        return NULL;
    }
    s->sw.values = values;
    s->sw.values_ctx = s;
    if (ok) {
        s->u0 = kh_big_alloc(nu, sizeof(double));
        s->u1 = kh_big_alloc(nu, sizeof(double));
        s->us = kh_big_alloc(nu, sizeof(double));
        s->wa = malloc(m * sizeof(double));
        s->wb = malloc(m * sizeof(double));
        s->rows = malloc(m * sizeof(double));
        s->save_I = malloc(m * sizeof(double));
        s->save_B = malloc(m * sizeof(double));
        ok = s->u0 && s->u1 && s->us && s->wa && s->wb && s->rows && s->save_I && s->save_B;
    }
    for (int j = 0; j < 7 && ok; j++) {
        ok = (s->ku[j] = kh_big_alloc(nu, sizeof(double))) &&
             (s->a[j] = malloc(m * sizeof(double))) && (s->b[j] = malloc(m * sizeof(double))) &&
             (s->al[j] = malloc(m * sizeof(double))) && (s->be[j] = malloc(m * sizeof(double))) &&
             (s->cc[j] = malloc(m * sizeof(double))) && (s->dd[j] = malloc(m * sizeof(double)));
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

/* Moments of the rows alpha W0 + beta v into ws->I, ws->B; AVX2 and any x86-64. */
KH_CLONES static void row_moments(const double *w0, const double *v, long n, double alpha,
                                  double beta, double p2, int ip2, double *I, double *B)
{
    kh_row_moments_affine(w0, v, n, alpha, beta, p2, ip2, I, B);
}

static void moments(dp_state *s, const double *alpha, const double *beta)
{
    const long m = s->m, n = s->n;
    const double *W = s->W, *v = s->ws->v;
    const double p2 = s->ws->p2;
    const int ip2 = s->ws->ip2;
    double *I = s->ws->I, *B = s->ws->B;
#pragma omp parallel for default(none) shared(W, v, alpha, beta, I, B)                             \
    firstprivate(m, n, p2, ip2) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        row_moments(W + mu * n, v, n, alpha[mu], beta[mu], p2, ip2, &I[mu], &B[mu]);
    }
}

/* The model at the stage state (u, W = al W0 + be v): ku[st] and a, b, and
 * the c, d of k_st in the basis. Returns the model's status. */
static int eval_stage(dp_state *s, int st, const double *u)
{
    s->rhs_evals++;
    moments(s, s->al[st], s->be[st]);
    int r = s->model->reduced(u, u + s->m, s->ku[st], s->ku[st] + s->m, s->ws);
    if (r != 0) {
        return r;
    }
    const double inv = 1.0 / s->p->tau_L;
    for (long mu = 0; mu < s->m; mu++) {
        s->a[st][mu] = s->ws->a[mu];
        s->b[st][mu] = s->ws->b[mu];
        s->cc[st][mu] = (s->ws->a[mu] - s->ws->b[mu] * s->be[st][mu]) * inv;
        s->dd[st][mu] = -s->ws->b[mu] * s->al[st][mu] * inv;
    }
    return 0;
}

/* k1 at the current state W0, u0: alpha = 1, beta = 0. */
static int first_stage(dp_state *s)
{
    for (long mu = 0; mu < s->m; mu++) {
        s->al[0][mu] = 1.0;
        s->be[0][mu] = 0.0;
    }
    return eval_stage(s, 0, s->u0);
}

/* The stages 2..7 of a step of h from (t0, u0, W0); the end's small state
 * goes to u1, its weights to al[6], be[6], and f there to ku[6], a[6], b[6]. */
static int stages(dp_state *s, double h)
{
    const long nu = s->nu, m = s->m;
    for (int st = 1; st < 7; st++) {
        double *u = st == 6 ? s->u1 : s->us;
        for (long i = 0; i < nu; i++) {
            double acc = 0.0;
            for (int j = 0; j < st; j++) {
                acc += A[st][j] * s->ku[j][i];
            }
            u[i] = s->u0[i] + h * acc;
        }
        for (long mu = 0; mu < m; mu++) {
            double sa = 0.0, sb = 0.0;
            for (int j = 0; j < st; j++) {
                sa += A[st][j] * s->dd[j][mu];
                sb += A[st][j] * s->cc[j][mu];
            }
            s->al[st][mu] = 1.0 + h * sa;
            s->be[st][mu] = h * sb;
        }
        int r = eval_stage(s, st, u);
        if (r != 0) {
            return r;
        }
    }
    s->sw_u = s->u1;
    return 0;
}

/* Sum over one row of ((ec v_i + ed w0_i) / sc_i)^2 with w1 = al w0 + be v. */
KH_CLONES static double row_error(const double *w0, const double *v, long n, double ec, double ed,
                                  double al, double be, double atol, double rtol)
{
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (long i = 0; i < n; i++) {
        double a0 = fabs(w0[i]), a1 = fabs(al * w0[i] + be * v[i]);
        double r = (ec * v[i] + ed * w0[i]) / (atol + rtol * (a0 > a1 ? a0 : a1));
        sum += r * r;
    }
    return sum;
}

/* The RMS norm of the error estimate of a step of h; rows summed in a fixed
 * order, whatever the thread count. */
static double error_norm(dp_state *s, double h)
{
    const double atol = s->p->atol, rtol = s->p->rtol;
    const long m = s->m, n = s->n, nu = s->nu;
    double sum = 0.0;
    for (long i = 0; i < nu; i++) {
        double e = 0.0;
        for (int j = 0; j < 7; j++) {
            e += E[j] * s->ku[j][i];
        }
        double a0 = fabs(s->u0[i]), a1 = fabs(s->u1[i]);
        double r = h * e / (atol + rtol * (a0 > a1 ? a0 : a1));
        sum += r * r;
    }
    const double *W = s->W, *v = s->ws->v;
    double *rows = s->rows;
    double *const *cc = s->cc, *const *dd = s->dd;
    const double *al = s->al[6], *be = s->be[6];
#pragma omp parallel for default(none) shared(W, v, rows, cc, dd, al, be, E)                       \
    firstprivate(m, n, h, atol, rtol) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        double ec = 0.0, ed = 0.0;
        for (int j = 0; j < 7; j++) {
            ec += E[j] * cc[j][mu];
            ed += E[j] * dd[j][mu];
        }
        rows[mu] = row_error(W + mu * n, v, n, h * ec, h * ed, al[mu], be[mu], atol, rtol);
    }
    for (long mu = 0; mu < m; mu++) {
        sum += rows[mu];
    }
    long total = nu + m * n;
    return sqrt(sum / (double)(total > 0 ? total : 1));
}

KH_CLONES static void row_update(double *w, const double *v, long n, double al, double be)
{
    kh_row_affine(w, v, n, al, be);
}

/* W <- al W + be v, row by row. */
static void update_W(dp_state *s, const double *al, const double *be)
{
    const long m = s->m, n = s->n;
    double *W = s->W;
    const double *v = s->ws->v;
#pragma omp parallel for default(none) shared(W, v, al, be) firstprivate(m, n) if (KH_PAR(m * n))  \
    schedule(static)
    for (long mu = 0; mu < m; mu++) {
        row_update(W + mu * n, v, n, al[mu], be[mu]);
    }
}

/* Accepts the step just computed: the state moves to its end, and k7 becomes
 * the next step's k1 (in the new basis W0' = W1: alpha = 1, beta = 0). */
static void accept(dp_state *s)
{
    update_W(s, s->al[6], s->be[6]);
    memcpy(s->u0, s->u1, (size_t)s->nu * sizeof(double));
    double *t;
    t = s->ku[0], s->ku[0] = s->ku[6], s->ku[6] = t;
    t = s->a[0], s->a[0] = s->a[6], s->a[6] = t;
    t = s->b[0], s->b[0] = s->b[6], s->b[6] = t;
    const double inv = 1.0 / s->p->tau_L;
    for (long mu = 0; mu < s->m; mu++) {
        s->al[0][mu] = 1.0;
        s->be[0][mu] = 0.0;
        s->cc[0][mu] = s->a[0][mu] * inv;
        s->dd[0][mu] = -s->b[0][mu] * inv;
    }
    s->fsal = 1;
}

/* kh_trial_fn: a real step of dt from the step's start, without error
 * control. Its end (small state, moments) is what the switches are read on. */
static int trial(void *ctx, double dt, double *y)
{
    (void)y;
    return stages(ctx, dt) != 0;
}

/* kh_trial_fn on the dense output of the step of dense_h (Hairer II.6):
 *   y(theta) = y0 + theta (r2 + (1 - theta)(r3 + theta (r4 + (1 - theta) r5))),
 *   r2 = y1 - y0, r3 = h k1 - r2, r4 = r2 - h k7 - r3, r5 = h sum_j D_j k_j,
 * applied to u and to the basis weights of W (y0 -> (1, 0), y1 -> (al7, be7),
 * k_j -> (d_j, c_j)); the moments only when the switches need them. */
static int dense_trial(void *ctx, double dt, double *y)
{
    (void)y;
    dp_state *s = ctx;
    const double h = s->dense_h, th = dt / h, th1 = 1.0 - th;
#define KH_DENSE(y0, y1, k1, k7, r5)                                                               \
    ((y0) +                                                                                        \
     th * (((y1) - (y0)) +                                                                         \
           th1 * ((h * (k1) - ((y1) - (y0))) +                                                     \
                  th * ((((y1) - (y0)) - h * (k7) - (h * (k1) - ((y1) - (y0)))) + th1 * (r5)))))
    for (long i = 0; i < s->nu; i++) {
        double r5 = 0.0;
        for (int j = 0; j < 7; j++) {
            r5 += D[j] * s->ku[j][i];
        }
        s->us[i] = KH_DENSE(s->u0[i], s->u1[i], s->ku[0][i], s->ku[6][i], h * r5);
    }
    s->sw_u = s->us;
    if (s->model->switches_need_moments && s->model->switches_need_moments(s->ws)) {
        for (long mu = 0; mu < s->m; mu++) {
            double r5a = 0.0, r5b = 0.0;
            for (int j = 0; j < 7; j++) {
                r5a += D[j] * s->dd[j][mu];
                r5b += D[j] * s->cc[j][mu];
            }
            s->wa[mu] = KH_DENSE(1.0, s->al[6][mu], s->dd[0][mu], s->dd[6][mu], h * r5a);
            s->wb[mu] = KH_DENSE(0.0, s->be[6][mu], s->cc[0][mu], s->cc[6][mu], h * r5b);
        }
        moments(s, s->wa, s->wb);
    }
#undef KH_DENSE
    return 0;
}

/* From the accepted state just before a switch, one Euler step with k1 of
 * the smallest length d0, 2 d0, 4 d0, ... <= d_max that crosses; 0 if none. */
static double cross(dp_state *s, double d0, double d_max)
{
    const double inv = 1.0 / s->p->tau_L;
    const int need = s->model->switches_need_moments && s->model->switches_need_moments(s->ws);
    if (need) {
        memcpy(s->save_I, s->ws->I, (size_t)s->m * sizeof(double));
        memcpy(s->save_B, s->ws->B, (size_t)s->m * sizeof(double));
    }
    for (double d = d0; d <= d_max; d *= 2.0) {
        for (long i = 0; i < s->nu; i++) {
            s->us[i] = s->u0[i] + d * s->ku[0][i];
        }
        for (long mu = 0; mu < s->m; mu++) {
            s->wa[mu] = 1.0 - d * s->b[0][mu] * inv;
            s->wb[mu] = d * s->a[0][mu] * inv;
        }
        if (need) {
            moments(s, s->wa, s->wb);
        }
        s->sw_u = s->us;
        if (kh_switch_crossed(&s->sw, NULL) >= 0) {
            update_W(s, s->wa, s->wb);
            memcpy(s->u0, s->us, (size_t)s->nu * sizeof(double));
            s->fsal = 0;
            return d;
        }
    }
    if (need) {
        memcpy(s->ws->I, s->save_I, (size_t)s->m * sizeof(double));
        memcpy(s->ws->B, s->save_B, (size_t)s->m * sizeof(double));
    }
    return 0.0;
}

static int diverged(double t)
{
    return KH_ERROR(KH_ESOLVER,
                    "the state became non-finite (NaN or Inf) near t = %.9g: the "
                    "dynamics diverge",
                    t);
}

/* One accepted step from (*t, u0, W) towards t1. */
static int dp_step(dp_state *s, double *t, double t1)
{
    s->t0 = *t;
    if (!s->fsal) {
        if (first_stage(s) != 0) {
            return diverged(s->t0);
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
        if (stages(s, h) != 0) {
            s->failed++; /* a trial state that is not finite: halve the step */
            h *= 0.5;
            rejected = 1;
            if (!(s->t0 + h > s->t0)) {
                return diverged(s->t0);
            }
            continue;
        }
        if (kh_switch_crossed(&s->sw, NULL) >= 0) {
            /* Locate on the step's dense output (no evaluation of W's moments
             * unless the switches need them), then take the step to a little
             * before it. The interpolant saw stages past the switch and may
             * place it late: if so, locate again on the shorter step's dense
             * output; after KH_DP_ROUNDS rounds, bracket with real steps. */
            double lo = h, hi = h;
            long k = -1;
            int located = 0;
            for (int round = 0; round < KH_DP_ROUNDS && !located; round++) {
                s->dense_h = lo;
                double top = lo;
                hi = kh_switch_bracket(&s->sw, lo, dense_trial, s, NULL, &lo, &k);
                if (round == 0 && hi < KH_DP_NEAR * top && hi * 100.0 > s->sw.tol) {
                    /* In the first sliver of a long step the interpolant is
                     * dominated by stages far past the switch: take a step
                     * a few times that long instead, whose dense output is
                     * accurate there. */
                    h = 10.0 * hi;
                    located = -1;
                    break;
                }
                lo = fmax(0.0, lo - fmax(4.0 * s->sw.tol, KH_CROSS_MARGIN * hi));
                if (lo <= 0.0) {
                    located = 1;
                } else if (stages(s, lo) != 0) {
                    break;
                } else {
                    located = kh_switch_crossed(&s->sw, NULL) < 0;
                }
            }
            if (located < 0) {
                continue;
            }
            if (!located && lo > 0.0) {
                if (kh_switch_crossed(&s->sw, NULL) < 0) {
                    s->failed++; /* a non-finite state on the way: halve the step */
                    h = 0.5 * lo;
                    continue;
                }
                hi = kh_switch_bracket(&s->sw, lo, trial, s, NULL, &lo, &k);
                if (lo > 0.0 && stages(s, lo) != 0) {
                    s->failed++;
                    h = 0.5 * lo;
                    continue;
                }
            }
            if (lo > 0.0) {
                double err = error_norm(s, lo);
                if (err > 1.0) {
                    s->failed++;
                    h = lo * fmax(0.2, 0.9 * pow(err, -0.2));
                    rejected = 1;
                    continue;
                }
                accept(s);
            }
            double d0 = fmax(hi - lo, s->sw.tol);
            double d = cross(s, d0, kh_switch_cross_limit(d0, h, h - lo));
            *t = d == 0.0 ? s->t0 + lo : ((final && lo + d >= h) ? t1 : s->t0 + lo + d);
            if (d > 0.0) {
                kh_switch_note(&s->sw, k, *t);
            } else {
                /* The function comes close without crossing: go on with a
                 * step short enough for the next location to be accurate. */
                kh_switch_near_miss(&s->sw, k, *t);
                s->h = fmin(s->h, 100.0 * fmax(hi, s->sw.tol));
            }
            return KH_OK; /* s->h is kept: the step size before the switch */
        }
        double err = error_norm(s, h);
        if (!(err <= 1.0)) {
            s->failed++;
            h *= isfinite(err) ? fmax(0.2, 0.9 * pow(err, -0.2)) : 0.2;
            rejected = 1;
            if (!(s->t0 + h > s->t0)) {
                return KH_ERROR(KH_ESOLVER,
                                "dopri5: the step size fell to the resolution of "
                                "t = %.9g (the dynamics may diverge)",
                                s->t0);
            }
            continue;
        }
        accept(s);
        *t = final ? t1 : s->t0 + h;
        double grow = err > 0.0 ? fmin(10.0, fmax(0.2, 0.9 * pow(err, -0.2))) : 10.0;
        double next = h * (rejected ? fmin(1.0, grow) : grow);
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
    const long m = s->m, mn = s->m * s->n;
    s->W = y + m;
    memcpy(s->u0, y, (size_t)m * sizeof(double));
    memcpy(s->u0 + m, y + m + mn, (size_t)s->nz * sizeof(double));
    int status = KH_OK;
    if (s->sw.n) {
        /* The signs at the start: the small state and, if needed, the moments. */
        for (long mu = 0; mu < m; mu++) {
            s->wa[mu] = 1.0;
            s->wb[mu] = 0.0;
        }
        if (s->model->switches_need_moments(s->ws)) {
            moments(s, s->wa, s->wb);
        }
        s->sw_u = s->u0;
        kh_switch_start(&s->sw, NULL);
    }
    while (*t < t1) {
        status = kh_solver_may_step(s->stop, s->steps_since_reset, s->p->max_steps, *t);
        if (status != KH_OK) {
            break;
        }
        if ((status = dp_step(s, t, t1)) != KH_OK) {
            break;
        }
        s->steps++;
        s->steps_since_reset++;
        if (s->sw.n) {
            /* The signs at the new state, whose moments the last evaluation
             * (k7 of an accepted step, or the crossing) left in ws. */
            s->sw_u = s->u0;
            kh_switch_start(&s->sw, NULL);
        }
    }
    memcpy(y, s->u0, (size_t)m * sizeof(double));
    memcpy(y + m + mn, s->u0 + m, (size_t)s->nz * sizeof(double));
    return status;
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
    .caps = KH_SOLVER_ADAPTIVE | KH_SOLVER_NEEDS_REDUCED | KH_SOLVER_LOCATES,
    .alloc = dp_alloc,
    .apply = dp_apply,
    .reset = dp_reset,
    .free = dp_free,
    .stats = dp_stats,
};

/* ---- the same method on a plain vector (kh_dp5.h) ---- */

int kh_dp5_init(kh_dp5 *d, long n, double first_step)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    const size_t len = (size_t)(n > 0 ? n : 1);
    int ok = (d->y1 = malloc(len * sizeof(double))) && (d->ys = malloc(len * sizeof(double))) &&
             (d->err = malloc(len * sizeof(double)));
    for (int j = 0; j < 7 && ok; j++) {
        ok = (d->k[j] = malloc(len * sizeof(double))) != NULL;
    }
    if (!ok) {
        kh_dp5_release(d);
        return KH_ERROR(KH_ENOMEM, "cannot allocate dopri5 for %ld states", n);
    }
    kh_dp5_reset(d, first_step);
    return KH_OK;
}

void kh_dp5_release(kh_dp5 *d)
{
    free(d->y1);
    free(d->ys);
    free(d->err);
    for (int j = 0; j < 7; j++) {
        free(d->k[j]);
    }
    memset(d, 0, sizeof *d);
}

void kh_dp5_reset(kh_dp5 *d, double first_step)
{
    d->fsal = 0;
    d->h = first_step;
    d->steps_since_reset = 0;
}

/* Stages 2..7 of a step of h from y: y1 and err; k[6] = f(y1). */
static int dp5_stages(kh_dp5 *d, double h, const double *y, kh_dp5_rhs f, void *ctx)
{
    const long n = d->n;
    for (int st = 1; st < 7; st++) {
        double *u = st == 6 ? d->y1 : d->ys;
        for (long i = 0; i < n; i++) {
            double acc = 0.0;
            for (int j = 0; j < st; j++) {
                acc += A[st][j] * d->k[j][i];
            }
            u[i] = y[i] + h * acc;
        }
        d->rhs_evals++;
        if (f(ctx, u, d->k[st]) != 0) {
            return 1;
        }
    }
    for (long i = 0; i < n; i++) {
        double e = 0.0;
        for (int j = 0; j < 7; j++) {
            e += E[j] * d->k[j][i];
        }
        d->err[i] = h * e;
    }
    return 0;
}

/* One accepted step from (*t, y) towards t1. */
static int dp5_step(kh_dp5 *d, double *t, double t1, double *y, kh_dp5_rhs f, kh_dp5_norm norm,
                    void *ctx)
{
    const double t0 = *t;
    if (!d->fsal) {
        d->rhs_evals++;
        if (f(ctx, y, d->k[0]) != 0) {
            return diverged(t0);
        }
        d->fsal = 1;
    }
    double h = d->h;
    int rejected = 0;
    for (;;) {
        int final = 0;
        if (h >= t1 - t0) {
            h = t1 - t0;
            final = 1;
        }
        double err = dp5_stages(d, h, y, f, ctx) == 0 ? norm(ctx, y, d->y1, d->err) : (double)NAN;
        if (!(err <= 1.0)) {
            d->failed++;
            h *= isfinite(err) ? fmax(0.2, 0.9 * pow(err, -0.2)) : 0.5;
            rejected = 1;
            if (!(t0 + h > t0)) {
                return KH_ERROR(KH_ESOLVER,
                                "dopri5: the step size fell to the resolution of "
                                "t = %.9g (the dynamics may diverge)",
                                t0);
            }
            continue;
        }
        memcpy(y, d->y1, (size_t)d->n * sizeof(double));
        double *tmp = d->k[0];
        d->k[0] = d->k[6], d->k[6] = tmp;
        *t = final ? t1 : t0 + h;
        double grow = err > 0.0 ? fmin(10.0, fmax(0.2, 0.9 * pow(err, -0.2))) : 10.0;
        double next = h * (rejected ? fmin(1.0, grow) : grow);
        if (!(final && next < d->h)) {
            d->h = next;
        }
        return KH_OK;
    }
}

int kh_dp5_step(kh_dp5 *d, double *t, double t1, double *y, kh_dp5_rhs f, kh_dp5_norm norm,
                void *ctx)
{
    int status = dp5_step(d, t, t1, y, f, norm, ctx);
    if (status == KH_OK) {
        d->steps++;
        d->steps_since_reset++;
    }
    return status;
}

void kh_dp5_undo(kh_dp5 *d)
{
    double *tmp = d->k[0]; /* f at the step's start, kept in k[6] by the swap */
    d->k[0] = d->k[6], d->k[6] = tmp;
    d->steps--;
    d->steps_since_reset--;
    d->failed++;
}

int kh_dp5_apply(kh_dp5 *d, double *t, double t1, double *y, kh_dp5_rhs f, kh_dp5_norm norm,
                 void *ctx, long max_steps, const volatile sig_atomic_t *stop)
{
    int status = KH_OK;
    while (*t < t1) {
        status = kh_solver_may_step(stop, d->steps_since_reset, max_steps, *t);
        if (status != KH_OK || (status = kh_dp5_step(d, t, t1, y, f, norm, ctx)) != KH_OK) {
            break;
        }
    }
    return status;
}
