/* The model interface: one learning rule per file in models/, listed in the
 * NULL-terminated table kh_models[] (registry.c, generated from the file
 * names by the Makefile). Nothing outside models/ switches on a model name.
 *
 * State layout, the same for every model (solvers and the recorder rely on
 * it): y = [ h (m) | W (m x n, row-major) | model-specific extra state ].
 * The input v is piecewise constant; kh_model_set_input() points the
 * workspace at the sample being shown (borrowed, must outlive its use).
 *
 * rhs and jacobian have the signatures of gsl_odeiv2_system. They return 0
 * on success, > 0 when the trial state is not finite (a smaller step may
 * fix it) and never allocate. */
#ifndef KH_MODEL_H
#define KH_MODEL_H

#include <stddef.h>

#include "core/kh_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the recorder stores of a state (README, "The record", and docs/record.md). */
typedef struct kh_obs {
    double *current; /* [m] I_mu, caller-owned */
    double *pnorm;   /* [m] B_mu, caller-owned */
    double L;        /* Lyapunov function, NaN for models without one */
    double dL_dt;    /* dL/dt from the closed form, NaN without one */
} kh_obs;

/* What else khsim has for a model, besides its right-hand side
 * (kh_model_type.caps). */
enum {
    /* solver.method = fast (solvers/fast.c) is its minibatch approximation,
     * and khsim train and khsim compare take it. */
    KH_MODEL_FAST_RULE = 1u << 0,
    /* The batched Euler backends (solvers/euler.c, the GPU) integrate it. */
    KH_MODEL_BATCHED = 1u << 1,
    /* tau_L dW_mu/dt = g(d_mu) (R^p v - I_mu W_mu) with the study's g and
     * drive and nothing after W: under g < 0 a row moves along one curve
     * whatever g's size, so quasi_static's sliding mode applies
     * (solvers/sliding.c). */
    KH_MODEL_G_TIMES_FLOW = 1u << 2,
};

typedef struct kh_model_type {
    const char *name, *summary; /* name: the study file's network.model */
    unsigned caps;              /* KH_MODEL_* */
    size_t (*dim)(const kh_params *p);
    void *(*alloc)(const kh_params *p); /* NULL + KH_ERROR (KH_EINVAL, KH_ENOMEM) */
    void (*free)(void *ws);             /* NULL-safe */
    int (*rhs)(double t, const double y[], double dydt[], void *ws);
    int (*jacobian)(double t, const double y[], double *dfdy, double dfdt[], void *ws);
    /* Fills o from y at the current input; o->L is NaN when the rule has
     * no Lyapunov function. Returns as rhs does. */
    int (*observe)(const double y[], void *ws, kh_obs *o);
    /* observe without W: o from h, the state after W z and the moments the
     * caller has put in ws->I, ws->B and ws->vv (solvers/reduced.c, which
     * holds W in a basis). observe is kh_net_observe: the moments, then
     * this. */
    void (*observe_moments)(const double *h, const double *z, void *ws, kh_obs *o);
    /* Switching functions: the right-hand side is smooth while none of
     * them changes sign. n_switch may return 0; switches may then be NULL.
     * switch_jumps sets jump[k] = 1 where the RHS jumps as s_k changes sign
     * and 0 where it only has a kink (it stays continuous). */
    size_t (*n_switch)(const void *ws);
    void (*switches)(const double y[], void *ws, double s[]);
    void (*switch_jumps)(const void *ws, unsigned char jump[]);
    /* The right-hand side in reduced form, for models whose plasticity is
     * affine in each row: tau_L dW_mu/dt = a_mu v - b_mu W_mu (every model
     * here). From h [m], the state after W, z, and the per-row moments the
     * caller has put in ws->I and ws->B (kh_model_ws), it fills dh [m], dz
     * and ws->a, ws->b. rhs is this plus the moments and the rows of dW;
     * solvers/dopri5.c integrates W in the basis {W_mu(t0), v} with it.
     * Returns 0, or > 0 when h, z, I or B is not finite. */
    int (*reduced)(const double *h, const double *z, double *dh, double *dz, void *ws);
    /* The switching functions from h and, when switches_need_moments says
     * so, ws->I and ws->B; switches is this after the moments. */
    void (*reduced_switches)(const double *h, void *ws, double s[]);
    int (*switches_need_moments)(const void *ws);
    /* The rule's plasticity, affine in each row of W: from h, the state
     * after W z and the moments in ws->I, ws->B, fills ws->a and ws->b of
     * tau_L dW_mu/dt = a_mu v - b_mu W_mu, and with jac also their partials
     * ws->ah ... ws->bB. The generic rhs, reduced and jacobian of kh_net.c
     * are built on it. dh: each unit's dh/dt at h, or NULL; where it is
     * given and a drive h sits exactly on a jump of g (bcm_step at 0 or
     * h_star: h = 0 when a presentation starts), g is taken on the side h
     * moves to (the study file's g elsewhere, and everywhere without dh). */
    void (*coefficients)(const double *h, const double *dh, const double *z, int jac, void *ws);
    /* Optional, for a state after W (bcm's theta): its derivative, and its
     * rows and columns of the Jacobian (dfdy, dim x dim, already holding the
     * h and W blocks). */
    void (*extra_rhs)(const double *h, const double *z, double *dz, void *ws);
    void (*extra_jacobian)(const double *y, double *dfdy, size_t dim, void *ws);
    /* Optional, for a state after W of one value per unit: the partials of
     * its derivative in the unit's own h and z, into ws->zh and ws->zz (the
     * per-unit blocks of solvers/reduced.c; coefficients with jac puts those
     * of a and b in z into ws->az, ws->bz). */
    void (*extra_partials)(const double *h, const double *z, void *ws);
    /* For rules with the homeostatic L^p sphere (else NULL): g(d) of a unit
     * with activity h and moments I, B, so that
     * tau_L dB/dt = p g(d) I (R^p - B) (README, "The model"). */
    double (*sphere_gain)(double h, double I, double B, const void *ws);
    /* For rules with a Lyapunov function (else NULL): g(Q) g(d), the factor
     * whose sign decides the sign of the unit's term of dL/dt. */
    double (*lyapunov_weight)(double h, double I, double B, const void *ws);
} kh_model_type;

/* The common head of every model's workspace, and the scratch shared by
 * the network helpers below. Models embed it as their first member. */
typedef struct kh_model_ws {
    const struct kh_model_type *type; /* the model this workspace belongs to */
    void *aux;          /* borrowed: a solver's own data for wrapped models (quasi_static) */
    const kh_params *p; /* borrowed, must outlive the workspace */
    long m, n;
    const double *v; /* borrowed: current input, length n */
    double Rp;       /* R^p */
    double p2;       /* p - 2 */
    int ip2;         /* integer form of p - 2, or -1 */
    /* Per-unit scratch, length m each. */
    double *I, *B, *vv, *a, *b;
    /* Per-unit partial derivatives of a and b, for the Jacobian; those in a
     * state after W (az, bz) and of its derivative (zh, zz, extra_partials). */
    double *ah, *bh, *aI, *bI, *aB, *bB, *az, *bz, *zh, *zz;
    /* Per unit, 1 once some evaluation of the reduced right-hand side (at
     * any stage or trial state) has seen g(d) I < 0, where the rule has a
     * sphere (sphere_gain); the run loop records the flags with each row of
     * the trajectory and clears them. So an audit of the sphere knows what
     * happened between two rows, whatever their spacing. */
    double *gI_neg;
    /* 1: the reduced right-hand side gives coefficients its dh/dt, so that
     * g at a jump is taken on the side h moves to (set by the ODE solvers
     * whose first stage would otherwise carry g(0) = -delta through a step
     * the unit spends below 0); 0: the study file's g at the jump. */
    int one_sided;
} kh_model_ws;

extern const kh_model_type *const kh_models[];

/* The entries every rule here shares, built by kh_net.c on the rule's own
 * (coefficients, extra_rhs, reduced_switches ...): a model's table lists
 * KH_NET_RULE, then what is its own. */
#define KH_NET_RULE                                                                                \
    .free = kh_net_free, .rhs = kh_net_rhs, .jacobian = kh_net_jacobian_full,                      \
    .observe = kh_net_observe, .reduced = kh_net_reduced

/* Finds a model by name; NULL (and KH_ERROR naming the choices) if none. */
const kh_model_type *kh_model_find(const char *name);
/* 1 when model `name` exists and has every capability in caps; no error. */
int kh_model_has(const char *name, unsigned caps);

/* Points the workspace at input v (length n; borrowed). */
void kh_model_set_input(void *ws, const double *v);

/* --- Helpers shared by the models (models/kh_net.c) --- */

/* The state size of a rule without a state after W: m (n + 1). */
size_t kh_net_dim(const kh_params *p);
/* Fills the head of a workspace and allocates its scratch. KH_OK/KH_ENOMEM. */
int kh_net_init(kh_model_ws *w, const kh_params *p);
/* The same with scratch for `units` units (m = units; a solver's workspace
 * of some of the units, solvers/reduced.c). */
int kh_net_init_units(kh_model_ws *w, const kh_params *p, long units);
/* Allocates a bare kh_model_ws (the workspace of every model in models/);
 * NULL + KH_ERROR on failure. `model` names it in messages. */
kh_model_ws *kh_net_alloc(const kh_params *p, const char *model);
/* Frees a workspace from kh_net_alloc; NULL-safe. */
void kh_net_free(void *ws);
/* view <- the workspace of unit mu alone: w's head with m = 1 and the
 * per-unit scratch (I ... gI_neg) starting at mu. The rule's per-unit
 * entries (coefficients, extra_rhs, reduced_switches, ...) called on the
 * view read and write unit mu of w only, so views of distinct units may be
 * used at once. */
void kh_net_unit_view(kh_model_ws *w, long mu, kh_model_ws *view);
/* Frees the scratch of the head (not the head itself). */
void kh_net_release(kh_model_ws *w);
/* I, B (and <v,v> if want_vv) of every row of W into w->I, w->B, w->vv,
 * in parallel over rows. Returns 1 when h, I or B is not finite, else 0. */
int kh_net_moments(kh_model_ws *w, const double *h, const double *W, int want_vv);
/* 1 when some h_mu, I_mu or B_mu (or z_i, i < nz) is not finite, else 0. */
int kh_net_not_finite(const kh_model_ws *w, const double *h, const double *z, long nz);
/* S = sum_nu r(h_nu), summed in a fixed order. */
double kh_net_relu_sum(const double *h, long m);
/* Generic entries of kh_model_type, built on the model's coefficients (and
 * extra_rhs, extra_jacobian, reduced_switches), found through ws->type:
 * the reduced form (the not-finite check, dh/dt, a and b, dz), the full
 * right-hand side (the moments, reduced, then the rows of dW), the analytic
 * Jacobian, the switching functions, observe (the moments, then the
 * model's observe_moments), and observe_moments for rules without a
 * Lyapunov function (I and B; L = dL/dt = NaN). */
int kh_net_reduced(const double *h, const double *z, double *dh, double *dz, void *ws);
int kh_net_rhs(double t, const double y[], double dydt[], void *ws);
int kh_net_jacobian_full(double t, const double y[], double *dfdy, double dfdt[], void *ws);
void kh_net_switches(const double y[], void *ws, double s[]);
int kh_net_observe(const double y[], void *ws, kh_obs *o);
void kh_net_observe_plain(const double *h, const double *z, void *ws, kh_obs *o);
/* n_switch of a rule whose right-hand side has no switch (linear g, no
 * inhibition to switch off): 0. */
size_t kh_net_no_switches(const void *ws);
/* dh/dt of every unit from the moments. */
void kh_net_dhdt(const kh_model_ws *w, const double *h, double *dh);
/* dW/dt = (a v - b W) / tau_L, in parallel over rows. */
void kh_net_dwdt(const kh_model_ws *w, const double *W, double *dW);
/* The h and W blocks of the Jacobian (dfdy, dim x dim row-major, zeroed
 * here) from the moments and the partials ah..bB. */
void kh_net_jacobian(const kh_model_ws *w, const double *y, double *dfdy, size_t dim);

#ifdef __cplusplus
}
#endif
#endif
