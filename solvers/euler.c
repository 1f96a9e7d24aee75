/* Forward Euler with a fixed step solver.dt:  y(t + dt) = y(t) + dt f(t, y).
 *
 * First order; the last step before t1 is shortened to land on t1 exactly,
 * so output times are hit without interpolation. The per-element update is
 * kh_euler_axpy of gpu/kh_kernels.h, the one the CUDA kernels use.
 * Reference: E. Hairer, S. P. Norsett and G. Wanner, Solving Ordinary
 * Differential Equations I, section II.1. */
#include <math.h>
#include <stdlib.h>

#include "../gpu/kh_kernels.h"
#include "../src/kh_error.h"
#include "kh_solver.h"

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
    if (!s || !(s->dydt = malloc(dim * sizeof(double)))) {
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
        /* Land exactly on t1 when the remainder is within rounding of dt. */
        double h = (t1 - *t <= dt * (1.0 + 1e-9)) ? t1 - *t : dt;
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
    .alloc = euler_alloc,
    .apply = euler_apply,
    .reset = euler_reset,
    .free = euler_free,
    .stats = euler_stats,
};
