/* The run loop of method = fast: epochs of shuffled minibatches through the
 * fast rule (solvers/fast.c), recorded in the layout of docs/record.md
 * plus /epochs and /fast (docs/fast_rule.md, "The fast rule's record").
 *
 * Model time: each sample stands for one presentation of length
 * input.presentation_time, so after c samples t = c presentation_time.
 * /input/v holds the data set once, in data order (row j: t_start = j T);
 * /fast/order [epochs, N] holds each epoch's sample order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_mem.h"
#include "core/kh_rng.h"
#include "core/kh_threads.h"
#include "gpu/kh_gpu.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "models/kh_model.h"
#include "run/kh_sim.h"
#include "solvers/kh_backend.h"

void kh_sim_shuffle(long *order, long N, kh_rng *r)
{
    for (long i = 0; i < N; i++) {
        order[i] = i;
    }
    for (long i = N - 1; i > 0; i--) {
        long j = (long)(kh_rng_uniform(r) * (double)(i + 1));
        long tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

typedef struct fast_run {
    kh_dataset data;
    const kh_learner_backend *be; /* the CPU's learner, or the GPU's (solver.device) */
    void *L;
    kh_h5 *h5;
    double *W, *cur, *act, *B, *tbuf;
    long *order;
    long m, n;
} fast_run;

static void fast_run_free(fast_run *r)
{
    if (r->be && r->L) {
        r->be->release(r->L);
    }
    kh_dataset_release(&r->data);
    free(r->W);
    free(r->cur);
    free(r->act);
    free(r->B);
    free(r->tbuf);
    free(r->order);
}

/* The weights as double [m, n]. */
static int get_W(fast_run *r, double *W)
{
    return r->be->get_W(r->L, W);
}

/* One minibatch; the operations it took into *flops. */
static int step(fast_run *r, const long *idx, long nb, double eps, double *flops)
{
    int st = r->be->step(r->L, idx, nb, eps);
    *flops += r->be->flops ? r->be->flops(r->L) : 2.0 * (double)nb * (double)r->m * (double)r->n;
    return st;
}

/* One /trajectory row for sample b of the last minibatch: its currents, the
 * activities its code came from (h), B (into r->B, which record_epoch uses)
 * and L = sum G(Q) at that sample. r->W holds the weights reached. */
static int record_row(fast_run *r, const kh_params *p, double t, long b, long sample)
{
    const long m = p->n_hidden;
    if (!r->be->last) {
        /* A learner that keeps no per-sample record (the GPU's): the
         * currents of the sample at the weights reached, on the host. */
        const long n = p->n_visible;
        const double *v = r->data.x + (size_t)sample * (size_t)n;
        for (long mu = 0; mu < m; mu++) {
            kh_row_moments(r->W + (size_t)mu * (size_t)n, v, n, p->p - 2.0,
                           kh_int_exponent(p->p - 2.0), &r->cur[mu], &r->B[mu], NULL);
            r->act[mu] = r->cur[mu];
        }
    } else {
        r->be->last(r->L, b, r->cur, r->act, r->B);
    }
    double L = 0.0;
    for (long mu = 0; mu < m; mu++) {
        double Q = kh_q(r->cur[mu], r->B[mu], p->p);
        L += kh_G(p->g, Q, p->delta, p->h_star, p->g_n);
    }
    return kh_h5_append_row(r->h5, t, r->act, r->cur, r->B, L, NAN, sample);
}

/* The per-epoch record: eps, the fraction of units that won at least once,
 * the mean and max |B - R^p| (from r->B, left by record_row), the epoch's
 * wall time. */
static int record_epoch(fast_run *r, const kh_params *p, double eps, double seconds)
{
    const long m = p->n_hidden;
    const double Rp = pow(p->R, p->p);
    long winners = 0;
    int st = r->be->winners(r->L, 1, &winners);
    if (st != KH_OK) {
        return st;
    }
    double mean = 0.0, mx = 0.0;
    for (long mu = 0; mu < m; mu++) {
        double d = fabs(r->B[mu] - Rp);
        mean += d;
        mx = d > mx ? d : mx;
    }
    mean /= (double)m;
    double won = (double)winners / (double)m;
    int s;
    if ((s = kh_h5_series_append(r->h5, "/epochs/eps", &eps, 0, 0,
                                 "1|the learning rate of each epoch@epoch")) != KH_OK ||
        (s = kh_h5_series_append(r->h5, "/epochs/won_fraction", &won, 0, 0,
                                 "fraction|the units that won at least one sample@epoch")) !=
            KH_OK ||
        (s = kh_h5_series_append(r->h5, "/epochs/sphere_dev_mean", &mean, 0, 0,
                                 "weight^p|mean over units of |B_mu - R^p|@epoch")) != KH_OK ||
        (s = kh_h5_series_append(r->h5, "/epochs/sphere_dev_max", &mx, 0, 0,
                                 "weight^p|max over units of |B_mu - R^p|@epoch")) != KH_OK ||
        (s = kh_h5_series_append(r->h5, "/epochs/wall_seconds", &seconds, 0, 0,
                                 "s|wall time of the epoch@epoch")) != KH_OK) {
        return s;
    }
    return KH_OK;
}

static int train(fast_run *r, const kh_params *p, const volatile sig_atomic_t *stop,
                 kh_progress_fn progress, void *pctx, kh_sim_result *res, long start)
{
    const long N = r->data.n_samples, nb_max = p->batch, E = p->epochs;
    const long per_epoch = (N + nb_max - 1) / nb_max;
    const double T = p->presentation_time;
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->input_seed, 3);
    /* A resumed run replays the orders of the epochs done, so that epoch e
     * sees the order an uninterrupted run gives it. */
    for (long e = 0; e < start; e++) {
        kh_sim_shuffle(r->order, N, &rng);
    }
    double last_report = kh_wall_seconds();
    long batches = start * per_epoch, samples = start * N;
    /* The counters are this call's work (kh_h5_write_solver adds the
     * earlier parts'); presentations and t_end are the run's position. */
    const long batches0 = batches, samples0 = samples;
    res->epochs = start;
    res->t_end = (double)samples * T;
    /* The thread count follows the samples done per second (kh_threads.h). */
    kh_threads threads;
    kh_threads_start(&threads, p->threads, (double)r->m * (double)r->n * (double)nb_max);
    int st = KH_OK;
    for (long e = start; e < E && st == KH_OK; e++) {
        const double eps = p->eps0 * (1.0 - (double)e / (double)E);
        const double t0 = kh_wall_seconds();
        kh_sim_shuffle(r->order, N, &rng);
        if ((st = kh_h5_series_append(
                 r->h5, "/fast/order", r->order, N, 1,
                 "index|rows of /input/v, in the order of each epoch@epoch,sample")) != KH_OK) {
            break;
        }
        long nb = 0, b0 = 0;
        const int whole = r->be->epoch && p->snapshot_batches == 0;
        if (whole) {
            /* A whole epoch at once (the GPU: no host round trip per minibatch). */
            if ((st = r->be->epoch(r->L, r->order, eps)) != KH_OK) {
                break;
            }
            b0 = (per_epoch - 1) * nb_max;
            nb = N - b0;
            batches += per_epoch;
            samples += N;
            res->flops += 2.0 * (double)N * (double)r->m * (double)r->n;
            res->presentations = samples;
            res->stats.steps = batches - batches0;
            res->stats.rhs_evals = samples - samples0;
            res->t_end = (double)samples * T;
        }
        for (long i = 0; i < per_epoch && !whole; i++) {
            if (stop && *stop) {
                st = KH_ERROR(KH_EINTR, "interrupted in epoch %ld at minibatch %ld", e + 1, i);
                break;
            }
            b0 = i * nb_max;
            nb = N - b0 < nb_max ? N - b0 : nb_max;
            if ((st = step(r, r->order + b0, nb, eps, &res->flops)) != KH_OK) {
                break;
            }
            batches++;
            samples += nb;
            kh_threads_tick(&threads, (double)samples);
            res->presentations = samples;
            res->stats.steps = batches - batches0;
            res->stats.rhs_evals = samples - samples0;
            res->t_end = (double)samples * T;
            if (p->snapshot_batches > 0 && batches % p->snapshot_batches == 0) {
                if ((st = get_W(r, r->W)) != KH_OK) {
                    break;
                }
                if ((st = kh_h5_append_snapshot(r->h5, (double)samples * T, r->W)) != KH_OK) {
                    break;
                }
                res->snapshots++;
            }
            if (progress && kh_wall_seconds() - last_report > kh_progress_seconds()) {
                char line[160];
                snprintf(line, sizeof line, "epoch %ld/%ld  minibatch %ld/%ld", e + 1, E, i + 1,
                         per_epoch);
                progress(pctx, (double)(e * per_epoch + i + 1) / (double)(E * per_epoch), line);
                last_report = kh_wall_seconds();
            }
        }
        if (st != KH_OK) {
            break;
        }
        const double t = (double)samples * T;
        /* The weights are fetched once per epoch, for the row, B and the snapshot. */
        if ((st = get_W(r, r->W)) != KH_OK ||
            (st = record_row(r, p, t, nb - 1, r->order[b0 + nb - 1])) != KH_OK ||
            (st = record_epoch(r, p, eps, kh_wall_seconds() - t0)) != KH_OK) {
            break;
        }
        res->rows++;
        res->epochs = e + 1;
        if (p->snapshot_batches == 0) {
            if ((st = kh_h5_append_snapshot(r->h5, t, r->W)) != KH_OK) {
                break;
            }
            res->snapshots++;
        } else if ((st = kh_h5_flush(r->h5)) != KH_OK) {
            break;
        }
        res->t_end = t;
    }
    kh_threads_stop(&threads);
    /* The final W, when the last snapshot is older. */
    if (st == KH_OK && p->snapshot_batches > 0 && batches % p->snapshot_batches != 0 &&
        (st = get_W(r, r->W)) == KH_OK) {
        if ((st = kh_h5_append_snapshot(r->h5, (double)samples * T, r->W)) == KH_OK) {
            res->snapshots++;
        }
    }
    return st;
}

/* The CPU's learner, or the GPU's where solver.device asks for it and one is
 * there (solvers/kh_backend.h). */
static int choose_learner(fast_run *r, const kh_params *p, long N, long nb, kh_sim_result *res)
{
    snprintf(res->device, sizeof res->device, "cpu");
    if (p->device != KH_DEV_CPU) {
        const kh_learner_backend *gpu = kh_gpu_learner_backend();
        char name[256] = "", why[1024] = "";
        double mem;
        int ma, mi;
        int st = gpu ? kh_gpu_probe(name, sizeof name, &mem, &ma, &mi)
                     : KH_ERROR(KH_ENOTSUP, "this khsim was built without CUDA (make gpu)");
        if (st == KH_OK) {
            st = gpu->usable(p);
        }
        if (st == KH_OK) {
            r->L = gpu->alloc(p, r->data.x, N, r->W, nb);
            st = r->L ? KH_OK : kh_errcode();
        }
        if (st == KH_OK) {
            r->be = gpu;
            snprintf(res->device, sizeof res->device, "cuda: %s", name);
            return KH_OK;
        }
        snprintf(why, sizeof why, "%s", kh_errmsg());
        if (p->device == KH_DEV_CUDA) {
            return KH_ERROR(KH_ENOTSUP, "solver.device = cuda: %s", why);
        }
        snprintf(res->device, sizeof res->device, "cpu (device = auto: %.280s)", why);
    }
    r->be = &kh_fast_cpu_backend;
    r->L = r->be->alloc(p, r->data.x, N, r->W, nb);
    return r->L ? KH_OK : kh_errcode();
}

/* The epochs a record holds complete (its /epochs rows), or -1 on error. */
static long epochs_done(const char *path)
{
    kh_h5 *f = kh_h5_open_rw(path);
    if (!f) {
        return -1;
    }
    long e = kh_h5_length(f, "/epochs/eps");
    kh_h5_close(f);
    return e;
}

/* Before a new run: refuses what cannot finish (more than KH_SIM_MAX_WORK
 * sample presentations, as kh_sim.c's rows and steps) or cannot fit (the snapshots
 * of W against the room on the output's file system), naming the key. */
static int check_size(const kh_params *p, long N, long m, long n)
{
    const double presentations = (double)p->epochs * (double)N;
    if (presentations > KH_SIM_MAX_WORK) {
        return KH_ERROR(KH_EINVAL,
                        "learning.epochs = %ld over %ld samples gives %.3g presentations: it "
                        "cannot finish (make learning.epochs smaller)",
                        p->epochs, N, presentations);
    }
    const double nb = (double)(p->batch < N ? p->batch : N);
    const double snaps =
        p->snapshot_batches == 0
            ? (double)p->epochs + 1.0
            : floor((double)p->epochs * ceil((double)N / nb) / (double)p->snapshot_batches) + 2.0;
    const double bytes = snaps * (double)m * (double)n *
                         (p->precision == KH_PREC_FLOAT ? 4.0 : 8.0) *
                         (p->compress_snapshots ? 0.5 : 1.0);
    char dir[KH_PATH_MAX];
    const double room = kh_sim_output_room(p->out_path, dir, sizeof dir);
    if (bytes > room) {
        return KH_ERROR(KH_EINVAL,
                        "the record needs about %.3g GB (%.3g snapshots of W) and %s has "
                        "%.3g GB free: make learning.epochs smaller or "
                        "output.snapshot_batches larger",
                        bytes / 1e9, snaps, dir, room / 1e9);
    }
    return KH_OK;
}

/* The data, the buffers, W(0) (or, resuming, the weights after the last
 * complete epoch, whose count goes to *start) and the learner. */
static int plan_run(fast_run *r, kh_config *c, int resume, long *start, kh_sim_result *res)
{
    kh_params *p = &c->p;
    int st = kh_data_load(p, &r->data);
    if (st != KH_OK) {
        return st;
    }
    p->n_visible = r->data.n_features;
    const long m = p->n_hidden, n = p->n_visible, N = r->data.n_samples;
    if (!resume && (st = check_size(p, N, m, n)) != KH_OK) {
        return st;
    }
    r->W = kh_big_alloc((size_t)m * (size_t)n, sizeof(double));
    r->cur = malloc((size_t)m * sizeof(double));
    r->act = malloc((size_t)m * sizeof(double));
    r->B = malloc((size_t)m * sizeof(double));
    r->tbuf = malloc(2 * (size_t)N * sizeof(double));
    r->order = malloc((size_t)N * sizeof(long));
    if (!r->W || !r->cur || !r->act || !r->B || !r->tbuf || !r->order) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the fast rule's run");
    }
    *start = 0;
    if (resume) {
        if (p->snapshot_batches != 0) {
            return KH_ERROR(KH_EINVAL,
                            "%s: a fast run resumes at an epoch's end: it needs "
                            "output.snapshot_batches = 0",
                            p->out_path);
        }
        if ((*start = epochs_done(p->out_path)) < 0) {
            return KH_EIO;
        }
        /* Row 0 is W(0), row e the weights after epoch e. */
        st = kh_h5_read_row(p->out_path, "/snapshots/W", *start, r->W, m * n);
    } else {
        st = kh_sim_init_weights(p, r->W);
    }
    if (st != KH_OK) {
        return st;
    }
    r->m = m;
    r->n = n;
    for (long j = 0; j < N; j++) {
        r->tbuf[j] = (double)j * p->presentation_time;
        r->tbuf[N + j] = (double)(j + 1) * p->presentation_time;
    }
    const long nb = p->batch < N ? p->batch : N;
    return choose_learner(r, p, N, nb, res);
}

/* The record: a new one, or the one resumed with whatever an interrupted
 * epoch left dropped (rows, its order, the snapshot written at the stop,
 * the /epochs rows past the last). */
static int open_record(fast_run *r, kh_config *c, const char *overrides, int resume, long start)
{
    kh_params *p = &c->p;
    int st = KH_OK;
    if (!resume) {
        r->h5 = kh_h5_create(p->out_path, c, "the fast approximation (PNAS 2019, section 3)",
                             overrides, r->m, r->n);
        return r->h5 ? KH_OK : KH_EIO;
    }
    r->h5 = kh_h5_open_append(p->out_path, start, start + 1);
    const char *series[] = {"/fast/order",
                            "/epochs/eps",
                            "/epochs/won_fraction",
                            "/epochs/sphere_dev_mean",
                            "/epochs/sphere_dev_max",
                            "/epochs/wall_seconds"};
    for (size_t i = 0; r->h5 && st == KH_OK && i < sizeof series / sizeof series[0]; i++) {
        st = kh_h5_truncate(r->h5, series[i], start);
    }
    if (r->h5 && st == KH_OK) {
        st = kh_h5_set_attr(r->h5, "/solver", "resumed_at_epoch", (double)start, NULL);
    }
    if (r->h5 && st == KH_OK) {
        st = kh_h5_set_status(r->h5, "running", "");
    }
    return r->h5 ? st : (st != KH_OK ? st : KH_EIO);
}

/* The end of the record: the weights reached when the run stopped early,
 * /solver, the state and the status; then it is closed. */
static int finish_run(fast_run *r, const kh_params *p, int st, kh_sim_result *res)
{
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
    if (st != KH_OK && st != KH_EIO) {
        /* Keep the weights reached: the last snapshot row is the state at the stop. */
        if (get_W(r, r->W) == KH_OK && kh_h5_append_snapshot(r->h5, res->t_end, r->W) == KH_OK) {
            res->snapshots++;
        }
    }
    int s2 = kh_h5_write_solver(r->h5, "fast", 0.0, 0.0, &res->stats, res->wall_seconds);
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(r->h5, "/solver", "precision", 0.0,
                            p->precision == KH_PREC_FLOAT ? "float" : "double");
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(r->h5, "/solver", "flops",
                            res->flops + kh_h5_solver_prior(r->h5, "flops"), NULL);
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(r->h5, "/solver", "device", 0.0, res->device);
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_write_state(r->h5, "t", &res->t_end, 1);
    }
    st = kh_h5_end(r->h5, st, msg, s2);
    r->h5 = NULL;
    return st;
}

int kh_sim_fast_run_ex(kh_config *c, const char *overrides, int resume,
                       const volatile sig_atomic_t *stop, kh_progress_fn progress,
                       void *progress_ctx, kh_sim_result *res)
{
    kh_params *p = &c->p;
    fast_run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    if (!kh_model_has(p->model, KH_MODEL_FAST_RULE)) {
        return KH_ERROR(KH_EINVAL,
                        "solver.method = fast is the approximation of network.model = "
                        "krotov_hopfield, not of %s",
                        p->model);
    }
    long start = 0;
    int st = plan_run(&r, c, resume, &start, res);
    if (st == KH_OK) {
        st = kh_sim_check_output(c, resume);
    }
    if (st == KH_OK) {
        st = open_record(&r, c, overrides, resume, start);
    }
    if (st != KH_OK) {
        kh_h5_close(r.h5);
        fast_run_free(&r);
        return st;
    }
    const long N = r.data.n_samples;
    double t0 = kh_wall_seconds();
    if (resume) {
        res->snapshots = start + 1;
        st = train(&r, p, stop, progress, progress_ctx, res, start);
    } else {
        st = kh_h5_append_inputs(r.h5, r.data.x, N, r.tbuf, r.tbuf + N);
        if (st == KH_OK && (st = kh_h5_append_snapshot(r.h5, 0.0, r.W)) == KH_OK) {
            res->snapshots = 1;
            st = train(&r, p, stop, progress, progress_ctx, res, 0);
        }
    }
    res->wall_seconds = kh_wall_seconds() - t0;
    st = finish_run(&r, p, st, res);
    fast_run_free(&r);
    return st;
}
