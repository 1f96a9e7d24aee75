/* khsim compare: the fast approximation against the exact dynamics of a
 * study, from the same initial W and the same samples in the same order.
 *
 * 1. The exact run (the study's solver.method: an ODE method or
 *    quasi_static) writes its usual record. Around each presentation s, at
 *    the exact W it starts from, the fast rule (batch 1, the study's three
 *    switches) gives its code g_fast and update Delta W_fast; at the
 *    presentation's end the exact code is g(d) of the activities reached and
 *    the exact update is W_end - W_start. Per sample: does the winner agree
 *    (argmax h against the fast rule's unit with g = 1), what fraction of the
 *    m entries of g agree, and the angle between the two updates.
 * 2. Two fast runs from the same W0 over the same samples, in the same order,
 *    one pass at eps = eps0: batch 1 and the study's learning.batch. At the
 *    end, per unit, the cosine between its exact and fast weights (same
 *    initialisation, so units correspond), and |B_mu - R^p| for each.
 * Everything goes to /comparison in the exact run's file (docs/fast_rule.md). */
#include "cmd/kh_compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "models/kh_model.h"
#include "solvers/kh_fast.h"
#include "solvers/kh_solver.h"

typedef struct cmp {
    const kh_params *p;
    long m, n, N;
    kh_fast *local; /* batch 1, reset to the exact W at each presentation */
    double *W_start, *W_end, *dW_fast, *g_fast, *act_fast;
    const double *v; /* the sample being shown (borrowed) */
    double code_tol; /* two codes agree within this */
    double *g_agree, *angle;
    long *winner_agree, *exact_winner, *fast_winner, *exact_negative, *exact_active;
    long done;
} cmp;

static void cmp_free(cmp *c)
{
    kh_fast_free(c->local);
    free(c->W_start);
    free(c->W_end);
    free(c->dW_fast);
    free(c->g_fast);
    free(c->act_fast);
    free(c->g_agree);
    free(c->angle);
    free(c->winner_agree); /* the block that holds the five per-sample long arrays */
}

static int on_begin(void *ctx, long s, const double *y, const double *v)
{
    cmp *c = ctx;
    c->v = v;
    const size_t mn = (size_t)c->m * (size_t)c->n;
    memcpy(c->W_start, y + c->m, mn * sizeof(double));
    kh_fast_set_W(c->local, c->W_start);
    int st = kh_fast_delta(c->local, &s, 1, c->dW_fast);
    if (st == KH_OK) {
        kh_fast_last(c->local, 0, NULL, c->act_fast, c->g_fast);
    }
    return st;
}

/* The unit ranked first by x (ties: the lower index). */
static long argmax(const double *x, long m)
{
    long best = 0;
    for (long mu = 1; mu < m; mu++) {
        if (x[mu] > x[best]) {
            best = mu;
        }
    }
    return best;
}

static int on_end(void *ctx, long s, const double *y)
{
    cmp *c = ctx;
    const kh_params *p = c->p;
    const long m = c->m, n = c->n;
    const double *h = y, *W = y + m;
    const double p2 = p->p - 2.0;
    const int ip2 = kh_int_exponent(p2);
    long agree = 0, neg = 0, active = 0, fast_win = -1;
    double dot = 0.0, ne = 0.0, nf = 0.0;
    for (long mu = 0; mu < m; mu++) {
        const double *w0 = c->W_start + mu * n;
        /* The exact code: g of the drive reached at the presentation's end. */
        double d = h[mu];
        if (p->drive == KH_DRIVE_Q) {
            double I, B;
            kh_row_moments(W + mu * n, c->v, n, p2, ip2, &I, &B, NULL);
            d = kh_q(I, B, p->p);
        }
        double ge = kh_g(p->g, d, p->delta, p->h_star, p->g_n);
        agree += fabs(ge - c->g_fast[mu]) <= c->code_tol;
        neg += ge < 0.0;
        active += h[mu] > 0.0;
        if (c->g_fast[mu] == 1.0) {
            fast_win = mu;
        }
        for (long i = 0; i < n; i++) {
            double e = W[mu * n + i] - w0[i], f = c->dW_fast[mu * n + i];
            dot += e * f;
            ne += e * e;
            nf += f * f;
        }
    }
    if (fast_win < 0) {
        fast_win = argmax(c->act_fast, m);
    }
    c->exact_winner[s] = argmax(h, m);
    c->fast_winner[s] = fast_win;
    c->winner_agree[s] = c->exact_winner[s] == fast_win;
    c->g_agree[s] = (double)agree / (double)m;
    c->exact_negative[s] = neg;
    c->exact_active[s] = active;
    c->angle[s] = (ne > 0.0 && nf > 0.0)
                      ? acos(fmax(-1.0, fmin(1.0, dot / sqrt(ne * nf)))) * 180.0 / M_PI
                      : (double)NAN;
    memcpy(c->W_end, W, (size_t)m * (size_t)n * sizeof(double));
    c->done = s + 1;
    return KH_OK;
}

/* Two codes g agree when they differ by at most this (both are exact
 * values 1, -delta or 0 with bcm_step; a fraction for the smooth g). */
#define KH_CODE_TOL 1e-12

/* Per-unit cosine of two weight matrices [m, n] into cs [m]. */
static void unit_cosines(const double *A, const double *B, long m, long n, double *cs)
{
    for (long mu = 0; mu < m; mu++) {
        double ab = 0.0, aa = 0.0, bb = 0.0;
        for (long i = 0; i < n; i++) {
            ab += A[mu * n + i] * B[mu * n + i];
            aa += A[mu * n + i] * A[mu * n + i];
            bb += B[mu * n + i] * B[mu * n + i];
        }
        cs[mu] = aa > 0.0 && bb > 0.0 ? ab / sqrt(aa * bb) : (double)NAN;
    }
}

static void sphere_dev(const double *W, long m, long n, const kh_params *p, double *dev)
{
    const int ip = kh_int_exponent(p->p);
    const double Rp = pow(p->R, p->p);
    for (long mu = 0; mu < m; mu++) {
        dev[mu] = fabs(kh_row_pnorm(W + mu * n, n, p->p, ip) - Rp);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of x [len] (NaN skipped), by sorting a copy into tmp. */
static double quantile(const double *x, long len, double q, double *tmp)
{
    long k = 0;
    for (long i = 0; i < len; i++) {
        if (!isnan(x[i])) {
            tmp[k++] = x[i];
        }
    }
    if (k == 0) {
        return (double)NAN;
    }
    qsort(tmp, (size_t)k, sizeof(double), cmp_double);
    return tmp[(long)floor(q * (double)(k - 1) + 0.5)];
}

static double mean(const double *x, long len)
{
    double s = 0.0;
    long k = 0;
    for (long i = 0; i < len; i++) {
        if (!isnan(x[i])) {
            s += x[i];
            k++;
        }
    }
    return k ? s / (double)k : (double)NAN;
}

/* One pass of the fast rule over the samples 0..N-1 in order, minibatches of
 * nb, at eps0, from W0; the final weights into W. */
static int fast_pass(const kh_params *p, const kh_dataset *d, const double *W0, long nb, double *W)
{
    const long N = d->n_samples;
    nb = nb < N ? nb : N;
    kh_fast *f = kh_fast_alloc(p, d->x, N, W0, nb);
    long *idx = malloc((size_t)N * sizeof(long));
    if (!f || !idx) {
        kh_fast_free(f);
        free(idx);
        return f ? KH_ERROR(KH_ENOMEM, "cannot allocate the fast pass") : KH_EINVAL;
    }
    for (long j = 0; j < N; j++) {
        idx[j] = j;
    }
    int st = KH_OK;
    for (long b0 = 0; b0 < N && st == KH_OK; b0 += nb) {
        st = kh_fast_step(f, idx + b0, N - b0 < nb ? N - b0 : nb, p->eps0);
    }
    kh_fast_get_W(f, W);
    kh_fast_free(f);
    free(idx);
    return st;
}

/* What the comparison found, beside the per-sample series of cmp. */
typedef struct outcome {
    const double *W1, *WB;               /* final W of the fast passes: batch 1, learning.batch */
    const double *cos1, *cosB;           /* [m] unit cosines with the exact W */
    const double *dev_e, *dev_1, *dev_B; /* [m] |B - R^p| of each */
    double win, g_mean, ang_med, with_neg;
    long B;
} outcome;

/* /comparison in the record of the exact run. */
static int write_comparison(const kh_params *p, const cmp *c, const outcome *o)
{
    const long m = c->m, n = c->n, N = c->N;
    const size_t mn = (size_t)m * (size_t)n;
    kh_h5 *f = kh_h5_open_rw(p->out_path);
    if (!f) {
        return KH_EIO;
    }
    int st = KH_OK;
    long dN[1] = {N}, dm[1] = {m};
    struct {
        const char *name;
        const void *x;
        const long *dims;
        int is_long;
        const char *units;
    } arrays[] = {
        {"/comparison/winner_agree", c->winner_agree, dN, 1,
         "1|1 where argmax h is the fast rule's winner@sample"},
        {"/comparison/exact_winner", c->exact_winner, dN, 1, "index|the index of a unit@sample"},
        {"/comparison/fast_winner", c->fast_winner, dN, 1, "index|the index of a unit@sample"},
        {"/comparison/g_agree", c->g_agree, dN, 0,
         "fraction|the entries of g (of m) that agree@sample"},
        {"/comparison/update_angle", c->angle, dN, 0,
         "degree|the angle between W_end - W_start and the fast Delta W at "
         "W_start@sample"},
        {"/comparison/exact_negative", c->exact_negative, dN, 1,
         "count|units with g < 0 at the end@sample"},
        {"/comparison/exact_active", c->exact_active, dN, 1,
         "count|units with h > 0 at the end@sample"},
        {"/comparison/unit_cosine_batch1", o->cos1, dm, 0, "1|cos(W_exact_mu, W_fast_mu)@unit"},
        {"/comparison/unit_cosine_batch", o->cosB, dm, 0, "1|cos(W_exact_mu, W_fast_mu)@unit"},
        {"/comparison/sphere_dev_exact", o->dev_e, dm, 0,
         "weight^p||B_mu - R^p| of each unit@unit"},
        {"/comparison/sphere_dev_batch1", o->dev_1, dm, 0,
         "weight^p||B_mu - R^p| of each unit@unit"},
        {"/comparison/sphere_dev_batch", o->dev_B, dm, 0,
         "weight^p||B_mu - R^p| of each unit@unit"},
    };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0] && st == KH_OK; i++) {
        st = kh_h5_write_array(f, arrays[i].name, arrays[i].x, 1, arrays[i].dims, arrays[i].is_long,
                               arrays[i].units);
    }
    if (st == KH_OK) {
        const long dW[3] = {2, m, n};
        double *both = malloc(2 * mn * sizeof(double));
        if (!both) {
            st = KH_ERROR(KH_ENOMEM, "cannot allocate the fast weights' record");
        } else {
            memcpy(both, o->W1, mn * sizeof(double));
            memcpy(both + mn, o->WB, mn * sizeof(double));
            st = kh_h5_write_array(
                f, "/comparison/W_fast", both, 3, dW, 0,
                "weight|final W of the fast passes: [batch 1, learning.batch]@pass,unit,input");
            free(both);
        }
    }
    struct {
        const char *name;
        double x;
    } attrs[] = {
        {"winner_agreement", o->win},
        {"g_agreement_mean", o->g_mean},
        {"update_angle_median", o->ang_med},
        {"samples_with_negative_g_exact", o->with_neg},
        {"unit_cosine_batch1_mean", mean(o->cos1, m)},
        {"unit_cosine_batch_mean", mean(o->cosB, m)},
        {"batch", (double)o->B},
        {"eps", p->eps0},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0] && st == KH_OK; i++) {
        st = kh_h5_set_attr(f, "/comparison", attrs[i].name, attrs[i].x, NULL);
    }
    int s2 = kh_h5_close(f);
    return st != KH_OK ? st : s2;
}

/* The summary on `report`; tmp [max(N, m)] is scratch. */
static void print_summary(FILE *report, const kh_params *p, const cmp *c, const outcome *o,
                          double *tmp)
{
    const long m = c->m, N = c->N;
    fprintf(report,
            "khsim compare: %s (exact: %s, %ld presentations; fast: eps = %g, "
            "rank %s, code %s, max-norm %s)\n",
            p->out_path, p->method, N, p->eps0, p->fast_rank ? "on" : "off",
            p->fast_code ? "on" : "off", p->fast_maxnorm ? "on" : "off");
    fprintf(report, "  per sample, at the exact W (fast rule with batch 1):\n");
    fprintf(report, "    winner agrees                      %6.1f %%\n", 100.0 * o->win);
    fprintf(report, "    entries of g that agree (mean)     %6.1f %%\n", 100.0 * o->g_mean);
    fprintf(report, "    angle between the updates (median) %6.1f deg\n", o->ang_med);
    fprintf(report, "    samples where some exact g < 0     %6.0f of %ld\n", o->with_neg, N);
    char bname[32];
    snprintf(bname, sizeof bname, "fast b=%ld", o->B);
    fprintf(report, "  at the end, same W0 and samples:     %12s %12s %12s\n", "exact", "fast b=1",
            bname);
    fprintf(report, "    unit cosine with exact (mean)      %12s %12.4f %12.4f\n", "-",
            mean(o->cos1, m), mean(o->cosB, m));
    fprintf(report, "    unit cosine with exact (min)       %12s %12.4f %12.4f\n", "-",
            quantile(o->cos1, m, 0.0, tmp), quantile(o->cosB, m, 0.0, tmp));
    fprintf(report, "    |B - R^p| median                   %12.4g %12.4g %12.4g\n",
            quantile(o->dev_e, m, 0.5, tmp), quantile(o->dev_1, m, 0.5, tmp),
            quantile(o->dev_B, m, 0.5, tmp));
    fprintf(report, "    |B - R^p| max                      %12.4g %12.4g %12.4g\n",
            quantile(o->dev_e, m, 1.0, tmp), quantile(o->dev_1, m, 1.0, tmp),
            quantile(o->dev_B, m, 1.0, tmp));
}

int kh_compare_run(kh_config *conf, const char *overrides, const volatile sig_atomic_t *stop,
                   kh_progress_fn progress, void *progress_ctx, FILE *report)
{
    kh_params *p = &conf->p;
    if (!kh_model_has(p->model, KH_MODEL_FAST_RULE)) {
        return KH_ERROR(KH_EINVAL,
                        "khsim compare: the fast rule approximates network.model = "
                        "krotov_hopfield, not %s",
                        p->model);
    }
    if (kh_method_caps(p->method) & KH_SOLVER_NOT_ODE) {
        return KH_ERROR(KH_EINVAL, "khsim compare: solver.method names the exact dynamics "
                                   "(an ODE method or quasi_static), not fast");
    }
    kh_dataset d;
    memset(&d, 0, sizeof d);
    int st = kh_data_load(p, &d);
    if (st != KH_OK) {
        return st;
    }
    p->n_visible = d.n_features;
    const long m = p->n_hidden, n = p->n_visible, N = d.n_samples;
    const size_t mn = (size_t)m * (size_t)n;
    cmp c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.m = m;
    c.n = n;
    c.N = N;
    c.code_tol = KH_CODE_TOL;
    double *W0 = malloc(mn * sizeof(double)), *W1 = malloc(mn * sizeof(double));
    double *WB = malloc(mn * sizeof(double)), *per_unit = malloc(5 * (size_t)m * sizeof(double));
    double *tmp = malloc((size_t)(N > m ? N : m) * sizeof(double));
    c.W_start = malloc(mn * sizeof(double));
    c.W_end = malloc(mn * sizeof(double));
    c.dW_fast = malloc(mn * sizeof(double));
    c.g_fast = malloc((size_t)m * sizeof(double));
    c.act_fast = malloc((size_t)m * sizeof(double));
    c.g_agree = malloc((size_t)N * sizeof(double));
    c.angle = malloc((size_t)N * sizeof(double));
    long *longs = malloc(5 * (size_t)N * sizeof(long));
    c.winner_agree = longs;
    if (!W0 || !W1 || !WB || !per_unit || !tmp || !c.W_start || !c.W_end || !c.dW_fast ||
        !c.g_fast || !c.act_fast || !c.g_agree || !c.angle || !longs) {
        st = KH_ERROR(KH_ENOMEM, "cannot allocate khsim compare for %ld units x %ld inputs", m, n);
        goto done;
    }
    c.exact_winner = longs + N;
    c.fast_winner = longs + 2 * N;
    c.exact_negative = longs + 3 * N;
    c.exact_active = longs + 4 * N;
    if ((st = kh_sim_init_weights(p, W0)) != KH_OK) {
        goto done;
    }
    if (!(c.local = kh_fast_alloc(p, d.x, N, W0, 1))) {
        st = kh_errcode();
        goto done;
    }
    kh_sim_hooks hooks = {&c, on_begin, on_end};
    kh_sim_result res;
    st = kh_sim_run_hooked(conf, overrides, stop, progress, progress_ctx, &hooks, &res);
    if (st != KH_OK) {
        goto done;
    }
    const long B = p->batch < N ? p->batch : N;
    if ((st = fast_pass(p, &d, W0, 1, W1)) != KH_OK ||
        (st = fast_pass(p, &d, W0, B, WB)) != KH_OK) {
        goto done;
    }
    double *cos1 = per_unit, *cosB = per_unit + m, *dev_e = per_unit + 2 * m;
    double *dev_1 = per_unit + 3 * m, *dev_B = per_unit + 4 * m;
    unit_cosines(c.W_end, W1, m, n, cos1);
    unit_cosines(c.W_end, WB, m, n, cosB);
    sphere_dev(c.W_end, m, n, p, dev_e);
    sphere_dev(W1, m, n, p, dev_1);
    sphere_dev(WB, m, n, p, dev_B);
    double win = 0.0, with_neg = 0.0;
    for (long s = 0; s < N; s++) {
        win += (double)c.winner_agree[s];
        with_neg += c.exact_negative[s] > 0;
    }
    win /= (double)N;
    const double g_mean = mean(c.g_agree, N), ang_med = quantile(c.angle, N, 0.5, tmp);

    const outcome o = {W1, WB, cos1, cosB, dev_e, dev_1, dev_B, win, g_mean, ang_med, with_neg, B};
    if ((st = write_comparison(p, &c, &o)) != KH_OK) {
        goto done;
    }
    print_summary(report, p, &c, &o, tmp);
done:
    cmp_free(&c);
    free(W0);
    free(W1);
    free(WB);
    free(per_unit);
    free(tmp);
    kh_dataset_release(&d);
    return st;
}
