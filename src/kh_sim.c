/* The run loop: one presentation after another, the solver advanced to each
 * output time, each row appended as soon as it exists. */
#include "kh_sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kh_data.h"
#include "kh_error.h"
#include "kh_h5.h"
#include "kh_rng.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int kh_sim_init_weights(const kh_params *p, double *W)
{
    const size_t mn = (size_t)p->n_hidden * (size_t)p->n_visible;
    if (p->weights == KH_INIT_FILE) {
        double *data = NULL;
        int rank = 0;
        long dims[3];
        int s = kh_h5_read(p->init_path, "/snapshots/W", &data, &rank, dims);
        if (s != KH_OK) {
            return KH_ERROR(s, "init.path: %s", kh_errmsg());
        }
        if (rank != 3 || dims[0] < 1 || dims[1] != p->n_hidden || dims[2] != p->n_visible) {
            free(data);
            return KH_ERROR(KH_EINVAL,
                            "init.path = %s: /snapshots/W has shape [%ld, %ld, %ld], "
                            "expected [S >= 1, %ld, %ld]",
                            p->init_path, dims[0], dims[1], dims[2], p->n_hidden, p->n_visible);
        }
        memcpy(W, data + (size_t)(dims[0] - 1) * mn, mn * sizeof(double));
        free(data);
        return KH_OK;
    }
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)p->init_seed, 2);
    for (size_t i = 0; i < mn; i++) {
        W[i] = p->weights == KH_INIT_NORMAL ? p->init_scale * kh_rng_normal(&r)
                                            : p->init_scale * (2.0 * kh_rng_uniform(&r) - 1.0);
    }
    return KH_OK;
}

/* Everything a run holds; released by run_free. */
typedef struct run {
    const kh_model_type *model;
    void *ws;
    kh_solver *solver;
    kh_dataset data;
    kh_h5 *h5;
    double *y, *cur, *pnorm;
    size_t dim;
} run;

static void run_free(run *r)
{
    kh_solver_free(r->solver);
    if (r->model && r->ws) {
        r->model->free(r->ws);
    }
    kh_dataset_release(&r->data);
    free(r->y);
    free(r->cur);
    free(r->pnorm);
}

/* Refuses an output path whose directory is missing or read-only before any
 * computation. */
int kh_sim_check_output_path(const char *path)
{
    char dir[KH_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        dir[1] = '\0';
    } else if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    if (access(dir, W_OK | X_OK) != 0) {
        return KH_ERROR(KH_EIO, "output.path = %s: directory %s is not writable: %s", path, dir,
                        strerror(errno));
    }
    if (access(path, F_OK) == 0 && access(path, W_OK) != 0) {
        return KH_ERROR(KH_EIO, "output.path = %s: the file exists and is not writable", path);
    }
    return KH_OK;
}

static int record(run *r, double t, long sample)
{
    kh_obs o = {r->cur, r->pnorm, NAN, NAN};
    if (r->model->observe(r->y, r->ws, &o) != 0) {
        return KH_ERROR(KH_ESOLVER,
                        "the state is not finite (NaN or Inf) at t = %.9g: the "
                        "dynamics diverge",
                        t);
    }
    return kh_h5_append_row(r->h5, t, r->y, r->cur, r->pnorm, o.L, o.dL_dt, sample);
}

/* The loop over presentations. *t and the solver state are left at the last
 * accepted state on any failure. */
static int integrate(run *r, const kh_params *p, kh_progress_fn progress, void *pctx, double *t,
                     long *n_snap, long *n_pres, const kh_sim_hooks *hooks)
{
    const long m = p->n_hidden, n = p->n_visible, N = r->data.n_samples;
    double *W = r->y + m;
    double t_total = 0.0;
    for (long s = 0; s < N; s++) {
        t_total += kh_config_presentation_time(p, s, N);
    }
    int st = kh_h5_append_snapshot(r->h5, 0.0, W);
    if (st != KH_OK) {
        return st;
    }
    *n_snap = 1;
    long next_snap = 1; /* snapshots at k * snapshot_every */
    double last_report = now_seconds();
    double t_start = 0.0;
    for (long s = 0; s < N && st == KH_OK; s++) {
        double t_end = t_start + kh_config_presentation_time(p, s, N);
        if (s == N - 1) {
            t_end = fmax(t_end, t_start);
        }
        kh_model_set_input(r->ws, r->data.x + (size_t)s * (size_t)n);
        if (s > 0 && p->reset_h) {
            memset(r->y, 0, (size_t)m * sizeof(double));
        }
        kh_solver_reset(r->solver);
        if ((st = kh_solver_start(r->solver, *t, r->y)) != KH_OK) {
            break;
        }
        if ((st = kh_h5_append_input(r->h5, r->data.x + (size_t)s * (size_t)n, t_start, t_end)) !=
                KH_OK ||
            (st = record(r, *t, s)) != KH_OK) {
            break;
        }
        *n_pres = s + 1;
        if (hooks && hooks->begin &&
            (st = hooks->begin(hooks->ctx, s, r->y, r->data.x + (size_t)s * (size_t)n)) != KH_OK) {
            break;
        }
        long k = 1;
        while (*t < t_end) {
            double t_rec = t_start + (double)k * p->record_every;
            double t_snap = (double)next_snap * p->snapshot_every;
            double target = fmin(fmin(t_rec, t_snap), t_end);
            if ((st = kh_solver_apply(r->solver, t, target, r->y)) != KH_OK) {
                break;
            }
            if (t_rec <= target && *t < t_end) {
                if ((st = record(r, *t, s)) != KH_OK) {
                    break;
                }
                k++;
            }
            if (t_snap <= target) {
                if ((st = kh_h5_append_snapshot(r->h5, *t, W)) != KH_OK) {
                    break;
                }
                (*n_snap)++;
                next_snap++;
            }
            if (progress && now_seconds() - last_report > 0.25) {
                char line[160];
                snprintf(line, sizeof line, "presentation %ld/%ld  t = %.4g / %.4g", s + 1, N, *t,
                         t_total);
                progress(pctx, t_total > 0 ? *t / t_total : 1.0, line);
                last_report = now_seconds();
            }
        }
        if (st == KH_OK && hooks && hooks->end) {
            st = hooks->end(hooks->ctx, s, r->y);
        }
        t_start = t_end;
    }
    if (st != KH_OK) {
        return st;
    }
    /* The final state, with the last sample. */
    if ((st = record(r, *t, N - 1)) != KH_OK) {
        return st;
    }
    if ((double)(next_snap - 1) * p->snapshot_every < *t) {
        if ((st = kh_h5_append_snapshot(r->h5, *t, W)) != KH_OK) {
            return st;
        }
        (*n_snap)++;
    }
    return KH_OK;
}

int kh_sim_run(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
               kh_progress_fn progress, void *progress_ctx, kh_sim_result *res)
{
    return kh_sim_run_hooked(c, overrides, stop, progress, progress_ctx, NULL, res);
}

int kh_sim_run_hooked(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
                      kh_progress_fn progress, void *progress_ctx, const kh_sim_hooks *hooks,
                      kh_sim_result *res)
{
    kh_params *p = &c->p;
    run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    int st = KH_OK;
    if (strcmp(p->method, "fast") == 0) {
        return kh_sim_fast_run(c, overrides, stop, progress, progress_ctx, res);
    }
    if (kh_sim_ens_wanted(p)) {
        if (hooks) {
            return KH_ERROR(KH_EINVAL, "khsim compare integrates one trajectory: solver.batch "
                                       "= 1, device = cpu, precision = double");
        }
        return kh_sim_ens_run(c, overrides, stop, progress, progress_ctx, res);
    }
    if (!(r.model = kh_model_find(p->model)) || !kh_solver_find(p->method)) {
        return KH_EINVAL;
    }
    if ((st = kh_data_load(p, &r.data)) != KH_OK) {
        return st;
    }
    p->n_visible = r.data.n_features;
    const long m = p->n_hidden, n = p->n_visible;
    if (!(r.ws = r.model->alloc(p))) {
        run_free(&r);
        return KH_EINVAL;
    }
    r.dim = r.model->dim(p);
    r.y = calloc(r.dim, sizeof(double));
    r.cur = calloc((size_t)m, sizeof(double));
    r.pnorm = calloc((size_t)m, sizeof(double));
    if (!r.y || !r.cur || !r.pnorm) {
        run_free(&r);
        return KH_ERROR(KH_ENOMEM, "cannot allocate a state of %zu values", r.dim);
    }
    if ((st = kh_sim_init_weights(p, r.y + m)) != KH_OK) {
        run_free(&r);
        return st;
    }
    r.solver = kh_solver_alloc(p->method, r.model, r.ws, r.dim, p, stop);
    if (!r.solver) {
        run_free(&r);
        return KH_EINVAL;
    }
    if ((st = kh_sim_check_output_path(p->out_path)) != KH_OK) {
        run_free(&r);
        return st;
    }
    r.h5 = kh_h5_create(p->out_path, c, r.model->summary, overrides, m, n);
    if (!r.h5) {
        run_free(&r);
        return KH_EIO;
    }
    double t0 = now_seconds(), t = 0.0;
    st = integrate(&r, p, progress, progress_ctx, &t, &res->snapshots, &res->presentations, hooks);
    res->wall_seconds = now_seconds() - t0;
    res->t_end = t;
    res->rows = kh_h5_rows(r.h5);
    kh_solver_stats_get(r.solver, &res->stats);

    /* Close the record whatever happened: it stays valid with every row so far. */
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
    const char *status = st == KH_OK ? "complete" : (st == KH_EINTR ? "interrupted" : "failed");
    int s2 = kh_h5_write_solver(r.h5, p->method, p->rtol, p->atol, &res->stats, res->wall_seconds);
    if (s2 == KH_OK) {
        s2 = kh_h5_write_state(r.h5, "h", r.y, m);
    }
    if (s2 == KH_OK && r.dim > (size_t)(m + m * n)) {
        s2 = kh_h5_write_state(r.h5, "extra", r.y + m + m * n, (long)(r.dim - (size_t)(m + m * n)));
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_write_state(r.h5, "t", &t, 1);
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_set_status(r.h5, status, msg);
    }
    int s3 = kh_h5_close(r.h5);
    run_free(&r);
    if (st != KH_OK) {
        return st; /* its message is in msg, and in the file's "message" attribute */
    }
    return s2 != KH_OK ? s2 : s3;
}
