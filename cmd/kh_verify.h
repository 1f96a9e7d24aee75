/* khsim verify: the paper's guarantees audited on a recorded run.
 *
 * Sphere (README, "The model"): tau_L dB_mu/dt = p g(d_mu) I_mu (R^p - B_mu),
 * so wherever g I >= 0, |B_mu - R^p| never grows. Per unit: the final
 * |B - R^p|, the time it entered the band |B - R^p| <= 1e-3 R^p for good (or
 * never), the rows where g I < 0 (the paper's positivity condition fails),
 * and every growth of |B - R^p| between consecutive rows of a presentation
 * where g I >= 0 at both (a failure).
 * Lyapunov: L = sum_mu G(Q_mu) within a presentation. With drive Q every
 * decrease beyond the tolerance is a failure; with drive h a decrease is
 * explained where some unit has g(Q) g(h) < 0 at either end of the interval,
 * else it is a failure. The recorded dL/dt is compared with central
 * differences of L (a failure when the median discrepancy exceeds 10 % of the
 * presentation's scale of dL/dt).
 * The tolerance on decreases and growths is 100 rtol (1 + |value|) with the
 * run's solver.rtol. */
#ifndef KH_VERIFY_H
#define KH_VERIFY_H

#include <stdio.h>

/* Audits the file at path and prints the report (text, or JSON when json).
 * Returns KH_OK when every guaranteed property holds, KH_ECHECK when one
 * fails, KH_EIO or KH_EINVAL for a file that is not a readable khsim record. */
int kh_verify(const char *path, int json, FILE *out);

#endif
