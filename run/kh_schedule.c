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

double kh_progress_seconds(void)
{
    const char *e = getenv("KHSIM_PROGRESS_SECONDS");
    char *end;
    double v = e ? strtod(e, &end) : 0.25;
    return e && end != e && v >= 0.0 ? v : 0.25;
}

int kh_sim_presentation(const kh_params *p, kh_sim_outputs *o, long s, long N, double t_start,
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
            char line[200];
            snprintf(line, sizeof line, "presentation %ld/%ld  t = %.4g / %.4g%s", s + 1, N, *t,
                     o->t_total, o->tag ? o->tag : "");
            o->progress(o->pctx, o->t_total > 0 ? *t / o->t_total : 1.0, line);
            o->last_report = kh_wall_seconds();
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
