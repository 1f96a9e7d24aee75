/* reduced: the exact dynamics in the reduced state of one presentation,
 * with a linearly implicit (Rosenbrock) stepper whose linear algebra costs
 * O(m) per step.
 *
 * Within a presentation v is fixed and every model here changes a row only
 * along v and itself: tau_L dW_mu/dt = a_mu v - b_mu W_mu. So each row stays
 * W_mu(t) = alpha_mu(t) W0_mu + beta_mu(t) v, W0 the weights at the
 * presentation's start, and the state is u = [h | alpha | beta | z] (z: the
 * state after W, bcm's theta), 3m (or 4m) numbers instead of m (n + 1):
 *   tau_L dalpha/dt = -b alpha,  tau_L dbeta/dt = a - b beta,  alpha(0) = 1,
 *   beta(0) = 0, with a, b, dh/dt, dz/dt the model's reduced form at the
 *   moments I, B of the rows (solvers/kh_moments.h: O(m) or O(m nnz(v))).
 * alpha = exp(-int b / tau_L) stays positive.
 *
 * The stepper is RODAS3 (Sandu et al. 1997; Hairer and Wanner IV.7): four
 * stages, three evaluations, order 3 with an embedded order-2 estimate,
 * L-stable and stiffly accurate, so the inhibition's fast common mode (rate
 * (1 - w_inh + w_inh |A|) / tau, hundreds at m = 2000) does not hold the
 * step to its stability limit. Each stage solves (I / (gamma dt) - J) K = r
 * with the exact Jacobian J at the step's start, which is block-diagonal
 * (one 3 x 3 block per unit: its h, alpha, beta; 4 x 4 with z) plus the
 * rank-one inhibition -(w_inh / tau) 1 H^T, H_nu = [h_nu > 0]: the blocks
 * are factored once per trial step and the rank one is taken by
 * Sherman-Morrison, O(m) per solve.
 *
 * Switches of the right-hand side (the ReLU and the jumps of g) are taken
 * unit by unit. The error of a step is the RMS over units of the error in h,
 * in the row W_mu (|ea W0_mu + eb v| / sqrt(n), from the capture's Gram
 * sums) and in z, each against atol + rtol times the value's size. A step
 * within that tolerance is accepted as it is. A step beyond it whose error
 * lies in the units that crossed a switch (their region changed at a stage
 * or at the end) is not thrown away: the units that did not cross keep the
 * step, and each crossing unit is integrated alone over it, with the
 * others' inhibition from the step's trajectory and its switches located
 * (solvers/kh_reduced_unit.h). The step is accepted when the error of the
 * units that did not cross, the crossing units' own errors and the change
 * their corrections make to the inhibition (its effect on every h over the
 * step) are within the tolerance together; else it is retried shorter. So a
 * switch costs a few evaluations of one unit, not a rejected step of the
 * whole system.
 *
 * W is formed only when the run asks for it (sync: at snapshots and at a
 * presentation's end), and only for the rows that moved; the record's rows
 * are observed from the moments (observe). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_threads.h"
#include "solvers/kh_blocks.h"
#include "solvers/kh_moments.h"
#include "solvers/kh_reduced_unit.h"
#include "solvers/kh_solver.h"

/* RODAS3 in the form of KPP's Rosenbrock integrators: G = 1/(gamma dt) - J,
 * Y_i = u0 + sum_j A_ij K_j, G K_i = f(Y_i) + sum_j C_ij K_j / dt,
 * u1 = u0 + sum_i M_i K_i, error = K_4. Stage 2 reuses f(Y_1). */
#define RD_GAMMA 0.5
static const double RA[4][3] = {{0, 0, 0}, {0, 0, 0}, {2, 0, 0}, {2, 0, 1}};
static const double RC[4][3] = {{0, 0, 0}, {4, 0, 0}, {1, -1, 0}, {1, -1, -8.0 / 3.0}};
static const double RM[4] = {2, 0, 1, 1};

typedef struct rd_state {
    const kh_model_type *model;
    kh_model_ws *ws;
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    long m, n, nz, nu; /* units, inputs, state after W (0 or m), nu = 3m + nz */
    int bs;            /* the block size: 3, or 4 with z */
    kh_moments mo;
    int captured; /* the basis is that of the current presentation */
    int moved;    /* alpha, beta have left (1, 0) since the capture */
    /* u = [h | alpha | beta | z]: start, end, stage; f at the start. */
    double *u0, *u1, *us, *f0, *fs, *K[4], *r;
    double *jac;  /* [m x bs x bs] the blocks of J at u0 */
    double *A;    /* [m x bs x bs] the blocks of G */
    double *act;  /* [nu] H_nu at u0 in the h part, else 0: v of the rank one */
    double *uvec; /* [nu] u of the rank one */
    double *uerr; /* [m] each unit's share of the last step's error */
    kh_blocks blk;
    int have_f0; /* f0 and jac hold the values at u0 */
    double h;    /* the next step */
    /* The switches unit by unit: nsw switching functions per unit (0: the
     * rule has none), their values [m x nsw], each unit's region at u0, and
     * whether it left it during the trial step. */
    int nsw;
    double *sw;
    unsigned *sig0;
    unsigned char *crossed;
    long *list;          /* [m] the crossing units of a step */
    double *xloc;        /* [m x 4] their states at its end, integrated alone */
    double *eloc;        /* [m] their errors */
    kh_unit_step *units; /* [m] */
    long steps, failed, rhs_evals, jac_evals, steps_since_reset;
    long unit_switches; /* switches located unit by unit */
} rd_state;

static const char *const names[] = {"reduced", NULL};

static void rd_free(void *vs)
{
    rd_state *s = vs;
    if (!s) {
        return;
    }
    kh_moments_release(&s->mo);
    kh_blocks_release(&s->blk);
    double **arrays[] = {&s->u0,   &s->u1,   &s->us,   &s->f0,   &s->fs,   &s->K[0],
                         &s->K[1], &s->K[2], &s->K[3], &s->r,    &s->jac,  &s->A,
                         &s->act,  &s->uvec, &s->sw,   &s->xloc, &s->eloc, &s->uerr};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        free(*arrays[i]);
    }
    free(s->sig0);
    free(s->crossed);
    free(s->list);
    free(s->units);
    free(s);
}

static int rd_applies(const kh_model_type *model, size_t dim, const kh_params *p)
{
    const long m = p->n_hidden, n = p->n_visible;
    const long nz = (long)dim - m - m * n;
    if (!model->reduced || !model->coefficients || !model->observe_moments) {
        return KH_ERROR(KH_EINVAL,
                        "solver.method = reduced needs the reduced form of the model, which %s "
                        "lacks: use dopri5",
                        model->name);
    }
    if (nz != 0 && (nz != m || !model->extra_partials)) {
        return KH_ERROR(KH_EINVAL,
                        "solver.method = reduced needs a state after W of one value per unit "
                        "with its partials; model %s has %ld values: use dopri5",
                        model->name, nz);
    }
    return KH_OK;
}

static void *rd_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                      const kh_params *p, const volatile sig_atomic_t *stop)
{
    (void)method;
    const long m = p->n_hidden, n = p->n_visible;
    const long nz = (long)dim - m - m * n;
    if (rd_applies(model, dim, p) != KH_OK) {
        return NULL;
    }
    rd_state *s = calloc(1, sizeof *s);
    if (!s) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the reduced solver");
        return NULL;
    }
    s->model = model;
    s->ws = ws;
    s->p = p;
    s->stop = stop;
    s->m = m;
    s->n = n;
    s->nz = nz;
    s->nu = 3 * m + nz;
    s->bs = nz ? 4 : 3;
    s->h = p->first_step;
    if (kh_moments_init(&s->mo, m, n, p->p) != KH_OK) {
        free(s);
        return NULL;
    }
    if (kh_blocks_init(&s->blk, m, s->bs) != KH_OK) {
        rd_free(s);
        return NULL;
    }
    const size_t nu = (size_t)s->nu, blk = (size_t)m * (size_t)(s->bs * s->bs);
    double **vecs[] = {&s->u0,   &s->u1,   &s->us,   &s->f0, &s->fs,  &s->K[0],
                       &s->K[1], &s->K[2], &s->K[3], &s->r,  &s->act, &s->uvec};
    int ok = 1;
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        ok = ok && (*vecs[i] = calloc(nu, sizeof(double)));
    }
    ok = ok && (s->jac = calloc(blk, sizeof(double))) && (s->A = calloc(blk, sizeof(double))) &&
         (s->uerr = calloc((size_t)m, sizeof(double)));
    const size_t um = (size_t)m;
    s->nsw = model->n_switch && model->reduced_switches ? (int)(model->n_switch(ws) / um) : 0;
    if (s->nsw > KH_UNIT_MAX_SWITCHES) {
        s->nsw = 0; /* more than a unit can track: the error control takes them */
    }
    if (ok && s->nsw) {
        ok = (s->sw = calloc(um * (size_t)s->nsw, sizeof(double))) &&
             (s->sig0 = calloc(um, sizeof(unsigned))) && (s->crossed = calloc(um, 1)) &&
             (s->list = calloc(um, sizeof(long))) && (s->xloc = calloc(um * 4, sizeof(double))) &&
             (s->eloc = calloc(um, sizeof(double))) &&
             (s->units = calloc(um, sizeof(kh_unit_step)));
    }
    if (!ok) {
        rd_free(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the reduced solver for %ld units", m);
        return NULL;
    }
    return s;
}

static void rd_reset(void *vs)
{
    rd_state *s = vs;
    s->captured = 0;
    s->have_f0 = 0;
    s->steps_since_reset = 0;
    s->h = s->p->first_step;
}

/* Each unit's region at h (the moments in ws where the switches need
 * them): with start, the regions of u0; else the units that left theirs
 * are marked crossed. */
static void regions(rd_state *s, const double *h, int start)
{
    const int nsw = s->nsw;
    s->model->reduced_switches(h, s->ws, s->sw);
    for (long mu = 0; mu < s->m; mu++) {
        unsigned sig = 0;
        for (int k = 0; k < nsw; k++) {
            sig |= (s->sw[mu * nsw + k] > 0.0 ? 1u : 0u) << k;
        }
        if (start) {
            s->sig0[mu] = sig;
        } else if (sig != s->sig0[mu]) {
            s->crossed[mu] = 1;
        }
    }
}

enum { AT_START, AT_STAGE };

/* f(u): the moments (with vv when want_vv), the model's reduced form, and
 * alpha, beta's derivatives; the units' regions (at: AT_START or
 * AT_STAGE). Returns the model's status. */
static int eval(rd_state *s, const double *u, double *du, int want_vv, int at)
{
    const long m = s->m;
    kh_model_ws *w = s->ws;
    const double *al = u + m, *be = u + 2 * m;
    s->rhs_evals++;
    for (long mu = 0; mu < m; mu++) {
        if (!(al[mu] > 0.0)) {
            return 1; /* alpha = exp(-int b / tau_L) > 0: the trial step is too long */
        }
    }
    kh_moments_eval(&s->mo, al, be, w->I, w->B, want_vv ? w->vv : NULL);
    int r = s->model->reduced(u, u + 3 * m, du, du + 3 * m, w);
    if (r != 0) {
        return r;
    }
    if (s->nsw) {
        regions(s, u, at == AT_START);
    }
    const double inv = 1.0 / s->p->tau_L;
    for (long mu = 0; mu < m; mu++) {
        du[m + mu] = -w->b[mu] * al[mu] * inv;
        du[2 * m + mu] = (w->a[mu] - w->b[mu] * be[mu]) * inv;
    }
    return 0;
}

/* The blocks of J at u0 from the moments and coefficients eval left in ws
 * (I, B, vv), row-major in the order h, alpha, beta, z. */
static void jacobian(rd_state *s)
{
    const long m = s->m;
    const int bs = s->bs;
    kh_model_ws *w = s->ws;
    const kh_params *p = s->p;
    const double *h = s->u0, *al = s->u0 + m, *be = s->u0 + 2 * m, *z = s->u0 + 3 * m;
    s->jac_evals++;
    w->type->coefficients(h, z, 1, w);
    if (s->nz) {
        s->model->extra_partials(h, z, w);
    }
    const double pp = p->p, inv_tau = 1.0 / p->tau, inv_tl = 1.0 / p->tau_L;
    for (long mu = 0; mu < m; mu++) {
        /* The moments' partials, by their homogeneity in (alpha, beta):
         * alpha I_a + beta I_b = (p - 1) I, alpha B_a + beta B_b = p B. */
        const double I = w->I[mu], B = w->B[mu];
        const double Ib = (pp - 1.0) * w->vv[mu], Bb = pp * I;
        const double Ia = ((pp - 1.0) * I - be[mu] * Ib) / al[mu];
        const double Ba = (pp * B - be[mu] * Bb) / al[mu];
        const double aa = w->aI[mu] * Ia + w->aB[mu] * Ba, ab = w->aI[mu] * Ib + w->aB[mu] * Bb;
        const double ba = w->bI[mu] * Ia + w->bB[mu] * Ba, bb = w->bI[mu] * Ib + w->bB[mu] * Bb;
        const double b = w->b[mu];
        s->act[mu] = h[mu] > 0.0 ? 1.0 : 0.0;
        double *J = s->jac + (size_t)mu * (size_t)(bs * bs);
        memset(J, 0, (size_t)(bs * bs) * sizeof(double));
        J[0] = (-1.0 + p->w_inh * s->act[mu]) * inv_tau;
        J[1] = Ia * inv_tau;
        J[2] = Ib * inv_tau;
        J[bs + 0] = -w->bh[mu] * al[mu] * inv_tl;
        J[bs + 1] = -(b + al[mu] * ba) * inv_tl;
        J[bs + 2] = -al[mu] * bb * inv_tl;
        J[2 * bs + 0] = (w->ah[mu] - be[mu] * w->bh[mu]) * inv_tl;
        J[2 * bs + 1] = (aa - be[mu] * ba) * inv_tl;
        J[2 * bs + 2] = (ab - b - be[mu] * bb) * inv_tl;
        if (bs == 4) {
            J[3] = 0.0;
            J[bs + 3] = -al[mu] * w->bz[mu] * inv_tl;
            J[2 * bs + 3] = (w->az[mu] - be[mu] * w->bz[mu]) * inv_tl;
            J[3 * bs + 0] = w->zh[mu];
            J[3 * bs + 3] = w->zz[mu];
        }
    }
}

/* Factors G = I / (gamma dt) - J for a step of dt: the blocks, and the
 * inhibition as the rank one u v^T, u_h = -w_inh / tau, v_h = H. 0, or 1
 * when G is singular. */
static int factor(rd_state *s, double dt)
{
    const long m = s->m;
    const int bs = s->bs;
    const double d = 1.0 / (RD_GAMMA * dt);
    const size_t len = (size_t)m * (size_t)(bs * bs);
    for (size_t k = 0; k < len; k++) {
        s->A[k] = -s->jac[k];
    }
    for (long mu = 0; mu < m; mu++) {
        for (int k = 0; k < bs; k++) {
            s->A[(size_t)mu * (size_t)(bs * bs) + (size_t)(k * bs + k)] += d;
        }
    }
    const int inhibit = s->p->w_inh != 0.0;
    if (inhibit) {
        for (long mu = 0; mu < m; mu++) {
            s->uvec[mu] = -s->p->w_inh / s->p->tau;
        }
    }
    return kh_blocks_factor(&s->blk, s->A, inhibit ? s->uvec : NULL, inhibit ? s->act : NULL);
}

/* Unit mu's (h, alpha, beta[, z]) in the state vector u. */
static void unit_of(const rd_state *s, const double *u, long mu, double x[4])
{
    x[0] = u[mu];
    x[1] = u[s->m + mu];
    x[2] = u[2 * s->m + mu];
    x[3] = s->bs == 4 ? u[3 * s->m + mu] : 0.0;
}

/* Unit mu's share of the step's error (kh_unit_err_sq). */
static double unit_err(const rd_state *s, long mu)
{
    double e[4], x0[4], x1[4];
    unit_of(s, s->K[3], mu, e);
    unit_of(s, s->u0, mu, x0);
    unit_of(s, s->u1, mu, x1);
    const double inv_n = 1.0 / (double)(s->n > 0 ? s->n : 1);
    return kh_unit_err_sq(&s->mo, mu, s->bs, e, x0, x1, s->p->atol, s->p->rtol, inv_n);
}

/* The number of components the RMS error is taken over. */
static double n_components(const rd_state *s)
{
    return (double)(s->m + s->m * s->n + s->nz);
}

/* The RMS error of a step (error K4), see the header comment; each unit's
 * share into uerr. */
static double error_norm(rd_state *s)
{
    double sum = 0.0;
    for (long mu = 0; mu < s->m; mu++) {
        s->uerr[mu] = unit_err(s, mu);
        sum += s->uerr[mu];
    }
    return sqrt(sum / n_components(s));
}

/* out = base + c0 x0 + c1 x1 + c2 x2 over n numbers (restrict: the stage
 * vectors are distinct buffers, so the loop vectorizes). */
static void combine(long n, double *restrict out, const double *restrict base, double c0,
                    const double *restrict x0, double c1, const double *restrict x1, double c2,
                    const double *restrict x2)
{
    for (long k = 0; k < n; k++) {
        out[k] = base[k] + c0 * x0[k] + c1 * x1[k] + c2 * x2[k];
    }
}

/* 0 when every number is finite: 0 x is NaN exactly when x is not, and NaN
 * sticks in a sum (four of them, so that the adds do not wait on each
 * other). */
static int not_finite(long n, const double *restrict x)
{
    double probe[4] = {0.0, 0.0, 0.0, 0.0};
    long k = 0;
    for (; k + 4 <= n; k += 4) {
        for (int l = 0; l < 4; l++) {
            probe[l] += 0.0 * x[k + l];
        }
    }
    for (; k < n; k++) {
        probe[0] += 0.0 * x[k];
    }
    return probe[0] + probe[1] + probe[2] + probe[3] != 0.0;
}

/* The stages of a step of dt from u0: u1 and the error K4. 0, or 1 when a
 * stage is not finite or G singular. */
static int stages(rd_state *s, double dt)
{
    const long nu = s->nu;
    if (factor(s, dt)) {
        return 1;
    }
    if (s->nsw) {
        memset(s->crossed, 0, (size_t)s->m);
    }
    const double inv_dt = 1.0 / dt;
    double *const *K = s->K;
    for (int i = 0; i < 4; i++) {
        const double *f = s->f0;
        if (i >= 2) {
            /* Y_i = u0 + sum_j A_ij K_j (at most three terms; unused ones 0) */
            combine(nu, s->us, s->u0, RA[i][0], K[0], RA[i][1], K[1], RA[i][2], K[i - 1]);
            if (eval(s, s->us, s->fs, 0, AT_STAGE) != 0) {
                return 1;
            }
            f = s->fs;
        }
        /* K_i = f + sum_{j < i} C_ij K_j / dt, then G K_i = that */
        const double *Kj[3] = {K[0], i > 1 ? K[1] : K[0], i > 2 ? K[2] : K[0]};
        combine(nu, K[i], f, RC[i][0] * inv_dt, Kj[0], RC[i][1] * inv_dt, Kj[1], RC[i][2] * inv_dt,
                Kj[2]);
        kh_blocks_solve(&s->blk, K[i]);
        if (not_finite(nu, K[i])) {
            return 1;
        }
    }
    /* u1 = u0 + sum_i M_i K_i, M_1 = 0 */
    combine(nu, s->u1, s->u0, RM[0], K[0], RM[2], K[2], RM[3], K[3]);
    /* alpha = exp(-int b / tau_L) > 0: a step that makes it <= 0 is too long. */
    for (long mu = 0; mu < s->m; mu++) {
        if (!(s->u1[s->m + mu] > 0.0)) {
            return 1;
        }
    }
    return 0;
}

static int diverged(double t)
{
    return KH_ERROR(KH_ESOLVER,
                    "the state became non-finite (NaN or Inf) near t = %.9g: the "
                    "dynamics diverge",
                    t);
}

/* f and J at u0. */
static int at_start(rd_state *s)
{
    if (eval(s, s->u0, s->f0, 1, AT_START) != 0) {
        return 1;
    }
    jacobian(s);
    s->have_f0 = 1;
    return 0;
}

/* The crossing units of the trial step just taken (u1): those marked at a
 * stage and those whose region at u1 differs. Their number. */
static long crossing_units(rd_state *s)
{
    const long m = s->m;
    kh_model_ws *w = s->ws;
    if (s->model->switches_need_moments && s->model->switches_need_moments(w)) {
        kh_moments_eval(&s->mo, s->u1 + m, s->u1 + 2 * m, w->I, w->B, NULL);
    }
    regions(s, s->u1, 0);
    long nc = 0;
    for (long mu = 0; mu < m; mu++) {
        if (s->crossed[mu]) {
            s->list[nc++] = mu;
        }
    }
    return nc;
}

/* Integrates the nc crossing units alone over the step of dt: their states
 * at its end into xloc, their errors into eloc. 0, or 1 when one cannot. */
static int integrate_units(rd_state *s, long nc, double dt)
{
    const long m = s->m;
    const double *h0 = s->u0, *h1 = s->u1, *f0 = s->f0;
    double S0 = 0.0, dS0 = 0.0, S1 = 0.0;
    for (long mu = 0; mu < m; mu++) {
        S0 += kh_relu(h0[mu]);
        dS0 += h0[mu] > 0.0 ? f0[mu] : 0.0;
        S1 += kh_relu(h1[mu]);
    }
    int fail = 0;
#pragma omp parallel for default(none) shared(s, h0, h1, f0, fail)                                 \
    firstprivate(nc, dt, S0, dS0, S1) if (KH_PAR(nc * 4096)) schedule(dynamic, 4)
    for (long k = 0; k < nc; k++) {
        const long mu = s->list[k];
        kh_unit_step *u = &s->units[k];
        *u = (kh_unit_step){.model = s->model,
                            .ws = s->ws,
                            .mo = &s->mo,
                            .mu = mu,
                            .bs = s->bs,
                            .nsw = s->nsw,
                            .dt = dt,
                            .atol = s->p->atol,
                            .rtol = s->p->rtol,
                            .inv_n = 1.0 / (double)(s->n > 0 ? s->n : 1)};
        /* S_o through the others' sum at both ends, with its slope at the start. */
        u->c0 = S0 - kh_relu(h0[mu]);
        u->c1 = dS0 - (h0[mu] > 0.0 ? f0[mu] : 0.0);
        u->c2 = ((S1 - kh_relu(h1[mu])) - u->c0 - u->c1 * dt) / (dt * dt);
        double *x = s->xloc + 4 * k;
        unit_of(s, s->u0, mu, x);
        if (kh_unit_integrate(u, x, &s->eloc[k]) != 0) {
#pragma omp atomic write
            fail = 1;
        }
    }
    return fail;
}

/* A trial step of dt beyond the tolerance (*err): try it with the crossing
 * units integrated alone (the header comment). 1 when the step is accepted
 * (u1 then holds their states, *err the step's error), else 0 with *err the
 * error that failed. */
static int try_units(rd_state *s, double dt, double *err)
{
    const long m = s->m;
    const long nc = s->nsw ? crossing_units(s) : 0;
    if (nc == 0) {
        return 0;
    }
    double sum = 0.0;
    for (long mu = 0; mu < m; mu++) {
        sum += s->crossed[mu] ? 0.0 : s->uerr[mu];
    }
    const double N = n_components(s);
    if (!(sum <= N)) {
        *err = sqrt(sum / N); /* the error is not the crossing units' */
        return 0;
    }
    if (integrate_units(s, nc, dt) != 0) {
        return 0;
    }
    /* Their corrections change the inhibition by dS at the step's end; over
     * the step that moves every h by about w_inh / tau dt |dS| / 2. */
    double dS = 0.0;
    for (long k = 0; k < nc; k++) {
        const long mu = s->list[k];
        dS += kh_relu(s->xloc[4 * k]) - kh_relu(s->u1[mu]);
        sum += s->eloc[k];
        s->unit_switches += s->units[k].switches;
    }
    const double eh = s->p->w_inh / s->p->tau * dt * fabs(dS) * 0.5;
    if (eh > 0.0) {
        for (long mu = 0; mu < m; mu++) {
            const double sc = s->p->atol + s->p->rtol * fmax(fabs(s->u0[mu]), fabs(s->u1[mu]));
            sum += (eh / sc) * (eh / sc);
        }
    }
    *err = sqrt(sum / N);
    if (!(*err <= 1.0)) {
        return 0;
    }
    for (long k = 0; k < nc; k++) {
        const long mu = s->list[k];
        const double *x = s->xloc + 4 * k;
        s->u1[mu] = x[0];
        s->u1[m + mu] = x[1];
        s->u1[2 * m + mu] = x[2];
        if (s->bs == 4) {
            s->u1[3 * m + mu] = x[3];
        }
    }
    return 1;
}

/* One accepted step from (*t, u0) towards t1. */
static int rd_step(rd_state *s, double *t, double t1)
{
    if (!s->have_f0 && at_start(s) != 0) {
        return diverged(*t);
    }
    double dt = s->h;
    int rejected = 0;
    for (;;) {
        int final = 0;
        if (dt >= t1 - *t) {
            dt = t1 - *t;
            final = 1;
        }
        if (stages(s, dt) != 0) {
            s->failed++;
            dt *= 0.5;
            rejected = 1;
            if (!(*t + dt > *t)) {
                return diverged(*t);
            }
            continue;
        }
        double err = error_norm(s);
        if (!(err <= 1.0) && !try_units(s, dt, &err)) {
            s->failed++;
            dt *= isfinite(err) ? fmax(0.2, 0.9 * pow(err, -1.0 / 3.0)) : 0.2;
            rejected = 1;
            if (!(*t + dt > *t)) {
                return KH_ERROR(KH_ESOLVER,
                                "reduced: the step size fell to the resolution of t = %.9g "
                                "(the dynamics may diverge)",
                                *t);
            }
            continue;
        }
        memcpy(s->u0, s->u1, (size_t)s->nu * sizeof(double));
        s->have_f0 = 0;
        s->moved = 1;
        *t = final ? t1 : *t + dt;
        double grow = err > 0.0 ? fmin(6.0, fmax(0.2, 0.9 * pow(err, -1.0 / 3.0))) : 6.0;
        double next = dt * (rejected ? fmin(1.0, grow) : grow);
        if (!(final && next < s->h)) {
            s->h = next;
        }
        return KH_OK;
    }
}

/* The basis of this presentation: W0 = the W in y, alpha = 1, beta = 0. */
static void capture(rd_state *s, const double *y)
{
    const long m = s->m;
    kh_moments_capture(&s->mo, y + m, s->ws->v);
    for (long mu = 0; mu < m; mu++) {
        s->u0[m + mu] = 1.0;
        s->u0[2 * m + mu] = 0.0;
    }
    s->captured = 1;
    s->moved = 0;
    s->have_f0 = 0;
}

static int rd_apply(void *vs, double *t, double t1, double y[])
{
    rd_state *s = vs;
    const long m = s->m, mn = s->m * s->n;
    if (!s->captured) {
        capture(s, y);
    }
    /* h and z as the run holds them (it may have set h). */
    if (memcmp(s->u0, y, (size_t)m * sizeof(double)) != 0 ||
        memcmp(s->u0 + 3 * m, y + m + mn, (size_t)s->nz * sizeof(double)) != 0) {
        memcpy(s->u0, y, (size_t)m * sizeof(double));
        memcpy(s->u0 + 3 * m, y + m + mn, (size_t)s->nz * sizeof(double));
        s->have_f0 = 0;
    }
    int status = KH_OK;
    while (*t < t1) {
        status = kh_solver_may_step(s->stop, s->steps_since_reset, s->p->max_steps, *t);
        if (status != KH_OK || (status = rd_step(s, t, t1)) != KH_OK) {
            break;
        }
        s->steps++;
        s->steps_since_reset++;
    }
    memcpy(y, s->u0, (size_t)m * sizeof(double));
    memcpy(y + m + mn, s->u0 + 3 * m, (size_t)s->nz * sizeof(double));
    return status;
}

/* W <- alpha W0 + beta v in y for the rows that moved; the next apply takes
 * it as its basis. */
static void rd_sync(void *vs, double y[])
{
    rd_state *s = vs;
    if (!s->captured || !s->moved) {
        return;
    }
    kh_moments_form(y + s->m, s->ws->v, s->m, s->n, s->u0 + s->m, s->u0 + 2 * s->m);
    s->captured = 0;
}

/* The record's observation from the moments at u0; -1 before the first
 * step of a presentation (y's W is current: the model observes it). */
static int rd_observe(void *vs, const double y[], kh_obs *o)
{
    rd_state *s = vs;
    if (!s->captured) {
        return -1;
    }
    const long m = s->m;
    kh_model_ws *w = s->ws;
    kh_moments_eval(&s->mo, s->u0 + m, s->u0 + 2 * m, w->I, w->B, w->vv);
    if (kh_net_not_finite(w, y, y + m + m * s->n, s->nz)) {
        return 1;
    }
    s->model->observe_moments(y, y + m + m * s->n, w, o);
    return 0;
}

static void rd_stats(const void *vs, kh_solver_stats *st)
{
    const rd_state *s = vs;
    st->steps = s->steps;
    st->failed_steps = s->failed;
    st->rhs_evals = s->rhs_evals;
    st->jac_evals = s->jac_evals;
    st->switches = s->unit_switches;
}

const kh_solver_type kh_solver_reduced = {
    .names = names,
    .caps = KH_SOLVER_ADAPTIVE | KH_SOLVER_NEEDS_REDUCED,
    .alloc = rd_alloc,
    .apply = rd_apply,
    .reset = rd_reset,
    .free = rd_free,
    .stats = rd_stats,
    .sync = rd_sync,
    .observe = rd_observe,
    .applies = rd_applies,
};
