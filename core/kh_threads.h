/* khsim's thread policy: how many threads a run uses, and when.
 *
 * Three parts, each for a machine that other processes share:
 * - Waiting: OpenMP's threads wait passively (they sleep between parallel
 *   regions instead of spinning), unless the environment already sets
 *   OMP_WAIT_POLICY. libgomp reads it only when it loads, so
 *   kh_threads_wait_passive re-executes the program once with it set.
 * - Size: a loop whose work is below KH_PAR_MIN_WORK runs on one thread
 *   (`#pragma omp parallel for if (KH_PAR(work))`): there waking a second
 *   thread costs more than it saves.
 * - Load: with solver.threads = 0 a run's driver keeps a kh_threads governor,
 *   which every few seconds times the run's own work on all threads and on
 *   one, and keeps the faster (one unless all threads are clearly faster).
 *   A run therefore follows the machine as other processes start and stop.
 *   With solver.threads = N it uses N threads throughout.
 *
 * The governor and main are the only code that sets the thread count
 * (OpenMP's and OpenBLAS's). */
#ifndef KH_THREADS_H
#define KH_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* The work (array elements a loop reads and combines, e.g. m * n for one
 * pass over W) below which a parallel loop runs on one thread. Measured on
 * a 2-core machine with passive waiting (bench/threads_crossover.c, the
 * table in docs/performance.md): two threads first win at about 1e5
 * elements of the moments pass; the threshold sits above that so that a
 * region whose second thread is held up by another process loses little. */
#define KH_PAR_MIN_WORK 200000L

/* For OpenMP's if clause: nonzero when `work` (elements) is worth threads. */
#define KH_PAR(work) ((long)(work) >= KH_PAR_MIN_WORK)

/* Re-executes the running program with OMP_WAIT_POLICY=passive when the
 * environment sets no OMP_WAIT_POLICY (and KHSIM_NO_REEXEC is unset);
 * returns only when nothing was to be done or the re-execution failed (the
 * run then goes on with OpenMP's default waiting). argv is main's. */
void kh_threads_wait_passive(char **argv);

/* The governor of one run (see above). Plain data; no allocation. */
typedef struct kh_threads {
    int max;         /* threads available (OpenMP's count at the start) */
    int cur;         /* threads in use now */
    int fixed;       /* the study fixed the count: never changed */
    int phase;       /* 0: keeping cur; 1: timing max; 2: timing one */
    double t0, w0;   /* wall time and work at the start of the phase */
    double rate_max; /* work per second measured on max threads */
    double next;     /* wall time of the next trial */
    long trials;     /* trials done */
    long changes;    /* times the chosen count differed from the one before */
} kh_threads;

/* Starts a governor. `requested`: solver.threads (0: governed). `work`: the
 * work of the run's largest loop (elements); below KH_PAR_MIN_WORK no loop
 * would use threads, and the run keeps one. Sets the thread count. */
void kh_threads_start(kh_threads *g, long requested, double work);

/* Tells the governor the run's total work done so far (any monotone count:
 * right-hand-side evaluations, samples); it may change the thread count.
 * Call it between units of work, never inside a parallel region. */
void kh_threads_tick(kh_threads *g, double work_done);

/* Restores the thread count the governor found at kh_threads_start. */
void kh_threads_stop(kh_threads *g);

#ifdef __cplusplus
}
#endif
#endif
