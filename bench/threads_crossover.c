/* The crossover of a parallel loop: the moments pass of the right-hand side
 * (I_mu, B_mu over the m rows of W, kh_row_moments of core/kh_kernels.h, the
 * arithmetic khsim runs) timed on one thread and on all, for m n from 1e3 to
 * 4e6 elements (n = 784, p = 3). Prints microseconds per pass and the ratio
 * one / all: where it passes 1 is where threads start to pay. Run it with
 * OMP_WAIT_POLICY=passive, as khsim runs (make bench does). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/kh_kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per pass, the best of 5 batches of passes lasting about 0.05 s. */
static double pass_seconds(const double *W, const double *v, long m, long n, double *I, double *B,
                           int threads)
{
    double best = 1e30;
    long reps = 1;
    for (int trial = 0; trial < 6; trial++) {
        double t0 = now();
        for (long r = 0; r < reps; r++) {
#pragma omp parallel for default(none) shared(W, v, I, B) firstprivate(m, n) num_threads(threads)  \
    schedule(static)
            for (long mu = 0; mu < m; mu++) {
                kh_row_moments(W + mu * n, v, n, 1.0, 1, &I[mu], &B[mu], NULL);
            }
        }
        double dt = (now() - t0) / (double)reps;
        if (trial == 0) {
            reps = (long)(0.05 / dt) + 1;
        } else if (dt < best) {
            best = dt;
        }
    }
    return best;
}

int main(void)
{
    const long n = 784, m_max = 5120;
    double *W = malloc(sizeof(double) * (size_t)(m_max * n));
    double *v = malloc(sizeof(double) * (size_t)n);
    double *I = malloc(sizeof(double) * (size_t)m_max), *B = malloc(sizeof(double) * (size_t)m_max);
    if (!W || !v || !I || !B) {
        return 1;
    }
    for (long i = 0; i < m_max * n; i++) {
        W[i] = 0.1 * (double)((i * 2654435761L) % 2001 - 1000) / 1000.0;
    }
    for (long i = 0; i < n; i++) {
        v[i] = (double)(i % 7) / 7.0;
    }
    const int all = omp_get_max_threads();
    printf("crossover: the moments pass (n = 784, p = 3) on 1 and %d threads\n", all);
    printf("  %10s %8s %12s %12s %8s\n", "m n", "m", "1 thread us", "all us", "1 / all");
    const long ms[] = {2, 8, 32, 64, 128, 256, 512, 1024, 2048, 5120};
    for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
        const long m = ms[k];
        double t1 = pass_seconds(W, v, m, n, I, B, 1);
        double ta = pass_seconds(W, v, m, n, I, B, all);
        printf("  %10ld %8ld %12.2f %12.2f %8.2f\n", m * n, m, 1e6 * t1, 1e6 * ta, t1 / ta);
    }
    free(W);
    free(v);
    free(I);
    free(B);
    return 0;
}
