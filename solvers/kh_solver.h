/* The solver interface: a solver only advances the state of a model from t
 * to t1; when to record and what to write is decided by run/kh_sim.c.
 *
 * Methods are listed in kh_solvers[] (solvers/registry.c); each type names
 * the study-file values of solver.method it implements. */
#ifndef KH_SOLVER_H
#define KH_SOLVER_H

#include <signal.h>
#include <stddef.h>

#include "core/kh_types.h"
#include "models/kh_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_solver_stats {
    long steps;        /* accepted steps */
    long failed_steps; /* rejected trial steps (error control or non-finite state) */
    long rhs_evals;    /* right-hand-side evaluations */
    long jac_evals;    /* Jacobian evaluations */
    long switches;     /* located switches of the right-hand side */
    long sliding;      /* switching functions set aside as sliding (Zeno) */
    long unstable;     /* quasi_static: presentations whose fixed point of h was unstable */
    long parked;       /* reduced: units parked, summed over the accepted steps */
} kh_solver_stats;

/* What a solver is and what it needs of the model (kh_solver_type.caps). */
enum {
    /* A general ODE stepper: integrates any model through its rhs (and its
     * Jacobian, for the implicit methods of the type): the battery of
     * tests/check_solvers.c runs over every such method. */
    KH_SOLVER_ANY_SYSTEM = 1u << 0,
    /* Steps under error control (solver.rtol, atol); else a fixed step
     * (solver.dt). */
    KH_SOLVER_ADAPTIVE = 1u << 1,
    /* Needs the model's reduced form (the per-row basis of W). */
    KH_SOLVER_NEEDS_REDUCED = 1u << 2,
    /* Locates the switches of the right-hand side (solver.locate_switches). */
    KH_SOLVER_LOCATES = 1u << 3,
    /* Trains by minibatches and does not integrate (method = fast). */
    KH_SOLVER_NOT_ODE = 1u << 4,
    /* Has batched instances (solver.batch, device = gpu, precision =
     * float) in the backends of solvers/kh_backend.h. */
    KH_SOLVER_BATCHED = 1u << 5,
    /* Its steps are not held to the fastest time scale (tau, tau_L) by
     * stability: implicit, or that scale is not integrated (quasi_static).
     * Per method: kh_solver_type.stiff. */
    KH_SOLVER_STIFF = 1u << 6,
};

typedef struct kh_solver_type {
    const char *const *names; /* solver.method values, NULL-terminated */
    unsigned caps;            /* KH_SOLVER_*, of every name */
    const char *const *stiff; /* the names that are also KH_SOLVER_STIFF (NULL: none) */
    /* Plans everything: returns the solver state or NULL + KH_ERROR.
     * model, ws and p are borrowed and must outlive the solver; `stop`
     * (may be NULL) is polled between steps. */
    void *(*alloc)(const char *method, const kh_model_type *model, void *ws, size_t dim,
                   const kh_params *p, const volatile sig_atomic_t *stop);
    /* Advances y from *t to t1 (t1 >= *t). On any failure *t and y hold the
     * last accepted state. KH_OK, KH_EINTR (stop was raised), KH_ESOLVER. */
    int (*apply)(void *s, double *t, double t1, double y[]);
    /* Forgets the step history, for a discontinuity of the input or state. */
    void (*reset)(void *s);
    /* Optional: called at each presentation's start, after reset and before
     * the first row is recorded; may set part of y (quasi_static puts h at
     * its steady state). KH_OK, KH_ENOCONV, KH_EINVAL. */
    int (*start)(void *s, double t, double y[]);
    void (*free)(void *s);
    void (*stats)(const void *s, kh_solver_stats *st);
    /* Optional, for solvers that hold W in their own form between applies
     * (reduced): writes the current W into y. The run calls it before it
     * reads W (snapshots, a presentation's end, hooks) and before reset. */
    void (*sync)(void *s, double y[]);
    /* Optional: the record's observation of the current state without W;
     * returns as kh_model_type.observe does, or -1 when y's W is current
     * and the model's observe should be used. */
    int (*observe)(void *s, const double y[], kh_obs *o);
    /* Optional: KH_OK when the solver can integrate model (state of dim
     * values), else KH_EINVAL with the reason (KH_ERROR); NULL: any model. */
    int (*applies)(const kh_model_type *model, size_t dim, const kh_params *p);
} kh_solver_type;

typedef struct kh_solver {
    const kh_solver_type *type;
    const char *method;
    void *state;
} kh_solver;

extern const kh_solver_type *const kh_solvers[];

/* For the solvers' step loops: KH_EINTR when *stop (may be NULL) is raised,
 * KH_ESOLVER when steps has reached max_steps (> 0), else KH_OK; t is the
 * time the message names. */
int kh_solver_may_step(const volatile sig_atomic_t *stop, long steps, long max_steps, double t);

/* A function kh_solver_may_step calls every 256 steps with the time
 * reached (the run's schedule: progress between rows, and a run that
 * cannot finish); anything but KH_OK stops the solver with that status.
 * NULL (the default) calls none. One per process. */
typedef int (*kh_solver_heartbeat_fn)(void *ctx, double t);
void kh_solver_set_heartbeat(kh_solver_heartbeat_fn fn, void *ctx);

/* solver.method = auto (the default) resolves, once the size is known, to
 * reduced where the model has the reduced form and no state after W, and
 * the full state's W holds at least KH_AUTO_REDUCED_MIN weights (m n),
 * else to dopri5. Below that size a pass over W is cheap and dopri5, which
 * locates every switch, is the more accurate at a given rtol; above it
 * reduced's O(m) evaluations win. With a state after W (bcm's theta) no
 * unit parks, and dopri5 is both faster and more accurate at m = 300 and
 * 1 000 (docs/solvers.md has the measurements). Returns the method's name. */
#define KH_AUTO_REDUCED_MIN 65536L
const char *kh_solver_auto(const kh_model_type *model, size_t dim, const kh_params *p);

/* 1 when `method` (of the GSL family) is implicit and needs the model's
 * Jacobian, else 0. */
int kh_solver_is_implicit(const char *method);

/* Finds the solver of a method; NULL + KH_ERROR naming the choices. */
const kh_solver_type *kh_solver_find(const char *method);
/* The caps of a method without an error: for "auto", those every method
 * it may choose has; 0 for a name that is not a method. */
unsigned kh_method_caps(const char *method);

kh_solver *kh_solver_alloc(const char *method, const kh_model_type *model, void *ws, size_t dim,
                           const kh_params *p, const volatile sig_atomic_t *stop);
void kh_solver_free(kh_solver *s);
int kh_solver_apply(kh_solver *s, double *t, double t1, double y[]);
void kh_solver_reset(kh_solver *s);
int kh_solver_start(kh_solver *s, double t, double y[]);
void kh_solver_stats_get(const kh_solver *s, kh_solver_stats *st);
/* The type's sync, or nothing. */
void kh_solver_sync(kh_solver *s, double y[]);
/* The type's observe, else the model's (ws is the model's workspace). */
int kh_solver_observe(kh_solver *s, const kh_model_type *model, void *ws, const double y[],
                      kh_obs *o);

#ifdef __cplusplus
}
#endif
#endif
