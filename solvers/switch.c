/* Switch location shared by the adaptive solvers (see kh_switch.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "solvers/kh_switch.h"

static void model_values(void *ctx, const double *y, double *s)
{
    kh_switch *w = ctx;
    w->model->switches(y, w->ws, s);
}

int kh_switch_init(kh_switch *w, const kh_model_type *model, void *ws, const kh_params *p)
{
    memset(w, 0, sizeof *w);
    w->model = model;
    w->ws = ws;
    w->values = model_values;
    w->values_ctx = w;
    w->tol = p->switch_tol;
    w->n = (p->locate_switches != KH_LOCATE_NONE && model->switches) ? model->n_switch(ws) : 0;
    w->last_k = -1;
    size_t n = w->n ? w->n : 1;
    double **arrays[] = {&w->s0, &w->s1, &w->slo, &w->shi, &w->str};
    for (size_t i = 0; i < 5; i++) {
        if (!(*arrays[i] = malloc(n * sizeof(double)))) {
            kh_switch_release(w);
            return KH_ERROR(KH_ENOMEM, "cannot allocate %zu switching functions", n);
        }
    }
    if (!(w->mask = calloc(n, 1)) || !(w->off = calloc(n, 1))) {
        kh_switch_release(w);
        return KH_ERROR(KH_ENOMEM, "cannot allocate %zu switching functions", n);
    }
    if (w->n && p->locate_switches == KH_LOCATE_JUMPS) {
        size_t live = 0;
        if (model->switch_jumps) {
            model->switch_jumps(ws, w->off);
        }
        for (size_t k = 0; k < w->n; k++) {
            w->off[k] = !w->off[k]; /* off = not a jump */
            live += !w->off[k];
        }
        if (live == 0) {
            w->n = 0; /* only kinks: nothing to locate, and no cost */
        }
    }
    return KH_OK;
}

void kh_switch_release(kh_switch *w)
{
    free(w->s0);
    free(w->s1);
    free(w->slo);
    free(w->shi);
    free(w->str);
    free(w->mask);
    free(w->off);
    w->s0 = w->s1 = w->slo = w->shi = w->str = NULL;
    w->mask = w->off = NULL;
}

void kh_switch_reset(kh_switch *w)
{
    if (w->n) {
        memset(w->mask, 0, w->n);
    }
    w->last_k = -1;
    w->zeno = 0;
}

void kh_switch_start(kh_switch *w, const double *y)
{
    if (w->n) {
        w->values(w->values_ctx, y, w->s0);
    }
}

static long first_change(const kh_switch *w, const double *b)
{
    for (size_t k = 0; k < w->n; k++) {
        if (!w->mask[k] && !w->off[k] && (w->s0[k] > 0.0) != (b[k] > 0.0)) {
            return (long)k;
        }
    }
    return -1;
}

long kh_switch_crossed(kh_switch *w, const double *y)
{
    if (!w->n) {
        return -1;
    }
    w->values(w->values_ctx, y, w->s1);
    return first_change(w, w->s1);
}

/* The earliest regula-falsi crossing in [lo, hi] over the functions whose
 * side differs between slo and shi, with the Illinois weights fl and fh. */
static double falsi(const kh_switch *w, double lo, double hi, double fl, double fh)
{
    double best = hi;
    for (size_t k = 0; k < w->n; k++) {
        double a = w->slo[k] * fl, b = w->shi[k] * fh;
        if (!w->mask[k] && !w->off[k] && (w->slo[k] > 0.0) != (w->shi[k] > 0.0) && a != b) {
            double c = lo + (hi - lo) * a / (a - b);
            if (c < best) {
                best = c;
            }
        }
    }
    return best;
}

double kh_switch_bracket(kh_switch *w, double dt, kh_trial_fn trial, void *ctx, double *ytr,
                         double *lo_out, long *k_out)
{
    double lo = 0.0, hi = dt, fl = 1.0, fh = 1.0;
    int last_side = 0; /* +1: hi moved last, -1: lo moved last */
    memcpy(w->slo, w->s0, w->n * sizeof(double));
    memcpy(w->shi, w->s1, w->n * sizeof(double));
    for (int it = 0; hi - lo > w->tol && it < 100; it++) {
        double x = (it % 4 == 3) ? 0.5 * (lo + hi) : falsi(w, lo, hi, fl, fh);
        /* Keep the guess inside and at least half the tolerance from the ends,
         * so that a guess next to the crossing closes the bracket. */
        double margin = fmin(0.5 * w->tol, 0.25 * (hi - lo));
        x = fmin(fmax(x, lo + margin), hi - margin);
        if (trial(ctx, x, ytr) != 0) {
            hi = x; /* a trial that fails lies past the trouble */
            fl = fh = 1.0;
            last_side = 0;
            continue;
        }
        w->values(w->values_ctx, ytr, w->str);
        if (first_change(w, w->str) >= 0) {
            hi = x;
            memcpy(w->shi, w->str, w->n * sizeof(double));
            fh = 1.0;
            fl = last_side == 1 ? 0.5 * fl : 1.0;
            last_side = 1;
        } else {
            lo = x;
            memcpy(w->slo, w->str, w->n * sizeof(double));
            fl = 1.0;
            fh = last_side == -1 ? 0.5 * fh : 1.0;
            last_side = -1;
        }
    }
    *lo_out = lo;
    *k_out = first_change(w, w->shi);
    return hi;
}

double kh_switch_cross_limit(double d0, double h, double room)
{
    return fmin(KH_CROSS_GROWTH * fmax(d0, KH_CROSS_MARGIN * h), room);
}

double kh_switch_cross(kh_switch *w, double *y, const double *f, size_t dim, double d0,
                       double d_max, double *ytr)
{
    for (double d = d0; d <= d_max; d *= 2.0) {
        memcpy(ytr, y, dim * sizeof(double));
        kh_euler_axpy(ytr, f, (long)dim, d);
        if (kh_switch_crossed(w, ytr) >= 0) {
            memcpy(y, ytr, dim * sizeof(double));
            return d;
        }
    }
    return 0.0;
}

static void zeno_guard(kh_switch *w, long k, double t)
{
    double gap = t - w->last_t;
    if (k >= 0 && k == w->last_k && gap <= w->last_gap) {
        if (++w->zeno >= KH_ZENO_RUN) {
            w->mask[k] = 1;
            w->sliding++;
            w->zeno = 0;
        }
    } else {
        w->zeno = 0;
    }
    w->last_k = k;
    w->last_gap = gap;
    w->last_t = t;
}

void kh_switch_near_miss(kh_switch *w, long k, double t)
{
    zeno_guard(w, k, t);
}

void kh_switch_note(kh_switch *w, long k, double t)
{
    zeno_guard(w, k, t);
    w->switches++;
}
