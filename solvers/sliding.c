/* quasi_static's sliding mode: see kh_sliding.h for the equations.
 *
 * The state of a presentation:
 * - the active set A: its rows' alpha, beta in y (alpha of the k-th active
 *   unit at y[k], beta at y[na + k]), integrated by Dormand-Prince 5(4)
 *   (kh_dp5.h) with g fixed per unit over a step (-delta below h*, 1 above);
 * - every other unit: its row (alpha, beta in the caller's arrays) at the
 *   current `iref`, and its current I now, `icur` <= iref. When S falls, icur
 *   follows min(icur, w S); the row is moved along its flow line to icur
 *   (`flow`) only when it is needed: to test whether the unit can follow S,
 *   and when apply returns.
 * Error control is dopri5's over A's rows (the RMS over all m n weights, as
 * dopri5 weighs them: rows off A follow their flow lines by RK4 with a
 * substep set by rtol). Each event is found at the end of a step: a unit
 * of A whose h crossed 0 or h*, a sliding unit that S outran. The step is
 * taken back and shortened to the estimated crossing (for h, the root of
 * the cubic through h and dh/dt at the step's ends; for a join, linear in
 * the step) until the crossing is within tolerance of the step's end; the
 * unit then changes side there. Before each step the next events are
 * predicted from the state at its start (Newton's step on h, T's slope over
 * the last step, the fall of S), and the step aims a little past the
 * earliest: most events are then met at a step's end without a retry.
 * Tolerances: a crossing of h is close enough when |h - level| <= rtol |I| +
 * atol at the step's end; a late join when the current it cost,
 * delta |phi| dt_late / (2 tau_L) (phi = c - w tau_L |dS/dt| / delta),
 * is as small.
 * S is taken as monotone within a step (its minimum at an end): with every
 * unit of A below h* it falls throughout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "solvers/kh_dp5.h"
#include "solvers/kh_sliding.h"
#include "solvers/kh_steady.h"

struct kh_sliding {
    long m, n;
    const kh_params *p;
    kh_moments *mo;
    kh_model_ws *ws;
    double w, Rp, tauL, delta, hstar, pm1;
    /* the active set */
    long na;
    long *act;             /* [m] its units */
    unsigned char *on;     /* [m] 1 on A */
    double *y, *y0;        /* [2m] alpha | beta of A (dopri5's state, 2 na long) */
    double *ga;            /* [m] g of each active slot over the step */
    double *Ia, *Ba, *vva; /* [m] the moments of A at the last evaluation */
    double *ha, *dha;      /* [m] h of A and dh/dt at the step's start */
    double *h1, *dh1;      /* [m] h of A and dh/dt at the step's end */
    double S_eval;         /* S at the last evaluation */
    double S, T;           /* S and w tau_L max(0, -dS/dt) / delta at the step's start */
    double T1;             /* T at the trial step's end */
    double Tdot;           /* dT/dt over the last step (NAN after an event) */
    double flow_step;      /* flow's substep, as a fraction of the row's size */
    double *al, *be;       /* [m] every row (the caller's alpha, beta): current off A */
    /* the other units */
    double *iref, *icur, *cref; /* [m] the row's current, the unit's now, c at the row */
    double *dcdi;               /* [m] dc/dI along the row's flow, from its last move */
    double *inext;              /* [m] icur at the trial step's end */
    double *ta, *tb, *ti, *tc;  /* [m] rows flowed during the trial step */
    double *tslope;             /* [m] and their dc/dI */
    unsigned char *flowed;      /* [m] ta.. hold a row for this trial */
    unsigned char *mark;        /* [m] what changes at the step's end */
    /* The units off A by icur, largest first: a unit with icur above w S
     * slides (and icur follows w min S), one below it is inert until S
     * falls to it. So the units a step can touch are a prefix of this list,
     * and the passes over the units off A stop at the first inert one. */
    long *off, noff;
    long touched;        /* the prefix that the last trial step's events looked at */
    struct kh_off *pair; /* [m] scratch for the sort */
    long *joiners;       /* [m] scratch for regroup */
    /* scratch for the start */
    double *hs;
    long *order;
    kh_dp5 dp;
    long events, slides;
};

enum { MARK_NONE, MARK_LEAVE, MARK_UP, MARK_DOWN, MARK_JOIN };

struct kh_off {
    double icur;
    long mu;
};

static void refresh(kh_sliding *sl);

int kh_sliding_applies(const kh_params *p, const kh_model_type *model)
{
    return p->sliding && (model->caps & KH_MODEL_G_TIMES_FLOW) && p->g == KH_G_BCM_STEP &&
           p->drive == KH_DRIVE_H && p->delta > 0.0 && p->h_star > 0.0 && p->w_inh >= 0.0 &&
           p->w_inh < 1.0;
}

void kh_sliding_free(kh_sliding *sl)
{
    if (!sl) {
        return;
    }
    kh_dp5_release(&sl->dp);
    double *d[] = {sl->y,  sl->y0,   sl->ga,   sl->Ia,   sl->Ba,     sl->vva, sl->ha,
                   sl->h1, sl->iref, sl->icur, sl->cref, sl->inext,  sl->ta,  sl->tb,
                   sl->ti, sl->tc,   sl->hs,   sl->dcdi, sl->tslope, sl->dha, sl->dh1};
    for (size_t j = 0; j < sizeof d / sizeof d[0]; j++) {
        free(d[j]);
    }
    free(sl->act);
    free(sl->off);
    free(sl->pair);
    free(sl->joiners);
    free(sl->order);
    free(sl->on);
    free(sl->flowed);
    free(sl->mark);
    free(sl);
}

kh_sliding *kh_sliding_alloc(kh_moments *mo, kh_model_ws *ws, const kh_params *p)
{
    kh_sliding *sl = calloc(1, sizeof *sl);
    if (!sl) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the sliding mode");
        return NULL;
    }
    const long m = p->n_hidden;
    const size_t m1 = (size_t)(m > 0 ? m : 1);
    sl->m = m;
    sl->n = mo->n;
    sl->p = p;
    sl->mo = mo;
    sl->ws = ws;
    sl->w = p->w_inh;
    sl->Rp = pow(p->R, p->p);
    sl->tauL = p->tau_L;
    sl->delta = p->delta;
    sl->hstar = p->h_star;
    sl->pm1 = p->p - 1.0;
    /* RK4's error in a substep that moves the row by x of its size is about
     * x^5: half of rtol^(1/5) keeps the rows' error within the tolerance
     * (a fixed 0.1 left W 5e-7 off whatever rtol, on bench/exact_mnist.ini
     * under quasi_static). */
    sl->flow_step = fmin(0.1, 0.5 * pow(p->rtol, 0.2));
    double **d[] = {&sl->ga,   &sl->Ia,   &sl->Ba,     &sl->vva, &sl->ha, &sl->h1, &sl->iref,
                    &sl->icur, &sl->cref, &sl->inext,  &sl->ta,  &sl->tb, &sl->ti, &sl->tc,
                    &sl->hs,   &sl->dcdi, &sl->tslope, &sl->dha, &sl->dh1};
    int ok =
        (sl->y = malloc(2 * m1 * sizeof(double))) && (sl->y0 = malloc(2 * m1 * sizeof(double)));
    for (size_t j = 0; j < sizeof d / sizeof d[0] && ok; j++) {
        ok = (*d[j] = calloc(m1, sizeof(double))) != NULL;
    }
    ok = ok && (sl->act = malloc(m1 * sizeof(long))) && (sl->order = malloc(m1 * sizeof(long))) &&
         (sl->off = malloc(m1 * sizeof(long))) && (sl->pair = malloc(m1 * sizeof *sl->pair)) &&
         (sl->joiners = malloc(m1 * sizeof(long))) && (sl->on = calloc(m1, 1)) &&
         (sl->flowed = calloc(m1, 1)) && (sl->mark = calloc(m1, 1));
    if (!ok) {
        kh_sliding_free(sl);
        KH_ERROR(KH_ENOMEM, "cannot allocate the sliding mode for %ld units", m);
        return NULL;
    }
    if (kh_dp5_init(&sl->dp, 2 * m, p->first_step) != KH_OK) {
        kh_sliding_free(sl);
        return NULL;
    }
    return sl;
}

/* c = (p - 1)(R^p vv - I^2): tau_L dI/dt = g c along the row's flow. */
static double rate(const kh_sliding *sl, double I, double vv)
{
    return sl->pm1 * (sl->Rp * vv - I * I);
}

/* dopri5's right-hand side over A: tau_L dalpha/dt = -g I alpha,
 * tau_L dbeta/dt = g (R^p - I beta); S at y into S_eval. */
static int rhs(void *ctx, const double *y, double *dy)
{
    kh_sliding *sl = ctx;
    const long na = sl->na;
    const double *al = y, *be = y + na;
    for (long k = 0; k < na; k++) {
        if (!(al[k] > 0.0) || !isfinite(be[k])) {
            return 1;
        }
    }
    kh_moments_eval_rows(sl->mo, sl->act, na, al, be, sl->Ia, sl->Ba, sl->vva);
    double sum = 0.0;
    const double inv = 1.0 / sl->tauL;
    for (long k = 0; k < na; k++) {
        sum += sl->Ia[k];
        const double g = sl->ga[k];
        dy[k] = -g * sl->Ia[k] * al[k] * inv;
        dy[na + k] = g * (sl->Rp - sl->Ia[k] * be[k]) * inv;
    }
    sl->S_eval = na > 0 ? sum / (1.0 - sl->w + sl->w * (double)na) : 0.0;
    return 0;
}

/* The RMS error over A's rows, as quasi_static's basis_norm weighs it. */
static double norm(void *ctx, const double *u0, const double *u1, const double *e)
{
    const kh_sliding *sl = ctx;
    const long na = sl->na;
    double sum = 0.0;
    for (long k = 0; k < na; k++) {
        sum += kh_moments_row_err(sl->mo, sl->act[k], u0[k], u0[na + k], u1[k], u1[na + k], e[k],
                                  e[na + k], sl->p->atol, sl->p->rtol);
    }
    return sqrt(sum / (double)(sl->m * (sl->n > 0 ? sl->n : 1)));
}

/* From the last evaluation (at A's current y): h of A into h, dh/dt into
 * dh, and T. */
static void derive(kh_sliding *sl, double *h, double *dh, double *T)
{
    const double S = sl->S_eval, w = sl->w, inv = 1.0 / sl->tauL;
    const long na = sl->na;
    double dS = 0.0;
    for (long k = 0; k < na; k++) {
        h[k] = (sl->Ia[k] - w * S) / (1.0 - w);
        dh[k] = sl->ga[k] * rate(sl, sl->Ia[k], sl->vva[k]) * inv; /* dI/dt */
        dS += dh[k];
    }
    dS /= 1.0 - w + w * (double)na;
    for (long k = 0; k < na; k++) {
        dh[k] = (dh[k] - w * dS) / (1.0 - w);
    }
    *T = w * sl->tauL * (dS < 0.0 ? -dS : 0.0) / sl->delta;
}

/* Where h crosses level in a step whose ends hold h0, h1 (on either side of
 * level) with slopes d0, d1 per unit of the step's length: the root in
 * (0, 1) of the cubic Hermite interpolant, by Newton's method kept inside
 * the bracket (bisection when it leaves it). Its error is O(dt^4), the
 * secant's O(dt^2): the secant's estimate, short of or past a crossing
 * that bends, cost a retried step. Its slope there (per unit of length)
 * into *slope. */
static double hermite_root(double h0, double h1, double d0, double d1, double level, double *slope)
{
    /* p(x) = a + x (b + x (c + x e)) - level */
    const double a = h0 - level, b = d0, c = 3.0 * (h1 - h0) - 2.0 * d0 - d1,
                 e = 2.0 * (h0 - h1) + d0 + d1;
    double lo = 0.0, hi = 1.0;
    const int up = h1 > h0; /* p(0) < 0 < p(1) when rising */
    double x = (level - h0) / (h1 - h0);
    for (int it = 0; it < 30; it++) {
        const double px = a + x * (b + x * (c + x * e));
        const double dp = b + x * (2.0 * c + 3.0 * x * e);
        if ((px < 0.0) == up) {
            lo = x;
        } else {
            hi = x;
        }
        double nx = dp != 0.0 ? x - px / dp : 0.5 * (lo + hi);
        if (!(nx > lo && nx < hi)) {
            nx = 0.5 * (lo + hi);
        }
        if (fabs(nx - x) <= 1e-12 || hi - lo <= 1e-12) {
            x = nx;
            break;
        }
        x = nx;
    }
    *slope = fabs(b + x * (2.0 * c + 3.0 * x * e));
    return x;
}

/* Where, as a fraction of the step, unit k of A crossed level in the trial
 * step of dt (h0 at its start, h1 at its end), and |dh/dt| there. */
static double crossing(const kh_sliding *sl, long k, double level, double dt, double *slope)
{
    const double h0 = sl->ha[k], h1 = sl->h1[k];
    if (!((h0 - level) * (h1 - level) < 0.0)) { /* an end on the level: the secant */
        *slope = fabs(h1 - h0) / dt;
        return (level - h0) / (h1 - h0);
    }
    double s;
    const double x = hermite_root(h0, h1, sl->dha[k] * dt, sl->dh1[k] * dt, level, &s);
    *slope = s / dt;
    return x;
}

/* c of unit mu (off A) at current I, to first order from its row's last
 * move (cref at iref, slope dcdi). */
static double c_near(const kh_sliding *sl, long mu, double I)
{
    return sl->cref[mu] + sl->dcdi[mu] * (I - sl->iref[mu]);
}

/* g of an active unit on the side of h* it is on (above: 1, below: -delta). */
static double g_side(const kh_sliding *sl, int above)
{
    const kh_params *p = sl->p;
    return kh_g(p->g, above ? p->h_star : 0.0, p->delta, p->h_star, p->g_n);
}

/* d(alpha, beta)/dI along the row's flow under g < 0, and I, c there. 1 when
 * c <= 0 (the current cannot fall along the flow). */
static int flow_dir(kh_sliding *sl, long mu, double al, double be, double *da, double *db,
                    double *I, double *c)
{
    double B, vv;
    kh_moments_eval_row(sl->mo, mu, al, be, I, &B, &vv);
    *c = rate(sl, *I, vv);
    if (!(*c > 0.0)) {
        *da = *db = 0.0;
        return 1;
    }
    *da = -*I * al / *c;
    *db = (sl->Rp - *I * be) / *c;
    return 0;
}

/* Row mu from (al, be), whose current is i0, along its flow to current i1 <= i0:
 * classical RK4 in I with substeps that move the row by flow_step of its
 * size at most, then Newton on I. Out: the row, its current and c. Where c reaches 0
 * the row stops (its current cannot fall further). */
static void flow(kh_sliding *sl, long mu, double al, double be, double i0, double i1, double *ao,
                 double *bo, double *io, double *co, double *slope)
{
    double da, db, I, c;
    int stuck = flow_dir(sl, mu, al, be, &da, &db, &I, &c);
    const double Ist = I, cst = c;
    const double dI = i1 - i0;
    if (!stuck && dI < 0.0) {
        const double size = kh_moments_row_sq(sl->mo, mu, al, be);
        const double move = kh_moments_row_sq(sl->mo, mu, da, db);
        const double rel = -dI * sqrt(move / (size > 0.0 ? size : 1.0));
        const long nsub = 1 + (long)(rel / sl->flow_step);
        const double hI = dI / (double)nsub;
        for (long j = 0; j < nsub && !stuck; j++) {
            double a2, b2, a3, b3, a4, b4, Ij, cj;
            if (j > 0) {
                stuck = flow_dir(sl, mu, al, be, &da, &db, &I, &c);
            }
            stuck = stuck ||
                    flow_dir(sl, mu, al + 0.5 * hI * da, be + 0.5 * hI * db, &a2, &b2, &Ij, &cj);
            stuck = stuck ||
                    flow_dir(sl, mu, al + 0.5 * hI * a2, be + 0.5 * hI * b2, &a3, &b3, &Ij, &cj);
            stuck = stuck || flow_dir(sl, mu, al + hI * a3, be + hI * b3, &a4, &b4, &Ij, &cj);
            if (!stuck) {
                al += hI / 6.0 * (da + 2.0 * a2 + 2.0 * a3 + a4);
                be += hI / 6.0 * (db + 2.0 * b2 + 2.0 * b3 + b4);
            }
        }
        for (int it = 0; it < 2 && !stuck; it++) {
            stuck = flow_dir(sl, mu, al, be, &da, &db, &I, &c);
            if (!stuck) {
                al += (i1 - I) * da;
                be += (i1 - I) * db;
            }
        }
        flow_dir(sl, mu, al, be, &da, &db, &I, &c);
    }
    *ao = al;
    *bo = be;
    *io = I;
    *co = c;
    if (I != Ist) {
        *slope = (c - cst) / (I - Ist);
    }
}

/* icur descending, then the index: one order on every run. */
static int by_icur(const void *a, const void *b)
{
    const struct kh_off *x = a, *y = b;
    if (x->icur != y->icur) {
        return x->icur > y->icur ? -1 : 1;
    }
    return (x->mu > y->mu) - (x->mu < y->mu);
}

/* The list of the units off A, by icur. */
static void sort_off(kh_sliding *sl)
{
    long n = 0;
    for (long mu = 0; mu < sl->m; mu++) {
        if (!sl->on[mu]) {
            sl->pair[n].icur = sl->icur[mu];
            sl->pair[n++].mu = mu;
        }
    }
    qsort(sl->pair, (size_t)n, sizeof *sl->pair, by_icur);
    for (long k = 0; k < n; k++) {
        sl->off[k] = sl->pair[k].mu;
    }
    sl->noff = n;
    sl->touched = 0;
}

/* A from the steady state of the rows at alpha, beta. */
void kh_sliding_start(kh_sliding *sl, double *alpha, double *beta)
{
    sl->al = alpha;
    sl->be = beta;
    kh_model_ws *w = sl->ws;
    const long m = sl->m;
    kh_moments_eval(sl->mo, alpha, beta, w->I, w->B, w->vv);
    long na;
    kh_steady_closed_form(w->I, m, sl->w, sl->hs, sl->order, &na);
    sl->na = 0;
    for (long mu = 0; mu < m; mu++) {
        sl->on[mu] = sl->hs[mu] > 0.0;
        sl->flowed[mu] = 0;
        sl->mark[mu] = MARK_NONE;
        if (sl->on[mu]) {
            sl->act[sl->na++] = mu;
        } else {
            sl->iref[mu] = sl->icur[mu] = w->I[mu];
            sl->cref[mu] = rate(sl, w->I[mu], w->vv[mu]);
            sl->dcdi[mu] = 0.0;
        }
    }
    sort_off(sl);
    const long n2 = sl->na;
    for (long k = 0; k < n2; k++) {
        const long mu = sl->act[k];
        sl->y[k] = alpha[mu];
        sl->y[n2 + k] = beta[mu];
        sl->ga[k] = g_side(sl, sl->hs[mu] >= sl->hstar);
    }
    sl->dp.n = 2 * n2;
    kh_dp5_reset(&sl->dp, sl->p->first_step);
    refresh(sl);
}

/* The flags of the units whose g I < 0 over the step (the record's audit). */
static void flag_gI(kh_sliding *sl)
{
    double *f = sl->ws->gI_neg;
    for (long k = 0; k < sl->na; k++) {
        if (sl->ga[k] * sl->Ia[k] < 0.0) {
            f[sl->act[k]] = 1.0;
        }
    }
}

/* Unit mu's row moved along its flow line from its reference current to
 * current `in`, into the trial arrays (ta, tb, ti, tc, tslope); flowed. */
static void trial_flow(kh_sliding *sl, long mu, double in)
{
    sl->tslope[mu] = sl->dcdi[mu];
    flow(sl, mu, sl->al[mu], sl->be[mu], sl->iref[mu], in, &sl->ta[mu], &sl->tb[mu], &sl->ti[mu],
         &sl->tc[mu], &sl->tslope[mu]);
    sl->flowed[mu] = 1;
}

/* The marks the last pass over the list off A may have left (JOIN, on the
 * units it looked at). */
static void clear_touched(kh_sliding *sl)
{
    for (long q = 0; q < sl->touched; q++) {
        sl->mark[sl->off[q]] = MARK_NONE;
    }
}

/* The trial step's end: the events, the time to retry at (*retry > 0), or
 * the marks to apply. S0, T0 at the step's start, dt its length, t its end.
 * A crossing is also close enough when it lies within a few units of t's
 * last place of the end (tres): t cannot aim closer (at t = 25, 3.6e-15,
 * against an h tolerance of 1e-14 at atol 1e-14: a unit falling at slope 4
 * stayed 7e-16 beyond it whatever the step aimed at). */
static void events(kh_sliding *sl, double S0, double T0, double dt, double t, double *retry)
{
    const double w = sl->w, rtol = sl->p->rtol, atol = sl->p->atol;
    const double tres = 4.0 * (nextafter(t, HUGE_VAL) - t);
    const double S1 = sl->S_eval;
    derive(sl, sl->h1, sl->dh1, &sl->T1);
    const double T1 = sl->T1;
    double theta = 2.0, margin = 0.0; /* the earliest overshoot, and how far past it to aim */
    for (long k = 0; k < sl->na; k++) {
        const double h0 = sl->ha[k], h1 = sl->h1[k];
        const double tol = fmax(rtol * fabs(sl->Ia[k]) + atol, fabs(sl->dh1[k]) * tres);
        const long mu = sl->act[k];
        sl->mark[mu] = MARK_NONE;
        const int above = sl->ga[k] > 0.0;
        double th = 2.0, slope = 0.0;
        if (!above && h1 < 0.0) { /* down through 0 */
            if (h1 < -tol) {
                th = crossing(sl, k, 0.0, dt, &slope);
            } else {
                sl->mark[mu] = MARK_LEAVE;
            }
        } else if (!above && h1 >= sl->hstar) {
            if (h1 - sl->hstar > tol) {
                th = crossing(sl, k, sl->hstar, dt, &slope);
            } else {
                sl->mark[mu] = MARK_UP;
            }
        } else if (above && h1 < sl->hstar) {
            if (sl->hstar - h1 > tol) {
                th = crossing(sl, k, sl->hstar, dt, &slope);
            } else {
                sl->mark[mu] = MARK_DOWN;
            }
        } else if (!above && h1 <= tol && h1 < h0) {
            sl->mark[mu] = MARK_LEAVE; /* within tolerance of 0 and falling */
        } else if (!above && sl->hstar - h1 <= tol && h1 > h0) {
            sl->mark[mu] = MARK_UP;
        } else if (above && h1 - sl->hstar <= tol && h1 < h0) {
            sl->mark[mu] = MARK_DOWN;
        }
        if (th < theta) {
            theta = th;
            margin = slope > 0.0 ? 0.5 * tol / slope : 0.0;
        }
    }
    const double Smin = S1 < S0 ? S1 : S0;
    const double dT = T1 - T0;
    clear_touched(sl);
    long q = 0;
    for (; q < sl->noff; q++) {
        const long mu = sl->off[q];
        sl->mark[mu] = MARK_NONE;
        sl->flowed[mu] = 0;
        const double ic = sl->icur[mu];
        const double in = ic < w * Smin ? ic : w * Smin;
        sl->inext[mu] = in;
        const int below = in < w * S1 - (rtol * fabs(in) + atol);
        if (below && !(ic > w * Smin)) {
            break; /* inert, and so is every unit after it (icur is smaller) */
        }
        if (!(T1 > 0.0) || below) {
            continue; /* not sliding at the end, or nothing to follow */
        }
        /* sliding: can it follow S? c at the row now, flowed when near or stale */
        const double ir = sl->iref[mu];
        const double lin = sl->dcdi[mu] * (in - ir); /* c's change, to first order */
        const double unsure = fabs(lin) + 1e-3 * T1; /* how far c may be from that */
        double c = sl->cref[mu] + lin;
        /* no slope yet (the row has not moved since it left A): c is known
         * only where the row is */
        if (fabs(c - T1) <= unsure || (sl->dcdi[mu] == 0.0 && in < ir)) {
            trial_flow(sl, mu, in);
            c = sl->tc[mu];
        }
        const double phi1 = c - T1;
        if (phi1 >= 0.0) {
            continue;
        }
        /* S outran it: when? From when it began to slide in the step, or
         * when T passed c (c taken as constant over the step). */
        double th_in = S0 > S1 ? (S0 - ic / w) / (S0 - S1) : 0.0;
        th_in = th_in < 0.0 ? 0.0 : (th_in > 1.0 ? 1.0 : th_in);
        double th_T = dT > 0.0 ? (c - T0) / dT : 0.0;
        double th = th_T > th_in ? th_T : th_in;
        th = th > 1.0 ? 1.0 : th;
        const double late = (1.0 - th) * dt;
        const double cost = sl->delta * -phi1 * late / (2.0 * sl->tauL);
        if (cost <= rtol * fabs(in) + atol || late <= tres) {
            if (!sl->flowed[mu]) { /* the row it joins with */
                trial_flow(sl, mu, in);
            }
            sl->mark[mu] = MARK_JOIN;
            continue;
        }
        if (th < theta) {
            theta = th;
            const double phidot = dT > 0.0 ? dT / dt : -phi1 / late;
            margin = sqrt((rtol * fabs(in) + atol) * sl->tauL / (sl->delta * phidot));
        }
    }
    sl->touched = q;
    /* aim a little past the crossing, at most halfway to the step's end */
    const double rest = 0.5 * (1.0 - theta) * dt;
    *retry = theta < 1.0 ? theta * dt + (margin < rest ? margin : rest) : 0.0;
}

/* A anew from the marks: the units that stay, in their order, then those
 * that join, by index (their rows in al, be); the list off A likewise (the
 * joiners out, the leavers in at their icur). The marks it acts on are
 * cleared. */
static void regroup(kh_sliding *sl)
{
    const long m = sl->m, na = sl->na;
    double *ny = sl->y0, *ng = sl->hs;
    long *nact = sl->order, nn = 0, nl = 0, nj = 0;
    struct kh_off *left = sl->pair;
    for (long k = 0; k < na; k++) {
        const long mu = sl->act[k];
        if (sl->mark[mu] == MARK_LEAVE) {
            sl->mark[mu] = MARK_NONE;
            sl->on[mu] = 0;
            sl->events++;
            left[nl].icur = sl->icur[mu];
            left[nl++].mu = mu;
            continue;
        }
        nact[nn] = mu;
        ng[nn] = sl->ga[k];
        ny[nn] = sl->y[k];
        ny[m + nn] = sl->y[na + k];
        nn++;
    }
    /* the joiners (marked only in the prefix the last events looked at), by index */
    long *join = sl->joiners;
    for (long q = 0; q < sl->touched; q++) {
        const long mu = sl->off[q];
        if (sl->mark[mu] == MARK_JOIN) {
            long i = nj++;
            for (; i > 0 && join[i - 1] > mu; i--) {
                join[i] = join[i - 1];
            }
            join[i] = mu;
        }
    }
    for (long j = 0; j < nj; j++) {
        const long mu = join[j];
        sl->mark[mu] = MARK_NONE;
        sl->on[mu] = 1;
        sl->events++;
        nact[nn] = mu;
        ng[nn] = g_side(sl, 0);
        ny[nn] = sl->al[mu];
        ny[m + nn] = sl->be[mu];
        nn++;
    }
    for (long k = 0; k < nn; k++) {
        sl->act[k] = nact[k];
        sl->ga[k] = ng[k];
        sl->y[k] = ny[k];
        sl->y[nn + k] = ny[m + k];
    }
    sl->na = nn;
    sl->dp.n = 2 * nn;
    /* off: the joiners out, then the leavers merged in from the back */
    long no = 0;
    for (long q = 0; q < sl->noff; q++) {
        if (!sl->on[sl->off[q]]) {
            sl->off[no++] = sl->off[q];
        }
    }
    qsort(left, (size_t)nl, sizeof *left, by_icur);
    long i = no - 1, j = nl - 1;
    for (long k = no + nl - 1; j >= 0; k--) {
        struct kh_off o = {0.0, 0};
        if (i >= 0) {
            o.icur = sl->icur[sl->off[i]];
            o.mu = sl->off[i];
        }
        if (i >= 0 && by_icur(&o, &left[j]) > 0) {
            sl->off[k] = sl->off[i--]; /* after the leaver in the order */
        } else {
            sl->off[k] = left[j--].mu;
        }
    }
    sl->noff = no + nl;
    sl->touched = 0;
}

/* f at A's state into dopri5's k[0] (its first stage), and S, h, T there. */
static void refresh(kh_sliding *sl)
{
    rhs(sl, sl->y, sl->dp.k[0]);
    sl->dp.rhs_evals++;
    sl->dp.fsal = 1;
    derive(sl, sl->ha, sl->dha, &sl->T);
    sl->S = sl->S_eval;
    sl->Tdot = (double)NAN; /* A or g changed: T's slope is unknown */
}

/* The accepted step's end: the off units' currents and rows, the marks.
 * S0 at the step's start, dt its length. */
static void commit(kh_sliding *sl, double S0, double dt)
{
    const double w = sl->w, rtol = sl->p->rtol, atol = sl->p->atol;
    double *f = sl->ws->gI_neg;
    flag_gI(sl);
    int changed = 0, members = 0;
    for (long q = 0; q < sl->touched; q++) { /* the others are inert */
        const long mu = sl->off[q];
        const double ic = sl->icur[mu], in = sl->inext[mu];
        if (in < ic) {
            if (ic > 0.0) {
                f[mu] = 1.0; /* g < 0 at I > 0 */
            }
            if (ic < w * S0 - (rtol * fabs(ic) + atol)) {
                sl->slides++; /* it began to slide in this step */
            }
            sl->icur[mu] = in;
        }
        const double lin = sl->dcdi[mu] * (sl->icur[mu] - sl->iref[mu]);
        if (!sl->flowed[mu] && (fabs(lin) > 0.02 * fabs(sl->cref[mu]) ||
                                (sl->dcdi[mu] == 0.0 &&
                                 sl->iref[mu] - sl->icur[mu] > 0.02 * fabs(sl->iref[mu]) + atol))) {
            /* c's linear estimate has come far: the row to its current now */
            flow(sl, mu, sl->al[mu], sl->be[mu], sl->iref[mu], sl->icur[mu], &sl->al[mu],
                 &sl->be[mu], &sl->iref[mu], &sl->cref[mu], &sl->dcdi[mu]);
        }
        if (sl->flowed[mu]) {
            sl->al[mu] = sl->ta[mu];
            sl->be[mu] = sl->tb[mu];
            sl->iref[mu] = sl->ti[mu];
            sl->cref[mu] = sl->tc[mu];
            sl->dcdi[mu] = sl->tslope[mu];
            sl->flowed[mu] = 0;
        }
        if (sl->mark[mu] == MARK_JOIN) {
            members = 1;
        }
    }
    const long na = sl->na;
    for (long k = 0; k < na; k++) {
        const long mu = sl->act[k];
        switch (sl->mark[mu]) {
        case MARK_LEAVE:
            sl->al[mu] = sl->y[k];
            sl->be[mu] = sl->y[na + k];
            sl->iref[mu] = sl->icur[mu] = sl->Ia[k];
            sl->cref[mu] = rate(sl, sl->Ia[k], sl->vva[k]);
            sl->dcdi[mu] = 0.0;
            members = 1;
            break;
        case MARK_UP:
        case MARK_DOWN:
            sl->ga[k] = g_side(sl, sl->mark[mu] == MARK_UP);
            sl->events++;
            changed = 1;
            break;
        default:
            break;
        }
    }
    if (members) {
        regroup(sl);
        changed = 1;
    }
    for (long k = 0; k < sl->na; k++) { /* the rest: g's sides */
        sl->mark[sl->act[k]] = MARK_NONE;
    }
    if (changed) {
        refresh(sl); /* g jumped: f at the state anew, and S, h, T there */
    } else {
        memcpy(sl->ha, sl->h1, (size_t)sl->na * sizeof(double));
        memcpy(sl->dha, sl->dh1, (size_t)sl->na * sizeof(double));
        sl->Tdot = (sl->T1 - sl->T) / dt;
        sl->T = sl->T1;
        sl->S = sl->S_eval;
    }
}

/* The sliding units that S outruns at the current state join A there (the
 * events that come with another: a unit that leaves A changes dS/dt).
 * 1 when any did. */
static int join_now(kh_sliding *sl)
{
    const double w = sl->w, rtol = sl->p->rtol, atol = sl->p->atol;
    int any = 0;
    clear_touched(sl);
    long q = 0;
    for (; q < sl->noff && sl->T > 0.0; q++) {
        const long mu = sl->off[q];
        const double ic = sl->icur[mu];
        if (ic < w * sl->S - (rtol * fabs(ic) + atol)) {
            break; /* below w S, and so is every unit after it */
        }
        const double lin = sl->dcdi[mu] * (ic - sl->iref[mu]);
        if (ic < sl->iref[mu] && sl->cref[mu] + lin - sl->T < 0.05 * sl->T + 2.0 * fabs(lin)) {
            flow(sl, mu, sl->al[mu], sl->be[mu], sl->iref[mu], ic, &sl->al[mu], &sl->be[mu],
                 &sl->iref[mu], &sl->cref[mu], &sl->dcdi[mu]);
        }
        if (sl->cref[mu] < sl->T) {
            sl->mark[mu] = MARK_JOIN;
            any = 1;
        }
    }
    sl->touched = q;
    if (any) {
        regroup(sl);
        refresh(sl);
    }
    return any;
}

/* Every row at the current time into al, be. */
static void finish(kh_sliding *sl)
{
    const long na = sl->na;
    for (long k = 0; k < na; k++) {
        sl->al[sl->act[k]] = sl->y[k];
        sl->be[sl->act[k]] = sl->y[na + k];
    }
    for (long mu = 0; mu < sl->m; mu++) {
        if (!sl->on[mu] && sl->icur[mu] < sl->iref[mu]) {
            flow(sl, mu, sl->al[mu], sl->be[mu], sl->iref[mu], sl->icur[mu], &sl->al[mu],
                 &sl->be[mu], &sl->iref[mu], &sl->cref[mu], &sl->dcdi[mu]);
        }
    }
}

/* The end to aim the next step at: t1, or a little past the earliest level
 * crossing of a unit of A that Newton's step from the state now (h, dh/dt)
 * puts within the step dopri5 would take. A step that ends short of a
 * crossing is kept; one that ends far past it is taken back (events), so
 * landing just past costs nothing and overshooting a step. */
static double predicted_end(const kh_sliding *sl, double t, double t1)
{
    const double rtol = sl->p->rtol, atol = sl->p->atol;
    double best = fmin(t1 - t, sl->dp.h);
    double aim = t1;
    for (long k = 0; k < sl->na; k++) {
        const double h = sl->ha[k], dh = sl->dha[k];
        double level;
        if (sl->ga[k] > 0.0) {
            level = dh < 0.0 ? sl->hstar : (double)NAN;
        } else {
            level = dh < 0.0 ? 0.0 : dh > 0.0 ? sl->hstar : (double)NAN;
        }
        const double d = (level - h) / dh;
        if (d > 0.0) {
            const double to = d + 0.5 * (rtol * fabs(sl->Ia[k]) + atol) / fabs(dh);
            if (to < best) {
                best = to;
                aim = t + to;
            }
        }
    }
    /* A sliding unit that S will outrun: T rising to its c, at T's slope
     * over the last step; the prefix of the list off A that slides now. */
    const double Tdot = sl->Tdot, w = sl->w;
    long q = 0;
    for (; q < sl->noff; q++) {
        const long mu = sl->off[q];
        const double ic = sl->icur[mu];
        const double tol = rtol * fabs(ic) + atol;
        if (ic < w * sl->S - tol) {
            break; /* not sliding, nor is any after it */
        }
        if (!(Tdot > 0.0)) {
            continue;
        }
        const double d = (c_near(sl, mu, ic) - sl->T) / Tdot;
        if (d > 0.0) {
            const double to = d + sqrt(tol * sl->tauL / (sl->delta * Tdot));
            if (to < best) {
                best = to;
                aim = t + to;
            }
        }
    }
    /* A unit that S falls to and that cannot follow it there (its c below
     * T): it joins when w S reaches its current; S falls at delta T /
     * (w tau_L). Units further down the list are reached later. */
    const double fall = sl->delta * sl->T / (w * sl->tauL);
    for (; fall > 0.0 && q < sl->noff; q++) {
        const long mu = sl->off[q];
        const double ic = sl->icur[mu];
        const double d = (w * sl->S - ic) / (w * fall);
        if (!(d < best)) {
            break;
        }
        const double c = c_near(sl, mu, ic);
        if (c < sl->T) {
            const double to = d + (rtol * fabs(ic) + atol) * sl->tauL / (sl->delta * (sl->T - c));
            if (to < best) {
                best = to;
                aim = t + to;
            }
        }
    }
    /* an aim that t cannot tell from t (its last bits, late in a long run)
     * would be a step of 0: the step goes on to t1, and events takes it back */
    return aim > t && aim < t1 ? aim : t1;
}

int kh_sliding_apply(kh_sliding *sl, double *t, double t1, double *alpha, double *beta,
                     long max_steps, const volatile sig_atomic_t *stop)
{
    sl->al = alpha;
    sl->be = beta;
    int status = KH_OK;
    while (*t < t1 && status == KH_OK) {
        status = kh_solver_may_step(stop, sl->dp.steps_since_reset, max_steps, *t);
        if (status != KH_OK) {
            break;
        }
        for (int j = 0; j < 8 && join_now(sl); j++) {
        }
        if (sl->na == 0) {
            *t = t1; /* S = 0 and stays: nothing moves */
            break;
        }
        const double t0 = *t, S0 = sl->S, T0 = sl->T;
        const size_t len = 2 * (size_t)sl->na * sizeof(double);
        memcpy(sl->y0, sl->y, len);
        double target = predicted_end(sl, t0, t1);
        for (int tries = 0;; tries++) {
            if (tries == 400) {
                status = KH_ERROR(KH_ESOLVER,
                                  "quasi_static: the events at t = %.9g cannot be located", t0);
                break;
            }
            status = kh_dp5_step(&sl->dp, t, target, sl->y, rhs, norm, sl);
            if (status != KH_OK) {
                break;
            }
            double retry;
            events(sl, S0, T0, *t - t0, *t, &retry);
            if (!(retry > 0.0)) {
                commit(sl, S0, *t - t0);
                if (tries > 0 && sl->dp.h > 2.0 * (*t - t0)) {
                    sl->dp.h = 2.0 * (*t - t0); /* near events: grow from the located step */
                }
                break;
            }
            kh_dp5_undo(&sl->dp);
            memcpy(sl->y, sl->y0, len);
            const double over = (*t - t0) - retry; /* past the estimate, by this trial */
            *t = t0;
            /* From the second try on the estimate has overshot once already
             * (the crossing bends): aim as far before it as the trial ended
             * past it, no closer to t0 than half the estimate. */
            target = t0 + (tries == 0 ? retry : fmax(0.5 * retry, retry - over));
            if (!(target > t0)) {
                status = KH_ERROR(KH_ESOLVER,
                                  "quasi_static: an event cannot be located at t = %.9g", t0);
                break;
            }
        }
    }
    finish(sl);
    return status;
}

void kh_sliding_stats(const kh_sliding *sl, kh_solver_stats *st)
{
    st->steps = sl->dp.steps;
    st->failed_steps = sl->dp.failed;
    st->rhs_evals = sl->dp.rhs_evals;
    st->switches = sl->events;
    st->sliding = sl->slides;
}
