/* Status codes and error reporting for khsim.
 *
 * Every function that can fail returns one of the codes below (KH_OK == 0) and
 * records the reason with KH_ERROR at the failure site. The message, with the
 * file, line and function that produced it, lives in a thread-local buffer and
 * is read with kh_errmsg(). Library code never prints and never exits. */
#ifndef KH_ERROR_H
#define KH_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#define KH_STATUS_LIST(X)                                                                          \
    X(KH_OK, "success")                                                                            \
    X(KH_EINVAL, "invalid input")                                                                  \
    X(KH_ENOMEM, "out of memory")                                                                  \
    X(KH_EIO, "input/output error")                                                                \
    X(KH_ESOLVER, "solver failure")                                                                \
    X(KH_ENOCONV, "no convergence")                                                                \
    X(KH_EGPU, "GPU error")                                                                        \
    X(KH_ENOTSUP, "not supported")                                                                 \
    X(KH_EINTR, "interrupted")                                                                     \
    X(KH_ECHECK, "check failed")

#define KH_STATUS_ENUM(name, text) name,
enum { KH_STATUS_LIST(KH_STATUS_ENUM) KH_N_STATUS };
#undef KH_STATUS_ENUM

/* Records a formatted message for status `code` and returns `code`. */
int kh_error_set(int code, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Usage: return KH_ERROR(KH_EINVAL, "tau must be > 0, got %g", tau); */
#define KH_ERROR(code, ...) kh_error_set((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Whether KH_ERROR appends its source location ("[io/kh_h5.c:120 f]") to
 * the message: on by default (the tests read them), off in the khsim binary
 * unless -v or KHSIM_DEBUG=1. */
void kh_error_locations(int on);

/* Records `msg` as it is (a message made elsewhere, e.g. by a child process,
 * with its own place) for status `code`, and returns `code`. */
int kh_error_restore(int code, const char *msg);

/* The status of a run whose work ended with `st` (its message in `msg`)
 * and whose closing steps (writing the record's last attributes, closing it)
 * returned `later`: `later` when st is KH_OK, else st, with msg and, when
 * `later` failed too, its message (the current one) after it. */
int kh_error_first(int st, const char *msg, int later);

/* The message of the most recent KH_ERROR in this thread ("" if none). */
const char *kh_errmsg(void);

/* The code of the last error set (what a constructor that returned NULL
 * failed with); KH_ENOMEM when none was set. */
int kh_errcode(void);

/* The short text of a status code. */
const char *kh_strstatus(int code);

/* Clears the message of this thread. */
void kh_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
