/* khsim kcap: the k-cap against its definition, the Hebbian update against
 * a loop, the gradients through the soft cap (the weights' and the learned
 * rule's) against finite differences, the earth mover's distance against
 * closed forms and a brute-force matching, the semi-supervised readout
 * against its optimality condition and known answers, and a run in which
 * the learned rule beats the Hebbian one on the seed's objective. */
#include <hdf5.h>
#include <hdf5_hl.h>
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
/* The semi-supervised readout: Newton's solution is the regularised
 * objective's stationary point (its gradient below 1e-9), and its accuracy
 * is 1 on features that carry the label, about one half on features that
 * do not, and grows with the labels on a noisy linear rule. */
static double logistic_grad_norm(const double *X, const long *y, const long *idx, long nl, long d,
                                 double lambda, const double *w)
{
    double g[8] = {0};
    for (long j = 0; j <= d; j++) {
        g[j] = (j < d ? lambda : 1e-6 * lambda) * w[j];
    }
    for (long i = 0; i < nl; i++) {
        const double *x = X + idx[i] * d;
        double u = w[d];
        for (long j = 0; j < d; j++) {
            u += w[j] * x[j];
        }
        const double r = 1.0 / (1.0 + exp(-u)) - (double)y[idx[i]];
        for (long j = 0; j < d; j++) {
            g[j] += r * x[j];
        }
        g[d] += r;
    }
    double big = 0.0;
    for (long j = 0; j <= d; j++) {
        big = fmax(big, fabs(g[j]));
    }
    return big;
}

START_TEST(test_semi_readout)
{
    enum { N = 200, D = 5 };
    double X[N * D], w[D + 1], acc[5];
    long y[N], idx[N];
    kh_rng r;
    kh_rng_seed(&r, 31, 0);
    /* A noisy linear rule: y = 1 where x.(1, -2, 0.5, 0, 1) + noise > 0. */
    for (long s = 0; s < N; s++) {
        double u = 0.0;
        for (long j = 0; j < D; j++) {
            X[s * D + j] = kh_rng_normal(&r);
        }
        u = X[s * D] - 2.0 * X[s * D + 1] + 0.5 * X[s * D + 2] + X[s * D + 4];
        y[s] = u + 0.3 * kh_rng_normal(&r) > 0.0;
        idx[s] = s;
    }
    for (int lam = 0; lam < 2; lam++) {
        const double lambda = lam ? 1.0 : 1e-3;
        ck_assert_int_eq(kh_kcap_logistic_fit(X, y, idx, 40, D, lambda, w), KH_OK);
        const double gn = logistic_grad_norm(X, y, idx, 40, D, lambda, w);
        ck_assert_msg(gn < 1e-9, "lambda %g: gradient %g at Newton's solution", lambda, gn);
    }
    const long per[5] = {1, 4, 16, 64, 90};
    long n1 = 0;
    for (long s = 0; s < N; s++) {
        n1 += y[s];
    }
    ck_assert_msg(n1 > 91 && N - n1 > 91, "classes of %ld and %ld", n1, N - n1);
    ck_assert_int_eq(kh_kcap_semi(X, y, N, D, per, 5, 20, 5, acc), KH_OK);
    ck_assert_msg(acc[4] > 0.9 && acc[4] > acc[0] + 0.1, "noisy rule: %g (1 label) -> %g", acc[0],
                  acc[4]);
    /* Features that are the label (plus a little noise): every set is
     * separable and the readout is right everywhere. */
    for (long s = 0; s < N; s++) {
        for (long j = 0; j < D; j++) {
            X[s * D + j] = (j == 0 ? (double)y[s] : 0.0) + 0.01 * kh_rng_normal(&r);
        }
    }
    ck_assert_int_eq(kh_kcap_semi(X, y, N, D, per, 5, 20, 5, acc), KH_OK);
    for (int k = 0; k < 5; k++) {
        ck_assert_msg(acc[k] > 1.0 - 1e-12, "label features, %ld labels: %.17g", per[k], acc[k]);
    }
    /* Features independent of the label: chance. */
    for (long s = 0; s < N * D; s++) {
        X[s] = kh_rng_normal(&r);
    }
    ck_assert_int_eq(kh_kcap_semi(X, y, N, D, per, 5, 20, 5, acc), KH_OK);
    for (int k = 0; k < 5; k++) {
        ck_assert_msg(fabs(acc[k] - 0.5) < 0.1, "noise features, %ld labels: %g", per[k], acc[k]);
    }
    const long too_many[1] = {N};
    ck_assert_int_eq(kh_kcap_semi(X, y, N, D, too_many, 1, 1, 5, acc), KH_EINVAL);
}
END_TEST

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
    /* The semi-supervised readout of every representation, and of the
     * inputs, against the same labelled counts (100 of each class: up to
     * 64). */
    double *lab = kh_test_read(out, "/kcap/semi_labels", &rank, d);
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq(d[0], 7);
    ck_assert_double_eq(lab[6], 64.0);
    free(lab);
    const char *groups[] = {"input", "none", "hebb", "learned", "rnn_bp", "mlp_bp"};
    for (int gi = 0; gi < 6; gi++) {
        char name[96];
        snprintf(name, sizeof name, "/kcap/%s/semi_accuracy", groups[gi]);
        double *acc = kh_test_read(out, name, &rank, d);
        ck_assert_int_eq(d[0], 7);
        for (int k = 0; k < 7; k++) {
            ck_assert_msg(acc[k] >= 0.0 && acc[k] <= 1.0, "%s: %g", name, acc[k]);
        }
        /* A linear readout of the moons' inputs with 64 labels of each. */
        if (gi == 0) {
            ck_assert_msg(acc[6] > 0.8, "%s: %g with 64 labels", name, acc[6]);
        }
        free(acc);
        /* Its axis is /kcap/semi_labels (a dimension scale), by name. */
        hid_t fh = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t ds = H5Dopen2(fh, name, H5P_DEFAULT),
              sc = H5Dopen2(fh, "/kcap/semi_labels", H5P_DEFAULT);
        char label[64] = "";
        H5DSget_label(ds, 0, label, sizeof label);
        ck_assert_str_eq(label, "labels_per_class");
        ck_assert_int_eq(H5DSis_attached(ds, sc, 0), 1);
        H5Dclose(sc);
        H5Dclose(ds);
        H5Fclose(fh);
    }
    /* khsim verify has nothing to audit in it, and says so (exit 2) instead
     * of passing it vacuously. */
    const char *ver[] = {"verify", out, NULL};
    ck_assert_int_eq(kh_test_khsim(ver, err, sizeof err, 0), 2);
    ck_assert_msg(strstr(err, "no trajectory"), "%s", err);
    kh_test_record_described(out);
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
    tcase_add_test(tc, test_semi_readout);
    tcase_add_test(tc, test_learned_beats_hebb);
    suite_add_tcase(s, tc);
    return s;
}
