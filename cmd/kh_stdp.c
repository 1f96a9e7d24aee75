/* khsim stdp (cmd/kh_stdp.h): the rule, the backprop baseline, FGSM, the
 * data sets (MNIST pairs from idx files, Iris pairs from data/iris) and the
 * record. */
#include "cmd/kh_stdp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/kh_readout.h"
#include "core/kh_clock.h"
#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"

#define MAX_EPS 32
#define RULE_EPS 1e-9 /* the paper's term in eq. 3's denominator */

double kh_stdp_rule(double x, double q, double eps)
{
    const double d = 2.0 * q - x;
    return x * x * x * q * (x - q) / (d * d + eps);
}

double kh_stdp_rule_dt(double x, double q)
{
    const double t_pre = 1.0 / x, dt = 1.0 / q - t_pre, r = t_pre - dt;
    return dt / (t_pre * t_pre * r * r);
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

int kh_mlp_alloc(kh_mlp *net, long n, long h1, long h2, long seed)
{
    memset(net, 0, sizeof *net);
    const long size[4] = {n, h1, h2, 1};
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)seed, 11);
    for (int l = 0; l < 3; l++) {
        net->size[l] = size[l];
        net->W[l] = malloc((size_t)(size[l] * size[l + 1]) * sizeof(double));
        if (!net->W[l]) {
            kh_mlp_free(net);
            return KH_ERROR(KH_ENOMEM, "cannot allocate a %ld -> %ld layer", size[l], size[l + 1]);
        }
        const double a = 1.0 / sqrt((double)size[l]);
        for (long i = 0; i < size[l] * size[l + 1]; i++) {
            net->W[l][i] = a * (2.0 * kh_rng_uniform(&r) - 1.0);
        }
    }
    net->size[3] = 1;
    return KH_OK;
}

void kh_mlp_free(kh_mlp *net)
{
    for (int l = 0; l < 3; l++) {
        free(net->W[l]);
        net->W[l] = NULL;
    }
}

/* The offset of layer l's rates in a (layer 0 is the input). */
static long offset(const kh_mlp *net, int l)
{
    long o = 0;
    for (int k = 0; k < l; k++) {
        o += net->size[k];
    }
    return o;
}

double kh_mlp_forward(const kh_mlp *net, const double *x, double *a)
{
    double buf[2][1024];
    const double *in = x;
    double q = 0.0;
    for (int l = 0; l < 3; l++) {
        const long ni = net->size[l], no = net->size[l + 1];
        double *out = a ? a + offset(net, l + 1) : buf[l % 2];
        for (long k = 0; k < no; k++) {
            const double *w = net->W[l] + k * ni;
            double z = 0.0;
            for (long j = 0; j < ni; j++) {
                z += w[j] * in[j];
            }
            out[k] = sigmoid(z);
        }
        if (a && l == 0) {
            memcpy(a, x, (size_t)ni * sizeof(double));
        }
        in = out;
        q = out[0];
    }
    return q;
}

/* Backpropagates dBCE/dz of the output through the layers: d receives the
 * deltas of the hidden and output layers [h1 | h2 | 1]; with gW (may be
 * NULL) the weights' gradients are added into gW[l]; with g (may be NULL)
 * the input's gradient is written into g [n]. */
static void backward(const kh_mlp *net, const double *a, int y, double *d, double **gW, double *g)
{
    const long o1 = 0, o2 = net->size[1], o3 = o2 + net->size[2];
    const long off[4] = {-1, o1, o2, o3};
    d[o3] = a[offset(net, 3)] - (double)y; /* sigmoid and BCE: q - y */
    for (int l = 2; l >= 0; l--) {
        const long ni = net->size[l], no = net->size[l + 1];
        const double *x = a + offset(net, l), *dl = d + off[l + 1];
        if (gW) {
            for (long k = 0; k < no; k++) {
                for (long j = 0; j < ni; j++) {
                    gW[l][k * ni + j] += dl[k] * x[j];
                }
            }
        }
        if (l == 0) {
            if (g) {
                for (long j = 0; j < ni; j++) {
                    double s = 0.0;
                    for (long k = 0; k < no; k++) {
                        s += net->W[0][k * ni + j] * dl[k];
                    }
                    g[j] = s;
                }
            }
            break;
        }
        double *dp = d + off[l];
        for (long j = 0; j < ni; j++) {
            double s = 0.0;
            for (long k = 0; k < no; k++) {
                s += net->W[l][k * ni + j] * dl[k];
            }
            dp[j] = s * x[j] * (1.0 - x[j]);
        }
    }
}

void kh_mlp_input_gradient(const kh_mlp *net, const double *a, int y, double *d, double *g)
{
    backward(net, a, y, d, NULL, g);
}

void kh_fgsm(const kh_mlp *net, const double *x, int y, double eps, double *xp)
{
    const long n = net->size[0];
    double a[4096 + 2 * 1024 + 1], d[2 * 1024 + 1];
    kh_mlp_forward(net, x, a);
    kh_mlp_input_gradient(net, a, y, d, xp);
    kh_fgsm_step(x, xp, n, eps, xp);
}

/* A binary data set: x [N, n] in [0, 1], y [N] in {0, 1}. */
typedef struct pairset {
    long N, n;
    double *x;
    int *y;
} pairset;

static void pairset_free(pairset *s)
{
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* The samples of d whose label is class0 (y = 0) or class1 (y = 1). */
static int take_pair(const kh_dataset *d, const long *labels, long class0, long class1,
                     pairset *out)
{
    memset(out, 0, sizeof *out);
    long N = 0;
    for (long i = 0; i < d->n_samples; i++) {
        N += labels[i] == class0 || labels[i] == class1;
    }
    out->n = d->n_features;
    out->x = malloc((size_t)((N ? N : 1) * d->n_features) * sizeof(double));
    out->y = malloc((size_t)(N ? N : 1) * sizeof(int));
    if (!out->x || !out->y) {
        pairset_free(out);
        return KH_ERROR(KH_ENOMEM, "cannot allocate %ld samples", N);
    }
    for (long i = 0; i < d->n_samples; i++) {
        if (labels[i] == class0 || labels[i] == class1) {
            memcpy(out->x + out->N * d->n_features, d->x + i * d->n_features,
                   (size_t)d->n_features * sizeof(double));
            out->y[out->N++] = labels[i] == class1;
        }
    }
    return KH_OK;
}

static int mnist_pairs(const kh_params *p, pairset *tr, pairset *te)
{
    const char *img[2] = {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"};
    const char *lab[2] = {"train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"};
    pairset *out[2] = {tr, te};
    for (int k = 0; k < 2; k++) {
        char pi[KH_PATH_MAX + 64], pl[KH_PATH_MAX + 64];
        kh_dataset d;
        memset(&d, 0, sizeof d);
        int st = kh_data_find(p->input_path, img[k], pi, sizeof pi);
        if (st == KH_OK) {
            st = kh_data_find(p->input_path, lab[k], pl, sizeof pl);
        }
        if (st == KH_OK) {
            st = kh_idx_read(pi, 0, -1, &d);
        }
        if (st == KH_OK) {
            st = kh_idx_read_labels(pl, 0, d.n_samples, &d.labels);
        }
        if (st == KH_OK) {
            st = take_pair(&d, d.labels, p->st_class0, p->st_class1, out[k]);
        }
        kh_dataset_release(&d);
        if (st != KH_OK) {
            return st;
        }
    }
    return KH_OK;
}

/* data/iris/iris.csv: a header, then 150 rows of four measurements (cm) and
 * the class 0, 1, 2. Each measurement is scaled to [0, 1] by its minimum and
 * maximum over the 150 rows; the pair's samples are split at random (seed)
 * into test_fraction for testing and the rest for training. */
static int iris_pairs(const kh_params *p, pairset *tr, pairset *te)
{
    FILE *f = fopen(p->input_path, "r");
    if (!f) {
        return KH_ERROR(KH_EIO, "input.path = %s: cannot open the Iris CSV: %s", p->input_path,
                        strerror(errno));
    }
    kh_dataset d;
    memset(&d, 0, sizeof d);
    d.n_features = 4;
    d.x = malloc(150 * 4 * sizeof(double));
    d.labels = malloc(150 * sizeof(long));
    char line[512];
    int st = d.x && d.labels ? KH_OK : KH_ERROR(KH_ENOMEM, "cannot allocate the Iris rows");
    if (st == KH_OK && !fgets(line, sizeof line, f)) {
        st = KH_ERROR(KH_EINVAL, "%s: empty", p->input_path);
    }
    while (st == KH_OK && fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '\0') {
            continue;
        }
        double v[4];
        long c;
        if (d.n_samples == 150 ||
            sscanf(line, "%lf,%lf,%lf,%lf,%ld", &v[0], &v[1], &v[2], &v[3], &c) != 5 || c < 0 ||
            c > 2) {
            st = KH_ERROR(KH_EINVAL, "%s: row %ld is not four numbers and a class 0..2",
                          p->input_path, d.n_samples + 1);
            break;
        }
        memcpy(d.x + d.n_samples * 4, v, sizeof v);
        d.labels[d.n_samples++] = c;
    }
    fclose(f);
    if (st == KH_OK && d.n_samples != 150) {
        st = KH_ERROR(KH_EINVAL, "%s: %ld rows, the Iris set has 150", p->input_path, d.n_samples);
    }
    if (st == KH_OK && (p->st_class0 > 2 || p->st_class1 > 2)) {
        st = KH_ERROR(KH_EINVAL, "stdp.class0 and class1 must be Iris classes 0..2");
    }
    pairset all;
    memset(&all, 0, sizeof all);
    if (st == KH_OK) {
        for (int j = 0; j < 4; j++) {
            double lo = INFINITY, hi = -INFINITY;
            for (long i = 0; i < 150; i++) {
                lo = fmin(lo, d.x[i * 4 + j]);
                hi = fmax(hi, d.x[i * 4 + j]);
            }
            for (long i = 0; i < 150; i++) {
                d.x[i * 4 + j] = (d.x[i * 4 + j] - lo) / (hi - lo);
            }
        }
        st = take_pair(&d, d.labels, p->st_class0, p->st_class1, &all);
    }
    kh_dataset_release(&d);
    if (st != KH_OK) {
        return st;
    }
    long *order = malloc((size_t)all.N * sizeof(long));
    const long Nt = lround(p->st_test_fraction * (double)all.N);
    pairset *part[2] = {te, tr};
    const long count[2] = {Nt, all.N - Nt};
    for (int k = 0; k < 2; k++) {
        part[k]->n = 4;
        part[k]->x = malloc((size_t)(count[k] ? count[k] : 1) * 4 * sizeof(double));
        part[k]->y = malloc((size_t)(count[k] ? count[k] : 1) * sizeof(int));
    }
    if (!order || !tr->x || !tr->y || !te->x || !te->y) {
        free(order);
        pairset_free(&all);
        return KH_ERROR(KH_ENOMEM, "cannot allocate the Iris split");
    }
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)p->st_seed, 13);
    for (long i = 0; i < all.N; i++) {
        order[i] = i;
    }
    kh_sim_shuffle(order, all.N, &r);
    for (long i = 0; i < all.N; i++) {
        pairset *s = i < Nt ? te : tr;
        memcpy(s->x + s->N * 4, all.x + order[i] * 4, 4 * sizeof(double));
        s->y[s->N++] = all.y[order[i]];
    }
    free(order);
    pairset_free(&all);
    return KH_OK;
}

/* The accuracy of net on s, each sample perturbed by FGSM at eps (0: as
 * it is). */
static double accuracy(const kh_mlp *net, const pairset *s, double eps, double *xp)
{
    long right = 0;
    for (long i = 0; i < s->N; i++) {
        const double *x = s->x + i * s->n;
        if (eps > 0.0) {
            kh_fgsm(net, x, s->y[i], eps, xp);
            x = xp;
        }
        right += (kh_mlp_forward(net, x, NULL) >= 0.5) == s->y[i];
    }
    return s->N ? (double)right / (double)s->N : 0.0;
}

/* One trainer: the network, its Adam moments, its gradient. */
typedef struct learner {
    kh_mlp net;
    double *m1[3], *m2[3], *g[3];
    long t;
} learner;

static void learner_free(learner *L)
{
    kh_mlp_free(&L->net);
    for (int l = 0; l < 3; l++) {
        free(L->m1[l]);
        free(L->m2[l]);
        free(L->g[l]);
    }
    memset(L, 0, sizeof *L); /* freeing twice (a failed alloc, then the run's end) is harmless */
}

static int learner_alloc(learner *L, const kh_params *p, long n)
{
    memset(L, 0, sizeof *L);
    int st = kh_mlp_alloc(&L->net, n, p->st_h1, p->st_h2, p->st_seed);
    for (int l = 0; l < 3 && st == KH_OK; l++) {
        const size_t len = (size_t)(L->net.size[l] * L->net.size[l + 1]);
        L->m1[l] = calloc(len, sizeof(double));
        L->m2[l] = calloc(len, sizeof(double));
        L->g[l] = calloc(len, sizeof(double));
        if (!L->m1[l] || !L->m2[l] || !L->g[l]) {
            st = KH_ERROR(KH_ENOMEM, "cannot allocate Adam's state");
        }
    }
    if (st != KH_OK) {
        learner_free(L);
    }
    return st;
}

/* The fixed associativities of the hidden units for y = 1: half +1, half
 * -1, in an order drawn from the seed. */
static void associativities(double *z, long h, kh_rng *r)
{
    long *order = malloc((size_t)h * sizeof(long));
    for (long i = 0; i < h; i++) {
        order[i] = i;
    }
    kh_sim_shuffle(order, h, r);
    for (long i = 0; i < h; i++) {
        z[order[i]] = i < h / 2 ? 1.0 : -1.0;
    }
    free(order);
}

/* Adds sample (x, y)'s update into L->g: -dW of eq. 3 (stdp) or the BCE
 * gradient (backprop); step() divides the sums by the minibatch size. */
static void accumulate(learner *L, int stdp, const double *z1, const double *z2, const double *x,
                       int y, double *a, double *d)
{
    kh_mlp_forward(&L->net, x, a);
    if (!stdp) {
        double *tmp[3];
        for (int l = 0; l < 3; l++) {
            tmp[l] = L->g[l];
        }
        /* backward adds dl x^T; scale by 1/nb afterwards (step()). */
        backward(&L->net, a, y, d, tmp, NULL);
        return;
    }
    const double sign = y ? 1.0 : -1.0;
    const double *zs[3] = {z1, z2, NULL};
    for (int l = 0; l < 3; l++) {
        const long ni = L->net.size[l], no = L->net.size[l + 1];
        const double *xi = a + offset(&L->net, l), *q = a + offset(&L->net, l + 1);
        for (long k = 0; k < no; k++) {
            const double Z = sign * (zs[l] ? zs[l][k] : 1.0);
            double *g = L->g[l] + k * ni;
            for (long j = 0; j < ni; j++) {
                g[j] -= Z * kh_stdp_rule(xi[j], q[k], RULE_EPS);
            }
        }
    }
}

static void step(learner *L, const kh_params *p, long nb)
{
    L->t++;
    for (int l = 0; l < 3; l++) {
        const long len = L->net.size[l] * L->net.size[l + 1];
        for (long i = 0; i < len; i++) {
            L->g[l][i] /= (double)nb;
        }
        kh_adam_step(L->net.W[l], L->g[l], L->m1[l], L->m2[l], len, L->t, p->st_lr, 0.9, 0.999,
                     1e-8);
        memset(L->g[l], 0, (size_t)len * sizeof(double));
    }
}

static int write_series(kh_h5 *f, const char *name, double x, const char *what)
{
    char path[128];
    snprintf(path, sizeof path, "/stdp/%s", name);
    return kh_h5_series_append(f, path, &x, 0, 0, what);
}

static const char *const who_name[2] = {"stdp", "bp"};
/* The axes of each layer's weights [post, pre]. */
static const char *const layer_axes[3] = {"hidden1,input", "hidden2,hidden1", "output,hidden2"};

/* The checkpoint's arrays of learner w's layer l: its weights and Adam's
 * two moments, and their dataset names. */
static void checkpoint_arrays(learner *L, int w, int l, double *arr[3], char name[3][96])
{
    static const char *const what[3] = {"W", "m1", "m2"};
    arr[0] = L[w].net.W[l];
    arr[1] = L[w].m1[l];
    arr[2] = L[w].m2[l];
    for (int k = 0; k < 3; k++) {
        snprintf(name[k], 96, "/stdp/checkpoint/%s_%s%d", who_name[w], what[k], l + 1);
    }
}

/* After each epoch: both networks' weights, Adam's moments and step count,
 * and the epochs done, under /stdp/checkpoint (overwritten). */
static int checkpoint(kh_h5 *f, learner *L, long epochs_done)
{
    int st = KH_OK;
    for (int w = 0; w < 2 && st == KH_OK; w++) {
        for (int l = 0; l < 3 && st == KH_OK; l++) {
            const long d[2] = {L[w].net.size[l + 1], L[w].net.size[l]};
            double *arr[3];
            char name[3][96];
            checkpoint_arrays(L, w, l, arr, name);
            for (int k = 0; k < 3 && st == KH_OK; k++) {
                char text[192];
                snprintf(text, sizeof text,
                         "1|the network and Adam's moments after the last complete epoch (for "
                         "--resume)@%s",
                         layer_axes[l]);
                st = kh_h5_overwrite(f, name[k], arr[k], 2, d, 0, text);
            }
        }
        if (st == KH_OK) {
            char name[32];
            snprintf(name, sizeof name, "%s_adam_t", who_name[w]);
            st = kh_h5_set_attr(f, "/stdp/checkpoint", name, (double)L[w].t, NULL);
        }
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(f, "/stdp/checkpoint", "epochs", (double)epochs_done, NULL);
    }
    return st == KH_OK ? kh_h5_flush(f) : st;
}

/* A whole dataset of len values into out. */
static int read_whole(const char *path, const char *name, double *out, long len)
{
    double *x = NULL;
    int rank;
    long dims[3];
    int st = kh_h5_read(path, name, &x, &rank, dims);
    long total = 1;
    for (int i = 0; st == KH_OK && i < rank; i++) {
        total *= dims[i];
    }
    if (st == KH_OK && total != len) {
        st = KH_ERROR(KH_EIO, "%s: %s holds %ld values, not %ld", path, name, total, len);
    }
    if (st == KH_OK) {
        memcpy(out, x, (size_t)len * sizeof(double));
    }
    free(x);
    return st;
}

/* The state of the last checkpoint of the record at path into L; its
 * epochs into *done. */
static int restore(const char *path, learner *L, long *done)
{
    double e = 0.0;
    int st = kh_h5_read_attr_double(path, "/stdp/checkpoint", "epochs", &e);
    if (st != KH_OK) {
        return KH_ERROR(KH_EINVAL, "%s: nothing to resume (no complete epoch recorded)", path);
    }
    *done = (long)e;
    for (int w = 0; w < 2 && st == KH_OK; w++) {
        for (int l = 0; l < 3 && st == KH_OK; l++) {
            const long len = L[w].net.size[l + 1] * L[w].net.size[l];
            double *arr[3];
            char name[3][96];
            checkpoint_arrays(L, w, l, arr, name);
            for (int k = 0; k < 3 && st == KH_OK; k++) {
                st = read_whole(path, name[k], arr[k], len);
            }
        }
        if (st == KH_OK) {
            char name[32];
            double t = 0.0;
            snprintf(name, sizeof name, "%s_adam_t", who_name[w]);
            st = kh_h5_read_attr_double(path, "/stdp/checkpoint", name, &t);
            L[w].t = (long)t;
        }
    }
    return st;
}

/* One epoch of both networks over the training samples in `order`. */
static int train_epoch(learner *L, const kh_params *p, const pairset *tr, const long *order,
                       const double *z1, const double *z2, double *a, double *d, long e,
                       const volatile sig_atomic_t *stop)
{
    const long n = tr->n;
    for (long b0 = 0; b0 < tr->N; b0 += p->st_batch) {
        if (stop && *stop) {
            return KH_ERROR(KH_EINTR, "interrupted in epoch %ld", e + 1);
        }
        const long nb = tr->N - b0 < p->st_batch ? tr->N - b0 : p->st_batch;
        for (int w = 0; w < 2; w++) {
            for (long b = 0; b < nb; b++) {
                const long i = order[b0 + b];
                accumulate(&L[w], w == 0, z1, z2, tr->x + i * n, tr->y[i], a, d);
            }
            step(&L[w], p, nb);
        }
    }
    return KH_OK;
}

/* Both networks' training and test accuracy after an epoch. */
static int record_epoch(kh_h5 *f, learner *L, const pairset *tr, const pairset *te, double *xp)
{
    int st = KH_OK;
    for (int w = 0; w < 2 && st == KH_OK; w++) {
        char name[64];
        snprintf(name, sizeof name, "%s_train_accuracy", who_name[w]);
        st = write_series(f, name, accuracy(&L[w].net, tr, 0.0, xp),
                          "fraction|training samples classified right after the epoch@epoch");
        snprintf(name, sizeof name, "%s_test_accuracy", who_name[w]);
        if (st == KH_OK) {
            st = write_series(f, name, accuracy(&L[w].net, te, 0.0, xp),
                              "fraction|test samples classified right after the epoch@epoch");
        }
    }
    return st;
}

/* At the end: both networks' test accuracy under FGSM at each eps, and
 * their weights. */
static int record_end(kh_h5 *f, learner *L, const pairset *te, const double *eps, int K, double *xp)
{
    const long dk[1] = {K}, da[2] = {2, K};
    double acc[2 * MAX_EPS];
    for (int w = 0; w < 2; w++) {
        for (int k = 0; k < K; k++) {
            acc[w * K + k] = accuracy(&L[w].net, te, eps[k], xp);
        }
    }
    int st = kh_h5_overwrite(f, "/fgsm/eps", eps, 1, dk, 0,
                             "1|FGSM strengths: x' = clip(x + eps sign(dBCE/dx), 0, 1)@eps");
    if (st == KH_OK) {
        st = kh_h5_overwrite(f, "/fgsm/accuracy", acc, 2, da, 0,
                             "fraction|test accuracy under FGSM at each eps; row 0 the "
                             "STDP network, row 1 backprop@network,eps");
    }
    for (int w = 0; w < 2 && st == KH_OK; w++) {
        for (int l = 0; l < 3 && st == KH_OK; l++) {
            char name[64];
            const long dw[2] = {L[w].net.size[l + 1], L[w].net.size[l]};
            snprintf(name, sizeof name, "/stdp/%s_W%d", who_name[w], l + 1);
            char text[128];
            snprintf(text, sizeof text, "weight|the layer's weights at the end [post, pre]@%s",
                     layer_axes[l]);
            st = kh_h5_overwrite(f, name, L[w].net.W[l], 2, dw, 0, text);
        }
    }
    return st;
}

int kh_stdp_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                kh_progress_fn progress, void *pctx)
{
    kh_params *p = &c->p;
    if (p->st_class0 == p->st_class1) {
        return KH_ERROR(KH_EINVAL, "stdp.class0 and stdp.class1 are both %ld", p->st_class0);
    }
    if (p->st_h1 % 2 || p->st_h2 % 2 || p->st_h1 > 1024 || p->st_h2 > 1024) {
        return KH_ERROR(KH_EINVAL, "stdp.hidden1 and hidden2 must be even (as many Z = +1 as "
                                   "-1) and at most 1024");
    }
    double eps[MAX_EPS];
    int K;
    int st = kh_parse_fractions(p->st_eps, "stdp.eps", eps, MAX_EPS, &K);
    if (st != KH_OK) {
        return st;
    }
    pairset tr, te;
    memset(&tr, 0, sizeof tr);
    memset(&te, 0, sizeof te);
    st = p->st_data == KH_STDP_IRIS ? iris_pairs(p, &tr, &te) : mnist_pairs(p, &tr, &te);
    if (st == KH_OK && (tr.N == 0 || te.N == 0)) {
        st = KH_ERROR(KH_EINVAL, "classes %ld and %ld: %ld training and %ld test samples",
                      p->st_class0, p->st_class1, tr.N, te.N);
    }
    if (st == KH_OK && tr.n > 4096) {
        st = KH_ERROR(KH_EINVAL, "%ld inputs: khsim stdp takes at most 4096", tr.n);
    }
    learner L[2];
    memset(L, 0, sizeof L);
    const long n = tr.n;
    if (st == KH_OK && (st = learner_alloc(&L[0], p, n)) == KH_OK) {
        st = learner_alloc(&L[1], p, n);
    }
    double *z1 = malloc((size_t)p->st_h1 * sizeof(double));
    double *z2 = malloc((size_t)p->st_h2 * sizeof(double));
    double *a = malloc((size_t)(n + p->st_h1 + p->st_h2 + 1) * sizeof(double));
    double *d = malloc((size_t)(p->st_h1 + p->st_h2 + 1) * sizeof(double));
    double *xp = malloc((size_t)n * sizeof(double));
    long *order = malloc((size_t)(tr.N ? tr.N : 1) * sizeof(long));
    kh_h5 *f = NULL;
    if (st == KH_OK && (!z1 || !z2 || !a || !d || !xp || !order)) {
        st = KH_ERROR(KH_ENOMEM, "cannot allocate khsim stdp's scratch");
    }
    if (st == KH_OK) {
        kh_rng r;
        kh_rng_seed(&r, (uint64_t)p->st_seed, 12);
        associativities(z1, p->st_h1, &r);
        associativities(z2, p->st_h2, &r);
        for (long i = 0; i < tr.N; i++) {
            order[i] = i;
        }
        st = resume ? KH_OK : kh_sim_check_output(c, 0);
    }
    long first = 0; /* epochs already done (resume) */
    if (st == KH_OK && resume) {
        st = restore(p->out_path, L, &first);
    }
    if (st == KH_OK) {
        f = resume
                ? kh_h5_open_rw(p->out_path)
                : kh_h5_create_rw(p->out_path, c, "khsim stdp: STDP-derived rule against backprop",
                                  overrides, p->st_h1, n);
        st = f ? KH_OK : KH_EIO;
    }
    /* A record cut inside an epoch keeps the epochs of its checkpoint. */
    for (int w = 0; resume && w < 2 && st == KH_OK; w++) {
        const char *what[2] = {"train", "test"};
        for (int k = 0; k < 2 && st == KH_OK; k++) {
            char name[96];
            snprintf(name, sizeof name, "/stdp/%s_%s_accuracy", who_name[w], what[k]);
            st = kh_h5_truncate(f, name, first);
        }
    }
    double seconds_before = 0.0;
    if (st == KH_OK && resume) {
        kh_h5_get_attr(f, "/stdp", "seconds", &seconds_before);
    }
    if (st == KH_OK) {
        st = kh_h5_set_status(f, "running", "");
    }
    const double t0 = kh_wall_seconds();
    double last = t0;
    kh_rng order_rng;
    kh_rng_seed(&order_rng, (uint64_t)p->st_seed, 14);
    for (long e = 0; e < first && st == KH_OK; e++) {
        kh_sim_shuffle(order, tr.N, &order_rng); /* the orders of the epochs done */
    }
    for (long e = first; e < p->st_epochs && st == KH_OK; e++) {
        kh_sim_shuffle(order, tr.N, &order_rng);
        st = train_epoch(L, p, &tr, order, z1, z2, a, d, e, stop);
        if (st == KH_OK) {
            st = record_epoch(f, L, &tr, &te, xp);
        }
        if (st == KH_OK) {
            st = checkpoint(f, L, e + 1);
        }
        if (progress && kh_wall_seconds() - last > kh_progress_seconds()) {
            char line[128];
            snprintf(line, sizeof line, "epoch %ld/%ld", e + 1, p->st_epochs);
            progress(pctx, (double)(e + 1) / (double)p->st_epochs, line);
            last = kh_wall_seconds();
        }
    }
    if (st == KH_OK) {
        st = record_end(f, L, &te, eps, K, xp);
    }
    if (f) {
        const double attrs[5] = {(double)p->st_class0, (double)p->st_class1, (double)tr.N,
                                 (double)te.N, seconds_before + kh_wall_seconds() - t0};
        const char *names[5] = {"class0", "class1", "train_samples", "test_samples", "seconds"};
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", st == KH_OK ? "" : kh_errmsg());
        int s2 = KH_OK;
        for (int k = 0; k < 5 && s2 == KH_OK; k++) {
            s2 = kh_h5_set_attr(f, "/stdp", names[k], attrs[k], NULL);
        }
        st = kh_h5_end(f, st, msg, s2);
    }
    learner_free(&L[0]);
    learner_free(&L[1]);
    pairset_free(&tr);
    pairset_free(&te);
    free(z1);
    free(z2);
    free(a);
    free(d);
    free(xp);
    free(order);
    return st;
}
