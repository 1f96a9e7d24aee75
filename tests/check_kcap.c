/* khsim kcap: the k-cap against its definition, the Hebbian update against
 * a loop, the gradients through the soft cap (the weights' and the learned
 * rule's) against finite differences, the earth mover's distance against
 * closed forms and a brute-force matching, and a run in which the learned
 * rule beats the Hebbian one on the seed's objective. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/kh_kcap.h"
#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_h5.h"
#include "kh_test.h"

/* a_k(z) has exactly k ones, at the k largest entries; with ties the lower
 * index is taken; the soft cap tends to it as tau -> 0. */
START_TEST(test_cap_definition)
{
    kh_rng r;
    kh_rng_seed(&r, 99, 0);
    double z[40], a[40], s[40];
    for (int trial = 0; trial < 200; trial++) {
        const long len = 5 + trial % 30, k = 1 + trial % (len - 1);
        for (long i = 0; i < len; i++) {
            /* a few repeated values, for ties */
            z[i] = trial % 3 == 0 ? (double)(long)(4.0 * kh_rng_uniform(&r)) : kh_rng_normal(&r);
        }
        kh_kcap_hard(z, len, k, a);
        long ones = 0;
        for (long i = 0; i < len; i++) {
            ck_assert(a[i] == 0.0 || a[i] == 1.0);
            ones += a[i] == 1.0;
            /* the definition: i is on when fewer than k entries rank above
             * it (larger, or equal with a lower index) */
            long above = 0;
            for (long j = 0; j < len; j++) {
                above += z[j] > z[i] || (z[j] == z[i] && j < i);
            }
            ck_assert_msg((above < k) == (a[i] == 1.0), "trial %d entry %ld", trial, i);
        }
        ck_assert_int_eq(ones, k);
        if (trial % 3 != 0) {
            kh_kcap_soft(z, len, k, 1e-6, s);
            for (long i = 0; i < len; i++) {
                ck_assert_msg(fabs(s[i] - a[i]) < 1e-3, "soft cap at tau 1e-6: %g vs %g", s[i],
                              a[i]);
            }
        }
    }
}
END_TEST

/* The Hebbian update against its loop transcription: every layer's
 * M_ij += eta q_i p_j, then each row back to its norm. */
START_TEST(test_hebb_matches_loop)
{
    kh_kcap_net net, ref;
    ck_assert_int_eq(kh_kcap_net_alloc(&net, 6, 9, 3, 3, 1, 0, 5), KH_OK);
    ck_assert_int_eq(kh_kcap_net_alloc(&ref, 6, 9, 3, 3, 1, 0, 5), KH_OK);
    kh_kcap_pass ps;
    ck_assert_int_eq(kh_kcap_pass_alloc(&ps, &net), KH_OK);
    const double x0[6] = {0.3, -1.2, 0.7, 0.05, 2.0, -0.4};
    kh_kcap_forward(&net, x0, 0.0, &ps);
    kh_kcap_hebb(&net, x0, &ps, 0.05);
    const long n = 6, m = 9, T = 3;
    struct {
        double *M;
        long rows, cols;
        const double *q, *p;
    } layers[5] = {{ref.in, m, n, ps.x, x0},
                   {ref.rec[0], m, m, ps.x + m, ps.x},
                   {ref.rec[0], m, m, ps.x + 2 * m, ps.x + m},
                   {ref.rec[0], m, m, ps.x + 3 * m, ps.x + 2 * m},
                   {ref.out, n, m, x0, ps.x + T * m}};
    for (int l = 0; l < 5; l++) {
        for (long i = 0; i < layers[l].rows; i++) {
            double before = 0.0, after = 0.0;
            for (long j = 0; j < layers[l].cols; j++) {
                before += pow(layers[l].M[i * layers[l].cols + j], 2);
            }
            for (long j = 0; j < layers[l].cols; j++) {
                layers[l].M[i * layers[l].cols + j] += 0.05 * layers[l].q[i] * layers[l].p[j];
                after += pow(layers[l].M[i * layers[l].cols + j], 2);
            }
            for (long j = 0; j < layers[l].cols; j++) {
                layers[l].M[i * layers[l].cols + j] *= sqrt(before / after);
            }
        }
    }
    for (long i = 0; i < m * n; i++) {
        ck_assert_msg(fabs(net.in[i] - ref.in[i]) < 1e-14, "in %ld", i);
        ck_assert_msg(fabs(net.out[i] - ref.out[i]) < 1e-14, "out %ld", i);
    }
    for (long i = 0; i < m * m; i++) {
        ck_assert_msg(fabs(net.rec[0][i] - ref.rec[0][i]) < 1e-14, "rec %ld", i);
    }
    kh_kcap_pass_free(&ps);
    kh_kcap_net_free(&net);
    kh_kcap_net_free(&ref);
}
END_TEST

/* The gradient of |out - x0|^2 through the soft cap (RNN and MLP, linear and
 * capped output) against central differences, and the learned rule's
 * meta-gradient the same way. */
START_TEST(test_gradients_match_differences)
{
    const double x0[7] = {0.5, -0.3, 1.1, 0.2, -0.8, 0.05, 0.6};
    for (int shared = 0; shared < 2; shared++) {
        for (int capo = 0; capo < 2; capo++) {
            kh_kcap_net net, g;
            ck_assert_int_eq(kh_kcap_net_alloc(&net, 7, 8, 2, 3, shared, capo, 11), KH_OK);
            ck_assert_int_eq(kh_kcap_net_alloc(&g, 7, 8, 2, 3, shared, capo, 0), KH_OK);
            memset(g.in, 0, sizeof(double) * 56);
            memset(g.out, 0, sizeof(double) * 56);
            for (int t = 0; t < (shared ? 1 : 3); t++) {
                memset(g.rec[t], 0, sizeof(double) * 64);
            }
            kh_kcap_pass ps;
            ck_assert_int_eq(kh_kcap_pass_alloc(&ps, &net), KH_OK);
            const double tau = 0.7;
            kh_kcap_forward(&net, x0, tau, &ps);
            kh_kcap_backward(&net, x0, tau, &ps, &g);
            double *w[3] = {net.in, net.rec[shared ? 0 : 1], net.out};
            double *gw[3] = {g.in, g.rec[shared ? 0 : 1], g.out};
            const long len[3] = {56, 64, 56};
            for (int a = 0; a < 3; a++) {
                for (long i = 0; i < len[a]; i += 5) {
                    const double keep = w[a][i], h = 1e-6;
                    w[a][i] = keep + h;
                    const double Lp = kh_kcap_forward(&net, x0, tau, &ps);
                    w[a][i] = keep - h;
                    const double Lm = kh_kcap_forward(&net, x0, tau, &ps);
                    w[a][i] = keep;
                    const double fd = (Lp - Lm) / (2.0 * h);
                    ck_assert_msg(fabs(fd - gw[a][i]) <= 1e-6 * fmax(1.0, fabs(fd)),
                                  "shared %d capo %d array %d entry %ld: %.10g vs %.10g", shared,
                                  capo, a, i, gw[a][i], fd);
                }
            }
            kh_kcap_pass_free(&ps);
            kh_kcap_net_free(&net);
            kh_kcap_net_free(&g);
        }
    }
    /* The meta-gradient. */
    kh_kcap_net net, work, gwork;
    ck_assert_int_eq(kh_kcap_net_alloc(&net, 7, 8, 2, 3, 1, 0, 12), KH_OK);
    ck_assert_int_eq(kh_kcap_net_alloc(&work, 7, 8, 2, 3, 1, 0, 0), KH_OK);
    ck_assert_int_eq(kh_kcap_net_alloc(&gwork, 7, 8, 2, 3, 1, 0, 0), KH_OK);
    kh_kcap_rule rule;
    ck_assert_int_eq(kh_kcap_rule_alloc(&rule, 3, 5, 13), KH_OK);
    /* updates large enough to matter */
    kh_rng r;
    kh_rng_seed(&r, 14, 0);
    for (long q = 0; q < rule.total; q++) {
        rule.th[0][q] += 0.05 * kh_rng_normal(&r);
    }
    kh_kcap_pass ps, ps2;
    ck_assert_int_eq(kh_kcap_pass_alloc(&ps, &net), KH_OK);
    ck_assert_int_eq(kh_kcap_pass_alloc(&ps2, &net), KH_OK);
    double *grad = calloc((size_t)rule.total, sizeof(double));
    ck_assert(grad);
    const double tau = 0.5;
    /* measured on another sample than the one the update came from */
    const double x0b[7] = {-0.2, 0.9, 0.4, -0.6, 0.1, 1.3, -0.7};
    kh_kcap_meta_loss(&rule, &net, x0, x0b, tau, grad, &work, &gwork, &ps, &ps2);
    double gmax = 0.0;
    for (long q = 0; q < rule.total; q++) {
        gmax = fmax(gmax, fabs(grad[q]));
    }
    ck_assert(gmax > 0.0);
    for (long q = 0; q < rule.total; q++) {
        const double keep = rule.th[0][q], h = 1e-6;
        rule.th[0][q] = keep + h;
        const double Lp =
            kh_kcap_meta_loss(&rule, &net, x0, x0b, tau, NULL, &work, &gwork, &ps, &ps2);
        rule.th[0][q] = keep - h;
        const double Lm =
            kh_kcap_meta_loss(&rule, &net, x0, x0b, tau, NULL, &work, &gwork, &ps, &ps2);
        rule.th[0][q] = keep;
        const double fd = (Lp - Lm) / (2.0 * h);
        ck_assert_msg(fabs(fd - grad[q]) <= 1e-5 * gmax, "theta %ld: %.10g vs %.10g", q, grad[q],
                      fd);
    }
    free(grad);
    kh_kcap_pass_free(&ps);
    kh_kcap_pass_free(&ps2);
    kh_kcap_rule_free(&rule);
    kh_kcap_net_free(&net);
    kh_kcap_net_free(&work);
    kh_kcap_net_free(&gwork);
}
END_TEST

/* The EMD: zero for latent states that embed the 2-D points isometrically
 * (rotated, shifted and scaled, in 6 dimensions); equal to a brute-force
 * search over every matching for 6 points; and for two clouds that differ
 * by a shift along one axis after the normalisation, that shift. */
START_TEST(test_emd)
{
    kh_rng r;
    kh_rng_seed(&r, 21, 0);
    enum { N = 40, M = 6 };
    double Z[2 * N], L[N * M];
    for (int i = 0; i < 2 * N; i++) {
        Z[i] = kh_rng_normal(&r);
    }
    /* two orthonormal directions in R^6 */
    double u[M] = {1, 1, 0, 0, 1, 1}, v[M] = {1, -1, 1, -1, 0, 0};
    for (int a = 0; a < M; a++) {
        u[a] /= 2.0;
        v[a] /= 2.0;
    }
    for (int i = 0; i < N; i++) {
        for (int a = 0; a < M; a++) {
            L[i * M + a] = 3.0 * (0.8 * Z[2 * i] - 0.6 * Z[2 * i + 1]) * u[a] +
                           3.0 * (0.6 * Z[2 * i] + 0.8 * Z[2 * i + 1]) * v[a] + 5.0;
        }
    }
    const double e0 = kh_kcap_emd(L, N, M, Z, NULL);
    ck_assert_msg(e0 >= 0.0 && e0 < 1e-9, "isometric embedding: EMD %g", e0);
    /* 6 points: the Hungarian matching against all 720 permutations. */
    double Z6[12], L6[12], Y6[12];
    for (int i = 0; i < 12; i++) {
        Z6[i] = kh_rng_normal(&r);
        L6[i] = kh_rng_normal(&r);
    }
    const double e6 = kh_kcap_emd(L6, 6, 2, Z6, Y6);
    /* Y6 is the aligned cloud; the normalised Z6: */
    double Q[12], c[2] = {0, 0}, s = 0;
    for (int i = 0; i < 6; i++) {
        c[0] += Z6[2 * i] / 6;
        c[1] += Z6[2 * i + 1] / 6;
    }
    for (int i = 0; i < 6; i++) {
        Q[2 * i] = Z6[2 * i] - c[0];
        Q[2 * i + 1] = Z6[2 * i + 1] - c[1];
        s += (Q[2 * i] * Q[2 * i] + Q[2 * i + 1] * Q[2 * i + 1]) / 6;
    }
    for (int i = 0; i < 12; i++) {
        Q[i] /= sqrt(s);
    }
    int perm[6] = {0, 1, 2, 3, 4, 5};
    double best = INFINITY;
    for (int n = 0; n < 720; n++) {
        /* the n-th permutation in factorial numbering */
        int avail[6] = {0, 1, 2, 3, 4, 5}, k = n, left = 6;
        for (int i = 0; i < 6; i++) {
            int f = 1;
            for (int j = 2; j < left; j++) {
                f *= j;
            }
            const int q = k / f;
            k %= f;
            perm[i] = avail[q];
            for (int j = q; j < left - 1; j++) {
                avail[j] = avail[j + 1];
            }
            left--;
        }
        double cost = 0.0;
        for (int i = 0; i < 6; i++) {
            cost += hypot(Y6[2 * i] - Q[2 * perm[i]], Y6[2 * i + 1] - Q[2 * perm[i] + 1]);
        }
        best = fmin(best, cost / 6);
    }
    ck_assert_msg(fabs(e6 - best) < 1e-12, "Hungarian %.15g, brute force %.15g", e6, best);
}
END_TEST

/* A run on the moons: the meta-training lowers its objective, and the
 * learned rule, used with the hard cap, beats the plain Hebbian rule and
 * no plasticity at all on the seed's objective (the loss one step after
 * each update). */
START_TEST(test_learned_beats_hebb)
{
    char ini[512], out[512], err[4096];
    kh_test_write_file(ini, sizeof ini, ".ini",
                       "[kcap]\ndata = moons\nsamples = 200\nmeta_epochs = 8\nepochs = 2\n"
                       "bp_epochs = 3\nseed = 2\n");
    kh_test_tmpname(out, sizeof out, ".h5");
    const char *argv[] = {"kcap", ini, "-o", out, "--force", "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(argv, err, sizeof err, 0) == 0, "%s", err);
    int rank;
    long d[3];
    double *meta = kh_test_read(out, "/kcap/meta/loss", &rank, d);
    ck_assert_int_eq(d[0], 8);
    ck_assert_msg(meta[7] < 0.5 * meta[0], "meta-training: %g -> %g", meta[0], meta[7]);
    double *hebb = kh_test_read(out, "/kcap/hebb/loss", &rank, d);
    double *learned = kh_test_read(out, "/kcap/learned/loss", &rank, d);
    double none = 0.0;
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/kcap/none", "final_loss", &none), KH_OK);
    ck_assert_msg(learned[1] < 0.5 * hebb[1] && learned[1] < 0.5 * none,
                  "one-step loss: learned %g, Hebbian %g, none %g", learned[1], hebb[1], none);
    free(meta);
    free(hebb);
    free(learned);
    /* khsim verify has nothing to audit in it, and says so (exit 2) instead
     * of passing it vacuously. */
    const char *ver[] = {"verify", out, NULL};
    ck_assert_int_eq(kh_test_khsim(ver, err, sizeof err, 0), 2);
    ck_assert_msg(strstr(err, "no trajectory"), "%s", err);
    unlink(ini);
    unlink(out);
}
END_TEST

Suite *kh_kcap_suite(void)
{
    Suite *s = suite_create("kcap");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cap_definition);
    tcase_add_test(tc, test_hebb_matches_loop);
    tcase_add_test(tc, test_gradients_match_differences);
    tcase_add_test(tc, test_emd);
    tcase_add_test(tc, test_learned_beats_hebb);
    suite_add_tcase(s, tc);
    return s;
}
