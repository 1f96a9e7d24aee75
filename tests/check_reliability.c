/* Nothing lost, nothing crashes: a disk that fills up mid-run, the same
 * numbers twice and for 1 and 2 threads, and the fuzzers' regression inputs. */
#include <dirent.h>
#include <malloc.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "core/kh_error.h"
#include "core/kh_mem.h"
#include "io/kh_config.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "run/kh_sim.h"

/* The file-size limit (RLIMIT_FSIZE, as a full disk) reached mid-run: exit 2,
 * a message, and a valid file whose every row is whole and audits clean. */
START_TEST(test_disk_full)
{
    char out[512], cmd[2048];
    kh_test_tmpname(out, sizeof out, ".h5");
    const char *bin = getenv("KHSIM") ? getenv("KHSIM") : "./khsim";
    /* ulimit -f counts 512-byte blocks: 3.2 MB, a fifth of the whole record (where a
     * snapshot's state used to land without its W). */
    snprintf(cmd, sizeof cmd,
             "sh -c 'ulimit -f 6200; exec %s run examples/manzali_fig5.ini -o %s --quiet' "
             "2>%s.err",
             bin, out, out);
    int status = system(cmd);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    char err[1200], text[4096] = "";
    snprintf(err, sizeof err, "%s.err", out);
    FILE *f = fopen(err, "r");
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "no room"), "message: %s", text);
    char st[64];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", st, sizeof st), KH_OK);
    ck_assert_str_eq(st, "failed");
    int rank;
    long dt[3], dh[3], dw[3];
    double *t = kh_test_read(out, "/trajectory/t", &rank, dt);
    double *h = kh_test_read(out, "/trajectory/h", &rank, dh);
    double *W = kh_test_read(out, "/snapshots/W", &rank, dw);
    ck_assert_int_gt(dt[0], 100);
    ck_assert_int_eq(dt[0], dh[0]);
    ck_assert_int_ge(dw[0], 1);
    /* A snapshot's state and W land together or not at all. */
    long ds[3];
    double *state = kh_test_read(out, "/snapshots/state", &rank, ds);
    ck_assert_int_eq(ds[0], dw[0]);
    free(state);
    snprintf(cmd, sizeof cmd, "%s verify %s >/dev/null", bin, out);
    ck_assert_int_eq(system(cmd), 0);
    free(t);
    free(h);
    free(W);
    remove(err);
    remove(out);
}
END_TEST

/* Reads dataset ds of two files and requires them equal bit for bit. */
static void same_dataset(const char *a, const char *b, const char *ds)
{
    int rank;
    long da[3], db[3];
    double *x = kh_test_read(a, ds, &rank, da);
    double *y = kh_test_read(b, ds, &rank, db);
    long len = 1;
    for (int i = 0; i < rank; i++) {
        ck_assert_int_eq(da[i], db[i]);
        len *= da[i];
    }
    for (long i = 0; i < len; i++) {
        ck_assert_msg(memcmp(&x[i], &y[i], sizeof(double)) == 0, "%s differs at %ld: %.17g %.17g",
                      ds, i, x[i], y[i]);
    }
    free(x);
    free(y);
}

/* The largest |a - b| over dataset ds of two files, which must have the
 * same shape. */
static double max_difference(const char *a, const char *b, const char *ds)
{
    int rank;
    long da[3] = {1, 1, 1}, db[3] = {1, 1, 1};
    double *x = kh_test_read(a, ds, &rank, da);
    double *y = kh_test_read(b, ds, &rank, db);
    long len = 1;
    for (int i = 0; i < rank; i++) {
        ck_assert_int_eq(da[i], db[i]);
        len *= da[i];
    }
    double e = 0.0;
    for (long i = 0; i < len; i++) {
        e = fmax(e, fabs(x[i] - y[i]));
    }
    free(x);
    free(y);
    return e;
}

static void run_with_threads(const char *ini, int threads, char *out, size_t len)
{
    kh_config *c = kh_test_config(ini);
    kh_test_tmpname(out, len, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    omp_set_num_threads(threads);
    kh_sim_result res;
    int s = kh_sim_run(c, NULL, NULL, NULL, NULL, &res);
    omp_set_num_threads(2);
    ck_assert_msg(s == KH_OK, "%s", kh_errmsg());
    kh_config_free(c);
}

/* The same study and seeds give identical datasets run after run, and for 1
 * and 2 OpenMP threads: the exact dynamics (dopri5, switches located), the
 * batched Euler ensemble and the fast rule (sparse data, no BLAS threads in
 * play). */
START_TEST(test_determinism)
{
    const char *studies[] = {
        "[network]\nhidden = 24\np = 3\nw_inh = 0.5\ntau_L = 20\n[learning]\nh_star = 0.1\n"
        "[input]\nsamples = 3\npresentation_time = 4\nreset_h = true\n[init]\nscale = 0.1\n"
        "[output]\nrecord_every = 0.5\nsnapshot_every = 4\n",
        "[network]\nhidden = 8\np = 3\nw_inh = 0.5\n[input]\nsamples = 2\npresentation_time = 2\n"
        "[init]\nscale = 0.1\n[solver]\nmethod = euler\ndt = 0.01\nbatch = 3\nprecision = float\n"
        "[output]\nrecord_every = 0.5\n",
        "[network]\nhidden = 40\np = 4\n[learning]\nepochs = 2\nbatch = 25\n[input]\n"
        "samples = 300\n[solver]\nmethod = fast\n",
    };
    const char *ds[3][3] = {{"/trajectory/h", "/trajectory/current", "/snapshots/W"},
                            {"/trajectory/h", "/ensemble/pnorm", "/ensemble/W_final"},
                            {"/trajectory/current", "/epochs/sphere_dev_mean", "/snapshots/W"}};
    char a[512], b[512], c[512];
    run_with_threads(studies[_i], 2, a, sizeof a);
    run_with_threads(studies[_i], 2, b, sizeof b);
    run_with_threads(studies[_i], 1, c, sizeof c);
    for (int k = 0; k < 3; k++) {
        same_dataset(a, b, ds[_i][k]);
        same_dataset(a, c, ds[_i][k]);
    }
    remove(a);
    remove(b);
    remove(c);
}
END_TEST

/* Every input the fuzzers found a crash or a hang with (tests/fuzz/regress/)
 * is now a clean error or a clean parse, through the same entry points. */
START_TEST(test_fuzz_regressions)
{
    const char *dir = "tests/fuzz/regress";
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    long n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strncmp(e->d_name, "ini-", 4) == 0) {
            kh_config *c = kh_config_alloc();
            int s = kh_config_read(c, path);
            if (s == KH_OK) {
                kh_config_validate(c);
            }
            kh_config_free(c);
        } else if (strncmp(e->d_name, "idx-", 4) == 0) {
            kh_dataset ds;
            memset(&ds, 0, sizeof ds);
            if (kh_idx_read(path, 0, -1, &ds) == KH_OK) {
                kh_dataset_release(&ds);
            }
        } else if (strncmp(e->d_name, "h5-", 3) == 0) {
            /* Through the binary: info and verify read in a child process,
             * run and train --resume and init.path probe the file in one,
             * and a crash inside HDF5 must come out as exit 2, not a signal.
             * The resumes write, so they get a copy. */
            const char *bin = getenv("KHSIM") ? getenv("KHSIM") : "./khsim";
            char copy[512], study[512];
            kh_test_tmpname(copy, sizeof copy, ".h5");
            kh_test_tmpname(study, sizeof study, ".ini");
            FILE *f = fopen(study, "w");
            ck_assert_ptr_nonnull(f);
            fprintf(f,
                    "[network]\nhidden = 3\ninputs = 4\n[input]\nsource = uniform\n"
                    "samples = 2\n[init]\nweights = file\npath = %s\n",
                    copy);
            fclose(f);
            const char *cmds[5] = {"info %s", "verify %s", "run --resume %s --quiet",
                                   "train --resume %s --quiet", "run %s -o %s.out.h5 --quiet"};
            for (int k = 0; k < 5; k++) {
                char args[1200], cmd[4096];
                snprintf(args, sizeof args, cmds[k], k == 4 ? study : copy, copy);
                snprintf(cmd, sizeof cmd, "cp %s %s && KHSIM_READ_TIMEOUT=2 %s %s >/dev/null 2>&1",
                         path, copy, bin, args);
                int st = system(cmd);
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) <= 2, "khsim %s on %s: status %d",
                              args, path, st);
            }
            char out[600];
            snprintf(out, sizeof out, "%s.out.h5", copy);
            remove(out);
            remove(copy);
            remove(study);
        }
        n++;
    }
    closedir(d);
    printf("check_reliability: %ld fuzz regression inputs replayed\n", n);
}
END_TEST

/* Interrupted by SIGINT, then `khsim run --resume`: Euler gives the
 * uninterrupted run's datasets bit for bit, dopri5 and reduced agree within
 * their tolerance, the fast rule (resumed at an epoch's end) bit for bit. */
START_TEST(test_run_resume)
{
    const char *ini[4] = {
        "[network]\nhidden = 12\np = 3\nw_inh = 0.5\ntau_L = 20\n[learning]\nh_star = 0.1\n"
        "[input]\nsamples = 6\npresentation_time = 5\nreset_h = true\n[init]\nscale = 0.1\n"
        "[solver]\nmethod = euler\ndt = 0.001\n[output]\nrecord_every = 0.25\nsnapshot_every = 2\n",
        "[network]\nhidden = 12\np = 3\nw_inh = 0.5\ntau_L = 20\n[learning]\nh_star = 0.1\n"
        "[input]\nsamples = 40\npresentation_time = 5\nreset_h = true\n[init]\nscale = 0.1\n"
        "[solver]\nrtol = 1e-9\natol = 1e-12\n[output]\nrecord_every = 0.25\n"
        "snapshot_every = 2\n",
        "[network]\nhidden = 100\np = 4\n[learning]\nepochs = 150\nbatch = 50\n[input]\n"
        "samples = 1000\n[solver]\nmethod = fast\n",
        "[network]\nhidden = 12\np = 3\nw_inh = 0.5\ntau_L = 20\n[learning]\nh_star = 0.1\n"
        "[input]\nsamples = 40\npresentation_time = 5\nreset_h = true\n[init]\nscale = 0.1\n"
        "[solver]\nmethod = reduced\nrtol = 1e-9\natol = 1e-12\n[output]\nrecord_every = 0.25\n"
        "snapshot_every = 2\n",
    };
    const double when[4] = {0.5, 0.5, 0.5, 0.5};
    const int adaptive = _i == 1 || _i == 3;
    char study[512], full[600], cut[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini", ini[_i]);
    snprintf(full, sizeof full, "%s.full.h5", study);
    snprintf(cut, sizeof cut, "%s.cut.h5", study);
    const char *a_full[] = {"run", study, "-o", full, "--quiet", NULL};
    ck_assert_int_eq(kh_test_khsim(a_full, err, sizeof err, 0), 0);
    /* The stop falls at a fraction of the run's work (whatever the load). */
    const char *a_cut[] = {"run", study, "-o", cut, "--quiet", NULL};
    char stop_at[32];
    snprintf(stop_at, sizeof stop_at, "%g", when[_i]);
    int code = kh_test_khsim_at(a_cut, err, sizeof err, SIGINT, stop_at);
    ck_assert_msg(code == 130, "the run was to be interrupted (exit %d): %s", code, err);
    double steps_cut, wall_cut, steps_res, wall_res, steps_full;
    ck_assert_int_eq(kh_h5_read_attr_double(cut, "/solver", "steps", &steps_cut), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_double(cut, "/solver", "wall_seconds", &wall_cut), KH_OK);
    const char *a_res[] = {"run", "--resume", cut, "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(a_res, err, sizeof err, 0) == 0, "resume: %s", err);
    char status[64];
    ck_assert_int_eq(kh_h5_read_attr_string(cut, "/", "status", status, sizeof status), KH_OK);
    ck_assert_str_eq(status, "complete");
    /* /solver counts the work of both parts: more than the first part's, and
     * for the fixed-step methods at least the uninterrupted run's (the resume
     * redoes what followed its last snapshot). */
    ck_assert_int_eq(kh_h5_read_attr_double(cut, "/solver", "steps", &steps_res), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_double(cut, "/solver", "wall_seconds", &wall_res), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_double(full, "/solver", "steps", &steps_full), KH_OK);
    ck_assert_msg(steps_res > steps_cut && wall_res > wall_cut,
                  "steps %g after the resume, %g before; wall %g s, %g s", steps_res, steps_cut,
                  wall_res, wall_cut);
    if (!adaptive) {
        ck_assert_msg(steps_res >= steps_full, "steps %g of both parts < %g of the whole run",
                      steps_res, steps_full);
    }
    if (_i == 2) {
        /* The fast rule: the resume did the 20 minibatches of each epoch from
         * the one it resumed at to the 150th. */
        double at;
        ck_assert_int_eq(kh_h5_read_attr_double(cut, "/solver", "resumed_at_epoch", &at), KH_OK);
        ck_assert_double_eq(steps_res, steps_cut + (150.0 - at) * 20.0);
    }
    if (adaptive) {
        /* Adaptive: the same rows, values within the tolerance. */
        const double e = max_difference(full, cut, "/snapshots/W");
        ck_assert_msg(e < 1e-6, "%s resumed differs by %g", _i == 1 ? "dopri5" : "reduced", e);
        int rank;
        long da[3], db[3];
        double *tr = kh_test_read(cut, "/trajectory/t", &rank, db);
        double *tf = kh_test_read(full, "/trajectory/t", &rank, da);
        ck_assert_int_eq(da[0], db[0]);
        free(tr);
        free(tf);
    } else {
        const char *ds[2][3] = {{"/trajectory/h", "/trajectory/current", "/snapshots/W"},
                                {"/trajectory/current", "/epochs/sphere_dev_mean", "/snapshots/W"}};
        for (int k = 0; k < 3; k++) {
            same_dataset(full, cut, ds[_i / 2][k]);
        }
    }
    remove(full);
    remove(cut);
    remove(study);
}
END_TEST

/* SIGKILL at any instant, or a disk that another process fills: the record
 * opens, holds every row up to its last flush exactly as the complete run
 * wrote them (tests/killed_record.py), khsim info says it was killed, and
 * `khsim run --resume` completes it to the complete run's values. (Before
 * records were written in HDF5's SWMR mode, the kills at 0.29 and 0.45 of
 * this study left chunks that no longer decompressed, "inflate() failed",
 * and the filled disk left such chunks or rows holding other numbers.) */
START_TEST(test_sigkill_and_foreign_fill)
{
    char study[512], full[600], cut[600], err[8192], cmd[2048];
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nhidden = 100\np = 3\nw_inh = 0.4\ntau_L = 10\n"
                       "[learning]\ng = bcm_step\ndelta = 0.4\nh_star = 0.5\n"
                       "[input]\nsource = mnist\npath = data/mnist-1000\nsamples = 6\n"
                       "presentation_time = 2\nreset_h = true\n[init]\nscale = 0.3\nseed = 11\n"
                       "[solver]\nthreads = 1\n[output]\nrecord_every = 0.001\n"
                       "snapshot_every = 0.5\n");
    snprintf(full, sizeof full, "%s.full.h5", study);
    snprintf(cut, sizeof cut, "%s.cut.h5", study);
    const char *a_full[] = {"run", study, "-o", full, "--quiet", NULL};
    ck_assert_int_eq(kh_test_khsim(a_full, err, sizeof err, 0), 0);
    const char *py = getenv("PYTHON");
    const char *at[] = {"0.29", "0.45", "0.77"};
    for (int k = 0; k < 3; k++) {
        const char *a_cut[] = {"run", study, "-o", cut, "--quiet", "--force", NULL};
        int code = kh_test_khsim_at(a_cut, err, sizeof err, SIGKILL, at[k]);
        ck_assert_msg(code == 128 + SIGKILL, "to be killed at %s: exit %d: %s", at[k], code, err);
        snprintf(cmd, sizeof cmd, "%s tests/killed_record.py %s %s",
                 py && *py ? py : "/usr/bin/python3", cut, full);
        ck_assert_msg(system(cmd) == 0, "killed at %s of the run (see above)", at[k]);
    }
    /* The disk full at once (build/disk_fills.so): exit 2, the message, and
     * the record as its last flush left it. */
    const char *fills[] = {"3000000", "8000000"};
    char filled[600];
    snprintf(filled, sizeof filled, "%s.filled.h5", study);
    for (int k = 0; k < 2; k++) {
        const char *a_f[] = {"run", study, "-o", filled, "--quiet", "--force", NULL};
        setenv("KH_DISK_FILLS_AFTER", fills[k], 1);
        setenv("LD_PRELOAD", "build/disk_fills.so", 1);
        int code = kh_test_khsim(a_f, err, sizeof err, 0);
        unsetenv("LD_PRELOAD");
        unsetenv("KH_DISK_FILLS_AFTER");
        ck_assert_msg(code == 2 && strstr(err, "; then ") && strstr(err, "the disk is full"),
                      "exit %d: %s", code, err);
        snprintf(cmd, sizeof cmd, "%s tests/killed_record.py %s %s",
                 py && *py ? py : "/usr/bin/python3", filled, full);
        ck_assert_msg(system(cmd) == 0, "the disk filled after %s bytes (see above)", fills[k]);
    }
    remove(filled);
    snprintf(cmd, sizeof cmd, "%s info %s | grep -q '^  killed: '",
             getenv("KHSIM") ? getenv("KHSIM") : "./khsim", cut);
    ck_assert_msg(system(cmd) == 0, "khsim info does not say the record's run was killed");
    const char *a_res[] = {"run", "--resume", cut, "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(a_res, err, sizeof err, 0) == 0, "resume: %s", err);
    char status[64];
    ck_assert_int_eq(kh_h5_read_attr_string(cut, "/", "status", status, sizeof status), KH_OK);
    ck_assert_str_eq(status, "complete");
    const double e = max_difference(full, cut, "/snapshots/W");
    ck_assert_msg(e < 1e-9, "the resumed record's W differs from the complete run's by %g", e);
    remove(full);
    remove(cut);
    remove(study);
}
END_TEST

/* Runs khsim on a study of m units, one digit and `threads` threads under
 * the shell's `limits` (ulimit commands), killed after a minute; the exit
 * status (137: killed) and the record's status into status[64]. */
static int run_limited(const char *limits, int m, int threads, char *out, size_t len, char *status)
{
    char study[512], text[256], cmd[2048];
    snprintf(text, sizeof text,
             "[network]\nhidden = %d\n[input]\nsource = mnist\npath = data/mnist-1000\n"
             "samples = 1\npresentation_time = 1\n[solver]\nthreads = %d\n",
             m, threads);
    kh_test_write_file(study, sizeof study, ".ini", text);
    snprintf(out, len, "%s.h5", study);
    snprintf(cmd, sizeof cmd,
             "timeout -s KILL 60 sh -c '%s && exec %s run %s -o %s --quiet' >/dev/null 2>&1",
             limits, getenv("KHSIM") ? getenv("KHSIM") : "./khsim", study, out);
    const int ws = system(cmd);
    remove(study);
    if (kh_h5_read_attr_string(out, "/", "status", status, 64) != KH_OK) {
        strcpy(status, "(none)");
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* A library that ends the process with exit(): libgomp when it cannot
 * create the threads asked for (here 300 threads of 64 MB stacks in 4 GB of
 * address space). The record is "failed" with a message, not "running", and
 * the exit status is 2. */
START_TEST(test_thread_creation_fails)
{
    char out[600], status[64], message[512];
    const int code =
        run_limited("ulimit -s 65536 && ulimit -v 4000000", 400, 300, out, sizeof out, status);
    ck_assert_msg(code == 2, "exit status %d", code);
    ck_assert_str_eq(status, "failed");
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "message", message, sizeof message), KH_OK);
    ck_assert_msg(strstr(message, "solver.threads"), "message: %s", message);
    remove(out);
}
END_TEST

/* Under a limit on address space a large thread count runs: OpenBLAS,
 * given 16 threads under ulimit -v 2000000, retried mapping their buffers
 * forever and ignored SIGTERM (kh_threads.c caps its count). The run must
 * end by itself, complete, within the minute it is allowed. */
START_TEST(test_threads_under_address_limit)
{
    char out[600], status[64];
    const int code = run_limited("ulimit -v 2000000", 20, 16, out, sizeof out, status);
    ck_assert_msg(code == 0, "exit status %d (137: killed, hung)", code);
    ck_assert_str_eq(status, "complete");
    remove(out);
}
END_TEST

/* A busy machine: with one competing process spinning on a core, the
 * default thread policy (solver.threads = 0) runs the Fig. 5 kind of study
 * (m = 15, strong inhibition) at most twice as long as one thread does
 * under the same load (kh_threads.h). The best of three runs each, as a
 * ratio measured here and now, not an absolute time. */
START_TEST(test_contention_ratio)
{
    char study[512], out[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nhidden = 15\np = 2\nw_inh = 15\ntau_L = 100\n"
                       "[learning]\ng = bcm_step\nh_star = 0.8\n[input]\nsamples = 40\n"
                       "presentation_time = 10\nreset_h = true\n[init]\nscale = 0.1\n"
                       "[solver]\nrtol = 1e-6\natol = 1e-9\n"
                       "[output]\nrecord_every = 0.5\nsnapshot_every = 500\n");
    snprintf(out, sizeof out, "%s.h5", study);
    pid_t hog = fork();
    ck_assert_int_ge(hog, 0);
    if (hog == 0) {
        volatile unsigned long x = 0;
        for (;;) {
            x++;
        }
    }
    double best[2] = {1e30, 1e30};
    for (int rep = 0; rep < 3; rep++) {
        for (int k = 0; k < 2; k++) {
            const char *argv[] = {"run",
                                  study,
                                  "-o",
                                  out,
                                  "--quiet",
                                  "--set",
                                  k == 0 ? "solver.threads=0" : "solver.threads=1",
                                  NULL};
            double t0 = kh_wall_seconds();
            int code = kh_test_khsim(argv, err, sizeof err, 0);
            double dt = kh_wall_seconds() - t0;
            ck_assert_msg(code == 0, "exit %d: %s", code, err);
            best[k] = dt < best[k] ? dt : best[k];
            remove(out);
        }
    }
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
    remove(study);
    ck_assert_msg(best[0] < 2.0 * best[1],
                  "under one busy process: %.3f s by default, %.3f s on one thread", best[0],
                  best[1]);
}
END_TEST

/* Whether the mapping that holds address p carries the flag `flag` in
 * /proc/self/smaps's VmFlags; -1 when smaps cannot be read. */
static int vm_flag(const void *p, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) {
        return -1;
    }
    char line[512];
    int inside = 0, found = 0;
    unsigned long a = (unsigned long)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char pad[8];
            snprintf(pad, sizeof pad, " %s", flag);
            found = strstr(line, pad) != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Large arrays (core/kh_mem.h): aligned to 2 MiB, zeroed when asked, marked
 * for huge pages where the kernel has them, and a size that overflows is
 * refused instead of wrapping round. */
START_TEST(test_big_alloc)
{
    const size_t n = (size_t)3 << 20; /* 24 MiB of doubles */
    double *w = kh_big_zalloc(n, sizeof(double));
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq((unsigned long)w % ((unsigned long)2 << 20), 0);
    for (size_t i = 0; i < n; i += 4097) {
        ck_assert(w[i] == 0.0);
    }
    ck_assert(w[n - 1] == 0.0);
    w[n - 1] = 1.0; /* the whole array is writable */
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (thp) {
        char mode[128] = "";
        if (!fgets(mode, sizeof mode, thp)) {
            mode[0] = 0;
        }
        fclose(thp);
        if (!strstr(mode, "[never]")) {
            int hg = vm_flag(w, "hg");
            ck_assert_msg(hg != 0, "the array's mapping is not marked for huge pages");
        }
    }
    free(w);
    char *small = kh_big_alloc(100, 1);
    ck_assert_ptr_nonnull(small);
    memset(small, 1, 100);
    free(small);
    ck_assert_ptr_null(kh_big_alloc(SIZE_MAX / 4, 8));
    ck_assert_ptr_null(kh_big_zalloc(SIZE_MAX / 2 + 1, 2));
}
END_TEST

/* The parts of the memory limit: KHSIM_MEMORY's sizes (powers of 1024),
 * and the memory available read from /proc/meminfo's text (MemAvailable
 * plus free swap). */
START_TEST(test_memory_sizes)
{
    double b = 0.0;
    ck_assert_int_eq(kh_mem_parse_size("8G", &b), 0);
    ck_assert(b == 8.0 * 1024 * 1024 * 1024);
    ck_assert_int_eq(kh_mem_parse_size("512M", &b), 0);
    ck_assert(b == 512.0 * 1024 * 1024);
    ck_assert_int_eq(kh_mem_parse_size("2.5GiB", &b), 0);
    ck_assert(b == 2.5 * 1024 * 1024 * 1024);
    ck_assert_int_eq(kh_mem_parse_size("100000000", &b), 0);
    ck_assert(b == 1e8);
    ck_assert_int_eq(kh_mem_parse_size("1t", &b), 0);
    ck_assert(b == 1024.0 * 1024 * 1024 * 1024);
    const char *bad[] = {"", "G", "-1G", "0", "8Q", "8 G", "lots", "nan", "1e30"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(kh_mem_parse_size(bad[i], &b) == -1, "accepted \"%s\"", bad[i]);
    }
    ck_assert_int_eq(kh_mem_parse_size(NULL, &b), -1);
    const char *info = "MemTotal:       24683772 kB\nMemFree:        22000000 kB\n"
                       "MemAvailable:   20000000 kB\nSwapTotal:       4000000 kB\n"
                       "SwapFree:         1000000 kB\n";
    ck_assert(kh_mem_available_from(info) == 1024.0 * 21000000);
    ck_assert(kh_mem_available_from("MemAvailable: 100 kB\n") == 102400.0);
    ck_assert(kh_mem_available_from("MemTotal: 100 kB\nMemFree: 50 kB\n") == -1.0);
}
END_TEST

/* Writes `text` to dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The control groups' room (a Slurm job's limit): over a tree of cgroup
 * files written here, the least of limit - usage from the process's group
 * up to the mount, for cgroup v2 and v1; "max" and v1's huge "unlimited"
 * limit nothing; -1 without a memory controller. */
START_TEST(test_memory_cgroups)
{
    char root[512], dir[600];
    snprintf(root, sizeof root, "%s/khsim_cg_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    const char *dirs[] = {"a", "a/b", "memory", "memory/job"};
    for (int k = 0; k < 4; k++) {
        snprintf(dir, sizeof dir, "%s/%s", root, dirs[k]);
        ck_assert_int_eq(mkdir(dir, 0700), 0);
    }
    snprintf(dir, sizeof dir, "%s/a/b", root);
    put_file(dir, "memory.max", "1000000000\n");
    put_file(dir, "memory.current", "400000000\n");
    snprintf(dir, sizeof dir, "%s/a", root);
    put_file(dir, "memory.max", "700000000\n");
    put_file(dir, "memory.current", "500000000\n");
    ck_assert(kh_mem_cgroup_room("0::/a/b\n", root) == 2e8); /* the parent is tighter */
    ck_assert(kh_mem_cgroup_room("0::/a\n", root) == 2e8);
    put_file(dir, "memory.max", "max\n");
    ck_assert(kh_mem_cgroup_room("0::/a/b\n", root) == 6e8);
    ck_assert(kh_mem_cgroup_room("0::/a\n", root) == -1.0);
    ck_assert(kh_mem_cgroup_room("0::/\n", root) == -1.0);
    /* cgroup v1, under root/memory */
    snprintf(dir, sizeof dir, "%s/memory/job", root);
    put_file(dir, "memory.limit_in_bytes", "9223372036854771712\n");
    put_file(dir, "memory.usage_in_bytes", "1000\n");
    ck_assert(kh_mem_cgroup_room("5:cpu:/\n4:memory:/job\n", root) == -1.0);
    snprintf(dir, sizeof dir, "%s/memory", root);
    put_file(dir, "memory.limit_in_bytes", "3000000000\n");
    put_file(dir, "memory.usage_in_bytes", "1000000000\n");
    ck_assert(kh_mem_cgroup_room("5:cpu:/\n4:memory:/job\n", root) == 2e9);
    /* both kinds named (a hybrid system): the least */
    ck_assert(kh_mem_cgroup_room("4:memory:/job\n0::/a/b\n", root) == 6e8);
    ck_assert(kh_mem_cgroup_room("1:cpu:/\n", root) == -1.0);
    /* a group missing from the mount: its parents still count */
    ck_assert(kh_mem_cgroup_room("0::/a/b/gone\n", root) == 6e8);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The heap's policy (kh_mem_policy): blocks of zlib's state's size come
 * from the heap and stay there when freed, so that writing a compressed
 * chunk does not map, unmap or trim memory each time. (Not built under
 * ASan: its own allocator, which mallinfo2 does not describe, replaces
 * glibc's.) */
#if !defined(__SANITIZE_ADDRESS__)
START_TEST(test_heap_policy)
{
    kh_mem_policy();
    enum { N = 100, SIZE = 300 * 1024 };
    void *b[N];
    const struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N; i++) {
        b[i] = malloc(SIZE);
        ck_assert_ptr_nonnull(b[i]);
        memset(b[i], i, SIZE);
    }
    const struct mallinfo2 full = mallinfo2();
    for (int i = N - 1; i >= 0; i--) {
        free(b[i]);
    }
    const struct mallinfo2 after = mallinfo2();
    ck_assert_msg(full.hblkhd <= before.hblkhd, "the blocks were mapped: %zu bytes more",
                  full.hblkhd - before.hblkhd);
    ck_assert_msg(after.arena >= (size_t)N * SIZE,
                  "the heap was trimmed to %zu bytes after the blocks were freed", after.arena);
}
END_TEST
#endif

Suite *kh_reliability_suite(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("reliability");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fuzz_regressions);
    tcase_add_test(tc, test_big_alloc);
    tcase_add_test(tc, test_memory_sizes);
    tcase_add_test(tc, test_memory_cgroups);
#if !defined(__SANITIZE_ADDRESS__)
    tcase_add_test(tc, test_heap_policy);
#endif
    suite_add_tcase(s, tc);
    /* Whole runs through the binary, several seconds each: make
     * test-sanitize leaves them out (CK_EXCLUDE_TAGS=slow). */
    TCase *runs = tcase_create("reliability-runs");
    tcase_set_tags(runs, "slow");
    tcase_set_timeout(runs, 240);
    tcase_add_test(runs, test_disk_full);
    tcase_add_loop_test(runs, test_determinism, 0, 3);
    tcase_add_loop_test(runs, test_run_resume, 0, 4);
    tcase_add_test(runs, test_contention_ratio);
    tcase_add_test(runs, test_sigkill_and_foreign_fill);
    tcase_add_test(runs, test_thread_creation_fails);
    tcase_add_test(runs, test_threads_under_address_limit);
    suite_add_tcase(s, runs);
    return s;
}
