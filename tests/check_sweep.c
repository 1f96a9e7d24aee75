/* khsim sweep: the points, the index (HDF5 with external links, CSV), a
 * failing point recorded without stopping the sweep, a restart that skips
 * the complete points, and the MPI task farm against the serial sweep. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/kh_sweep.h"
#include "core/kh_error.h"
#include "io/kh_h5.h"
#include "kh_test.h"

static const char *base = "[network]\nhidden = 4\ninputs = 6\np = 3\ntau_L = 5\n"
                          "[learning]\ng = power\ndrive = Q\n[input]\nsource = uniform\n"
                          "samples = 2\npresentation_time = 3\n[solver]\nrtol = 1e-8\n"
                          "[output]\nrecord_every = 0.5\n";

/* Writes the base study and a sweep over it into a fresh directory. */
static void make_sweep(char *dir, size_t len, const char *body, char *sweep, size_t slen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/khsim_sweep_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[1024];
    snprintf(path, sizeof path, "%s/base.ini", dir);
    FILE *f = fopen(path, "w");
    fputs(base, f);
    fclose(f);
    snprintf(sweep, slen, "%s/sweep.ini", dir);
    f = fopen(sweep, "w");
    fprintf(f, "[sweep]\nbase = %s/base.ini\nout = %s/out\n%s", dir, dir, body);
    fclose(f);
}

static void remove_tree(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

/* 2 x 2 grid times a list of 2: 8 points, the list's second entry failing
 * (solver.max_steps = 3), every failure recorded and the rest complete. */
START_TEST(test_sweep_serial)
{
    char dir[512], sweep[1024], path[1200];
    make_sweep(dir, sizeof dir,
               "[grid]\nnetwork.w_inh = 0.2, 0.6\ninit.seed = 1, 2\n"
               "[list]\nsolver.max_steps = 0, 3\nlearning.n = 1, 2\n",
               sweep, sizeof sweep);
    FILE *null = fopen("/dev/null", "w");
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_ECHECK);
    snprintf(path, sizeof path, "%s/out/index.csv", dir);
    ck_assert_int_eq(count_lines(path), 9);
    snprintf(path, sizeof path, "%s/out/index.h5", dir);
    int rank;
    long d[3];
    double *status = kh_test_read(path, "/points/status", &rank, d);
    double *w = kh_test_read(path, "/points/network.w_inh", &rank, d);
    double *verify = kh_test_read(path, "/points/verify", &rank, d);
    ck_assert_int_eq(d[0], 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_double_eq_tol(status[i], (i < 4 ? 0 : 1), 1e-12);
        ck_assert_double_eq_tol(w[i], ((i / 2) % 2 ? 0.6 : 0.2), 1e-12);
        ck_assert_double_eq_tol(verify[i], (i < 4 ? 1 : -1), 1e-12);
        /* The index's link reaches the point's own record. */
        char obj[64];
        double x;
        snprintf(obj, sizeof obj, "/point/%04d/params", i);
        ck_assert_int_eq(kh_h5_read_attr_double(path, obj, "network.w_inh", &x), KH_OK);
        ck_assert_double_eq_tol(x, w[i], 1e-12);
    }
    char msg[512];
    ck_assert_int_eq(kh_h5_read_attr_string(path, "/points/messages", "0005", msg, sizeof msg),
                     KH_OK);
    ck_assert_ptr_nonnull(strstr(msg, "max_steps"));
    kh_test_record_described(path);
    /* A restart skips the complete points: their files are not rewritten. */
    char p0[1200], created[64], again[64];
    snprintf(p0, sizeof p0, "%s/out/point_0000.h5", dir);
    ck_assert_int_eq(kh_h5_read_attr_string(p0, "/", "created", created, sizeof created), KH_OK);
    struct stat st0, st1;
    ck_assert_int_eq(stat(p0, &st0), 0);
    sleep(1);
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_ECHECK);
    ck_assert_int_eq(stat(p0, &st1), 0);
    ck_assert_int_eq((long)st0.st_mtime, (long)st1.st_mtime);
    ck_assert_int_eq(kh_h5_read_attr_string(p0, "/", "created", again, sizeof again), KH_OK);
    ck_assert_str_eq(created, again);
    /* A bad sweep file is refused before anything runs. */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/bad.ini", dir);
    FILE *f = fopen(bad, "w");
    fprintf(f, "[sweep]\nbase = %s/base.ini\n[grid]\nnetwork.nope = 1, 2\n", dir);
    fclose(f);
    ck_assert_int_eq(kh_sweep_run(bad, NULL, null), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "network.nope"));
    f = fopen(bad, "w");
    fprintf(f, "[sweep]\nbase = %s/base.ini\n[grid]\nnetwork.p = 3, 1.5\n", dir);
    fclose(f);
    ck_assert_int_eq(kh_sweep_run(bad, NULL, null), KH_EINVAL);
    /* a directory is named as one (it once read as an empty sweep file) */
    ck_assert_int_eq(kh_sweep_run(dir, NULL, null), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "a directory"));
    fclose(null);
    free(status);
    free(w);
    free(verify);
    remove_tree(dir);
}
END_TEST

/* A reader of the sweep's lines that has gone (a closed pipe; SIGPIPE is
 * ignored, as khsim sweep ignores it): the sweep stops after the point
 * whose line failed, as on SIGINT, with the index written (the rest "not
 * run") and *stop = SIGPIPE; a restart completes it. It was killed by
 * SIGPIPE with no index. */
START_TEST(test_sweep_closed_report)
{
    char dir[512], sweep[1024], path[1200];
    make_sweep(dir, sizeof dir, "[grid]\ninit.seed = 1, 2, 3\n", sweep, sizeof sweep);
    signal(SIGPIPE, SIG_IGN);
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    close(fd[0]);
    FILE *gone = fdopen(fd[1], "w");
    volatile sig_atomic_t stop = 0;
    ck_assert_int_eq(kh_sweep_run(sweep, &stop, gone), KH_EINTR);
    fclose(gone);
    ck_assert_int_eq(stop, SIGPIPE);
    snprintf(path, sizeof path, "%s/out/index.h5", dir);
    int rank;
    long d[3];
    double *status = kh_test_read(path, "/points/status", &rank, d);
    ck_assert_int_eq(d[0], 3);
    ck_assert_double_eq(status[0], 0.0); /* complete */
    ck_assert_double_eq(status[1], 2.0); /* not run */
    ck_assert_double_eq(status[2], 2.0);
    free(status);
    FILE *null = fopen("/dev/null", "w");
    stop = 0;
    ck_assert_int_eq(kh_sweep_run(sweep, &stop, null), KH_OK);
    fclose(null);
    remove_tree(dir);
}
END_TEST

/* Copies the file `from` to `to`. */
static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) {
        ck_assert_uint_eq(fwrite(buf, 1, n, b), n);
    }
    fclose(a);
    fclose(b);
}

static int same_file(const char *x, const char *y)
{
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", x, y);
    return system(cmd) == 0;
}

/* A restart reads the earlier point files in a child process: a damaged
 * one that crashes HDF5 (a fuzzer's file, SIGBUS in H5T__bit_copy) or
 * makes it loop (KHSIM_READ_TIMEOUT = 2 s) fails its point with that
 * message and is left as it is, the others are taken as done, and the sweep
 * ends; once the damaged files are deleted the next restart runs them. */
START_TEST(test_sweep_restart_damaged_point)
{
    char dir[512], sweep[1024], path[1200], p1[1200], p2[1200];
    make_sweep(dir, sizeof dir, "[grid]\ninit.seed = 1, 2, 3\n", sweep, sizeof sweep);
    FILE *null = fopen("/dev/null", "w");
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_OK);
    const char *crash = "tests/fuzz/regress/h5-crash-H5T__bit_copy";
    const char *hang = "tests/fuzz/regress/h5-timeout-1";
    snprintf(p1, sizeof p1, "%s/out/point_0001.h5", dir);
    snprintf(p2, sizeof p2, "%s/out/point_0002.h5", dir);
    copy_file(crash, p1);
    copy_file(hang, p2);
    const char *saved = getenv("KHSIM_READ_TIMEOUT");
    char keep[64] = "";
    if (saved) {
        snprintf(keep, sizeof keep, "%s", saved);
    }
    setenv("KHSIM_READ_TIMEOUT", "2", 1);
    const int st = kh_sweep_run(sweep, NULL, null);
    if (saved) {
        setenv("KHSIM_READ_TIMEOUT", keep, 1);
    } else {
        unsetenv("KHSIM_READ_TIMEOUT");
    }
    ck_assert_int_eq(st, KH_ECHECK);
    ck_assert(same_file(crash, p1));
    ck_assert(same_file(hang, p2));
    snprintf(path, sizeof path, "%s/out/index.h5", dir);
    int rank;
    long d[3];
    double *status = kh_test_read(path, "/points/status", &rank, d);
    ck_assert_int_eq(d[0], 3);
    ck_assert_double_eq(status[0], 0);
    ck_assert_double_eq(status[1], 1);
    ck_assert_double_eq(status[2], 1);
    free(status);
    char msg[512];
    ck_assert_int_eq(kh_h5_read_attr_string(path, "/points/messages", "0001", msg, sizeof msg),
                     KH_OK);
    ck_assert_msg(strstr(msg, "damaged") && strstr(msg, "left as it is"), "%s", msg);
    ck_assert_int_eq(kh_h5_read_attr_string(path, "/points/messages", "0002", msg, sizeof msg),
                     KH_OK);
    ck_assert_msg(strstr(msg, "did not end within 2 s"), "%s", msg);
    remove(p1);
    remove(p2);
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_OK);
    status = kh_test_read(path, "/points/status", &rank, d);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(status[i], 0);
    }
    free(status);
    fclose(null);
    remove_tree(dir);
}
END_TEST

/* A sweep file changed between two runs: its points' old files hold the
 * old values, so the second run runs those points again instead of taking
 * them as done, and every record holds the value the index gives. */
START_TEST(test_sweep_changed_values_rerun)
{
    char dir[512], sweep[1024], path[1200];
    make_sweep(dir, sizeof dir, "[list]\nnetwork.w_inh = 0.2, 0.5\n", sweep, sizeof sweep);
    FILE *null = fopen("/dev/null", "w");
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_OK);
    FILE *f = fopen(sweep, "w");
    fprintf(f, "[sweep]\nbase = %s/base.ini\nout = %s/out\n[list]\nnetwork.w_inh = 0.9, 1.7\n", dir,
            dir);
    fclose(f);
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_OK);
    fclose(null);
    const double want[2] = {0.9, 1.7};
    for (int i = 0; i < 2; i++) {
        double x;
        snprintf(path, sizeof path, "%s/out/point_%04d.h5", dir, i);
        ck_assert_int_eq(kh_h5_read_attr_double(path, "/params", "network.w_inh", &x), KH_OK);
        ck_assert_double_eq_tol(x, want[i], 1e-12);
    }
    remove_tree(dir);
}
END_TEST

/* The same sweep under `mpirun -np 2 ./khsim-mpi` gives every point the
 * datasets of the serial sweep, bit for bit (with init.seed keyed on the
 * point, input.seed swept). */
START_TEST(test_sweep_mpi)
{
    if (access("./khsim-mpi", X_OK) != 0 || system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("check_sweep: the MPI sweep test is skipped: no ./khsim-mpi (make mpi) or no "
               "mpirun\n");
        return;
    }
    char dir[512], sweep[1024], cmd[4096];
    make_sweep(dir, sizeof dir,
               "seed_per_point = true\n[grid]\nnetwork.w_inh = 0.2, 0.6, 1.2\n"
               "input.seed = 1, 2\n",
               sweep, sizeof sweep);
    /* The serial reference from the same binary (one process, no mpirun), so
     * that both sides are the same build. */
    snprintf(cmd, sizeof cmd, "./khsim-mpi sweep %s >%s/serial.log 2>&1", sweep, dir);
    ck_assert_msg(system(cmd) == 0, "the serial sweep of ./khsim-mpi failed (see %s)", dir);
    char mpi_sweep[1100];
    snprintf(mpi_sweep, sizeof mpi_sweep, "%s/sweep_mpi.ini", dir);
    FILE *f = fopen(mpi_sweep, "w");
    fprintf(f,
            "[sweep]\nbase = %s/base.ini\nout = %s/mpi\nseed_per_point = true\n"
            "[grid]\nnetwork.w_inh = 0.2, 0.6, 1.2\ninput.seed = 1, 2\n",
            dir, dir);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -np 2 ./khsim-mpi sweep %s "
             ">%s/mpi.log 2>&1",
             mpi_sweep, dir);
    int code = system(cmd);
    if (code != 0) {
        char log[1100];
        snprintf(log, sizeof log, "%s/mpi.log", dir);
        f = fopen(log, "r");
        char text[4096] = "";
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[n] = '\0';
        if (f) {
            fclose(f);
        }
        if (!strstr(text, "point") && !strstr(text, "index")) {
            printf("check_sweep: mpirun cannot start here, the MPI test is skipped:\n%s\n", text);
            remove_tree(dir);
            return;
        }
        ck_abort_msg("the MPI sweep failed (exit %d):\n%s", code, text);
    }
    const char *ds[] = {"/trajectory/h", "/trajectory/current", "/snapshots/W"};
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < 3; k++) {
            char a[1200], b[1200];
            snprintf(a, sizeof a, "%s/out/point_%04d.h5", dir, i);
            snprintf(b, sizeof b, "%s/mpi/point_%04d.h5", dir, i);
            int rank;
            long da[3], db[3];
            double *x = kh_test_read(a, ds[k], &rank, da);
            double *y = kh_test_read(b, ds[k], &rank, db);
            long len = da[0] * (rank > 1 ? da[1] : 1) * (rank > 2 ? da[2] : 1);
            ck_assert_int_eq(da[0], db[0]);
            for (long j = 0; j < len; j++) {
                ck_assert_msg(x[j] == y[j], "point %d %s differs at %ld (%s)", i, ds[k], j, dir);
            }
            free(x);
            free(y);
        }
    }
    remove_tree(dir);
}
END_TEST

/* Under mpirun, SIGTERM to a worker rank in its first point: that point is
 * interrupted, the worker takes no other (it used to take each in turn and
 * mark it "interrupted at t = 0"), rank 0 hands out no more points and the
 * sweep ends 143. */
START_TEST(test_sweep_mpi_worker_signal)
{
    if (access("./khsim-mpi", X_OK) != 0 || system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("check_sweep: the MPI signal test is skipped: no ./khsim-mpi or no mpirun\n");
        return;
    }
    char dir[512], sweep[1024], cmd[4096], path[1200];
    make_sweep(dir, sizeof dir, "[grid]\nnetwork.w_inh = 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6\n",
               sweep, sizeof sweep);
    /* Points of a few seconds each: the signal comes 1.5 s in. */
    snprintf(path, sizeof path, "%s/base.ini", dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "[network]\nhidden = 50\ninputs = 784\n[input]\nsamples = 10\npresentation_time = 20\n"
            "source = uniform\n[output]\nrecord_every = 0.01\n");
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -np 3 ./khsim-mpi sweep %s >%s/mpi.log "
             "2>&1 & mp=$!; sleep 1.5; for p in $(pgrep -f 'khsim-mpi sweep %s'); do "
             "tr '\\0' '\\n' < /proc/$p/environ | grep -qx OMPI_COMM_WORLD_RANK=2 && "
             "kill -TERM $p; done; wait $mp",
             sweep, dir, sweep);
    const int code = system(cmd);
    char text[8192] = "";
    snprintf(path, sizeof path, "%s/out/index.csv", dir);
    f = fopen(path, "r");
    if (!f) {
        printf("check_sweep: mpirun cannot start here, the MPI signal test is skipped\n");
        remove_tree(dir);
        return;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    int interrupted_at = 0, not_run = 0;
    for (const char *q = text; (q = strstr(q, "interrupted at t")) != NULL; q++) {
        interrupted_at++;
    }
    for (const char *q = text; (q = strstr(q, "not run (interrupted)")) != NULL; q++) {
        not_run++;
    }
    ck_assert_msg(WIFEXITED(code) && WEXITSTATUS(code) == 143, "mpirun exit %d",
                  WIFEXITED(code) ? WEXITSTATUS(code) : -1);
    ck_assert_msg(interrupted_at == 1 && not_run >= 1, "index.csv:\n%s", text);
    remove_tree(dir);
}
END_TEST

/* command = train: every point is a khsim train (here of the readout power
 * n on a fast rule over the shipped digits), its record holds the readout's
 * errors and the index counts its epochs; plots/sweep_panels.py draws the
 * errors against n, and the fields of a sweep of runs over p and delta. A
 * bad command is refused. */
START_TEST(test_sweep_train_and_panels)
{
    char dir[512], sweep[1024], path[1200], cmd[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/khsim_sweep_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/base.ini", dir);
    FILE *f = fopen(path, "w");
    fputs("[network]\nhidden = 16\np = 3\n[learning]\nepochs = 3\nbatch = 50\n[input]\n"
          "samples = 200\n[solver]\nmethod = fast\n[train]\nepochs = 5\nbatch = 50\n"
          "test_samples = 100\n",
          f);
    fclose(f);
    const char *py = getenv("PYTHON");
    py = py && *py ? py : "/usr/bin/python3";
    FILE *null = fopen("/dev/null", "w");
    const char *body[2] = {"command = train\n[grid]\ntrain.power = 1, 4.5\n",
                           "[grid]\nnetwork.p = 2, 3\nlearning.delta = 0, 0.4\n"};
    const char *name[2] = {"errors", "fields"};
    for (int k = 0; k < 2; k++) {
        snprintf(sweep, sizeof sweep, "%s/sweep%d.ini", dir, k);
        f = fopen(sweep, "w");
        fprintf(f, "[sweep]\nbase = %s/base.ini\nout = %s/out%d\nverify = false\n%s", dir, dir, k,
                body[k]);
        fclose(f);
        ck_assert_msg(kh_sweep_run(sweep, NULL, null) == KH_OK, "%s", kh_errmsg());
        snprintf(path, sizeof path, "%s/out%d/index.h5", dir, k);
        int rank;
        long d[3];
        double *steps = kh_test_read(path, "/points/steps", &rank, d);
        ck_assert_int_eq(d[0], k ? 4 : 2);
        if (k == 0) {
            for (int i = 0; i < 2; i++) {
                ck_assert_double_eq_tol(steps[i], 5, 1e-12); /* readout epochs */
                char obj[64];
                double x;
                snprintf(obj, sizeof obj, "/point/%04d/train", i);
                ck_assert_int_eq(kh_h5_read_attr_double(path, obj, "power_n", &x), KH_OK);
                ck_assert_double_eq_tol(x, i ? 4.5 : 1, 1e-12);
                ck_assert_int_eq(kh_h5_read_attr_double(path, obj, "test_error_final", &x), KH_OK);
                ck_assert(x >= 0.0 && x < 0.9);
            }
        }
        free(steps);
        snprintf(cmd, sizeof cmd,
                 "%s plots/sweep_panels.py %s --out %s/figs > /dev/null && %s -c \"import "
                 "matplotlib.image as I; a = I.imread('%s/figs/out%d_%s.png'); assert "
                 "a.shape[0] > 100 and a[..., :3].std() > 0.01\"",
                 py, path, dir, py, dir, k, name[k]);
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
    f = fopen(sweep, "w");
    fprintf(f, "[sweep]\nbase = %s/base.ini\ncommand = learn\n[grid]\nnetwork.p = 2, 3\n", dir);
    fclose(f);
    ck_assert_int_eq(kh_sweep_run(sweep, NULL, null), KH_EINVAL);
    ck_assert_msg(strstr(kh_errmsg(), "not run or train"), "%s", kh_errmsg());
    fclose(null);
    remove_tree(dir);
}
END_TEST

Suite *kh_sweep_suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sweep_serial);
    tcase_add_test(tc, test_sweep_closed_report);
    tcase_add_test(tc, test_sweep_restart_damaged_point);
    tcase_add_test(tc, test_sweep_changed_values_rerun);
    tcase_add_test(tc, test_sweep_train_and_panels);
    tcase_add_test(tc, test_sweep_mpi);
    tcase_add_test(tc, test_sweep_mpi_worker_signal);
    suite_add_tcase(s, tc);
    return s;
}
