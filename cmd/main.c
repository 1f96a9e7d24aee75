/* khsim's entry point: the only code that exits, prints errors, installs
 * signal handlers and sets the OpenMP thread count. */
#include <gsl/gsl_errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#ifdef KH_HAVE_MPI
#include <mpi.h>
#endif
#endif

#include "cmd/kh_cli.h"
#include "cmd/kh_compare.h"
#include "cmd/kh_conv_cmd.h"
#include "cmd/kh_kcap.h"
#include "cmd/kh_stdp.h"
#include "cmd/kh_sweep.h"
#include "cmd/kh_train.h"
#include "cmd/kh_verify.h"
#include "core/kh_error.h"
#include "core/kh_mem.h"
#include "core/kh_threads.h"
#include "core/kh_version.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"
#include "io/kh_isolate.h"
#include "run/kh_sim.h"

static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t stop_sender = 0; /* the process that sent it (kill), else 0 */
static struct timespec stop_time;             /* when it came */

/* Whether signal `sig` from `si` repeats the first one: the same signal sent
 * by the same process within a second. `timeout` and a kill of a process
 * group deliver one request twice (coreutils' timeout signals the command,
 * then its whole group), and a request is not a second Ctrl-C. */
static int repeats_first(int sig, const siginfo_t *si)
{
    if (!si || (si->si_code != SI_USER && si->si_code != SI_TKILL) || sig != stop_signal ||
        si->si_pid == 0 || (sig_atomic_t)si->si_pid != stop_sender) {
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe */
    const double dt =
        (double)(now.tv_sec - stop_time.tv_sec) + 1e-9 * (double)(now.tv_nsec - stop_time.tv_nsec);
    return dt < 1.0;
}

/* The first SIGINT, SIGTERM or SIGHUP asks the run to stop at its next
 * check and close its record; a second (not a repeat of the first:
 * repeats_first) ends the process, at once when each record it writes is
 * live (valid on disk at every instant), else as soon as it is. The
 * signals of one request are blocked while its handler runs, but two may
 * be taken at once by two threads (OpenMP's): which is first is decided by
 * one atomic exchange, and the other waits until the first is recorded. */
static int stop_taken = 0;

/* Records sig (from process `sender`, 0 for none) as the request to stop
 * when it is the first; 1 then, else 0. Async-signal-safe. */
static int take_stop(int sig, sig_atomic_t sender)
{
    int none = 0;
    if (!__atomic_compare_exchange_n(&stop_taken, &none, 1, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        return 0;
    }
    stop_sender = sender;
    clock_gettime(CLOCK_MONOTONIC, &stop_time);
    __atomic_store_n(&stop_signal, sig, __ATOMIC_SEQ_CST);
    return 1;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (take_stop(sig, si && (si->si_code == SI_USER || si->si_code == SI_TKILL)
                           ? (sig_atomic_t)si->si_pid
                           : 0)) {
        return;
    }
    while (__atomic_load_n(&stop_signal, __ATOMIC_SEQ_CST) == 0) {
        /* the first is being recorded by another thread, this instant */
    }
    if (!repeats_first(sig, si) && !kh_h5_defer_signal(sig)) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static int exit_code(int status)
{
    switch (status) {
    case KH_OK:
        return 0;
    case KH_ECHECK:
    case KH_ESOLVER:
    case KH_ENOCONV:
        return 1;
    case KH_EINTR:
        return 128 + (stop_signal ? (int)stop_signal : SIGINT);
    default:
        return 2;
    }
}

/* --progress writes a line at most this often (seconds). */
#define LOG_SECONDS 5.0

typedef struct progress_ctx {
    double start;
    int shown, tty;
    int log;          /* --progress: whole lines, every LOG_SECONDS, wherever stderr goes */
    double last_line; /* when the last of those was written */
    /* KHSIM_SIGNAL_AT="SIGNAL FRACTION [WORD]": the run raises SIGNAL at
     * its first progress report at FRACTION or later of its work (of the
     * phase whose progress line holds WORD). The tests interrupt runs this
     * way, at a point of the work, not of the clock. */
    int sig;
    double at;
    char word[32];
} progress_ctx;

static void show_progress(void *vctx, double frac, const char *line)
{
    progress_ctx *c = vctx;
    if (c->sig > 0 && frac >= c->at && (!c->word[0] || strstr(line, c->word))) {
        const int sig = c->sig;
        c->sig = 0;
        kill(getpid(), sig);
    }
    if (!c->tty && !c->log) {
        return;
    }
    const double now = kh_wall_seconds();
    double el = now - c->start;
    /* what is left, once a thousandth of the work tells it */
    char left[32] = "?";
    if (frac > 1e-3) {
        snprintf(left, sizeof left, "~%.0fs", el * (1.0 - frac) / frac);
    }
    if (!c->tty) {
        if (now - c->last_line >= LOG_SECONDS || frac >= 1.0) {
            c->last_line = now;
            fprintf(stderr, "[khsim] %5.1f%%  %s  elapsed %.0fs  left %s\n", 100.0 * frac, line, el,
                    left);
            fflush(stderr);
        }
    } else {
        fprintf(stderr, "\r\033[K[khsim] %5.1f%%  %s  elapsed %.0fs  left %s", 100.0 * frac, line,
                el, left);
        c->shown = 1;
    }
    /* Its reader gone (SIGPIPE is ignored during a run): a stop asked as the
     * first SIGINT asks it, so the run closes its record, which --resume
     * continues; the exit status says SIGPIPE. */
    if (kh_cli_reader_gone(stderr)) {
        take_stop(SIGPIPE, 0);
    }
}

/* The progress of a run: on a terminal unless --quiet, and the signal of
 * KHSIM_SIGNAL_AT. NULL when neither. */
static kh_progress_fn progress_start(progress_ctx *pc, const kh_cli *cli)
{
    memset(pc, 0, sizeof *pc);
    pc->start = kh_wall_seconds();
    pc->tty = !cli->quiet && isatty(STDERR_FILENO);
    pc->log = cli->progress && !pc->tty;
    pc->last_line = pc->start - LOG_SECONDS; /* the first line at once */
    const char *e = getenv("KHSIM_SIGNAL_AT");
    if (e && sscanf(e, "%d %lf %31s", &pc->sig, &pc->at, pc->word) < 2) {
        pc->sig = 0;
    }
    return pc->tty || pc->log || pc->sig > 0 ? show_progress : NULL;
}

/* OpenMP's thread count, when the study sets one (solver.threads). */
static void set_threads(const kh_config *c)
{
#ifdef _OPENMP
    if (c->p.threads > 0) {
        omp_set_num_threads((int)c->p.threads);
    }
#else
    (void)c;
#endif
}

/* Reads the study of `run`, `compare` or `train` with its --set and -o,
 * validates it and sets the thread count; the overrides, one per line, into
 * `overrides`. */
static int load_study(const kh_cli *cli, kh_config *c, char *overrides, size_t len)
{
    int s = kh_config_read(c, cli->path);
    overrides[0] = '\0';
    for (int i = 0; i < cli->n_sets && s == KH_OK; i++) {
        s = kh_config_set(c, cli->sets[i]);
        size_t l = strlen(overrides);
        snprintf(overrides + l, len - l, "%s%s", l ? "\n" : "", cli->sets[i]);
    }
    if (s == KH_OK && cli->out) {
        s = kh_config_set_kv(c, "output", "path", cli->out, "-o: ");
    }
    if (s == KH_OK && cli->force) {
        s = kh_config_set_kv(c, "output", "overwrite", "true", "--force: ");
    }
    if (s == KH_OK) {
        s = kh_config_validate(c);
    }
    if (s == KH_OK) {
        set_threads(c);
    }
    return s;
}

/* Files that may come from anywhere are read in a child process first
 * (kh_isolate.h): khsim info and verify read in the child only; `--resume`
 * and `init.path` have their file probed there (probe_file) before the run
 * reads it in-process. A reader of khsim info's output that went away
 * (`| head`) is not the file's fault: khsim exits quietly. */
static int isolated(const kh_cli *cli, const char *path, kh_child_fn fn)
{
    int sig = 0;
    int s = kh_isolated(path, fn, (void *)cli, &stop_signal, &sig);
    if (sig == SIGPIPE) {
        fflush(NULL);
        _exit(128 + SIGPIPE);
    }
    return s;
}

/* khsim info and verify, in the child. */
static int info_or_verify(const char *path, void *arg)
{
    const kh_cli *cli = arg;
    if (access(path, F_OK) != 0) {
        return KH_ERROR(KH_EIO, "%s does not exist", path);
    }
    return strcmp(cli->command, "info") == 0 ? kh_h5_info(path, stdout)
                                             : kh_verify(path, cli->json, stdout);
}

/* Every object and attribute of an HDF5 file (what khsim info reads), then,
 * for a record to resume, its /params as khsim reads them. What it is after
 * is a crash or a hang: a file that reads with an error here is left to the
 * run, whose own message says more. */
static int probe_file(const char *path, void *arg)
{
    const kh_cli *cli = arg;
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        kh_h5_info(path, null);
        fclose(null);
    }
    if (cli->resume) {
        kh_config *c = kh_config_alloc();
        if (c) {
            kh_h5_read_params(path, c);
        }
        kh_config_free(c);
    }
    return KH_OK;
}

/* The study of a record, to resume it: its /params, and it is the output.
 * The file is probed in a child process first (isolated). */
static int load_record(const kh_cli *cli, kh_config *c)
{
    int s = isolated(cli, cli->path, probe_file);
    if (s == KH_OK) {
        s = kh_h5_read_params(cli->path, c);
    }
    if (s == KH_OK) {
        snprintf(c->p.out_path, sizeof c->p.out_path, "%s", cli->path);
        set_threads(c);
    }
    return s;
}

/* The study a command runs, into *out (the caller frees it): the study file
 * with its --set and -o, or with --resume the record's own; a weights file
 * it starts from (init.path) is probed in a child process first. */
static int open_study(const kh_cli *cli, kh_config **out, char *overrides, size_t len)
{
    *out = NULL;
    overrides[0] = '\0';
    kh_config *c = kh_config_alloc();
    if (!c) {
        return KH_ENOMEM;
    }
    int s = cli->resume ? load_record(cli, c) : load_study(cli, c, overrides, len);
    if (s == KH_OK && !cli->resume &&
        (c->p.weights == KH_INIT_FILE ||
         ((c->p.tr_features == KH_FEAT_FILE || c->p.tr_features == KH_FEAT_CONV) &&
          c->p.init_path[0]))) {
        s = isolated(cli, c->p.init_path, probe_file);
    }
    if (s != KH_OK) {
        kh_config_free(c);
        return s;
    }
    *out = c;
    return KH_OK;
}

/* Clears the progress line, when one was shown. */
static void end_progress(const progress_ctx *pc)
{
    if (pc->shown) {
        fprintf(stderr, "\r\033[K");
    }
}

/* A command that runs a study: with_study opens it (open_study), starts the
 * progress line, calls the command's body, and frees the study. The body
 * runs it, calls end_progress, then says what came of it. */
typedef struct study_run {
    const kh_cli *cli;
    kh_config *c;
    const char *overrides;
    kh_progress_fn pf;
    progress_ctx *pc;
} study_run;

static int with_study(const kh_cli *cli, int (*body)(const study_run *sr))
{
    kh_config *c;
    char overrides[8192];
    int s = open_study(cli, &c, overrides, sizeof overrides);
    if (s != KH_OK) {
        return s;
    }
    /* A reader of stderr or stdout that goes away (`| head`, a closed log
     * viewer) makes the writes fail instead of killing the run mid-write:
     * show_progress then stops it as Ctrl-C does, its record closed. */
    signal(SIGPIPE, SIG_IGN);
    progress_ctx pc;
    const study_run sr = {cli, c, overrides, progress_start(&pc, cli), &pc};
    s = body(&sr);
    kh_config_free(c);
    return s;
}

static int cmd_run_body(const study_run *sr)
{
    const kh_cli *cli = sr->cli;
    kh_config *c = sr->c;
    int s;
    kh_sim_result res;
    s = cli->resume ? kh_sim_resume(c, &stop_signal, sr->pf, sr->pc, &res)
                    : kh_sim_run(c, sr->overrides, &stop_signal, sr->pf, sr->pc, &res);
    end_progress(sr->pc);
    const char *parts = "";
    if (cli->resume && (s == KH_OK || s == KH_EINTR || s == KH_ESOLVER)) {
        /* The record's /solver counts every part of the run: say those. */
        double v;
        long *counts[] = {&res.stats.steps, &res.stats.failed_steps, &res.stats.switches,
                          &res.stats.rhs_evals};
        const char *names[] = {"steps", "failed_steps", "switches", "rhs_evals"};
        for (int k = 0; k < 4; k++) {
            if (kh_h5_read_attr_double(c->p.out_path, "/solver", names[k], &v) == KH_OK) {
                *counts[k] = (long)v;
            }
        }
        if (kh_h5_read_attr_double(c->p.out_path, "/solver", "wall_seconds", &v) == KH_OK) {
            res.wall_seconds = v;
        }
        parts = " (all parts)";
    }
    if (strncmp(res.device, "cpu (", 5) == 0) {
        fprintf(stderr, "khsim: ran on the %s\n", res.device);
    }
    const char *driver = res.driver ? res.driver : "";
    if ((s == KH_OK || s == KH_EINTR || s == KH_ESOLVER) && strcmp(driver, "fast") == 0) {
        fprintf(s == KH_OK ? stdout : stderr,
                "%s: %s at epoch %ld (%ld samples), %ld snapshots; %ld minibatches in %.3f s "
                "here%s\n",
                c->p.out_path, s == KH_OK ? "complete" : (s == KH_EINTR ? "interrupted" : "failed"),
                res.epochs, res.presentations, res.snapshots, res.stats.steps, res.wall_seconds,
                parts);
    } else if (s == KH_OK || s == KH_EINTR || s == KH_ESOLVER) {
        fprintf(s == KH_OK ? stdout : stderr,
                "%s: %s, %ld presentations to t = %.6g, %ld rows, %ld snapshots; %ld steps "
                "(%ld rejected, %ld switches), %ld rhs evaluations, %.3f s%s\n",
                c->p.out_path, s == KH_OK ? "complete" : (s == KH_EINTR ? "interrupted" : "failed"),
                res.presentations, res.t_end, res.rows, res.snapshots, res.stats.steps,
                res.stats.failed_steps, res.stats.switches, res.stats.rhs_evals, res.wall_seconds,
                parts);
    }
    if (s == KH_EINTR && strcmp(driver, "ensemble") != 0) {
        /* (batched Euler does not resume) */
        fprintf(stderr, "khsim: to go on from its last snapshot: khsim run --resume %s\n",
                c->p.out_path);
    }
    return s;
}

static int cmd_run(const kh_cli *cli)
{
    return with_study(cli, cmd_run_body);
}

static int cmd_compare_body(const study_run *sr)
{
    int s = kh_compare_run(sr->c, sr->overrides, &stop_signal, sr->pf, sr->pc, stdout);
    end_progress(sr->pc);
    return s;
}

static int cmd_compare(const kh_cli *cli)
{
    return with_study(cli, cmd_compare_body);
}

/* khsim stdp: the STDP-derived rule and backprop on a binary pair. */
static int cmd_stdp_body(const study_run *sr)
{
    const kh_cli *cli = sr->cli;
    kh_config *c = sr->c;
    int s;
    s = kh_stdp_run(c, sr->overrides, cli->resume, &stop_signal, sr->pf, sr->pc);
    end_progress(sr->pc);
    if (s == KH_OK && !cli->quiet) {
        printf("%s: complete (khsim info or plots/stdp.py to read it)\n", c->p.out_path);
    }
    if (s == KH_EINTR) {
        fprintf(stderr, "khsim: to go on from the last complete epoch: khsim stdp --resume %s\n",
                c->p.out_path);
    }
    return s;
}

static int cmd_stdp(const kh_cli *cli)
{
    return with_study(cli, cmd_stdp_body);
}

/* khsim kcap: the k-cap recurrent network with local plasticity. */
static int cmd_kcap_body(const study_run *sr)
{
    const kh_cli *cli = sr->cli;
    kh_config *c = sr->c;
    int s;
    s = kh_kcap_run(c, sr->overrides, cli->resume, &stop_signal, sr->pf, sr->pc);
    end_progress(sr->pc);
    if (s == KH_OK && !cli->quiet) {
        printf("%s: complete (khsim info or plots/kcap.py to read it)\n", c->p.out_path);
    }
    if (s == KH_EINTR) {
        fprintf(stderr,
                "khsim: %s is marked interrupted; khsim kcap does not resume (a run "
                "takes seconds): run it again\n",
                c->p.out_path);
    }
    return s;
}

static int cmd_kcap(const kh_cli *cli)
{
    return with_study(cli, cmd_kcap_body);
}

/* khsim conv: convolutional layers trained by the fast rule over patches. */
static int cmd_conv_body(const study_run *sr)
{
    const kh_cli *cli = sr->cli;
    kh_config *c = sr->c;
    int s;
    kh_conv_result res;
    s = kh_conv_run(c, sr->overrides, cli->resume, &stop_signal, sr->pf, sr->pc, &res);
    end_progress(sr->pc);
    if ((s == KH_OK && !cli->quiet) || s == KH_EINTR) {
        fprintf(s == KH_OK ? stdout : stderr,
                "%s: %s; %d layers, %ld of %ld epochs on %ld images, %.1f s (plots/conv_filters.py "
                "to see the filters)\n",
                c->p.out_path, s == KH_OK ? "complete" : "interrupted", res.layers, res.epochs,
                c->p.epochs, res.images, res.seconds);
    }
    if (s == KH_EINTR) {
        fprintf(stderr, "khsim: to go on: khsim conv --resume %s\n", c->p.out_path);
    }
    return s;
}

static int cmd_conv(const kh_cli *cli)
{
    return with_study(cli, cmd_conv_body);
}

static int cmd_train_body(const study_run *sr)
{
    const kh_cli *cli = sr->cli;
    kh_config *c = sr->c;
    int s;
    kh_train_result res;
    s = kh_train_run(c, sr->overrides, cli->resume, &stop_signal, sr->pf, sr->pc, &res);
    end_progress(sr->pc);
    const int bp = c->p.tr_features == KH_FEAT_BACKPROP;
    if (bp && (s == KH_OK || (s == KH_EINTR && res.train_error >= 0.0))) {
        fprintf(s == KH_OK ? stdout : stderr,
                "%s: %s; backpropagation epoch %ld, train error %.2f %%, %s error %.2f %%; "
                "%.1f s\n",
                c->p.out_path, s == KH_OK ? "complete" : "interrupted", res.epochs,
                100.0 * res.train_error, kh_train_measure_name(&c->p), 100.0 * res.test_error,
                res.seconds_readout);
    } else if (bp && s == KH_EINTR) {
        fprintf(stderr, "%s: interrupted before the first epoch ended\n", c->p.out_path);
    } else if (s == KH_EINTR && res.train_error < 0.0) {
        /* Stopped before the readout's first epoch: no error to report. */
        fprintf(stderr, "%s: interrupted in the %s phase, before the readout's first epoch\n",
                c->p.out_path,
                res.seconds_features > 0.0 ? "features" : "unsupervised (fast rule)");
    } else if (s == KH_OK || s == KH_EINTR) {
        fprintf(s == KH_OK ? stdout : stderr,
                "%s: %s; readout epoch %ld, train error %.2f %%, %s error %.2f %%; "
                "unsupervised %.1f s, features %.1f s, readout %.1f s\n",
                c->p.out_path, s == KH_OK ? "complete" : "interrupted", res.epochs,
                100.0 * res.train_error, kh_train_measure_name(&c->p), 100.0 * res.test_error,
                res.seconds_unsupervised, res.seconds_features, res.seconds_readout);
    }
    if (s == KH_EINTR && !bp) {
        fprintf(stderr, "khsim: to go on: khsim train --resume %s\n", c->p.out_path);
    }
    return s;
}

static int cmd_train(const kh_cli *cli)
{
    return with_study(cli, cmd_train_body);
}

#ifdef KH_HAVE_MPI
static int khsim_main(int argc, char **argv);
#endif

int main(int argc, char **argv)
{
    /* OpenMP's threads sleep between regions (kh_threads.h); before
     * anything else, as it may start the program again. */
    kh_threads_wait_passive(argv);
    kh_mem_policy();
#ifndef KH_WITH_CUDA
    /* Not with CUDA: its driver's own mappings would count against it. */
    kh_error_locations(0); /* (-v is read below) */
    if (kh_mem_limit_start() != KH_OK) {
        fprintf(stderr, "khsim: %s\n", kh_errmsg());
        return 2;
    }
#endif
#ifdef KH_HAVE_MPI
    MPI_Init(&argc, &argv);
    int status = khsim_main(argc, argv);
    MPI_Finalize();
    return status;
}

static int khsim_main(int argc, char **argv)
{
#endif
    gsl_set_error_handler_off();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A hang-up (the terminal or the ssh session closed under a run) stops
     * the run as SIGTERM does, unless it is ignored (nohup). */
    struct sigaction hup;
    if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN) {
        sigaction(SIGHUP, &sa, NULL);
    }
    /* Past the file-size limit a write fails with EFBIG instead of killing
     * the process, and the run ends with its message (the room check of
     * kh_h5.c stops it before that, so that the file stays valid). */
    signal(SIGXFSZ, SIG_IGN);

    /* Source locations in messages only for -v or KHSIM_DEBUG=1, decided
     * before anything can fail. */
    const char *debug = getenv("KHSIM_DEBUG");
    int verbose = debug && *debug && strcmp(debug, "0") != 0;
    for (int i = 1; i < argc; i++) {
        verbose |= strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0;
    }
    kh_error_locations(verbose);

    kh_cli cli;
    int s = kh_cli_parse(argc, argv, &cli);
    if (s != KH_OK) {
        fprintf(stderr, "khsim: %s\n", kh_errmsg());
        return 2;
    }
    if (strcmp(cli.command, "help") == 0) {
        kh_cli_usage(stdout);
        return 0;
    }
    if (strcmp(cli.command, "version") == 0) {
        printf("khsim %s\n", KH_VERSION);
        return 0;
    }
    if (strcmp(cli.command, "data-dir") == 0) {
        char dir[KH_PATH_MAX];
        if (kh_config_data_dir(dir, sizeof dir) != KH_OK) {
            fprintf(stderr, "khsim: %s\n", kh_errmsg());
            return 2;
        }
        printf("%s\n", dir);
        return 0;
    }
    if (strcmp(cli.command, "info") == 0 || strcmp(cli.command, "verify") == 0) {
        s = isolated(&cli, cli.path, info_or_verify);
    } else if (strcmp(cli.command, "sweep") == 0) {
        signal(SIGPIPE, SIG_IGN); /* a closed reader stops it, its index written */
        s = kh_sweep_run(cli.path, &stop_signal, stdout);
    } else if (strcmp(cli.command, "train") == 0) {
        s = cmd_train(&cli);
    } else if (strcmp(cli.command, "compare") == 0) {
        s = cmd_compare(&cli);
    } else if (strcmp(cli.command, "stdp") == 0) {
        s = cmd_stdp(&cli);
    } else if (strcmp(cli.command, "conv") == 0) {
        s = cmd_conv(&cli);
    } else if (strcmp(cli.command, "kcap") == 0) {
        s = cmd_kcap(&cli);
    } else {
        s = cmd_run(&cli);
    }
    int rank = 0;
#ifdef KH_HAVE_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &rank); /* a sweep's outcome is said once, by rank 0 */
#endif
    if (s != KH_OK && rank == 0) {
        fprintf(stderr, "khsim: %s: %s\n", kh_strstatus(s), kh_errmsg());
        int automatic;
        const double limit = kh_mem_limit_bytes(&automatic);
        if (s == KH_ENOMEM && limit > 0.0) {
            fprintf(stderr,
                    "khsim: its memory is limited to %.2f GiB (%s); KHSIM_MEMORY=unlimited lifts "
                    "the limit, KHSIM_MEMORY=SIZE (e.g. 8G) sets another\n",
                    limit / (1024.0 * 1024 * 1024),
                    automatic ? "what the machine had available when it started, and room for "
                                "reservations never used"
                              : "KHSIM_MEMORY");
        }
    }
    if (s == KH_EIO) {
        /* After a failed write HDF5 may still hold the file open, and its
         * clean-up at exit would close it again (a crash in HDF5 1.10):
         * leave without the exit handlers. */
        fflush(NULL);
        _exit(exit_code(s));
    }
    return exit_code(s);
}
