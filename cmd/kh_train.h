/* khsim train (cmd/kh_train.c): the fast rule on the training digits, the
 * features h = max(W v, 0)^n with W frozen, then the supervised readout
 * c = tanh(beta S h) with Adam (Krotov & Hopfield, PNAS 2019, appendix B). */
#ifndef KH_TRAIN_H
#define KH_TRAIN_H

#include "run/kh_sim.h"

typedef struct kh_train_result {
    long epochs;                    /* readout epochs completed */
    double train_error, test_error; /* fractions after the last epoch (-1: none yet); the
                                       test error is on the digits of train.measure */
    double seconds_unsupervised;    /* wall time of each phase, summed over the parts of a
                                       resumed training */
    double seconds_features, seconds_readout;
} kh_train_result;

/* "test" or "validation": the held-out digits of train.measure. */
const char *kh_train_measure_name(const kh_params *p);

/* Trains the study c (validated; solver.method = fast, input.source =
 * mnist with the test set beside the training set, or train.measure =
 * validation and digits left after the training set) into c->p.out_path, or
 * with resume != 0 continues the record c->p.out_path (c read from it by
 * kh_h5_read_params) from its last complete epoch. `stop` is polled; the
 * record stays valid. KH_OK, KH_EINVAL, KH_EIO, KH_ENOMEM, KH_EINTR,
 * KH_ESOLVER. */
int kh_train_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                 kh_progress_fn progress, void *pctx, kh_train_result *res);

#endif
