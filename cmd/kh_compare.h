/* khsim compare (cmd/kh_compare.c): the fast approximation against the exact
 * dynamics of a study, written to /comparison of the exact run's file. */
#ifndef KH_COMPARE_H
#define KH_COMPARE_H

#include <stdio.h>

#include "run/kh_sim.h"

/* Runs the study c (validated) with its exact solver.method, the fast rule
 * at each presentation's starting W, and two fast passes (batch 1 and
 * learning.batch) from the same W0; writes /comparison into c->p.out_path
 * and a summary table to `report`. KH_OK, KH_EINVAL (not krotov_hopfield,
 * method = fast), KH_EIO, KH_ENOMEM, KH_ESOLVER, KH_ENOCONV, KH_EINTR. */
int kh_compare_run(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
                   kh_progress_fn progress, void *progress_ctx, FILE *report);

#endif
