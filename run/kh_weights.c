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
        double *data = NULL;
        int rank = 0;
        long dims[3];
        int s = kh_h5_read(p->init_path, "/snapshots/W", &data, &rank, dims);
        if (s != KH_OK) {
            return KH_ERROR(s, "init.path: %s", kh_errmsg());
        }
        if (rank != 3 || dims[0] < 1 || dims[1] != p->n_hidden || dims[2] != p->n_visible) {
            free(data);
            return KH_ERROR(KH_EINVAL,
                            "init.path = %s: /snapshots/W has shape [%ld, %ld, %ld], "
                            "expected [S >= 1, %ld, %ld]",
                            p->init_path, dims[0], dims[1], dims[2], p->n_hidden, p->n_visible);
        }
        memcpy(W, data + (size_t)(dims[0] - 1) * mn, mn * sizeof(double));
        free(data);
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
