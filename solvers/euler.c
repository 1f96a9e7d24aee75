/* Forward Euler with a fixed step solver.dt:  y(t + dt) = y(t) + dt f(t, y).
 *
 * First order; the last step before t1 is shortened to land on t1 exactly,
 * so output times are hit without interpolation. The per-element update is
 * kh_euler_axpy of core/kh_kernels.h, the one the CUDA kernels use.
 * Reference: E. Hairer, S. P. Norsett and G. Wanner, Solving Ordinary
 * Differential Equations I, section II.1. */
#include <math.h>
#include <stdlib.h>

#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_mem.h"
#include "core/kh_threads.h"
#include "solvers/kh_backend.h"
#include "solvers/kh_euler.h"
#include "solvers/kh_solver.h"

typedef struct euler_state {
    const kh_model_type *model;
    void *ws;
    size_t dim;
    const kh_params *p;
    const volatile sig_atomic_t *stop;
    double *dydt;
    long steps, rhs_evals, steps_since_reset;
} euler_state;

static const char *const names[] = {"euler", NULL};

static void euler_free(void *vs)
{
    euler_state *s = vs;
    if (!s) {
        return;
    }
    free(s->dydt);
    free(s);
}

static void *euler_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                         const kh_params *p, const volatile sig_atomic_t *stop)
{
    (void)method;
    euler_state *s = calloc(1, sizeof *s);
    if (!s || !(s->dydt = kh_big_alloc(dim, sizeof(double)))) {
        euler_free(s);
        KH_ERROR(KH_ENOMEM, "cannot allocate the euler solver for %zu states", dim);
        return NULL;
    }
    s->model = model;
    s->ws = ws;
    s->dim = dim;
    s->p = p;
    s->stop = stop;
    return s;
}

static void euler_reset(void *vs)
{
    ((euler_state *)vs)->steps_since_reset = 0;
}

static int euler_apply(void *vs, double *t, double t1, double y[])
{
    euler_state *s = vs;
    const double dt = s->p->dt;
    while (*t < t1) {
        int st = kh_solver_may_step(s->stop, s->steps_since_reset, s->p->max_steps, *t);
        if (st != KH_OK) {
            return st;
        }
        double h = kh_euler_lands(t1 - *t, dt) ? t1 - *t : dt;
        s->rhs_evals++;
        if (s->model->rhs(*t, y, s->dydt, s->ws) != 0) {
            return KH_ERROR(KH_ESOLVER,
                            "the state became non-finite (NaN or Inf) at t = %.9g: "
                            "the dynamics diverge (try a smaller solver.dt)",
                            *t);
        }
        kh_euler_axpy(y, s->dydt, (long)s->dim, h);
        *t = (h == t1 - *t) ? t1 : *t + h;
        s->steps++;
        s->steps_since_reset++;
    }
    return KH_OK;
}

static void euler_stats(const void *vs, kh_solver_stats *st)
{
    const euler_state *s = vs;
    st->steps = s->steps;
    st->rhs_evals = s->rhs_evals;
}

const kh_solver_type kh_solver_euler = {
    .names = names,
    .caps = KH_SOLVER_ANY_SYSTEM | KH_SOLVER_BATCHED,
    .alloc = euler_alloc,
    .apply = euler_apply,
    .reset = euler_reset,
    .free = euler_free,
    .stats = euler_stats,
};

/* --- The batched ensemble (kh_euler.h) --- */

struct kh_ens {
    long B, m, n;
    int precision;
    kh_ens_params *prm; /* [B] */
    struct ens_d_state *d;
    struct ens_f_state *f;
};

#define ER double
#define EB(name) ens_d_##name
#define KS(name) name
#include "solvers/euler_batch_real.h"
#undef ER
#undef EB
#undef KS

#define ER float
#define EB(name) ens_f_##name
#define KS(name) name##_f
#include "solvers/euler_batch_real.h"
#undef ER
#undef EB
#undef KS

void kh_ens_free(kh_ens *e)
{
    if (!e) {
        return;
    }
    ens_d_free(e->d);
    ens_f_free(e->f);
    free(e->prm);
    free(e);
}

kh_ens *kh_ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm)
{
    if (B < 1 || m < 1 || n < 1) {
        KH_ERROR(KH_EINVAL, "an ensemble needs B, m, n >= 1 (got %ld, %ld, %ld)", B, m, n);
        return NULL;
    }
    kh_ens *e = calloc(1, sizeof *e);
    if (!e || !(e->prm = malloc((size_t)B * sizeof *e->prm))) {
        kh_ens_free(e);
        KH_ERROR(KH_ENOMEM, "cannot allocate an ensemble of %ld", B);
        return NULL;
    }
    e->B = B;
    e->m = m;
    e->n = n;
    e->precision = precision;
    memcpy(e->prm, prm, (size_t)B * sizeof *prm);
    if (precision == KH_PREC_FLOAT) {
        e->f = ens_f_alloc(B, m, n);
    } else {
        e->d = ens_d_alloc(B, m, n);
    }
    if (!e->d && !e->f) {
        kh_ens_free(e);
        KH_ERROR(KH_ENOMEM, "cannot allocate an ensemble of %ld x %ld x %ld", B, m, n);
        return NULL;
    }
    return e;
}

/* dst [len] (the ensemble's precision) <- src [len] (double). */
#define ENS_COPY_IN(e, field, src, len)                                                            \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (len); i_++) {                                                    \
            if ((e)->d) {                                                                          \
                (e)->d->field[i_] = (src)[i_];                                                     \
            } else {                                                                               \
                (e)->f->field[i_] = (float)(src)[i_];                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define ENS_COPY_OUT(e, field, dst, len)                                                           \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (len); i_++) {                                                    \
            (dst)[i_] = (e)->d ? (e)->d->field[i_] : (double)(e)->f->field[i_];                    \
        }                                                                                          \
    } while (0)

static void ens_moments(kh_ens *e)
{
    if (e->d) {
        ens_d_moments(e, e->d);
    } else {
        ens_f_moments(e, e->f);
    }
}

int kh_ens_set_state(kh_ens *e, const double *h, const double *W)
{
    const size_t bm = (size_t)e->B * (size_t)e->m;
    if (h) {
        ENS_COPY_IN(e, h, h, bm);
    }
    if (W) {
        ENS_COPY_IN(e, W, W, bm * (size_t)e->n);
    }
    ens_moments(e);
    return KH_OK;
}

int kh_ens_set_input(kh_ens *e, const double *v)
{
    ENS_COPY_IN(e, v, v, (size_t)e->B * (size_t)e->n);
    ens_moments(e);
    return KH_OK;
}

int kh_ens_advance(kh_ens *e, long steps, double dt)
{
    for (long k = 0; k < steps; k++) {
        int bad = e->d ? ens_d_step(e, e->d, dt) : ens_f_step(e, e->f, dt);
        if (bad) {
            return KH_ERROR(KH_ESOLVER,
                            "the ensemble's state became non-finite (NaN or Inf) at step %ld: "
                            "the dynamics diverge (try a smaller solver.dt)",
                            k + 1);
        }
    }
    return KH_OK;
}

int kh_ens_get(const kh_ens *e, double *h, double *W, double *I, double *Bn)
{
    const size_t bm = (size_t)e->B * (size_t)e->m;
    if (h) {
        ENS_COPY_OUT(e, h, h, bm);
    }
    if (W) {
        ENS_COPY_OUT(e, W, W, bm * (size_t)e->n);
    }
    if (I) {
        ENS_COPY_OUT(e, I, I, bm);
    }
    if (Bn) {
        ENS_COPY_OUT(e, Bn, Bn, bm);
    }
    return KH_OK;
}

int kh_ens_get_W(const kh_ens *e, long t, double *W)
{
    if (t < 0 || t >= e->B) {
        return KH_ERROR(KH_EINVAL, "trajectory %ld of an ensemble of %ld", t, e->B);
    }
    const size_t mn = (size_t)e->m * (size_t)e->n, o = (size_t)t * mn;
    for (size_t i = 0; i < mn; i++) {
        W[i] = e->d ? e->d->W[o + i] : (double)e->f->W[o + i];
    }
    return KH_OK;
}

/* The CPU's ensemble behind solvers/kh_backend.h. */
static void *ens_alloc(long B, long m, long n, int precision, const kh_ens_params *prm)
{
    return kh_ens_alloc(B, m, n, precision, prm);
}

static int ens_set_state(void *e, const double *h, const double *W)
{
    return kh_ens_set_state(e, h, W);
}

static int ens_set_input(void *e, const double *v)
{
    return kh_ens_set_input(e, v);
}

static int ens_advance(void *e, long steps, double dt)
{
    return kh_ens_advance(e, steps, dt);
}

static int ens_get(void *e, double *h, double *W, double *I, double *Bn)
{
    return kh_ens_get(e, h, W, I, Bn);
}

static int ens_get_W(void *e, long t, double *W)
{
    return kh_ens_get_W(e, t, W);
}

static void ens_release(void *e)
{
    kh_ens_free(e);
}

const kh_ensemble_backend kh_ens_cpu_backend = {
    .name = "cpu",
    .alloc = ens_alloc,
    .set_state = ens_set_state,
    .set_input = ens_set_input,
    .advance = ens_advance,
    .get = ens_get,
    .get_W = ens_get_W,
    .release = ens_release,
};
