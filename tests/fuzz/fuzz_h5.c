/* libFuzzer harness: what khsim reads from a record — khsim info, the
 * /params that resume reads back, the datasets verify audits — on arbitrary
 * bytes (seeded with small khsim files). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/kh_verify.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/khsim_fuzz_h5_%d.h5", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) {
        return 0;
    }
    fwrite(data, 1, size, f);
    fclose(f);
    FILE *null = fopen("/dev/null", "w");
    kh_h5_info(path, null);
    kh_config *c = kh_config_alloc();
    if (c) {
        kh_h5_read_params(path, c);
        kh_config_free(c);
    }
    kh_verify(path, 1, null);
    fclose(null);
    remove(path);
    return 0;
}
