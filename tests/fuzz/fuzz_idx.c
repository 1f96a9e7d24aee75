/* libFuzzer harness: the idx reader (kh_idx_read, kh_idx_read_labels) on
 * arbitrary bytes, raw and, when the bytes are gzip, through zlib. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/kh_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    snprintf(path, sizeof path, "/tmp/khsim_fuzz_idx_%d%s", (int)getpid(), gz ? ".gz" : "");
    FILE *f = fopen(path, "wb");
    if (!f) {
        return 0;
    }
    fwrite(data, 1, size, f);
    fclose(f);
    kh_dataset d;
    memset(&d, 0, sizeof d);
    if (kh_idx_read(path, 0, -1, &d) == 0) {
        kh_dataset_release(&d);
    }
    memset(&d, 0, sizeof d);
    if (kh_idx_read(path, 1, 2, &d) == 0) {
        kh_dataset_release(&d);
    }
    long *labels = NULL;
    if (kh_idx_read_labels(path, 0, -1, &labels) == 0) {
        free(labels);
    }
    remove(path);
    return 0;
}
