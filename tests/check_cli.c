/* The khsim binary end to end: exit codes, messages, interruption, and the
 * completeness of its files (an independent SciPy re-integration). */
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/kh_clock.h"
#include "core/kh_error.h"
#include "io/kh_h5.h"
#include "kh_test.h"

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *good = "[network]\nhidden = 4\ninputs = 6\np = 3\nw_inh = 0.5\n"
                          "[input]\nsource = uniform\nsamples = 2\npresentation_time = 2\n"
                          "[output]\nrecord_every = 0.5\n";

START_TEST(test_help_version_unknown)
{
    char err[4096];
    const char *a1[] = {"--help", NULL};
    ck_assert_int_eq(kh_test_khsim(a1, err, sizeof err, 0), 0);
    const char *a2[] = {"--version", NULL};
    ck_assert_int_eq(kh_test_khsim(a2, err, sizeof err, 0), 0);
    const char *a3[] = {"fly", "x.ini", NULL};
    ck_assert_int_eq(kh_test_khsim(a3, err, sizeof err, 0), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown command 'fly'"));
    const char *a4[] = {"run", NULL};
    ck_assert_int_eq(kh_test_khsim(a4, err, sizeof err, 0), 2);
    const char *a5[] = {"run", "x.ini", "--bogus", NULL};
    ck_assert_int_eq(kh_test_khsim(a5, err, sizeof err, 0), 2);
}
END_TEST

/* Each bad input exits 2, names the file and the key, and leaves no file. */
static const struct {
    const char *ini; /* study text (NULL: a missing study file) */
    const char *set; /* a --set, or NULL */
    const char *needle;
    int name_file; /* the message names the study file */
} bad[] = {
    {"[network]\nhiden = 4\n", NULL, "unknown key 'hiden' in section [network]", 1},
    {"[netwerk]\nhidden = 4\n", NULL, "unknown section [netwerk]", 1},
    {"[network]\np = 1.5\n", NULL, "network.p = 1.5 is out of range", 1},
    {"[network]\ntau = 0\n", NULL, "network.tau = 0 is out of range", 1},
    {"[network]\nw_inh = nan\n", NULL, "network.w_inh = nan is not finite", 1},
    {NULL, NULL, "cannot open study file", 0},
    {"[input]\nsource = mnist\npath = /nonexistent/mnist\n", NULL, "input.path", 0},
    {"", "network.p=1", "network.p = 1 is out of range", 0},
    {"[network]\nmodel = oja\np = 3\n", NULL, "network.model = oja needs network.p = 2", 0},
    {"[solver]\nmethod = rk99\n", NULL, "solver.method = 'rk99'", 0},
};

/* A message wrapped with more context keeps the inner one (KH_ERROR with
 * kh_errmsg() among its arguments formats aside first), and a message
 * carried from a child process is restored as it is. */
START_TEST(test_error_messages)
{
    KH_ERROR(KH_EIO, "inner %d", 2385);
    KH_ERROR(KH_EIO, "outer: %s", kh_errmsg());
    ck_assert_msg(strncmp(kh_errmsg(), "outer: inner 2385 [", 19) == 0, "%s", kh_errmsg());
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "] ["));
    ck_assert_int_eq(kh_error_restore(KH_EINVAL, "from a child [x.c:1 f]"), KH_EINVAL);
    ck_assert_str_eq(kh_errmsg(), "from a child [x.c:1 f]");
}
END_TEST

START_TEST(test_bad_input)
{
    char study[512], out[600], err[8192];
    if (bad[_i].ini) {
        kh_test_write_file(study, sizeof study, ".ini", bad[_i].ini);
    } else {
        snprintf(study, sizeof study, "/nonexistent/dir/study.ini");
    }
    snprintf(out, sizeof out, "%s.out.h5", study);
    const char *argv[8] = {"run", study, "-o", out, NULL, NULL, NULL};
    if (bad[_i].set) {
        argv[4] = "--set";
        argv[5] = bad[_i].set;
    }
    int code = kh_test_khsim(argv, err, sizeof err, 0);
    ck_assert_msg(code == 2, "exit %d for case %d: %s", code, _i, err);
    ck_assert_msg(strstr(err, bad[_i].needle) != NULL, "case %d: '%s' lacks '%s'", _i, err,
                  bad[_i].needle);
    if (bad[_i].name_file || !bad[_i].ini) {
        ck_assert_msg(strstr(err, study) != NULL, "'%s' does not name %s", err, study);
    }
    ck_assert_msg(!exists(out), "case %d left an output file", _i);
    if (bad[_i].ini) {
        remove(study);
    }
}
END_TEST

/* Bad data files: truncated, wrong magic; and an unwritable output path. */
START_TEST(test_bad_files)
{
    char idx[512], study[512], out[600], err[8192], ini[2048];
    kh_test_tmpname(idx, sizeof idx, ".idx");
    FILE *f = fopen(idx, "wb");
    /* An idx of 3 doubles x 4 values that ends after 2 samples, or with a bad magic. */
    unsigned char hdr[12] = {0, 0, 0x0E, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    if (_i == 1) {
        hdr[2] = 0x42;
    }
    fwrite(hdr, 1, 12, f);
    double zeros[8] = {0};
    fwrite(zeros, sizeof(double), 8, f);
    fclose(f);
    snprintf(ini, sizeof ini,
             "[network]\nhidden = 2\n[input]\nsource = file\npath = %s\nsamples = 3\n", idx);
    kh_test_write_file(study, sizeof study, ".ini", ini);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 2);
    ck_assert_ptr_nonnull(strstr(err, _i == 1 ? "wrong magic number" : "truncated"));
    ck_assert_ptr_nonnull(strstr(err, idx));
    ck_assert(!exists(out));
    /* --resume of a file that is missing, or not HDF5 (the study itself),
     * says which, for run and train alike. */
    const char *cmd = _i == 1 ? "train" : "run";
    const char *missing[] = {cmd, "--resume", out, NULL};
    ck_assert_int_eq(kh_test_khsim(missing, err, sizeof err, 0), 2);
    ck_assert_msg(strstr(err, "cannot open: No such file") != NULL, "%s", err);
    ck_assert(!exists(out));
    const char *not_h5[] = {cmd, "--resume", study, NULL};
    ck_assert_int_eq(kh_test_khsim(not_h5, err, sizeof err, 0), 2);
    ck_assert_msg(strstr(err, "not a readable HDF5 file") != NULL, "%s", err);
    remove(idx);
    remove(study);
}
END_TEST

START_TEST(test_unwritable_output)
{
    char study[512], err[8192];
    kh_test_write_file(study, sizeof study, ".ini", good);
    /* A directory that cannot be made (below a file), even by root. */
    char out[700], dir[600];
    snprintf(out, sizeof out, "%s/dir/out.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 2);
    ck_assert_ptr_nonnull(strstr(err, "output.path = "));
    ck_assert_msg(strstr(err, "cannot create its directory"), "%s", err);
    /* A missing one is made. */
    snprintf(dir, sizeof dir, "%s.d", study);
    snprintf(out, sizeof out, "%s/a/b/out.h5", dir);
    const char *made[] = {"run", study, "-o", out, "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(made, err, sizeof err, 0) == 0, "%s", err);
    ck_assert_int_eq(access(out, R_OK), 0);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    remove(study);
}
END_TEST

/* A run of about a minute, written every 0.01 time units: the signal
 * tests stop it long before its end. */
static const char long_study[] = "[network]\nhidden = 30\np = 3\nw_inh = 0.5\ntau_L = 10\n"
                                 "[learning]\ng = bcm_step\n[input]\nsamples = 1000\n"
                                 "presentation_time = 20\nreset_h = true\n[init]\nscale = 0.1\n"
                                 "[solver]\nrtol = 1e-10\natol = 1e-12\n"
                                 "[output]\nrecord_every = 0.01\nsnapshot_every = 50\n";

/* SIGINT, SIGTERM and SIGHUP (the terminal closed): exit 128 + the signal
 * and a valid file with every /trajectory dataset of one length. */
START_TEST(test_sigint_leaves_valid_file)
{
    const int sig = _i == 0 ? SIGINT : (_i == 1 ? SIGTERM : SIGHUP);
    char study[512], out[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini", long_study);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    int code = kh_test_khsim_at(argv, err, sizeof err, sig, "0.002");
    ck_assert_msg(code == 128 + sig, "exit %d: %s", code, err);
    ck_assert_ptr_nonnull(strstr(err, "interrupted"));
    char buf[256];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "interrupted");
    const char *ds[] = {"/trajectory/t",     "/trajectory/h",        "/trajectory/current",
                        "/trajectory/pnorm", "/trajectory/lyapunov", "/trajectory/dL_dt",
                        "/trajectory/sample"};
    long len = -1;
    for (int i = 0; i < 7; i++) {
        int rank;
        long d[3];
        double *x = kh_test_read(out, ds[i], &rank, d);
        if (len < 0) {
            len = d[0];
        }
        ck_assert_msg(d[0] == len, "%s has %ld rows, /trajectory/t %ld", ds[i], d[0], len);
        for (long k = 0; k < d[0] * d[1]; k++) {
            ck_assert(isfinite(x[k]));
        }
        free(x);
    }
    ck_assert_int_gt(len, 10);
    remove(out);
    remove(study);
}
END_TEST

/* One request delivered twice, as coreutils' timeout delivers it (SIGTERM to
 * the command, then to its whole process group, at once): the run stops as
 * after one signal (exit 143, status interrupted), it is not killed by the
 * second. A second request (another signal) still ends the process. */
START_TEST(test_repeated_signal_is_one_request)
{
    char study[512], out[600];
    kh_test_write_file(study, sizeof study, ".ini", long_study);
    snprintf(out, sizeof out, "%s.h5", study);
    remove(out);
    const char *bin = getenv("KHSIM");
    bin = bin && *bin ? bin : "./khsim";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setpgid(0, 0); /* a group of its own, as timeout gives its command */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execl(bin, bin, "run", study, "-o", out, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    /* Under way: its record is live (a reader opens it in SWMR mode), so
     * that no signal comes in the moments it is made, when a second
     * request waits. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t live = -1;
    for (int i = 0; i < 6000 && live < 0; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
        live = H5Fopen(out, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    }
    ck_assert_msg(live >= 0, "the record never became live");
    H5Fclose(live);
    /* Two sends 2 ms apart: the first is taken before the second comes (two
     * pending SIGTERMs would merge into one), and the run, which takes
     * longer than that to close its record, is still there for the second. */
    int status = 0;
    if (_i == 1) { /* a second request (another signal): the process ends */
        kill(pid, SIGINT);
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        ck_assert_msg(
            WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT),
            "SIGINT, then SIGTERM: %s %d", WIFEXITED(status) ? "exit" : "killed by signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        remove(out);
        remove(study);
        return;
    }
    kill(pid, SIGTERM);
    struct timespec pause = {0, 2000000L};
    nanosleep(&pause, NULL);
    kill(-pid, SIGTERM);
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM,
                  "twice SIGTERM from one sender: %s %d",
                  WIFEXITED(status) ? "exit" : "killed by signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    char buf[256];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "interrupted");
    remove(out);
    remove(study);
}
END_TEST

/* A reader that holds HDF5's lock on the output at the moment the run
 * creates it (a script polling for the record, khsim info): the run waits
 * for it to let go, then creates the record, instead of failing with exit 2. */
START_TEST(test_create_waits_for_reader)
{
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");  /* an empty file, as a poller finds it */
    int fd = open(out, O_RDONLY | O_CLOEXEC); /* the run must not inherit it */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_SH), 0); /* what H5Fopen takes first */
    const char *bin = getenv("KHSIM");
    bin = bin && *bin ? bin : "./khsim";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execl(bin, bin, "run", "examples/default.ini", "-o", out, "--force", "-q", (char *)NULL);
        _exit(127);
    }
    struct timespec held = {0, 500000000L};
    nanosleep(&held, NULL);
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
    char buf[64];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "complete");
    remove(out);
}
END_TEST

/* A diverging run (Hebb's exponential growth) ends with exit 1, a message,
 * and a valid file whose status says failed. */
START_TEST(test_divergence)
{
    char study[512], out[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nmodel = hebb\nhidden = 2\ninputs = 3\np = 2\ntau = 0.1\n"
                       "tau_L = 0.001\n[input]\nsource = uniform\npresentation_time = 1000\n"
                       "[solver]\nmethod = euler\ndt = 0.001\n[output]\nrecord_every = 0.01\n");
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    int code = kh_test_khsim(argv, err, sizeof err, 0);
    ck_assert_msg(code == 1, "exit %d: %s", code, err);
    ck_assert_ptr_nonnull(strstr(err, "NaN or Inf"));
    char buf[1024];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "failed");
    int rank;
    long d[3];
    double *t = kh_test_read(out, "/trajectory/t", &rank, d);
    ck_assert_int_gt(d[0], 1);
    free(t);
    remove(out);
    remove(study);
}
END_TEST

START_TEST(test_info)
{
    char study[512], out[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini", good);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, "--set", "network.w_inh=0.25", NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    double x;
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/params", "network.w_inh", &x), KH_OK);
    ck_assert_double_eq_tol(x, 0.25, 1e-15);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s info %s", getenv("KHSIM") ? getenv("KHSIM") : "./khsim", out);
    FILE *p = popen(cmd, "r");
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_ptr_nonnull(strstr(text, "/trajectory/h"));
    ck_assert_ptr_nonnull(strstr(text, "[9, 4]"));
    ck_assert_ptr_nonnull(strstr(text, "network.w_inh"));
    ck_assert_ptr_nonnull(strstr(text, "complete"));
    const char *bad_info[] = {"info", study, NULL};
    ck_assert_int_eq(kh_test_khsim(bad_info, err, sizeof err, 0), 2);
    remove(out);
    remove(study);
}
END_TEST

/* The file alone suffices: SciPy re-integrates it to 1e-6 (bench/reference_khsim.py). */
static const char *reint[] = {
    "[network]\nhidden = 6\ninputs = 8\np = 3\nw_inh = 0.5\ntau_L = 5\n"
    "[learning]\ng = bcm_step\ndrive = h\nh_star = 0.3\n[input]\nsource = uniform\n"
    "samples = 3\npresentation_time = 3\npresentation_time_end = 2\nreset_h = true\nseed = 4\n"
    "[init]\nseed = 3\n[solver]\nrtol = 1e-10\natol = 1e-12\n"
    "[output]\nrecord_every = 0.25\nsnapshot_every = 2\n",
    "[network]\nhidden = 5\np = 4\nR = 1.5\nw_inh = 0.3\ntau_L = 8\n[learning]\ng = power\n"
    "n = 2\ndrive = Q\n[input]\nsamples = 2\nfirst = 7\npresentation_time = 4\n"
    "[init]\nweights = uniform\nscale = 0.2\n[solver]\nmethod = rk8pd\nrtol = 1e-11\n"
    "atol = 1e-13\n[output]\nrecord_every = 0.5\nsnapshot_every = 3\n",
    "[network]\nmodel = bcm\nhidden = 3\ninputs = 5\np = 2\nw_inh = 0.2\ntau_L = 4\n"
    "[learning]\nepsilon = 0.1\ntau_theta = 2\n[input]\nsource = uniform\nsamples = 2\n"
    "presentation_time = 3\n[solver]\nmethod = rkck\nrtol = 1e-11\natol = 1e-13\n"
    "[output]\nrecord_every = 0.5\n",
};

START_TEST(test_reintegrate_from_file)
{
    char study[512], out[600], err[8192], cmd[2048];
    kh_test_write_file(study, sizeof study, ".ini", reint[_i]);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    const char *py = getenv("PYTHON");
    snprintf(cmd, sizeof cmd, "%s bench/reference_khsim.py reintegrate %s --tol 1e-6",
             py && *py ? py : "/usr/bin/python3", out);
    ck_assert_msg(system(cmd) == 0, "SciPy's re-integration of %s differs (see above)", out);
    remove(out);
    remove(study);
}
END_TEST

/* Runs a study, then plants a fault with h5py (python code with {f} the open
 * file), and returns the exit status of khsim verify and its output. */
static int verify_planted(const char *ini, const char *plant, char *text, size_t len)
{
    char study[512], out[600], err[8192], cmd[4096];
    kh_test_write_file(study, sizeof study, ".ini", ini);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    const char *py = getenv("PYTHON");
    if (plant) {
        snprintf(cmd, sizeof cmd, "%s -c \"import h5py\nf = h5py.File('%s', 'r+')\n%s\"",
                 py && *py ? py : "/usr/bin/python3", out, plant);
        ck_assert_msg(system(cmd) == 0, "planting failed: %s", cmd);
    }
    snprintf(cmd, sizeof cmd, "%s verify %s", getenv("KHSIM") ? getenv("KHSIM") : "./khsim", out);
    FILE *p = popen(cmd, "r");
    size_t n = fread(text, 1, len - 1, p);
    text[n] = '\0';
    int status = pclose(p);
    remove(out);
    remove(study);
    return WEXITSTATUS(status);
}

static const char *audit_ini = "[network]\nhidden = 6\ninputs = 8\np = 3\nw_inh = 0.3\n"
                               "tau_L = 2\n[learning]\ng = power\nn = 1\ndrive = Q\n"
                               "[input]\nsource = uniform\nsamples = 3\npresentation_time = 3\n"
                               "[init]\nweights = uniform\nscale = 0.8\n[solver]\nrtol = 1e-9\n"
                               "atol = 1e-12\n[output]\nrecord_every = 0.05\n";

START_TEST(test_verify_passes)
{
    char text[65536];
    ck_assert_int_eq(verify_planted(audit_ini, NULL, text, sizeof text), 0);
    ck_assert_ptr_nonnull(strstr(text, "every guaranteed property holds"));
    /* The default study too (drive h: its decreases of L are all explained). */
    char out[512], err[4096];
    kh_test_tmpname(out, sizeof out, ".h5");
    const char *run[] = {"run", "examples/default.ini", "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(run, err, sizeof err, 0), 0);
    const char *argv[] = {"verify", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    remove(out);
}
END_TEST

START_TEST(test_verify_planted_lyapunov)
{
    char text[65536];
    /* Row 25 lies inside the first presentation (rows 0..59). */
    int code = verify_planted(audit_ini, "L = f['trajectory/lyapunov']\nL[25] = L[24] - 0.5", text,
                              sizeof text);
    ck_assert_msg(code == 1, "exit %d: %s", code, text);
    ck_assert_ptr_nonnull(strstr(text, "FAIL lyapunov"));
    ck_assert_ptr_nonnull(strstr(text, "presentation 0, t = 1.2 to 1.25"));
}
END_TEST

START_TEST(test_verify_planted_off_sphere)
{
    char text[65536];
    int code =
        verify_planted(audit_ini, "B = f['trajectory/pnorm']\nb = B[100]\nb[2] += 5.0\nB[100] = b",
                       text, sizeof text);
    ck_assert_msg(code == 1, "exit %d: %s", code, text);
    ck_assert_ptr_nonnull(strstr(text, "FAIL sphere"));
    ck_assert_ptr_nonnull(strstr(text, "unit 2 moved away from the sphere"));
}
END_TEST

/* A 1 % error in the recorded dL/dt fails the audit, with drive Q and with
 * drive h (bcm_step, where L also decreases); untouched, both pass. */
static const char *audit_drive_h_ini =
    "[network]\nhidden = 20\ninputs = 30\np = 3\nw_inh = 0.4\ntau_L = 10\n"
    "[learning]\ng = bcm_step\ndelta = 0.4\nh_star = 0.5\ndrive = h\n"
    "[input]\nsource = uniform\nsamples = 3\npresentation_time = 8\nreset_h = true\n"
    "[init]\nscale = 0.3\nseed = 11\n[solver]\nrtol = 1e-9\natol = 1e-11\n"
    "[output]\nrecord_every = 0.02\n";

START_TEST(test_verify_scaled_dL_dt)
{
    char text[65536];
    const char *ini = _i < 2 ? audit_ini : audit_drive_h_ini;
    const char *plant = _i % 2 ? "d = f['trajectory/dL_dt']\nd[...] = 1.01 * d[...]" : NULL;
    int code = verify_planted(ini, plant, text, sizeof text);
    if (plant) {
        ck_assert_msg(code == 1, "dL/dt x 1.01 passed (exit %d): %s", code, text);
        ck_assert_ptr_nonnull(strstr(text, "FAIL dL/dt"));
    } else {
        ck_assert_msg(code == 0, "an untouched record failed (exit %d): %s", code, text);
    }
}
END_TEST

/* A correct record whose unit 5 passes through the band where g = -delta
 * (g I < 0) between two rows, h_5 going -0.0108, +0.0096, -0.0079 across
 * t = 5 to 5.5: B may move away from the sphere there, and verify must not
 * call it a failure, whatever the row spacing. The audit reads the
 * solver's flags of those intervals (/trajectory/gI_negative). */
START_TEST(test_verify_sphere_between_rows)
{
    char text[65536];
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[network]\nhidden = 8\ninputs = 12\np = 3.5\nR = 2\nw_inh = 0.5\ntau = 1\n"
             "tau_L = 30\n[learning]\ng = bcm_step\ndelta = 0.5\nh_star = 2\ndrive = h\n"
             "[input]\nsource = uniform\nsamples = 4\npresentation_time = 3\n"
             "reset_h = false\nseed = 306\n[init]\nweights = uniform\nscale = 1\nseed = 406\n"
             "[solver]\nmethod = rk8pd\nrtol = 1e-11\natol = 1e-13\n"
             "[output]\nrecord_every = %s\nsnapshot_every = 3\n",
             _i == 0 ? "0.5" : "0.25");
    int code = verify_planted(ini, NULL, text, sizeof text);
    ck_assert_msg(code == 0, "record_every %s: exit %d: %s", _i == 0 ? "0.5" : "0.25", code, text);
    /* Without the flags the same record fails: they are what excuses it. */
    code = verify_planted(ini, "del f['trajectory/gI_negative']", text, sizeof text);
    ck_assert_msg(code == 1, "without the flags: exit %d: %s", code, text);
    ck_assert_ptr_nonnull(strstr(text, "moved away from the sphere"));
}
END_TEST

/* Valid HDF5 files whose attributes hold arrays where khsim expects one
 * value: khsim info prints each once (no overflow: it printed one line
 * forever, or crashed on a root attribute of 100 values), and a record
 * whose /params/network.tau is [1, 2, 3] is refused by --resume (exit 2),
 * not run. */
START_TEST(test_array_attributes)
{
    char path[512], cmd[2048], err[8192];
    kh_test_tmpname(path, sizeof path, ".h5");
    const char *py = getenv("PYTHON");
    py = py && *py ? py : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd,
             "%s -c \"import h5py, numpy as np\nf = h5py.File('%s', 'w')\n"
             "g = f.create_group('params')\ng.attrs['k0'] = np.arange(3)\n"
             "f.attrs['big'] = np.arange(100)\nf.attrs['names'] = ['a', 'b']\"",
             py, path);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1 | head -200 | grep -c 'values, not shown'",
             getenv("KHSIM") ? getenv("KHSIM") : "./khsim", path);
    FILE *p = popen(cmd, "r");
    char buf[64] = "";
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, p));
    pclose(p);
    ck_assert_int_eq(atoi(buf), 3);
    const char *info[] = {"info", path, NULL};
    int code = kh_test_khsim(info, err, sizeof err, 0);
    ck_assert_msg(code == 0, "khsim info exit %d: %s", code, err);
    /* A real record, then its /params/network.tau made an array. */
    char study[512], out[600];
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nhidden = 4\ninputs = 5\n[input]\nsource = uniform\n"
                       "samples = 2\npresentation_time = 1\n[output]\nrecord_every = 0.5\n");
    snprintf(out, sizeof out, "%s.h5", study);
    const char *run[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(run, err, sizeof err, 0), 0);
    snprintf(cmd, sizeof cmd,
             "%s -c \"import h5py, numpy as np\nf = h5py.File('%s', 'r+')\n"
             "f['params'].attrs['network.tau'] = np.array([1.0, 2.0, 3.0])\n"
             "f.attrs['status'] = 'interrupted'\"",
             py, out);
    ck_assert_int_eq(system(cmd), 0);
    const char *res[] = {"run", "--resume", out, NULL};
    code = kh_test_khsim(res, err, sizeof err, 0);
    ck_assert_msg(code == 2, "resume exit %d: %s", code, err);
    ck_assert_ptr_nonnull(strstr(err, "network.tau"));
    ck_assert_ptr_nonnull(strstr(err, "3 values"));
    remove(out);
    remove(study);
    remove(path);
}
END_TEST

/* Outputs are never clobbered: an existing record is refused without
 * --force (and left as it was), a symbolic link is not followed, the study
 * file itself is never written, and a second run on the output of a run
 * still going is refused before it touches the file. */
START_TEST(test_output_protected)
{
    char study[512], out[600], err[8192], target[512], link[600];
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nhidden = 4\ninputs = 5\n[input]\nsource = uniform\n"
                       "samples = 2\npresentation_time = 1\n[output]\nrecord_every = 0.5\n");
    snprintf(out, sizeof out, "%s.h5", study);
    const char *run[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(run, err, sizeof err, 0), 0);
    struct stat s0, s1;
    ck_assert_int_eq(stat(out, &s0), 0);
    int code = kh_test_khsim(run, err, sizeof err, 0);
    ck_assert_msg(code == 2, "a second run over a record: exit %d", code);
    ck_assert_ptr_nonnull(strstr(err, "--force"));
    ck_assert_int_eq(stat(out, &s1), 0);
    ck_assert(s0.st_mtime == s1.st_mtime && s0.st_size == s1.st_size);
    const char *forced[] = {"run", study, "-o", out, "--force", NULL};
    ck_assert_int_eq(kh_test_khsim(forced, err, sizeof err, 0), 0);
    /* A symbolic link to another file: refused, the file untouched. */
    kh_test_write_file(target, sizeof target, ".txt", "precious\n");
    snprintf(link, sizeof link, "%s.link.h5", target);
    ck_assert_int_eq(symlink(target, link), 0);
    const char *via[] = {"run", study, "-o", link, "--force", NULL};
    code = kh_test_khsim(via, err, sizeof err, 0);
    ck_assert_msg(code == 2, "through a link: exit %d", code);
    ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
    FILE *t = fopen(target, "r");
    char line[64] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, t));
    fclose(t);
    ck_assert_str_eq(line, "precious\n");
    /* The study file as the output, even with --force. */
    const char *self[] = {"run", study, "-o", study, "--force", NULL};
    code = kh_test_khsim(self, err, sizeof err, 0);
    ck_assert_msg(code == 2, "over the study: exit %d", code);
    ck_assert_ptr_nonnull(strstr(err, "study file"));
    t = fopen(study, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, t));
    fclose(t);
    ck_assert_str_eq(line, "[network]\n");
    remove(link);
    remove(target);
    remove(out);
    remove(study);
}
END_TEST

/* Two runs, one output: while the first writes it (its file has appeared),
 * the second, even with --force, is refused and leaves the file alone; the
 * first, interrupted afterwards, leaves a valid record. */
START_TEST(test_second_run_refused)
{
    char study[512], out[600], err[8192];
    kh_test_write_file(study, sizeof study, ".ini", long_study);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *bin = getenv("KHSIM") ? getenv("KHSIM") : "./khsim";
    pid_t first = fork();
    ck_assert_int_ge(first, 0);
    if (first == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        execl(bin, bin, "run", study, "-o", out, "--quiet", (char *)NULL);
        _exit(127);
    }
    /* The first run's record exists once its header is written. */
    struct stat st;
    for (int i = 0; i < 60000 && !(stat(out, &st) == 0 && st.st_size > 0); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(stat(out, &st) == 0 && st.st_size > 0, "the first run wrote nothing");
    const char *second[] = {"run", study, "-o", out, "--force", NULL};
    int code = kh_test_khsim(second, err, sizeof err, 0);
    int status = 0;
    const int done = waitpid(first, &status, WNOHANG) == first;
    if (!done) {
        kill(first, SIGINT);
        waitpid(first, &status, 0);
    }
    /* If the first had already finished, the second could legitimately run. */
    if (!done) {
        ck_assert_msg(code == 2, "the second run: exit %d: %s", code, err);
        ck_assert_ptr_nonnull(strstr(err, "another process is writing"));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "the first run: status %d",
                      status);
    }
    char buf[64];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, done ? "complete" : "interrupted");
    int rank;
    long d[3];
    double *x = kh_test_read(out, "/trajectory/t", &rank, d);
    ck_assert_int_gt(d[0], 0);
    free(x);
    remove(out);
    remove(study);
}
END_TEST

/* Requests that cannot finish or cannot fit are refused before the file is
 * created: 1e15 rows, snapshots of W beyond the free disk, an explicit
 * stepper held to steps of 1e-300 by tau, and the fast rule's 9e15 epochs or
 * their snapshots. */
START_TEST(test_huge_request_refused)
{
    char out[512], err[8192];
    kh_test_tmpname(out, sizeof out, ".h5");
    remove(out);
    const char *sets[6][3] = {
        {"examples/default.ini", "output.record_every=1e-12", "cannot finish"},
        {"examples/default.ini", "output.snapshot_every=1e-9", "GB free"},
        {"examples/default.ini", "network.tau=1e-300", "network.tau = 1e-300 holds"},
        {"examples/default.ini", "network.tau_L=1e-14", "network.tau_L = 1e-14 holds"},
        {"examples/fast_mnist1000.ini", "learning.epochs=9e15", "cannot finish"},
        {"examples/fast_mnist1000.ini", "learning.epochs=1e9", "GB free"}};
    for (int k = 0; k < 6; k++) {
        const char *argv[] = {"run",   sets[k][0], "-o",    out,
                              "--set", sets[k][1], "--set", "input.presentation_time=1e3",
                              NULL};
        int code = kh_test_khsim(argv, err, sizeof err, 0);
        ck_assert_msg(code == 2, "%s: exit %d: %s", sets[k][1], code, err);
        ck_assert_msg(strstr(err, sets[k][2]) != NULL, "%s: %s", sets[k][1], err);
        ck_assert_int_ne(access(out, F_OK), 0);
    }
}
END_TEST

/* A run that passes those checks but whose steps turn out far too short
 * (inputs of 1e30: steps of about 1e-29) reports its progress between rows
 * and, after KHSIM_STALL_SECONDS (here 1 s) in one presentation at a pace
 * that would need centuries, stops (exit 1) with a record whose status is
 * failed; it once ran on, silent, until killed. */
START_TEST(test_hopeless_run_stops)
{
    char data[512], out[600], err[8192];
    kh_test_tmpname(data, sizeof data, ".idx");
    FILE *f = fopen(data, "wb");
    ck_assert_ptr_nonnull(f);
    const unsigned char head[12] = {0, 0, 0x0D, 2, 0, 0, 0, 4, 0, 0, 0, 10}; /* float, 4 x 10 */
    fwrite(head, 1, sizeof head, f);
    for (int i = 0; i < 40; i++) {
        const float x = (float)(1e30 * (1.0 + 0.1 * (i % 7)));
        unsigned char be[4];
        uint32_t u;
        memcpy(&u, &x, sizeof u);
        for (int b = 0; b < 4; b++) {
            be[b] = (unsigned char)(u >> (24 - 8 * b));
        }
        fwrite(be, 1, sizeof be, f);
    }
    fclose(f);
    snprintf(out, sizeof out, "%s.h5", data);
    char path_set[600];
    snprintf(path_set, sizeof path_set, "input.path=%s", data);
    const char *argv[] = {"run",   "examples/default.ini", "-o",         out,
                          "--set", "input.source=file",    "--set",      path_set,
                          "--set", "input.samples=2",      "--progress", NULL};
    setenv("KHSIM_STALL_SECONDS", "1", 1);
    const int code = kh_test_khsim(argv, err, sizeof err, 0);
    unsetenv("KHSIM_STALL_SECONDS");
    ck_assert_msg(code == 1, "exit %d: %s", code, err);
    ck_assert_msg(strstr(err, "cannot finish") && strstr(err, "years"), "%s", err);
    ck_assert_msg(strstr(err, "presentation 1/2  t = "), "no progress within the row: %s", err);
    char status[64];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", status, sizeof status), KH_OK);
    ck_assert_str_eq(status, "failed");
    remove(out);
    remove(data);
}
END_TEST

/* A run whose progress lines go to a pipe nobody reads any more (`| head`
 * that has ended): the failed write stops it as Ctrl-C does (exit 141, the
 * record closed as interrupted), and --resume completes it; SIGPIPE once
 * killed it in the middle of its record. */
START_TEST(test_closed_progress_pipe_stops)
{
    char out[512], err[8192];
    kh_test_tmpname(out, sizeof out, ".h5");
    remove(out);
    const char *bin = getenv("KHSIM") && *getenv("KHSIM") ? getenv("KHSIM") : "./khsim";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd[2];
        if (pipe(fd) != 0) {
            _exit(99);
        }
        close(fd[0]);                             /* the reader is gone before the first line */
        setenv("KHSIM_PROGRESS_SECONDS", "0", 1); /* a line at the first row */
        dup2(fd[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        execl(bin, bin, "run", "examples/manzali_fig5.ini", "-o", out, "--progress", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGPIPE, "exit %d, signal %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    char st[64];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", st, sizeof st), KH_OK);
    ck_assert_str_eq(st, "interrupted");
    const char *again[] = {"run", "--resume", out, "-q", NULL};
    ck_assert_int_eq(kh_test_khsim(again, err, sizeof err, 0), 0);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", st, sizeof st), KH_OK);
    ck_assert_str_eq(st, "complete");
    remove(out);
}
END_TEST

START_TEST(test_verify_json)
{
    char study[512], out[600], err[8192], cmd[2048];
    kh_test_write_file(study, sizeof study, ".ini", audit_ini);
    snprintf(out, sizeof out, "%s.h5", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    const char *py = getenv("PYTHON");
    snprintf(cmd, sizeof cmd,
             "%s verify %s --json | %s -c \"import json, sys; d = json.load(sys.stdin); "
             "assert d['ok'] and len(d['sphere']['units']) == 6 and "
             "d['lyapunov']['decreases'] == 0\"",
             getenv("KHSIM") ? getenv("KHSIM") : "./khsim", out,
             py && *py ? py : "/usr/bin/python3");
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    const char *not_h5[] = {"verify", study, NULL};
    ck_assert_int_eq(kh_test_khsim(not_h5, err, sizeof err, 0), 2);
    remove(out);
    remove(study);
}
END_TEST

/* Every plot script renders a small file into a temporary directory, and
 * the PNG it writes is not blank. */
START_TEST(test_plots)
{
    const char *scripts[] = {"activities", "sphere", "lyapunov", "receptive_fields",
                             "fields_evolution"};
    char study[512], out[600], dir[600], err[8192], cmd[4096];
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nhidden = 4\ninputs = 16\np = 3\nw_inh = 0.3\ntau_L = 2\n"
                       "[learning]\ng = bcm_step\nh_star = 0.2\n[input]\nsource = uniform\n"
                       "samples = 3\npresentation_time = 2\n[init]\nscale = 0.5\n"
                       "[output]\nrecord_every = 0.1\nsnapshot_every = 2\n");
    snprintf(out, sizeof out, "%s.h5", study);
    snprintf(dir, sizeof dir, "%s.figs", study);
    const char *argv[] = {"run", study, "-o", out, NULL};
    ck_assert_int_eq(kh_test_khsim(argv, err, sizeof err, 0), 0);
    const char *py = getenv("PYTHON");
    py = py && *py ? py : "/usr/bin/python3";
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "%s plots/%s.py %s --out %s > /dev/null", py, scripts[i], out,
                 dir);
        ck_assert_msg(system(cmd) == 0, "%s failed", scripts[i]);
        const char *base = strrchr(out, '/') + 1;
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import matplotlib.image as I; a = I.imread('%s/%.*s_%s.png'); "
                 "assert a.shape[0] > 100 and a.shape[1] > 100 and a[..., :3].std() > 0.01\"",
                 py, dir, (int)(strlen(base) - 3), base, scripts[i]);
        ck_assert_msg(system(cmd) == 0, "%s: the PNG is missing or blank", scripts[i]);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    remove(out);
    remove(study);
}
END_TEST

/* What a user reads: no source locations unless -v (or KHSIM_DEBUG=1), a
 * "did you mean" for a misspelt key or section and for a key in the wrong
 * section, a hint for a sweep file given to run, "does not exist" for a
 * missing record, spaces allowed in --set, progress lines in a pipe with
 * --progress, and the resume command after Ctrl-C. */
START_TEST(test_messages)
{
    char study[512], out[600], err[8192];
    struct {
        const char *ini, *needle;
    } cases[] = {
        {"[network]\nhiden = 3\n", "(did you mean 'hidden'?)"},
        {"[learning]\nw_inh = 2\n", "(w_inh is a key of [network])"},
        {"[netwrk]\nhidden = 2\n", "(did you mean [network]?)"},
        {"[sweep]\nbase = x.ini\n", "run it with khsim sweep"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        kh_test_write_file(study, sizeof study, ".ini", cases[k].ini);
        const char *a[] = {"run", study, NULL};
        ck_assert_int_eq(kh_test_khsim(a, err, sizeof err, 0), 2);
        ck_assert_msg(strstr(err, cases[k].needle), "'%s' lacks '%s'", err, cases[k].needle);
        ck_assert_msg(!strstr(err, ".c:"), "a source location without -v: %s", err);
        const char *av[] = {"run", study, "-v", NULL};
        ck_assert_int_eq(kh_test_khsim(av, err, sizeof err, 0), 2);
        ck_assert_msg(strstr(err, "[io/kh_config.c:"), "no source location with -v: %s", err);
        remove(study);
    }
    const char *ai[] = {"info", "/nonexistent/record.h5", NULL};
    ck_assert_int_eq(kh_test_khsim(ai, err, sizeof err, 0), 2);
    ck_assert_msg(strstr(err, "does not exist"), "%s", err);
    kh_test_write_file(study, sizeof study, ".ini",
                       "[network]\nhidden = 5\n[input]\npresentation_time = 20\n");
    snprintf(out, sizeof out, "%s.h5", study);
    const char *as[] = {"run", study, "-o", out, "--set", "network.tau = 2", "--progress", NULL};
    setenv("KHSIM_PROGRESS_SECONDS", "0", 1); /* a report at every check: the run is short */
    const int code = kh_test_khsim(as, err, sizeof err, 0);
    unsetenv("KHSIM_PROGRESS_SECONDS");
    ck_assert_msg(code == 0, "%s", err);
    ck_assert_msg(strstr(err, "[khsim] ") && strstr(err, "%  presentation"),
                  "no progress line in a pipe: %s", err);
    double tau;
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/params", "network.tau", &tau), KH_OK);
    ck_assert_double_eq(tau, 2.0);
    const char *ac[] = {"run", study, "-o", out, "--force", "--quiet", NULL};
    ck_assert_int_eq(kh_test_khsim_at(ac, err, sizeof err, SIGINT, "0.5"), 130);
    ck_assert_msg(strstr(err, "khsim run --resume "), "no resume hint: %s", err);
    /* The resume's summary counts every part, as /solver does. */
    char cmd[2048], line[2048] = "", txt[700];
    snprintf(txt, sizeof txt, "%s.txt", out);
    snprintf(cmd, sizeof cmd, "%s run --resume %s --quiet > %s",
             getenv("KHSIM") ? getenv("KHSIM") : "./khsim", out, txt);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(txt, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    double steps;
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/solver", "steps", &steps), KH_OK);
    char want[64];
    snprintf(want, sizeof want, "; %ld steps (", (long)steps);
    ck_assert_msg(strstr(line, want) && strstr(line, "(all parts)"), "'%s' lacks '%s'", line, want);
    remove(txt);
    /* khsim train stopped before its readout says which phase, not an error of -100 %. */
    const char *at[] = {"train", "examples/train_small.ini", "-o", out, "--force", "--quiet", NULL};
    ck_assert_int_eq(kh_test_khsim_at(at, err, sizeof err, SIGINT, "0.2"), 130);
    ck_assert_msg(strstr(err, "interrupted in the unsupervised (fast rule) phase") &&
                      !strstr(err, "-100") && strstr(err, "khsim train --resume "),
                  "%s", err);
    remove(out);
    remove(study);
}
END_TEST

/* Files a study reads are found beside the study file: a study in another
 * directory naming its data relatively runs from here, and /params keeps the
 * path as resolved. (They used to be looked for in the current directory.) */
START_TEST(test_paths_beside_study)
{
    char dir[512], study[700], out[700], err[8192], cmd[2048], got[1200];
    snprintf(dir, sizeof dir, "%s/khsim_paths_XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char here[1024];
    ck_assert_ptr_nonnull(getcwd(here, sizeof here));
    snprintf(cmd, sizeof cmd, "ln -s '%s/data/mnist-1000' '%s/digits'", here, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(study, sizeof study, "%s/s.ini", dir);
    FILE *f = fopen(study, "w");
    fprintf(f, "[network]\nhidden = 4\n[input]\nsource = mnist\npath = digits\n"
               "presentation_time = 2\n");
    fclose(f);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    const char *a[] = {"run", study, "-o", out, "--quiet", NULL};
    ck_assert_msg(kh_test_khsim(a, err, sizeof err, 0) == 0, "%s", err);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/params", "input.path", got, sizeof got), KH_OK);
    char want[1200];
    snprintf(want, sizeof want, "%s/digits", dir);
    ck_assert_str_eq(got, want);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* make install PREFIX=DIR, then the tree moved elsewhere: from another
 * directory, the installed khsim (the binary under test put in its place)
 * says where its shipped data are (--data-dir: DIR/share/khsim/data) and
 * runs an installed example that reads them. */
START_TEST(test_install_runs_anywhere)
{
    char dir[512], moved[600], cmd[4096], got[1200] = "", want[1200], here[1024];
    snprintf(dir, sizeof dir, "%s/khsim_install_XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(getcwd(here, sizeof here));
    const char *khsim = getenv("KHSIM") ? getenv("KHSIM") : "./khsim";
    snprintf(cmd, sizeof cmd,
             "make -s install PREFIX=%s/p >/dev/null && install -m 755 %s %s/p/bin/khsim && mv "
             "%s/p %s/q",
             dir, khsim, dir, dir, dir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    snprintf(moved, sizeof moved, "%s/q", dir);
    snprintf(cmd, sizeof cmd, "cd / && %s/bin/khsim --data-dir > %s/where", moved, dir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/where", dir);
    FILE *f = fopen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(got, sizeof got, f));
    fclose(f);
    got[strcspn(got, "\n")] = '\0';
    char real[1024];
    ck_assert_ptr_nonnull(realpath(moved, real));
    snprintf(want, sizeof want, "%s/share/khsim/data", real);
    ck_assert_str_eq(got, want);
    snprintf(cmd, sizeof cmd,
             "cd / && %s/bin/khsim run %s/share/khsim/examples/default.ini -o %s/out.h5 --quiet "
             "--set input.presentation_time=2 >/dev/null",
             moved, moved, dir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/out.h5", dir);
    char status[64];
    ck_assert_int_eq(kh_h5_read_attr_string(cmd, "/", "status", status, sizeof status), KH_OK);
    ck_assert_str_eq(status, "complete");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The Python package (python/khsim, tests/python_load.py): khsim.load on a
 * run, a fast-rule run, a training and a sweep index, and khsim.run. */
START_TEST(test_python_package)
{
    char dir[512], study[700], sw[700], runh5[700], fast[700], train[700], out[700], err[8192];
    char cmd[4096];
    snprintf(dir, sizeof dir, "%s/khsim_py_XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(study, sizeof study, "%s/s.ini", dir);
    FILE *f = fopen(study, "w");
    fprintf(f, "[network]\nhidden = 6\n[input]\nsamples = 2\npresentation_time = 3\n");
    fclose(f);
    snprintf(sw, sizeof sw, "%s/sw.ini", dir);
    f = fopen(sw, "w");
    fprintf(f, "[sweep]\nbase = s.ini\nout = %s/sweep\n[grid]\nnetwork.w_inh = 0.2, 0.6\n", dir);
    fclose(f);
    snprintf(runh5, sizeof runh5, "%s/run.h5", dir);
    snprintf(fast, sizeof fast, "%s/fast.h5", dir);
    snprintf(train, sizeof train, "%s/train.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    const char *a1[] = {"run", study, "-o", runh5, "--quiet", NULL};
    const char *a2[] = {"run",   "examples/fast_mnist1000.ini", "-o", fast, "--quiet",
                        "--set", "learning.epochs=3",           NULL};
    const char *a3[] = {
        "train", "examples/train_small.ini", "-o", train, "--quiet", "--set", "learning.epochs=5",
        "--set", "train.epochs=3",           NULL};
    const char *a4[] = {"sweep", sw, NULL};
    const char *const *runs[] = {a1, a2, a3, a4};
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(kh_test_khsim(runs[k], err, sizeof err, 0) == 0, "%s", err);
    }
    const char *py = getenv("PYTHON");
    snprintf(cmd, sizeof cmd,
             "PYTHONPATH=python %s tests/python_load.py %s %s %s %s/sweep/index.h5 %s %s",
             py && *py ? py : "/usr/bin/python3", runh5, fast, train, dir, study, out);
    ck_assert_msg(system(cmd) == 0, "the Python package's check failed (see above)");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* make check-layers: the sources' includes all point down; a planted
 * upward include (core including io), and one that names no layer, fail. */
START_TEST(test_check_layers)
{
    const char *layers = "core models solvers gpu io run cmd";
    char cmd[2048], dir[256];
    snprintf(cmd, sizeof cmd, "sh scripts/check_layers.sh %s >/dev/null", layers);
    ck_assert_msg(system(cmd) == 0, "the sources include upward (make check-layers)");
    const char *planted[] = {"#include \"io/kh_h5.h\"\n", "#include \"../src/kh_error.h\"\n"};
    for (int k = 0; k < 2; k++) {
        snprintf(dir, sizeof dir, "%s/khsim_layers_XXXXXX",
                 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(cmd, sizeof cmd,
                 "cd %s && mkdir core io && printf '%%s' '%s' > core/a.h && "
                 "printf '#include \"core/a.h\"\\n' > io/kh_h5.h && "
                 "sh %s/scripts/check_layers.sh core io >/dev/null",
                 dir, planted[k], getenv("PWD") ? getenv("PWD") : ".");
        const int ws = system(cmd);
        ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 1, "planted %s passed", planted[k]);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
}
END_TEST

/* The memory limit (core/kh_mem.h): a run that needs more than KHSIM_MEMORY
 * allows is refused at once with "out of memory", exit 2, and a word on the
 * limit, instead of being killed when it touches the memory; a run that
 * fits runs as before, and ends (OpenBLAS's threads are capped to the
 * limit: past it they retried their buffers forever, and the process never
 * ended); a KHSIM_MEMORY that is not a size, or below what the libraries
 * need, is refused. */
START_TEST(test_memory_limit)
{
    char out[512], err[8192];
    kh_test_tmpname(out, sizeof out, ".h5");
    remove(out);
    /* Under AddressSanitizer a refused allocation must return NULL, as
     * glibc's does, instead of ending the process. */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%sallocator_may_return_null=1", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);

    /* W alone is 60 000 x 784 doubles, 376 MB, over a limit of 256 MiB. */
    setenv("KHSIM_MEMORY", "256M", 1);
    const char *big[] = {"run",   "examples/default.ini", "-o", out,
                         "--set", "network.hidden=60000", "-q", NULL};
    double t0 = kh_wall_seconds();
    int code = kh_test_khsim(big, err, sizeof err, 0);
    ck_assert_msg(code == 2, "exit %d: %s", code, err);
    ck_assert_msg(strstr(err, "out of memory") && strstr(err, "limited to 0.25 GiB") &&
                      strstr(err, "KHSIM_MEMORY=unlimited"),
                  "%s", err);
    ck_assert_msg(kh_wall_seconds() - t0 < 30.0, "refused only after %.1f s",
                  kh_wall_seconds() - t0);
    ck_assert_int_ne(access(out, F_OK), 0);

    /* The default study (m = 20) runs under the same limit, to the end
     * (AddressSanitizer's own allocator holds more than that: 1 GiB). */
#if defined(__SANITIZE_ADDRESS__)
    setenv("KHSIM_MEMORY", "1G", 1);
#endif
    const char *small[] = {"run", "examples/default.ini", "-o", out, "-q", NULL};
    code = kh_test_khsim(small, err, sizeof err, 0);
    ck_assert_msg(code == 0, "exit %d: %s", code, err);
    remove(out);

    /* Not a size, and a size below what the libraries need to start (8M
     * had OpenBLAS's threads retry their buffers forever). */
    const char *refused[2][2] = {{"lots", "expected auto"}, {"8M", "below 256M"}};
    for (int k = 0; k < 2; k++) {
        setenv("KHSIM_MEMORY", refused[k][0], 1);
        code = kh_test_khsim(small, err, sizeof err, 0);
        ck_assert_msg(code == 2 && strstr(err, refused[k][1]), "%s: exit %d: %s", refused[k][0],
                      code, err);
        ck_assert_int_ne(access(out, F_OK), 0);
    }
    unsetenv("KHSIM_MEMORY");
    if (asan) {
        setenv("ASAN_OPTIONS", asan, 1);
    } else {
        unsetenv("ASAN_OPTIONS");
    }
}
END_TEST

Suite *kh_cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("binary");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_help_version_unknown);
    tcase_add_test(tc, test_error_messages);
    tcase_add_loop_test(tc, test_bad_input, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_loop_test(tc, test_bad_files, 0, 2);
    tcase_add_test(tc, test_check_layers);
    tcase_add_test(tc, test_messages);
    tcase_add_test(tc, test_paths_beside_study);
    tcase_add_test(tc, test_install_runs_anywhere);
    tcase_add_test(tc, test_python_package);
    tcase_add_test(tc, test_unwritable_output);
    tcase_add_loop_test(tc, test_sigint_leaves_valid_file, 0, 3);
    tcase_add_test(tc, test_divergence);
    tcase_add_test(tc, test_info);
    tcase_add_loop_test(tc, test_reintegrate_from_file, 0, 3);
    tcase_add_test(tc, test_verify_passes);
    tcase_add_test(tc, test_verify_planted_lyapunov);
    tcase_add_test(tc, test_verify_planted_off_sphere);
    tcase_add_test(tc, test_verify_json);
    tcase_add_loop_test(tc, test_verify_scaled_dL_dt, 0, 4);
    tcase_add_loop_test(tc, test_verify_sphere_between_rows, 0, 2);
    tcase_add_test(tc, test_array_attributes);
    tcase_add_test(tc, test_output_protected);
    tcase_add_test(tc, test_second_run_refused);
    tcase_add_test(tc, test_create_waits_for_reader);
    tcase_add_loop_test(tc, test_repeated_signal_is_one_request, 0, 2);
    tcase_add_test(tc, test_huge_request_refused);
    tcase_add_test(tc, test_hopeless_run_stops);
    tcase_add_test(tc, test_memory_limit);
    tcase_add_test(tc, test_closed_progress_pipe_stops);
    tcase_add_test(tc, test_plots);
    suite_add_tcase(s, tc);
    return s;
}
