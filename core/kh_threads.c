/* The thread policy of kh_threads.h. */
#include "core/kh_threads.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
/* OpenBLAS's cblas.h (openblas_set_num_threads) includes <complex.h>, whose
 * macro I is not used here. */
#include <cblas.h>

/* Each trial times at least this long on each count (seconds of wall time,
 * and at least one unit of work). */
#define TRIAL_SECONDS 0.15
/* A trial every so many seconds: the trials' cost is bounded by about
 * 2 TRIAL_SECONDS / PERIOD_SECONDS of the run when the count they try is
 * many times slower. */
#define PERIOD_SECONDS 4.0
/* All threads are kept only when they do more than this much more work per
 * second than one: near a tie, one thread leaves the machine to the others. */
#define GAIN_MIN 1.15

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int omp_max(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The most threads OpenBLAS is given: one per online processor (more never
 * help it), and under a limit on address space (ulimit -v) or data one per
 * 512 MB of it. Each thread OpenBLAS starts maps a 128 MB buffer, and the C
 * library a 64 MB arena for it; an OpenBLAS thread that cannot map its
 * buffer retries forever, deaf to signals (solver.threads = 16 under
 * ulimit -v 2000000 hung so; 8 ran). */
#define BLAS_BYTES_PER_THREAD (512.0 * 1024 * 1024)
static int blas_cap(void)
{
    long cap = sysconf(_SC_NPROCESSORS_ONLN);
    if (cap < 1) {
        cap = 1;
    }
    /* The same under a limit on data (khsim's memory limit, core/kh_mem.h,
     * or ulimit -d). */
    const int limits[2] = {RLIMIT_AS, RLIMIT_DATA};
    for (int k = 0; k < 2; k++) {
        struct rlimit rl;
        if (getrlimit(limits[k], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
            const double fit = (double)rl.rlim_cur / BLAS_BYTES_PER_THREAD;
            cap = fit < 1.0 ? 1 : (fit < (double)cap ? (long)fit : cap);
        }
    }
    return (int)cap;
}

static void set_count(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    const int cap = blas_cap();
    openblas_set_num_threads(n > cap ? cap : n);
}

void kh_threads_wait_passive(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("KHSIM_NO_REEXEC")) {
        return;
    }
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) {
        return;
    }
    /* OpenBLAS's own pool yields instead of spinning when told the same. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    }
    execv("/proc/self/exe", argv);
    /* No /proc: the run goes on with the default waiting. */
}

void kh_threads_start(kh_threads *g, long requested, double work)
{
    memset(g, 0, sizeof *g);
    g->max = omp_max();
    if (requested > 0) {
        g->fixed = 1;
        g->max = (int)requested;
        g->cur = g->max;
    } else if (g->max <= 1 || !KH_PAR(work)) {
        g->fixed = 1;
        g->cur = 1;
    } else {
        g->cur = g->max;
        g->phase = 1;
        g->t0 = now();
        g->w0 = 0.0;
    }
    set_count(g->cur);
}

void kh_threads_tick(kh_threads *g, double work_done)
{
    if (g->fixed) {
        return;
    }
    const double t = now();
    if (g->phase == 0) {
        if (t >= g->next) {
            g->phase = 1;
            g->t0 = t;
            g->w0 = work_done;
            set_count(g->max);
        }
        return;
    }
    const double dt = t - g->t0, dw = work_done - g->w0;
    if (dt < TRIAL_SECONDS || dw <= 0.0) {
        return;
    }
    if (g->phase == 1) {
        g->rate_max = dw / dt;
        g->phase = 2;
        g->t0 = t;
        g->w0 = work_done;
        set_count(1);
        return;
    }
    const double rate_one = dw / dt;
    const int choice = g->rate_max > GAIN_MIN * rate_one ? g->max : 1;
    if (g->trials > 0 && choice != g->cur) {
        g->changes++;
    }
    g->cur = choice;
    g->trials++;
    g->phase = 0;
    g->next = t + PERIOD_SECONDS;
    set_count(g->cur);
}

void kh_threads_stop(kh_threads *g)
{
    if (!g->fixed || g->cur != g->max) {
        set_count(g->max);
    }
}
