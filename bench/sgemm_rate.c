/* The machine's single-precision GEMM rate through OpenBLAS, at the shape of
 * the fast rule's current product (batch x hidden x inputs), for make bench:
 *     sgemm_rate BATCH HIDDEN INPUTS SECONDS
 * prints "sgemm GFLOP/s <rate>". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sgemm_rate BATCH HIDDEN INPUTS SECONDS\n");
        return 2;
    }
    int b = atoi(argv[1]), m = atoi(argv[2]), n = atoi(argv[3]);
    double secs = atof(argv[4]);
    float *V = malloc(sizeof(float) * (size_t)b * (size_t)n);
    float *W = malloc(sizeof(float) * (size_t)m * (size_t)n);
    float *C = malloc(sizeof(float) * (size_t)b * (size_t)m);
    if (!V || !W || !C || b < 1 || m < 1 || n < 1) {
        fprintf(stderr, "sgemm_rate: bad sizes or out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < (size_t)b * (size_t)n; i++) {
        V[i] = (float)((i * 7919) % 255) / 255.0f;
    }
    for (size_t i = 0; i < (size_t)m * (size_t)n; i++) {
        W[i] = (float)((i * 104729) % 2001) / 1000.0f - 1.0f;
    }
    long reps = 0;
    double t0 = now(), t = t0;
    while (t - t0 < secs || reps < 3) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, m, n, 1.0f, V, n, W, n, 0.0f, C, m);
        reps++;
        t = now();
    }
    printf("sgemm GFLOP/s %.2f  (%ld calls of %d x %d x %d, %.3f s, checksum %g)\n",
           2.0 * b * m * (double)n * (double)reps / (t - t0) * 1e-9, reps, b, m, n, t - t0,
           (double)C[0]);
    free(V);
    free(W);
    free(C);
    return 0;
}
