/* Learning-rate schedules of the readout (core/kh_lr.h). */
#include "core/kh_lr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"

int kh_lr_schedule_parse(const char *text, kh_lr_schedule *s)
{
    memset(s, 0, sizeof *s);
    while (isspace((unsigned char)*text)) {
        text++;
    }
    if (strcmp(text, "paper") == 0 || text[0] == '\0') {
        s->kind = KH_LR_PAPER;
        return KH_OK;
    }
    if (strcmp(text, "constant") == 0) {
        s->kind = KH_LR_CONSTANT;
        return KH_OK;
    }
    s->kind = KH_LR_PIECEWISE;
    const char *c = text;
    while (*c) {
        if (s->n == KH_LR_PIECES) {
            return KH_ERROR(KH_EINVAL, "train.lr_schedule = %s: at most %d pieces", text,
                            KH_LR_PIECES);
        }
        char *end;
        errno = 0;
        long from = strtol(c, &end, 10);
        if (end == c || errno || *end != ':') {
            return KH_ERROR(KH_EINVAL,
                            "train.lr_schedule = %s: expected paper, constant or pieces "
                            "EPOCH:RATE separated by commas (e.g. 0:0.004, 50:0.001)",
                            text);
        }
        c = end + 1;
        double rate = strtod(c, &end);
        if (end == c || !isfinite(rate) || rate <= 0.0) {
            return KH_ERROR(KH_EINVAL, "train.lr_schedule = %s: piece %d needs a rate > 0", text,
                            s->n + 1);
        }
        if ((s->n == 0 && from != 0) || (s->n > 0 && from <= s->from[s->n - 1])) {
            return KH_ERROR(KH_EINVAL,
                            "train.lr_schedule = %s: the first piece starts at epoch 0 and "
                            "each next one later (piece %d starts at %ld)",
                            text, s->n + 1, from);
        }
        s->from[s->n] = from;
        s->rate[s->n] = rate;
        s->n++;
        c = end;
        while (isspace((unsigned char)*c)) {
            c++;
        }
        if (*c == ',') {
            c++;
            while (isspace((unsigned char)*c)) {
                c++;
            }
            if (!*c) {
                return KH_ERROR(KH_EINVAL, "train.lr_schedule = %s: a piece after the last comma",
                                text);
            }
        } else if (*c) {
            return KH_ERROR(KH_EINVAL, "train.lr_schedule = %s: unexpected '%c'", text, *c);
        }
    }
    return KH_OK;
}

double kh_lr_at(const kh_lr_schedule *s, double lr, long e, long E)
{
    if (s->kind == KH_LR_CONSTANT) {
        return lr;
    }
    if (s->kind == KH_LR_PIECEWISE) {
        int k = 0;
        while (k + 1 < s->n && e >= s->from[k + 1]) {
            k++;
        }
        return s->rate[k];
    }
    static const double factor[] = {1.0, 0.5, 0.1, 0.05, 0.01};
    const double third = (double)E / 3.0, sixth = (double)E / 6.0;
    if ((double)e < third) {
        return lr;
    }
    const long k = 1 + (long)floor(((double)e - third) / sixth);
    return lr * factor[k < 4 ? k : 4];
}
