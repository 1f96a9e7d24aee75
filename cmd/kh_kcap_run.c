/* khsim kcap's run: the data, the plain Hebbian rule, the meta-training of
 * the learned rule and its evaluation with the hard cap, the RNN and MLP
 * autoencoders trained by backpropagation, the earth mover's distances, and
 * the record (docs/kcap.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/kh_kcap.h"
#include "cmd/kh_readout.h"
#include "core/kh_clock.h"
#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_h5.h"

typedef struct kc_data {
    long N, n, m;
    double *z, *x, *P;
    long *label, *order;
} kc_data;

static void data_free(kc_data *d)
{
    free(d->z);
    free(d->x);
    free(d->P);
    free(d->label);
    free(d->order);
}

static int finite_net(kh_kcap_net *net)
{
    double *a[KH_KCAP_ARRAYS];
    long len[KH_KCAP_ARRAYS];
    const int c = kh_kcap_net_arrays(net, a, len);
    for (int i = 0; i < c; i++) {
        for (long j = 0; j < len[i]; j++) {
            if (!isfinite(a[i][j])) {
                return 0;
            }
        }
    }
    return 1;
}

static double tau_at(const kh_params *p, long e, long E)
{
    return E <= 1 ? p->kc_tau_end
                  : p->kc_tau0 * pow(p->kc_tau_end / p->kc_tau0, (double)e / (double)(E - 1));
}

/* The latent state x_{T+1} of every sample under the hard cap into lat
 * [N, m]; returns the mean autoencoding loss. */
static double latents(const kh_kcap_net *net, const kc_data *d, kh_kcap_pass *ps, double *lat)
{
    double L = 0.0;
    for (long s = 0; s < d->N; s++) {
        L += kh_kcap_forward(net, d->x + s * d->n, 0.0, ps) / (double)d->N;
        memcpy(lat + s * d->m, ps->x + net->T * d->m, (size_t)d->m * sizeof(double));
    }
    return L;
}

typedef struct kc_run {
    kh_config *c;
    kh_h5 *f;
    kc_data d;
    const volatile sig_atomic_t *stop;
    kh_progress_fn progress;
    void *pctx;
    double last, done, total; /* progress: units of work done and planned */
    double *lat, *Y;
    int semi_k; /* the labelled counts the readout is given (semi_sizes) */
} kc_run;

static void report(kc_run *r, const char *what, long e, long E)
{
    if (r->progress && kh_wall_seconds() - r->last > kh_progress_seconds()) {
        char line[160];
        snprintf(line, sizeof line, "%s, epoch %ld/%ld", what, e, E);
        r->progress(r->pctx, r->done / r->total, line);
        r->last = kh_wall_seconds();
    }
}

static int series(kc_run *r, const char *path, double v, const char *units)
{
    return kh_h5_series_append(r->f, path, &v, 0, 0, units);
}

/* The labelled samples of each class the semi-supervised readout is given
 * (those below the smaller class's size), and the draws it averages. */
static const long semi_per_class[] = {1, 2, 4, 8, 16, 32, 64};
#define SEMI_K ((int)(sizeof semi_per_class / sizeof semi_per_class[0]))
#define SEMI_DRAWS 20

static int semi_sizes(const kc_data *d)
{
    long n1 = 0;
    for (long s = 0; s < d->N; s++) {
        n1 += d->label[s] == 1;
    }
    const long small = n1 < d->N - n1 ? n1 : d->N - n1;
    int K = 0;
    while (K < SEMI_K && semi_per_class[K] < small) {
        K++;
    }
    return K;
}

/* The semi-supervised readout's accuracy on features X [N, dim] against the
 * labelled samples per class, into g/semi_accuracy. */
static int semi(kc_run *r, const double *X, long dim, const char *g)
{
    const int K = r->semi_k;
    double acc[SEMI_K];
    int st = kh_kcap_semi(X, r->d.label, r->d.N, dim, semi_per_class, K, SEMI_DRAWS,
                          (uint64_t)r->c->p.kc_seed, acc);
    char name[96];
    snprintf(name, sizeof name, "%s/semi_accuracy", g);
    const long dk[1] = {K};
    if (st == KH_OK && K > 0) {
        st = kh_h5_overwrite(
            r->f, name, acc, 1, dk, 0,
            "1|test accuracy of a linear readout (L2-regularised logistic "
            "regression) trained on /kcap/semi_labels labelled samples of each "
            "class, on all the others; the mean of 20 labelled sets@labels_per_class");
    }
    if (st == KH_OK && K > 0) {
        st = kh_h5_attach_scale(r->f, name, 0, "/kcap/semi_labels", "labels_per_class");
    }
    return st;
}

/* The latent states of net: the EMD to the 2-D data, the aligned
 * projection, the final hard loss and the semi-supervised readout's
 * accuracy, into group g. */
static int record_latent(kc_run *r, const kh_kcap_net *net, kh_kcap_pass *ps, const char *g)
{
    const double L = latents(net, &r->d, ps, r->lat);
    const double emd = kh_kcap_emd(r->lat, r->d.N, r->d.m, r->d.z, r->Y);
    if (emd < 0.0) {
        return KH_ERROR(KH_ENOMEM, "kcap: cannot allocate the earth mover's distance");
    }
    char name[96];
    const long dl[2] = {r->d.N, r->d.m}, dy[2] = {r->d.N, 2};
    snprintf(name, sizeof name, "%s/latent", g);
    int st = kh_h5_overwrite(r->f, name, r->lat, 2, dl, 0,
                             "1|x_{T+1} of every sample under the hard cap at the end@sample,unit");
    snprintf(name, sizeof name, "%s/latent2d", g);
    if (st == KH_OK) {
        st = kh_h5_overwrite(r->f, name, r->Y, 2, dy, 0,
                             "1|the latent states on their two principal axes, centred, scaled "
                             "and rotated onto the 2-D data (what the EMD compares)@sample,plane");
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(r->f, g, "emd", emd, NULL);
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(r->f, g, "final_loss", L, NULL);
    }
    if (st == KH_OK) {
        st = semi(r, r->lat, r->d.m, g);
    }
    return st;
}

/* Trains net by a local rule (learned: rule; else Hebbian) for kcap.epochs
 * passes; records the seed's objective, the loss one step after each
 * update under the hard cap, averaged over each pass, in g/loss. */
static int local_rule(kc_run *r, kh_kcap_net *net, const kh_kcap_rule *rule, kh_kcap_net *work,
                      const char *g)
{
    const kh_params *p = &r->c->p;
    kh_kcap_pass ps, ps2;
    int st = kh_kcap_pass_alloc(&ps, net);
    if (st == KH_OK && (st = kh_kcap_pass_alloc(&ps2, net)) != KH_OK) {
        kh_kcap_pass_free(&ps);
    }
    if (st != KH_OK) {
        return st;
    }
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->kc_seed, rule ? 41 : 40);
    char name[96], name_next[96];
    snprintf(name, sizeof name, "%s/loss", g);
    snprintf(name_next, sizeof name_next, "%s/loss_next", g);
    for (long e = 0; e < p->kc_epochs && st == KH_OK; e++) {
        kh_sim_shuffle(r->d.order, r->d.N, &rng);
        double L = 0.0, Ln = 0.0;
        for (long s = 0; s < r->d.N && st == KH_OK; s++) {
            if (r->stop && *r->stop) {
                st = KH_ERROR(KH_EINTR, "interrupted in %s, epoch %ld", g, e + 1);
                break;
            }
            const double *x0 = r->d.x + r->d.order[s] * r->d.n;
            kh_kcap_forward(net, x0, 0.0, &ps);
            if (rule) {
                kh_kcap_rule_update(rule, net, x0, &ps, work);
                kh_kcap_net_add(net, work);
            } else {
                kh_kcap_hebb(net, x0, &ps, p->kc_eta);
            }
            L += kh_kcap_forward(net, x0, 0.0, &ps2) / (double)r->d.N;
            Ln += kh_kcap_forward(net, r->d.x + r->d.order[(s + 1) % r->d.N] * r->d.n, 0.0, &ps2) /
                  (double)r->d.N;
        }
        if (st == KH_OK && (!isfinite(L) || !finite_net(net))) {
            st =
                KH_ERROR(KH_ESOLVER, "kcap: %s made the weights non-finite in epoch %ld", g, e + 1);
        }
        if (st == KH_OK) {
            st = series(r, name, L,
                        "1|mean over the pass of |M'(x) - x|^2 one step after each update, hard "
                        "cap@epoch");
        }
        if (st == KH_OK) {
            st = series(r, name_next, Ln,
                        "1|the same on the next sample of the stream, y = M'(x_next)@epoch");
        }
        r->done += 1.0;
        report(r, g, e + 1, p->kc_epochs);
    }
    if (st == KH_OK) {
        st = record_latent(r, net, &ps, g);
    }
    kh_kcap_pass_free(&ps);
    kh_kcap_pass_free(&ps2);
    return st;
}

/* Meta-training of rule: each pass from a fresh RNN, the one-step loss's
 * gradient through the soft cap at the pass's temperature, Adam every
 * kcap.meta_batch samples, the network updated by the rule as it goes. */
static int meta_train(kc_run *r, kh_kcap_rule *rule, kh_kcap_net *work, kh_kcap_net *gwork)
{
    const kh_params *p = &r->c->p;
    const long P = rule->total;
    double *g = calloc((size_t)P, sizeof(double)), *m1 = calloc((size_t)P, sizeof(double));
    double *m2 = calloc((size_t)P, sizeof(double));
    kh_kcap_pass ps, ps2;
    memset(&ps, 0, sizeof ps);
    memset(&ps2, 0, sizeof ps2);
    kh_kcap_net net;
    memset(&net, 0, sizeof net);
    int st = g && m1 && m2 ? KH_OK : KH_ERROR(KH_ENOMEM, "kcap: cannot allocate Adam's moments");
    if (st == KH_OK) {
        st = kh_kcap_pass_alloc(&ps, work);
    }
    if (st == KH_OK) {
        st = kh_kcap_pass_alloc(&ps2, work);
    }
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->kc_seed, 42);
    long t = 0;
    for (long e = 0; e < p->kc_meta_epochs && st == KH_OK; e++) {
        const double tau = tau_at(p, e, p->kc_meta_epochs);
        st = kh_kcap_net_alloc(&net, r->d.n, r->d.m, p->kc_k, p->kc_steps, 1, p->kc_cap_output,
                               (uint64_t)p->kc_seed * 1000003u + 7u + (uint64_t)e);
        if (st != KH_OK) {
            break;
        }
        kh_sim_shuffle(r->d.order, r->d.N, &rng);
        double L = 0.0;
        long inbatch = 0;
        for (long s = 0; s < r->d.N && st == KH_OK; s++) {
            if (r->stop && *r->stop) {
                st = KH_ERROR(KH_EINTR, "interrupted in the meta-training, epoch %ld", e + 1);
                break;
            }
            const double *x0 = r->d.x + r->d.order[s] * r->d.n;
            const double *xe =
                p->kc_meta_target ? r->d.x + r->d.order[(s + 1) % r->d.N] * r->d.n : x0;
            L += kh_kcap_meta_loss(rule, &net, x0, xe, tau, g, work, gwork, &ps, &ps2) /
                 (double)r->d.N;
            /* the inner step: M += f_theta(the hard pass at M) */
            kh_kcap_rule_update(rule, &net, x0, &ps, work);
            kh_kcap_net_add(&net, work);
            if (++inbatch == p->kc_meta_batch || s == r->d.N - 1) {
                for (long q = 0; q < P; q++) {
                    g[q] /= (double)inbatch;
                }
                kh_adam_step(rule->th[0], g, m1, m2, P, ++t, p->kc_meta_lr, 0.9, 0.999, 1e-8);
                memset(g, 0, (size_t)P * sizeof(double));
                inbatch = 0;
            }
        }
        kh_kcap_net_free(&net);
        if (st == KH_OK && !isfinite(L)) {
            st = KH_ERROR(KH_ESOLVER,
                          "kcap: the meta-training's loss is not finite in epoch %ld "
                          "(lower kcap.meta_lr)",
                          e + 1);
        }
        if (st == KH_OK) {
            st = series(
                r, "/kcap/meta/loss", L,
                "1|mean one-step loss |M'(x) - x|^2 through the soft cap over the pass@meta_epoch");
        }
        if (st == KH_OK) {
            st = series(r, "/kcap/meta/tau", tau,
                        "1|the soft cap's temperature in the pass@meta_epoch");
        }
        r->done += 1.0;
        report(r, "meta-training", e + 1, p->kc_meta_epochs);
    }
    kh_kcap_pass_free(&ps);
    kh_kcap_pass_free(&ps2);
    free(g);
    free(m1);
    free(m2);
    return st;
}

/* An autoencoder trained by backpropagation through the soft cap (the
 * temperature annealed as in the meta-training), Adam on minibatches. */
static int backprop(kc_run *r, kh_kcap_net *net, const char *g)
{
    const kh_params *p = &r->c->p;
    kh_kcap_net grad;
    int st =
        kh_kcap_net_alloc(&grad, net->n, net->m, net->k, net->T, net->shared, net->cap_output, 0);
    double *a[KH_KCAP_ARRAYS], *ga[KH_KCAP_ARRAYS], *m1[KH_KCAP_ARRAYS] = {NULL},
                                                    *m2[KH_KCAP_ARRAYS] = {NULL};
    long la[KH_KCAP_ARRAYS], lg[KH_KCAP_ARRAYS];
    const int c = kh_kcap_net_arrays(net, a, la);
    if (st == KH_OK) {
        kh_kcap_net_arrays(&grad, ga, lg);
        for (int i = 0; i < c && st == KH_OK; i++) {
            m1[i] = calloc((size_t)la[i], sizeof(double));
            m2[i] = calloc((size_t)la[i], sizeof(double));
            if (!m1[i] || !m2[i]) {
                st = KH_ERROR(KH_ENOMEM, "kcap: cannot allocate Adam's moments");
            }
        }
    }
    kh_kcap_pass ps;
    memset(&ps, 0, sizeof ps);
    if (st == KH_OK) {
        st = kh_kcap_pass_alloc(&ps, net);
    }
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->kc_seed, net->shared ? 43 : 44);
    char name[96];
    snprintf(name, sizeof name, "%s/loss", g);
    long t = 0;
    for (long e = 0; e < p->kc_bp_epochs && st == KH_OK; e++) {
        const double tau = tau_at(p, e, p->kc_bp_epochs);
        kh_sim_shuffle(r->d.order, r->d.N, &rng);
        double L = 0.0;
        for (long b0 = 0; b0 < r->d.N && st == KH_OK; b0 += p->kc_meta_batch) {
            if (r->stop && *r->stop) {
                st = KH_ERROR(KH_EINTR, "interrupted in %s, epoch %ld", g, e + 1);
                break;
            }
            const long nb = r->d.N - b0 < p->kc_meta_batch ? r->d.N - b0 : p->kc_meta_batch;
            for (int i = 0; i < c; i++) {
                memset(ga[i], 0, (size_t)la[i] * sizeof(double));
            }
            for (long s = b0; s < b0 + nb; s++) {
                const double *x0 = r->d.x + r->d.order[s] * r->d.n;
                L += kh_kcap_forward(net, x0, tau, &ps) / (double)r->d.N;
                kh_kcap_backward(net, x0, tau, &ps, &grad);
            }
            t++;
            for (int i = 0; i < c; i++) {
                for (long j = 0; j < la[i]; j++) {
                    ga[i][j] /= (double)nb;
                }
                kh_adam_step(a[i], ga[i], m1[i], m2[i], la[i], t, p->kc_bp_lr, 0.9, 0.999, 1e-8);
            }
        }
        if (st == KH_OK && !isfinite(L)) {
            st = KH_ERROR(KH_ESOLVER, "kcap: %s's loss is not finite in epoch %ld", g, e + 1);
        }
        if (st == KH_OK) {
            st = series(r, name, L,
                        "1|mean autoencoding loss over the epoch through the soft cap@bp_epoch");
        }
        r->done += 1.0;
        report(r, g, e + 1, p->kc_bp_epochs);
    }
    if (st == KH_OK) {
        st = record_latent(r, net, &ps, g);
    }
    kh_kcap_pass_free(&ps);
    for (int i = 0; i < c; i++) {
        free(m1[i]);
        free(m2[i]);
    }
    kh_kcap_net_free(&grad);
    return st;
}

static int load_data(kc_data *d, const kh_params *p)
{
    d->N = p->kc_samples;
    d->n = p->kc_inputs;
    d->m = p->kc_hidden;
    d->z = malloc((size_t)(2 * d->N) * sizeof(double));
    d->x = malloc((size_t)(d->N * d->n) * sizeof(double));
    d->P = malloc((size_t)(2 * d->n) * sizeof(double));
    d->label = malloc((size_t)d->N * sizeof(long));
    d->order = malloc((size_t)d->N * sizeof(long));
    if (!d->z || !d->x || !d->P || !d->label || !d->order) {
        return KH_ERROR(KH_ENOMEM, "kcap: cannot allocate %ld samples", d->N);
    }
    static const double noise[3] = {0.05, 0.1, 1.0};
    kh_kcap_data(p->kc_data, d->N, p->kc_noise >= 0.0 ? p->kc_noise : noise[p->kc_data],
                 (uint64_t)p->kc_seed, d->n, d->z, d->x, d->label, d->P);
    return KH_OK;
}

static int write_data(kc_run *r)
{
    const kc_data *d = &r->d;
    const long dz[2] = {d->N, 2}, dx[2] = {d->N, d->n}, dl[1] = {d->N}, dp[2] = {d->n, 2};
    int st = kh_h5_write_array(r->f, "/kcap/data/z", d->z, 2, dz, 0,
                               "1|the 2-D points (the latent structure)@sample,plane");
    if (st == KH_OK) {
        st = kh_h5_write_array(
            r->f, "/kcap/data/x", d->x, 2, dx, 0,
            "1|the inputs: x = P z, projected to kcap.inputs dimensions@sample,input");
    }
    if (st == KH_OK) {
        st = kh_h5_write_array(r->f, "/kcap/data/label", d->label, 1, dl, 1,
                               "1|class 0 or 1@sample");
    }
    if (st == KH_OK) {
        st = kh_h5_write_array(r->f, "/kcap/data/projection", d->P, 2, dp, 0,
                               "1|the fixed random matrix P [n, 2]@input,plane");
    }
    r->semi_k = semi_sizes(d);
    const long dk[1] = {r->semi_k};
    if (st == KH_OK && dk[0] > 0) {
        st = kh_h5_write_array(r->f, "/kcap/semi_labels", semi_per_class, 1, dk, 1,
                               "1|labelled samples of each class given to the semi-supervised "
                               "readout (the index of every semi_accuracy)@labels_per_class");
    }
    /* The readout on the inputs themselves: what a representation must beat. */
    if (st == KH_OK) {
        st = semi(r, d->x, d->n, "/kcap/input");
    }
    return st;
}

int kh_kcap_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                kh_progress_fn progress, void *pctx)
{
    kh_params *p = &c->p;
    if (resume) {
        return KH_ERROR(KH_ENOTSUP, "khsim kcap does not resume: run it again (the default "
                                    "study takes seconds)");
    }
    if (p->kc_k >= p->kc_hidden || (p->kc_cap_output && p->kc_k >= p->kc_inputs)) {
        return KH_ERROR(KH_EINVAL, "kcap.k = %ld must be below kcap.hidden = %ld%s", p->kc_k,
                        p->kc_hidden, p->kc_cap_output ? " and kcap.inputs (cap_output)" : "");
    }
    kc_run r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.stop = stop;
    r.progress = progress;
    r.pctx = pctx;
    r.total = (double)(2 * p->kc_epochs + p->kc_meta_epochs + 2 * p->kc_bp_epochs);
    const double t0 = kh_wall_seconds();
    int st = load_data(&r.d, p);
    const long N = r.d.N, n = r.d.n, m = r.d.m;
    if (st == KH_OK) {
        r.lat = malloc((size_t)(N * m) * sizeof(double));
        r.Y = malloc((size_t)(2 * N) * sizeof(double));
        if (!r.lat || !r.Y) {
            st = KH_ERROR(KH_ENOMEM, "kcap: cannot allocate the latent states");
        }
    }
    kh_kcap_net net0, net, work, gwork;
    memset(&net0, 0, sizeof net0);
    memset(&net, 0, sizeof net);
    memset(&work, 0, sizeof work);
    memset(&gwork, 0, sizeof gwork);
    kh_kcap_rule rule;
    memset(&rule, 0, sizeof rule);
    const uint64_t wseed = (uint64_t)p->kc_seed * 1000003u + 1u;
    if (st == KH_OK) {
        st = kh_kcap_net_alloc(&net0, n, m, p->kc_k, p->kc_steps, 1, p->kc_cap_output, wseed);
    }
    if (st == KH_OK) {
        st = kh_kcap_net_alloc(&net, n, m, p->kc_k, p->kc_steps, 1, p->kc_cap_output, wseed);
    }
    if (st == KH_OK) {
        st = kh_kcap_net_alloc(&work, n, m, p->kc_k, p->kc_steps, 1, p->kc_cap_output, 0);
    }
    if (st == KH_OK) {
        st = kh_kcap_net_alloc(&gwork, n, m, p->kc_k, p->kc_steps, 1, p->kc_cap_output, 0);
    }
    if (st == KH_OK) {
        st = kh_kcap_rule_alloc(&rule, p->kc_steps, p->kc_rule_hidden, (uint64_t)p->kc_seed);
    }
    if (st == KH_OK) {
        st = kh_sim_check_output(c, 0);
    }
    if (st == KH_OK) {
        r.f = kh_h5_create_rw(p->out_path, c, "khsim kcap: k-cap RNN with local plasticity",
                              overrides, m, n);
        st = r.f ? KH_OK : KH_EIO;
    }
    if (st == KH_OK) {
        st = write_data(&r);
    }
    /* No plasticity: the network at W(0). */
    if (st == KH_OK) {
        kh_kcap_pass ps;
        if ((st = kh_kcap_pass_alloc(&ps, &net0)) == KH_OK) {
            st = record_latent(&r, &net0, &ps, "/kcap/none");
            kh_kcap_pass_free(&ps);
        }
    }
    if (st == KH_OK) {
        st = local_rule(&r, &net, NULL, &work, "/kcap/hebb");
    }
    if (st == KH_OK) {
        st = meta_train(&r, &rule, &work, &gwork);
    }
    if (st == KH_OK) {
        const long dt[1] = {rule.total};
        st = kh_h5_overwrite(r.f, "/kcap/meta/theta", rule.th[0], 1, dt, 0,
                             "1|the learned rule's parameters: in, rec, out, each W1 [hidden, "
                             "d], b1, w2, b2@parameter");
    }
    if (st == KH_OK) {
        kh_kcap_net_copy(&net, &net0);
        st = local_rule(&r, &net, &rule, &work, "/kcap/learned");
    }
    kh_kcap_net rnn, mlp;
    memset(&rnn, 0, sizeof rnn);
    memset(&mlp, 0, sizeof mlp);
    if (st == KH_OK) {
        st = kh_kcap_net_alloc(&rnn, n, m, p->kc_k, p->kc_steps, 1, p->kc_cap_output, wseed);
    }
    if (st == KH_OK) {
        st = backprop(&r, &rnn, "/kcap/rnn_bp");
    }
    if (st == KH_OK) {
        st = kh_kcap_net_alloc(&mlp, n, m, p->kc_k, p->kc_steps, 0, p->kc_cap_output, wseed);
    }
    if (st == KH_OK) {
        st = backprop(&r, &mlp, "/kcap/mlp_bp");
    }
    if (r.f) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
        int s2 = kh_h5_set_attr(r.f, "/kcap", "seconds", kh_wall_seconds() - t0, NULL);
        st = kh_h5_end(r.f, st, msg, s2);
    }
    kh_kcap_net_free(&net0);
    kh_kcap_net_free(&net);
    kh_kcap_net_free(&work);
    kh_kcap_net_free(&gwork);
    kh_kcap_net_free(&rnn);
    kh_kcap_net_free(&mlp);
    kh_kcap_rule_free(&rule);
    data_free(&r.d);
    free(r.lat);
    free(r.Y);
    return st;
}
