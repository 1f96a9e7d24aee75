/* khsim kcap: Balwani, Gupta and Shu's recurrent network with the k-cap
 * activation and local plasticity ("Meta-learning biologically plausible
 * update rules for unsupervised and semi-supervised representation
 * learning"; the choices the paper leaves open are in docs/kcap.md).
 *
 * The network: a_k(z)_i = 1 when z_i is one of the k largest entries of z,
 * else 0 (ties to the lower index). For an input x_0 [n]:
 *     x_1 = a_k(M_in x_0),  x_t = a_k(M_rec x_{t-1}) for t = 2 .. T+1,
 *     out = M_out x_{T+1}   (linear; kcap.cap_output = true: a_k(M_out x_{T+1})),
 * with M_in [m, n], M_rec [m, m], M_out [n, m] (post x pre). The objective is
 * the autoencoding loss |out - x_0|^2.
 *
 * The relaxation (for gradients): the soft k-cap
 *     a_i = sigmoid((z_i - c) / tau),  c = (z_(k) + z_(k+1)) / 2,
 * the midpoint of the k-th and (k+1)-th largest entries; tau -> 0 gives the
 * hard cap. Its derivative is exact (c moves with those two entries), so
 * gradients through it agree with finite differences.
 *
 * The rules: for a synapse (i <- j) of a layer, with the pre-synaptic rate
 * p_j and the post-synaptic rate q_i (in: x_0 and x_1; rec: x_{t-1} and x_t,
 * t = 2 .. T+1; out: x_{T+1} and the input x_0 the output should equal):
 *   hebb:    M_ij += eta sum q_i p_j, then each post-unit's incoming weights
 *            rescaled to their 2-norm before the update;
 *   learned: M_ij += f_theta(features_ij), f_theta a small MLP per layer
 *            (d -> h tanh -> 1) over the pre/post histories: in (p_j, q_i),
 *            rec (x_{t-1,j}, x_{t,i} for t = 2 .. T+1), out (x_{T+1,j},
 *            out_i, x_{0,i}).
 * theta is trained by Adam on the loss one step after the update, through
 * the soft k-cap with tau annealed to small, the inner weights constant. */
#ifndef KH_KCAP_H
#define KH_KCAP_H

#include <signal.h>
#include <stdint.h>

#include "io/kh_config.h"
#include "run/kh_sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The hard k-cap: a [len] = 1 at the k largest entries of z, 0 elsewhere
 * (ties to the lower index). */
void kh_kcap_hard(const double *z, long len, long k, double *a);

/* The soft k-cap at temperature tau > 0 (k < len). */
void kh_kcap_soft(const double *z, long len, long k, double tau, double *a);

/* The data sets: circles, moons, blobs in 2-D (two classes, N/2 each, with
 * Gaussian noise of standard deviation `noise`), projected to n dimensions
 * by a fixed random matrix P [n, 2] (entries N(0, 1/2)): x = P z. From
 * seed alone. z [N, 2], x [N, n], label [N], P [n, 2]. */
enum { KH_KCAP_CIRCLES, KH_KCAP_MOONS, KH_KCAP_BLOBS };
void kh_kcap_data(int kind, long N, double noise, uint64_t seed, long n, double *z, double *x,
                  long *label, double *P);

/* The network's weights: M_in [m, n], M_rec[t] [m, m] for t = 0 .. T-1 (the
 * RNN: all T the same matrix; an MLP of the same depth: T matrices),
 * M_out [n, m]. */
typedef struct kh_kcap_net {
    long n, m, k, T;
    int cap_output;
    int shared; /* 1: one recurrent matrix (the RNN) */
    double *in, *rec[8], *out;
} kh_kcap_net;

/* The states of one forward pass: z and x of steps 1 .. T+1 ([T+1, m]
 * each; row t-1 is step t) and the output [n] (zout before any cap). */
typedef struct kh_kcap_pass {
    double *z, *x, *zout, *out;
} kh_kcap_pass;

/* Allocates net (shared: the RNN) with weights N(0, 1/fan_in) from seed.
 * KH_OK, KH_EINVAL (T outside 1..8, k outside 1..m-1), KH_ENOMEM. */
int kh_kcap_net_alloc(kh_kcap_net *net, long n, long m, long k, long T, int shared, int cap_output,
                      uint64_t seed);
void kh_kcap_net_free(kh_kcap_net *net);
int kh_kcap_pass_alloc(kh_kcap_pass *ps, const kh_kcap_net *net);

/* The weight arrays of net, a shared recurrent matrix once, into a and
 * their lengths into len (at most KH_KCAP_ARRAYS); returns their count. */
#define KH_KCAP_ARRAYS 10
int kh_kcap_net_arrays(const kh_kcap_net *net, double **a, long *len);

/* net += d, and dst = src, weight by weight (nets of the same shape). */
void kh_kcap_net_add(kh_kcap_net *net, const kh_kcap_net *d);
void kh_kcap_net_copy(kh_kcap_net *dst, const kh_kcap_net *src);
void kh_kcap_pass_free(kh_kcap_pass *ps);

/* A forward pass of x0 (tau = 0: the hard cap); returns |out - x0|^2. */
double kh_kcap_forward(const kh_kcap_net *net, const double *x0, double tau, kh_kcap_pass *ps);

/* The gradient of |out - x0|^2 with respect to every weight, added into g
 * (a net of the same shape; shared recurrent weights gather every step),
 * after kh_kcap_forward at tau > 0 (or the hard cap's zero where it is
 * hard). Needs the pass ps of that forward. */
void kh_kcap_backward(const kh_kcap_net *net, const double *x0, double tau, const kh_kcap_pass *ps,
                      kh_kcap_net *g);

/* The plain Hebbian update of every layer from the pass ps of x0 (hard),
 * at rate eta, with the incoming weights of each post-unit kept at their
 * 2-norm. */
void kh_kcap_hebb(kh_kcap_net *net, const double *x0, const kh_kcap_pass *ps, double eta);

/* The learned rule: three small MLPs (in, rec, out), d -> hidden -> 1. */
typedef struct kh_kcap_rule {
    long hidden;
    long d[3];     /* inputs: 2, 2T, 3 */
    double *th[3]; /* per layer: W1 [hidden, d], b1 [hidden], w2 [hidden], b2 */
    long len[3];   /* parameters per layer */
    long total;    /* all of them: theta is th[0] .. th[2], contiguous */
} kh_kcap_rule;

int kh_kcap_rule_alloc(kh_kcap_rule *r, long T, long hidden, uint64_t seed);
void kh_kcap_rule_free(kh_kcap_rule *r);

/* The update f_theta makes from the pass ps of x0, into dnet (a net of the
 * same shape; shared recurrent: into rec[0]). */
void kh_kcap_rule_update(const kh_kcap_rule *r, const kh_kcap_net *net, const double *x0,
                         const kh_kcap_pass *ps, kh_kcap_net *dnet);

/* The one-step objective L(theta) = |M'(xe) - xe|^2, M' = M + f_theta(the
 * histories of the hard pass of x0 at M), through the soft cap at tau (xe =
 * x0: the seed's objective; xe another sample: the loss the update leaves
 * on it); with
 * grad (may be NULL) its gradient with respect to theta is added into grad
 * [r->total]. `work` is a net of the same shape and `ps`, `ps2` passes, all
 * scratch. Returns L. */
double kh_kcap_meta_loss(const kh_kcap_rule *r, const kh_kcap_net *net, const double *x0,
                         const double *xe, double tau, double *grad, kh_kcap_net *work,
                         kh_kcap_net *gwork, kh_kcap_pass *ps, kh_kcap_pass *ps2);

/* The earth mover's distance between the latent states L [N, m] and the 2-D
 * points Z [N, 2]: L projected on its two principal axes, both sets
 * centred and scaled to a mean squared norm of 1, the projection rotated
 * (or reflected) onto Z by orthogonal Procrustes, then the mean distance of
 * the optimal one-to-one matching (Hungarian algorithm). Y [N, 2] receives
 * the aligned projection (may be NULL). Returns the distance, or -1 when
 * out of memory. */
double kh_kcap_emd(const double *L, long N, long m, const double *Z, double *Y);

/* The semi-supervised readout (the seed's "feature space for supervised
 * training with a limited number of labelled samples"): a linear classifier
 * on features X [N, d] of two classes y [N] (0 or 1), by L2-regularised
 * logistic regression: w [d + 1] (the last entry the bias) minimises
 *   sum_{s in idx} log(1 + exp(-(2 y_s - 1) w.x_s)) + lambda / 2 |w_{0..d-1}|^2
 * (the bias with 1e-6 of lambda, so that the problem is strictly convex),
 * by Newton's method to a step below 1e-12. KH_OK, KH_ENOMEM, or
 * KH_ENOCONV after 100 iterations. */
#define KH_KCAP_SEMI_LAMBDA 1.0
int kh_kcap_logistic_fit(const double *X, const long *y, const long *idx, long nl, long d,
                         double lambda, double *w);
/* The fraction of idx [nt] that w classifies correctly (w.x > 0: class 1). */
double kh_kcap_logistic_accuracy(const double *X, const long *y, const long *idx, long nt, long d,
                                 const double *w);
/* acc [K]: for each per_class[k] (labelled samples of each class), the
 * classifier's accuracy on all the other samples, averaged over `draws`
 * random labelled sets (drawn from seed; the same sets for every X of the
 * same N and y). KH_OK, KH_ENOMEM, KH_ENOCONV, KH_EINVAL (a class with
 * fewer samples than per_class[k] + 1). */
int kh_kcap_semi(const double *X, const long *y, long N, long d, const long *per_class, int K,
                 int draws, uint64_t seed, double *acc);

/* Runs the study c ([kcap]) and writes c->p.out_path. KH_OK, KH_EINVAL,
 * KH_EIO, KH_ENOMEM, KH_EINTR, KH_ENOTSUP (resume). */
int kh_kcap_run(kh_config *c, const char *overrides, int resume, const volatile sig_atomic_t *stop,
                kh_progress_fn progress, void *pctx);

#ifdef __cplusplus
}
#endif
#endif
