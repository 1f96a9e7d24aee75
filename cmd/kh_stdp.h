/* khsim stdp: Gupta's supervised local rule derived from STDP against
 * backpropagation, on binary pairs of MNIST digits or Iris classes, with the
 * FGSM attack on both ("A Local Learning Rule derived from STDP"; the
 * choices the paper leaves open are in docs/stdp.md).
 *
 * Network: v (n inputs in [0, 1]) -> h1 -> h2 -> 1, sigmoid units, no
 * biases. With firing times T_pre = 1/x, T_post = 1/q the paper's eq. 1,
 * dW ~ dT / (T_pre^2 (T_pre - dT)^2), dT = T_post - T_pre, is eq. 2:
 *     dW ~ x^3 q (x - q) / (2q - x)^2,
 * and its supervised form (eq. 3) for the synapse from pre-unit j (rate x_j)
 * to post-unit k (rate q_k):
 *     dW_kj = +eta Z_k x_j^3 q_k (x_j - q_k) / ((2 q_k - x_j)^2 + 1e-9),
 * with Z = +1 for the output when y = 1 and -1 when y = 0, and for each
 * hidden layer a fixed vector Z with as many +1 as -1, used as it is for
 * y = 1 and negated for y = 0. Adam takes -dW (the mean over the minibatch)
 * in place of the gradient. The baseline is the same network trained by
 * backpropagation of the binary cross-entropy, from the same W(0). */
#ifndef KH_STDP_H
#define KH_STDP_H

#include <signal.h>

#include "io/kh_config.h"
#include "run/kh_sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Eq. 3 without eta and Z: x^3 q (x - q) / ((2q - x)^2 + eps). */
double kh_stdp_rule(double x, double q, double eps);

/* Eq. 1 from the firing times T_pre = 1/x, T_post = 1/q. */
double kh_stdp_rule_dt(double x, double q);

/* A network of the three layers: W[l] is [size[l+1], size[l]]. */
typedef struct kh_mlp {
    long size[4];
    double *W[3];
} kh_mlp;

/* Allocates and fills W(0) ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from seed.
 * KH_OK or KH_ENOMEM. */
int kh_mlp_alloc(kh_mlp *net, long n, long h1, long h2, long seed);
void kh_mlp_free(kh_mlp *net);

/* The output q in (0, 1) for input x [n]; a [n + h1 + h2 + 1] receives
 * every layer's rates (a may be NULL). */
double kh_mlp_forward(const kh_mlp *net, const double *x, double *a);

/* d BCE(q(x), y) / dx into g [n] (the FGSM direction), with the rates a of
 * kh_mlp_forward and scratch d [h1 + h2 + 1]. */
void kh_mlp_input_gradient(const kh_mlp *net, const double *a, int y, double *d, double *g);

/* FGSM: x' = clip(x + eps sign(d BCE / dx), 0, 1) into xp [n]. */
void kh_fgsm(const kh_mlp *net, const double *x, int y, double eps, double *xp);

/* Runs the study c (its [stdp] section; stdp.data names the data set) and
 * writes c->p.out_path; with resume != 0, continues that record from its
 * last complete epoch (/stdp/checkpoint: both networks and Adam's state;
 * the epochs' orders replayed from the seed), ending where an uninterrupted
 * run would. KH_OK, KH_EINVAL, KH_EIO, KH_ENOMEM, KH_EINTR. */
int kh_stdp_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                kh_progress_fn progress, void *pctx);

#ifdef __cplusplus
}
#endif
#endif
