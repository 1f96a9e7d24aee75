/* khsim conv (cmd/kh_conv_cmd.h): the training loop over epochs and
 * minibatches, the record (docs/conv.md), its resume, and its reader. */
#include "cmd/kh_conv_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_clock.h"
#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_rng.h"
#include "core/kh_threads.h"
#include "gpu/kh_gpu.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"

int kh_conv_input_shape(const kh_params *p, long n, long *cin, long *side)
{
    const long c =
        p->cv_input_channels > 0 ? p->cv_input_channels : (p->source == KH_SRC_CIFAR10 ? 3 : 1);
    const long s = (long)llround(sqrt((double)n / (double)c));
    if (n % c != 0 || s * s * c != n) {
        return KH_ERROR(KH_EINVAL, "%ld inputs are not %ld square channel(s) (conv.input_channels)",
                        n, c);
    }
    *cin = c;
    *side = s;
    return KH_OK;
}

typedef struct conv_run {
    kh_dataset data;
    int L;
    kh_conv_shape s[KH_CONV_MAX_LAYERS];
    kh_conv_layer *layer[KH_CONV_MAX_LAYERS];
    double *in, *out; /* [batch, the largest layer input or output]: one layer's in and out */
    double *W, *B, *chg;
    double *Wold; /* every layer's weights before the epoch, layer l at woff[l] */
    long woff[KH_CONV_MAX_LAYERS];
    long *wins, *order;
    long *last_win[KH_CONV_MAX_LAYERS]; /* [cout]: the last epoch each filter won in, or -1 */
    long start;                         /* epochs already recorded */
    double seconds_before;              /* the earlier parts' seconds */
} conv_run;

static void conv_run_free(conv_run *r)
{
    for (int l = 0; l < r->L; l++) {
        kh_conv_layer_free(r->layer[l]);
        free(r->last_win[l]);
    }
    kh_dataset_release(&r->data);
    free(r->in);
    free(r->out);
    free(r->W);
    free(r->Wold);
    free(r->B);
    free(r->chg);
    free(r->wins);
    free(r->order);
}

static void layer_path(char *buf, size_t len, int l, const char *name)
{
    snprintf(buf, len, "/conv/layer%d/%s", l + 1, name);
}

/* W(0) of layer l [cout, patch]: init.weights normal or uniform at
 * init.scale, from init.seed and the layer; with conv.init_sphere each
 * filter scaled onto the sphere sum_i |W_ci|^p = R^p. */
static int initial_weights(const kh_params *p, int l, double *W, long cout, long patch)
{
    const long len = cout * patch;
    if (p->weights == KH_INIT_FILE) {
        return KH_ERROR(KH_EINVAL, "khsim conv starts from random filters: init.weights = normal "
                                   "or uniform");
    }
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)p->init_seed, 200 + (uint64_t)l);
    for (long i = 0; i < len; i++) {
        W[i] = p->weights == KH_INIT_NORMAL ? p->init_scale * kh_rng_normal(&r)
                                            : p->init_scale * (2.0 * kh_rng_uniform(&r) - 1.0);
    }
    for (long c = 0; p->cv_init_sphere && c < cout; c++) {
        double *w = W + c * patch;
        const double B = kh_row_pnorm(w, patch, p->p, kh_int_exponent(p->p));
        const double scale = B > 0.0 ? p->R / pow(B, 1.0 / p->p) : 0.0;
        for (long i = 0; i < patch; i++) {
            w[i] *= scale;
        }
    }
    return KH_OK;
}

/* Reads the epochs recorded so far: the weights after the last, and each
 * filter's last winning epoch. */
static int read_resume(const kh_params *p, conv_run *r, double **W0)
{
    double *x = NULL;
    int rank;
    long dims[3];
    int st = kh_h5_read(p->out_path, "/conv/eps", &x, &rank, dims);
    free(x);
    if (st != KH_OK) {
        return KH_ERROR(KH_EINVAL, "%s: not a khsim conv record (no /conv/eps)", p->out_path);
    }
    r->start = dims[0];
    for (int l = 0; l < r->L && st == KH_OK; l++) {
        const kh_conv_shape *s = &r->s[l];
        char name[96];
        layer_path(name, sizeof name, l, "W");
        st = kh_h5_read_row(p->out_path, name, r->start, W0[l], s->cout * s->patch);
        for (long c = 0; c < s->cout; c++) {
            r->last_win[l][c] = -1;
        }
        if (st == KH_OK && r->start > 0) {
            layer_path(name, sizeof name, l, "wins");
            st = kh_h5_read(p->out_path, name, &x, &rank, dims);
            for (long e = 0; st == KH_OK && e < r->start && e < dims[0]; e++) {
                for (long c = 0; c < s->cout; c++) {
                    if (x[e * s->cout + c] > 0.0) {
                        r->last_win[l][c] = e;
                    }
                }
            }
            free(x);
            x = NULL;
        }
    }
    return st;
}

static int write_layout(kh_h5 *f, const conv_run *r, long N)
{
    int st = KH_OK;
    const double top[3] = {(double)r->L, (double)N, (double)r->s[0].cin};
    const char *top_names[3] = {"layers", "images", "input_channels"};
    for (int k = 0; k < 3 && st == KH_OK; k++) {
        st = kh_h5_set_attr(f, "/conv", top_names[k], top[k], NULL);
    }
    for (int l = 0; l < r->L && st == KH_OK; l++) {
        const kh_conv_shape *s = &r->s[l];
        const double v[9] = {(double)s->cin,  (double)s->h,      (double)s->w,
                             (double)s->cout, (double)s->kernel, (double)s->pool,
                             (double)s->hp,   (double)s->wp,     (double)s->patch};
        const char *names[9] = {"channels_in", "height_in",  "width_in",  "channels", "kernel",
                                "pool",        "height_out", "width_out", "patch"};
        char g[64];
        snprintf(g, sizeof g, "/conv/layer%d", l + 1);
        for (int k = 0; k < 9 && st == KH_OK; k++) {
            st = kh_h5_set_attr(f, g, names[k], v[k], NULL);
        }
    }
    return st;
}

/* Appends the weights after an epoch (epoch >= 0; or W(0): epoch = -1) of
 * every layer and their p-norms; after an epoch also its wins, each
 * filter's change over it (from r->Wold) and each filter's last winning
 * epoch. */
static int record_layers(kh_h5 *f, conv_run *r, long epoch)
{
    int st = KH_OK;
    for (int l = 0; l < r->L && st == KH_OK; l++) {
        const kh_conv_shape *s = &r->s[l];
        const long tail[2] = {s->cout, s->patch};
        char name[96], text[256];
        st = kh_conv_layer_get_W(r->layer[l], r->W);
        layer_path(name, sizeof name, l, "W");
        if (st == KH_OK) {
            snprintf(text, sizeof text,
                     "weight|the filters [cout, cin kernel kernel] after each epoch (row 0: "
                     "W(0))@after_epoch,layer%d_filter,layer%d_weight",
                     l + 1, l + 1);
            st = kh_h5_series_append_nd(f, name, r->W, 2, tail, 0, text);
        }
        if (st == KH_OK) {
            kh_conv_layer_pnorm(r->layer[l], r->W, r->B);
        }
        layer_path(name, sizeof name, l, "pnorm");
        if (st == KH_OK) {
            snprintf(
                text, sizeof text,
                "1|sum_i |W_ci|^p of each filter (R^p on the sphere)@after_epoch,layer%d_filter",
                l + 1);
            st = kh_h5_series_append(f, name, r->B, s->cout, 0, text);
        }
        if (epoch < 0 || st != KH_OK) {
            continue;
        }
        if ((st = kh_conv_layer_wins(r->layer[l], r->wins, 1)) != KH_OK) {
            break;
        }
        const double *old = r->Wold + r->woff[l];
        for (long c = 0; c < s->cout; c++) {
            double d2 = 0.0, w2 = 0.0;
            for (long i = 0; i < s->patch; i++) {
                const double o = old[c * s->patch + i], d = r->W[c * s->patch + i] - o;
                d2 += d * d;
                w2 += o * o;
            }
            r->chg[c] = w2 > 0.0 ? sqrt(d2 / w2) : sqrt(d2);
            if (r->wins[c] > 0) {
                r->last_win[l][c] = epoch;
            }
        }
        layer_path(name, sizeof name, l, "wins");
        snprintf(text, sizeof text,
                 "images|images each filter won (g = 1) in the epoch@epoch,layer%d_filter", l + 1);
        st = kh_h5_series_append(f, name, r->wins, s->cout, 1, text);
        layer_path(name, sizeof name, l, "change");
        if (st == KH_OK) {
            snprintf(text, sizeof text,
                     "1|||W_c(after) - W_c(before)||_2 / ||W_c(before)||_2 over the "
                     "epoch@epoch,layer%d_filter",
                     l + 1);
            st = kh_h5_series_append(f, name, r->chg, s->cout, 0, text);
        }
        layer_path(name, sizeof name, l, "last_win_epoch");
        const long dims[1] = {s->cout};
        if (st == KH_OK) {
            snprintf(text, sizeof text,
                     "epoch|the last epoch (0-based) in which each filter won an image; -1: "
                     "never@layer%d_filter",
                     l + 1);
            st = kh_h5_overwrite(f, name, r->last_win[l], 1, dims, 1, text);
        }
    }
    return st;
}

/* One epoch: the minibatches of a shuffled order, every layer at each
 * (layer l + 1 learns on layer l's outputs after layer l's step). */
static int epoch(conv_run *r, const kh_params *p, long e, double eps,
                 const volatile sig_atomic_t *stop, kh_progress_fn report, void *pctx, double *last,
                 kh_threads *threads, double *work)
{
    const long N = r->data.n_samples, n = r->data.n_features,
               nbatch = (N + p->batch - 1) / p->batch;
    kh_rng rng;
    kh_rng_seed(&rng, (uint64_t)p->init_seed, 1000 + (uint64_t)e);
    kh_sim_shuffle(r->order, N, &rng);
    for (long b = 0; b < nbatch; b++) {
        if (stop && *stop) {
            return KH_ERROR(KH_EINTR,
                            "interrupted in epoch %ld; the record keeps the %ld "
                            "complete epochs",
                            e + 1, e);
        }
        const long b0 = b * p->batch, nb = N - b0 < p->batch ? N - b0 : p->batch;
        for (long j = 0; j < nb; j++) {
            memcpy(r->in + j * n, r->data.x + r->order[b0 + j] * n, (size_t)n * sizeof(double));
        }
        for (int l = 0; l < r->L; l++) {
            int st = kh_conv_layer_load(r->layer[l], r->in, nb);
            if (st == KH_OK) {
                st = kh_conv_layer_step(r->layer[l], eps);
            }
            if (st != KH_OK) {
                return KH_ERROR(st, "epoch %ld, layer %d: %s", e + 1, l + 1, kh_errmsg());
            }
            *work += (double)nb * (double)r->s[l].positions * (double)r->s[l].patch *
                     (double)r->s[l].cout;
            if (l + 1 < r->L) {
                if ((st = kh_conv_layer_output(r->layer[l], r->out)) != KH_OK) {
                    return st;
                }
                double *t = r->in;
                r->in = r->out;
                r->out = t;
            }
        }
        kh_threads_tick(threads, *work);
        if (report && kh_wall_seconds() - *last > kh_progress_seconds()) {
            char line[160];
            snprintf(line, sizeof line, "epoch %ld/%ld, minibatch %ld/%ld, eps %.4g", e + 1,
                     p->epochs, b + 1, nbatch, eps);
            report(pctx, ((double)e + (double)(b + 1) / (double)nbatch) / (double)p->epochs, line);
            *last = kh_wall_seconds();
        }
    }
    return KH_OK;
}

/* The GPU's learner as a layer's backend (gpu/kh_gpu.h). */
static int gpu_step(void *ctx, const double *V, long nv, const long *gend, long ng, double eps)
{
    return kh_gpu_fast_step_rows(ctx, V, nv, gend, ng, eps);
}

static int gpu_get_W(void *ctx, double *W)
{
    return kh_gpu_fast_get_W(ctx, W);
}

static int gpu_wins(void *ctx, long *counts, int reset)
{
    return kh_gpu_fast_win_counts(ctx, counts, reset);
}

static void gpu_release(void *ctx)
{
    kh_gpu_fast_free(ctx);
}

/* Layer s on solver.device: cpu; cuda (an error without a GPU); auto (the
 * GPU when there is one). */
static kh_conv_layer *new_layer(const kh_params *p, const kh_conv_shape *s, const double *W0,
                                long B)
{
    if (p->device == KH_DEV_CPU) {
        return kh_conv_layer_alloc(p, s, W0, B);
    }
    kh_gpu_fast *g = kh_gpu_fast_alloc_rows(s->patch, W0, s->cout, B * s->positions, B, p->p, p->R,
                                            p->k, p->delta, p->fast_min_norm, p->precision);
    if (!g) {
        if (p->device == KH_DEV_CUDA) {
            return NULL;
        }
        kh_error_clear();
        return kh_conv_layer_alloc(p, s, W0, B);
    }
    return kh_conv_layer_alloc_on(
        p, s, B, (kh_rows_backend){"cuda", g, gpu_step, gpu_get_W, gpu_wins, gpu_release});
}

static int plan(conv_run *r, kh_config *c, int resume)
{
    kh_params *p = &c->p;
    int st = kh_data_load(p, &r->data);
    if (st != KH_OK) {
        return st;
    }
    const long N = r->data.n_samples, n = r->data.n_features;
    long cin = 1, side = 1;
    if ((st = kh_conv_input_shape(p, n, &cin, &side)) != KH_OK ||
        (st = kh_conv_plan(p->cv_channels, p->cv_kernels, p->cv_pools, cin, side, side, r->s,
                           &r->L)) != KH_OK) {
        return st;
    }
    p->n_visible = n;
    const long B = p->batch < N ? p->batch : N;
    long maxlen = n, maxw = 0, maxc = 0, total = 0;
    for (int l = 0; l < r->L; l++) {
        r->woff[l] = total;
        total += r->s[l].cout * r->s[l].patch;
        const long o = kh_conv_out_len(&r->s[l]);
        maxlen = o > maxlen ? o : maxlen;
        maxw = r->s[l].cout * r->s[l].patch > maxw ? r->s[l].cout * r->s[l].patch : maxw;
        maxc = r->s[l].cout > maxc ? r->s[l].cout : maxc;
    }
    r->in = malloc((size_t)(B * maxlen) * sizeof(double));
    r->out = malloc((size_t)(B * maxlen) * sizeof(double));
    r->W = malloc((size_t)maxw * sizeof(double));
    r->Wold = malloc((size_t)total * sizeof(double));
    r->B = malloc((size_t)maxc * sizeof(double));
    r->chg = malloc((size_t)maxc * sizeof(double));
    r->wins = malloc((size_t)maxc * sizeof(long));
    r->order = malloc((size_t)N * sizeof(long));
    double *W0[KH_CONV_MAX_LAYERS] = {NULL};
    int ok = r->in && r->out && r->W && r->Wold && r->B && r->chg && r->wins && r->order;
    for (int l = 0; l < r->L && ok; l++) {
        W0[l] = malloc((size_t)(r->s[l].cout * r->s[l].patch) * sizeof(double));
        r->last_win[l] = malloc((size_t)r->s[l].cout * sizeof(long));
        ok = W0[l] && r->last_win[l];
        for (long k = 0; ok && k < r->s[l].cout; k++) {
            r->last_win[l][k] = -1;
        }
    }
    st = ok ? KH_OK : KH_ERROR(KH_ENOMEM, "cannot allocate khsim conv's buffers");
    if (st == KH_OK) {
        if (resume) {
            st = read_resume(p, r, W0);
        } else {
            for (int l = 0; l < r->L && st == KH_OK; l++) {
                st = initial_weights(p, l, W0[l], r->s[l].cout, r->s[l].patch);
            }
        }
    }
    for (int l = 0; l < r->L && st == KH_OK; l++) {
        r->layer[l] = new_layer(p, &r->s[l], W0[l], B);
        if (!r->layer[l]) {
            st = kh_errcode();
        }
    }
    for (int l = 0; l < r->L; l++) {
        free(W0[l]);
    }
    return st;
}

int kh_conv_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                kh_progress_fn progress, void *pctx, kh_conv_result *res)
{
    kh_params *p = &c->p;
    memset(res, 0, sizeof *res);
    conv_run r;
    memset(&r, 0, sizeof r);
    const double t0 = kh_wall_seconds();
    int st = plan(&r, c, resume);
    if (st == KH_OK && !resume) {
        st = kh_sim_check_output(c, 0);
    }
    kh_h5 *f = NULL;
    if (st == KH_OK) {
        f = resume ? kh_h5_open_rw(p->out_path)
                   : kh_h5_create_rw(p->out_path, c,
                                     "khsim conv: convolutional layers, fast rule over patches",
                                     overrides, r.s[0].cout, r.s[0].patch);
        st = f ? KH_OK : KH_EIO;
    }
    if (st == KH_OK && resume) {
        kh_h5_get_attr(f, "/conv", "seconds", &r.seconds_before);
        const char *series[] = {"W", "pnorm", "wins", "change"};
        for (int l = 0; l < r.L && st == KH_OK; l++) {
            for (int k = 0; k < 4 && st == KH_OK; k++) {
                char name[96];
                layer_path(name, sizeof name, l, series[k]);
                st = kh_h5_truncate(f, name, r.start + (k < 2));
            }
        }
        if (st == KH_OK) {
            st = kh_h5_truncate(f, "/conv/eps", r.start);
        }
        if (st == KH_OK) {
            st = kh_h5_truncate(f, "/conv/epoch_seconds", r.start);
        }
        if (st == KH_OK) {
            st = kh_h5_truncate(f, "/conv/order", r.start);
        }
    } else if (st == KH_OK) {
        st = write_layout(f, &r, r.data.n_samples);
        if (st == KH_OK) {
            st = record_layers(f, &r, -1);
        }
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/conv", "device", 0.0, kh_conv_layer_backend(r.layer[0]));
    }
    if (st == KH_OK) {
        st = kh_h5_set_status(f, "running", "");
    }
    kh_threads threads;
    double work = 0.0, last = kh_wall_seconds();
    kh_threads_start(&threads, p->threads,
                     (double)r.s[0].positions * (double)r.s[0].patch * (double)r.s[0].cout *
                         (double)(p->batch < r.data.n_samples ? p->batch : r.data.n_samples));
    long e = r.start;
    while (e < p->epochs && st == KH_OK) {
        const double te = kh_wall_seconds();
        for (int l = 0; l < r.L && st == KH_OK; l++) {
            st = kh_conv_layer_get_W(r.layer[l], r.Wold + r.woff[l]);
        }
        if (st != KH_OK) {
            break;
        }
        const double eps = p->eps0 * (1.0 - (double)e / (double)p->epochs);
        st = epoch(&r, p, e, eps, stop, progress, pctx, &last, &threads, &work);
        if (st == KH_OK) {
            st = record_layers(f, &r, e);
        }
        if (st == KH_OK) {
            st = kh_h5_series_append(f, "/conv/eps", &eps, 0, 0,
                                     "1|the learning rate of the epoch@epoch");
        }
        const double sec = kh_wall_seconds() - te;
        if (st == KH_OK) {
            st = kh_h5_series_append(f, "/conv/epoch_seconds", &sec, 0, 0,
                                     "s|wall time of the epoch@epoch");
        }
        if (st == KH_OK) {
            st = kh_h5_series_append(f, "/conv/order", r.order, r.data.n_samples, 1,
                                     "index|the images in the order of the epoch (rows of the "
                                     "data taken, from input.first)@epoch,sample");
        }
        if (st == KH_OK) {
            st = kh_h5_flush(f);
        }
        if (st == KH_OK) {
            e++;
        }
    }
    kh_threads_stop(&threads);
    res->epochs = e;
    res->images = r.data.n_samples;
    res->layers = r.L;
    res->seconds = kh_wall_seconds() - t0;
    if (f) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
        int s2 = kh_h5_set_attr(f, "/conv", "seconds", r.seconds_before + res->seconds, NULL);
        if (s2 == KH_OK) {
            s2 = kh_h5_set_attr(f, "/conv", "epochs_done", (double)res->epochs, NULL);
        }
        st = kh_h5_end(f, st, msg, s2);
    }
    conv_run_free(&r);
    return st;
}

void kh_conv_net_free(kh_conv_net *net)
{
    for (int l = 0; l < KH_CONV_MAX_LAYERS; l++) {
        free(net->W[l]);
        net->W[l] = NULL;
    }
    net->layers = 0;
}

int kh_conv_net_read(const char *path, long n, kh_conv_net *net)
{
    memset(net, 0, sizeof *net);
    double layers = 0.0, cin = 0.0;
    int st = kh_h5_read_attr_double(path, "/conv", "layers", &layers);
    if (st == KH_OK) {
        st = kh_h5_read_attr_double(path, "/conv", "input_channels", &cin);
    }
    if (st != KH_OK || layers < 1.0 || layers > KH_CONV_MAX_LAYERS || cin < 1.0) {
        return KH_ERROR(KH_EINVAL, "%s: not a khsim conv record (no /conv layers)", path);
    }
    double *x = NULL;
    int rank;
    long dims[3];
    if ((st = kh_h5_read(path, "/conv/eps", &x, &rank, dims)) != KH_OK) {
        return st;
    }
    free(x);
    const long done = dims[0];
    const long side = (long)llround(sqrt((double)n / cin));
    if (side * side * (long)cin != n) {
        return KH_ERROR(KH_EINVAL, "%s: its layers take %g-channel square images, not %ld inputs",
                        path, cin, n);
    }
    long c = (long)cin, h = side, w = side;
    for (int l = 0; l < (int)layers && st == KH_OK; l++) {
        double v[3];
        const char *names[3] = {"channels", "kernel", "pool"};
        char g[64];
        snprintf(g, sizeof g, "/conv/layer%d", l + 1);
        for (int k = 0; k < 3 && st == KH_OK; k++) {
            st = kh_h5_read_attr_double(path, g, names[k], &v[k]);
        }
        if (st == KH_OK) {
            st = kh_conv_shape_set(&net->s[l], c, h, w, (long)v[0], (long)v[1], (long)v[2]);
        }
        if (st != KH_OK) {
            break;
        }
        const long len = net->s[l].cout * net->s[l].patch;
        net->W[l] = malloc((size_t)len * sizeof(double));
        if (!net->W[l]) {
            st = KH_ERROR(KH_ENOMEM, "cannot read layer %d of %s", l + 1, path);
            break;
        }
        char name[96];
        layer_path(name, sizeof name, l, "W");
        st = kh_h5_read_row(path, name, done, net->W[l], len);
        c = net->s[l].cout;
        h = net->s[l].hp;
        w = net->s[l].wp;
        net->layers = l + 1;
    }
    if (st != KH_OK) {
        kh_conv_net_free(net);
    }
    return st;
}

long kh_conv_net_out_len(const kh_conv_net *net)
{
    return kh_conv_out_len(&net->s[net->layers - 1]);
}

int kh_conv_net_forward(const kh_conv_net *net, const double *X, long N, double *out)
{
    /* A chunk of images at a time through every layer. */
    const long chunk = 512;
    long maxlen = net->s[0].cin * net->s[0].h * net->s[0].w;
    for (int l = 0; l < net->layers; l++) {
        const long o = kh_conv_out_len(&net->s[l]);
        maxlen = o > maxlen ? o : maxlen;
    }
    double *a = malloc((size_t)(chunk * maxlen) * sizeof(double));
    double *b = malloc((size_t)(chunk * maxlen) * sizeof(double));
    int st = a && b ? KH_OK : KH_ERROR(KH_ENOMEM, "cannot allocate the layers' outputs");
    const long olen = kh_conv_net_out_len(net);
    for (long i0 = 0; i0 < N && st == KH_OK; i0 += chunk) {
        const long nb = N - i0 < chunk ? N - i0 : chunk;
        const double *in = X + (size_t)(i0 * net->s[0].cin * net->s[0].h * net->s[0].w);
        for (int l = 0; l < net->layers && st == KH_OK; l++) {
            double *dst = l + 1 == net->layers ? out + (size_t)(i0 * olen) : (l % 2 ? b : a);
            st = kh_conv_forward(&net->s[l], net->W[l], in, nb, dst);
            in = dst;
        }
    }
    free(a);
    free(b);
    return st;
}
