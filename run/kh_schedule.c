/* The schedule every run driver follows: a presentation's rows every
 * record_every from its start, snapshots every snapshot_every of model
 * time, progress reports, and the final row and snapshot. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"
#include "run/kh_sim.h"
#include "solvers/kh_solver.h"

double kh_progress_seconds(void)
{
    const char *e = getenv("KHSIM_PROGRESS_SECONDS");
    char *end;
    double v = e ? strtod(e, &end) : 0.25;
    return e && end != e && v >= 0.0 ? v : 0.25;
}

/* The progress line at t of presentation s of N. */
static void report(kh_sim_outputs *o, long s, long N, double t)
{
    char line[200];
    snprintf(line, sizeof line, "presentation %ld/%ld  t = %.4g / %.4g%s", s + 1, N, t, o->t_total,
             o->tag ? o->tag : "");
    o->progress(o->pctx, o->t_total > 0 ? t / o->t_total : 1.0, line);
    o->last_report = kh_wall_seconds();
}

/* How long a presentation may go at a pace that cannot finish before it is
 * stopped: KHSIM_STALL_SECONDS, else 300 s. */
static double stall_seconds(void)
{
    const char *e = getenv("KHSIM_STALL_SECONDS");
    char *end;
    double v = e ? strtod(e, &end) : 300.0;
    return e && end != e && v > 0.0 ? v : 300.0;
}

/* The heartbeat of the solver's steps within a presentation (begun at
 * wall0, t0; stopped when hopeless after `stall` seconds). */
typedef struct beat {
    kh_sim_outputs *o;
    long s, N;
    double wall0, t0, stall;
} beat;

/* Progress between rows (a row may take minutes), and the end of a run
 * that cannot finish: after b->stall seconds in one presentation, the pace
 * since its start would need more than KH_SIM_HOPELESS_SECONDS for the rest
 * of the run (steps held far below tau and tau_L, as inputs of a scale of
 * 1e30 do). */
static int on_beat(void *ctx, double t)
{
    beat *b = ctx;
    kh_sim_outputs *o = b->o;
    const double now = kh_wall_seconds();
    if (o->progress && now - o->last_report > kh_progress_seconds()) {
        report(o, b->s, b->N, t);
    }
    const double waited = now - b->wall0;
    if (waited > b->stall && t < o->t_total) {
        const double pace = (t - b->t0) / waited, left = (o->t_total - t) / pace;
        if (!(left <= KH_SIM_HOPELESS_SECONDS)) {
            return KH_ERROR(KH_ESOLVER,
                            "in %.0f s the solver took t from %.9g to %.9g: at that pace the "
                            "rest of the run, to t = %.6g, takes about %.2g years, so it cannot "
                            "finish (its steps are held far below tau and tau_L: look for "
                            "inputs or weights of a very large scale, or a stiff system, many "
                            "units under strong inhibition, which solver.method = reduced "
                            "steps through)",
                            waited, b->t0, t, o->t_total, left / 3.15576e7);
        }
    }
    return KH_OK;
}

static int presentation(const kh_params *p, kh_sim_outputs *o, long s, long N, double t_start,
                        double t_end, double *t, long k, long *next_snap, long *n_snap);

int kh_sim_presentation(const kh_params *p, kh_sim_outputs *o, long s, long N, double t_start,
                        double t_end, double *t, long k, long *next_snap, long *n_snap)
{
    beat b = {o, s, N, kh_wall_seconds(), *t, stall_seconds()};
    kh_solver_set_heartbeat(on_beat, &b);
    const int st = presentation(p, o, s, N, t_start, t_end, t, k, next_snap, n_snap);
    kh_solver_set_heartbeat(NULL, NULL);
    return st;
}

static int presentation(const kh_params *p, kh_sim_outputs *o, long s, long N, double t_start,
                        double t_end, double *t, long k, long *next_snap, long *n_snap)
{
    int st = KH_OK;
    while (*t < t_end) {
        if (o->stop && *o->stop) {
            return KH_ERROR(KH_EINTR, "interrupted at t = %.9g", *t);
        }
        double t_rec = t_start + (double)k * p->record_every;
        double t_snap = (double)*next_snap * p->snapshot_every;
        double target = fmin(fmin(t_rec, t_snap), t_end);
        if ((st = o->advance(o->ctx, t, target)) != KH_OK) {
            return st;
        }
        if (t_rec <= target && *t < t_end) {
            if ((st = o->record(o->ctx, *t, s)) != KH_OK) {
                return st;
            }
            k++;
        }
        if (t_snap <= target) {
            if ((st = o->snapshot(o->ctx, *t)) != KH_OK) {
                return st;
            }
            (*n_snap)++;
            (*next_snap)++;
        }
        if (o->progress && kh_wall_seconds() - o->last_report > kh_progress_seconds()) {
            report(o, s, N, *t);
        }
    }
    return KH_OK;
}

int kh_sim_finish(const kh_params *p, kh_sim_outputs *o, double t, long N, long next_snap,
                  long *n_snap)
{
    int st = o->record(o->ctx, t, N - 1);
    if (st == KH_OK && (double)(next_snap - 1) * p->snapshot_every < t) {
        if ((st = o->snapshot(o->ctx, t)) == KH_OK) {
            (*n_snap)++;
        }
    }
    return st;
}
