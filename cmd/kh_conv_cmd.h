/* khsim conv: convolutional Krotov-Hopfield layers trained by the fast rule
 * over patches (solvers/kh_conv.h), all layers at each minibatch, and their
 * record (docs/conv.md); and the reader of that record that khsim train's
 * train.features = conv uses. */
#ifndef KH_CONV_CMD_H
#define KH_CONV_CMD_H

#include <signal.h>

#include "io/kh_config.h"
#include "run/kh_sim.h"
#include "solvers/kh_conv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_conv_result {
    long epochs; /* epochs recorded, over every part of a resumed run */
    long images; /* training images */
    int layers;
    double seconds; /* this part's wall time */
} kh_conv_result;

/* The input image of a study: channels (conv.input_channels, or 3 for
 * cifar10 and 1 otherwise) and the square side such that channels side^2 =
 * n. KH_OK or KH_EINVAL. */
int kh_conv_input_shape(const kh_params *p, long n, long *cin, long *side);

/* Trains the layers of study c on its images and writes c->p.out_path; with
 * resume != 0, continues that record from its last complete epoch (the
 * order of each epoch comes from init.seed and the epoch, so a resumed run
 * ends with the weights of an uninterrupted one). KH_OK, KH_EINVAL, KH_EIO,
 * KH_ENOMEM, KH_ESOLVER, KH_EINTR. */
int kh_conv_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                kh_progress_fn progress, void *pctx, kh_conv_result *res);

/* The trained layers of a khsim conv record: shapes and last weights. */
typedef struct kh_conv_net {
    int layers;
    kh_conv_shape s[KH_CONV_MAX_LAYERS];
    double *W[KH_CONV_MAX_LAYERS]; /* [cout, patch] */
} kh_conv_net;

/* Reads the record at path (its last complete epoch), for images of n
 * inputs. KH_OK, KH_EIO, KH_EINVAL (not a khsim conv record, or other
 * images), KH_ENOMEM. */
int kh_conv_net_read(const char *path, long n, kh_conv_net *net);
void kh_conv_net_free(kh_conv_net *net);

/* The number of outputs of the last layer per image. */
long kh_conv_net_out_len(const kh_conv_net *net);

/* The last layer's outputs of N images X [N, n] into out [N, out_len]
 * (through every layer: ReLU, max-pool). KH_OK or KH_ENOMEM. */
int kh_conv_net_forward(const kh_conv_net *net, const double *X, long N, double *out);

#ifdef __cplusplus
}
#endif
#endif
