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
 * Parked units. A unit below h = 0 whose row is frozen there (a = b = 0
 * with their partials: g = 0 below 0, as bcm_step and power with drive h)
 * is linear in the inhibition: tau dh/dt = I - w_inh S - h with I fixed.
 * Its h is x(t) + zeta(t) + 1, with tau dx/dt = I - x (closed form) and one
 * shared tau dzeta/dt = -1 - w_inh S - zeta, zeta(0) = -1 (a phantom unit
 * of the stepper with I = -1: it stays below -1, so never active). Such a
 * unit, more than 2 margins below 0 and not rising back within two steps at
 * its slope, leaves the stepper: the stepper's state holds the live units
 * and the phantom only (compact, in index order), and a parked unit costs a
 * few operations a step (its share of the error, zeta's error against its h
 * at the step's start; the check that it stays below 0). It comes back
 * within a margin of 0, or when its slope would bring it there within two
 * steps, and a step at whose end a parked unit is at or above 0 is taken
 * again with it live. The margin is 1e-5 of the largest |I| at the
 * presentation's first evaluation. Rules with a state after W (bcm's theta)
 * park nothing. Units that come back join the stepper's in index order
 * (a merge, not a scan of every unit).
 *
 * Most parked units lie far below 0, and a pass over all of them at every
 * step was a sixth of the time on the benchmark study. So the list is kept
 * in two parts: the units whose max(x, I) + zeta + 1 (a bound on h from
 * then on: x moves only towards I) was more than RD_FAR margins below 0
 * when the parts were formed are far, and each step passes over the near
 * ones only. The far part is passed over again, and the parts formed anew,
 * when zeta has moved by a tenth of RD_FAR margins since (long before a far
 * unit could come back), when the near part has doubled, or 16 passes on
 * while a quarter of the units are near; until then the far units' share
 * of the error weights is a bound taken when the parts were formed.
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
    kh_model_ws *ws; /* the run's: every unit (observe, the flags gI_neg) */
    kh_model_ws *cw; /* the stepper's: its units (compact) */
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    long m, n, nz; /* units, inputs, state after W (0 or m) */
    int bs;        /* the block size: 3, or 4 with z */
    /* The stepper's units: mc of them, the live ones in index order
     * (row[k]: unit k's row of W), then the phantom when parking is on;
     * nu = 3 mc (+ mc with z) numbers. */
    long mc, live, nu;
    long *row;
    int park_ok;       /* the rule can park (no state after W) */
    unsigned char *pk; /* [m] parked */
    long npark;        /* parked units */
    long *plist;       /* [npark] the parked units (near ones first), */
    long *back;        /* [m] the units a pass takes out */
    double *pI, *px;   /* their I and x at t_ref, */
    double pw;         /* and the sum of their error weights at the step's start */
    double *pout;      /* [npark] 1 for those a pass takes out, else 0 */
    /* The far part of the list, plist[nnear, npark) (the header comment):
     * formed at c = zeta + 1 = far_c, where each one's max(x, I) + c was at
     * least far_hmin (>= far_lim, RD_FAR margins) below 0, at time far_t;
     * far_pw the sum of bounds on their error weights while c stays within
     * RD_FAR_MOVE far_lim of far_c and t within RD_FAR_T tau of far_t. When
     * there is none, nnear = npark. */
    long nnear, near_cap; /* near units; more than near_cap: form the parts again, */
    long far_ttl;         /* and when this many passes later a quarter are near */
    double far_c, far_t, far_hmin, far_lim, far_pw;
    double t_ref, zeta;        /* zeta at the time of the full state */
    double margin;             /* parking's margin below h = 0 (0: not yet set) */
    double zslope;             /* dzeta/dt over the last step */
    double *hf, *af, *bf, *zf; /* [m] the full state (h, alpha, beta, z) */
    kh_moments mo;
    int captured; /* the basis is that of the current presentation */
    int moved;    /* alpha, beta have left (1, 0) since the capture */
    int repack;   /* the capture's per-unit state is still to be set from y */
    /* u = [h | alpha | beta | z] of the stepper's units: start, end, stage;
     * f at the start. */
    double *u0, *u1, *us, *f0, *fs, *K[4], *r;
    double *jac;  /* [mc x bs x bs] the blocks of J at u0 */
    double *A;    /* [mc x bs x bs] the blocks of G */
    double *act;  /* [nu] H_nu at u0 in the h part, else 0: v of the rank one */
    double *uvec; /* [nu] u of the rank one */
    double *uerr; /* [mc] each unit's share of the last step's error */
    double perr;  /* the parked units' share of it */
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
    long *list;          /* [mc] the crossing units of a step */
    double *xloc;        /* [mc x 4] their states at its end, integrated alone */
    double *eloc;        /* [mc] their errors */
    kh_unit_step *units; /* [mc] */
    long steps, failed, rhs_evals, jac_evals, steps_since_reset;
    long unit_switches; /* switches located unit by unit */
    long parked;        /* units parked, summed over the accepted steps */
} rd_state;

/* Parking's margin, as a fraction of the largest |I| (on the benchmark
 * study, four digits, 1 thread: 1e-8, 1e-6, 1e-5, 1e-4, 1e-3 and 1e-2 took
 * 0.57, 0.63, 0.59, 0.72, 1.13 and 1.33 s; without parking 3.93 s). */
#define RD_PARK_MARGIN 1e-5

/* alpha below which the Jacobian drops the partials in alpha (jacobian). */
#define RD_ALPHA_TINY 1e-8

/* The far part of the parked list: units that stay more than RD_FAR
 * margins below 0 at the inhibition of the time it is formed; it holds
 * while zeta moves by less than RD_FAR_MOVE of those margins, for at most
 * RD_FAR_T tau. */
#define RD_FAR_MOVE 0.1
#define RD_FAR_T 0.25
#define RD_FAR 3000.0

static const char *const names[] = {"reduced", NULL};

static void rd_free(void *vs)
{
    rd_state *s = vs;
    if (!s) {
        return;
    }
    kh_moments_release(&s->mo);
    kh_blocks_release(&s->blk);
    if (s->cw) {
        kh_net_release(s->cw);
        free(s->cw);
    }
    double **arrays[] = {&s->u0,   &s->u1,   &s->us,   &s->f0,   &s->fs, &s->K[0], &s->K[1],
                         &s->K[2], &s->K[3], &s->r,    &s->jac,  &s->A,  &s->act,  &s->uvec,
                         &s->sw,   &s->xloc, &s->eloc, &s->uerr, &s->pI, &s->hf,   &s->af,
                         &s->bf,   &s->zf,   &s->px,   &s->pout};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        free(*arrays[i]);
    }
    free(s->row);
    free(s->plist);
    free(s->back);
    free(s->pk);
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
    s->bs = nz ? 4 : 3;
    s->park_ok = nz == 0;
    s->mc = m + s->park_ok;
    s->live = m;
    s->nu = 3 * s->mc + (nz ? s->mc : 0);
    s->h = p->first_step;
    if (kh_moments_init(&s->mo, m, n, p->p) != KH_OK) {
        free(s);
        return NULL;
    }
    /* The stepper's units: at most every unit and the phantom. */
    const long cap = m + 1;
    if (kh_blocks_init(&s->blk, cap, s->bs) != KH_OK || !(s->cw = calloc(1, sizeof *s->cw)) ||
        kh_net_init_units(s->cw, p, cap) != KH_OK) {
        rd_free(s);
        return NULL;
    }
    s->cw->type = s->ws->type;
    s->cw->aux = s->ws->aux;
    s->ws->one_sided = s->cw->one_sided = 1;
    const size_t nu = (size_t)(3 * cap + nz), blk = (size_t)cap * (size_t)(s->bs * s->bs);
    double **vecs[] = {&s->u0,   &s->u1,   &s->us,   &s->f0, &s->fs,  &s->K[0],
                       &s->K[1], &s->K[2], &s->K[3], &s->r,  &s->act, &s->uvec};
    int ok = 1;
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        ok = ok && (*vecs[i] = calloc(nu, sizeof(double)));
    }
    ok = ok && (s->jac = calloc(blk, sizeof(double))) && (s->A = calloc(blk, sizeof(double))) &&
         (s->uerr = calloc((size_t)cap, sizeof(double)));
    /* (m + 4: parked_pass's last group of four reads past the list) */
    double **full[] = {&s->pI, &s->px, &s->pout, &s->hf, &s->af, &s->bf, &s->zf};
    for (size_t i = 0; i < sizeof full / sizeof full[0]; i++) {
        ok = ok && (*full[i] = calloc((size_t)m + 4, sizeof(double)));
    }
    ok = ok && (s->row = calloc((size_t)cap, sizeof(long))) && (s->pk = calloc((size_t)m, 1)) &&
         (s->plist = calloc((size_t)m, sizeof(long))) &&
         (s->back = calloc((size_t)m, sizeof(long))) &&
         (s->list = calloc((size_t)cap, sizeof(long)));
    const size_t um = (size_t)cap;
    s->nsw =
        model->n_switch && model->reduced_switches ? (int)(model->n_switch(ws) / (size_t)m) : 0;
    if (s->nsw > KH_UNIT_MAX_SWITCHES) {
        s->nsw = 0; /* more than a unit can track: the error control takes them */
    }
    if (ok && s->nsw) {
        ok = (s->sw = calloc(um * (size_t)s->nsw, sizeof(double))) &&
             (s->sig0 = calloc(um, sizeof(unsigned))) && (s->crossed = calloc(um, 1)) &&
             (s->xloc = calloc(um * 4, sizeof(double))) && (s->eloc = calloc(um, sizeof(double))) &&
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

/* Each unit's region at h (the moments in cw where the switches need
 * them): with start, the regions of u0; else the units that left theirs
 * are marked crossed. */
static void regions(rd_state *s, const double *h, int start)
{
    const int nsw = s->nsw;
    s->model->reduced_switches(h, s->cw, s->sw);
    for (long mu = 0; mu < s->mc; mu++) {
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

/* I, B (and vv) of the stepper's units at alpha, beta into cw; the
 * phantom's are I = -1 (its h stays below -1), B = R^p, vv = 0. */
static void moments(rd_state *s, const double *al, const double *be, int want_vv)
{
    kh_model_ws *w = s->cw;
    kh_moments_eval_rows(&s->mo, s->row, s->live, al, be, w->I, w->B, want_vv ? w->vv : NULL);
    for (long k = s->live; k < s->mc; k++) {
        w->I[k] = -1.0;
        w->B[k] = w->Rp;
        w->vv[k] = 0.0;
    }
}

/* The flags of g(d) I < 0 the stepper's units raised, onto their units. */
static void merge_flags(rd_state *s)
{
    for (long k = 0; k < s->live; k++) {
        if (s->cw->gI_neg[k] != 0.0) {
            s->ws->gI_neg[s->row[k]] = 1.0;
            s->cw->gI_neg[k] = 0.0;
        }
    }
}

enum { AT_START, AT_STAGE };

/* f(u): the moments (with vv when want_vv), the model's reduced form, and
 * alpha, beta's derivatives; the units' regions (at: AT_START or
 * AT_STAGE). Returns the model's status. */
static int eval(rd_state *s, const double *u, double *du, int want_vv, int at)
{
    const long mc = s->mc;
    kh_model_ws *w = s->cw;
    const double *al = u + mc, *be = u + 2 * mc;
    s->rhs_evals++;
    for (long mu = 0; mu < mc; mu++) {
        if (!(al[mu] > 0.0)) {
            return 1; /* alpha = exp(-int b / tau_L) > 0: the trial step is too long */
        }
    }
    moments(s, al, be, want_vv);
    int r = s->model->reduced(u, u + 3 * mc, du, du + 3 * mc, w);
    merge_flags(s);
    if (r != 0) {
        return r;
    }
    if (s->nsw) {
        regions(s, u, at == AT_START);
    }
    const double inv = 1.0 / s->p->tau_L;
    for (long mu = 0; mu < s->live; mu++) {
        du[mc + mu] = -w->b[mu] * al[mu] * inv;
        du[2 * mc + mu] = (w->a[mu] - w->b[mu] * be[mu]) * inv;
    }
    for (long mu = s->live; mu < mc; mu++) {
        du[mc + mu] = du[2 * mc + mu] = 0.0; /* the phantom has no row */
    }
    return 0;
}

/* Whether max(h, 0) moves with h, for h moving at rate f: above 0, or at
 * h = 0 (every unit at a presentation's start with h reset) on the side it
 * moves to. */
static int relu_on(double h, double f)
{
    return h > 0.0 || (h == 0.0 && f > 0.0);
}

/* d max(h, 0) / dt at h moving at rate f. */
static double relu_rate(double h, double f)
{
    return relu_on(h, f) ? f : 0.0;
}

/* The blocks of J at u0 from the moments and coefficients eval left in cw
 * (I, B, vv), row-major in the order h, alpha, beta, z. */
static void jacobian(rd_state *s)
{
    const long mc = s->mc;
    const int bs = s->bs;
    kh_model_ws *w = s->cw;
    const kh_params *p = s->p;
    const double *h = s->u0, *al = s->u0 + mc, *be = s->u0 + 2 * mc, *z = s->u0 + 3 * mc;
    s->jac_evals++;
    w->type->coefficients(h, w->one_sided ? s->f0 : NULL, z, 1, w); /* as eval's */
    if (s->nz) {
        s->model->extra_partials(h, z, w);
    }
    const double pp = p->p, inv_tau = 1.0 / p->tau, inv_tl = 1.0 / p->tau_L;
    for (long mu = 0; mu < s->live; mu++) {
        /* The moments' partials, by their homogeneity in (alpha, beta):
         * alpha I_a + beta I_b = (p - 1) I, alpha B_a + beta B_b = p B.
         * For alpha below RD_ALPHA_TINY (a row that strong learning has
         * turned all to v: alpha = exp(-int b / tau_L) falls to 1e-300 and
         * below) the quotient is rounding noise that overflows; the row's
         * W0 part then moves by alpha-sized amounts only and I_a, B_a stay
         * bounded, so their products with them vanish: they are taken as 0. */
        const double I = w->I[mu], B = w->B[mu];
        const double Ib = (pp - 1.0) * w->vv[mu], Bb = pp * I;
        const int tiny = al[mu] < RD_ALPHA_TINY;
        const double Ia = tiny ? 0.0 : ((pp - 1.0) * I - be[mu] * Ib) / al[mu];
        const double Ba = tiny ? 0.0 : (pp * B - be[mu] * Bb) / al[mu];
        const double aa = w->aI[mu] * Ia + w->aB[mu] * Ba, ab = w->aI[mu] * Ib + w->aB[mu] * Bb;
        const double ba = w->bI[mu] * Ia + w->bB[mu] * Ba, bb = w->bI[mu] * Ib + w->bB[mu] * Bb;
        const double b = w->b[mu];
        s->act[mu] = relu_on(h[mu], s->f0[mu]) ? 1.0 : 0.0;
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
    for (long mu = s->live; mu < mc; mu++) {
        /* The phantom: tau dzeta/dt = -1 - w_inh S - zeta, nothing else. */
        double *J = s->jac + (size_t)mu * (size_t)(bs * bs);
        memset(J, 0, (size_t)(bs * bs) * sizeof(double));
        J[0] = -inv_tau;
        s->act[mu] = 0.0;
    }
}

/* Factors G = I / (gamma dt) - J for a step of dt: the blocks, and the
 * inhibition as the rank one u v^T, u_h = -w_inh / tau, v_h = H. 0, or 1
 * when G is singular. */
static int factor(rd_state *s, double dt)
{
    const long mc = s->mc;
    const int bs = s->bs;
    const double d = 1.0 / (RD_GAMMA * dt);
    const size_t len = (size_t)mc * (size_t)(bs * bs);
    for (size_t k = 0; k < len; k++) {
        s->A[k] = -s->jac[k];
    }
    for (long mu = 0; mu < mc; mu++) {
        for (int k = 0; k < bs; k++) {
            s->A[(size_t)mu * (size_t)(bs * bs) + (size_t)(k * bs + k)] += d;
        }
    }
    const int inhibit = s->p->w_inh != 0.0;
    if (inhibit) {
        /* u and v live in the h part; the rest is 0 (the layout's size
         * changes as units park and come back). */
        for (long mu = 0; mu < mc; mu++) {
            s->uvec[mu] = -s->p->w_inh / s->p->tau;
        }
        for (long k = mc; k < s->nu; k++) {
            s->uvec[k] = s->act[k] = 0.0;
        }
    }
    s->blk.nb = mc;
    return kh_blocks_factor(&s->blk, s->A, inhibit ? s->uvec : NULL, inhibit ? s->act : NULL);
}

/* Unit mu's (h, alpha, beta[, z]) in the state vector u. */
static void unit_of(const rd_state *s, const double *u, long mu, double x[4])
{
    x[0] = u[mu];
    x[1] = u[s->mc + mu];
    x[2] = u[2 * s->mc + mu];
    x[3] = s->bs == 4 ? u[3 * s->mc + mu] : 0.0;
}

/* Unit mu's share of the step's error (kh_unit_err_sq). */
static double unit_err(const rd_state *s, long mu)
{
    double e[4], x0[4], x1[4];
    unit_of(s, s->K[3], mu, e);
    unit_of(s, s->u0, mu, x0);
    unit_of(s, s->u1, mu, x1);
    const double inv_n = 1.0 / (double)(s->n > 0 ? s->n : 1);
    return kh_unit_err_sq(&s->mo, s->row[mu], s->bs, e, x0, x1, s->p->atol, s->p->rtol, inv_n);
}

/* The number of components the RMS error is taken over (every unit's). */
static double n_components(const rd_state *s)
{
    return (double)(s->m + s->m * s->n + s->nz);
}

/* e^(-(t - t_ref) / tau): how much of a parked unit's x - I is left at t. */
static double decay(const rd_state *s, double t)
{
    return exp(-(t - s->t_ref) / s->p->tau);
}

/* A parked unit's x at the time of E = decay(), from its x_ref at t_ref:
 * tau dx/dt = I - x in closed form. A macro, so that it serves the scalar
 * loops and the four-lane ones (rd_v4) alike. */
#define RD_X_AT(I, x_ref, E) ((I) + ((x_ref) - (I)) * (E))

/* The h of parked unit j (of plist) at the time of E = decay() and zeta. */
static double parked_h(const rd_state *s, long j, double E, double zeta)
{
    return RD_X_AT(s->pI[j], s->px[j], E) + zeta + 1.0;
}

/* The parked units' share of the error of a step: zeta's error is each
 * one's error in h, weighed against its h at the step's start (pw). */
static double parked_err(const rd_state *s)
{
    const double ez = s->K[3][s->live]; /* the phantom's */
    return s->npark ? ez * ez * s->pw : 0.0;
}

/* The RMS error of a step (error K4), see the header comment; each unit's
 * share into uerr, the parked units' into perr. */
static double error_norm(rd_state *s)
{
    double sum = 0.0;
    for (long mu = 0; mu < s->live; mu++) {
        s->uerr[mu] = unit_err(s, mu);
        sum += s->uerr[mu];
    }
    for (long mu = s->live; mu < s->mc; mu++) {
        s->uerr[mu] = 0.0; /* the phantom: counted through the parked units */
    }
    s->perr = parked_err(s);
    return sqrt((sum + s->perr) / n_components(s));
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
    const long nu = s->nu, mc = s->mc;
    if (factor(s, dt)) {
        return 1;
    }
    if (s->nsw) {
        memset(s->crossed, 0, (size_t)mc);
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
    for (long mu = 0; mu < mc; mu++) {
        if (!(s->u1[mc + mu] > 0.0)) {
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
    const long mc = s->mc;
    if (s->model->switches_need_moments && s->model->switches_need_moments(s->cw)) {
        moments(s, s->u1 + mc, s->u1 + 2 * mc, 0);
    }
    regions(s, s->u1, 0);
    long nc = 0;
    for (long mu = 0; mu < s->live; mu++) {
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
    const long mc = s->mc;
    const double *h0 = s->u0, *h1 = s->u1, *f0 = s->f0;
    double S0 = 0.0, dS0 = 0.0, S1 = 0.0;
    for (long mu = 0; mu < mc; mu++) {
        S0 += kh_relu(h0[mu]);
        dS0 += relu_rate(h0[mu], f0[mu]);
        S1 += kh_relu(h1[mu]);
    }
    int fail = 0;
#pragma omp parallel for default(none) shared(s, h0, h1, f0, fail)                                 \
    firstprivate(nc, dt, S0, dS0, S1) if (KH_PAR(nc * 4096)) schedule(dynamic, 4)
    for (long k = 0; k < nc; k++) {
        const long mu = s->list[k];
        kh_unit_step *u = &s->units[k];
        *u = (kh_unit_step){.model = s->model,
                            .ws = s->cw,
                            .mo = &s->mo,
                            .mu = mu,
                            .row = s->row[mu],
                            .bs = s->bs,
                            .nsw = s->nsw,
                            .dt = dt,
                            .atol = s->p->atol,
                            .rtol = s->p->rtol,
                            .inv_n = 1.0 / (double)(s->n > 0 ? s->n : 1)};
        /* S_o through the others' sum at both ends, with its slope at the start. */
        u->c0 = S0 - kh_relu(h0[mu]);
        u->c1 = dS0 - relu_rate(h0[mu], f0[mu]);
        u->c2 = ((S1 - kh_relu(h1[mu])) - u->c0 - u->c1 * dt) / (dt * dt);
        double *x = s->xloc + 4 * k;
        unit_of(s, s->u0, mu, x);
        if (kh_unit_integrate(u, x, &s->eloc[k]) != 0) {
#pragma omp atomic write
            fail = 1;
        }
    }
    merge_flags(s);
    return fail;
}

/* A trial step of dt beyond the tolerance (*err): try it with the crossing
 * units integrated alone (the header comment). 1 when the step is accepted
 * (u1 then holds their states, *err the step's error), else 0 with *err the
 * error that failed. */
static int try_units(rd_state *s, double dt, double *err)
{
    const long mc = s->mc;
    const long nc = s->nsw ? crossing_units(s) : 0;
    if (nc == 0) {
        return 0;
    }
    double sum = s->perr;
    for (long mu = 0; mu < mc; mu++) {
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
        for (long mu = 0; mu < s->live; mu++) {
            const double sc = s->p->atol + s->p->rtol * fmax(fabs(s->u0[mu]), fabs(s->u1[mu]));
            sum += (eh / sc) * (eh / sc);
        }
        sum += eh * eh * s->pw; /* ... and the parked units' h, through zeta */
    }
    *err = sqrt(sum / N);
    if (!(*err <= 1.0)) {
        return 0;
    }
    for (long k = 0; k < nc; k++) {
        const long mu = s->list[k];
        const double *x = s->xloc + 4 * k;
        s->u1[mu] = x[0];
        s->u1[mc + mu] = x[1];
        s->u1[2 * mc + mu] = x[2];
        if (s->bs == 4) {
            s->u1[3 * mc + mu] = x[3];
        }
    }
    return 1;
}

/* ---- parking (the header comment) ---- */

/* The live units' state (u0) into the full arrays, and zeta. */
static void live_to_full(rd_state *s)
{
    const long mc = s->mc;
    for (long k = 0; k < s->live; k++) {
        const long mu = s->row[k];
        s->hf[mu] = s->u0[k];
        s->af[mu] = s->u0[mc + k];
        s->bf[mu] = s->u0[2 * mc + k];
        if (s->nz) {
            s->zf[mu] = s->u0[3 * mc + k];
        }
    }
    if (s->park_ok) {
        s->zeta = s->u0[s->live];
    }
}

/* The stepper's u0 from the full arrays for the live units in row (in
 * index order), then the phantom. f and J are to be evaluated again. */
static void stepper_fill(rd_state *s, long live)
{
    long k;
    s->live = live;
    s->mc = live + s->park_ok;
    s->nu = 3 * s->mc + (s->nz ? s->mc : 0);
    s->cw->m = s->mc;
    const long mc = s->mc;
    for (k = 0; k < s->live; k++) {
        const long mu = s->row[k];
        s->u0[k] = s->hf[mu];
        s->u0[mc + k] = s->af[mu];
        s->u0[2 * mc + k] = s->bf[mu];
        if (s->nz) {
            s->u0[3 * mc + k] = s->zf[mu];
        }
    }
    if (s->park_ok) {
        s->row[s->live] = -1;
        s->u0[s->live] = s->zeta;
        s->u0[mc + s->live] = 1.0;
        s->u0[2 * mc + s->live] = 0.0;
    }
    s->have_f0 = 0;
}

/* The stepper's units: every unit not parked, in index order. */
static void stepper_from_full(rd_state *s)
{
    long k = 0;
    for (long mu = 0; mu < s->m; mu++) {
        if (!s->pk[mu]) {
            s->row[k++] = mu;
        }
    }
    stepper_fill(s, k);
}

/* The stepper's units: the live ones and the nb units in s->back (their
 * full state set), merged in index order. */
static void stepper_add(rd_state *s, long nb)
{
    long *back = s->back;
    for (long i = 1; i < nb; i++) { /* a few: insertion */
        const long mu = back[i];
        long j = i;
        for (; j > 0 && back[j - 1] > mu; j--) {
            back[j] = back[j - 1];
        }
        back[j] = mu;
    }
    long i = s->live - 1, j = nb - 1, k = s->live + nb - 1;
    while (j >= 0) { /* from the end, in place (row has room for every unit) */
        s->row[k--] = i >= 0 && s->row[i] > back[j] ? s->row[i--] : back[j--];
    }
    stepper_fill(s, s->live + nb);
}

/* The full state at t from the stepper's u0 and the parked units. */
static void unpack(rd_state *s, double t)
{
    live_to_full(s);
    const double E = decay(s, t);
    for (long j = 0; j < s->npark; j++) {
        s->hf[s->plist[j]] = parked_h(s, j, E, s->zeta);
    }
}

/* 1 when a unit at h, rising at `slope`, is (or over the next two steps of
 * dt will be) above -margin. */
static int comes_back(const rd_state *s, double h, double slope, double dt)
{
    return h + 2.0 * dt * (slope > 0.0 ? slope : 0.0) > -s->margin;
}

enum { PASS_COME_BACK, PASS_CROSSED };

/* Parked unit j's entries from index k (plist, pI, px). */
static void park_move(rd_state *s, long j, long k)
{
    s->plist[j] = s->plist[k];
    s->pI[j] = s->pI[k];
    s->px[j] = s->px[k];
}

/* Parked units j and k trade places. */
static void park_swap(rd_state *s, long j, long k)
{
    const long mu = s->plist[j];
    const double I = s->pI[j], x_ref = s->px[j];
    park_move(s, j, k);
    s->plist[k] = mu;
    s->pI[k] = I;
    s->px[k] = x_ref;
}

/* No far part: every parked unit is passed over. */
static void far_drop(rd_state *s)
{
    s->nnear = s->npark;
    s->far_pw = 0.0;
}

/* 1 when no far unit can leave the list at time t, c = zeta + 1 (CROSSED:
 * at or above -margin then; COME_BACK: comes_back over steps of dt), and
 * far_pw still bounds their error weights. A parked unit's x moves only
 * towards I, so its h = x + c stays below U + c, U = max(x, I) when the
 * parts were formed; and h + 2 dt (I - x) / tau, for 2 dt <= tau, too (a
 * point between x and I). With c within RD_FAR_MOVE far_lim of far_c, every
 * far h is below -(far_hmin - that), and within RD_FAR_T tau of far_t, x has
 * risen by at most (1 - e^-RD_FAR_T) max(I - x, 0) since: the bound of
 * each one's error weight (far_form). */
static int far_holds(const rd_state *s, double t, double c, double dt, int mode)
{
    if (s->nnear > s->near_cap || (s->far_ttl <= 0 && s->nnear > s->npark / 4)) {
        return 0;
    }
    if (s->nnear == s->npark) {
        return 1; /* none far */
    }
    const double move = fabs(c - s->far_c);
    if (!(move <= RD_FAR_MOVE * s->far_lim && t - s->far_t <= RD_FAR_T * s->p->tau)) {
        return 0;
    }
    const double rise = mode == PASS_CROSSED ? 0.0 : 2.0 * dt * fmax(s->zslope, 0.0);
    return (mode == PASS_CROSSED || 2.0 * dt <= s->p->tau) &&
           s->far_hmin - move - rise > 2.0 * s->margin;
}

/* Four doubles in a vector register, and a comparison's lanes (all bits
 * set where true) as 1.0 or 0.0: the mask and 1.0's bits (a cast between
 * vectors of one size keeps the bits). */
typedef double rd_v4 __attribute__((vector_size(32)));
typedef long rd_v4l __attribute__((vector_size(32)));
#define v4_one(mask) ((rd_v4)((rd_v4l)(mask)&0x3ff0000000000000L))
/* a where the mask is set, else b */
#define v4_pick(mask, a, b)                                                                        \
    ((rd_v4)(((rd_v4l)(mask) & (rd_v4l)(a)) | (~(rd_v4l)(mask) & (rd_v4l)(b))))

/* Forms the parts at t (u0): the units whose max(x, I) + c is more than
 * RD_FAR margins below 0 far, and their summary. Worth it only on a long
 * list. The first loop (four units at a time, as parked_pass) takes each
 * unit's U + c into pout and the far ones' weights and least |U + c|; the
 * second moves the far ones to the end. */
KH_CLONES static void far_form(rd_state *s, double t)
{
    far_drop(s);
    if (s->npark < 64) {
        s->near_cap = 64;
        return;
    }
    const double E = decay(s, t), c = s->u0[s->live] + 1.0, lim = -RD_FAR * s->margin;
    const double atol = s->p->atol + s->p->rtol * RD_FAR_MOVE * lim, rtol = s->p->rtol;
    const double rise = 1.0 - exp(-RD_FAR_T); /* of I - x, at most, while the parts hold */
    const double *restrict pI = s->pI, *restrict px = s->px;
    double *restrict top = s->pout;
    const long np = s->npark;
    rd_v4 pw4 = {0.0, 0.0, 0.0, 0.0}, hmin4 = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL};
    for (long j = 0; j < np; j += 4) {
        const rd_v4l lane = (rd_v4l){j, j + 1, j + 2, j + 3} < np;
        rd_v4 I, x0;
        memcpy(&I, pI + j, sizeof I);
        memcpy(&x0, px + j, sizeof x0);
        const rd_v4 x = RD_X_AT(I, x0, E);
        const rd_v4 u = v4_pick(x > I, x, I) + c; /* U + c */
        const rd_v4l far = (rd_v4l)(u <= lim) & lane;
        memcpy(top + j, &u, sizeof u);
        /* the weight at the least |h| while the parts hold: atol + rtol (|x + rise (I - x)^+ + c|
         * - RD_FAR_MOVE far_lim) */
        const rd_v4 up = I - x, zero = {0.0, 0.0, 0.0, 0.0};
        const rd_v4 sc = atol - rtol * (x + rise * v4_pick(up > 0.0, up, zero) + c);
        pw4 += (rd_v4)((rd_v4l)(1.0 / (sc * sc)) & far);
        const rd_v4 inf = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL}, nu = v4_pick(far, -u, inf);
        hmin4 = v4_pick(nu < hmin4, nu, hmin4);
    }
    long near = np;
    for (long j = np - 1; j >= 0; j--) {
        if (!(top[j] <= lim)) {
            continue;
        }
        near--; /* j into the far part: it trades places with the last near unit */
        park_swap(s, j, near);
    }
    s->nnear = near;
    s->near_cap = 2 * near + 64;
    s->far_ttl = 16;
    s->far_c = c;
    s->far_t = t;
    s->far_hmin = fmin(fmin(hmin4[0], hmin4[1]), fmin(hmin4[2], hmin4[3]));
    s->far_lim = -lim;
    s->far_pw = (pw4[0] + pw4[1]) + (pw4[2] + pw4[3]);
}

/* One pass over the near parked units at t (u0): the sum of the error
 * weights 1 / (atol + rtol |h|)^2 of those that stay, and the far ones'
 * far_pw, into pw, and out of the parked list, with their h at t in hf,
 * those that PASS_COME_BACK: comes_back over the next steps of dt, or
 * PASS_CROSSED: are at or above -margin at the end of the trial step of dt
 * in u1. The number taken out. The x stay as seen from t_ref (park rebases
 * them).
 * Most passes take none out: the first loop writes only a flag per unit,
 * and the units that leave are taken out in a second loop, the near part's
 * last unit moved into each one's place and the list's last into its. */
KH_CLONES static long parked_pass(rd_state *s, double t, double dt, int mode)
{
    const double E = decay(s, t), c = s->u0[s->live] + 1.0; /* h = x + c */
    /* PASS_CROSSED: h at the end, x at E1 plus c1 */
    const int crossed = mode == PASS_CROSSED;
    const double E1 = crossed ? decay(s, t + dt) : 0.0, c1 = s->u1[s->live] + 1.0;
    const double atol = s->p->atol, rtol = s->p->rtol, inv_tau = 1.0 / s->p->tau;
    const double zs = s->zslope, lo = -s->margin, dt2 = 2.0 * dt;
    const double *restrict pI = s->pI;
    double *restrict px = s->px, *restrict out = s->pout;
    const long np = s->nnear;
    /* Four units at a time in vector registers (GCC's vector extension), so
     * that the divisions overlap; the last group reads up to three entries
     * past the list (the arrays have room) and masks them out. */
    rd_v4 pw4 = {0.0, 0.0, 0.0, 0.0}, nout4 = pw4;
    for (long j = 0; j < np; j += 4) {
        const rd_v4l lane = (rd_v4l){j, j + 1, j + 2, j + 3} < np; /* all bits: in the list */
        rd_v4 I, x0;
        memcpy(&I, pI + j, sizeof I);
        memcpy(&x0, px + j, sizeof x0);
        const rd_v4 x = RD_X_AT(I, x0, E), h = x + c, r = (I - x) * inv_tau + zs;
        const rd_v4 up = r * v4_one(r > 0.0);
        const rd_v4 leave = crossed ? 1.0 - v4_one(RD_X_AT(I, x0, E1) + c1 < lo)
                                    : v4_one(h + dt2 * up > lo); /* comes_back */
        const rd_v4 o = (rd_v4)((rd_v4l)leave & lane);
        const rd_v4 sc = atol + rtol * (h * (1.0 - 2.0 * v4_one(h < 0.0))); /* |h| */
        memcpy(out + j, &o, sizeof o);
        pw4 += (rd_v4)((rd_v4l)((1.0 - o) / (sc * sc)) & lane);
        nout4 += o;
    }
    s->pw = (pw4[0] + pw4[1]) + (pw4[2] + pw4[3]) + s->far_pw;
    const long n_out = (long)((nout4[0] + nout4[1]) + (nout4[2] + nout4[3]));
    long keep = np;
    for (long i = np - 1; i >= 0 && np - keep < n_out; i--) {
        if (out[i] == 0.0) {
            continue;
        }
        const long mu = s->plist[i];
        s->pk[mu] = 0;
        s->back[np - keep] = mu;
        s->hf[mu] = parked_h(s, i, E, s->u0[s->live]);
        keep--; /* the last near unit into i's place (it was seen: it stays) */
        park_move(s, i, keep);
        s->npark--; /* and the last far one into its */
        park_move(s, keep, s->npark);
    }
    s->nnear = keep;
    return n_out;
}

/* Brings back, at t (u0), the parked units that parked_pass takes out
 * (mode): the stepper's units again, from the live ones' state in u0 and
 * theirs (the others stay parked as they are). */
static inline void unpark(rd_state *s, double t, double dt, int mode)
{
    if (s->npark == 0) {
        return;
    }
    const int crossed = mode == PASS_CROSSED;
    const int whole =
        !far_holds(s, crossed ? t + dt : t, (crossed ? s->u1 : s->u0)[s->live] + 1.0, dt, mode);
    if (whole) {
        far_drop(s);
    }
    s->far_ttl--;
    const long n_out = parked_pass(s, t, dt, mode);
    if (whole) {
        far_form(s, t);
    }
    if (n_out != 0) {
        live_to_full(s);
        stepper_add(s, n_out);
    }
}

/* Parks the live units more than 2 margins below 0 whose rows are frozen
 * (a = b = 0 and their partials, from the Jacobian at u0), in place: u0,
 * f0, J and the regions at u0 stay those of the units that remain (S does
 * not change: a parked unit's r(h) is 0). */
static void park(rd_state *s, double t)
{
    kh_model_ws *w = s->cw;
    const long mc = s->mc;
    long n_new = 0;
    for (long k = 0; k < s->live; k++) {
        /* (not one that would come back at once: h at its slope f0) */
        s->list[k] = s->u0[k] < -2.0 * s->margin &&
                     !comes_back(s, s->u0[k] + s->margin, s->f0[k], s->h) && w->a[k] == 0.0 &&
                     w->b[k] == 0.0 && w->ah[k] == 0.0 && w->bh[k] == 0.0 && w->aI[k] == 0.0 &&
                     w->bI[k] == 0.0 && w->aB[k] == 0.0 && w->bB[k] == 0.0;
        n_new += s->list[k];
    }
    /* Worth a pass over the state only for a few at once. */
    if (n_new == 0 || n_new < s->live / 64) {
        return;
    }
    /* The new ones' x at t, as seen from t_ref: x_ref = I + (x - I) / E(t).
     * When little of the old x - I is left (E below 2^-20), every parked
     * unit's x is rebased to t first, so that the division stays far from
     * overflow. Their error weights join the sum the step's start took. */
    double E = decay(s, t);
    if (s->npark == 0) {
        s->t_ref = t;
        s->pw = 0.0;
        E = 1.0;
    } else if (E < 0x1p-20) {
        for (long i = 0; i < s->npark; i++) {
            s->px[i] = RD_X_AT(s->pI[i], s->px[i], E);
        }
        s->t_ref = t;
        E = 1.0;
        far_drop(s); /* its summary was of the old x */
    }
    const double zeta = s->u0[s->live], atol = s->p->atol, rtol = s->p->rtol;
    const int bs = s->bs, nseg = s->nz ? 4 : 3;
    const size_t bb = (size_t)(bs * bs);
    long j = 0;
    for (long k = 0; k < mc; k++) {
        if (k < s->live && s->list[k]) {
            const long mu = s->row[k];
            s->pk[mu] = 1;
            park_move(s, s->npark++, s->nnear); /* the first far one to the end */
            const double I = w->I[k], sc = atol + rtol * fabs(s->u0[k]);
            s->plist[s->nnear] = mu;
            s->pI[s->nnear] = I;
            s->px[s->nnear++] = I + (s->u0[k] - zeta - 1.0 - I) / E;
            s->pw += 1.0 / (sc * sc);
            s->af[mu] = s->u0[mc + k]; /* its row, frozen while it is parked */
            s->bf[mu] = s->u0[2 * mc + k];
            continue;
        }
        s->row[j] = s->row[k];
        memmove(s->jac + (size_t)j * bb, s->jac + (size_t)k * bb, bb * sizeof(double));
        s->act[j] = s->act[k];
        if (s->nsw) {
            s->sig0[j] = s->sig0[k];
        }
        for (int g = 0; g < nseg; g++) { /* the segments move down as they shrink */
            s->us[g * mc + j] = s->u0[g * mc + k];
            s->fs[g * mc + j] = s->f0[g * mc + k];
        }
        j++;
    }
    const long mc_new = j;
    for (int g = 0; g < nseg; g++) {
        memcpy(s->u0 + g * mc_new, s->us + g * mc, (size_t)mc_new * sizeof(double));
        memcpy(s->f0 + g * mc_new, s->fs + g * mc, (size_t)mc_new * sizeof(double));
    }
    s->live -= n_new;
    s->mc = mc_new;
    s->nu = 3 * mc_new + (s->nz ? mc_new : 0);
    s->cw->m = mc_new;
}

/* 1 when a parked unit is at or above 0 at the end of the trial step of dt
 * from t (the step is then taken again with it live). */
static int parked_crossed(const rd_state *s, double t, double dt)
{
    if (s->npark == 0) {
        return 0;
    }
    const double E = decay(s, t + dt), zeta = s->u1[s->live];
    const double *restrict pI = s->pI, *restrict px = s->px;
    const long np = far_holds(s, t + dt, zeta + 1.0, dt, PASS_CROSSED) ? s->nnear : s->npark;
    /* the highest x at the end (h without the common zeta + 1), four lanes */
    double top[4] = {-HUGE_VAL, -HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
    long j = 0;
    for (; j + 4 <= np; j += 4) {
        for (int l = 0; l < 4; l++) {
            const double x = RD_X_AT(pI[j + l], px[j + l], E);
            top[l] = x > top[l] ? x : top[l];
        }
    }
    for (; j < np; j++) {
        const double x = RD_X_AT(pI[j], px[j], E);
        top[0] = x > top[0] ? x : top[0];
    }
    const double x = fmax(fmax(top[0], top[1]), fmax(top[2], top[3]));
    return !(x + zeta + 1.0 < 0.0);
}

/* The stepper's f and J at u0, with the units parked and brought back as
 * the state at t asks. */
static int start_step(rd_state *s, double t)
{
    if (s->park_ok) {
        unpark(s, t, s->h, PASS_COME_BACK);
    }
    if (at_start(s) != 0) {
        return 1;
    }
    if (s->park_ok && s->margin == 0.0) {
        double big = 0.0;
        for (long k = 0; k < s->live; k++) {
            big = fmax(big, fabs(s->cw->I[k]));
        }
        s->margin = big > 0.0 ? RD_PARK_MARGIN * big : HUGE_VAL;
    }
    if (s->park_ok && s->margin < HUGE_VAL) {
        park(s, t);
    }
    return 0;
}

/* One accepted step from (*t, u0) towards t1. */
static int rd_step(rd_state *s, double *t, double t1)
{
    if (!s->have_f0 && start_step(s, *t) != 0) {
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
        if (parked_crossed(s, *t, dt)) {
            /* Again, with the units that would have crossed live. */
            s->failed++;
            rejected = 1;
            /* (the pass takes out every unit at or above -margin at the
             * end, over the same units: at least the one seen at 0, so the
             * trial is never repeated as it was) */
            unpark(s, *t, dt, PASS_CROSSED);
            if (at_start(s) != 0) {
                return diverged(*t);
            }
            continue;
        }
        if (s->park_ok) {
            s->zslope = (s->u1[s->live] - s->u0[s->live]) / dt;
        }
        memcpy(s->u0, s->u1, (size_t)s->nu * sizeof(double));
        s->have_f0 = 0;
        s->moved = 1;
        s->parked += s->npark;
        *t = final ? t1 : *t + dt;
        double grow = err > 0.0 ? fmin(6.0, fmax(0.2, 0.9 * pow(err, -1.0 / 3.0))) : 6.0;
        double next = dt * (rejected ? fmin(1.0, grow) : grow);
        if (!(final && next < s->h)) {
            s->h = next;
        }
        return KH_OK;
    }
}

/* The basis of this presentation: W0 = the W in y, alpha = 1, beta = 0,
 * every unit live. */
static void capture(rd_state *s, const double *y)
{
    const long m = s->m;
    kh_moments_capture(&s->mo, y + m, s->ws->v);
    s->cw->v = s->ws->v;
    for (long mu = 0; mu < m; mu++) {
        s->af[mu] = 1.0;
        s->bf[mu] = 0.0;
    }
    s->zeta = -1.0;
    s->zslope = 0.0;
    s->margin = 0.0;
    s->captured = 1;
    s->moved = 0;
    s->repack = 1; /* apply then makes every unit live, the parked list empty */
}

/* At a presentation's start: the capture, so that its record row is
 * observed from the moments (no pass over W). */
static int rd_start(void *vs, double t, double y[])
{
    (void)t;
    rd_state *s = vs;
    if (!s->captured) {
        capture(s, y);
    }
    return KH_OK;
}

static int rd_apply(void *vs, double *t, double t1, double y[])
{
    rd_state *s = vs;
    const long m = s->m, mn = s->m * s->n;
    if (!s->captured) {
        capture(s, y);
    }
    const int repack = s->repack;
    s->repack = 0;
    /* h and z as the run holds them (it may have set h): every unit live. */
    if (repack || memcmp(s->hf, y, (size_t)m * sizeof(double)) != 0 ||
        memcmp(s->zf, y + m + mn, (size_t)s->nz * sizeof(double)) != 0) {
        memcpy(s->hf, y, (size_t)m * sizeof(double));
        memcpy(s->zf, y + m + mn, (size_t)s->nz * sizeof(double));
        memset(s->pk, 0, (size_t)m);
        s->npark = 0;
        s->near_cap = 64;
        far_drop(s);
        s->t_ref = *t;
        stepper_from_full(s);
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
    unpack(s, *t);
    memcpy(y, s->hf, (size_t)m * sizeof(double));
    memcpy(y + m + mn, s->zf, (size_t)s->nz * sizeof(double));
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
    kh_moments_form(&s->mo, y + s->m, s->ws->v, s->af, s->bf);
    s->captured = 0;
}

/* The record's observation from the moments of the full state (apply left
 * it at its end; at a presentation's start, the capture's); -1 while there
 * is no capture (y's W is current: the model observes it). */
static int rd_observe(void *vs, const double y[], kh_obs *o)
{
    rd_state *s = vs;
    if (!s->captured) {
        return -1;
    }
    const long m = s->m;
    kh_model_ws *w = s->ws;
    kh_moments_eval(&s->mo, s->af, s->bf, w->I, w->B, w->vv);
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
    st->parked = s->parked;
}

const kh_solver_type kh_solver_reduced = {
    .names = names,
    .caps = KH_SOLVER_ADAPTIVE | KH_SOLVER_NEEDS_REDUCED,
    .stiff = names,
    .alloc = rd_alloc,
    .apply = rd_apply,
    .reset = rd_reset,
    .start = rd_start,
    .free = rd_free,
    .stats = rd_stats,
    .sync = rd_sync,
    .observe = rd_observe,
    .applies = rd_applies,
};
