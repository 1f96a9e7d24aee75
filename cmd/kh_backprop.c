/* The end-to-end baseline of khsim train: W and S by backpropagation
 * (cmd/kh_backprop.h). One minibatch of nb samples V [nb, n]:
 *   A = V W^T,  H = max(A, 0)^n,  z = beta_b (S H_b),  c = tanh(z),
 *   L = sum_b sum_alpha |c - t|^m,
 *   dL/dz (kh_readout_loss),  dL/dS = sum_b beta_b dL/dz_b H_b^T,
 *   dL/dH_b = beta_b S^T dL/dz_b,  dL/dA = dL/dH n max(A, 0)^(n-1),
 *   dL/dW = (dL/dA)^T V.
 * The products go through dgemm. */
#include "cmd/kh_backprop.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_clock.h"
#include "core/kh_error.h"
#include "core/kh_lr.h"
#include "core/kh_rng.h"
#include "run/kh_sim.h"

#define N_CLASSES 10

int kh_backprop_alloc(kh_backprop *bp, long m, long n, long B)
{
    memset(bp, 0, sizeof *bp);
    bp->m = m;
    bp->n = n;
    bp->B = B;
    bp->W = calloc((size_t)(m * n), sizeof(double));
    bp->dW = malloc((size_t)(m * n) * sizeof(double));
    bp->S = calloc((size_t)(N_CLASSES * m), sizeof(double));
    bp->dS = malloc((size_t)(N_CLASSES * m) * sizeof(double));
    bp->A = malloc((size_t)(B * m) * sizeof(double));
    bp->H = malloc((size_t)(B * m) * sizeof(double));
    bp->dH = malloc((size_t)(B * m) * sizeof(double));
    bp->beta = malloc((size_t)B * sizeof(double));
    if (!bp->W || !bp->dW || !bp->S || !bp->dS || !bp->A || !bp->H || !bp->dH || !bp->beta ||
        kh_readout_work_alloc(&bp->w, N_CLASSES, m, B, 0) != 0) {
        kh_backprop_free(bp);
        return KH_ERROR(KH_ENOMEM, "cannot allocate backpropagation for %ld units x %ld inputs", m,
                        n);
    }
    return KH_OK;
}

void kh_backprop_free(kh_backprop *bp)
{
    free(bp->W);
    free(bp->dW);
    free(bp->S);
    free(bp->dS);
    free(bp->A);
    free(bp->H);
    free(bp->dH);
    free(bp->beta);
    kh_readout_work_free(&bp->w);
    memset(bp, 0, sizeof *bp);
}

/* A, H and each sample's beta for V [nb, n]; H's rows are scaled by their
 * beta, so that the readout's functions see beta = 1. */
static void forward(kh_backprop *bp, const kh_params *p, const double *V, long nb)
{
    const long m = bp->m, n = bp->n;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)m, (int)n, 1.0, V, (int)n,
                bp->W, (int)n, 0.0, bp->A, (int)m);
    double mean_max = 0.0;
    for (long b = 0; b < nb; b++) {
        double mx = 0.0;
        for (long mu = 0; mu < m; mu++) {
            const double h = kh_readout_activation(bp->A[b * m + mu], p->tr_power);
            bp->H[b * m + mu] = h;
            mx = h > mx ? h : mx;
        }
        bp->beta[b] = mx; /* for now the largest h */
        mean_max += mx / (double)nb;
    }
    for (long b = 0; b < nb; b++) {
        double beta = p->tr_beta;
        if (beta <= 0.0) {
            const double ref = p->tr_beta_auto == KH_BETA_DIGIT ? bp->beta[b] : mean_max;
            beta = ref > 0.0 ? p->tr_beta_scale / ref : p->tr_beta_scale;
        }
        bp->beta[b] = beta;
        for (long mu = 0; mu < m; mu++) {
            bp->H[b * m + mu] *= beta;
        }
    }
}

double kh_backprop_grad(kh_backprop *bp, const kh_params *p, const double *V, const long *labels,
                        long nb)
{
    const long m = bp->m, n = bp->n;
    forward(bp, p, V, nb);
    kh_hrows H = {bp->H, 0};
    const double loss =
        kh_readout_loss(bp->S, N_CLASSES, m, 1.0, p->tr_loss_power, H, labels, nb, bp->dS, &bp->w);
    /* dL/d(beta h) = D S, then dL/dA. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)m, N_CLASSES, 1.0, bp->w.D,
                N_CLASSES, bp->S, (int)m, 0.0, bp->dH, (int)m);
    const double pw = p->tr_power;
    for (long b = 0; b < nb; b++) {
        for (long mu = 0; mu < m; mu++) {
            const double a = bp->A[b * m + mu];
            const double slope = a > 0.0 ? pw * pow(a, pw - 1.0) : 0.0;
            bp->dH[b * m + mu] *= bp->beta[b] * slope;
        }
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)nb, 1.0, bp->dH,
                (int)m, V, (int)n, 0.0, bp->dW, (int)n);
    return loss;
}

/* Errors of the samples of d at the current W and S, in minibatches. */
static long errors(kh_backprop *bp, const kh_params *p, const kh_dataset *d)
{
    long e = 0;
    for (long b0 = 0; b0 < d->n_samples; b0 += bp->B) {
        const long nb = d->n_samples - b0 < bp->B ? d->n_samples - b0 : bp->B;
        forward(bp, p, d->x + (size_t)b0 * (size_t)bp->n, nb);
        kh_hrows H = {bp->H, 0};
        e += kh_readout_errors(bp->S, N_CLASSES, bp->m, 1.0, H, d->labels + b0, nb, &bp->w);
    }
    return e;
}

int kh_backprop_train(kh_backprop *bp, const kh_params *p, const kh_dataset *train,
                      const kh_dataset *test, kh_h5 *f, const volatile sig_atomic_t *stop,
                      kh_progress_fn progress, void *pctx, kh_train_result *res)
{
    const long m = bp->m, n = bp->n, N = train->n_samples, E = p->tr_epochs;
    const long B = bp->B, mn = m * n, Cm = N_CLASSES * m;
    kh_lr_schedule lrs;
    const int parsed = kh_lr_schedule_parse(p->tr_lr_schedule, &lrs);
    if (parsed != KH_OK) {
        return parsed;
    }
    double *mom = calloc((size_t)(2 * (mn + Cm)), sizeof(double));
    double *V = malloc((size_t)(B * n) * sizeof(double));
    long *order = malloc((size_t)N * sizeof(long)), *lb = malloc((size_t)B * sizeof(long));
    if (!mom || !V || !order || !lb) {
        free(mom);
        free(V);
        free(order);
        free(lb);
        return KH_ERROR(KH_ENOMEM, "cannot allocate backpropagation's Adam state");
    }
    for (long j = 0; j < N; j++) {
        order[j] = j;
    }
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->tr_seed, 5);
    const double t0 = kh_wall_seconds();
    double last_report = t0;
    long adam_t = 0;
    int st = KH_OK;
    for (long e = 0; e < E && st == KH_OK; e++) {
        const double lr = kh_lr_at(&lrs, p->tr_lr, e, E), e0 = kh_wall_seconds();
        kh_sim_shuffle(order, N, &rng);
        double loss = 0.0;
        for (long b0 = 0; b0 < N && st == KH_OK; b0 += B) {
            if (stop && *stop) {
                st = KH_ERROR(KH_EINTR, "interrupted in backpropagation epoch %ld", e + 1);
                break;
            }
            const long nb = N - b0 < B ? N - b0 : B;
            for (long b = 0; b < nb; b++) {
                const long j = order[b0 + b];
                memcpy(V + b * n, train->x + (size_t)j * (size_t)n, (size_t)n * sizeof(double));
                lb[b] = train->labels[j];
            }
            loss += kh_backprop_grad(bp, p, V, lb, nb);
            adam_t++;
            kh_adam_step(bp->W, bp->dW, mom, mom + mn, mn, adam_t, lr, p->tr_adam_b1, p->tr_adam_b2,
                         p->tr_adam_eps);
            kh_adam_step(bp->S, bp->dS, mom + 2 * mn, mom + 2 * mn + Cm, Cm, adam_t, lr,
                         p->tr_adam_b1, p->tr_adam_b2, p->tr_adam_eps);
            if (progress && kh_wall_seconds() - last_report > kh_progress_seconds()) {
                char line[200], err[64] = "-";
                if (res->test_error >= 0) {
                    snprintf(err, sizeof err, "%.2f %% at epoch %ld", 100.0 * res->test_error,
                             res->epochs);
                }
                snprintf(line, sizeof line, "backprop epoch %ld/%ld  %s error %s", e + 1, E,
                         kh_train_measure_name(p), err);
                progress(pctx, (double)e / (double)E + (double)b0 / (double)N / (double)E, line);
                last_report = kh_wall_seconds();
            }
        }
        if (st != KH_OK) {
            break;
        }
        if (!isfinite(loss)) {
            st = KH_ERROR(KH_ESOLVER,
                          "backpropagation epoch %ld: the loss is not finite (%g) (train.power, "
                          "train.lr, init.scale?)",
                          e + 1, loss);
            break;
        }
        const double tr = (double)errors(bp, p, train) / (double)N;
        const double te = (double)errors(bp, p, test) / (double)test->n_samples;
        const double sec = kh_wall_seconds() - e0;
        if ((st = kh_h5_series_append(f, "/train/train_error", &tr, 0, 0,
                                      "fraction|training samples misclassified after the "
                                      "epoch@train_epoch")) != KH_OK ||
            (st = kh_h5_series_append(f, "/train/test_error", &te, 0, 0,
                                      "fraction|held-out samples misclassified after the "
                                      "epoch@train_epoch")) != KH_OK ||
            (st = kh_h5_series_append(
                 f, "/train/loss", &loss, 0, 0,
                 "1|sum over the epoch's minibatches of sum |c - t|^m@train_epoch")) != KH_OK ||
            (st = kh_h5_series_append(f, "/train/lr", &lr, 0, 0,
                                      "1|Adam's learning rate of each epoch@train_epoch")) !=
                KH_OK ||
            (st = kh_h5_series_append(f, "/train/epoch_seconds", &sec, 0, 0,
                                      "s|the epoch's minibatches and error counts@train_epoch")) !=
                KH_OK) {
            break;
        }
        res->epochs = e + 1;
        res->train_error = tr;
        res->test_error = te;
        res->seconds_readout = kh_wall_seconds() - t0;
    }
    if (st == KH_OK || st == KH_EINTR) {
        const long dW[2] = {m, n}, dS[2] = {N_CLASSES, m};
        int s2 = kh_h5_overwrite(f, "/train/W", bp->W, 2, dW, 0,
                                 "weight|W trained end to end with S (after the last whole "
                                 "epoch, or where it was interrupted)@unit,input");
        if (s2 == KH_OK) {
            s2 = kh_h5_overwrite(f, "/train/S", bp->S, 2, dS, 0,
                                 "weight|the readout's S@class,unit");
        }
        st = st == KH_OK ? s2 : st;
    }
    free(mom);
    free(V);
    free(order);
    free(lb);
    return st;
}
