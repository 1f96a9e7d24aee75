/* kh_isolated (kh_isolate.h): a child process reads, the parent waits and
 * reports how the child ended. */
#include "io/kh_isolate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/kh_error.h"

int kh_isolated(const char *path, kh_child_fn fn, void *arg, const volatile sig_atomic_t *stop,
                int *signal_out)
{
    if (signal_out) {
        *signal_out = 0;
    }
    /* Every stream flushed before the fork: the child flushes its own at
     * its end, and must not write out what the parent had buffered. */
    fflush(NULL);
    int fd[2];
    if (pipe(fd) != 0) {
        return KH_ERROR(KH_EIO, "cannot create a pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return KH_ERROR(KH_EIO, "cannot fork: %s", strerror(errno));
    }
    const char *env = getenv("KHSIM_READ_TIMEOUT");
    const unsigned limit = env && atoi(env) > 0 ? (unsigned)atoi(env) : KH_READ_TIMEOUT;
    if (pid == 0) {
        /* A damaged file can also make HDF5 loop forever (the fuzzer found
         * one in its global-heap reader): the child gives up after `limit`. */
        close(fd[0]);
        /* The default actions: a crash ends the child quietly (Open MPI's
         * handlers would print a backtrace), and the parent says what it
         * means. */
        const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGALRM};
        for (size_t k = 0; k < sizeof fatal / sizeof fatal[0]; k++) {
            signal(fatal[k], SIG_DFL);
        }
        alarm(limit);
        int s = fn(path, arg);
        if (s != KH_OK) {
            const char *m = kh_errmsg();
            ssize_t w = write(fd[1], m, strlen(m));
            (void)w;
        }
        fflush(NULL);
        _exit(s);
    }
    close(fd[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            close(fd[0]);
            return KH_ERROR(KH_EIO, "waitpid: %s", strerror(errno));
        }
        if (stop && *stop) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(fd[0]);
            return KH_ERROR(KH_EINTR, "interrupted while reading %s", path);
        }
    }
    char msg[2048];
    size_t len = 0;
    for (ssize_t k; len < sizeof msg - 1 && (k = read(fd[0], msg + len, sizeof msg - 1 - len));) {
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            break;
        }
        len += (size_t)k;
    }
    msg[len] = '\0';
    close(fd[0]);
    if (WIFSIGNALED(status) && signal_out) {
        *signal_out = WTERMSIG(status);
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
        return KH_ERROR(KH_EIO,
                        "%s: reading did not end within %u s: the file looks damaged (HDF5 can "
                        "loop forever on one); KHSIM_READ_TIMEOUT=seconds allows more",
                        path, limit);
    }
    if (WIFSIGNALED(status)) {
        return KH_ERROR(KH_EIO,
                        "%s: the file is damaged (reading it crashed the HDF5 library, signal %d)",
                        path, WTERMSIG(status));
    }
    const int s = WIFEXITED(status) ? WEXITSTATUS(status) : KH_EIO;
    return s == KH_OK ? KH_OK : kh_error_restore(s, msg);
}
