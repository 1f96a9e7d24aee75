/* The table of solvers, expanded from build/kh_solvers.def, which the
 * Makefile writes with one KH_SOLVER(name) line per `const kh_solver_type
 * kh_solver_<name>` defined in solvers/, and the thin kh_solver wrapper
 * around a type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "solvers/kh_solver.h"

#define KH_SOLVER(name) extern const kh_solver_type kh_solver_##name;
#include "kh_solvers.def"
#undef KH_SOLVER

#define KH_SOLVER(name) &kh_solver_##name,
const kh_solver_type *const kh_solvers[] = {
#include "kh_solvers.def"
    NULL};
#undef KH_SOLVER

/* The solver of a method, or NULL. */
static const kh_solver_type *lookup(const char *method)
{
    for (size_t i = 0; kh_solvers[i]; i++) {
        for (size_t j = 0; kh_solvers[i]->names[j]; j++) {
            if (strcmp(kh_solvers[i]->names[j], method) == 0) {
                return kh_solvers[i];
            }
        }
    }
    return NULL;
}

const kh_solver_type *kh_solver_find(const char *method)
{
    const kh_solver_type *t = lookup(method);
    if (t) {
        return t;
    }
    char list[512] = "";
    for (size_t i = 0; kh_solvers[i]; i++) {
        for (size_t j = 0; kh_solvers[i]->names[j]; j++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", kh_solvers[i]->names[j]);
        }
    }
    KH_ERROR(KH_EINVAL, "solver.method = '%s' is not a method (choose one of: auto, %s)", method,
             list);
    return NULL;
}

unsigned kh_method_caps(const char *method)
{
    if (strcmp(method, "auto") == 0) {
        return kh_solver_reduced.caps & kh_solver_dopri5.caps;
    }
    const kh_solver_type *t = lookup(method);
    if (!t) {
        return 0;
    }
    unsigned caps = t->caps;
    for (const char *const *n = t->stiff; n && *n; n++) {
        caps |= strcmp(*n, method) == 0 ? KH_SOLVER_STIFF : 0u;
    }
    return caps;
}

const char *kh_solver_auto(const kh_model_type *model, size_t dim, const kh_params *p)
{
    const int large = p->n_hidden * p->n_visible >= KH_AUTO_REDUCED_MIN;
    /* a state after W (bcm's theta): no unit parks, and dopri5 wins */
    const int after_w = dim != (size_t)(p->n_hidden + p->n_hidden * p->n_visible);
    if (large && !after_w && kh_solver_reduced.applies(model, dim, p) == KH_OK) {
        return "reduced";
    }
    kh_error_clear();
    return "dopri5";
}

static kh_solver_heartbeat_fn heartbeat;
static void *heartbeat_ctx;
static unsigned long heartbeat_steps;

void kh_solver_set_heartbeat(kh_solver_heartbeat_fn fn, void *ctx)
{
    heartbeat = fn;
    heartbeat_ctx = ctx;
}

int kh_solver_may_step(const volatile sig_atomic_t *stop, long steps, long max_steps, double t)
{
    if (stop && *stop) {
        return KH_ERROR(KH_EINTR, "interrupted at t = %.9g", t);
    }
    if (max_steps > 0 && steps >= max_steps) {
        return KH_ERROR(KH_ESOLVER, "solver.max_steps = %ld reached at t = %.9g", max_steps, t);
    }
    if (heartbeat && (++heartbeat_steps & 255u) == 0) {
        return heartbeat(heartbeat_ctx, t);
    }
    return KH_OK;
}

kh_solver *kh_solver_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                           const kh_params *p, const volatile sig_atomic_t *stop)
{
    const kh_solver_type *t = kh_solver_find(method);
    if (!t) {
        return NULL;
    }
    kh_solver *s = calloc(1, sizeof *s);
    if (!s) {
        KH_ERROR(KH_ENOMEM, "cannot allocate a solver");
        return NULL;
    }
    s->type = t;
    s->method = method;
    s->state = t->alloc(method, model, ws, dim, p, stop);
    if (!s->state) {
        free(s);
        return NULL;
    }
    return s;
}

void kh_solver_free(kh_solver *s)
{
    if (!s) {
        return;
    }
    s->type->free(s->state);
    free(s);
}

int kh_solver_apply(kh_solver *s, double *t, double t1, double y[])
{
    if (!(t1 >= *t)) {
        return KH_ERROR(KH_EINVAL, "solver asked to go from t = %g back to t1 = %g", *t, t1);
    }
    return s->type->apply(s->state, t, t1, y);
}

void kh_solver_reset(kh_solver *s)
{
    s->type->reset(s->state);
}

int kh_solver_start(kh_solver *s, double t, double y[])
{
    return s->type->start ? s->type->start(s->state, t, y) : KH_OK;
}

void kh_solver_stats_get(const kh_solver *s, kh_solver_stats *st)
{
    memset(st, 0, sizeof *st);
    s->type->stats(s->state, st);
}

void kh_solver_sync(kh_solver *s, double y[])
{
    if (s->type->sync) {
        s->type->sync(s->state, y);
    }
}

int kh_solver_observe(kh_solver *s, const kh_model_type *model, void *ws, const double y[],
                      kh_obs *o)
{
    int r = s->type->observe ? s->type->observe(s->state, y, o) : -1;
    return r >= 0 ? r : model->observe(y, ws, o);
}
