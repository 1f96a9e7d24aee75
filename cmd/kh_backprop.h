/* The end-to-end baseline of khsim train (train.features = backprop): the
 * same network, h = max(W v, 0)^n and c = tanh(beta S h), with the same loss
 * sum |c - t|^m, but W trained by backpropagation together with S, by Adam
 * on minibatches (Krotov & Hopfield 2019 compare their two-phase network
 * with this one, trained "end-to-end with SGD"). beta is held fixed within a
 * step: train.beta, or (train.beta = 0) beta_scale / max_mu h_mu of each
 * sample (beta_auto = digit) or of the minibatch's mean (set), at the W of
 * that step, not differentiated. */
#ifndef KH_BACKPROP_H
#define KH_BACKPROP_H

#include <signal.h>

#include "cmd/kh_readout.h"
#include "cmd/kh_train.h"
#include "core/kh_types.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_backprop {
    long m, n, B;              /* hidden units, inputs, largest minibatch */
    double *W, *S;             /* [m, n], [10, m]: the parameters (owned) */
    double *dW, *dS;           /* their gradients of the last minibatch */
    double *A, *H, *dH, *beta; /* [B, m] W v, h, dL/dh; [B] the betas */
    kh_readout_work w;
} kh_backprop;

/* Allocates for m units, n inputs and minibatches of up to B samples, W and
 * S zero. KH_OK or KH_ENOMEM (nothing left allocated). */
int kh_backprop_alloc(kh_backprop *bp, long m, long n, long B);
void kh_backprop_free(kh_backprop *bp);

/* The loss of the nb samples V [nb, n] with labels [nb] at the current W
 * and S, and its gradients into bp->dW and bp->dS. */
double kh_backprop_grad(kh_backprop *bp, const kh_params *p, const double *V, const long *labels,
                        long nb);

/* Trains W (from bp->W) and S (from bp->S) for train.epochs on `train`,
 * recording every epoch's errors on `train` and `test`, loss, learning rate
 * and time into f's /train series, and the final W and S into /train/W and
 * /train/S. KH_OK, KH_EINTR (stop), KH_ESOLVER (a non-finite loss), KH_EIO,
 * KH_ENOMEM. */
int kh_backprop_train(kh_backprop *bp, const kh_params *p, const kh_dataset *train,
                      const kh_dataset *test, kh_h5 *f, const volatile sig_atomic_t *stop,
                      kh_progress_fn progress, void *pctx, kh_train_result *res);

#ifdef __cplusplus
}
#endif
#endif
