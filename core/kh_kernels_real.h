/* The per-element arithmetic that exists in both precisions, FFTW's way: one
 * source, included twice by kh_kernels.h, once with KH_R = double (names as
 * written) and once with KH_R = float (names with the suffix _f). No include
 * guard on purpose. KH_S(name) names a function for the current precision;
 * KH_FABS, KH_POW, KH_SQRT, KH_COPYSIGN are its math functions and KH_C(x) turns a
 * literal into KH_R (so the float build never promotes to double).
 *
 * Symbols follow README, "The model" and the header comment of kh_kernels.h. */

/* |x|^e for e >= 0, without pow() for the integer exponents 0..4 and the
 * half-integer ones 1/2..9/2 (a square root). `ie` is kh_int_exponent(e). */
KH_HD static inline KH_R KH_S(kh_abspow)(KH_R x, KH_R e, int ie)
{
    KH_R a = KH_FABS(x);
    switch (ie) {
    case 0:
        return KH_C(1.0);
    case 1:
        return a;
    case 2:
        return a * a;
    case 3:
        return a * a * a;
    case 4:
        return (a * a) * (a * a);
    case KH_HALF_EXPONENT: /* e = k + 1/2 */
        return KH_SQRT(a);
    case KH_HALF_EXPONENT + 1:
        return a * KH_SQRT(a);
    case KH_HALF_EXPONENT + 2:
        return a * a * KH_SQRT(a);
    case KH_HALF_EXPONENT + 3:
        return a * a * a * KH_SQRT(a);
    case KH_HALF_EXPONENT + 4:
        return (a * a) * (a * a) * KH_SQRT(a);
    default:
        return KH_POW(a, e);
    }
}

/* B = sum_i |w_i|^p of one row of n weights (the sphere's B_mu; README,
 * "The model"), summed in double whatever the precision of w. `ip` as for
 * kh_abspow. */
KH_HD static inline double KH_S(kh_row_pnorm)(const KH_R *w, long n, double p, int ip)
{
    double sum = 0.0;
    for (long i = 0; i < n; i++) {
        sum += kh_abspow((double)w[i], p, ip);
    }
    return sum;
}

/* sgn(x) |x|^e: with e = p - 1 the factor of W_mui in the current I_mu. */
KH_HD static inline KH_R KH_S(kh_signed_pow)(KH_R x, KH_R e, int ie)
{
    return KH_COPYSIGN(KH_S(kh_abspow)(x, e, ie), x);
}

/* One element's terms of the row moments: with a2 = |w|^(p-2),
 * *ti = sgn(w)|w|^(p-1) v (its share of I) and *tb = |w|^p (of B). */
KH_HD static inline void KH_S(kh_moment_elem)(KH_R w, KH_R v, KH_R a2, KH_R *ti, KH_R *tb)
{
    KH_R a = KH_FABS(w);
    KH_R a1 = a2 * a;
    *ti = KH_COPYSIGN(a1, w) * v;
    *tb = a1 * a;
}

/* ReLU r(x). */
KH_HD static inline KH_R KH_S(kh_relu)(KH_R x)
{
    return x > KH_C(0.0) ? x : KH_C(0.0);
}

/* g(x) of README, "The model" (kind: KH_K_*). */
KH_HD static inline KH_R KH_S(kh_g)(int kind, KH_R x, KH_R delta, KH_R h_star, KH_R n)
{
    switch (kind) {
    case KH_K_BCM_STEP: {
        /* both sides first, then one select each (no branch on the sign of
         * x, which a unit at the edge of the active set changes at random) */
        const KH_R above = x < h_star ? -delta : KH_C(1.0);
        return x < KH_C(0.0) ? KH_C(0.0) : above;
    }
    case KH_K_LINEAR:
        return x;
    default:
        return x > KH_C(0.0) ? KH_POW(x, n) : KH_C(0.0);
    }
}

/* G(x), the antiderivative of g with G(0) = 0. */
KH_HD static inline KH_R KH_S(kh_G)(int kind, KH_R x, KH_R delta, KH_R h_star, KH_R n)
{
    switch (kind) {
    case KH_K_BCM_STEP:
        return x < KH_C(0.0) ? KH_C(0.0)
                             : (x < h_star ? -delta * x : -delta * h_star + (x - h_star));
    case KH_K_LINEAR:
        return KH_C(0.5) * x * x;
    default:
        return x > KH_C(0.0) ? KH_POW(x, n + KH_C(1.0)) / (n + KH_C(1.0)) : KH_C(0.0);
    }
}

/* Q = I / B^((p-1)/p), with Q = 0 where B = 0 (README, "Study file"). */
KH_HD static inline KH_R KH_S(kh_q)(KH_R I, KH_R B, KH_R p)
{
    return B > KH_C(0.0) ? I / KH_POW(B, (p - KH_C(1.0)) / p) : KH_C(0.0);
}

/* dh/dt of one unit: (I - w_inh (S - r(h)) - h) / tau, S = sum_nu r(h_nu). */
KH_HD static inline KH_R KH_S(kh_dhdt)(KH_R I, KH_R h, KH_R S, KH_R w_inh, KH_R tau)
{
    return (I - w_inh * (S - KH_S(kh_relu)(h)) - h) / tau;
}

/* One element of dW/dt: (a v - b w) / tau_L, with 1/tau_L given. */
KH_HD static inline KH_R KH_S(kh_dw_elem)(KH_R w, KH_R v, KH_R a, KH_R b, KH_R inv_tau_L)
{
    return (a * v - b * w) * inv_tau_L;
}

/* One row of dW/dt: (a v_i - b W_i) / tau_L. */
KH_HD KH_INLINE static inline void KH_S(kh_dw_row)(const KH_R *w, const KH_R *v, long n, KH_R a,
                                                   KH_R b, KH_R inv_tau_L, KH_R *dw)
{
    for (long i = 0; i < n; i++) {
        dw[i] = KH_S(kh_dw_elem)(w[i], v[i], a, b, inv_tau_L);
    }
}

/* One unit's term of tau_L dL/dt (README, "The model"):
 * (p-1) R^p g(Q) g(d) [B <v,v> - I^2] / B^((p-1)/p + 1); 0 where B = 0. */
KH_HD static inline KH_R KH_S(kh_dL_term)(KH_R gQ, KH_R gd, KH_R I, KH_R B, KH_R vv, KH_R p,
                                          KH_R Rp)
{
    if (!(B > KH_C(0.0))) {
        return KH_C(0.0);
    }
    return (p - KH_C(1.0)) * Rp * gQ * gd * (B * vv - I * I) /
           KH_POW(B, (p - KH_C(1.0)) / p + KH_C(1.0));
}

/* One forward Euler step of a vector: y += dt * dydt. */
KH_HD static inline void KH_S(kh_euler_axpy)(KH_R *y, const KH_R *dydt, long dim, KH_R dt)
{
    for (long i = 0; i < dim; i++) {
        y[i] += dt * dydt[i];
    }
}

/* The plasticity coefficients of one krotov_hopfield unit for
 * tau_L dW/dt = a v - b W: a = g(d) R^p, b = g(d) I, with d = h (drive h)
 * or Q (drive Q). Returns g(d). */
KH_HD static inline KH_R KH_S(kh_unit_coefficients)(KH_R h, KH_R I, KH_R B, int drive_q, int kind,
                                                    KH_R p, KH_R Rp, KH_R delta, KH_R h_star,
                                                    KH_R gn, KH_R *a, KH_R *b)
{
    KH_R d = drive_q ? KH_S(kh_q)(I, B, p) : h;
    KH_R g = KH_S(kh_g)(kind, d, delta, h_star, gn);
    *a = g * Rp;
    *b = g * I;
    return g;
}

/* One element of the fast rule's update (README, "The model", last
 * paragraph): Delta W_mui = R^p sum_b g_mub v_ib - (sum_b g_mub I_mub) W_mui,
 * from gv = sum_b g v_i and gI = sum_b g I. */
KH_HD static inline KH_R KH_S(kh_fast_dw)(KH_R w, KH_R gv, KH_R gI, KH_R Rp)
{
    return Rp * gv - gI * w;
}

/* Whether (c, mu) ranks above (t, nu): the larger current, and on a tie the
 * lower unit index, so a ranking does not depend on the order of the scan. */
KH_HD static inline int KH_S(kh_rank_above)(KH_R c, long mu, KH_R t, long nu)
{
    return c > t || (c == t && (nu < 0 || mu < nu));
}

/* The k largest of a stream of currents: top[0..k-1] (values, decreasing)
 * and idx[0..k-1] (their units) hold the best seen so far; offers (c, mu).
 * Initialise top to -INFINITY and idx to -1; a NaN current is never taken. */
KH_HD static inline void KH_S(kh_topk_offer)(KH_R *top, long *idx, long k, KH_R c, long mu)
{
    if (c != c || !KH_S(kh_rank_above)(c, mu, top[k - 1], idx[k - 1])) {
        return;
    }
    long j = k - 1;
    while (j > 0 && KH_S(kh_rank_above)(c, mu, top[j - 1], idx[j - 1])) {
        top[j] = top[j - 1];
        idx[j] = idx[j - 1];
        j--;
    }
    top[j] = c;
    idx[j] = mu;
}

/* An empty list for kh_topk_offer: every value -INFINITY, every unit -1. */
KH_HD static inline void KH_S(kh_topk_init)(KH_R *top, long *idx, long k)
{
    for (long j = 0; j < k; j++) {
        top[j] = -(KH_R)INFINITY;
        idx[j] = -1;
    }
}

/* The k largest of z[0..len) into top and idx, z[i] offered as unit base + i. */
KH_HD static inline void KH_S(kh_topk_of)(const KH_R *z, long len, long base, long k, KH_R *top,
                                          long *idx)
{
    KH_S(kh_topk_init)(top, idx, k);
    for (long i = 0; i < len; i++) {
        KH_S(kh_topk_offer)(top, idx, k, z[i], base + i);
    }
}

/* tau dh/dt of one unit at the currents I with S = sum_nu r(h_nu): the rate
 * of the relaxation to the steady state (solvers/steady.c, the GPU's
 * minibatch relaxation). */
KH_HD static inline KH_R KH_S(kh_relax_rate)(KH_R h, KH_R I, KH_R S, KH_R w_inh)
{
    return I - w_inh * (S - KH_S(kh_relu)(h)) - h;
}

/* One Euler step of that relaxation, dt in units of tau. */
KH_HD static inline KH_R KH_S(kh_relax_step)(KH_R h, KH_R I, KH_R S, KH_R w_inh, KH_R dt)
{
    return h + dt * KH_S(kh_relax_rate)(h, I, S, w_inh);
}

/* The relaxation's step, tau / (1 + w_inh (m - 1)), in units of tau: within
 * the stability bound of every Jacobian of the system (Gershgorin). */
KH_HD static inline KH_R KH_S(kh_relax_dt)(KH_R w_inh, long m)
{
    return KH_C(1.0) / (KH_C(1.0) + w_inh * (KH_R)(m > 1 ? m - 1 : 1));
}

/* One element of a forward Euler step of W: w + dt (a v - b w) / tau_L, the
 * step solvers/euler.c takes through the model's right-hand side. */
KH_HD static inline KH_R KH_S(kh_euler_w)(KH_R w, KH_R v, KH_R a, KH_R b, KH_R inv_tau_L, KH_R dt)
{
    return w + dt * KH_S(kh_dw_elem)(w, v, a, b, inv_tau_L);
}
