/* Learning-rate schedules of khsim train's readout (train.lr_schedule):
 *   paper     lr until E/3, then x0.5, x0.1, x0.05, x0.01 at E/3 + k E/6
 *             (Krotov & Hopfield's 0.001 for 100 of 300 epochs, then
 *             0.0005, 0.0001, 0.00005, 0.00001 every 50);
 *   constant  lr at every epoch;
 *   E0:r0, E1:r1, ...  piecewise constant: rate r_k (an absolute rate; lr
 *             is not used) from epoch E_k (counted from 0) until E_k+1;
 *             E0 must be 0 and the E_k increasing (e.g. 0:0.004, 50:0.001,
 *             the paper's CIFAR-10 baseline). */
#ifndef KH_LR_H
#define KH_LR_H

#ifdef __cplusplus
extern "C" {
#endif

#define KH_LR_PIECES 16

enum { KH_LR_PAPER, KH_LR_CONSTANT, KH_LR_PIECEWISE };

typedef struct kh_lr_schedule {
    int kind; /* KH_LR_* */
    int n;    /* pieces of a piecewise schedule */
    long from[KH_LR_PIECES];
    double rate[KH_LR_PIECES];
} kh_lr_schedule;

/* Reads a schedule's text into *s. KH_OK, or KH_EINVAL naming what is wrong. */
int kh_lr_schedule_parse(const char *text, kh_lr_schedule *s);

/* The rate of epoch e (from 0) of E, with lr the study's train.lr. */
double kh_lr_at(const kh_lr_schedule *s, double lr, long e, long E);

#ifdef __cplusplus
}
#endif
#endif
