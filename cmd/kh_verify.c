/* khsim verify: the sphere and Lyapunov audits of a recorded run (see
 * kh_verify.h for what is checked and why). */
#include "cmd/kh_verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"
#include "models/kh_model.h"

#define KH_BAND 1e-3     /* the sphere band, relative to R^p */
#define KH_MAX_LISTED 20 /* failures listed in full; the rest are counted */
/* The dL/dt audit keeps a pair of intervals when its trapezoid error
 * estimate is at most this fraction of its integral (smooth there). */
#define KH_ROUGH 1e-3

typedef struct record {
    long T, m;
    double *t, *s, *h, *I, *B, *L, *dL;
} record;

static void record_free(record *r)
{
    free(r->t);
    free(r->s);
    free(r->h);
    free(r->I);
    free(r->B);
    free(r->L);
    free(r->dL);
}

static int record_read(const char *path, record *r)
{
    memset(r, 0, sizeof *r);
    const char *names[] = {"/trajectory/t",       "/trajectory/sample", "/trajectory/h",
                           "/trajectory/current", "/trajectory/pnorm",  "/trajectory/lyapunov",
                           "/trajectory/dL_dt"};
    double **dst[] = {&r->t, &r->s, &r->h, &r->I, &r->B, &r->L, &r->dL};
    for (int i = 0; i < 7; i++) {
        int rank;
        long d[3];
        int st = kh_h5_read(path, names[i], dst[i], &rank, d);
        if (st != KH_OK) {
            record_free(r);
            return st;
        }
        if (i == 0) {
            r->T = d[0];
        } else if (d[0] != r->T) {
            record_free(r);
            return KH_ERROR(KH_EINVAL, "%s: %s has %ld rows, /trajectory/t %ld", path, names[i],
                            d[0], r->T);
        }
        if (i == 2) {
            r->m = d[1];
        }
    }
    return KH_OK;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints s as a JSON string. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fprintf(out, "\\%c", *s);
        } else if ((unsigned char)*s < 0x20) {
            fprintf(out, "\\u%04x", (unsigned char)*s);
        } else {
            fputc(*s, out);
        }
    }
    fputc('"', out);
}

/* The report, as text or JSON, with the failures listed up to a limit. */
typedef struct report {
    FILE *out;
    int json, first_item, failures, listed;
} report;

static void fail(report *rp, const char *kind, const char *msg)
{
    rp->failures++;
    if (rp->listed >= KH_MAX_LISTED) {
        return;
    }
    rp->listed++;
    if (rp->json) {
        fprintf(rp->out, "%s\n    {\"check\": \"%s\", \"what\": ", rp->first_item ? "" : ",", kind);
        json_string(rp->out, msg);
        fprintf(rp->out, "}");
        rp->first_item = 0;
    } else {
        fprintf(rp->out, "  FAIL %-9s %s\n", kind, msg);
    }
}

typedef struct audit audit;
/* One audit: the record, the study and the model, and what the audits
 * found. */
struct audit {
    const char *path;
    const kh_params *p;
    const kh_model_type *model;
    void *ws;
    record r;
    report rp;
    double Rp, tol_rel;
    /* sphere */
    long n_neg, n_band;
    double worst_final;
    double *entered, *flags;
    long *neg;
    /* Lyapunov and dL/dt */
    long n_dec, n_explained, n_fd, n_fd_bad;
    double worst_dec, worst_fd;
};

/* The sphere audit: where g I >= 0, |B - R^p| never grows between two rows
 * of a presentation; each unit's entry into the band and its rows with
 * g I < 0. */
static void audit_sphere(audit *a)
{
    const record *r = &a->r;
    const kh_model_type *model = a->model;
    void *ws = a->ws;
    const long T = r->T, m = r->m;
    const double Rp = a->Rp, tol_rel = a->tol_rel;
    /* The solver's own flags of the intervals between rows where g I < 0
     * (kh_model_ws.gI_neg): with them the audit does not depend on the row
     * spacing; without them (records of other writers, batched Euler) it
     * judges from the sign of g I at the two rows. */
    a->flags = NULL;
    {
        int frank;
        long fd[3] = {0, 0, 0};
        if (model->sphere_gain &&
            kh_h5_read(a->path, "/trajectory/gI_negative", &a->flags, &frank, fd) == KH_OK &&
            (frank != 2 || fd[0] != T || fd[1] != m)) {
            free(a->flags);
            a->flags = NULL;
        }
        kh_error_clear();
    }
    if (model->sphere_gain && T > 0) {
        for (long mu = 0; mu < m; mu++) {
            a->entered[mu] = NAN;
            for (long k = T - 1; k >= 0; k--) {
                if (fabs(r->B[k * m + mu] - Rp) <= KH_BAND * Rp) {
                    a->entered[mu] = r->t[k];
                } else {
                    break;
                }
            }
            a->n_band += !isnan(a->entered[mu]);
            a->worst_final = fmax(a->worst_final, fabs(r->B[(T - 1) * m + mu] - Rp));
        }
        for (long k = 0; k < T; k++) {
            for (long mu = 0; mu < m; mu++) {
                long i = k * m + mu;
                double gI = model->sphere_gain(r->h[i], r->I[i], r->B[i], ws) * r->I[i];
                if (gI < 0) {
                    a->neg[mu]++;
                    a->n_neg++;
                }
                if (k == 0 || r->s[k] != r->s[k - 1]) {
                    continue;
                }
                long j = i - m;
                double gI0 = model->sphere_gain(r->h[j], r->I[j], r->B[j], ws) * r->I[j];
                double d0 = fabs(r->B[j] - Rp), d1 = fabs(r->B[i] - Rp);
                const int seen_neg = a->flags && a->flags[i] != 0.0;
                if (gI >= 0 && gI0 >= 0 && !seen_neg && d1 > d0 + tol_rel * (1.0 + Rp + d0)) {
                    char msg[512];
                    snprintf(msg, sizeof msg,
                             "unit %ld moved away from the sphere while g I >= 0: |B - R^p| grew "
                             "from %.6g to %.6g in presentation %ld, t = %.6g to %.6g",
                             mu, d0, d1, (long)r->s[k], r->t[k - 1], r->t[k]);
                    fail(&a->rp, "sphere", msg);
                }
            }
        }
    }
}

/* The Lyapunov audit: L never decreases within a presentation except where
 * drive h explains it, and the recorded dL/dt integrates to the change of
 * L. */
static void audit_lyapunov(audit *a)
{
    const record *r = &a->r;
    const kh_params *p = a->p;
    const kh_model_type *model = a->model;
    void *ws = a->ws;
    const long T = r->T, m = r->m;
    const double tol_rel = a->tol_rel;
    if (model->lyapunov_weight && T > 0) {
        for (long k = 1; k < T; k++) {
            if (r->s[k] != r->s[k - 1]) {
                continue; /* L jumps when the sample changes */
            }
            double drop = r->L[k - 1] - r->L[k];
            if (!(drop > tol_rel * (1.0 + fabs(r->L[k])))) {
                continue;
            }
            a->n_dec++;
            a->worst_dec = fmax(a->worst_dec, drop);
            int explained = 0;
            if (p->drive == KH_DRIVE_H) {
                for (long mu = 0; mu < m && !explained; mu++) {
                    long i = k * m + mu, j = i - m;
                    explained = model->lyapunov_weight(r->h[i], r->I[i], r->B[i], ws) < 0 ||
                                model->lyapunov_weight(r->h[j], r->I[j], r->B[j], ws) < 0;
                }
            }
            a->n_explained += explained;
            if (!explained) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "L decreased by %.6g (from %.10g to %.10g) in presentation %ld, t = %.6g "
                         "to %.6g, with %s",
                         drop, r->L[k - 1], r->L[k], (long)r->s[k], r->t[k - 1], r->t[k],
                         p->drive == KH_DRIVE_Q ? "drive Q (L must not decrease)"
                                                : "no unit where g(Q) g(h) < 0");
                fail(&a->rp, "lyapunov", msg);
            }
        }
        /* dL/dt against L, pair of intervals by pair of intervals (rows k,
         * k+1, k+2 of one presentation): the two trapezoids of the recorded
         * dL/dt, T = a + b, must give the recorded change dL = L[k+2] - L[k].
         * The trapezoid over the pair, c, estimates T's own error (|T - c|
         * is about 3 times it where dL/dt is smooth); pairs where that
         * estimate exceeds KH_ROUGH |T|, or whose |T| is below 1e-9 of the
         * largest, are left out (a jump of g, or nothing to judge). That
         * choice scales with dL/dt, so an error in it cannot hide itself.
         * Over the kept pairs of the whole record the median of the signed
         * (T - dL) / T must stay within KH_ROUGH + 10 rtol: an error in
         * dL/dt by a factor 1 + e moves the median to about e, and fails
         * for |e| above about 0.1 %; dynamics unresolved between two rows
         * (a unit that crosses a switch and back) make a few outliers,
         * which the median ignores. */
        double Tmax = 0.0;
        for (long k = 0; k + 2 < T; k++) {
            if (r->s[k] == r->s[k + 2]) {
                Tmax = fmax(Tmax, fabs(0.5 * (r->dL[k] + 2.0 * r->dL[k + 1] + r->dL[k + 2])));
            }
        }
        double *rel = calloc((size_t)(T > 0 ? T : 1), sizeof(double));
        long k0 = 0;
        while (rel && k0 < T) {
            long k1 = k0;
            while (k1 < T && r->s[k1] == r->s[k0]) {
                k1++;
            }
            for (long k = k0; k + 2 < k1; k += 2) {
                const double ta = 0.5 * (r->dL[k] + r->dL[k + 1]) * (r->t[k + 1] - r->t[k]);
                const double tb = 0.5 * (r->dL[k + 1] + r->dL[k + 2]) * (r->t[k + 2] - r->t[k + 1]);
                const double tc = 0.5 * (r->dL[k] + r->dL[k + 2]) * (r->t[k + 2] - r->t[k]);
                const double tt = ta + tb, dt = r->t[k + 2] - r->t[k];
                if (!(fabs(ta + tb - tc) <= KH_ROUGH * fabs(tt)) ||
                    !(fabs(tt) > 1e-9 * Tmax * dt)) {
                    continue;
                }
                rel[a->n_fd++] = (tt - (r->L[k + 2] - r->L[k])) / tt;
            }
            k0 = k1;
        }
        if (a->n_fd >= 5) {
            qsort(rel, (size_t)a->n_fd, sizeof(double), cmp_double);
            a->worst_fd =
                a->n_fd % 2 ? rel[a->n_fd / 2] : 0.5 * (rel[a->n_fd / 2 - 1] + rel[a->n_fd / 2]);
            const double allow = KH_ROUGH + 10.0 * p->rtol;
            for (long j = 0; j < a->n_fd; j++) {
                a->n_fd_bad += !(fabs(rel[j]) <= allow);
            }
            if (!(fabs(a->worst_fd) <= allow)) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "the recorded dL/dt integrates to the change of L only to a median "
                         "relative error of %.3g over %ld pairs of rows (allowed: %.3g): dL/dt "
                         "is off by that factor",
                         a->worst_fd, a->n_fd, allow);
                fail(&a->rp, "dL/dt", msg);
            }
        }
        free(rel);
    }
}

/* The report, as text or JSON. */
static void print_report(const audit *a, int json, FILE *out)
{
    const record *r = &a->r;
    const kh_params *p = a->p;
    const kh_model_type *model = a->model;
    const long T = r->T, m = r->m;
    const double Rp = a->Rp;
    if (json) {
        fprintf(out, "\n  ],\n  \"n_failures\": %d,\n", a->rp.failures);
        if (model->sphere_gain) {
            fprintf(out,
                    "  \"sphere\": {\"R_p\": %.17g, \"band\": %g, \"final_max_abs_B_minus_Rp\": "
                    "%.6g, \"units_in_band\": %ld, \"rows_with_gI_negative\": %ld, \"units\": [",
                    Rp, KH_BAND, a->worst_final, a->n_band, a->n_neg);
            for (long mu = 0; mu < m; mu++) {
                double fin = fabs(r->B[(T - 1) * m + mu] - Rp);
                fprintf(out, "%s\n    {\"unit\": %ld, \"final_abs_B_minus_Rp\": %.6g, ",
                        mu ? "," : "", mu, fin);
                if (isnan(a->entered[mu])) {
                    fprintf(out, "\"entered_band\": null, ");
                } else {
                    fprintf(out, "\"entered_band\": %.10g, ", a->entered[mu]);
                }
                fprintf(out, "\"rows_gI_negative\": %ld}", a->neg[mu]);
            }
            fprintf(out, "\n  ]},\n");
        } else {
            fprintf(out, "  \"sphere\": null,\n");
        }
        if (model->lyapunov_weight) {
            fprintf(out,
                    "  \"lyapunov\": {\"decreases\": %ld, \"explained\": %ld, "
                    "\"largest_decrease\": %.6g, \"dL_dt_presentations_compared\": %ld, "
                    "\"dL_dt_presentations_off\": %ld, \"dL_dt_worst_over_allowance\": %.3g},\n",
                    a->n_dec, a->n_explained, a->worst_dec, a->n_fd, a->n_fd_bad, a->worst_fd);
        } else {
            fprintf(out, "  \"lyapunov\": null,\n");
        }
        fprintf(out, "  \"ok\": %s\n}\n", a->rp.failures ? "false" : "true");
    } else {
        if (model->sphere_gain) {
            fprintf(out,
                    "sphere (R^p = %g): final max |B - R^p| = %.3g; %ld of %ld units in the "
                    "%g band at the end; %ld unit-rows with g I < 0\n",
                    Rp, a->worst_final, a->n_band, m, KH_BAND, a->n_neg);
            for (long mu = 0; mu < m && T > 0; mu++) {
                fprintf(out, "  unit %3ld  |B - R^p| = %-10.3g entered band ", mu,
                        fabs(r->B[(T - 1) * m + mu] - Rp));
                if (isnan(a->entered[mu])) {
                    fprintf(out, "never     ");
                } else {
                    fprintf(out, "t = %-6.4g", a->entered[mu]);
                }
                fprintf(out, "  g I < 0 at %ld rows\n", a->neg[mu]);
            }
        } else {
            fprintf(out, "sphere: model %s has no L^p sphere; not audited\n", model->name);
        }
        if (model->lyapunov_weight) {
            fprintf(out,
                    "lyapunov: %ld decreases within presentations (%ld explained by "
                    "g(Q) g(h) < 0, drive %s), largest %.3g; dL/dt integrates to the "
                    "change of L at %ld of %ld smooth pairs of rows (median relative error "
                    "%.3g)\n",
                    a->n_dec, a->n_explained, p->drive == KH_DRIVE_H ? "h" : "Q", a->worst_dec,
                    a->n_fd - a->n_fd_bad, a->n_fd, a->worst_fd);
        } else {
            fprintf(out, "lyapunov: model %s has no Lyapunov function; not audited\n", model->name);
        }
        if (a->rp.failures > a->rp.listed) {
            fprintf(out, "  ... and %d more failures\n", a->rp.failures - a->rp.listed);
        }
        fprintf(out, "%s\n",
                a->rp.failures ? "verify: FAILED" : "verify: every guaranteed property holds");
    }
}

int kh_verify(const char *path, int json, FILE *out)
{
    kh_config *c = kh_config_alloc();
    if (!c) {
        return KH_ENOMEM;
    }
    audit a;
    memset(&a, 0, sizeof a);
    a.path = path;
    int st = kh_h5_read_params(path, c);
    a.model = st == KH_OK ? kh_model_find(c->p.model) : NULL;
    if (st == KH_OK && !a.model) {
        st = KH_EINVAL;
    }
    if (st == KH_OK && (st = record_read(path, &a.r)) != KH_OK) {
        a.model = NULL;
    }
    if (st != KH_OK) {
        kh_config_free(c);
        return st;
    }
    if (a.r.T == 0) {
        record_free(&a.r);
        kh_config_free(c);
        return KH_ERROR(KH_EINVAL,
                        "%s: no trajectory to audit: khsim verify audits runs of the dynamics "
                        "(khsim run, and khsim train's unsupervised phase); this record has none "
                        "(khsim info shows what it holds)",
                        path);
    }
    a.p = &c->p;
    const long T = a.r.T, m = a.r.m;
    a.ws = a.model->alloc(a.p);
    a.entered = calloc((size_t)(m > 0 ? m : 1), sizeof(double));
    a.neg = calloc((size_t)(m > 0 ? m : 1), sizeof(long));
    if (!a.ws || !a.entered || !a.neg) {
        free(a.entered);
        free(a.neg);
        if (a.ws) {
            a.model->free(a.ws);
        }
        record_free(&a.r);
        kh_config_free(c);
        return a.ws ? KH_ERROR(KH_ENOMEM, "%s: cannot allocate the audit of %ld units", path, m)
                    : KH_EINVAL;
    }
    a.Rp = pow(a.p->R, a.p->p);
    a.tol_rel = 100.0 * a.p->rtol;
    a.rp = (report){out, json, 1, 0, 0};
    if (json) {
        fprintf(out, "{\n  \"file\": ");
        json_string(out, path);
        fprintf(out, ",\n  \"model\": \"%s\",\n  \"rows\": %ld,\n  \"failures\": [", a.model->name,
                T);
    } else {
        fprintf(out, "%s: model %s, %ld rows, %ld units, rtol %g\n", path, a.model->name, T, m,
                a.p->rtol);
    }
    audit_sphere(&a);
    audit_lyapunov(&a);
    print_report(&a, json, out);
    const int failures = a.rp.failures;
    free(a.flags);
    free(a.entered);
    free(a.neg);
    a.model->free(a.ws);
    record_free(&a.r);
    kh_config_free(c);
    if (failures) {
        return KH_ERROR(KH_ECHECK, "%s: %d audit failure%s", path, failures,
                        failures == 1 ? "" : "s");
    }
    return KH_OK;
}
