/* One unit of the reduced state over one step of solvers/reduced.c, with
 * the switches of its right-hand side located.
 *
 * Units interact only through the inhibition S = sum_nu r(h_nu). Given the
 * others' part of it over a step, S_o(s), a unit is a small ODE of its own,
 *   tau dh/dt = I - w_inh S_o(s) - h,
 *   tau_L dalpha/dt = -b alpha,  tau_L dbeta/dt = a - b beta  (and z),
 * with I, B the moments of its row (solvers/kh_moments.h) and a, b, dz/dt
 * the rule's (models/kh_model.h, on the unit's view of the workspace).
 * When a unit's h crosses a switch of g (or of the ReLU) inside a step of
 * the whole system, the step's error is that unit's: the Rosenbrock stages
 * straddle a jump. solvers/reduced.c then integrates that unit alone over
 * the step with S_o from the step's own trajectory, here: Bogacki-Shampine
 * 3(2) under the same error control, each switch located on the length of
 * the step that reaches it (regula falsi on the switching function) until
 * stepping across it anywhere in the bracket errs by less than 1 % of the
 * tolerance (or the bracket is KH_UNIT_TOL_T wide), then stepped across.
 * Its cost grows with the number of crossing units, not with crossings
 * times whole-system steps. */
#ifndef KH_REDUCED_UNIT_H
#define KH_REDUCED_UNIT_H

#include <math.h>

#include "models/kh_model.h"
#include "solvers/kh_moments.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The narrowest bracket of a switch in time. */
#define KH_UNIT_TOL_T 1e-11
/* Steps (accepted, rejected and those of the bisections) of one unit over
 * one step of the whole system before it gives up (the whole step is then
 * rejected and retried shorter). */
#define KH_UNIT_MAX_STEPS 2000
/* The switching functions of one unit (kh_model_type.reduced_switches). */
#define KH_UNIT_MAX_SWITCHES 8

typedef struct kh_unit_step {
    const kh_model_type *model;
    kh_model_ws *ws; /* unit mu's scratch (I, B, a, b, gI_neg ...) is written */
    kh_moments *mo;  /* unit mu's place of rho is written */
    long mu;         /* the unit's place in ws (its view) */
    long row;        /* its row of W: its place in mo */
    int bs;          /* 3: h, alpha, beta; 4: and z */
    int nsw;         /* switching functions per unit, <= KH_UNIT_MAX_SWITCHES */
    double dt;       /* the step: the unit is integrated over s in [0, dt] */
    /* S_o(s) = c0 + c1 s + c2 s^2, the others' sum of r(h) */
    double c0, c1, c2;
    double atol, rtol, inv_n; /* inv_n = 1 / n */
    long switches;            /* switches located, added to */
    kh_model_ws view;         /* unit mu's view of ws (kh_net_unit_view), set here */
} kh_unit_step;

/* The signature of the region of h: bit k set when switching function k
 * (into s, u->nsw of them) is > 0. Needs the unit's moments in view (drive
 * Q). */
unsigned kh_unit_signature(const kh_unit_step *u, const double *h, kh_model_ws *view, double *s);

/* The scaled square error of unit mu over its h, its row of W (from the
 * capture's Gram sums: the row error eaW0 + ebv against the row's RMS) and
 * z (when bs is 4), summed over the unit's 1 + n (+ 1) components: the
 * unit's share of the RMS error norm of solvers/reduced.c. e, x0, x1 are
 * (h, alpha, beta[, z]) each. */
static inline double kh_unit_err_sq(const kh_moments *mo, long mu, int bs, const double *e,
                                    const double *x0, const double *x1, double atol, double rtol,
                                    double inv_n)
{
    double sc = atol + rtol * fmax(fabs(x0[0]), fabs(x1[0]));
    double sum = e[0] * e[0] / (sc * sc);
    const double ew2 = kh_moments_row_sq(mo, mu, e[1], e[2]);
    const double w0 = kh_moments_row_sq(mo, mu, x0[1], x0[2]);
    const double w1 = kh_moments_row_sq(mo, mu, x1[1], x1[2]);
    sc = atol + rtol * sqrt((w0 > w1 ? w0 : w1) * inv_n);
    sum += ew2 / (sc * sc); /* n times the row's mean square error over sc^2 */
    if (bs == 4) {
        sc = atol + rtol * fmax(fabs(x0[3]), fabs(x1[3]));
        sum += e[3] * e[3] / (sc * sc);
    }
    return sum;
}

/* Integrates x (h, alpha, beta[, z]) of unit mu over [0, u->dt]. KH_OK with
 * *err_sq the largest kh_unit_err_sq of its accepted steps, or 1 when it
 * cannot (a state that is not finite, alpha <= 0, or KH_UNIT_MAX_STEPS). */
int kh_unit_integrate(kh_unit_step *u, double *x, double *err_sq);

#ifdef __cplusplus
}
#endif
#endif
