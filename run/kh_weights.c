/* W(0) from the study's [init] keys: normal, uniform or from a file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_rng.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"
#include "run/kh_sim.h"

int kh_sim_init_weights(const kh_params *p, double *W)
{
    const size_t mn = (size_t)p->n_hidden * (size_t)p->n_visible;
    if (p->weights == KH_INIT_FILE) {
        /* The last row only: a fast-rule record holds a snapshot per epoch. */
        int s = kh_h5_read_row(p->init_path, "/snapshots/W", -1, W, (long)mn);
        if (s != KH_OK) {
            return KH_ERROR(s,
                            "init.path: %s (W(0) is the last row of /snapshots/W, [S >= 1, %ld, "
                            "%ld])",
                            kh_errmsg(), p->n_hidden, p->n_visible);
        }
        return KH_OK;
    }
    kh_rng r;
    kh_rng_seed(&r, (uint64_t)p->init_seed, 2);
    for (size_t i = 0; i < mn; i++) {
        W[i] = p->weights == KH_INIT_NORMAL ? p->init_scale * kh_rng_normal(&r)
                                            : p->init_scale * (2.0 * kh_rng_uniform(&r) - 1.0);
    }
    return KH_OK;
}
