/* The run loop of batched Euler (method = euler with solver.batch > 1,
 * solver.device = cuda | auto, or solver.precision = float): B trajectories
 * of krotov_hopfield in lockstep, on the CPU (solvers/euler.c) or the GPU
 * (gpu/kh_gpu.cu), with the arithmetic of core/kh_kernels.h in both.
 *
 * Trajectory b starts from the weights of init.seed + b and h = 0; all see
 * the same samples on the same schedule. The record (docs/record.md)
 * holds trajectory 0 (so every reader works unchanged); /ensemble holds all
 * of them (docs/gpu.md). Steps land on every output time the
 * way method = euler does: full steps of solver.dt, the last one shortened. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_threads.h"
#include "gpu/kh_gpu.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "models/kh_model.h"
#include "run/kh_sim.h"
#include "solvers/kh_backend.h"
#include "solvers/kh_euler.h"
#include "solvers/kh_solver.h"

/* The ensemble on one device (solvers/kh_backend.h): the CPU's or the GPU's. */
typedef struct backend {
    const kh_ensemble_backend *ops;
    void *e;
} backend;

static int be_set_state(backend *b, const double *h, const double *W)
{
    return b->ops->set_state(b->e, h, W);
}

static int be_set_input(backend *b, const double *v)
{
    return b->ops->set_input(b->e, v);
}

static int be_advance(backend *b, long steps, double dt)
{
    return b->ops->advance(b->e, steps, dt);
}

static int be_get(backend *b, double *h, double *W, double *I, double *Bn)
{
    return b->ops->get(b->e, h, W, I, Bn);
}

static int be_get_W(backend *b, long t, double *W)
{
    return b->ops->get_W(b->e, t, W);
}

int kh_sim_ens_wanted(const kh_params *p)
{
    return (kh_method_caps(p->method) & KH_SOLVER_BATCHED) &&
           (p->ensemble > 1 || p->device != KH_DEV_CPU || p->precision == KH_PREC_FLOAT);
}

typedef struct ens_run {
    kh_dataset data;
    const kh_model_type *model;
    void *ws;
    backend be;
    kh_h5 *h5;
    double *W, *h, *I, *Bn, *v, *y, *cur, *pnorm;
    long B, m, n;
} ens_run;

static void ens_run_free(ens_run *r)
{
    if (r->be.ops && r->be.e) {
        r->be.ops->release(r->be.e);
    }
    if (r->model && r->ws) {
        r->model->free(r->ws);
    }
    kh_dataset_release(&r->data);
    free(r->W);
    free(r->h);
    free(r->I);
    free(r->Bn);
    free(r->v);
    free(r->y);
    free(r->cur);
    free(r->pnorm);
}

/* One record: trajectory 0 into /trajectory (through the model's observe,
 * for L and dL/dt), every trajectory's h, I and B into /ensemble. */
static int record(ens_run *r, double t, long sample)
{
    const long m = r->m, B = r->B;
    int st = be_get(&r->be, r->h, NULL, r->I, r->Bn);
    if (st == KH_OK) {
        st = be_get_W(&r->be, 0, r->y + m);
    }
    if (st != KH_OK) {
        return st;
    }
    memcpy(r->y, r->h, (size_t)m * sizeof(double));
    kh_obs o = {r->cur, r->pnorm, NAN, NAN};
    if (r->model->observe(r->y, r->ws, &o) != 0) {
        return KH_ERROR(KH_ESOLVER, "the state is not finite (NaN or Inf) at t = %.9g", t);
    }
    const long shape[2] = {B, m};
    if ((st = kh_h5_append_row(r->h5, t, r->y, r->cur, r->pnorm, o.L, o.dL_dt, sample)) != KH_OK ||
        (st = kh_h5_series_append_nd(r->h5, "/ensemble/h", r->h, 2, shape, 0,
                                     "activity|h_mu of every trajectory@time,trajectory,unit")) !=
            KH_OK ||
        (st = kh_h5_series_append_nd(
             r->h5, "/ensemble/current", r->I, 2, shape, 0,
             "weight^(p-1) x input|I_mu of every trajectory@time,trajectory,unit")) != KH_OK ||
        (st = kh_h5_series_append_nd(
             r->h5, "/ensemble/pnorm", r->Bn, 2, shape, 0,
             "weight^p|B_mu = sum_i |W_mui|^p of every trajectory@time,trajectory,unit")) !=
            KH_OK) {
        return st;
    }
    return KH_OK;
}

/* Advances from *t to target like method = euler: full steps of dt, the last
 * one the remainder (kh_euler_lands, the rule euler.c steps by). */
static int advance_to(ens_run *r, double dt, double *t, double target, long *steps)
{
    long k = 0;
    double tt = *t;
    while (!kh_euler_lands(target - tt, dt)) {
        tt += dt;
        k++;
    }
    int st = k > 0 ? be_advance(&r->be, k, dt) : KH_OK;
    if (st == KH_OK && target > tt) {
        st = be_advance(&r->be, 1, target - tt);
        k++;
    }
    *steps += k;
    if (st == KH_OK) {
        *t = target;
    }
    return st;
}

/* kh_sim_outputs of a batched run: Euler steps of dt, the record above,
 * trajectory 0's W as the snapshot. */
typedef struct ens_step {
    ens_run *r;
    double dt;
    long *steps;
    kh_threads threads; /* the CPU's thread count, governed by the steps done */
} ens_step;

static int ens_advance(void *ctx, double *t, double target)
{
    ens_step *e = ctx;
    int st = advance_to(e->r, e->dt, t, target, e->steps);
    kh_threads_tick(&e->threads, (double)*e->steps);
    return st;
}

static int ens_record(void *ctx, double t, long s)
{
    return record(((ens_step *)ctx)->r, t, s);
}

static int ens_snapshot(void *ctx, double t)
{
    ens_run *r = ((ens_step *)ctx)->r;
    int st = be_get_W(&r->be, 0, r->W);
    return st == KH_OK ? kh_h5_append_snapshot(r->h5, t, r->W) : st;
}

static int integrate(ens_run *r, const kh_params *p, const volatile sig_atomic_t *stop,
                     kh_progress_fn progress, void *pctx, kh_sim_result *res, double *t)
{
    const long m = r->m, n = r->n, B = r->B, N = r->data.n_samples;
    double t_total = 0.0;
    for (long s = 0; s < N; s++) {
        t_total += kh_config_presentation_time(p, s, N);
    }
    int st = kh_h5_append_snapshot(r->h5, 0.0, r->W);
    if (st != KH_OK) {
        return st;
    }
    res->snapshots = 1;
    long next_snap = 1;
    double t_start = 0.0;
    char tag[64];
    snprintf(tag, sizeof tag, "  (%ld x euler)", B);
    ens_step ctx = {r, p->dt, &res->stats.steps, {0}};
    kh_threads_start(&ctx.threads, p->threads, (double)B * (double)m * (double)n);
    kh_sim_outputs o = {&ctx, ens_advance, ens_record, ens_snapshot, progress,
                        pctx, tag,         stop,       t_total,      kh_wall_seconds()};
    for (long s = 0; s < N && st == KH_OK; s++) {
        const double t_end = t_start + kh_config_presentation_time(p, s, N);
        const double *x = r->data.x + (size_t)s * (size_t)n;
        for (long b = 0; b < B; b++) {
            memcpy(r->v + (size_t)b * (size_t)n, x, (size_t)n * sizeof(double));
        }
        kh_model_set_input(r->ws, x);
        if ((st = be_set_input(&r->be, r->v)) != KH_OK) {
            break;
        }
        if (s > 0 && p->reset_h) {
            memset(r->h, 0, (size_t)(B * m) * sizeof(double));
            if ((st = be_set_state(&r->be, r->h, NULL)) != KH_OK) {
                break;
            }
        }
        if ((st = kh_h5_append_input(r->h5, x, t_start, t_end)) != KH_OK ||
            (st = record(r, *t, s)) != KH_OK) {
            break;
        }
        res->presentations = s + 1;
        st = kh_sim_presentation(p, &o, s, N, t_start, t_end, t, 1, &next_snap, &res->snapshots);
        t_start = t_end;
    }
    kh_threads_stop(&ctx.threads);
    return st != KH_OK ? st : kh_sim_finish(p, &o, *t, N, next_snap, &res->snapshots);
}

/* Picks the device: cuda must have one; auto takes it when there is one. */
static int choose_device(const kh_params *p, kh_sim_result *res)
{
    char name[256] = "";
    double mem = 0.0;
    int ma = 0, mi = 0;
    int st = p->device == KH_DEV_CPU ? KH_ENOTSUP : kh_gpu_probe(name, sizeof name, &mem, &ma, &mi);
    if (st == KH_OK) {
        snprintf(res->device, sizeof res->device, "cuda: %s (%.0f GiB, sm_%d%d)", name, mem, ma,
                 mi);
        return 1;
    }
    if (p->device == KH_DEV_CUDA) {
        return -1; /* the message of kh_gpu_probe stands */
    }
    if (p->device == KH_DEV_AUTO) {
        snprintf(res->device, sizeof res->device, "cpu (device = auto: %s)", kh_errmsg());
    } else {
        snprintf(res->device, sizeof res->device, "cpu");
    }
    return 0;
}

/* The data, the model's workspace, the buffers, each trajectory's W(0)
 * (init.seed + b, into seeds [B]) and the ensemble on its device. */
static int plan_ensemble(ens_run *r, kh_params *p, int gpu, long *seeds)
{
    int st = kh_data_load(p, &r->data);
    if (st != KH_OK) {
        return st;
    }
    p->n_visible = r->data.n_features;
    const long m = p->n_hidden, n = p->n_visible, B = p->ensemble;
    const size_t mn = (size_t)m * (size_t)n;
    r->B = B;
    r->m = m;
    r->n = n;
    r->model = kh_model_find(p->model);
    if (!(r->ws = r->model->alloc(p))) {
        return kh_errcode();
    }
    r->W = malloc((size_t)B * mn * sizeof(double));
    r->h = calloc((size_t)(B * m), sizeof(double));
    r->I = malloc((size_t)(B * m) * sizeof(double));
    r->Bn = malloc((size_t)(B * m) * sizeof(double));
    r->v = malloc((size_t)(B * n) * sizeof(double));
    r->y = calloc((size_t)m + mn, sizeof(double));
    r->cur = malloc((size_t)m * sizeof(double));
    r->pnorm = malloc((size_t)m * sizeof(double));
    kh_ens_params *prm = malloc((size_t)B * sizeof *prm);
    if (!r->W || !r->h || !r->I || !r->Bn || !r->v || !r->y || !r->cur || !r->pnorm || !prm) {
        free(prm);
        return KH_ERROR(KH_ENOMEM, "cannot allocate an ensemble of %ld x %ld x %ld", B, m, n);
    }
    kh_params pb = *p;
    for (long b = 0; b < B && st == KH_OK; b++) {
        pb.init_seed = p->init_seed + b;
        seeds[b] = pb.init_seed;
        st = kh_sim_init_weights(&pb, r->W + (size_t)b * mn);
        prm[b] = (kh_ens_params){p->p,     p->R,      p->w_inh, p->tau, p->tau_L,
                                 p->delta, p->h_star, p->g_n,   p->g,   p->drive == KH_DRIVE_Q};
    }
    if (st == KH_OK) {
        r->be.ops = gpu ? kh_gpu_ensemble_backend() : &kh_ens_cpu_backend;
        r->be.e = r->be.ops ? r->be.ops->alloc(B, m, n, p->precision, prm) : NULL;
        st = r->be.e ? KH_OK : KH_ENOMEM;
        if (st != KH_OK) {
            st = kh_errmsg()[0] ? st : KH_ERROR(st, "cannot allocate the ensemble");
        }
    }
    free(prm);
    return st == KH_OK ? be_set_state(&r->be, r->h, r->W) : st;
}

/* The end of the record: /solver, every trajectory's final W, the state
 * and the status; then it is closed. */
static int finish_ensemble(ens_run *r, const kh_params *p, int st, double t,
                           const kh_sim_result *res)
{
    const long m = r->m, n = r->n, B = r->B;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
    int s2 = kh_h5_write_solver(r->h5, p->method, p->rtol, p->atol, &res->stats, res->wall_seconds);
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(r->h5, "/solver", "device", 0.0, res->device);
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_set_attr(r->h5, "/solver", "precision", 0.0,
                            p->precision == KH_PREC_FLOAT ? "float" : "double");
    }
    if (s2 == KH_OK && be_get(&r->be, r->h, r->W, NULL, NULL) == KH_OK) {
        const long dW[3] = {B, m, n};
        s2 = kh_h5_write_array(r->h5, "/ensemble/W_final", r->W, 3, dW, 0,
                               "weight|W of every trajectory at the end@trajectory,unit,input");
        if (s2 == KH_OK) {
            s2 = kh_h5_write_state(r->h5, "h", r->h, m);
        }
    }
    if (s2 == KH_OK) {
        s2 = kh_h5_write_state(r->h5, "t", &t, 1);
    }
    st = kh_h5_end(r->h5, st, msg, s2);
    r->h5 = NULL;
    return st;
}

int kh_sim_ens_run(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
                   kh_progress_fn progress, void *progress_ctx, kh_sim_result *res)
{
    kh_params *p = &c->p;
    ens_run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    if (!kh_model_has(p->model, KH_MODEL_BATCHED)) {
        return KH_ERROR(KH_EINVAL,
                        "batched euler (solver.batch, device, precision = float) integrates "
                        "network.model = krotov_hopfield, not %s",
                        p->model);
    }
    int gpu = choose_device(p, res);
    if (gpu < 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", kh_errmsg());
        return KH_ERROR(KH_ENOTSUP, "solver.device = cuda: %s", why);
    }
    long *seeds = malloc((size_t)(p->ensemble > 0 ? p->ensemble : 1) * sizeof(long));
    int st = seeds ? plan_ensemble(&r, p, gpu, seeds)
                   : KH_ERROR(KH_ENOMEM, "cannot allocate an ensemble of %ld", p->ensemble);
    if (st == KH_OK) {
        st = kh_sim_check_output(c, 0);
    }
    if (st == KH_OK &&
        !(r.h5 = kh_h5_create(p->out_path, c, r.model->summary, overrides, r.m, r.n))) {
        st = KH_EIO;
    }
    if (st != KH_OK) {
        free(seeds);
        ens_run_free(&r);
        return st;
    }
    const long dB[1] = {r.B};
    st = kh_h5_write_array(r.h5, "/ensemble/init_seed", seeds, 1, dB, 1,
                           "1|init.seed of each trajectory@trajectory");
    free(seeds);
    double t0 = kh_wall_seconds(), t = 0.0;
    if (st == KH_OK) {
        st = integrate(&r, p, stop, progress, progress_ctx, res, &t);
    }
    res->wall_seconds = kh_wall_seconds() - t0;
    res->t_end = t;
    res->rows = kh_h5_rows(r.h5);
    res->stats.rhs_evals = res->stats.steps;
    st = finish_ensemble(&r, p, st, t, res);
    ens_run_free(&r);
    return st;
}
