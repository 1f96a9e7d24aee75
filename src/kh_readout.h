/* The supervised readout of khsim train (Krotov & Hopfield, PNAS 2019,
 * eq. 1 and appendix B): hidden activities h = f(W v), f(x) = max(x, 0)^n,
 * outputs c = tanh(beta S h) for C classes, the loss
 *     L = sum over samples and classes of |c_alpha - t_alpha|^m
 * with targets t = +1 for the label and -1 for the others, and Adam.
 * Products go through BLAS (dgemm); everything is double. */
#ifndef KH_READOUT_H
#define KH_READOUT_H

#ifdef __cplusplus
extern "C" {
#endif

/* H [N, M] = f(X W^T) with f(x) = max(x, 0)^power, for X [N, n], W [M, n]. */
void kh_readout_features(const double *W, long M, long n, const double *X, long N, double power,
                         double *H);

/* The loss of samples H [B, M] with labels [B] (0 .. C-1) at S [C, M], and,
 * when G is not NULL, its gradient dL/dS into G [C, M]. Z and D are scratch
 * of B C values each. */
double kh_readout_loss(const double *S, long C, long M, double beta, double m, const double *H,
                       const long *labels, long B, double *G, double *Z, double *D);

/* The number of samples of H [N, M] whose largest output is not their label;
 * Z is scratch of `chunk` C values, the samples go `chunk` at a time. */
long kh_readout_errors(const double *S, long C, long M, double beta, const double *H,
                       const long *labels, long N, double *Z, long chunk);

/* One Adam step (Kingma & Ba 2015, algorithm 1) at step t >= 1 on x [len]
 * with gradient g, moments m1, m2 (updated):
 *   m1 = b1 m1 + (1 - b1) g,  m2 = b2 m2 + (1 - b2) g^2,
 *   x -= lr (m1 / (1 - b1^t)) / (sqrt(m2 / (1 - b2^t)) + eps). */
void kh_adam_step(double *x, const double *g, double *m1, double *m2, long len, long t, double lr,
                  double b1, double b2, double eps);

/* The learning rate of epoch e of E: lr0 until E/3, then x0.5, x0.1, x0.05,
 * x0.01 at E/3 + k E/6 (the paper's 0.001 for 100 of 300 epochs, then 0.0005,
 * 0.0001, 0.00005, 0.00001 every 50). */
double kh_readout_lr(double lr0, long e, long E);

#ifdef __cplusplus
}
#endif
#endif
