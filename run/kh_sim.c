/* The run loop: one presentation after another, the solver advanced to each
 * output time, each row appended as soon as it exists. */
#include "run/kh_sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_mem.h"
#include "core/kh_rng.h"
#include "core/kh_threads.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "solvers/kh_solver.h"

/* Everything a run holds; released by run_free. */
typedef struct run {
    const kh_model_type *model;
    void *ws;
    kh_solver *solver;
    kh_dataset data;
    kh_h5 *h5;
    double *y, *cur, *pnorm, *state_buf;
    size_t dim;
    long model_m, model_n;
    kh_threads threads; /* the thread count, governed by the work done (kh_threads.h) */
    /* Rows of /trajectory/gI_negative not yet written (FLAG_ROWS x m): they
     * go out in blocks, at each snapshot and at the end (one write per row
     * cost as much as the integration of a small study). */
    double *flags;
    long n_flags;
} run;

#define FLAG_ROWS 256

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
    free(r->state_buf);
    free(r->flags);
}

/* Before a new run: what it will write, estimated from the schedule (rows:
 * one per record_every of each presentation plus its first; snapshots: one
 * per snapshot_every; Euler steps: one per dt; an explicit adaptive
 * stepper's: at least one per 3.3 tau), against the room on the
 * output's file system and against what can finish (KH_SIM_MAX_WORK rows or
 * steps).
 * KH_OK or KH_EINVAL naming the key to change. */
static int check_size(const kh_params *p, long N, long m, long n, size_t extra)
{
    double t_total = 0.0, rows = 1.0;
    for (long s = 0; s < N; s++) {
        const double T = kh_config_presentation_time(p, s, N);
        t_total += T;
        rows += 1.0 + floor(T / p->record_every);
    }
    const double snaps = 2.0 + floor(t_total / p->snapshot_every);
    const double row_bytes = 8.0 * (4.0 * (double)m + 4.0);
    const double snap_bytes = 8.0 * ((double)m * (double)n + (double)m + (double)extra + 1.0);
    if (rows > KH_SIM_MAX_WORK) {
        return KH_ERROR(KH_EINVAL,
                        "output.record_every = %g gives %.3g rows over t = %.6g: it cannot "
                        "finish (make record_every larger)",
                        p->record_every, rows, t_total);
    }
    if (!(kh_method_caps(p->method) & (KH_SOLVER_ADAPTIVE | KH_SOLVER_NOT_ODE)) &&
        t_total / p->dt > KH_SIM_MAX_WORK) {
        return KH_ERROR(KH_EINVAL,
                        "solver.dt = %g gives %.3g Euler steps over t = %.6g: it cannot finish "
                        "(make dt larger)",
                        p->dt, t_total / p->dt, t_total);
    }
    /* An explicit stepper's steps are held by stability to about 3.3 times
     * the fastest time scale (dopri5's interval on the negative real axis). */
    const unsigned caps = kh_method_caps(p->method);
    const double fastest = fmin(p->tau, p->tau_L), least_steps = t_total / (3.3 * fastest);
    if ((caps & KH_SOLVER_ADAPTIVE) && !(caps & KH_SOLVER_STIFF) && least_steps > KH_SIM_MAX_WORK) {
        return KH_ERROR(KH_EINVAL,
                        "network.%s = %g holds solver.method = %s (an explicit stepper) to "
                        "steps of about 3.3 times it: %.3g steps over t = %.6g, it cannot finish "
                        "(make network.%s larger, or use method reduced, or an implicit one such "
                        "as msbdf)",
                        p->tau <= p->tau_L ? "tau" : "tau_L", fastest, p->method, least_steps,
                        t_total, p->tau <= p->tau_L ? "tau" : "tau_L");
    }
    char dir[KH_PATH_MAX];
    const double room = kh_sim_output_room(p->out_path, dir, sizeof dir);
    /* Deflate shrinks the trajectory; the bound counts it at a tenth. */
    const double least =
        0.1 * rows * row_bytes + (p->compress_snapshots ? 0.5 : 1.0) * snaps * snap_bytes;
    if (least > room) {
        return KH_ERROR(KH_EINVAL,
                        "the record needs about %.3g GB (%.3g rows, %.3g snapshots of W) and "
                        "%s has %.3g GB free: make output.record_every or "
                        "output.snapshot_every larger",
                        least / 1e9, rows, snaps, dir, room / 1e9);
    }
    return KH_OK;
}

/* Writes the rows of /trajectory/gI_negative held in r->flags. */
static int flush_flags(run *r)
{
    int st = r->flags
                 ? kh_h5_series_append_block(
                       r->h5, "/trajectory/gI_negative", r->flags, r->n_flags, r->model_m,
                       "1|1 where g(d) I < 0 at some evaluation since the row before@time,unit")
                 : KH_OK;
    r->n_flags = 0;
    return st;
}

static int record(run *r, double t, long sample)
{
    kh_obs o = {r->cur, r->pnorm, NAN, NAN};
    if (kh_solver_observe(r->solver, r->model, r->ws, r->y, &o) != 0) {
        return KH_ERROR(KH_ESOLVER,
                        "the state is not finite (NaN or Inf) at t = %.9g: the "
                        "dynamics diverge",
                        t);
    }
    int st = kh_h5_append_row(r->h5, t, r->y, r->cur, r->pnorm, o.L, o.dL_dt, sample);
    kh_model_ws *w = r->ws;
    if (st == KH_OK && r->flags) {
        /* What the solver saw since the row before (kh_model_ws.gI_neg). */
        memcpy(r->flags + (size_t)r->n_flags * (size_t)r->model_m, w->gI_neg,
               (size_t)r->model_m * sizeof(double));
        memset(w->gI_neg, 0, (size_t)r->model_m * sizeof(double));
        if (++r->n_flags == FLAG_ROWS) {
            st = flush_flags(r);
        }
    }
    return st;
}

/* Where a resumed run goes on: presentation s0, from the snapshot at t0
 * (row `snap`); mid = 1 when t0 lies inside s0 (the presentation goes on),
 * 0 when s0 starts at t0. */
typedef struct resume_point {
    long s0, snap;
    double t0;
    int mid;
} resume_point;

/* A snapshot: W, and the rest of the state (h and any extra state) in
 * /snapshots/state, so that a run can resume from it. */
static int snapshot(run *r, double t)
{
    const long m = r->model_m;
    const size_t rest = r->dim - (size_t)(m * r->model_n);
    double *buf = r->state_buf;
    kh_solver_sync(r->solver, r->y);
    memcpy(buf, r->y, (size_t)m * sizeof(double));
    memcpy(buf + m, r->y + m + m * r->model_n, (rest - (size_t)m) * sizeof(double));
    int st = flush_flags(r);
    if (st == KH_OK) {
        /* The state and W of a snapshot land together or not at all. */
        st = kh_h5_room(r->h5, 8.0 * ((double)rest + (double)(m * r->model_n) + 1.0));
    }
    if (st == KH_OK) {
        st = kh_h5_series_append(r->h5, "/snapshots/state", buf, (long)rest, 0,
                                 "activity|h, then any state after W (bcm's theta), at each "
                                 "snapshot@snapshot,component");
    }
    return st == KH_OK ? kh_h5_append_snapshot(r->h5, t, r->y + m) : st;
}

/* kh_sim_outputs of a run: the solver, record and snapshot above. */
static int sim_advance(void *ctx, double *t, double target)
{
    run *r = ctx;
    int st = kh_solver_apply(r->solver, t, target, r->y);
    kh_solver_stats done;
    kh_solver_stats_get(r->solver, &done);
    kh_threads_tick(&r->threads, (double)done.rhs_evals);
    return st;
}

static int sim_record(void *ctx, double t, long s)
{
    return record(ctx, t, s);
}

static int sim_snapshot(void *ctx, double t)
{
    return snapshot(ctx, t);
}

/* The loop over presentations. *t and the solver state are left at the last
 * accepted state on any failure. */
static int integrate(run *r, const kh_params *p, kh_progress_fn progress, void *pctx, double *t,
                     long *n_snap, long *n_pres, const kh_sim_hooks *hooks, const resume_point *rp)
{
    const long m = p->n_hidden, n = p->n_visible, N = r->data.n_samples;
    double t_total = 0.0;
    for (long s = 0; s < N; s++) {
        t_total += kh_config_presentation_time(p, s, N);
    }
    int st = KH_OK;
    long next_snap = 1; /* snapshots at k * snapshot_every */
    long s_first = 0;
    double t_start = 0.0;
    if (rp) {
        s_first = rp->s0;
        *n_snap = rp->snap + 1;
        next_snap = rp->snap + 1;
        for (long s = 0; s < s_first; s++) {
            t_start += kh_config_presentation_time(p, s, N);
        }
    } else {
        if ((st = snapshot(r, 0.0)) != KH_OK) {
            return st;
        }
        *n_snap = 1;
    }
    /* The solver polls the stop flag itself (kh_solver_alloc). */
    kh_sim_outputs o = {r,    sim_advance, sim_record, sim_snapshot, progress,
                        pctx, NULL,        NULL,       t_total,      kh_wall_seconds()};
    for (long s = s_first; s < N && st == KH_OK; s++) {
        double t_end = t_start + kh_config_presentation_time(p, s, N);
        if (s == N - 1) {
            t_end = fmax(t_end, t_start);
        }
        kh_solver_sync(r->solver, r->y); /* W at the end of the presentation before */
        kh_model_set_input(r->ws, r->data.x + (size_t)s * (size_t)n);
        const int mid = rp && s == rp->s0 && rp->mid;
        if (!mid) {
            if (s > 0 && p->reset_h) {
                memset(r->y, 0, (size_t)m * sizeof(double));
            }
            kh_solver_reset(r->solver);
            if ((st = kh_solver_start(r->solver, *t, r->y)) != KH_OK) {
                break;
            }
            if ((st = kh_h5_append_input(r->h5, r->data.x + (size_t)s * (size_t)n, t_start,
                                         t_end)) != KH_OK ||
                (st = record(r, *t, s)) != KH_OK) {
                break;
            }
        } else {
            kh_solver_reset(r->solver);
        }
        *n_pres = s + 1;
        if (!mid && hooks && hooks->begin &&
            (st = hooks->begin(hooks->ctx, s, r->y, r->data.x + (size_t)s * (size_t)n)) != KH_OK) {
            break;
        }
        long k = 1;
        /* Resumed inside this presentation: the next record time after t. */
        while (mid && t_start + (double)k * p->record_every <= *t) {
            k++;
        }
        st = kh_sim_presentation(p, &o, s, N, t_start, t_end, t, k, &next_snap, n_snap);
        kh_solver_sync(r->solver, r->y);
        if (st == KH_OK && hooks && hooks->end) {
            st = hooks->end(hooks->ctx, s, r->y);
        }
        t_start = t_end;
    }
    /* The final state, with the last sample. */
    return st != KH_OK ? st : kh_sim_finish(p, &o, *t, N, next_snap, n_snap);
}

/* Finds where the record c->p.out_path resumes (its last snapshot that has
 * its state), loads that state into r->y and shortens the record to it. */
static int resume_from(run *r, const kh_params *p, resume_point *rp, double *t)
{
    const long m = p->n_hidden, n = p->n_visible;
    const size_t rest = r->dim - (size_t)(m * n);
    double *ts = NULL, *t_start = NULL, *t_end = NULL, *rows = NULL;
    int rank;
    long d[3], ds[3], di[3], dr[3];
    int st = kh_h5_read(p->out_path, "/snapshots/t", &ts, &rank, d);
    if (st == KH_OK) {
        double *state = NULL;
        st = kh_h5_read(p->out_path, "/snapshots/state", &state, &rank, ds);
        free(state);
        if (st != KH_OK) {
            st = KH_ERROR(KH_EINVAL,
                          "%s: no /snapshots/state: a record from before khsim could "
                          "resume, or not a khsim run",
                          p->out_path);
        }
    }
    if (st == KH_OK) {
        st = kh_h5_read(p->out_path, "/input/t_start", &t_start, &rank, di);
    }
    if (st == KH_OK) {
        st = kh_h5_read(p->out_path, "/input/t_end", &t_end, &rank, di);
    }
    if (st == KH_OK) {
        st = kh_h5_read(p->out_path, "/trajectory/t", &rows, &rank, dr);
    }
    long snap = -1;
    if (st == KH_OK) {
        snap = (d[0] < ds[0] ? d[0] : ds[0]) - 1;
        if (snap < 0) {
            st = KH_ERROR(KH_EINVAL, "%s: no snapshot to resume from", p->out_path);
        }
    }
    if (st == KH_OK) {
        const double t0 = ts[snap];
        long s0 = di[0];
        int mid = 0;
        for (long s = 0; s < di[0]; s++) {
            if (t_start[s] == t0) {
                s0 = s;
                break;
            }
            if (t_start[s] < t0 && t0 < t_end[s]) {
                s0 = s;
                mid = 1;
                break;
            }
        }
        if (s0 >= r->data.n_samples) {
            st = KH_ERROR(KH_EINVAL, "%s: the run is already complete", p->out_path);
        }
        long keep_rows = 0;
        while (st == KH_OK && keep_rows < dr[0] &&
               (mid ? rows[keep_rows] <= t0 : rows[keep_rows] < t0)) {
            keep_rows++;
        }
        if (st == KH_OK) {
            st = kh_h5_read_row(p->out_path, "/snapshots/W", snap, r->y + m, m * n);
        }
        if (st == KH_OK) {
            st = kh_h5_read_row(p->out_path, "/snapshots/state", snap, r->state_buf, (long)rest);
        }
        if (st == KH_OK) {
            memcpy(r->y, r->state_buf, (size_t)m * sizeof(double));
            memcpy(r->y + m + m * n, r->state_buf + m, (rest - (size_t)m) * sizeof(double));
            r->h5 = kh_h5_open_append(p->out_path, keep_rows, snap + 1);
            if (!r->h5) {
                st = KH_EIO;
            }
        }
        if (st == KH_OK) {
            const char *in[] = {"/input/v", "/input/t_start", "/input/t_end"};
            for (int i = 0; i < 3 && st == KH_OK; i++) {
                st = kh_h5_truncate(r->h5, in[i], mid ? s0 + 1 : s0);
            }
            if (st == KH_OK) {
                st = kh_h5_truncate(r->h5, "/snapshots/state", snap + 1);
            }
            if (st == KH_OK) {
                /* kh_h5_open_append counted the inputs before they were cut. */
                st = kh_h5_reopen_counts(r->h5);
            }
        }
        if (st == KH_OK && r->model->sphere_gain) {
            /* The flags of the rows kept; the interval the resume starts in
             * is flagged whole (what the first part saw of it is gone). */
            kh_model_ws *w = r->ws;
            for (long mu = 0; mu < m; mu++) {
                w->gI_neg[mu] = 1.0;
            }
            st = kh_h5_truncate(r->h5, "/trajectory/gI_negative", keep_rows);
        }
        if (st == KH_OK) {
            st = kh_h5_set_attr(r->h5, "/solver", "resumed_at_t", t0, NULL);
        }
        if (st == KH_OK) {
            st = kh_h5_set_status(r->h5, "running", "");
        }
        rp->s0 = s0;
        rp->snap = snap;
        rp->t0 = t0;
        rp->mid = mid;
        *t = t0;
    }
    free(ts);
    free(t_start);
    free(t_end);
    free(rows);
    return st;
}

int kh_sim_ode_run(kh_config *c, const char *overrides, int resume,
                   const volatile sig_atomic_t *stop, kh_progress_fn progress, void *progress_ctx,
                   const kh_sim_hooks *hooks, kh_sim_result *res)
{
    kh_params *p = &c->p;
    run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    int st = KH_OK;
    const int automatic = strcmp(p->method, "auto") == 0;
    if (!(r.model = kh_model_find(p->model)) || (!automatic && !kh_solver_find(p->method))) {
        return KH_EINVAL;
    }
    if ((st = kh_data_load(p, &r.data)) != KH_OK) {
        return st;
    }
    p->n_visible = r.data.n_features;
    const long m = p->n_hidden, n = p->n_visible;
    if (!(r.ws = r.model->alloc(p))) {
        run_free(&r);
        return kh_errcode();
    }
    r.dim = r.model->dim(p);
    if (automatic) {
        /* The record names the method that ran (/params and /solver). */
        snprintf(p->method, sizeof p->method, "%s", kh_solver_auto(r.model, r.dim, p));
    }
    r.model_m = m;
    r.model_n = n;
    r.y = kh_big_zalloc(r.dim, sizeof(double));
    r.cur = calloc((size_t)m, sizeof(double));
    r.pnorm = calloc((size_t)m, sizeof(double));
    r.state_buf = calloc(r.dim - (size_t)(m * n), sizeof(double));
    if (r.model->sphere_gain) {
        r.flags = calloc((size_t)FLAG_ROWS * (size_t)m, sizeof(double));
    }
    if (!r.y || !r.cur || !r.pnorm || !r.state_buf || (r.model->sphere_gain && !r.flags)) {
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
        return kh_errcode();
    }
    if ((st = kh_sim_check_output(c, resume)) != KH_OK ||
        (!resume &&
         (st = check_size(p, r.data.n_samples, m, n, r.dim - (size_t)(m + m * n))) != KH_OK)) {
        run_free(&r);
        return st;
    }
    resume_point rp;
    double t = 0.0;
    if (resume) {
        if ((st = resume_from(&r, p, &rp, &t)) != KH_OK) {
            kh_h5_close(r.h5);
            run_free(&r);
            return st;
        }
    } else {
        r.h5 = kh_h5_create(p->out_path, c, r.model->summary, overrides, m, n);
    }
    if (!r.h5) {
        run_free(&r);
        return KH_EIO;
    }
    double t0 = kh_wall_seconds();
    kh_threads_start(&r.threads, p->threads, (double)m * (double)n);
    st = integrate(&r, p, progress, progress_ctx, &t, &res->snapshots, &res->presentations, hooks,
                   resume ? &rp : NULL);
    kh_solver_sync(r.solver, r.y);
    kh_threads_stop(&r.threads);
    res->wall_seconds = kh_wall_seconds() - t0;
    res->t_end = t;
    res->rows = kh_h5_rows(r.h5);
    kh_solver_stats_get(r.solver, &res->stats);

    /* Close the record whatever happened: it stays valid with every row so far. */
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
    /* The flags' last rows; when the disk is full they are lost (their
     * dataset is then shorter than /trajectory/t and verify does without),
     * and the status below is still written. */
    const int s_flags = flush_flags(&r);
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
    /* The status (unless a write above failed), then close. */
    int end = kh_h5_end(r.h5, st, msg, s2);
    run_free(&r);
    return end == KH_OK ? s_flags : end;
}
