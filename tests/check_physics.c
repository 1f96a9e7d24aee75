/* The physics: closed forms (sphere norms, Oja's principal eigenvector,
 * Hebb's growth, the steady state), the Lyapunov identity, and switch
 * location against a tight-tolerance reference. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "models/kh_model.h"
#include "run/kh_sim.h"
#include "solvers/kh_solver.h"
#include "solvers/kh_steady.h"

/* Runs a study given as INI text into a temporary file; returns its path. */
static void run_study(const char *ini, char *out, size_t len, kh_sim_result *res)
{
    kh_config *c = kh_test_config(ini);
    kh_test_tmpname(out, len, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_sim_result r;
    int s = kh_sim_run(c, NULL, NULL, NULL, NULL, &r);
    ck_assert_msg(s == KH_OK, "run: %s", kh_errmsg());
    if (res) {
        *res = r;
    }
    kh_config_free(c);
}

/* Sphere: with drive Q and g I >= 0, every B_mu converges to R^p. */
START_TEST(test_sphere_convergence)
{
    const double ps[] = {2, 3, 4};
    const char *gs[] = {"linear", "power"};
    char ini[1024], out[512];
    double p = ps[_i % 3];
    snprintf(ini, sizeof ini,
             "[network]\nhidden = 4\ninputs = 6\np = %g\nR = 1.3\nw_inh = 0.2\ntau_L = 0.5\n"
             "[learning]\ng = %s\nn = 1\ndrive = Q\n[input]\nsource = uniform\nsamples = 1\n"
             "presentation_time = 40\nseed = 11\n[init]\nweights = uniform\nscale = 1.5\n"
             "seed = %d\n[solver]\nmethod = rk8pd\nrtol = 1e-11\natol = 1e-13\n"
             "[output]\nrecord_every = 1\nsnapshot_every = 40\n",
             p, gs[_i / 3], 5 + _i);
    run_study(ini, out, sizeof out, NULL);
    int rank;
    long d[3];
    double *B = kh_test_read(out, "/trajectory/pnorm", &rank, d);
    double *I = kh_test_read(out, "/trajectory/current", &rank, d);
    double Rp = pow(1.3, p);
    long last = d[0] - 1;
    int converged = 0;
    for (long mu = 0; mu < d[1]; mu++) {
        double b = B[last * d[1] + mu];
        if (_i / 3 == 1 && I[last * d[1] + mu] <= 0) {
            /* power g: g(Q) = 0 for Q <= 0, and that unit must not move. */
            ck_assert_double_eq_tol(b, B[mu], 1e-9 * B[mu]);
            continue;
        }
        ck_assert_msg(fabs(b - Rp) < 1e-8, "p = %g, g = %s, unit %ld: |B - R^p| = %g", p,
                      gs[_i / 3], mu, fabs(b - Rp));
        converged++;
    }
    ck_assert_int_ge(converged, 1);
    free(B);
    free(I);
    remove(out);
}
END_TEST

/* Writes N samples of a zero-mean Gaussian with covariance U diag(lam) U^T
 * as an idx file of doubles; U is a rotation in the (0,1) and (1,2) planes. */
static void write_gaussian(const char *path, long N, const double lam[4], double u1[4])
{
    const double a = 0.7, b = 0.4;
    double U[4][4] = {{cos(a), -sin(a), 0, 0}, {sin(a), cos(a), 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
    double R2[4][4] = {{1, 0, 0, 0}, {0, cos(b), -sin(b), 0}, {0, sin(b), cos(b), 0}, {0, 0, 0, 1}};
    double M[4][4];
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            M[i][j] = 0;
            for (int k = 0; k < 4; k++) {
                M[i][j] += R2[i][k] * U[k][j];
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        u1[i] = M[i][0];
    }
    FILE *f = fopen(path, "wb");
    unsigned char hdr[12] = {0, 0, 0x0E, 2, 0, 0, 0, 0, 0, 0, 0, 4};
    hdr[4] = (unsigned char)(N >> 24);
    hdr[5] = (unsigned char)(N >> 16);
    hdr[6] = (unsigned char)(N >> 8);
    hdr[7] = (unsigned char)N;
    fwrite(hdr, 1, 12, f);
    kh_rng r;
    kh_rng_seed(&r, 2385, 9);
    for (long s = 0; s < N; s++) {
        double z[4], v[4];
        for (int k = 0; k < 4; k++) {
            z[k] = sqrt(lam[k]) * kh_rng_normal(&r);
        }
        for (int i = 0; i < 4; i++) {
            v[i] = 0;
            for (int k = 0; k < 4; k++) {
                v[i] += M[i][k] * z[k];
            }
            uint64_t u;
            memcpy(&u, &v[i], 8);
            unsigned char be[8];
            for (int q = 0; q < 8; q++) {
                be[q] = (unsigned char)(u >> (56 - 8 * q));
            }
            fwrite(be, 1, 8, f);
        }
    }
    fclose(f);
}

/* Oja: one unit converges to +-R times the principal eigenvector. */
START_TEST(test_oja_principal_eigenvector)
{
    char data[512], ini[1024], out[512];
    kh_test_tmpname(data, sizeof data, ".idx");
    const double lam[4] = {4.0, 1.0, 0.5, 0.25};
    double u1[4];
    write_gaussian(data, 8000, lam, u1);
    snprintf(ini, sizeof ini,
             "[network]\nmodel = oja\nhidden = 1\np = 2\nR = 1\ntau = 0.05\ntau_L = 2000\n"
             "[input]\nsource = file\npath = %s\nsamples = 8000\npresentation_time = 1\n"
             "[init]\nweights = normal\nscale = 0.5\nseed = 3\n[solver]\nmethod = rkck\n"
             "rtol = 1e-8\natol = 1e-10\n[output]\nrecord_every = 1\nsnapshot_every = 1000\n",
             data);
    run_study(ini, out, sizeof out, NULL);
    int rank;
    long d[3];
    double *W = kh_test_read(out, "/snapshots/W", &rank, d);
    const double *w = W + (d[0] - 1) * 4;
    double dot = 0, nw = 0;
    for (int i = 0; i < 4; i++) {
        dot += w[i] * u1[i];
        nw += w[i] * w[i];
    }
    double cosine = fabs(dot) / sqrt(nw);
    ck_assert_msg(cosine > 0.999, "cosine with the principal eigenvector = %.6f", cosine);
    ck_assert_double_eq_tol(sqrt(nw), 1.0, 0.02); /* |W| -> R */
    free(W);
    remove(out);
    remove(data);
}
END_TEST

/* Lyapunov: with drive Q, L never decreases within a presentation, and the
 * recorded dL/dt matches finite differences of the recorded L. */
START_TEST(test_lyapunov_monotone_and_derivative)
{
    const char *gs[] = {"power", "bcm_step"};
    char ini[1024], out[512];
    snprintf(ini, sizeof ini,
             "[network]\nhidden = 5\ninputs = 8\np = 3\nw_inh = 0.4\ntau_L = 2\n"
             "[learning]\ng = %s\nn = 2\ndrive = Q\nh_star = 0.3\ndelta = 0.4\n"
             "[input]\nsource = uniform\nsamples = 3\npresentation_time = 4\nseed = 4\n"
             "[init]\nweights = normal\nscale = 0.6\nseed = 8\n[solver]\nmethod = rk8pd\n"
             "rtol = 1e-11\natol = 1e-13\n[output]\nrecord_every = 0.01\nsnapshot_every = 4\n",
             gs[_i]);
    run_study(ini, out, sizeof out, NULL);
    int rank;
    long d[3], ds[3];
    double *t = kh_test_read(out, "/trajectory/t", &rank, d);
    double *L = kh_test_read(out, "/trajectory/lyapunov", &rank, d);
    double *dL = kh_test_read(out, "/trajectory/dL_dt", &rank, d);
    double *s = kh_test_read(out, "/trajectory/sample", &rank, ds);
    long T = d[0], compared = 0;
    double scale = 0;
    for (long k = 0; k < T; k++) {
        scale = fmax(scale, fabs(dL[k]));
    }
    ck_assert_double_gt(scale, 1e-3); /* L does move */
    for (long k = 1; k < T; k++) {
        if (s[k] != s[k - 1]) {
            continue;
        }
        ck_assert_msg(L[k] >= L[k - 1] - 1e-9 * (1 + fabs(L[k])),
                      "L decreased from %.12g to %.12g at t = %g", L[k - 1], L[k], t[k]);
        ck_assert_double_ge(dL[k], -1e-12);
        if (_i == 0 && k + 1 < T && s[k + 1] == s[k]) {
            double fd = (L[k + 1] - L[k - 1]) / (t[k + 1] - t[k - 1]);
            ck_assert_msg(fabs(fd - dL[k]) < 1e-3 * scale,
                          "t = %g: finite difference %.8g, recorded dL/dt %.8g", t[k], fd, dL[k]);
            compared++;
        }
    }
    if (_i == 0) {
        ck_assert_int_gt(compared, 1000);
    }
    free(t);
    free(L);
    free(dL);
    free(s);
    remove(out);
}
END_TEST

/* Hebb, p = 2: tau dh/dt = u - h and tau_L du/dt = |v|^2 h with u = W.v.
 * The closed form: h = c (e^{l+ t} - e^{l- t}), c = u0 / (tau (l+ - l-)),
 * W(t) = W0 + v/tau_L int_0^t h, so B = |W|^2 grows like e^{2 l+ t}. */
START_TEST(test_hebb_closed_form)
{
    char ini[1024], out[512];
    snprintf(ini, sizeof ini,
             "[network]\nmodel = hebb\nhidden = 2\ninputs = 3\np = 2\ntau = 0.5\ntau_L = 5\n"
             "[input]\nsource = uniform\nsamples = 1\npresentation_time = 30\nseed = 2\n"
             "[init]\nweights = uniform\nscale = 1\nseed = 6\n[solver]\nmethod = rk8pd\n"
             "rtol = 1e-12\natol = 1e-14\n[output]\nrecord_every = 0.5\nsnapshot_every = 30\n");
    run_study(ini, out, sizeof out, NULL);
    int rank;
    long d[3], dv[3], dw[3];
    double *t = kh_test_read(out, "/trajectory/t", &rank, d);
    double *B = kh_test_read(out, "/trajectory/pnorm", &rank, d);
    double *v = kh_test_read(out, "/input/v", &rank, dv);
    double *W = kh_test_read(out, "/snapshots/W", &rank, dw);
    const double tau = 0.5, tau_L = 5;
    double vv = 0;
    for (int i = 0; i < 3; i++) {
        vv += v[i] * v[i];
    }
    double disc = sqrt(1.0 / (tau * tau) + 4.0 * vv / (tau * tau_L));
    double lp = 0.5 * (-1.0 / tau + disc), lm = 0.5 * (-1.0 / tau - disc);
    for (long mu = 0; mu < 2; mu++) {
        const double *w0 = W + mu * 3;
        double u0 = 0;
        for (int i = 0; i < 3; i++) {
            u0 += w0[i] * v[i];
        }
        double c = u0 / (tau * (lp - lm));
        for (long k = 0; k < d[0]; k++) {
            double ih = c * ((exp(lp * t[k]) - 1) / lp - (exp(lm * t[k]) - 1) / lm);
            double b = 0;
            for (int i = 0; i < 3; i++) {
                double wi = w0[i] + v[i] * ih / tau_L;
                b += wi * wi;
            }
            ck_assert_msg(fabs(B[k * 2 + mu] - b) < 1e-8 * b,
                          "t = %g: B = %.12g, closed form %.12g", t[k], B[k * 2 + mu], b);
        }
        /* And the norm does grow without bound, at the rate 2 l+. */
        ck_assert_double_gt(B[(d[0] - 1) * 2 + mu], 10 * B[mu]);
    }
    free(t);
    free(B);
    free(v);
    free(W);
    remove(out);
}
END_TEST

/* The h dynamics alone (W frozen by tau_L = 1e15) reach the closed form. */
START_TEST(test_steady_state_closed_form)
{
    const double w_inh[] = {0.0, 0.25, 0.5, 0.5};
    const long ms[] = {6, 10, 10, 25};
    char ini[1024], out[512];
    snprintf(ini, sizeof ini,
             "[network]\nhidden = %ld\ninputs = 12\np = 3\nw_inh = %g\ntau = 1\ntau_L = 1e15\n"
             "[learning]\ng = linear\ndrive = h\n[input]\nsource = uniform\nsamples = 1\n"
             "presentation_time = 50\nseed = %d\n[init]\nweights = normal\nseed = %d\n"
             "[solver]\nmethod = rk8pd\nrtol = 1e-12\natol = 1e-14\n"
             "[output]\nrecord_every = 50\nsnapshot_every = 50\n",
             ms[_i], w_inh[_i], 3 + _i, 17 + _i);
    run_study(ini, out, sizeof out, NULL);
    int rank;
    long d[3];
    double *h = kh_test_read(out, "/trajectory/h", &rank, d);
    double *I = kh_test_read(out, "/trajectory/current", &rank, d);
    long m = d[1], last = d[0] - 1, n_active;
    double *hs = malloc((size_t)m * sizeof(double));
    long *order = malloc(2 * (size_t)m * sizeof(long));
    ck_assert_int_eq(kh_steady_closed_form(I + last * m, m, w_inh[_i], hs, order, &n_active),
                     KH_OK);
    ck_assert_int_ge(n_active, 1);
    if (w_inh[_i] > 0) {
        ck_assert_int_lt(n_active, m); /* inhibition silences some units */
    }
    for (long mu = 0; mu < m; mu++) {
        ck_assert_msg(fabs(h[last * m + mu] - hs[mu]) < 1e-8, "unit %ld: h = %.12g, closed %.12g",
                      mu, h[last * m + mu], hs[mu]);
    }
    free(h);
    free(I);
    free(hs);
    free(order);
    remove(out);
}
END_TEST

/* The closed form finds the active set without a sort; this is the
 * definition: by decreasing current, the next unit joins while it is above
 * w_inh S of the units before it and itself. */
static const double *cmp_I;
static int cmp_desc(const void *x, const void *y)
{
    const double a = cmp_I[*(const long *)x], b = cmp_I[*(const long *)y];
    return a > b ? -1 : (a < b ? 1 : 0);
}

START_TEST(test_steady_state_active_set)
{
    const long m = 3000;
    const double w_inh[] = {0.0, 0.1, 0.5, 0.9, 0.999};
    double *I = malloc((size_t)m * sizeof(double)), *h = malloc((size_t)m * sizeof(double));
    long *order = malloc(2 * (size_t)m * sizeof(long)), *idx = malloc((size_t)m * sizeof(long));
    kh_rng r;
    kh_rng_seed(&r, 771, (uint64_t)_i);
    for (int trial = 0; trial < 40; trial++) {
        const double w = w_inh[trial % 5];
        /* Currents clustered near 0 (the m = 2000 digit's), spread, all
         * negative, with ties, and one dominant unit. */
        for (long mu = 0; mu < m; mu++) {
            const int kind = trial / 5 % 4;
            I[mu] = kind == 0   ? 1e-3 * kh_rng_normal(&r)
                    : kind == 1 ? kh_rng_normal(&r)
                    : kind == 2 ? -fabs(kh_rng_normal(&r))
                                : 0.25 * (double)(kh_rng_uniform(&r) < 0.5);
        }
        if (trial % 8 == 7) {
            I[trial] = 50.0;
        }
        for (long mu = 0; mu < m; mu++) {
            idx[mu] = mu;
        }
        cmp_I = I;
        qsort(idx, (size_t)m, sizeof *idx, cmp_desc);
        double sum = 0.0, S = 0.0;
        long k = 0;
        while (k < m) {
            const double S1 = (sum + I[idx[k]]) / (1.0 - w + w * (double)(k + 1));
            if (!(I[idx[k]] > w * S1)) {
                break;
            }
            sum += I[idx[k]];
            S = S1;
            k++;
        }
        long n_active = -1;
        ck_assert_int_eq(kh_steady_closed_form(I, m, w, h, order, &n_active), KH_OK);
        ck_assert_msg(n_active == k, "trial %d, w_inh %g: %ld active, the definition %ld", trial, w,
                      n_active, k);
        double Sh = 0.0;
        for (long mu = 0; mu < m; mu++) {
            Sh += h[mu] > 0.0 ? h[mu] : 0.0;
        }
        for (long j = 0; j < m; j++) {
            const long mu = idx[j];
            const double want = j < k ? (I[mu] - w * S) / (1.0 - w) : I[mu] - w * S;
            ck_assert_msg(fabs(h[mu] - want) <= 1e-12 * (1.0 + fabs(want)) / (1.0 - w),
                          "trial %d unit %ld: h %.17g, the definition %.17g", trial, mu, h[mu],
                          want);
            ck_assert_msg((h[mu] > 0.0) == (j < k), "trial %d: unit %ld active %d, rank %ld of %ld",
                          trial, mu, h[mu] > 0.0, j, k);
            /* The fixed point: 0 = I - w_inh sum_{nu != mu} r(h_nu) - h. */
            const double res = I[mu] - w * (Sh - (h[mu] > 0.0 ? h[mu] : 0.0)) - h[mu];
            ck_assert_msg(fabs(res) <= 1e-10 * (1.0 + fabs(I[mu]) + w * Sh),
                          "trial %d unit %ld: residual %g", trial, mu, res);
        }
    }
    free(I);
    free(h);
    free(order);
    free(idx);
}
END_TEST

START_TEST(test_steady_state_errors)
{
    double I[3] = {1, 2, 3}, h[3];
    long order[6], k;
    ck_assert_int_eq(kh_steady_closed_form(I, 3, 1.0, h, order, &k), KH_EINVAL);
    ck_assert_int_eq(kh_steady_closed_form(I, 3, -0.1, h, order, &k), KH_EINVAL);
    /* No positive current: nobody is active and h = I. */
    double In[3] = {-1, -2, -0.5};
    ck_assert_int_eq(kh_steady_closed_form(In, 3, 0.5, h, order, &k), KH_OK);
    ck_assert_int_eq(k, 0);
    ck_assert_double_eq_tol(h[2], -0.5, 1e-15);
}
END_TEST

/* w_inh >= 1: from h0 the integration reaches a single winner, which is
 * stable; a planted two-winner fixed point is one, and is unstable; w < 1
 * is the closed form and stable. */
START_TEST(test_steady_state_stability)
{
    long order[8];
    kh_steady_result res;
    /* Currents 2.385, 1.9, -0.5, 0.7 with w = 1.5 from h0 = 0: the largest wins. */
    double I[4] = {2.385, 1.9, -0.5, 0.7}, h[4] = {0, 0, 0, 0};
    ck_assert_int_eq(kh_steady_state(I, 4, 1.5, 1.0, 1e-12, 1000000, h, order, &res), KH_OK);
    ck_assert_int_eq(res.n_active, 1);
    ck_assert_int_eq(res.stable, 1);
    ck_assert_double_eq_tol(h[0], 2.385, 1e-10);
    ck_assert_double_eq_tol(h[1], 1.9 - 1.5 * 2.385, 1e-10);
    ck_assert_double_le(res.residual, 1e-12);
    /* From an h0 that favours unit 1, unit 1 wins: a different stable fixed point. */
    double h1[4] = {0, 3, 0, 0};
    ck_assert_int_eq(kh_steady_state(I, 4, 1.5, 1.0, 1e-12, 1000000, h1, order, &res), KH_OK);
    ck_assert_int_eq(res.n_active, 1);
    ck_assert_double_eq_tol(h1[1], 1.9, 1e-10);
    /* Two equal currents started equal: the symmetric two-winner fixed point
     * h = I / (1 + w) is reached and classified unstable (eigenvalue w - 1). */
    double I2[3] = {1.0, 1.0, -1.0}, h2[3] = {0, 0, 0};
    ck_assert_int_eq(kh_steady_state(I2, 3, 2.0, 1.0, 1e-12, 1000000, h2, order, &res), KH_OK);
    ck_assert_int_eq(res.n_active, 2);
    ck_assert_int_eq(res.stable, 0);
    ck_assert_double_eq_tol(res.lambda_max, 1.0, 1e-15);
    ck_assert_double_eq_tol(h2[0], 1.0 / 3.0, 1e-10);
    /* w < 1: the closed form, stable, with every unit's residual below tol. */
    double h3[4];
    ck_assert_int_eq(kh_steady_state(I, 4, 0.5, 1.0, 1e-12, 10, h3, order, &res), KH_OK);
    ck_assert_int_eq(res.stable, 1);
    ck_assert_int_eq(res.iterations, 0);
    ck_assert_double_le(res.residual, 1e-12);
    /* Too few steps: KH_ENOCONV with the residual in the message. */
    double h4[4] = {0, 0, 0, 0};
    ck_assert_int_eq(kh_steady_state(I, 4, 1.5, 1.0, 1e-12, 5, h4, order, &res), KH_ENOCONV);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "max |tau dh/dt|"));
    ck_assert_int_eq(kh_steady_state(I, 4, -1.0, 1.0, 1e-12, 5, h4, order, &res), KH_EINVAL);
}
END_TEST

/* quasi_static is the limit tau / tau_L -> 0 of the full system: the
 * difference of their final W shrinks with the ratio. */
START_TEST(test_quasi_static_limit)
{
    const double taus[3] = {0.1, 0.01, 0.001};
    double diff[3];
    for (int k = 0; k < 3; k++) {
        char ini[2048], full[512], qs[512];
        const char *fmt = "[network]\nhidden = 6\ninputs = 10\np = 3\nw_inh = 0.5\ntau = %g\n"
                          "tau_L = 10\n[learning]\ng = power\nn = 2\ndrive = h\n"
                          "[input]\nsource = uniform\nsamples = 4\npresentation_time = 2\n"
                          "seed = 8\n[init]\nweights = uniform\nscale = 0.6\nseed = 2\n"
                          "[solver]\nmethod = %s\nrtol = 1e-10\natol = 1e-12\n"
                          "[output]\nrecord_every = 2\nsnapshot_every = 8\n";
        snprintf(ini, sizeof ini, fmt, taus[k], "dopri5");
        run_study(ini, full, sizeof full, NULL);
        snprintf(ini, sizeof ini, fmt, taus[k], "quasi_static");
        run_study(ini, qs, sizeof qs, NULL);
        int rank;
        long d[3];
        double *a = kh_test_read(full, "/snapshots/W", &rank, d);
        double *b = kh_test_read(qs, "/snapshots/W", &rank, d);
        long last = (d[0] - 1) * d[1] * d[2];
        diff[k] = 0;
        for (long i = 0; i < d[1] * d[2]; i++) {
            diff[k] = fmax(diff[k], fabs(a[last + i] - b[last + i]));
        }
        free(a);
        free(b);
        remove(full);
        remove(qs);
    }
    ck_assert_msg(diff[1] < 0.3 * diff[0] && diff[2] < 0.3 * diff[1],
                  "max |W_full - W_qs| = %g, %g, %g for tau/tau_L = 1e-2, 1e-3, 1e-4", diff[0],
                  diff[1], diff[2]);
}
END_TEST

/* A bcm_step study whose units cross h = 0 and h = h*: locating the
 * switches costs far fewer rejected steps and keeps the answer. */
START_TEST(test_switch_location)
{
    const char *base = "[network]\nhidden = 8\ninputs = 10\np = 3\nw_inh = 0.5\ntau_L = 5\n"
                       "[learning]\ng = bcm_step\ndrive = h\nh_star = 0.3\ndelta = 0.4\n"
                       "[input]\nsource = uniform\nsamples = 4\npresentation_time = 5\n"
                       "reset_h = true\nseed = 21\n[init]\nweights = normal\nscale = 1\n"
                       "seed = 1\n[output]\nrecord_every = 5\nsnapshot_every = 20\n"
                       "[solver]\n";
    const char *method[] = {"method = rkf45\n", "method = dopri5\n", "method = msadams\n"};
    char ini[2048], ref[512], on[512], off[512];
    kh_sim_result r_ref, r_on, r_off;
    snprintf(ini, sizeof ini, "%smethod = rk8pd\nrtol = 1e-12\natol = 1e-14\n", base);
    run_study(ini, ref, sizeof ref, &r_ref);
    snprintf(ini, sizeof ini, "%s%srtol = 1e-8\natol = 1e-10\n", base, method[_i]);
    run_study(ini, on, sizeof on, &r_on);
    snprintf(ini, sizeof ini, "%s%srtol = 1e-8\natol = 1e-10\nlocate_switches = none\n", base,
             method[_i]);
    run_study(ini, off, sizeof off, &r_off);
    ck_assert_int_gt(r_on.stats.switches, 10);
    ck_assert_int_eq(r_off.stats.switches, 0);
    /* msadams and msbdf locate after odeiv2's evolve has accepted the step
     * (their history lives there), so only the one-step methods save the
     * rejected steps; all of them keep the answer. */
    ck_assert_msg(_i == 2 || r_off.stats.failed_steps > 3 * r_on.stats.failed_steps,
                  "%s rejected steps: %ld with location, %ld without", method[_i],
                  r_on.stats.failed_steps, r_off.stats.failed_steps);
    int rank;
    long d[3];
    double *wr = kh_test_read(ref, "/snapshots/W", &rank, d);
    double *wo = kh_test_read(on, "/snapshots/W", &rank, d);
    double *hr = kh_test_read(ref, "/trajectory/h", &rank, d);
    double *ho = kh_test_read(on, "/trajectory/h", &rank, d);
    double err = 0;
    for (long i = 0; i < 8 * 10; i++) {
        err = fmax(err, fabs(wr[i + 80 * 1] - wo[i + 80 * 1]));
    }
    for (long i = 0; i < d[0] * d[1]; i++) {
        err = fmax(err, fabs(hr[i] - ho[i]));
    }
    ck_assert_msg(err < 1e-6, "%s: located run differs from the reference by %g", method[_i], err);
    free(wr);
    free(wo);
    free(hr);
    free(ho);
    remove(ref);
    remove(on);
    remove(off);
}
END_TEST

/* At a presentation's start every h is 0, on bcm_step's jump (g(0) = -delta).
 * A unit whose current is negative goes below 0 at once and stays there
 * (w_inh = 0: h = I (1 - e^(-t/tau))), so its g is 0 at every instant after
 * the start and its row must not move at all; the solvers take g on the
 * side h moves to (kh_model_ws). Before they did, the first stage's
 * g(0) = -delta moved such rows by 1e-9 (dopri5, GSL) to 2.5e-7 (reduced).
 * Units with a positive current learn (g = -delta until they cross back). */
static const char START_ON_JUMP[] =
    "[network]\nhidden = 4\ninputs = 8\np = 4\nR = 2\nw_inh = 0\ntau = 2\n"
    "tau_L = 5\n[learning]\ng = bcm_step\ndrive = h\nh_star = 0.3\ndelta = 0.4\n"
    "[input]\nsource = uniform\nsamples = 1\npresentation_time = 8\nseed = 3\n"
    "[init]\nweights = uniform\nscale = 0.05\nseed = 5\n[output]\nrecord_every = "
    "0.5\nsnapshot_every = 8\n[solver]\nmethod = %s\n";

START_TEST(test_start_below_zero_keeps_row)
{
    const char *method[] = {"dopri5", "reduced", "rkf45"};
    char ini[1024], out[512];
    snprintf(ini, sizeof ini, START_ON_JUMP, method[_i]);
    run_study(ini, out, sizeof out, NULL);
    int rank;
    long dw[3], dc[3], dh[3];
    double *W = kh_test_read(out, "/snapshots/W", &rank, dw);
    double *I = kh_test_read(out, "/trajectory/current", &rank, dc);
    double *h = kh_test_read(out, "/trajectory/h", &rank, dh);
    ck_assert_int_eq(dw[0], 2);
    const long m = 4, n = 8;
    int below = 0, above = 0;
    for (long mu = 0; mu < m; mu++) {
        double moved = 0.0;
        for (long i = 0; i < n; i++) {
            moved = fmax(moved, fabs(W[m * n + mu * n + i] - W[mu * n + i]));
        }
        if (I[mu] < 0.0) {
            below++;
            for (long r = 1; r < dh[0]; r++) {
                ck_assert_msg(h[r * m + mu] < 0.0, "unit %ld: h = %g at row %ld", mu, h[r * m + mu],
                              r);
            }
            ck_assert_msg(moved == 0.0, "%s: unit %ld (I = %g < 0) moved its row by %g", method[_i],
                          mu, I[mu], moved);
        } else {
            above++;
            ck_assert_msg(moved > 1e-3, "%s: unit %ld (I = %g > 0) moved its row by %g only",
                          method[_i], mu, I[mu], moved);
        }
    }
    ck_assert_msg(below > 0 && above > 0, "the study needs units of both signs (%d, %d)", below,
                  above);
    free(W);
    free(I);
    free(h);
    remove(out);
}
END_TEST

/* The same study: the units with a positive current cross h = 0 upwards
 * at the very start and back later. The multistep methods locate after an
 * accepted step; a crossing at the step's start leaves a bracket narrower
 * than switch_tol there, and the crossing must still be carried across
 * (it was once taken for a near miss: 2 switches located, not 3). They
 * locate what rkf45 locates. */
START_TEST(test_multistep_locates_start_crossing)
{
    const char *method[] = {"msadams", "msbdf"};
    char ini[1024], out[512], ref[512];
    kh_sim_result r, r_ref;
    snprintf(ini, sizeof ini, START_ON_JUMP, "rkf45");
    run_study(ini, ref, sizeof ref, &r_ref);
    snprintf(ini, sizeof ini, START_ON_JUMP, method[_i]);
    run_study(ini, out, sizeof out, &r);
    ck_assert_int_gt(r_ref.stats.switches, 0);
    ck_assert_msg(r.stats.switches == r_ref.stats.switches, "%s located %ld switches, rkf45 %ld",
                  method[_i], r.stats.switches, r_ref.stats.switches);
    remove(out);
    remove(ref);
}
END_TEST

/* dopri5 integrates W in the basis {W(t0), v}: on every model, with and
 * without switches that depend on W (drive Q), it agrees with rk8pd. */
START_TEST(test_dopri5_reduced_agrees)
{
    const char *cases[] = {
        "[network]\nmodel = bcm\nhidden = 4\ninputs = 6\np = 2\nw_inh = 0.3\ntau_L = 3\n"
        "[learning]\nepsilon = 0.2\ntau_theta = 1.5\n",
        "[network]\nhidden = 5\ninputs = 6\np = 3\nw_inh = 0.4\ntau_L = 2\n"
        "[learning]\ng = bcm_step\ndrive = Q\nh_star = 0.4\n",
        "[network]\nmodel = oja\nhidden = 2\ninputs = 6\ntau_L = 2\n",
        "[network]\nmodel = hebb\nhidden = 2\ninputs = 6\ntau_L = 20\n",
        "[network]\nhidden = 5\ninputs = 6\np = 4\nw_inh = 2\ntau_L = 2\n"
        "[learning]\ng = power\nn = 1.5\ndrive = h\n",
    };
    const char *tail = "[input]\nsource = uniform\nsamples = 3\npresentation_time = 2\n"
                       "reset_h = true\nseed = 3\n[init]\nweights = uniform\nseed = 4\n"
                       "[output]\nrecord_every = 0.5\nsnapshot_every = 6\n[solver]\n"
                       "locate_switches = all\n";
    char ini[2048], ref[512], got[512];
    kh_sim_result r_ref, r_got;
    snprintf(ini, sizeof ini, "%s%smethod = rk8pd\nrtol = 1e-12\natol = 1e-14\n", cases[_i], tail);
    run_study(ini, ref, sizeof ref, &r_ref);
    snprintf(ini, sizeof ini, "%s%smethod = dopri5\nrtol = 1e-10\natol = 1e-12\n", cases[_i], tail);
    run_study(ini, got, sizeof got, &r_got);
    const char *ds[] = {"/trajectory/h", "/trajectory/current", "/trajectory/pnorm",
                        "/snapshots/W"};
    for (int i = 0; i < 4; i++) {
        int rank;
        long d[3];
        double *x = kh_test_read(ref, ds[i], &rank, d);
        double *y = kh_test_read(got, ds[i], &rank, d);
        double err = 0, scale = 0;
        for (long k = 0; k < d[0] * d[1] * d[2]; k++) {
            err = fmax(err, fabs(x[k] - y[k]));
            scale = fmax(scale, fabs(x[k]));
        }
        ck_assert_msg(err <= 1e-7 * scale, "case %d: %s differs by %g (scale %g)", _i, ds[i], err,
                      scale);
        free(x);
        free(y);
    }
    remove(ref);
    remove(got);
}
END_TEST

/* The same study with 1 and 2 OpenMP threads gives bit-identical files. */
START_TEST(test_threads_bit_identical)
{
    const char *method[] = {"rkf45", "dopri5", "euler"};
    char ini[2048], a[512], b[512];
    snprintf(ini, sizeof ini,
             "[network]\nhidden = 40\np = 3\nw_inh = 0.5\ntau_L = 5\n[learning]\n"
             "g = bcm_step\nh_star = 0.3\n[input]\nsamples = 2\npresentation_time = 2\n"
             "reset_h = true\n[init]\nscale = 0.2\n[solver]\nmethod = %s\ndt = 0.002\n"
             "[output]\nrecord_every = 0.1\nsnapshot_every = 1\n",
             method[_i]);
    char c2[512];
    omp_set_num_threads(1);
    run_study(ini, a, sizeof a, NULL);
    omp_set_num_threads(2);
    run_study(ini, b, sizeof b, NULL);
    run_study(ini, c2, sizeof c2, NULL); /* and run after run */
    const char *ds[] = {"/trajectory/t",     "/trajectory/h",        "/trajectory/current",
                        "/trajectory/pnorm", "/trajectory/lyapunov", "/trajectory/dL_dt",
                        "/snapshots/W"};
    for (int i = 0; i < 7; i++) {
        int rank;
        long da[3], db[3];
        double *x = kh_test_read(a, ds[i], &rank, da);
        double *y = kh_test_read(b, ds[i], &rank, db);
        double *z = kh_test_read(c2, ds[i], &rank, db);
        ck_assert_int_eq(da[0], db[0]);
        size_t len = (size_t)(da[0] * da[1] * da[2]);
        ck_assert_msg(memcmp(x, y, len * sizeof(double)) == 0, "%s: %s differs with 2 threads",
                      method[_i], ds[i]);
        ck_assert_msg(memcmp(y, z, len * sizeof(double)) == 0, "%s: %s differs run to run",
                      method[_i], ds[i]);
        free(x);
        free(y);
        free(z);
    }
    remove(a);
    remove(b);
    remove(c2);
}
END_TEST

Suite *kh_physics_suite(void)
{
    Suite *s = suite_create("physics");
    TCase *tc = tcase_create("closed_forms");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_sphere_convergence, 0, 6);
    tcase_add_test(tc, test_oja_principal_eigenvector);
    tcase_add_loop_test(tc, test_lyapunov_monotone_and_derivative, 0, 2);
    tcase_add_test(tc, test_hebb_closed_form);
    tcase_add_loop_test(tc, test_steady_state_closed_form, 0, 4);
    tcase_add_test(tc, test_steady_state_errors);
    tcase_add_loop_test(tc, test_steady_state_active_set, 0, 2);
    tcase_add_test(tc, test_steady_state_stability);
    tcase_add_test(tc, test_quasi_static_limit);
    tcase_add_loop_test(tc, test_switch_location, 0, 3);
    tcase_add_loop_test(tc, test_start_below_zero_keeps_row, 0, 3);
    tcase_add_loop_test(tc, test_multistep_locates_start_crossing, 0, 2);
    tcase_add_loop_test(tc, test_threads_bit_identical, 0, 3);
    tcase_add_loop_test(tc, test_dopri5_reduced_agrees, 0, 5);
    suite_add_tcase(s, tc);
    return s;
}
