/* Convolutional Krotov-Hopfield layers: the fast rule over image patches
 * (`khsim conv`; docs/conv.md).
 *
 * A layer has cout filters W_c of cin x kernel x kernel weights (no bias),
 * stride 1, no padding; its output is max-pool(ReLU(conv(x, W))) with a
 * window and stride of `pool` (1: no pooling; a partial last window is
 * dropped, as PyTorch's MaxPool2d does). Learning, per image of a minibatch:
 * the currents I_c(y, x) = <patch(y, x), sgn(W_c)|W_c|^(p-1)> at every
 * position; all channel x position entries of the image ranked together;
 * g = 1 at the largest and -delta at the k-th; then
 *     Delta W_c = R^p sum g patch - (sum g I) W_c
 * over the entries of every image that fall on channel c, and
 *     W += eps Delta W / max|Delta W|.
 * This is solvers/fast.c's learner over rows (kh_fast_step_rows): the
 * patches are its rows, the images its groups, so the top-k, the row-sparse
 * Delta W and the step are the fast rule's own, in float or double
 * (solver.precision).
 *
 * Layouts: an image x [cin, h, w] (channel-major, row-major), a patch
 * (ci, dy, dx) in that order (PyTorch's weight layout [cout, cin, k, k]),
 * patches of an image position by position (y, x), a layer's output
 * [cout, hp, wp]. */
#ifndef KH_CONV_H
#define KH_CONV_H

#include "core/kh_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most layers a study may stack. */
#define KH_CONV_MAX_LAYERS 8

typedef struct kh_conv_shape {
    long cin, h, w;    /* input: channels, height, width */
    long cout, kernel; /* cout filters of cin x kernel x kernel */
    long pool;         /* max-pool window and stride (1: none) */
    long ho, wo;       /* convolution output: h - kernel + 1, w - kernel + 1 */
    long hp, wp;       /* after the pool: ho / pool, wo / pool */
    long patch;        /* cin kernel^2: inputs per filter */
    long positions;    /* ho wo */
} kh_conv_shape;

/* Fills s; KH_OK or KH_EINVAL (a kernel larger than the image, a pool
 * larger than the convolution's output, a size below 1). */
int kh_conv_shape_set(kh_conv_shape *s, long cin, long h, long w, long cout, long kernel,
                      long pool);

/* The output values per image: cout hp wp. */
long kh_conv_out_len(const kh_conv_shape *s);

/* Reads the layer lists of a study (conv.channels, conv.kernels,
 * conv.pools: comma-separated, as many of each) for images cin x h x w into
 * shapes[0 .. *layers - 1], each layer's input the previous one's output.
 * KH_OK or KH_EINVAL naming the key. */
int kh_conv_plan(const char *channels, const char *kernels, const char *pools, long cin, long h,
                 long w, kh_conv_shape *shapes, int *layers);

/* The patches of image x [cin, h, w] into P [positions, patch]. */
void kh_conv_im2col(const kh_conv_shape *s, const double *x, double *P);

/* ReLU then max-pool of the currents A [positions, cout] of one image into
 * out [cout, hp, wp]. */
void kh_conv_pool(const kh_conv_shape *s, const double *A, double *out);

/* The outputs of nimg images x [nimg, cin h w] at W [cout, patch] into
 * out [nimg, cout hp wp] (double, through BLAS, a few hundred images per
 * product). KH_OK or KH_ENOMEM. */
int kh_conv_forward(const kh_conv_shape *s, const double *W, const double *x, long nimg,
                    double *out);

/* One layer's learner. */
typedef struct kh_conv_layer kh_conv_layer;

/* What does a layer's learning: the step of the fast rule over groups of
 * rows (kh_fast_step_rows' contract), on the CPU (solvers/fast.c, the
 * default) or elsewhere (the GPU's, gpu/kh_gpu.h, handed in by the command
 * that runs the layers). Every function returns a KH_* code. */
typedef struct kh_rows_backend {
    const char *name; /* "cpu", "cuda" */
    void *ctx;
    int (*step)(void *ctx, const double *V, long nv, const long *gend, long ng, double eps);
    int (*get_W)(void *ctx, double *W);
    int (*wins)(void *ctx, long *counts, int reset);
    void (*release)(void *ctx);
} kh_rows_backend;

/* Plans a layer of shape s from W0 [cout, patch] for minibatches of up to
 * max_images images, with the learning parameters of p (p, R, delta, k,
 * min_norm, precision; p is copied), learning on the CPU. NULL + KH_ERROR on
 * failure. */
kh_conv_layer *kh_conv_layer_alloc(const kh_params *p, const kh_conv_shape *s, const double *W0,
                                   long max_images);

/* The same with the learner b (the layer owns it from here on, and releases
 * it, also when this fails). */
kh_conv_layer *kh_conv_layer_alloc_on(const kh_params *p, const kh_conv_shape *s, long max_images,
                                      kh_rows_backend b);

/* The name of the layer's learner ("cpu", "cuda"). */
const char *kh_conv_layer_backend(const kh_conv_layer *L);
void kh_conv_layer_free(kh_conv_layer *L);

/* Takes the minibatch x [nimg, cin h w] (nimg <= max_images): its patches
 * are what the next calls work on. KH_OK or KH_EINVAL. */
int kh_conv_layer_load(kh_conv_layer *L, const double *x, long nimg);

/* One step of the rule at rate eps on the loaded images. */
int kh_conv_layer_step(kh_conv_layer *L, double eps);

/* The Delta W [cout, patch] the loaded images would make, not applied (the
 * CPU's learner only: KH_ENOTSUP on another). */
int kh_conv_layer_delta(kh_conv_layer *L, double *dW);

/* The loaded images' outputs at the current W into out [nimg, out_len]. */
int kh_conv_layer_output(kh_conv_layer *L, double *out);

/* W [cout, patch] as double. */
int kh_conv_layer_get_W(const kh_conv_layer *L, double *W);

/* How often each filter [cout] has won an image since the last reset;
 * reset != 0 starts a new count. */
int kh_conv_layer_wins(kh_conv_layer *L, long *counts, int reset);

/* sum_i |W_ci|^p of each filter of W [cout, patch] (kh_conv_layer_get_W's)
 * into B [cout]. */
void kh_conv_layer_pnorm(const kh_conv_layer *L, const double *W, double *B);

#ifdef __cplusplus
}
#endif
#endif
