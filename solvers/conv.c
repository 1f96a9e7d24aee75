/* Convolutional Krotov-Hopfield layers (kh_conv.h): the patches, the
 * forward pass, and the fast rule over patches through solvers/fast.c.
 *
 * Reference: G. Manzali's slides on the bio-inspired learning rule,
 * "Convolutional Layer" (conv1: 1 -> 16 channels, 10 x 10 kernels, max-pool
 * 2; conv2: 16 -> 5 channels, 8 x 8 kernels; Delta = 0.4, p = 4, k = 2). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "solvers/kh_conv.h"
#include "solvers/kh_fast.h"

/* OpenBLAS's cblas.h includes <complex.h>, whose macro I is not used. */
#include <cblas.h>

/* Images per product in kh_conv_forward. */
#define FORWARD_CHUNK 256

int kh_conv_shape_set(kh_conv_shape *s, long cin, long h, long w, long cout, long kernel, long pool)
{
    if (cin < 1 || h < 1 || w < 1 || cout < 1 || kernel < 1 || pool < 1) {
        return KH_ERROR(KH_EINVAL,
                        "a convolutional layer needs sizes >= 1 (input %ld x %ld x %ld, "
                        "%ld filters of %ld x %ld, pool %ld)",
                        cin, h, w, cout, kernel, kernel, pool);
    }
    if (kernel > h || kernel > w) {
        return KH_ERROR(KH_EINVAL, "a %ld x %ld kernel does not fit a %ld x %ld input", kernel,
                        kernel, h, w);
    }
    s->cin = cin;
    s->h = h;
    s->w = w;
    s->cout = cout;
    s->kernel = kernel;
    s->pool = pool;
    s->ho = h - kernel + 1;
    s->wo = w - kernel + 1;
    s->hp = s->ho / pool;
    s->wp = s->wo / pool;
    s->patch = cin * kernel * kernel;
    s->positions = s->ho * s->wo;
    if (s->hp < 1 || s->wp < 1) {
        return KH_ERROR(KH_EINVAL,
                        "a pool of %ld is larger than the %ld x %ld output of a %ld x "
                        "%ld kernel",
                        pool, s->ho, s->wo, kernel, kernel);
    }
    return KH_OK;
}

long kh_conv_out_len(const kh_conv_shape *s)
{
    return s->cout * s->hp * s->wp;
}

/* Up to max whole numbers >= 1 from a comma-separated list. */
static int parse_list(const char *text, const char *key, long *out, int max, int *count)
{
    *count = 0;
    const char *q = text;
    while (*q) {
        while (*q == ' ' || *q == '\t' || *q == ',') {
            q++;
        }
        if (!*q) {
            break;
        }
        char *end;
        errno = 0;
        long v = strtol(q, &end, 10);
        if (end == q || errno || v < 1) {
            return KH_ERROR(KH_EINVAL, "%s = %s: whole numbers >= 1, separated by commas", key,
                            text);
        }
        if (*count == max) {
            return KH_ERROR(KH_EINVAL, "%s = %s: at most %d layers", key, text, max);
        }
        out[(*count)++] = v;
        q = end;
        while (*q == ' ' || *q == '\t') {
            q++;
        }
        if (*q && *q != ',') {
            return KH_ERROR(KH_EINVAL, "%s = %s: whole numbers >= 1, separated by commas", key,
                            text);
        }
    }
    return KH_OK;
}

int kh_conv_plan(const char *channels, const char *kernels, const char *pools, long cin, long h,
                 long w, kh_conv_shape *shapes, int *layers)
{
    long ch[KH_CONV_MAX_LAYERS], ke[KH_CONV_MAX_LAYERS], po[KH_CONV_MAX_LAYERS];
    int nc, nk, np;
    int st = parse_list(channels, "conv.channels", ch, KH_CONV_MAX_LAYERS, &nc);
    if (st == KH_OK) {
        st = parse_list(kernels, "conv.kernels", ke, KH_CONV_MAX_LAYERS, &nk);
    }
    if (st == KH_OK) {
        st = parse_list(pools, "conv.pools", po, KH_CONV_MAX_LAYERS, &np);
    }
    if (st != KH_OK) {
        return st;
    }
    if (nc < 1 || nk != nc || np != nc) {
        return KH_ERROR(KH_EINVAL,
                        "conv.channels, conv.kernels and conv.pools need one entry per "
                        "layer (got %d, %d and %d)",
                        nc, nk, np);
    }
    for (int l = 0; l < nc; l++) {
        st = kh_conv_shape_set(&shapes[l], cin, h, w, ch[l], ke[l], po[l]);
        if (st != KH_OK) {
            return KH_ERROR(st, "layer %d: %s", l + 1, kh_errmsg());
        }
        cin = shapes[l].cout;
        h = shapes[l].hp;
        w = shapes[l].wp;
    }
    *layers = nc;
    return KH_OK;
}

void kh_conv_im2col(const kh_conv_shape *s, const double *x, double *P)
{
    const long k = s->kernel, h = s->h, w = s->w;
    for (long y = 0; y < s->ho; y++) {
        for (long xx = 0; xx < s->wo; xx++) {
            double *row = P + (size_t)(y * s->wo + xx) * (size_t)s->patch;
            for (long c = 0; c < s->cin; c++) {
                for (long dy = 0; dy < k; dy++) {
                    memcpy(row + (c * k + dy) * k, x + (c * h + y + dy) * w + xx,
                           (size_t)k * sizeof(double));
                }
            }
        }
    }
}

void kh_conv_pool(const kh_conv_shape *s, const double *A, double *out)
{
    const long P = s->pool, C = s->cout;
    for (long c = 0; c < C; c++) {
        for (long y = 0; y < s->hp; y++) {
            for (long x = 0; x < s->wp; x++) {
                /* max over the window of ReLU = ReLU of the max */
                double mx = 0.0;
                for (long dy = 0; dy < P; dy++) {
                    for (long dx = 0; dx < P; dx++) {
                        const double a = A[((y * P + dy) * s->wo + x * P + dx) * C + c];
                        mx = a > mx ? a : mx;
                    }
                }
                out[(c * s->hp + y) * s->wp + x] = mx;
            }
        }
    }
}

/* The outputs of nimg images whose patches are P [nimg positions, patch],
 * with A [nimg positions, cout] as scratch. */
static void outputs(const kh_conv_shape *s, const double *W, const double *P, long nimg, double *A,
                    double *out)
{
    const long rows = nimg * s->positions, olen = kh_conv_out_len(s);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)s->cout, (int)s->patch,
                1.0, P, (int)s->patch, W, (int)s->patch, 0.0, A, (int)s->cout);
    for (long b = 0; b < nimg; b++) {
        kh_conv_pool(s, A + (size_t)(b * s->positions * s->cout), out + (size_t)(b * olen));
    }
}

int kh_conv_forward(const kh_conv_shape *s, const double *W, const double *x, long nimg,
                    double *out)
{
    const long chunk = nimg < FORWARD_CHUNK ? nimg : FORWARD_CHUNK;
    const long in = s->cin * s->h * s->w, olen = kh_conv_out_len(s);
    double *P = malloc((size_t)(chunk * s->positions * s->patch) * sizeof(double));
    double *A = malloc((size_t)(chunk * s->positions * s->cout) * sizeof(double));
    if (!P || !A) {
        free(P);
        free(A);
        return KH_ERROR(KH_ENOMEM, "cannot allocate the patches of %ld images", chunk);
    }
    for (long b0 = 0; b0 < nimg; b0 += chunk) {
        const long nb = nimg - b0 < chunk ? nimg - b0 : chunk;
        for (long b = 0; b < nb; b++) {
            kh_conv_im2col(s, x + (size_t)((b0 + b) * in),
                           P + (size_t)(b * s->positions * s->patch));
        }
        outputs(s, W, P, nb, A, out + (size_t)(b0 * olen));
    }
    free(P);
    free(A);
    return KH_OK;
}

struct kh_conv_layer {
    kh_params p; /* the study's, with hidden = cout and inputs = patch */
    kh_conv_shape s;
    kh_rows_backend b;
    kh_fast *fast; /* the CPU's learner (b's context), or NULL */
    long max_images, nimg;
    double *P;  /* [max_images positions, patch]: the loaded patches */
    double *A;  /* [max_images positions, cout]: currents of the outputs */
    double *W;  /* [cout, patch]: W as double, for the outputs */
    long *gend; /* [max_images]: where each image's patches end */
};

/* The CPU's learner as a backend. */
static int cpu_step(void *ctx, const double *V, long nv, const long *gend, long ng, double eps)
{
    return kh_fast_step_rows(ctx, V, nv, gend, ng, eps);
}

static int cpu_get_W(void *ctx, double *W)
{
    kh_fast_get_W(ctx, W);
    return KH_OK;
}

static int cpu_wins(void *ctx, long *counts, int reset)
{
    kh_fast_win_counts(ctx, counts);
    if (reset) {
        kh_fast_winners(ctx, 1);
    }
    return KH_OK;
}

static void cpu_release(void *ctx)
{
    kh_fast_free(ctx);
}

void kh_conv_layer_free(kh_conv_layer *L)
{
    if (!L) {
        return;
    }
    if (L->b.release) {
        L->b.release(L->b.ctx);
    }
    free(L->P);
    free(L->A);
    free(L->W);
    free(L->gend);
    free(L);
}

/* A layer without its learner. */
static kh_conv_layer *layer_new(const kh_params *p, const kh_conv_shape *s, long max_images)
{
    if (max_images < 1) {
        KH_ERROR(KH_EINVAL, "a convolutional layer needs minibatches of at least one image");
        return NULL;
    }
    kh_conv_layer *L = calloc(1, sizeof *L);
    if (!L) {
        KH_ERROR(KH_ENOMEM, "cannot allocate a convolutional layer");
        return NULL;
    }
    L->p = *p;
    L->p.n_hidden = s->cout;
    L->p.n_visible = s->patch;
    L->s = *s;
    L->max_images = max_images;
    const size_t rows = (size_t)(max_images * s->positions);
    L->P = malloc(rows * (size_t)s->patch * sizeof(double));
    L->A = malloc(rows * (size_t)s->cout * sizeof(double));
    L->W = malloc((size_t)(s->cout * s->patch) * sizeof(double));
    L->gend = malloc((size_t)max_images * sizeof(long));
    if (!L->P || !L->A || !L->W || !L->gend) {
        kh_conv_layer_free(L);
        KH_ERROR(KH_ENOMEM, "cannot allocate the patches of %ld images", max_images);
        return NULL;
    }
    return L;
}

kh_conv_layer *kh_conv_layer_alloc_on(const kh_params *p, const kh_conv_shape *s, long max_images,
                                      kh_rows_backend b)
{
    kh_conv_layer *L = layer_new(p, s, max_images);
    if (!L) {
        b.release(b.ctx);
        return NULL;
    }
    L->b = b;
    return L;
}

kh_conv_layer *kh_conv_layer_alloc(const kh_params *p, const kh_conv_shape *s, const double *W0,
                                   long max_images)
{
    kh_conv_layer *L = layer_new(p, s, max_images);
    if (!L) {
        return NULL;
    }
    /* The learner borrows the layer's copy of the parameters. */
    L->fast = kh_fast_alloc_rows(&L->p, W0, max_images * s->positions);
    if (!L->fast) {
        kh_conv_layer_free(L);
        return NULL;
    }
    L->b = (kh_rows_backend){"cpu", L->fast, cpu_step, cpu_get_W, cpu_wins, cpu_release};
    return L;
}

const char *kh_conv_layer_backend(const kh_conv_layer *L)
{
    return L->b.name;
}

int kh_conv_layer_load(kh_conv_layer *L, const double *x, long nimg)
{
    if (nimg < 1 || nimg > L->max_images) {
        return KH_ERROR(KH_EINVAL, "a minibatch of %ld images (1 to %ld)", nimg, L->max_images);
    }
    const kh_conv_shape *s = &L->s;
    const long in = s->cin * s->h * s->w;
    for (long b = 0; b < nimg; b++) {
        kh_conv_im2col(s, x + (size_t)(b * in), L->P + (size_t)(b * s->positions * s->patch));
        L->gend[b] = (b + 1) * s->positions;
    }
    L->nimg = nimg;
    return KH_OK;
}

int kh_conv_layer_step(kh_conv_layer *L, double eps)
{
    if (L->nimg < 1) {
        return KH_ERROR(KH_EINVAL, "no images loaded");
    }
    return L->b.step(L->b.ctx, L->P, L->nimg * L->s.positions, L->gend, L->nimg, eps);
}

int kh_conv_layer_delta(kh_conv_layer *L, double *dW)
{
    if (!L->fast) {
        return KH_ERROR(KH_ENOTSUP, "Delta W alone is taken on the CPU's learner only");
    }
    if (L->nimg < 1) {
        return KH_ERROR(KH_EINVAL, "no images loaded");
    }
    return kh_fast_delta_rows(L->fast, L->P, L->nimg * L->s.positions, L->gend, L->nimg, dW);
}

int kh_conv_layer_output(kh_conv_layer *L, double *out)
{
    int st = L->b.get_W(L->b.ctx, L->W);
    if (st == KH_OK) {
        outputs(&L->s, L->W, L->P, L->nimg, L->A, out);
    }
    return st;
}

int kh_conv_layer_get_W(const kh_conv_layer *L, double *W)
{
    return L->b.get_W(L->b.ctx, W);
}

int kh_conv_layer_wins(kh_conv_layer *L, long *counts, int reset)
{
    return L->b.wins(L->b.ctx, counts, reset);
}

void kh_conv_layer_pnorm(const kh_conv_layer *L, const double *W, double *B)
{
    const int ip = kh_int_exponent(L->p.p);
    for (long c = 0; c < L->s.cout; c++) {
        B[c] = kh_row_pnorm(W + c * L->s.patch, L->s.patch, L->p.p, ip);
    }
}
