/* khsim train: the paper's MNIST pipeline (Krotov & Hopfield, PNAS 2019,
 * section 3 and appendix B):
 *   1. unsupervised: the fast rule (method = fast) on the training digits, the
 *      record of `khsim run` (run/kh_sim_fast.c);
 *   2. features: h = max(W v, 0)^n for every training and test digit, once,
 *      with W frozen (one GEMM each);
 *   3. supervised: the readout c = tanh(beta S h), loss sum |c - t|^m, Adam
 *      with the paper's learning-rate schedule (cmd/kh_readout.c).
 * Everything goes to one file: the fast rule's record plus /train (docs/training.md). Each readout
 * epoch ends with a checkpoint (S, Adam's moments and step count), so `--resume` continues an
 * interrupted training from the last complete epoch of either phase and ends where an uninterrupted
 * one would. */
#include "cmd/kh_train.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/kh_backprop.h"
#include "cmd/kh_conv_cmd.h"
#include "cmd/kh_readout.h"
#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_lr.h"
#include "core/kh_mem.h"
#include "core/kh_rng.h"
#include "io/kh_cifar.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "models/kh_model.h"
#include "solvers/kh_solver.h"

/* OpenBLAS's cblas.h (openblas_get/set_num_threads) includes <complex.h>,
 * whose macro I is not used here. */
#include <cblas.h>

#define N_CLASSES 10
/* Samples per GEMM when counting errors. */
#define ERROR_CHUNK 1000

typedef struct trainer {
    kh_dataset train, test;
    double *W, *S, *G, *m1, *m2;
    kh_hrows Htr, Hte, Hb; /* features of the training and test digits, a minibatch's */
    kh_readout_work w;
    long *order, *lb;
    long M, n;       /* features per sample, inputs */
    kh_conv_net net; /* train.features = conv: the layers the features come from */
} trainer;

static void trainer_free(trainer *t)
{
    kh_dataset_release(&t->train);
    kh_dataset_release(&t->test);
    double *d[] = {t->W, t->S, t->G, t->m1, t->m2};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        free(d[i]);
    }
    free(t->Htr.x);
    free(t->Hte.x);
    free(t->Hb.x);
    kh_readout_work_free(&t->w);
    kh_conv_net_free(&t->net);
    free(t->order);
    free(t->lb);
}

const char *kh_train_measure_name(const kh_params *p)
{
    return p->tr_measure == KH_MEASURE_VALIDATION ? "validation" : "test";
}

/* The index of the first held-out digit in its file: the one after the
 * training set for validation, 0 for the test file. */
static long held_out_first(const kh_params *p)
{
    return p->tr_measure == KH_MEASURE_VALIDATION ? p->first + p->n_samples : 0;
}

/* The held-out digits. train.measure = test: t10k-images / t10k-labels in
 * input.path. validation: the training file's digits from input.first +
 * input.samples on (the paper's split: tune on these, then train on all 60 000
 * and measure on the test digits), which neither phase sees. */
static int load_test(const kh_params *p, kh_dataset *d)
{
    const int val = p->tr_measure == KH_MEASURE_VALIDATION;
    if (p->source == KH_SRC_CIFAR10) {
        const long first = held_out_first(p);
        long total = 0;
        int st = kh_cifar_count(p->input_path, !val, &total);
        if (st == KH_OK && val && first >= total) {
            return KH_ERROR(KH_EINVAL,
                            "train.measure = validation measures on the training images from "
                            "input.first + input.samples = %ld on, but the set holds %ld: "
                            "lower input.samples",
                            first, total);
        }
        if (st == KH_OK) {
            st = kh_cifar_read(p->input_path, !val, first,
                               p->tr_test_samples > 0 ? p->tr_test_samples : -1, d);
        }
        if (st == KH_OK) {
            kh_dataset_normalize(p, d);
        }
        return st;
    }
    const char *img_name = val ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
    const char *lab_name = val ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
    char img[KH_PATH_MAX + 64], lab[KH_PATH_MAX + 64];
    int st = kh_data_find(p->input_path, img_name, img, sizeof img);
    if (st == KH_OK) {
        st = kh_data_find(p->input_path, lab_name, lab, sizeof lab);
    }
    if (st != KH_OK) {
        return KH_ERROR(
            KH_EIO,
            "input.path = %s: khsim train needs %s and %s (make data puts them in data/mnist)",
            p->input_path, img_name, lab_name);
    }
    const long first = held_out_first(p);
    const long count = p->tr_test_samples > 0 ? p->tr_test_samples : -1;
    long total = 0;
    if (val && (st = kh_idx_count(img, &total)) == KH_OK &&
        (first >= total || (count > 0 && first + count > total))) {
        return KH_ERROR(KH_EINVAL,
                        "train.measure = validation measures on the digits of %s from "
                        "input.first + input.samples = %ld on (train.test_samples = %ld, 0: "
                        "all), but it holds %ld: lower input.samples",
                        img, first, p->tr_test_samples, total);
    }
    if (st != KH_OK) {
        return st;
    }
    if ((st = kh_idx_read(img, first, count, d)) != KH_OK) {
        return st;
    }
    kh_dataset_normalize(p, d);
    return kh_idx_read_labels(lab, first, d->n_samples, &d->labels);
}

/* A random frozen W on the same sphere as the learned one: W(0) of the
 * study, each row scaled to ||W_mu||_p = R. */
static void random_sphere(const kh_params *p, double *W)
{
    const long m = p->n_hidden, n = p->n_visible;
    const int ip = kh_int_exponent(p->p);
    for (long mu = 0; mu < m; mu++) {
        double B = kh_row_pnorm(W + mu * n, n, p->p, ip);
        double scale = B > 0.0 ? p->R / pow(B, 1.0 / p->p) : 0.0;
        for (long i = 0; i < n; i++) {
            W[mu * n + i] *= scale;
        }
    }
}

/* H = max(a, 0)^power of the last layer's outputs a of the images of d,
 * a thousand images at a time. */
static int conv_features(const kh_conv_net *net, const kh_dataset *d, double power, kh_hrows H)
{
    const long chunk = 1000, M = kh_conv_net_out_len(net), n = d->n_features;
    double *a = malloc((size_t)(chunk * M) * sizeof(double));
    if (!a) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the convolutional features");
    }
    int st = KH_OK;
    for (long i0 = 0; i0 < d->n_samples && st == KH_OK; i0 += chunk) {
        const long nb = d->n_samples - i0 < chunk ? d->n_samples - i0 : chunk;
        st = kh_conv_net_forward(net, d->x + i0 * n, nb, a);
        for (long i = 0; st == KH_OK && i < nb * M; i++) {
            a[i] = kh_readout_activation(a[i], power);
        }
        if (st == KH_OK) {
            kh_hrows_set(H, i0, a, nb, M);
        }
    }
    free(a);
    return st;
}

/* Phase 1 and the features: the W the readout sees (learned, random, or
 * none for pixels), then H for the training and test sets. */
static int features(trainer *t, kh_config *c, const char *overrides, int resume,
                    const volatile sig_atomic_t *stop, kh_progress_fn progress, void *pctx,
                    double *sec_unsup, double *sec_feat)
{
    kh_params *p = &c->p;
    const long m = p->n_hidden, n = p->n_visible;
    int st = KH_OK;
    double t0 = kh_wall_seconds();
    if (p->tr_features == KH_FEAT_LEARNED) {
        kh_sim_result res;
        st = kh_sim_fast_run_ex(c, overrides, resume, stop, progress, pctx, &res);
        if (st != KH_OK) {
            return st;
        }
        /* Row `epochs` of /snapshots/W: the weights after the last epoch. */
        st = kh_h5_read_row(p->out_path, "/snapshots/W", p->epochs, t->W, m * n);
    } else if (p->tr_features == KH_FEAT_FILE) {
        /* The last snapshot of another record, whatever learned it. */
        if (!p->init_path[0]) {
            st = KH_ERROR(KH_EINVAL, "train.features = file reads W from the record "
                                     "init.path names: set init.path");
        } else {
            kh_params q = *p;
            q.weights = KH_INIT_FILE;
            st = kh_sim_init_weights(&q, t->W);
        }
    } else if (p->tr_features == KH_FEAT_RANDOM) {
        if ((st = kh_sim_init_weights(p, t->W)) == KH_OK) {
            random_sphere(p, t->W);
        }
    }
    *sec_unsup += kh_wall_seconds() - t0;
    if (st != KH_OK) {
        return st;
    }
    t0 = kh_wall_seconds();
    if (p->tr_features == KH_FEAT_CONV) {
        st = conv_features(&t->net, &t->train, p->tr_power, t->Htr);
        if (st == KH_OK) {
            st = conv_features(&t->net, &t->test, p->tr_power, t->Hte);
        }
        if (st != KH_OK) {
            return st;
        }
    } else if (p->tr_features == KH_FEAT_PIXELS) {
        kh_hrows_set(t->Htr, 0, t->train.x, t->train.n_samples, n);
        kh_hrows_set(t->Hte, 0, t->test.x, t->test.n_samples, n);
    } else if (kh_readout_features(t->W, m, n, t->train.x, t->train.n_samples, p->tr_power,
                                   t->Htr) != 0 ||
               kh_readout_features(t->W, m, n, t->test.x, t->test.n_samples, p->tr_power, t->Hte) !=
                   0) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the features' scratch");
    }
    *sec_feat += kh_wall_seconds() - t0;
    return KH_OK;
}

/* The readout's beta. train.beta > 0: that beta. Automatic (train.beta = 0):
 *   digit: beta_b = beta_scale / max_mu h_mu(b) for each digit b, done by
 *          dividing each row of the training and test H by its largest h
 *          and returning beta_scale. The class of a digit, the largest
 *          component of S h, is unchanged by a positive factor per digit:
 *          only where each digit's tanh saturates in the loss changes.
 *   set:   beta = beta_scale / the mean over the training digits of
 *          max_mu h_mu: beta h of order one for the most active unit of a
 *          typical digit, whatever the scale of W v and the power n. */
static double readout_beta(trainer *t, const kh_params *p)
{
    const long N = t->train.n_samples, Nt = t->test.n_samples, M = t->M;
    if (p->tr_beta > 0.0) {
        return p->tr_beta;
    }
    if (p->tr_beta_auto == KH_BETA_DIGIT) {
        const kh_hrows H[2] = {t->Htr, t->Hte};
        const long rows[2] = {N, Nt};
        for (int s = 0; s < 2; s++) {
            for (long b = 0; b < rows[s]; b++) {
                double mx = kh_hrows_row_max(H[s], b, M);
                if (mx > 0.0) {
                    kh_hrows_scale_row(H[s], b, M, 1.0 / mx);
                }
            }
        }
        return p->tr_beta_scale;
    }
    double sum = 0.0;
    for (long b = 0; b < N; b++) {
        sum += kh_hrows_row_max(t->Htr, b, M);
    }
    return sum > 0.0 ? p->tr_beta_scale * (double)N / sum : p->tr_beta_scale;
}

/* The end of one readout epoch, kept until its error counts are done: S
 * and Adam's state as the epoch left them (its checkpoint), its loss,
 * learning rate and time, and the counts. */
typedef struct epoch_end {
    const trainer *t;
    double beta;
    double *S, *m1, *m2;
    long adam_t, epoch, err_train, err_test;
    double loss, lr, seconds;
    kh_readout_work *w; /* one scratch per counting thread */
    int threads, running;
    pthread_t thread;
} epoch_end;

/* Counting threads at most (the shares of 70 000 digits get small). */
#define MAX_COUNTERS 16

static void epoch_end_free(epoch_end *c)
{
    free(c->S);
    free(c->m1);
    free(c->m2);
    for (int k = 0; c->w && k < MAX_COUNTERS; k++) {
        kh_readout_work_free(&c->w[k]);
    }
    free(c->w);
}

static int epoch_end_alloc(epoch_end *c, const trainer *t, double beta, int threads)
{
    const size_t CM = (size_t)(N_CLASSES * t->M);
    memset(c, 0, sizeof *c);
    c->t = t;
    c->beta = beta;
    c->S = malloc(CM * sizeof(double));
    c->m1 = malloc(CM * sizeof(double));
    c->m2 = malloc(CM * sizeof(double));
    c->w = calloc(MAX_COUNTERS, sizeof *c->w);
    int ok = c->S && c->m1 && c->m2 && c->w;
    for (int k = 0; ok && k < threads; k++) {
        ok = kh_readout_work_alloc(&c->w[k], N_CLASSES, t->M, ERROR_CHUNK, t->Htr.single) == 0;
    }
    if (!ok) {
        epoch_end_free(c);
        return -1;
    }
    return 0;
}

/* The errors at c->S of the N digits of H, on c->threads threads: each
 * counts one contiguous share of the digits with its own scratch (S staged
 * once per share, ERROR_CHUNK digits per GEMM, one BLAS thread each). */
static long count_rows(const epoch_end *c, kh_hrows H, const long *labels, long N)
{
    const long M = c->t->M, T = c->threads;
    long errors = 0;
#pragma omp parallel for num_threads(c->threads) default(none) shared(c, H, labels)               \
    firstprivate(N, M, T) reduction(+ : errors) schedule(static)
    for (long k = 0; k < T; k++) {
        const long b0 = N * k / T, nb = N * (k + 1) / T - b0;
        errors += kh_readout_errors(c->S, N_CLASSES, M, c->beta, kh_hrows_at(H, b0, M), labels + b0,
                                    nb, &c->w[omp_get_thread_num()]);
    }
    return errors;
}

static void *count_errors(void *arg)
{
    epoch_end *c = arg;
    const trainer *t = c->t;
    c->err_train = count_rows(c, t->Htr, t->train.labels, t->train.n_samples);
    c->err_test = count_rows(c, t->Hte, t->test.labels, t->test.n_samples);
    return NULL;
}

/* Writes the readout's checkpoint: S, Adam's moments and its step count. */
static int checkpoint(kh_h5 *f, const epoch_end *c)
{
    const long dims[2] = {N_CLASSES, c->t->M};
    int st = kh_h5_overwrite(f, "/train/S", c->S, 2, dims, 0,
                             "1|readout weights S [classes, M]@class,unit");
    if (st == KH_OK) {
        st = kh_h5_overwrite(f, "/train/adam_m1", c->m1, 2, dims, 0,
                             "1|Adam's first moment of the readout weights S@class,unit");
    }
    if (st == KH_OK) {
        st = kh_h5_overwrite(f, "/train/adam_m2", c->m2, 2, dims, 0,
                             "1|Adam's second moment of the readout weights S@class,unit");
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/train", "adam_t", (double)c->adam_t, NULL);
    }
    return st == KH_OK ? kh_h5_flush(f) : st;
}

/* Waits for the counts of c when they run on their own thread (the wait is
 * the epoch's time too), then records the epoch: its errors, loss, learning
 * rate and time, and the checkpoint. */
static int record_epoch(kh_h5 *f, epoch_end *c, kh_train_result *res, double before, double t0)
{
    if (c->running) {
        const double w0 = kh_wall_seconds();
        pthread_join(c->thread, NULL);
        c->running = 0;
        c->seconds += kh_wall_seconds() - w0;
    }
    const trainer *t = c->t;
    double tr_err = (double)c->err_train / (double)t->train.n_samples;
    double te_err = (double)c->err_test / (double)t->test.n_samples;
    res->train_error = tr_err;
    res->test_error = te_err;
    res->epochs = c->epoch + 1;
    int st;
    if ((st = kh_h5_series_append(
             f, "/train/train_error", &tr_err, 0, 0,
             "fraction|training samples misclassified after the epoch@train_epoch")) != KH_OK ||
        (st = kh_h5_series_append(
             f, "/train/test_error", &te_err, 0, 0,
             "fraction|held-out samples misclassified after the epoch@train_epoch")) != KH_OK ||
        (st = kh_h5_series_append(f, "/train/loss", &c->loss, 0, 0,
                                  "1|the readout's loss, sum |c - t|^m@train_epoch")) != KH_OK ||
        (st = kh_h5_series_append(f, "/train/lr", &c->lr, 0, 0,
                                  "1|Adam's learning rate of each readout epoch@train_epoch")) !=
            KH_OK ||
        (st = kh_h5_series_append(f, "/train/epoch_seconds", &c->seconds, 0, 0,
                                  "s|the epoch added: its minibatches and error counts (those "
                                  "not hidden behind the next epoch's minibatches)@train_epoch")) !=
            KH_OK ||
        (st = checkpoint(f, c)) != KH_OK) {
        return st;
    }
    res->seconds_readout = before + kh_wall_seconds() - t0;
    return KH_OK;
}

/* The readout's epochs from `start` on. The minibatches run on this thread
 * with one BLAS thread. With two threads or more (solver.threads, or when
 * that is 0 OpenBLAS's count: the machine's cores, or OPENBLAS_NUM_THREADS /
 * OMP_NUM_THREADS), an epoch's error counts run on the others beside the
 * next epoch's minibatches, at the S the epoch ended with, and the epoch is
 * recorded once they are done (the last epoch counts on all threads). S, the
 * errors and the record are the same either way: the counts only read S. */
static int readout(trainer *t, const kh_params *p, kh_h5 *f, double beta, long start, long adam_t,
                   const volatile sig_atomic_t *stop, kh_progress_fn progress, void *pctx,
                   kh_train_result *res)
{
    const long N = t->train.n_samples, E = p->tr_epochs, M = t->M;
    const long B = p->tr_batch < N ? p->tr_batch : N, CM = N_CLASSES * M;
    const int blas_threads = openblas_get_num_threads();
    const int want = p->threads > 0 ? (int)p->threads : blas_threads;
    const int threads = want < MAX_COUNTERS ? want : MAX_COUNTERS;
    const int overlap = threads > 1;
    epoch_end ends[2];
    if (epoch_end_alloc(&ends[0], t, beta, threads) != 0) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the readout's error counts");
    }
    if (epoch_end_alloc(&ends[1], t, beta, threads) != 0) {
        epoch_end_free(&ends[0]);
        return KH_ERROR(KH_ENOMEM, "cannot allocate the readout's error counts");
    }
    /* Every BLAS call in its caller's thread: two callers sharing
     * OpenBLAS's pool of two threads made an epoch 0.53 s instead of 0.32 s
     * (m = 2000, MNIST, 2 cores), slower than the counts in line (0.38 s).
     * The count set here is OpenBLAS's, for the readout only, and restored
     * at its end (STYLE 9 leaves thread counts to main; this one is the
     * readout's schedule, not a user's setting). */
    openblas_set_num_threads(1);
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->tr_seed, 5);
    for (long e = 0; e < start; e++) {
        kh_sim_shuffle(t->order, N, &rng);
    }
    double last_report = kh_wall_seconds(), t0 = kh_wall_seconds();
    const double before = res->seconds_readout; /* earlier parts of a resumed readout */
    epoch_end *pending = NULL;                  /* the epoch whose counts are running */
    int st = KH_OK;
    kh_lr_schedule lrs;
    if ((st = kh_lr_schedule_parse(p->tr_lr_schedule, &lrs)) != KH_OK) {
        return st;
    }
    for (long e = start; e < E && st == KH_OK; e++) {
        const double lr = kh_lr_at(&lrs, p->tr_lr, e, E), e0 = kh_wall_seconds();
        kh_sim_shuffle(t->order, N, &rng);
        double loss = 0.0;
        for (long b0 = 0; b0 < N; b0 += B) {
            if (stop && *stop) {
                st = KH_ERROR(KH_EINTR, "interrupted in readout epoch %ld", e + 1);
                break;
            }
            const long nb = N - b0 < B ? N - b0 : B;
            for (long b = 0; b < nb; b++) {
                const long j = t->order[b0 + b];
                kh_hrows_copy(t->Hb, b, t->Htr, j, M);
                t->lb[b] = t->train.labels[j];
            }
            loss += kh_readout_loss(t->S, N_CLASSES, M, beta, p->tr_loss_power, t->Hb, t->lb, nb,
                                    t->G, &t->w);
            kh_adam_step(t->S, t->G, t->m1, t->m2, CM, ++adam_t, lr, p->tr_adam_b1, p->tr_adam_b2,
                         p->tr_adam_eps);
            if (progress && kh_wall_seconds() - last_report > kh_progress_seconds()) {
                /* The error of the last recorded epoch, which lags the one
                 * training while its counts run beside it: it says which. */
                char line[200], err[64] = "-";
                if (res->test_error >= 0) {
                    snprintf(err, sizeof err, "%.2f %% at epoch %ld", 100.0 * res->test_error,
                             res->epochs);
                }
                snprintf(line, sizeof line, "readout epoch %ld/%ld  %s error %s", e + 1, E,
                         kh_train_measure_name(p), err);
                progress(pctx, (double)e / (double)E + (double)b0 / (double)N / (double)E, line);
                last_report = kh_wall_seconds();
            }
        }
        if (st == KH_OK && !isfinite(loss)) {
            st = KH_ERROR(KH_ESOLVER,
                          "readout epoch %ld: the loss is not finite (%g): the features or "
                          "the readout diverged (train.power, train.beta, train.lr?)",
                          e + 1, loss);
        }
        if (st != KH_OK) {
            break;
        }
        epoch_end *c = pending == &ends[0] ? &ends[1] : &ends[0];
        memcpy(c->S, t->S, (size_t)CM * sizeof(double));
        memcpy(c->m1, t->m1, (size_t)CM * sizeof(double));
        memcpy(c->m2, t->m2, (size_t)CM * sizeof(double));
        c->adam_t = adam_t;
        c->epoch = e;
        c->loss = loss;
        c->lr = lr;
        c->seconds = kh_wall_seconds() - e0;
        if (pending) {
            st = record_epoch(f, pending, res, before, t0);
            pending = NULL;
            if (st != KH_OK) {
                break;
            }
        }
        c->threads = threads - 1;
        if (overlap && e + 1 < E && pthread_create(&c->thread, NULL, count_errors, c) == 0) {
            c->running = 1;
            pending = c;
            continue;
        }
        const double w0 = kh_wall_seconds();
        c->threads = threads;
        count_errors(c);
        c->seconds += kh_wall_seconds() - w0;
        st = record_epoch(f, c, res, before, t0);
    }
    if (pending) {
        /* Stopped in the epoch after it: the last whole epoch is recorded. */
        int s2 = record_epoch(f, pending, res, before, t0);
        st = st == KH_OK ? s2 : st;
    }
    openblas_set_num_threads(blas_threads);
    epoch_end_free(&ends[0]);
    epoch_end_free(&ends[1]);
    return st;
}

static int write_hyper(kh_h5 *f, const kh_params *p, double beta, const trainer *t)
{
    static const char *const feat[] = {"learned", "random", "pixels", "file", "backprop", "conv"};
    struct {
        const char *name;
        double x;
    } a[] = {
        {"power_n", p->tr_power},
        {"loss_power_m", p->tr_loss_power},
        {"beta", beta},
        {"beta_scale", p->tr_beta_scale},
        {"lr", p->tr_lr},
        {"epochs", (double)p->tr_epochs},
        {"batch", (double)p->tr_batch},
        {"seed", (double)p->tr_seed},
        {"adam_beta1", p->tr_adam_b1},
        {"adam_beta2", p->tr_adam_b2},
        {"adam_eps", p->tr_adam_eps},
        {"train_samples", (double)t->train.n_samples},
        {"test_samples", (double)t->test.n_samples},
        {"test_first", (double)held_out_first(p)},
        {"features_per_sample", (double)t->M},
    };
    int st = KH_OK;
    for (size_t i = 0; i < sizeof a / sizeof a[0] && st == KH_OK; i++) {
        st = kh_h5_set_attr(f, "/train", a[i].name, a[i].x, NULL);
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/train", "features", 0.0, feat[p->tr_features]);
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/train", "measure", 0.0,
                            p->tr_measure == KH_MEASURE_VALIDATION
                                ? "validation: test_error is measured on the training file's "
                                  "digits from test_first on, which neither phase trained on"
                                : "test: test_error is measured on the t10k digits");
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/train", "beta_auto", 0.0,
                            p->tr_beta > 0.0 ? "no (train.beta)"
                            : p->tr_beta_auto == KH_BETA_DIGIT
                                ? "digit: c = tanh(beta S h / max_mu h_mu) for each digit"
                                : "set: beta = beta_scale / mean over digits of max_mu h_mu");
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/train", "precision", 0.0, t->Htr.single ? "float" : "double");
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/train", "lr_schedule", 0.0,
                            "lr until epochs/3, then x0.5, x0.1, x0.05, x0.01 every epochs/6");
    }
    return st;
}

/* train.fgsm_eps: the trained classifier (W [m, n], S) under FGSM on the
 * held-out digits, into /fgsm/eps and /fgsm/accuracy. beta as the readout
 * used it: per digit, or the one value `beta`. */
static int measure_fgsm(kh_h5 *f, const kh_params *p, const double *W, const double *S, long m,
                        long n, double beta, const kh_dataset *test)
{
    double eps[32], acc[32];
    int K = 0;
    int st = kh_parse_fractions(p->tr_fgsm_eps, "train.fgsm_eps", eps, 32, &K);
    if (st != KH_OK || K == 0) {
        return st;
    }
    const int per_digit = p->tr_beta <= 0.0 && p->tr_beta_auto == KH_BETA_DIGIT;
    for (int k = 0; k < K; k++) {
        acc[k] = kh_readout_fgsm_accuracy(
            W, S, N_CLASSES, m, n, p->tr_power, per_digit ? p->tr_beta_scale : beta, per_digit,
            p->tr_loss_power, test->x, test->labels, test->n_samples, eps[k]);
        if (acc[k] < 0.0) {
            return KH_ERROR(KH_ENOMEM, "cannot allocate the FGSM scratch");
        }
    }
    const long dk[1] = {K};
    st = kh_h5_overwrite(f, "/fgsm/eps", eps, 1, dk, 0,
                         "1|FGSM strengths: x' = clip(x + eps sign(dL/dx), 0, 1)@eps");
    if (st == KH_OK) {
        st = kh_h5_overwrite(f, "/fgsm/accuracy", acc, 1, dk, 0,
                             "fraction|held-out digits classified right under FGSM at each eps "
                             "(the loss sum |c - t|^m, beta held fixed)@eps");
    }
    return st;
}

/* The end of a training's record: each phase's seconds, the final test
 * error, the status (complete, interrupted or failed with the message of
 * st) and the close. Returns st, or the first error of these writes. */
static int finish_record(kh_h5 *f, int st, const kh_train_result *res)
{
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
    int s2 = kh_h5_set_attr(f, "/train", "seconds_unsupervised", res->seconds_unsupervised, NULL);
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(f, "/train", "seconds_features", res->seconds_features, NULL);
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(f, "/train", "seconds_readout", res->seconds_readout, NULL);
    }
    if (s2 == KH_OK && res->test_error >= 0) {
        s2 = kh_h5_set_attr(f, "/train", "test_error_final", res->test_error, NULL);
    }
    return kh_h5_end(f, st, msg, s2);
}

/* train.features = backprop: W (from W(0) of the study) and S trained
 * together by backpropagation (cmd/kh_backprop.c), into a record of its
 * own. Takes t's data sets. */
static int run_backprop(kh_config *c, const char *overrides, int resume, trainer *t,
                        const volatile sig_atomic_t *stop, kh_progress_fn progress, void *pctx,
                        kh_train_result *res)
{
    kh_params *p = &c->p;
    const long m = p->n_hidden, n = p->n_visible, N = t->train.n_samples;
    if (resume) {
        return KH_ERROR(KH_ENOTSUP, "train.features = backprop does not resume: run it again");
    }
    kh_backprop bp;
    int st = kh_backprop_alloc(&bp, m, n, p->tr_batch < N ? p->tr_batch : N);
    if (st != KH_OK) {
        return st;
    }
    if ((st = kh_sim_init_weights(p, bp.W)) != KH_OK || (st = kh_sim_check_output(c, 0)) != KH_OK) {
        kh_backprop_free(&bp);
        return st;
    }
    kh_h5 *f = kh_h5_create_rw(p->out_path, c, "khsim train: end-to-end backpropagation baseline",
                               overrides, m, n);
    if (!f) {
        kh_backprop_free(&bp);
        return KH_EIO;
    }
    t->M = m;
    st = write_hyper(f, p, p->tr_beta > 0.0 ? p->tr_beta : p->tr_beta_scale, t);
    if (st == KH_OK) {
        st = kh_h5_set_status(f, "running", "");
    }
    if (st == KH_OK) {
        st = kh_backprop_train(&bp, p, &t->train, &t->test, f, stop, progress, pctx, res);
    }
    if (st == KH_OK) {
        st = measure_fgsm(f, p, bp.W, bp.S, m, n, p->tr_beta > 0.0 ? p->tr_beta : p->tr_beta_scale,
                          &t->test);
    }
    kh_backprop_free(&bp);
    return finish_record(f, st, res);
}

/* train.features = conv: the layers of the khsim conv record init.path
 * names, cut to train.conv_layers. */
static int read_conv(trainer *t, const kh_params *p, long n)
{
    int st = p->init_path[0] ? kh_conv_net_read(p->init_path, n, &t->net)
                             : KH_ERROR(KH_EINVAL, "train.features = conv reads the layers of the "
                                                   "khsim conv record init.path names: set "
                                                   "init.path");
    if (st == KH_OK && p->tr_conv_layers > t->net.layers) {
        st = KH_ERROR(KH_EINVAL, "train.conv_layers = %ld: %s has %d layers", p->tr_conv_layers,
                      p->init_path, t->net.layers);
    }
    if (st == KH_OK && p->tr_conv_layers > 0) {
        t->net.layers = (int)p->tr_conv_layers; /* kh_conv_net_free frees every W */
    }
    return st;
}

/* The trainer's arrays for t->M features per sample of the loaded sets. */
static int trainer_alloc(trainer *t, const kh_params *p, long m, long n)
{
    const long N = t->train.n_samples, Nt = t->test.n_samples;
    const long M = t->M, B = p->tr_batch < N ? p->tr_batch : N, CM = N_CLASSES * M;
    /* solver.precision = float: H (computed in double, stored rounded) and
     * the readout's products in float too (S, its gradient and Adam stay
     * double). */
    const int single = p->precision == KH_PREC_FLOAT;
    const size_t hsize = single ? sizeof(float) : sizeof(double);
    t->W = kh_big_zalloc((size_t)(m * n), sizeof(double));
    t->Htr = (kh_hrows){malloc((size_t)(N * M) * hsize), single};
    t->Hte = (kh_hrows){malloc((size_t)(Nt * M) * hsize), single};
    t->Hb = (kh_hrows){malloc((size_t)(B * M) * hsize), single};
    t->S = calloc((size_t)CM, sizeof(double));
    t->G = malloc((size_t)CM * sizeof(double));
    t->m1 = calloc((size_t)CM, sizeof(double));
    t->m2 = calloc((size_t)CM, sizeof(double));
    t->order = malloc((size_t)N * sizeof(long));
    t->lb = malloc((size_t)B * sizeof(long));
    if (!t->W || !t->Htr.x || !t->Hte.x || !t->Hb.x || !t->S || !t->G || !t->m1 || !t->m2 ||
        !t->order || !t->lb || kh_readout_work_alloc(&t->w, N_CLASSES, M, B, single) != 0) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate khsim train's features (%ld x %ld)", N + Nt, M);
    }
    return KH_OK;
}

/* A resumed training's state: the phases' seconds so far and, when the
 * readout recorded epochs, S, Adam's moments and step count and the errors
 * of the last epoch. */
static int resume_state(trainer *t, const kh_params *p, long CM, kh_train_result *res, long *start,
                        long *adam_t, int *have_record)
{
    int st = KH_OK;
    kh_h5 *f = kh_h5_open_rw(p->out_path);
    if (!f) {
        return KH_EIO;
    }
    *start = kh_h5_length(f, "/train/test_error");
    *have_record = kh_h5_length(f, "/snapshots/W") > 0;
    /* The phases' seconds add up over the parts of a resumed training.
     * A stop in the unsupervised phase left no /train yet: its time so
     * far is the fast rule's in /solver. */
    if (!kh_h5_get_attr(f, "/train", "seconds_unsupervised", &res->seconds_unsupervised) &&
        p->tr_features == KH_FEAT_LEARNED) {
        kh_h5_get_attr(f, "/solver", "wall_seconds", &res->seconds_unsupervised);
    }
    kh_h5_get_attr(f, "/train", "seconds_features", &res->seconds_features);
    kh_h5_get_attr(f, "/train", "seconds_readout", &res->seconds_readout);
    kh_h5_close(f);
    if (*start > 0) {
        double at = 0.0;
        double *arr[3] = {NULL, NULL, NULL};
        double *dst[3] = {t->S, t->m1, t->m2};
        const char *name[3] = {"/train/S", "/train/adam_m1", "/train/adam_m2"};
        st = kh_h5_read_attr_double(p->out_path, "/train", "adam_t", &at);
        for (int i = 0; i < 3 && st == KH_OK; i++) {
            int rank;
            long dims[3];
            st = kh_h5_read(p->out_path, name[i], &arr[i], &rank, dims);
            if (st == KH_OK && (rank != 2 || dims[0] * dims[1] != CM)) {
                st = KH_ERROR(KH_EIO, "%s: %s is not [%d, %ld]", p->out_path, name[i], N_CLASSES,
                              t->M);
            }
            if (st == KH_OK) {
                memcpy(dst[i], arr[i], (size_t)CM * sizeof(double));
            }
        }
        for (int i = 0; i < 3; i++) {
            free(arr[i]);
        }
        *adam_t = (long)at;
        /* The errors of the last recorded epoch: the result as it
         * stands, and all of it when the readout had already ended. */
        const char *err_name[2] = {"/train/train_error", "/train/test_error"};
        double *err_dst[2] = {&res->train_error, &res->test_error};
        for (int i = 0; i < 2 && st == KH_OK; i++) {
            double *e = NULL;
            int rank;
            long dims[3];
            st = kh_h5_read(p->out_path, err_name[i], &e, &rank, dims);
            if (st == KH_OK && dims[0] >= *start) {
                *err_dst[i] = e[*start - 1];
            }
            free(e);
        }
        res->epochs = *start;
    }
    return st;
}

int kh_train_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                 kh_progress_fn progress, void *pctx, kh_train_result *res)
{
    kh_params *p = &c->p;
    memset(res, 0, sizeof *res);
    res->test_error = res->train_error = -1.0;
    if (p->tr_features != KH_FEAT_CONV && (!(kh_method_caps(p->method) & KH_SOLVER_NOT_ODE) ||
                                           !kh_model_has(p->model, KH_MODEL_FAST_RULE))) {
        return KH_ERROR(KH_EINVAL, "khsim train learns W with the fast rule: it needs "
                                   "solver.method = fast and network.model = krotov_hopfield");
    }
    if (p->source != KH_SRC_MNIST && p->source != KH_SRC_CIFAR10) {
        return KH_ERROR(KH_EINVAL, "khsim train needs labelled images: input.source = mnist "
                                   "or cifar10");
    }
    {
        /* A bad train.fgsm_eps is refused now, not after the training. */
        double eps[32];
        int K;
        int s0 = kh_parse_fractions(p->tr_fgsm_eps, "train.fgsm_eps", eps, 32, &K);
        if (s0 != KH_OK) {
            return s0;
        }
        if (K > 0 && (p->tr_features == KH_FEAT_PIXELS || p->tr_features == KH_FEAT_CONV)) {
            return KH_ERROR(KH_EINVAL, "train.fgsm_eps attacks a W: not with train.features = "
                                       "pixels or conv");
        }
    }
    trainer t;
    memset(&t, 0, sizeof t);
    int st = kh_data_load(p, &t.train);
    if (st == KH_OK && !t.train.labels) {
        st = KH_ERROR(KH_EINVAL, "input.path = %s: no training labels", p->input_path);
    }
    if (st == KH_OK) {
        st = load_test(p, &t.test);
    }
    if (st != KH_OK) {
        trainer_free(&t);
        return st;
    }
    p->n_visible = t.train.n_features;
    const long m = p->n_hidden, n = p->n_visible;
    if (t.test.n_features != n) {
        trainer_free(&t);
        return KH_ERROR(KH_EINVAL, "the test digits have %ld inputs, the training digits %ld",
                        t.test.n_features, n);
    }
    t.n = n;
    if (p->tr_features == KH_FEAT_BACKPROP) {
        st = run_backprop(c, overrides, resume, &t, stop, progress, pctx, res);
        trainer_free(&t);
        return st;
    }
    if (p->tr_features == KH_FEAT_CONV && (st = read_conv(&t, p, n)) != KH_OK) {
        trainer_free(&t);
        return st;
    }
    t.M = p->tr_features == KH_FEAT_PIXELS ? n
          : p->tr_features == KH_FEAT_CONV ? kh_conv_net_out_len(&t.net)
                                           : m;
    const long M = t.M, CM = N_CLASSES * M;
    if ((st = trainer_alloc(&t, p, m, n)) != KH_OK) {
        trainer_free(&t);
        return st;
    }
    /* What a resumed readout continues from: the epochs it recorded. */
    long start = 0, adam_t = 0;
    int have_record = 0;
    if (resume) {
        st = resume_state(&t, p, CM, res, &start, &adam_t, &have_record);
    }
    if (st == KH_OK && resume && !have_record) {
        st = KH_ERROR(KH_EINVAL, "%s: nothing to resume (no snapshots)", p->out_path);
    }
    if (st != KH_OK) {
        trainer_free(&t);
        return st;
    }
    if (!resume && p->tr_features != KH_FEAT_LEARNED) {
        /* The baselines have no unsupervised phase: a record with W alone. */
        if ((st = kh_sim_check_output(c, 0)) != KH_OK) {
            trainer_free(&t);
            return st;
        }
        kh_h5 *f = kh_h5_create(p->out_path, c, "khsim train: readout baseline", overrides, m, n);
        if (!f) {
            trainer_free(&t);
            return KH_EIO;
        }
        kh_h5_close(f);
    }
    /* Phase 1 on resume continues the fast rule only when it is unfinished. */
    st = features(&t, c, overrides, resume, stop, progress, pctx, &res->seconds_unsupervised,
                  &res->seconds_features);
    if (st != KH_OK) {
        trainer_free(&t);
        return st;
    }
    const double beta = readout_beta(&t, p);
    kh_h5 *f = kh_h5_open_rw(p->out_path);
    if (!f) {
        trainer_free(&t);
        return KH_EIO;
    }
    const long dW[2] = {m, n};
    st = write_hyper(f, p, beta, &t);
    if (st == KH_OK && p->tr_features != KH_FEAT_PIXELS && p->tr_features != KH_FEAT_CONV) {
        st = kh_h5_overwrite(f, "/train/W", t.W, 2, dW, 0,
                             "weight|the frozen W the features come from@unit,input");
    }
    if (st == KH_OK) {
        st = kh_h5_set_status(f, "running", "");
    }
    if (st == KH_OK) {
        /* A record cut inside an epoch keeps only whole epochs. */
        const char *series[] = {"/train/train_error", "/train/test_error", "/train/loss",
                                "/train/lr", "/train/epoch_seconds"};
        for (size_t i = 0; i < sizeof series / sizeof series[0] && st == KH_OK; i++) {
            st = kh_h5_truncate(f, series[i], start);
        }
    }
    if (st == KH_OK) {
        st = readout(&t, p, f, beta, start, adam_t, stop, progress, pctx, res);
    }
    if (st == KH_OK && p->tr_features != KH_FEAT_PIXELS && p->tr_features != KH_FEAT_CONV) {
        st = measure_fgsm(f, p, t.W, t.S, m, n, beta, &t.test);
    }
    trainer_free(&t);
    return finish_record(f, st, res);
}
