/* khsim_gpucheck (make gpu; run by gpu/check.sh on a machine with a GPU):
 *   1. the GPU against the CPU on fresh random inputs: the batched Euler
 *      ensemble (double within 1e-12 relative, float within 1e-5), the
 *      minibatch relaxation to steady state, and the fast rule;
 *   2. throughput: the card's copy bandwidth, then the ensemble's
 *      trajectory-steps per second and effective GB/s for B = 1 ... 4096,
 *      and the fast rule's epoch on MNIST at m = 2000 (GPU and this
 *      machine's CPU, measured in the same run).
 * Exit status 1 when a comparison fails, 2 without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_rng.h"
#include "gpu/kh_gpu.h"
#include "io/kh_config.h"
#include "io/kh_data.h"
#include "run/kh_sim.h"
#include "solvers/kh_euler.h"
#include "solvers/kh_fast.h"
#include "solvers/kh_steady.h"

static int failures = 0;

static void report(const char *what, double err, double tol)
{
    int ok = err <= tol;
    failures += !ok;
    printf("  %-58s %10.3e  (<= %.0e)  %s\n", what, err, tol, ok ? "ok" : "FAIL");
}

/* max |a - b| / max |b|. */
static double rel_err(const double *a, const double *b, size_t len)
{
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < len; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return s > 0.0 ? e / s : e;
}

#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        if ((call) != KH_OK) {                                                                     \
            fprintf(stderr, "khsim_gpucheck: %s: %s\n", #call, kh_errmsg());                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The ensemble: 7 trajectories with different parameters, CPU vs GPU. */
static void check_ensemble(int precision, double tol)
{
    const long B = 7, m = 37, n = 53, steps = 300;
    const double dt = 0.01;
    kh_ens_params prm[7];
    const double ps[7] = {2, 3, 4, 2.5, 3, 2, 4};
    for (long b = 0; b < B; b++) {
        prm[b] = (kh_ens_params){
            ps[b], 1.0 + 0.1 * (double)b, 0.3 * (double)b, 1.0, 5.0 + (double)b, 0.4, 0.2,
            2.0,   (int)(b % 3),          (int)(b % 2)};
    }
    const size_t bm = (size_t)(B * m), bmn = bm * (size_t)n;
    double *h = malloc(bm * sizeof(double)), *W = malloc(bmn * sizeof(double));
    double *v = malloc((size_t)(B * n) * sizeof(double));
    double *h1 = malloc(bm * sizeof(double)), *W1 = malloc(bmn * sizeof(double));
    double *h2 = malloc(bm * sizeof(double)), *W2 = malloc(bmn * sizeof(double));
    double *I1 = malloc(bm * sizeof(double)), *I2 = malloc(bm * sizeof(double));
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)time(NULL), 7);
    for (size_t i = 0; i < bm; i++) {
        h[i] = 0.3 * kh_rng_normal(&r);
    }
    for (size_t i = 0; i < bmn; i++) {
        W[i] = 0.3 * kh_rng_normal(&r);
    }
    for (long i = 0; i < B * n; i++) {
        v[i] = kh_rng_uniform(&r);
    }
    kh_ens *cpu = kh_ens_alloc(B, m, n, precision, prm);
    kh_gpu_ens *gpu = kh_gpu_ens_alloc(B, m, n, precision, prm);
    if (!cpu || !gpu) {
        fprintf(stderr, "khsim_gpucheck: ensemble: %s\n", kh_errmsg());
        exit(1);
    }
    CHECK_OK(kh_ens_set_input(cpu, v));
    CHECK_OK(kh_gpu_ens_set_input(gpu, v));
    CHECK_OK(kh_ens_set_state(cpu, h, W));
    CHECK_OK(kh_gpu_ens_set_state(gpu, h, W));
    CHECK_OK(kh_ens_advance(cpu, steps, dt));
    CHECK_OK(kh_gpu_ens_advance(gpu, steps, dt));
    CHECK_OK(kh_ens_get(cpu, h1, W1, I1, NULL));
    CHECK_OK(kh_gpu_ens_get(gpu, h2, W2, I2, NULL));
    char what[128];
    const char *pn = precision == KH_PREC_FLOAT ? "float" : "double";
    snprintf(what, sizeof what, "ensemble euler %s: W, %ld trajectories x %ld steps", pn, B, steps);
    report(what, rel_err(W2, W1, bmn), tol);
    snprintf(what, sizeof what, "ensemble euler %s: h", pn);
    report(what, rel_err(h2, h1, bm), tol);
    snprintf(what, sizeof what, "ensemble euler %s: I", pn);
    report(what, rel_err(I2, I1, bm), tol);
    kh_ens_free(cpu);
    kh_gpu_ens_free(gpu);
    free(h), free(W), free(v), free(h1), free(W1), free(h2), free(W2), free(I1), free(I2);
}

/* The relaxation of a minibatch against solvers/steady.c. */
static void check_relax(double w_inh)
{
    const long nb = 64, m = 100;
    const double tol = 1e-12;
    double *I = malloc((size_t)(nb * m) * sizeof(double));
    double *hg = malloc((size_t)(nb * m) * sizeof(double));
    double *hc = malloc((size_t)m * sizeof(double));
    long *order = malloc(2 * (size_t)m * sizeof(long));
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)time(NULL), 8);
    for (long i = 0; i < nb * m; i++) {
        I[i] = kh_rng_normal(&r);
    }
    CHECK_OK(kh_gpu_relax(I, nb, m, w_inh, tol, 10000000, hg, NULL));
    double err = 0.0;
    long codes = 0;
    for (long s = 0; s < nb; s++) {
        kh_steady_result res;
        memset(hc, 0, (size_t)m * sizeof(double));
        CHECK_OK(kh_steady_state(I + s * m, m, w_inh, 1.0, tol, 10000000, hc, order, &res));
        for (long mu = 0; mu < m; mu++) {
            err = fmax(err, fabs(hg[s * m + mu] - hc[mu]));
            codes += kh_g(KH_K_BCM_STEP, hg[s * m + mu], 0.4, 0.2, 1.0) !=
                     kh_g(KH_K_BCM_STEP, hc[mu], 0.4, 0.2, 1.0);
        }
    }
    char what[128];
    snprintf(what, sizeof what, "relaxation, w_inh = %g: max |h_gpu - h_cpu| (%ld x %ld)", w_inh,
             nb, m);
    /* w_inh < 1: the CPU's closed form is exact, the relaxation stops within
     * tol / (1 - w_inh) of it; w_inh >= 1: both integrate the same steps. */
    report(what, err, w_inh < 1.0 ? 1e-9 : 1e-10);
    snprintf(what, sizeof what, "relaxation, w_inh = %g: codes g(h) that differ", w_inh);
    report(what, (double)codes, 0.0);
    free(I), free(hg), free(hc), free(order);
}

/* The fast rule: the same minibatches on the CPU (solvers/fast.c) and GPU,
 * `epochs` passes over N = 600 samples, or (epochs = 0) three minibatches. In
 * float a near-tie of two currents can rank differently on the two sides
 * (a probability of about 1e-5 per sample here), so float runs few samples. */
static void check_fast(int precision, double tol, long m, int epochs)
{
    const long N = 600, n = 120, nb = 50;
    kh_config *c = kh_config_alloc();
    kh_params *p = &c->p;
    p->n_hidden = m;
    p->n_visible = n;
    p->p = 3.0;
    p->R = 1.0;
    p->k = 2;
    p->delta = 0.4;
    p->precision = precision;
    double *X = malloc((size_t)(N * n) * sizeof(double));
    double *W0 = malloc((size_t)(m * n) * sizeof(double));
    double *Wc = malloc((size_t)(m * n) * sizeof(double));
    double *Wg = malloc((size_t)(m * n) * sizeof(double));
    long *order = malloc((size_t)N * sizeof(long));
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)time(NULL), 9);
    for (long i = 0; i < N * n; i++) {
        X[i] = kh_rng_uniform(&r) < 0.3 ? kh_rng_uniform(&r) : 0.0;
    }
    for (long i = 0; i < m * n; i++) {
        W0[i] = kh_rng_normal(&r);
    }
    for (long i = 0; i < N; i++) {
        order[i] = (i * 7919) % N;
    }
    kh_fast *cpu = kh_fast_alloc(p, X, N, W0, nb);
    kh_gpu_fast *gpu =
        kh_gpu_fast_alloc(X, N, n, W0, m, nb, p->p, p->R, p->k, p->delta, 1e-30, precision);
    if (!cpu || !gpu) {
        fprintf(stderr, "khsim_gpucheck: fast: %s\n", kh_errmsg());
        exit(1);
    }
    for (int e = 0; e < epochs; e++) {
        double eps = 0.02 * (1.0 - e / (double)epochs);
        for (long b0 = 0; b0 < N; b0 += nb) {
            CHECK_OK(kh_fast_step(cpu, order + b0, nb, eps));
        }
        CHECK_OK(kh_gpu_fast_epoch(gpu, order, eps));
    }
    for (long b0 = 0; epochs == 0 && b0 < 3 * nb; b0 += nb) {
        CHECK_OK(kh_fast_step(cpu, order + b0, nb, 0.02));
        CHECK_OK(kh_gpu_fast_step(gpu, order + b0, nb, 0.02));
    }
    kh_fast_get_W(cpu, Wc);
    CHECK_OK(kh_gpu_fast_get_W(gpu, Wg));
    char what[128];
    snprintf(what, sizeof what, "fast rule %s, m = %ld: W after %ld minibatches of %ld",
             precision == KH_PREC_FLOAT ? "float" : "double", m, epochs ? epochs * N / nb : 3, nb);
    report(what, rel_err(Wg, Wc, (size_t)(m * n)), tol);
    kh_fast_free(cpu);
    kh_gpu_fast_free(gpu);
    kh_config_free(c);
    free(X), free(W0), free(Wc), free(Wg), free(order);
}

/* The fast rule over groups of rows (the convolutional layers, khsim conv):
 * the same patches of random images, 16 images of 19 x 19 patches of 100
 * inputs a minibatch, on the CPU (kh_fast_step_rows) and the GPU, for
 * `steps` minibatches; W and the win counts compared. */
static void check_fast_rows(int precision, double tol, int steps)
{
    const long m = 16, n = 100, per = 361, G = 16, rows = G * per;
    kh_config *c = kh_config_alloc();
    kh_params *p = &c->p;
    p->n_hidden = m;
    p->n_visible = n;
    p->p = 4.0;
    p->R = 1.0;
    p->k = 2;
    p->delta = 0.4;
    p->fast_min_norm = 1e-30;
    p->precision = precision;
    double *V = malloc((size_t)(rows * n) * sizeof(double));
    double *W0 = malloc((size_t)(m * n) * sizeof(double));
    double *Wc = malloc((size_t)(m * n) * sizeof(double));
    double *Wg = malloc((size_t)(m * n) * sizeof(double));
    long gend[16], wc[16], wg[16];
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)time(NULL), 10);
    for (long i = 0; i < m * n; i++) {
        W0[i] = kh_rng_normal(&r);
    }
    for (long g = 0; g < G; g++) {
        gend[g] = (g + 1) * per;
    }
    kh_fast *cpu = kh_fast_alloc_rows(p, W0, rows);
    kh_gpu_fast *gpu =
        kh_gpu_fast_alloc_rows(n, W0, m, rows, G, p->p, p->R, p->k, p->delta, 1e-30, precision);
    if (!cpu || !gpu) {
        fprintf(stderr, "khsim_gpucheck: fast rows: %s\n", kh_errmsg());
        exit(1);
    }
    for (int s = 0; s < steps; s++) {
        for (long i = 0; i < rows * n; i++) {
            V[i] = kh_rng_uniform(&r) < 0.2 ? kh_rng_uniform(&r) : 0.0;
        }
        CHECK_OK(kh_fast_step_rows(cpu, V, rows, gend, G, 0.015));
        CHECK_OK(kh_gpu_fast_step_rows(gpu, V, rows, gend, G, 0.015));
    }
    kh_fast_get_W(cpu, Wc);
    CHECK_OK(kh_gpu_fast_get_W(gpu, Wg));
    kh_fast_win_counts(cpu, wc);
    CHECK_OK(kh_gpu_fast_win_counts(gpu, wg, 0));
    double wdiff = 0.0;
    for (long u = 0; u < m; u++) {
        wdiff += labs(wc[u] - wg[u]);
    }
    char what[128];
    snprintf(what, sizeof what, "fast rule over patch groups %s: W after %d minibatches",
             precision == KH_PREC_FLOAT ? "float" : "double", steps);
    report(what, rel_err(Wg, Wc, (size_t)(m * n)), tol);
    report("fast rule over patch groups: win counts (total difference)", wdiff, 0.0);
    kh_fast_free(cpu);
    kh_gpu_fast_free(gpu);
    kh_config_free(c);
    free(V), free(W0), free(Wc), free(Wg);
}

static void throughput(double copy_gbs)
{
    const long m = 100, n = 784;
    const long Bs[] = {1, 4, 16, 64, 256, 1024, 4096};
    printf("\nbatched Euler, m = %ld, n = %ld (one MNIST-sized network per trajectory)\n", m, n);
    printf("  %-7s %6s %16s %12s %10s\n", "prec", "B", "traj-steps/s", "GB/s", "of copy");
    for (int prec = 0; prec < 2; prec++) {
        const size_t rs = prec ? sizeof(float) : sizeof(double);
        for (size_t q = 0; q < sizeof Bs / sizeof Bs[0]; q++) {
            const long B = Bs[q];
            kh_ens_params *prm = malloc((size_t)B * sizeof *prm);
            for (long b = 0; b < B; b++) {
                prm[b] = (kh_ens_params){3.0, 1.0, 0.5, 1.0, 50.0, 0.4, 0.2, 1.0, 0, 0};
            }
            kh_gpu_ens *e = kh_gpu_ens_alloc(B, m, n, prec, prm);
            free(prm);
            if (!e) {
                printf("  %-7s %6ld  %s\n", prec ? "float" : "double", B, kh_errmsg());
                continue;
            }
            double *W = malloc((size_t)(B * m * n) * sizeof(double));
            double *v = malloc((size_t)(B * n) * sizeof(double));
            kh_rng r;
            kh_rng_seed(&r, 5, 5);
            for (long i = 0; i < B * m * n; i++) {
                W[i] = 0.1 * (kh_rng_uniform(&r) - 0.5);
            }
            for (long i = 0; i < B * n; i++) {
                v[i] = kh_rng_uniform(&r);
            }
            CHECK_OK(kh_gpu_ens_set_input(e, v));
            CHECK_OK(kh_gpu_ens_set_state(e, NULL, W));
            CHECK_OK(kh_gpu_ens_advance(e, 5, 1e-3)); /* warm-up */
            long steps = 20;
            double t = 0.0;
            for (;;) {
                double t0 = kh_wall_seconds();
                CHECK_OK(kh_gpu_ens_advance(e, steps, 1e-3));
                t = kh_wall_seconds() - t0;
                if (t > 0.2 || steps >= 1L << 20) {
                    break;
                }
                steps *= t > 0.02 ? 2 : 8;
            }
            double ts = (double)B * (double)steps / t;
            double gbs = ts * 2.0 * (double)(m * n) * (double)rs * 1e-9;
            printf("  %-7s %6ld %16.4g %12.1f %9.0f%%\n", prec ? "float" : "double", B, ts, gbs,
                   100.0 * gbs / copy_gbs);
            free(W);
            free(v);
            kh_gpu_ens_free(e);
        }
    }
}

static void fast_epoch(const char *mnist)
{
    kh_dataset d;
    char path[1024];
    if (kh_data_find(mnist, "train-images-idx3-ubyte", path, sizeof path) != KH_OK ||
        kh_idx_read(path, 0, -1, &d) != KH_OK) {
        printf("\nfast rule: %s has no MNIST training set: epoch not timed\n", mnist);
        return;
    }
    const long N = d.n_samples, n = d.n_features, m = 2000, nb = 100;
    double *W0 = malloc((size_t)(m * n) * sizeof(double));
    long *order = malloc((size_t)N * sizeof(long));
    kh_rng r;
    kh_rng_seed(&r, 1, 2);
    for (long i = 0; i < m * n; i++) {
        W0[i] = kh_rng_normal(&r);
    }
    kh_rng_seed(&r, 1, 3);
    kh_sim_shuffle(order, N, &r);
    printf("\nfast rule, MNIST N = %ld, n = %ld, m = %ld, p = 4, k = 2, batch %ld (s per epoch)\n",
           N, n, m, nb);
    kh_config *c = kh_config_alloc();
    kh_params *p = &c->p;
    p->n_hidden = m;
    p->n_visible = n;
    p->p = 4.0;
    p->R = 1.0;
    p->k = 2;
    p->delta = 0.4;
    for (int prec = 1; prec >= 0; prec--) {
        kh_gpu_fast *g = kh_gpu_fast_alloc(d.x, N, n, W0, m, nb, 4.0, 1.0, 2, 0.4, 1e-30, prec);
        if (!g) {
            printf("  gpu: %s\n", kh_errmsg());
            continue;
        }
        double best = 1e30;
        for (int e = 0; e < 3; e++) {
            double t0 = kh_wall_seconds();
            CHECK_OK(kh_gpu_fast_epoch(g, order, 0.02 * (1.0 - e / 3.0)));
            best = fmin(best, kh_wall_seconds() - t0);
        }
        kh_gpu_fast_free(g);
        p->precision = prec;
        kh_fast *f = kh_fast_alloc(p, d.x, N, W0, nb);
        double t0 = kh_wall_seconds();
        for (long b0 = 0; b0 < N; b0 += nb) {
            CHECK_OK(kh_fast_step(f, order + b0, N - b0 < nb ? N - b0 : nb, 0.02));
        }
        double cpu = kh_wall_seconds() - t0;
        kh_fast_free(f);
        printf("  %-7s GPU %8.3f s (best of 3)   CPU (%d threads, same machine) %8.3f s   "
               "ratio %.1fx\n",
               prec ? "float" : "double", best, omp_get_max_threads(), cpu, cpu / best);
    }
    kh_config_free(c);
    kh_dataset_release(&d);
    free(W0);
    free(order);
}

int main(int argc, char **argv)
{
    const char *mnist = argc > 1 ? argv[1] : "data/mnist";
    char name[256];
    double mem;
    int ma, mi;
    if (kh_gpu_probe(name, sizeof name, &mem, &ma, &mi) != KH_OK) {
        fprintf(stderr, "khsim_gpucheck: %s\n", kh_errmsg());
        return 2;
    }
    printf("device: %s, %.0f GiB, compute capability %d.%d\n", name, mem, ma, mi);
    printf("\nGPU against CPU on fresh random inputs (max relative difference)\n");
    check_ensemble(KH_PREC_DOUBLE, 1e-12);
    check_ensemble(KH_PREC_FLOAT, 1e-5);
    check_relax(0.5);
    check_relax(1.5);
    check_fast(KH_PREC_DOUBLE, 1e-12, 300, 2);
    check_fast(KH_PREC_FLOAT, 1e-5, 100, 0);
    check_fast_rows(KH_PREC_DOUBLE, 1e-12, 20);
    check_fast_rows(KH_PREC_FLOAT, 1e-5, 2);
    double copy = kh_gpu_copy_bandwidth((size_t)1 << 31, 10);
    printf("\ncopy bandwidth (cudaMemcpy device to device, read + write): %.1f GB/s\n", copy);
    throughput(copy);
    fast_epoch(mnist);
    printf("\n%s\n", failures ? "GPU CHECK FAILED" : "GPU check passed");
    return failures ? 1 : 0;
}
