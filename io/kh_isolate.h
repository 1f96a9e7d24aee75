/* Reading a file that may come from anywhere in a child process
 * (io/kh_isolate.c). HDF5 1.10 trusts what a damaged file says (the fuzzer
 * found crashes inside its attribute and global-heap code, and a loop that
 * never ends), so khsim reads such files in a child first: a crash or a hang
 * there is reported as a damaged file instead of taking khsim down. */
#ifndef KH_ISOLATE_H
#define KH_ISOLATE_H

#include <signal.h>

/* Seconds a child may read before it is taken as hung (environment
 * variable KHSIM_READ_TIMEOUT overrides). */
#define KH_READ_TIMEOUT 600

/* What the child runs: a KH status, its message in kh_errmsg. */
typedef int (*kh_child_fn)(const char *path, void *arg);

/* fn(path, arg) in a child process. Returns the child's status, with its
 * message carried back through a pipe (kh_error_restore); KH_EIO when the
 * child died on a signal ("the file is damaged") or read for longer than
 * the limit; KH_EINTR when *stop became non-zero while waiting (the child is
 * killed). *signal_out (may be NULL) gets the signal that ended the child,
 * 0 when it exited. The child ends with _exit (no exit handlers, no HDF5
 * clean-up of the parent's state): the caller's process never exits here. */
int kh_isolated(const char *path, kh_child_fn fn, void *arg, const volatile sig_atomic_t *stop,
                int *signal_out);

#endif
