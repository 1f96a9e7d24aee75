/* Thread-local error message buffer behind KH_ERROR. */
#include "core/kh_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KH_STATUS_TEXT(name, text) text,
static const char *const status_text[] = {KH_STATUS_LIST(KH_STATUS_TEXT)};
#undef KH_STATUS_TEXT
_Static_assert(sizeof status_text / sizeof status_text[0] == KH_N_STATUS,
               "status text table out of sync with KH_STATUS_LIST");

static _Thread_local char errbuf[2048];
static _Thread_local int errcode;
static int locations = 1;

void kh_error_locations(int on)
{
    locations = on;
}

int kh_error_set(int code, const char *file, int line, const char *func, const char *fmt, ...)
{
    /* Formatted aside first: the arguments may include kh_errmsg() itself
     * (a message wrapped with more context). */
    char buf[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (k < 0) {
        k = 0;
        buf[0] = '\0';
    }
    if (locations && (size_t)k < sizeof buf) {
        snprintf(buf + k, sizeof buf - (size_t)k, " [%s:%d %s]", file, line, func);
    }
    memcpy(errbuf, buf, sizeof errbuf);
    errcode = code;
    return code;
}

int kh_error_restore(int code, const char *msg)
{
    snprintf(errbuf, sizeof errbuf, "%s", msg);
    errcode = code;
    return code;
}

int kh_errcode(void)
{
    return errcode != KH_OK ? errcode : KH_ENOMEM;
}

const char *kh_errmsg(void)
{
    return errbuf;
}

const char *kh_strstatus(int code)
{
    if (code < 0 || code >= KH_N_STATUS) {
        return "unknown status";
    }
    return status_text[code];
}

void kh_error_clear(void)
{
    errbuf[0] = '\0';
}

int kh_error_first(int st, const char *msg, int later)
{
    if (st == KH_OK) {
        return later;
    }
    if (later == KH_OK) {
        return kh_error_restore(st, msg);
    }
    char both[sizeof errbuf];
    const int k = snprintf(both, sizeof both, "%s; then ", msg);
    if (k >= 0 && (size_t)k < sizeof both) {
        memcpy(both + k, errbuf, sizeof both - (size_t)k - 1);
    }
    both[sizeof both - 1] = '\0';
    memcpy(errbuf, both, sizeof errbuf);
    return st;
}
