/* Dormand-Prince 5(4) on a plain vector, for solvers that integrate a state
 * of their own (quasi_static's reduced state): the tableau and the step-size
 * control of dopri5.c (Hairer's: h min(10, max(0.2, 0.9 err^(-1/5))), no
 * growth after a rejection, a non-finite stage halves the step), with the
 * error norm given by the caller. Switches are not located: error control
 * takes them, as in solvers/reduced.c. */
#ifndef KH_DP5_H
#define KH_DP5_H

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* dy = f(y): 0, or non-zero when y is not admissible (the step is shortened). */
typedef int (*kh_dp5_rhs)(void *ctx, const double *y, double *dy);
/* The scaled RMS norm of the error err of a step from y0 to y1 (<= 1: accept). */
typedef double (*kh_dp5_norm)(void *ctx, const double *y0, const double *y1, const double *err);

typedef struct kh_dp5 {
    long n; /* the state's length: may be lowered below init's (then reset or fsal = 0) */
    double *k[7], *y1, *ys, *err;
    int fsal; /* k[0] holds f at the current state */
    double h; /* the next step */
    long steps, failed, rhs_evals, steps_since_reset;
} kh_dp5;

/* KH_OK or KH_ENOMEM (KH_ERROR). */
int kh_dp5_init(kh_dp5 *d, long n, double first_step);
void kh_dp5_release(kh_dp5 *d);
/* Forgets f at the current state and restarts from first_step. */
void kh_dp5_reset(kh_dp5 *d, double first_step);
/* One accepted step from (*t, y) towards t1 (at most to t1): y and *t move. */
int kh_dp5_step(kh_dp5 *d, double *t, double t1, double *y, kh_dp5_rhs f, kh_dp5_norm norm,
                void *ctx);
/* Takes the last accepted step back as far as the stepper is concerned (f at
 * its start again; counted as failed): the caller restores y and t. */
void kh_dp5_undo(kh_dp5 *d);
/* Advances y from *t to t1 (kh_solver_type.apply's contract, max_steps per
 * reset, stop polled between steps). */
int kh_dp5_apply(kh_dp5 *d, double *t, double t1, double *y, kh_dp5_rhs f, kh_dp5_norm norm,
                 void *ctx, long max_steps, const volatile sig_atomic_t *stop);

#ifdef __cplusplus
}
#endif
#endif
