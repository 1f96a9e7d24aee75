/* One unit of the reduced state over one step, its switches located
 * (solvers/kh_reduced_unit.h). */
#include "solvers/kh_reduced_unit.h"

#include <math.h>
#include <string.h>

#include "core/kh_kernels.h"

unsigned kh_unit_signature(const kh_unit_step *u, const double *h, kh_model_ws *view, double *s)
{
    unsigned sig = 0;
    u->model->reduced_switches(h, view, s);
    for (int k = 0; k < u->nsw; k++) {
        sig |= (s[k] > 0.0 ? 1u : 0u) << k;
    }
    return sig;
}

/* dx at s into the step; *sig the region of x and sw its switching
 * functions. 0, or 1 when x is not admissible (alpha <= 0, not finite). */
static int rhs(kh_unit_step *u, double s, const double *x, double *dx, unsigned *sig, double *sw)
{
    kh_model_ws *view = &u->view;
    const kh_params *p = u->ws->p;
    if (!(x[1] > 0.0)) {
        return 1; /* alpha = exp(-int b / tau_L) > 0 */
    }
    kh_moments_eval_row(u->mo, u->row, x[1], x[2], &view->I[0], &view->B[0], NULL);
    const double I = view->I[0], B = view->B[0];
    if (!isfinite(I) || !isfinite(B) || !isfinite(x[0]) || (u->bs == 4 && !isfinite(x[3]))) {
        return 1;
    }
    const double So = u->c0 + s * (u->c1 + s * u->c2);
    dx[0] = kh_dhdt(I, x[0], So + kh_relu(x[0]), p->w_inh, p->tau);
    u->model->coefficients(&x[0], view->one_sided ? &dx[0] : NULL, &x[3], 0, view);
    const double inv = 1.0 / p->tau_L;
    dx[1] = -view->b[0] * x[1] * inv;
    dx[2] = (view->a[0] - view->b[0] * x[2]) * inv;
    if (u->bs == 4) {
        u->model->extra_rhs(&x[0], &x[3], &dx[3], view);
    }
    if (u->model->sphere_gain && u->model->sphere_gain(x[0], I, B, u->ws) * I < 0.0) {
        view->gI_neg[0] = 1.0;
    }
    *sig = u->nsw ? kh_unit_signature(u, &x[0], view, sw) : 0u;
    return 0;
}

/* One Bogacki-Shampine 3(2) step of h from (s, x) with f(x) = k1 in region
 * sig0: x1, f(x1) = k4 in region *sig1, the error e, and *dirty when a
 * stage or the end left region sig0. 0, or 1 when a stage is not admissible. */
typedef struct trial {
    double x1[4], k4[4], e[4];
    double sw[KH_UNIT_MAX_SWITCHES]; /* the switching functions at x1 */
    unsigned sig1;
    int dirty;
} trial;

static int bs3(kh_unit_step *u, double s, double h, const double *x, const double *k1,
               unsigned sig0, trial *t)
{
    const int bs = u->bs;
    double y[4] = {0.0, 0.0, 0.0, 0.0}, k2[4], k3[4], sw[KH_UNIT_MAX_SWITCHES];
    unsigned sg;
    t->x1[3] = 0.0;
    for (int i = 0; i < bs; i++) {
        y[i] = x[i] + 0.5 * h * k1[i];
    }
    if (rhs(u, s + 0.5 * h, y, k2, &sg, sw)) {
        return 1;
    }
    t->dirty = sg != sig0;
    for (int i = 0; i < bs; i++) {
        y[i] = x[i] + 0.75 * h * k2[i];
    }
    if (rhs(u, s + 0.75 * h, y, k3, &sg, sw)) {
        return 1;
    }
    t->dirty |= sg != sig0;
    for (int i = 0; i < bs; i++) {
        t->x1[i] = x[i] + h * (2.0 / 9.0 * k1[i] + 1.0 / 3.0 * k2[i] + 4.0 / 9.0 * k3[i]);
    }
    if (rhs(u, s + h, t->x1, t->k4, &t->sig1, t->sw)) {
        return 1;
    }
    t->dirty |= t->sig1 != sig0;
    for (int i = 0; i < bs; i++) {
        t->e[i] = h * (-5.0 / 72.0 * k1[i] + 1.0 / 12.0 * k2[i] + 1.0 / 9.0 * k3[i] -
                       1.0 / 8.0 * t->k4[i]);
    }
    return 0;
}

/* The RMS error of a trial over the unit's components. */
static double trial_err(const kh_unit_step *u, const double *x, const trial *t, double inv_count,
                        double *err_sq)
{
    *err_sq = kh_unit_err_sq(u->mo, u->row, u->bs, t->e, x, t->x1, u->atol, u->rtol, u->inv_n);
    return sqrt(*err_sq * inv_count);
}

static double factor(double err)
{
    return err > 0.0 ? fmin(5.0, fmax(0.2, 0.9 * pow(err, -1.0 / 3.0))) : 5.0;
}

/* The first switching function whose sign at the end of t differs from
 * region sig0, or -1. */
static int flipped(const kh_unit_step *u, const trial *t, unsigned sig0)
{
    for (int k = 0; k < u->nsw; k++) {
        if (((t->sig1 ^ sig0) >> k) & 1u) {
            return k;
        }
    }
    return -1;
}

/* Whether the switch is located well enough: stepping across it anywhere
 * in [a, b] errs by at most the jump of the rate times b - a, which is to
 * be within 1 % of the tolerance. xa, ka: the state and rate at a (clean),
 * xb, kb at b (across). */
static int located(const kh_unit_step *u, const double *xa, const double *ka, const double *xb,
                   const double *kb, double width, double inv_count)
{
    double e[4] = {0.0, 0.0, 0.0, 0.0};
    for (int i = 0; i < u->bs; i++) {
        e[i] = (kb[i] - ka[i]) * width;
    }
    const double esq = kh_unit_err_sq(u->mo, u->row, u->bs, e, xa, xb, u->atol, u->rtol, u->inv_n);
    return esq * inv_count <= 1e-4;
}

/* The longest clean trial before the switch inside a dirty step t of h:
 * on its length, regula falsi (Illinois) on the switching function that
 * flipped at the end, bisection where none did, until the bracket is
 * KH_UNIT_TOL_T wide or the switch is located within the tolerance
 * (located; judged only while a switching function is followed, k >= 0:
 * the trial at the bracket's far end then ended across it, whereas one
 * whose stage alone left the region ends at a rate of the same side, and
 * the bracket would look located whatever its width): *lo its clean end (0 when none is clean), *hi
 * its other. f0: the switching functions at x. */
static int locate(kh_unit_step *u, double s, double h, const double *x, const double *k1,
                  unsigned sig0, const double *f0, const trial *t, trial *clean, double *lo,
                  double *hi, long *steps, double inv_count)
{
    int k = flipped(u, t, sig0);
    double a = 0.0, b = h, fa = k >= 0 ? f0[k] : 0.0, fb = k >= 0 ? t->sw[k] : 0.0;
    double xb[4], kb[4];
    memcpy(xb, t->x1, sizeof xb);
    memcpy(kb, t->k4, sizeof kb);
    int side = 0;
    trial tr;
    for (int it = 0; it < 200 && b - a > KH_UNIT_TOL_T; it++) {
        if (k >= 0 && located(u, a > 0.0 ? clean->x1 : x, a > 0.0 ? clean->k4 : k1, xb, kb, b - a,
                              inv_count)) {
            break;
        }
        double mid = 0.5 * (a + b);
        if (k >= 0 && fa != fb) {
            mid = b - fb * (b - a) / (fb - fa);
            /* keep the trial off the ends, so the bracket always shrinks */
            const double margin = 0.25 * KH_UNIT_TOL_T;
            mid = fmin(fmax(mid, a + margin), b - margin);
        }
        if (!(mid > a && mid < b)) {
            break;
        }
        if (++*steps > KH_UNIT_MAX_STEPS) {
            return 1;
        }
        if (bs3(u, s, mid, x, k1, sig0, &tr) != 0) {
            b = mid;
            *hi = b;
            k = -1; /* not admissible: bisect */
            continue;
        }
        if (tr.dirty) {
            const int kk = flipped(u, &tr, sig0);
            if (kk >= 0 && kk != k) {
                /* another switch comes first: follow it */
                k = kk;
                fa = a > 0.0 ? clean->sw[k] : f0[k];
                side = 0;
            } else if (kk >= 0) {
                fa = side == -1 ? 0.5 * fa : fa; /* Illinois */
                side = -1;
            }
            memcpy(xb, tr.x1, sizeof xb);
            memcpy(kb, tr.k4, sizeof kb);
            if (kk >= 0) {
                fb = tr.sw[k];
            } else {
                k = -1; /* a stage left the region, the end did not: bisect */
            }
            b = mid;
            *hi = b;
        } else {
            a = mid;
            *clean = tr;
            *lo = mid;
            if (k >= 0) {
                fa = tr.sw[k];
                fb = side == 1 ? 0.5 * fb : fb;
                side = 1;
            }
        }
    }
    return 0;
}

/* Where the walk over the step stands: s into it, the state x, its rate k1,
 * switching functions sw and region sig, the next step h. */
typedef struct walk {
    double s, h, worst, inv_count;
    double *x; /* the caller's */
    double k1[4], sw[KH_UNIT_MAX_SWITCHES];
    unsigned sig;
    long steps;
} walk;

/* Moves w to the end of trial t of length len (the end of the step when
 * that is within rounding). */
static void advance(walk *w, const kh_unit_step *u, const trial *t, double len)
{
    memcpy(w->x, t->x1, (size_t)u->bs * sizeof(double));
    memcpy(w->k1, t->k4, (size_t)u->bs * sizeof(double));
    memcpy(w->sw, t->sw, sizeof w->sw);
    w->sig = t->sig1;
    w->s = len >= u->dt - w->s ? u->dt : w->s + len;
}

/* A dirty trial t of w->h: up to the switch, if that step is within the
 * tolerance (else w->h shrinks and nothing moves), then across it. 0, or 1
 * when the unit cannot go on. */
static int cross(walk *w, kh_unit_step *u, const trial *t)
{
    double lo = 0.0, hi = w->h, esq;
    trial clean;
    if (locate(u, w->s, w->h, w->x, w->k1, w->sig, w->sw, t, &clean, &lo, &hi, &w->steps,
               w->inv_count) != 0) {
        return 1;
    }
    if (lo > 0.0) {
        const double err = trial_err(u, w->x, &clean, w->inv_count, &esq);
        if (!(err <= 1.0)) {
            w->h = lo * factor(err);
            return 0;
        }
        advance(w, u, &clean, lo);
        w->worst = fmax(w->worst, esq);
    }
    const double across = fmin(fmax(hi - lo, 2.0 * KH_UNIT_TOL_T), u->dt - w->s);
    if (!(across > 0.0)) {
        return 0;
    }
    trial over;
    if (bs3(u, w->s, across, w->x, w->k1, w->sig, &over) != 0) {
        return 1;
    }
    u->switches += over.sig1 != w->sig;
    advance(w, u, &over, across);
    return 0;
}

int kh_unit_integrate(kh_unit_step *u, double *x, double *err_sq)
{
    const int bs = u->bs;
    walk w = {.h = u->dt, .x = x};
    w.inv_count = 1.0 / (1.0 / u->inv_n + 1.0 + (bs == 4 ? 1.0 : 0.0));
    trial t;
    double esq;
    kh_net_unit_view(u->ws, u->mu, &u->view);
    if (rhs(u, 0.0, x, w.k1, &w.sig, w.sw)) {
        return 1;
    }
    while (w.s < u->dt) {
        if (++w.steps > KH_UNIT_MAX_STEPS) {
            return 1;
        }
        w.h = fmin(w.h, u->dt - w.s);
        if (bs3(u, w.s, w.h, x, w.k1, w.sig, &t) != 0) {
            w.h *= 0.5;
            if (!(w.s + w.h > w.s)) {
                return 1;
            }
            continue;
        }
        if (t.dirty && flipped(u, &t, w.sig) < 0 && w.h > 2.0 * KH_UNIT_TOL_T) {
            /* A stage left the region and the end is back in it: the unit
             * crosses and crosses back within the step; a shorter one
             * finds the first crossing at its end. */
            w.h *= 0.5;
            continue;
        }
        if (t.dirty) {
            if (cross(&w, u, &t) != 0) {
                return 1;
            }
            continue;
        }
        const double err = trial_err(u, x, &t, w.inv_count, &esq);
        if (!(err <= 1.0)) {
            w.h *= factor(err);
            if (!(w.s + w.h > w.s)) {
                return 1;
            }
            continue;
        }
        advance(&w, u, &t, w.h);
        w.worst = fmax(w.worst, esq);
        w.h *= factor(err);
    }
    *err_sq = w.worst;
    return 0;
}
