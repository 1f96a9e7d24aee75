/* Convolutional Krotov-Hopfield layers (solvers/conv.c, khsim conv): the
 * update against a direct loop transcription of the rule, the forward pass
 * against a direct convolution, the layer lists, the sphere after training
 * on the shipped digits, the resume, and the readout on the conv features. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "cmd/kh_conv_cmd.h"
#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "solvers/kh_conv.h"

static double signed_pow(double w, double e)
{
    return (w < 0.0 ? -1.0 : 1.0) * pow(fabs(w), e);
}

/* The rule written out from its definition, image by image, with pow(),
 * full sorting and the six loops of the convolution: Delta W [cout, patch]
 * of the images x [nimg, cin h w]. */
typedef struct entry {
    double v;
    long idx; /* position * cout + channel */
} entry;

static int by_value(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->v != y->v) {
        return x->v > y->v ? -1 : 1;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void loop_delta(const kh_conv_shape *s, const double *W, const double *x, long nimg,
                       double p, double R, double delta, long k, double *dW)
{
    const long K = s->kernel, C = s->cout, P = s->patch, np = s->positions;
    entry *e = malloc((size_t)(np * C) * sizeof(entry));
    double *I = malloc((size_t)(np * C) * sizeof(double));
    ck_assert(e && I);
    double *acc = calloc((size_t)(C * P), sizeof(double));
    double *gI = calloc((size_t)C, sizeof(double));
    ck_assert(acc && gI);
    for (long b = 0; b < nimg; b++) {
        const double *img = x + b * s->cin * s->h * s->w;
        for (long y = 0; y < s->ho; y++) {
            for (long xx = 0; xx < s->wo; xx++) {
                for (long c = 0; c < C; c++) {
                    double cur = 0.0;
                    for (long ci = 0; ci < s->cin; ci++) {
                        for (long dy = 0; dy < K; dy++) {
                            for (long dx = 0; dx < K; dx++) {
                                const double w = W[c * P + (ci * K + dy) * K + dx];
                                cur += img[(ci * s->h + y + dy) * s->w + xx + dx] *
                                       signed_pow(w, p - 1.0);
                            }
                        }
                    }
                    const long pos = y * s->wo + xx;
                    I[pos * C + c] = cur;
                    e[pos * C + c] = (entry){cur, pos * C + c};
                }
            }
        }
        qsort(e, (size_t)(np * C), sizeof(entry), by_value);
        const long pick[2] = {e[0].idx, e[k - 1].idx};
        const double g[2] = {1.0, -delta};
        for (int j = 0; j < 2; j++) {
            const long pos = pick[j] / C, c = pick[j] % C, y = pos / s->wo, xx = pos % s->wo;
            gI[c] += g[j] * I[pick[j]];
            for (long ci = 0; ci < s->cin; ci++) {
                for (long dy = 0; dy < K; dy++) {
                    for (long dx = 0; dx < K; dx++) {
                        acc[c * P + (ci * K + dy) * K + dx] +=
                            g[j] * img[(ci * s->h + y + dy) * s->w + xx + dx];
                    }
                }
            }
        }
    }
    for (long c = 0; c < C; c++) {
        for (long i = 0; i < P; i++) {
            dW[c * P + i] = pow(R, p) * acc[c * P + i] - gI[c] * W[c * P + i];
        }
    }
    free(e);
    free(I);
    free(acc);
    free(gI);
}

static kh_params conv_params(double p, double R, double delta, long k)
{
    kh_config *c = kh_test_config("[network]\nmodel = krotov_hopfield\n");
    kh_params q = c->p;
    kh_config_free(c);
    q.p = p;
    q.R = R;
    q.delta = delta;
    q.k = k;
    return q;
}

/* Random images: dense (every input uniform in [0, 1)) or sparse (four in
 * five inputs zero, as MNIST's pixels). */
static void images(double *x, long len, int sparse, kh_rng *r)
{
    for (long i = 0; i < len; i++) {
        const double u = kh_rng_uniform(r);
        x[i] = sparse && kh_rng_uniform(r) < 0.8 ? 0.0 : u;
    }
}

/* The update of both layer kinds of the slides (one input channel, pool 2;
 * sixteen input channels) and an odd p and k = 3, on dense and sparse
 * images, equals the loop transcription to 1e-12 of its largest entry. */
START_TEST(test_update_matches_loop)
{
    const struct {
        long cin, side, cout, kernel, pool, k;
        double p;
    } cases[] = {
        {1, 16, 6, 5, 2, 2, 4.0},
        {4, 9, 5, 4, 1, 2, 3.0},
        {2, 11, 7, 3, 2, 3, 2.5},
    };
    kh_rng r;
    kh_rng_seed(&r, 4242, 0);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        for (int sparse = 0; sparse < 2; sparse++) {
            kh_conv_shape s;
            ck_assert_int_eq(kh_conv_shape_set(&s, cases[t].cin, cases[t].side, cases[t].side,
                                               cases[t].cout, cases[t].kernel, cases[t].pool),
                             KH_OK);
            kh_params q = conv_params(cases[t].p, 1.3, 0.4, cases[t].k);
            const long nimg = 5, in = s.cin * s.h * s.w, len = s.cout * s.patch;
            double *x = malloc((size_t)(nimg * in) * sizeof(double));
            double *W = malloc((size_t)len * sizeof(double));
            double *d1 = malloc((size_t)len * sizeof(double));
            double *d2 = malloc((size_t)len * sizeof(double));
            ck_assert(x && W && d1 && d2);
            images(x, nimg * in, sparse, &r);
            for (long i = 0; i < len; i++) {
                W[i] = kh_rng_normal(&r);
            }
            kh_conv_layer *L = kh_conv_layer_alloc(&q, &s, W, nimg);
            ck_assert_msg(L, "%s", kh_errmsg());
            ck_assert_int_eq(kh_conv_layer_load(L, x, nimg), KH_OK);
            ck_assert_int_eq(kh_conv_layer_delta(L, d1), KH_OK);
            loop_delta(&s, W, x, nimg, q.p, q.R, q.delta, q.k, d2);
            double mx = 0.0, diff = 0.0;
            for (long i = 0; i < len; i++) {
                mx = fmax(mx, fabs(d2[i]));
                diff = fmax(diff, fabs(d1[i] - d2[i]));
            }
            ck_assert_msg(mx > 0.0, "case %zu: the loop made no update", t);
            ck_assert_msg(diff <= 1e-12 * mx, "case %zu, sparse %d: |diff| %g of max %g", t, sparse,
                          diff, mx);
            /* The step is the max-normalised update: W + eps dW / max|dW|. */
            ck_assert_int_eq(kh_conv_layer_step(L, 0.01), KH_OK);
            double *W1 = malloc((size_t)len * sizeof(double));
            ck_assert(W1);
            ck_assert_int_eq(kh_conv_layer_get_W(L, W1), KH_OK);
            for (long i = 0; i < len; i++) {
                ck_assert_msg(fabs(W1[i] - (W[i] + 0.01 * d2[i] / mx)) <= 1e-13,
                              "case %zu: the step at %ld", t, i);
            }
            kh_conv_layer_free(L);
            free(x);
            free(W);
            free(W1);
            free(d1);
            free(d2);
        }
    }
}
END_TEST

/* The forward pass (patches, one product, ReLU, max-pool) against the
 * direct convolution, to 1e-12. */
START_TEST(test_forward_matches_loop)
{
    kh_conv_shape s;
    ck_assert_int_eq(kh_conv_shape_set(&s, 3, 13, 13, 4, 4, 3), KH_OK);
    ck_assert_int_eq(s.hp, 3);
    kh_rng r;
    kh_rng_seed(&r, 77, 0);
    const long nimg = 3, in = s.cin * s.h * s.w, len = s.cout * s.patch;
    double x[3 * 3 * 13 * 13], W[4 * 48], out[3 * 4 * 9];
    images(x, nimg * in, 0, &r);
    for (long i = 0; i < len; i++) {
        W[i] = kh_rng_normal(&r);
    }
    ck_assert_int_eq(kh_conv_forward(&s, W, x, nimg, out), KH_OK);
    for (long b = 0; b < nimg; b++) {
        for (long c = 0; c < s.cout; c++) {
            for (long y = 0; y < s.hp; y++) {
                for (long xx = 0; xx < s.wp; xx++) {
                    double best = 0.0;
                    for (long py = 0; py < s.pool; py++) {
                        for (long px = 0; px < s.pool; px++) {
                            double a = 0.0;
                            for (long ci = 0; ci < s.cin; ci++) {
                                for (long dy = 0; dy < s.kernel; dy++) {
                                    for (long dx = 0; dx < s.kernel; dx++) {
                                        a += W[c * s.patch + (ci * s.kernel + dy) * s.kernel + dx] *
                                             x[b * in + (ci * s.h + y * s.pool + py + dy) * s.w +
                                               xx * s.pool + px + dx];
                                    }
                                }
                            }
                            best = fmax(best, a);
                        }
                    }
                    const double got = out[b * kh_conv_out_len(&s) + (c * s.hp + y) * s.wp + xx];
                    ck_assert_msg(fabs(got - best) <= 1e-12 * fmax(1.0, fabs(best)),
                                  "image %ld channel %ld (%ld, %ld): %g vs %g", b, c, y, xx, got,
                                  best);
                }
            }
        }
    }
}
END_TEST

/* The layer lists: the slides' network on MNIST, and what is refused. */
START_TEST(test_plan)
{
    kh_conv_shape s[KH_CONV_MAX_LAYERS];
    int L = 0;
    ck_assert_int_eq(kh_conv_plan("16, 5", "10, 8", "2, 1", 1, 28, 28, s, &L), KH_OK);
    ck_assert_int_eq(L, 2);
    ck_assert_int_eq(s[0].positions, 19 * 19);
    ck_assert_int_eq(s[0].hp, 9);
    ck_assert_int_eq(s[1].patch, 16 * 64);
    ck_assert_int_eq(kh_conv_out_len(&s[1]), 5 * 2 * 2);
    ck_assert_int_eq(kh_conv_plan("16, 5", "10", "2, 1", 1, 28, 28, s, &L), KH_EINVAL);
    ck_assert_int_eq(kh_conv_plan("16, 5", "10, 12", "2, 1", 1, 28, 28, s, &L), KH_EINVAL);
    ck_assert_int_eq(kh_conv_plan("16, x", "10, 8", "2, 1", 1, 28, 28, s, &L), KH_EINVAL);
    ck_assert_int_eq(kh_conv_plan("16", "10", "40", 1, 28, 28, s, &L), KH_EINVAL);
    ck_assert_int_eq(kh_conv_plan("", "", "", 1, 28, 28, s, &L), KH_EINVAL);
}
END_TEST

static const char *study_text = "[network]\np = 4\nR = 1\n"
                                "[learning]\ndelta = 0.4\nk = 2\neps0 = %g\nepochs = %ld\n"
                                "batch = 16\n"
                                "[input]\nsource = mnist\npath = %s/data/mnist-1000\n"
                                "samples = 1000\n"
                                "[init]\nweights = normal\nscale = %g\nseed = 3\n"
                                "[conv]\nchannels = 16, 5\nkernels = 10, 8\npools = 2, 1\n"
                                "init_sphere = %s\n";

static void write_study(char *ini, size_t len, double eps0, long epochs, double scale,
                        const char *sphere)
{
    char cwd[1024], text[2048];
    ck_assert(getcwd(cwd, sizeof cwd));
    snprintf(text, sizeof text, study_text, eps0, epochs, cwd, scale, sphere);
    kh_test_write_file(ini, len, ".ini", text);
}

/* After training on the shipped digits every filter that ever won lies on
 * the sphere sum |W|^p = R^p to 1e-2: from W(0) on the sphere (where the
 * rule keeps it: d/dt sum |W|^p = p (sum g I)(R^p - sum |W|^p)), and from
 * W(0) far off it, every filter with 1000 wins or more (the few that stop
 * winning early stay where they were: the slides' premature stop). */
START_TEST(test_winners_on_sphere)
{
    const struct {
        double eps0, scale;
        long epochs, min_wins;
        const char *sphere;
    } runs[] = {{0.015, 1.0, 10, 1, "true"}, {0.03, 0.5, 20, 1000, "false"}};
    for (int k = 0; k < 2; k++) {
        char ini[512], out[512];
        write_study(ini, sizeof ini, runs[k].eps0, runs[k].epochs, runs[k].scale, runs[k].sphere);
        kh_test_tmpname(out, sizeof out, ".h5");
        const char *argv[] = {"conv", ini, "-o", out, "--force", "--quiet", NULL};
        char err[4096];
        ck_assert_msg(kh_test_khsim(argv, err, sizeof err, 0) == 0, "%s", err);
        long trained = 0;
        for (int l = 1; l <= 2; l++) {
            char name[64];
            int rank;
            long dw[3], dB[3];
            snprintf(name, sizeof name, "/conv/layer%d/wins", l);
            double *w = kh_test_read(out, name, &rank, dw);
            snprintf(name, sizeof name, "/conv/layer%d/pnorm", l);
            double *B = kh_test_read(out, name, &rank, dB);
            ck_assert_int_eq(dw[0], runs[k].epochs);
            ck_assert_int_eq(dB[0], runs[k].epochs + 1);
            const long C = dw[1];
            for (long c = 0; c < C; c++) {
                double wins = 0.0;
                for (long e = 0; e < dw[0]; e++) {
                    wins += w[e * C + c];
                }
                const double B0 = B[c], B1 = B[dw[0] * C + c];
                if (wins >= (double)runs[k].min_wins) {
                    trained++;
                    ck_assert_msg(fabs(B1 - 1.0) <= 1e-2,
                                  "run %d, layer %d, filter %ld (%g wins): sum |W|^p %g -> %g", k,
                                  l, c, wins, B0, B1);
                    if (k == 1) {
                        ck_assert_msg(fabs(B0 - 1.0) > 0.5, "W(0) already near the sphere");
                    }
                }
            }
            free(w);
            free(B);
        }
        ck_assert_msg(trained >= (k == 0 ? 2 : 6), "run %d: only %ld filters trained", k, trained);
        if (k == 0) {
            /* The Python package names each layer's datasets by their path. */
            char cmd[2048];
            const char *py = getenv("PYTHON");
            snprintf(cmd, sizeof cmd,
                     "%s -c \"import sys; sys.path.insert(0, 'python'); import khsim; "
                     "ds = khsim.load('%s'); assert ds.conv_layer1_W.shape[1:] == (16, 100), "
                     "ds.conv_layer1_W.shape; assert ds.conv_layer2_W.shape[1:] == (5, 1024)\"",
                     py && *py ? py : "/usr/bin/python3", out);
            ck_assert_msg(system(cmd) == 0, "%s", cmd);
        }
        kh_test_record_described(out);
        unlink(ini);
        unlink(out);
    }
}
END_TEST

/* Interrupted in its fourth epoch and resumed, khsim conv ends with the
 * weights of the uninterrupted run, bit for bit. */
START_TEST(test_resume)
{
    char ini[512], a[512], b[512], err[4096];
    write_study(ini, sizeof ini, 0.02, 6, 0.5, "false");
    kh_test_tmpname(a, sizeof a, ".h5");
    kh_test_tmpname(b, sizeof b, ".h5");
    const char *full[] = {"conv", ini, "-o", a, "--force", "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(full, err, sizeof err, 0) == 0, "%s", err);
    const char *cut[] = {"conv", ini, "-o", b, "--force", NULL};
    const int rc = kh_test_khsim_at(cut, err, sizeof err, SIGINT, "0.55 epoch");
    ck_assert_msg(rc == 130, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "khsim conv --resume"), "no resume hint: %s", err);
    int rank;
    long d[3];
    double *eps = kh_test_read(b, "/conv/eps", &rank, d);
    ck_assert_msg(d[0] >= 1 && d[0] < 6, "%ld epochs before the stop", d[0]);
    free(eps);
    const char *res[] = {"conv", "--resume", b, "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(res, err, sizeof err, 0) == 0, "%s", err);
    for (int l = 1; l <= 2; l++) {
        char name[64];
        long da[3], db[3];
        snprintf(name, sizeof name, "/conv/layer%d/W", l);
        double *wa = kh_test_read(a, name, &rank, da);
        double *wb = kh_test_read(b, name, &rank, db);
        ck_assert_int_eq(da[0], 7);
        ck_assert_int_eq(db[0], 7);
        const long len = da[0] * da[1] * da[2];
        for (long i = 0; i < len; i++) {
            ck_assert_msg(wa[i] == wb[i], "layer %d entry %ld: %.17g vs %.17g", l, i, wa[i], wb[i]);
        }
        free(wa);
        free(wb);
    }
    unlink(ini);
    unlink(a);
    unlink(b);
}
END_TEST

/* A reader that holds the live record open while the run ends (a plot of
 * a running training, khsim info) does not cost the run its end: the
 * writer waits for it to let go, and the record ends complete. */
START_TEST(test_reader_at_the_end)
{
    char ini[512], out[512];
    write_study(ini, sizeof ini, 0.02, 8, 0.5, "false");
    kh_test_tmpname(out, sizeof out, ".h5");
    unlink(out);
    const char *bin = getenv("KHSIM") ? getenv("KHSIM") : "./khsim";
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        execl(bin, bin, "conv", ini, "-o", out, "--quiet", (char *)NULL);
        _exit(127);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = -1;
    int status = 0, ended = 0;
    /* Until the live record opens, or the run ends first (a slow build on a
     * busy machine: up to a minute). */
    for (int i = 0; i < 12000 && f < 0 && !ended; i++) {
        usleep(5000);
        f = H5Fopen(out, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
        ended = f < 0 && waitpid(pid, &status, WNOHANG) == pid;
    }
    ck_assert_msg(!ended || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "khsim conv ended with %d before its record became readable", status);
    ck_assert_msg(f >= 0 || ended, "the record never became readable");
    if (f >= 0) {
        /* Held past the run's end (8 epochs of 1000 digits: about a second). */
        for (int i = 0; i < 300; i++) {
            usleep(10000);
        }
        H5Fclose(f);
        ck_assert(waitpid(pid, &status, 0) == pid);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "khsim conv ended with %d",
                  status);
    char st[64];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", st, sizeof st), KH_OK);
    ck_assert_str_eq(st, "complete");
    unlink(ini);
    unlink(out);
}
END_TEST

Suite *kh_conv_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_update_matches_loop);
    tcase_add_test(tc, test_forward_matches_loop);
    tcase_add_test(tc, test_plan);
    tcase_add_test(tc, test_winners_on_sphere);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_reader_at_the_end);
    suite_add_tcase(s, tc);
    return s;
}
