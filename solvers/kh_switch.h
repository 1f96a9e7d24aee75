/* Location of the switches of a non-smooth right-hand side, shared by the
 * adaptive solvers (gsl.c, dopri5.c).
 *
 * A model's switching functions s_k(y) (kh_model_type.switches) change sign
 * exactly where its right-hand side jumps or has a kink. After a trial step
 * from (t0, y0) to t0 + dt, kh_switch_crossed compares their signs with those
 * at y0; kh_switch_bracket then narrows the earliest crossing to
 * (t0 + lo, t0 + hi] with hi - lo <= solver.switch_tol, by trial steps from
 * (t0, y0) that the solver provides (regula falsi with the Illinois rule on
 * the earliest crossing function, safeguarded by bisection).
 *
 * A function that crosses again and again at shrinking intervals is being
 * driven onto its switching surface (a Zeno sequence that accumulates in
 * finite time: the entry into a Filippov sliding mode). After KH_ZENO_RUN
 * such repeats it is set aside until kh_switch_reset, and error control alone
 * bounds the steps near it; kh_switch.sliding counts these. */
#ifndef KH_SWITCH_H
#define KH_SWITCH_H

#include <stddef.h>

#include "models/kh_model.h"

#define KH_ZENO_RUN 4
/* A located switch is approached to KH_CROSS_MARGIN times the step (at least
 * a few switch_tol) and crossed by an Euler step of at most KH_CROSS_GROWTH
 * times that: the located time carries the error of the bracket or of the
 * interpolant it was found on, and the Euler step's error is its length
 * times the jump of the right-hand side. */
#define KH_CROSS_MARGIN 1e-7
#define KH_CROSS_GROWTH 64.0

/* Fills s with the switching functions at state y (by default the model's
 * switches(y, ws, s); a solver with its own state representation sets its own). */
typedef void (*kh_switch_values_fn)(void *ctx, const double *y, double *s);

typedef struct kh_switch {
    const kh_model_type *model; /* borrowed */
    void *ws;                   /* borrowed */
    kh_switch_values_fn values;
    void *values_ctx;
    size_t n;   /* number of switching functions; 0: location off */
    double tol; /* solver.switch_tol */
    double *s0, *s1, *slo, *shi, *str;
    unsigned char *mask; /* set aside as sliding, until kh_switch_reset */
    unsigned char *off;  /* never located (kinks, under locate_switches = jumps) */
    long last_k, zeno;
    double last_t, last_gap;
    long switches, sliding;
} kh_switch;

/* A trial step of size dt from the step's start; the state goes to y.
 * Returns 0 on success, non-zero when the trial failed. */
typedef int (*kh_trial_fn)(void *ctx, double dt, double *y);

/* Plans the workspace (n = 0 when the model has no switching functions or
 * p->locate_switches is none; with jumps, the kinks are switched off).
 * KH_OK or KH_ENOMEM. */
int kh_switch_init(kh_switch *w, const kh_model_type *model, void *ws, const kh_params *p);
void kh_switch_release(kh_switch *w);
/* A new presentation: forgets the sliding functions and the Zeno run. */
void kh_switch_reset(kh_switch *w);
/* Takes the signs at the start of a step. */
void kh_switch_start(kh_switch *w, const double *y);
/* Signs at a trial step's end: the first function that crossed, or -1. */
long kh_switch_crossed(kh_switch *w, const double *y);
/* Brackets the earliest crossing in a trial of size dt that crossed (after
 * kh_switch_crossed). ytr is scratch of the state's size. Returns hi and
 * sets *lo and *k (the crossing function). */
double kh_switch_bracket(kh_switch *w, double dt, kh_trial_fn trial, void *ctx, double *ytr,
                         double *lo, long *k);
/* Carries y (just before a located switch, with f = f(y)) across it by
 * one Euler step of the smallest length d0, 2 d0, 4 d0, ... <= d_max whose
 * end has crossed (the located time may be off by a little). Its error is d
 * times the jump of the RHS. ytr is scratch. Returns the length taken, or 0
 * when no such step crosses (y is then unchanged). */
double kh_switch_cross(kh_switch *w, double *y, const double *f, size_t dim, double d0,
                       double d_max, double *ytr);

/* The longest Euler step kh_switch_cross may take after a switch bracketed
 * to d0 in a step of h, no longer than room. */
double kh_switch_cross_limit(double d0, double h, double room);

/* Counts a located switch of function k at time t (and the Zeno guard). */
void kh_switch_note(kh_switch *w, long k, double t);
/* A switch of function k located at t that the crossing step did not reach
 * (the function approaches its surface without crossing): not counted, but
 * a run of them at shrinking intervals sets k aside like a Zeno run. */
void kh_switch_near_miss(kh_switch *w, long k, double t);

#endif
