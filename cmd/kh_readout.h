/* The supervised readout of khsim train (Krotov & Hopfield, PNAS 2019,
 * eq. 1 and appendix B): hidden activities h = f(W v), f(x) = max(x, 0)^n,
 * outputs c = tanh(beta S h) for C classes, the loss
 *     L = sum over samples and classes of |c_alpha - t_alpha|^m
 * with targets t = +1 for the label and -1 for the others, and Adam.
 * Products go through BLAS in the precision of H (dgemm, or sgemm when H is
 * float: half the memory and about half the time of the readout); S, the
 * gradient, the loss and its derivative, and Adam are double either way. */
#ifndef KH_READOUT_H
#define KH_READOUT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of hidden activities [N, M], row after row: double, or float when
 * single != 0. */
typedef struct kh_hrows {
    void *x;
    int single;
} kh_hrows;

/* Scratch of kh_readout_loss and kh_readout_errors for up to `rows`
 * samples at a time. */
typedef struct kh_readout_work {
    long rows;
    double *Z, *D;            /* [rows, C]: beta S h, dL/dz */
    float *Sf, *Gf, *Zf, *Df; /* float H only: S, G [C, M], Z, D [rows, C] */
} kh_readout_work;

/* 0, or -1 when out of memory (nothing left allocated). */
int kh_readout_work_alloc(kh_readout_work *w, long C, long M, long rows, int single);
void kh_readout_work_free(kh_readout_work *w);

/* H [N, M] = f(X W^T) with f(x) = max(x, 0)^power, for X [N, n], W [M, n],
 * computed in double (a float H is rounded from it). 0, or -1 when out of
 * memory. */
int kh_readout_features(const double *W, long M, long n, const double *X, long N, double power,
                        kh_hrows H);

/* Rows i0 .. i0 + rows - 1 of H = x [rows, M] (rounded when H is float). */
void kh_hrows_set(kh_hrows H, long i0, const double *x, long rows, long M);

/* The rows of H from row i on (a view, no copy). */
kh_hrows kh_hrows_at(kh_hrows H, long i, long M);

/* Row i of dst = row j of src (the same precision). */
void kh_hrows_copy(kh_hrows dst, long i, kh_hrows src, long j, long M);

/* The largest value of row i (0 when none is positive); row i times factor. */
double kh_hrows_row_max(kh_hrows H, long i, long M);
void kh_hrows_scale_row(kh_hrows H, long i, long M, double factor);

/* The loss of samples H [B, M] (B <= w->rows) with labels [B] (0 .. C-1) at
 * S [C, M], and, when G is not NULL, its gradient dL/dS into G [C, M]. */
double kh_readout_loss(const double *S, long C, long M, double beta, double m, kh_hrows H,
                       const long *labels, long B, double *G, kh_readout_work *w);

/* The number of samples of H [N, M] whose largest output is not their label,
 * w->rows samples at a time. */
long kh_readout_errors(const double *S, long C, long M, double beta, kh_hrows H, const long *labels,
                       long N, kh_readout_work *w);

/* The most classes kh_readout_input_gradient takes. */
#define KH_READOUT_MAX_CLASSES 64

/* The activation f(a) = max(a, 0)^power (integer powers up to 8 by
 * products): the one formula of the features, backpropagation and FGSM. */
double kh_readout_activation(double a, double power);

/* One FGSM step: xp = clip(x + eps sign(g), 0, 1) for n values (xp may be
 * g). */
void kh_fgsm_step(const double *x, const double *g, long n, double eps, double *xp);

/* Reads a list of numbers in [0, 1] or fractions N/D, separated by commas
 * (FGSM strengths: "4/255, 8/255"), at most max of them, into out and *k
 * (an empty text gives none). KH_OK or KH_EINVAL naming `key`. */
int kh_parse_fractions(const char *text, const char *key, double *out, int max, int *k);

/* The classifier's FGSM accuracy on N samples X [N, n] with labels: each
 * sample moved to x' = clip(x + eps sign(dL/dx), 0, 1), with L its loss
 * sum |c - t|^m at W [M, n], S [C, M], h = max(W x, 0)^power and
 * c = tanh(beta S h); beta = beta_scale / max_mu h_mu of the sample when
 * per_digit, else beta_scale (held fixed in the gradient either way), then
 * classified as argmax S h'. dL/dx = W^T (power max(W x, 0)^(power-1) *
 * beta S^T dL/dz). C <= KH_READOUT_MAX_CLASSES. Returns the fraction right,
 * or -1 when out of memory. */
double kh_readout_fgsm_accuracy(const double *W, const double *S, long C, long M, long n,
                                double power, double beta_scale, int per_digit, double m,
                                const double *X, const long *labels, long N, double eps);

/* dL/dx of one sample x [n] (as above) into g [n]; a [M] and dh [M] are
 * scratch. Returns the loss. */
double kh_readout_input_gradient(const double *W, const double *S, long C, long M, long n,
                                 double power, double beta_scale, int per_digit, double m,
                                 const double *x, long label, double *a, double *dh, double *g);

/* One Adam step (Kingma & Ba 2015, algorithm 1) at step t >= 1 on x [len]
 * with gradient g, moments m1, m2 (updated):
 *   m1 = b1 m1 + (1 - b1) g,  m2 = b2 m2 + (1 - b2) g^2,
 *   x -= lr (m1 / (1 - b1^t)) / (sqrt(m2 / (1 - b2^t)) + eps). */
void kh_adam_step(double *x, const double *g, double *m1, double *m2, long len, long t, double lr,
                  double b1, double b2, double eps);

#ifdef __cplusplus
}
#endif
#endif
