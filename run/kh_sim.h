/* The run loop of `khsim run`: loads the inputs and the initial weights,
 * allocates the model and the solver, then for each presentation advances
 * the solver to each output time and appends the record (GSL's INITIALIZE,
 * ITERATE, TEST form). */
#ifndef KH_SIM_H
#define KH_SIM_H

#include <signal.h>

#include "core/kh_clock.h"
#include "core/kh_rng.h"
#include "io/kh_config.h"
#include "solvers/kh_solver.h"

typedef struct kh_sim_result {
    kh_solver_stats stats;
    long rows, snapshots, presentations;
    long epochs;        /* method = fast: epochs completed */
    double flops;       /* method = fast: floating-point operations performed */
    char device[320];   /* batched euler: where it ran, and why */
    const char *driver; /* the driver that ran it (run/kh_run.c): fast, ensemble, ode */
    double t_end, wall_seconds;
} kh_sim_result;

/* Seconds between two progress reports: 0.25, or KHSIM_PROGRESS_SECONDS
 * from the environment (0: at every step; the tests' interrupts use it). */
double kh_progress_seconds(void);

/* Called at most a few times a second: frac in [0, 1], a short status line. */
typedef void (*kh_progress_fn)(void *ctx, double frac, const char *line);

/* Runs the study c (validated; c->p.n_visible is resolved from the data) and
 * writes c->p.out_path. `overrides` (may be NULL) is stored in the file;
 * `stop` (may be NULL) is polled, and when raised the run ends with
 * KH_EINTR and a valid file. Everything that can be checked before
 * computing (inputs, initial weights, model and solver parameters, the
 * output path) is checked before the file is created.
 * Returns KH_OK, KH_EINVAL, KH_EIO, KH_ENOMEM, KH_ESOLVER, KH_EINTR. */
int kh_sim_run(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
               kh_progress_fn progress, void *progress_ctx, kh_sim_result *res);

/* Called by the run loop around each presentation s (for khsim compare):
 * begin after the reset of h and the solver's start, before the first step,
 * with the state y and the input v [n]; end when the presentation is over.
 * Both borrow y; a status other than KH_OK ends the run with it. */
typedef struct kh_sim_hooks {
    void *ctx;
    int (*begin)(void *ctx, long s, const double *y, const double *v);
    int (*end)(void *ctx, long s, const double *y);
} kh_sim_hooks;

/* Continues the record c->p.out_path (c read from it by kh_h5_read_params)
 * from its last snapshot: the state there (W, and h and any extra state from
 * /snapshots/state), the rows after it dropped, the presentation it lies in
 * gone on with (or started, at a boundary). A fixed-step method gives the
 * uninterrupted run's numbers bit for bit; an adaptive one restarts its step
 * control there, and agrees within its tolerance. /solver records
 * resumed_at_t. Same codes as kh_sim_run; KH_EINVAL when there is nothing to
 * resume; KH_ENOTSUP for batched Euler. method = fast resumes at its last
 * complete epoch (kh_sim_fast_run_ex). */
int kh_sim_resume(kh_config *c, const volatile sig_atomic_t *stop, kh_progress_fn progress,
                  void *progress_ctx, kh_sim_result *res);

/* The ODE driver (run/kh_sim.c): one trajectory through a registered solver;
 * a new run, or (resume != 0) the continuation of the record. kh_sim_run,
 * kh_sim_resume and kh_sim_run_hooked reach it through the driver table. */
int kh_sim_ode_run(kh_config *c, const char *overrides, int resume,
                   const volatile sig_atomic_t *stop, kh_progress_fn progress, void *progress_ctx,
                   const kh_sim_hooks *hooks, kh_sim_result *res);

/* kh_sim_run with hooks (may be NULL); not for method = fast. */
int kh_sim_run_hooked(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
                      kh_progress_fn progress, void *progress_ctx, const kh_sim_hooks *hooks,
                      kh_sim_result *res);

/* The run of method = fast (run/kh_sim_fast.c): epochs of shuffled
 * minibatches through the fast rule, recorded as docs/fast_rule.md describes
 * (/epochs, /fast/order, a snapshot per epoch or per output.snapshot_batches);
 * same contract and codes as kh_sim_run. With resume != 0 its continuation:
 * c holds the parameters of the record c->p.out_path (kh_h5_read_params),
 * which is continued from its last complete epoch (the orders of the epochs
 * done are replayed, so the result is the uninterrupted run's). */
int kh_sim_fast_run_ex(kh_config *c, const char *overrides, int resume,
                       const volatile sig_atomic_t *stop, kh_progress_fn progress,
                       void *progress_ctx, kh_sim_result *res);

/* Whether a study takes batched Euler (method = euler with solver.batch > 1,
 * device cuda | auto, or precision float). */
int kh_sim_ens_wanted(const kh_params *p);

/* The run of batched Euler (run/kh_sim_ens.c): B trajectories (init.seed + b)
 * on the CPU or the GPU; trajectory 0 in the record, all of them
 * in /ensemble. Same contract as kh_sim_run, which calls it when
 * kh_sim_ens_wanted; KH_ENOTSUP for device = cuda without a device. */
int kh_sim_ens_run(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
                   kh_progress_fn progress, void *progress_ctx, kh_sim_result *res);

/* The output times of a presentation, shared by the run loops of kh_sim.c
 * and kh_sim_ens.c: what advances the state (to `target`, setting *t) and
 * what writes a record row or a snapshot at t. */
typedef struct kh_sim_outputs {
    void *ctx;
    int (*advance)(void *ctx, double *t, double target);
    int (*record)(void *ctx, double t, long s);
    int (*snapshot)(void *ctx, double t);
    /* The progress line: "presentation s/N  t = ..." then `tag`; stop, when
     * not NULL, is polled before each advance (KH_EINTR). */
    kh_progress_fn progress;
    void *pctx;
    const char *tag;
    const volatile sig_atomic_t *stop;
    double t_total, last_report;
} kh_sim_outputs;

/* Presentation s of N, [t_start, t_end], from *t: advances to each record
 * time t_start + k record_every (k from `k` on; a row at t_end is the next
 * presentation's first) and each snapshot time next_snap snapshot_every
 * (*next_snap and *n_snap counted up), whichever comes first, and writes
 * there. KH_OK, or the first failure with *t at the last state reached. */
int kh_sim_presentation(const kh_params *p, kh_sim_outputs *o, long s, long N, double t_start,
                        double t_end, double *t, long k, long *next_snap, long *n_snap);

/* The end of a run at t: the last row (sample N - 1), and a snapshot when the
 * last one is older than t. */
int kh_sim_finish(const kh_params *p, kh_sim_outputs *o, double t, long N, long next_snap,
                  long *n_snap);

/* order <- a uniformly random permutation of 0..N-1 (Fisher-Yates) from r. */
void kh_sim_shuffle(long *order, long N, kh_rng *r);

/* Whether the study c may write c->p.out_path: KH_EIO when its directory is
 * missing or read-only, or the file exists and is not writable; KH_EINVAL
 * when it is a symbolic link or not a regular file, is the study file or a
 * file the study reads (input.path, init.path), or (unless `resume` or
 * output.overwrite) exists and is not empty. Else KH_OK. */
int kh_sim_check_output(const kh_config *c, int resume);

/* The directory of output path `path` ("." for a bare name), into dir. */
void kh_sim_output_dir(const char *path, char *dir, size_t len);

/* The free bytes on the file system of output path `path` (HUGE_VAL when it
 * cannot be told), its directory into dir. */
double kh_sim_output_room(const char *path, char *dir, size_t len);

/* Rows, steps or presentations a run may ask for: more cannot finish, and
 * is refused before the record is created. */
#define KH_SIM_MAX_WORK 1e13

/* A run whose pace, after minutes within one presentation, would need more
 * than this many seconds (a century) to finish is stopped
 * (kh_sim_presentation). */
#define KH_SIM_HOPELESS_SECONDS 3.15576e9

/* Fills W [m, n] as init.weights says (normal or uniform with init.seed, or
 * the last /snapshots/W row of init.path). KH_OK, KH_EIO, KH_EINVAL. */
int kh_sim_init_weights(const kh_params *p, double *W);

#endif
