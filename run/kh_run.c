/* The run drivers and the entry points that choose one: a study goes to the
 * first driver of the table that takes it. Each driver owns its loop and its
 * record; all follow the schedule of kh_schedule.c and the output checks of
 * kh_output.c. A new way of running (a reduced integrator, say) is one more
 * row here. */
#include <string.h>

#include "core/kh_error.h"
#include "run/kh_sim.h"
#include "solvers/kh_solver.h"

/* What a driver is asked to do: a new run (resume = 0) of the study, or the
 * continuation of its record; hooks only for khsim compare. */
typedef struct request {
    const char *overrides;
    int resume;
    const volatile sig_atomic_t *stop;
    kh_progress_fn progress;
    void *pctx;
    const kh_sim_hooks *hooks;
} request;

typedef struct driver {
    const char *name;
    /* 1 when the driver runs study p. */
    int (*takes)(const kh_params *p);
    /* KH_OK, or why it cannot do this request (KH_ENOTSUP, KH_EINVAL);
     * NULL: it can do every request. */
    int (*can)(const request *rq);
    int (*execute)(kh_config *c, const request *rq, kh_sim_result *res);
} driver;

/* The fast rule (method = fast): epochs of minibatches, kh_sim_fast.c. */
static int fast_takes(const kh_params *p)
{
    return (kh_method_caps(p->method) & KH_SOLVER_NOT_ODE) != 0;
}

static int fast_can(const request *rq)
{
    return rq->hooks ? KH_ERROR(KH_EINVAL, "khsim compare runs the fast rule itself") : KH_OK;
}

static int fast_execute(kh_config *c, const request *rq, kh_sim_result *res)
{
    return kh_sim_fast_run_ex(c, rq->overrides, rq->resume, rq->stop, rq->progress, rq->pctx, res);
}

/* Batched Euler on the CPU or the GPU, kh_sim_ens.c. */
static int ens_can(const request *rq)
{
    if (rq->resume) {
        return KH_ERROR(KH_ENOTSUP, "batched euler does not resume yet: run it again");
    }
    if (rq->hooks) {
        return KH_ERROR(KH_EINVAL, "khsim compare integrates one trajectory: solver.batch = 1, "
                                   "device = cpu, precision = double");
    }
    return KH_OK;
}

static int ens_execute(kh_config *c, const request *rq, kh_sim_result *res)
{
    return kh_sim_ens_run(c, rq->overrides, rq->stop, rq->progress, rq->pctx, res);
}

/* One trajectory of the ODE through a registered solver, kh_sim.c. */
static int ode_takes(const kh_params *p)
{
    (void)p;
    return 1;
}

static int ode_execute(kh_config *c, const request *rq, kh_sim_result *res)
{
    return kh_sim_ode_run(c, rq->overrides, rq->resume, rq->stop, rq->progress, rq->pctx, rq->hooks,
                          res);
}

static const driver drivers[] = {
    {"fast", fast_takes, fast_can, fast_execute},
    {"ensemble", kh_sim_ens_wanted, ens_can, ens_execute},
    {"ode", ode_takes, NULL, ode_execute},
};

static int dispatch(kh_config *c, const request *rq, kh_sim_result *res)
{
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        if (drivers[i].takes(&c->p)) {
            int s = drivers[i].can ? drivers[i].can(rq) : KH_OK;
            if (s == KH_OK) {
                s = drivers[i].execute(c, rq, res); /* which clears res first */
                res->driver = drivers[i].name;
            }
            return s;
        }
    }
    return KH_ERROR(KH_EINVAL, "no way to run solver.method = %s", c->p.method);
}

int kh_sim_run(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
               kh_progress_fn progress, void *progress_ctx, kh_sim_result *res)
{
    const request rq = {overrides, 0, stop, progress, progress_ctx, NULL};
    return dispatch(c, &rq, res);
}

int kh_sim_run_hooked(kh_config *c, const char *overrides, const volatile sig_atomic_t *stop,
                      kh_progress_fn progress, void *progress_ctx, const kh_sim_hooks *hooks,
                      kh_sim_result *res)
{
    const request rq = {overrides, 0, stop, progress, progress_ctx, hooks};
    return dispatch(c, &rq, res);
}

int kh_sim_resume(kh_config *c, const volatile sig_atomic_t *stop, kh_progress_fn progress,
                  void *progress_ctx, kh_sim_result *res)
{
    const request rq = {NULL, 1, stop, progress, progress_ctx, NULL};
    return dispatch(c, &rq, res);
}
