/* Helpers shared by the Check suites. */
#include "kh_test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "io/kh_h5.h"

#include <hdf5.h>
#include <hdf5_hl.h>

kh_config *kh_test_config(const char *ini)
{
    kh_config *c = kh_config_alloc();
    ck_assert_ptr_nonnull(c);
    int s = kh_config_parse_string(c, ini, "test.ini");
    ck_assert_msg(s == KH_OK, "parse: %s", kh_errmsg());
    s = kh_config_validate(c);
    ck_assert_msg(s == KH_OK, "validate: %s", kh_errmsg());
    return c;
}

void kh_test_tmpname(char *buf, size_t len, const char *suffix)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/khsim_test_XXXXXX%s", dir && *dir ? dir : "/tmp", suffix);
    int fd = mkstemps(buf, (int)strlen(suffix));
    ck_assert_msg(fd >= 0, "mkstemps failed for %s", buf);
    close(fd);
}

void kh_test_write_file(char *buf, size_t len, const char *suffix, const char *text)
{
    kh_test_tmpname(buf, len, suffix);
    FILE *f = fopen(buf, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

int kh_test_khsim(const char *const argv[], char *err, size_t errlen, double sigint_after)
{
    return kh_test_khsim_signal(argv, err, errlen, sigint_after, SIGINT);
}

int kh_test_khsim_signal(const char *const argv[], char *err, size_t errlen, double sigint_after,
                         int sig)
{
    return kh_test_khsim_env(argv, err, errlen, sigint_after, sig, NULL);
}

int kh_test_khsim_at(const char *const argv[], char *err, size_t errlen, int sig, const char *at)
{
    char spec[128];
    snprintf(spec, sizeof spec, "%d %s", sig, at);
    return kh_test_khsim_env(argv, err, errlen, 0.0, sig, spec);
}

int kh_test_khsim_env(const char *const argv[], char *err, size_t errlen, double sigint_after,
                      int sig, const char *signal_at)
{
    const char *bin = getenv("KHSIM");
    if (!bin || !*bin) {
        bin = "./khsim";
    }
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
        }
        close(pipefd[0]);
        if (signal_at) {
            setenv("KHSIM_SIGNAL_AT", signal_at, 1);
            setenv("KHSIM_PROGRESS_SECONDS", "0", 1);
        }
        int n = 0;
        while (argv[n]) {
            n++;
        }
        char **a = calloc((size_t)n + 2, sizeof(char *));
        a[0] = (char *)bin;
        for (int i = 0; i < n; i++) {
            a[i + 1] = (char *)argv[i];
        }
        execv(bin, a);
        _exit(127);
    }
    close(pipefd[1]);
    if (sigint_after > 0) {
        struct timespec ts = {(time_t)sigint_after,
                              (long)((sigint_after - (double)(time_t)sigint_after) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, sig);
    }
    size_t got = 0;
    ssize_t r;
    char sink[4096];
    while ((r = read(pipefd[0], got + 1 < errlen ? err + got : sink,
                     got + 1 < errlen ? errlen - 1 - got : sizeof sink)) > 0) {
        if (got + 1 < errlen) {
            got += (size_t)r;
        }
    }
    err[got < errlen ? got : errlen - 1] = '\0';
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

double *kh_test_read(const char *path, const char *ds, int *rank, long dims[3])
{
    double *d = NULL;
    int s = kh_h5_read(path, ds, &d, rank, dims);
    ck_assert_msg(s == KH_OK, "read %s: %s", ds, kh_errmsg());
    return d;
}

/* H5Ovisit's callback of kh_test_record_described: one object. */
static herr_t described_one(hid_t root, const char *name, const H5O_info_t *info, void *count)
{
    if (info->type != H5O_TYPE_DATASET) {
        return 0;
    }
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "cannot open %s", name);
    ck_assert_msg(H5Aexists(d, "units") > 0, "%s has no units", name);
    ck_assert_msg(H5Aexists(d, "description") > 0, "%s has no description", name);
    hid_t sp = H5Dget_space(d);
    const int rank = H5Sget_simple_extent_ndims(sp);
    H5Sclose(sp);
    for (int a = 0; a < rank && H5DSis_scale(d) <= 0; a++) {
        char label[64] = "";
        ck_assert_msg(H5DSget_label(d, (unsigned)a, label, sizeof label) > 0,
                      "axis %d of %s has no label", a, name);
    }
    H5Dclose(d);
    ++*(int *)count;
    return 0;
}

int kh_test_record_described(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot open %s", path);
    int count = 0;
    ck_assert(H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, described_one, &count, H5O_INFO_BASIC) >=
              0);
    H5Fclose(f);
    return count;
}
