/* libFuzzer harness: the study-file parser and its validation
 * (kh_config_parse_string, kh_config_validate), on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/kh_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    kh_config *c = kh_config_alloc();
    if (c && kh_config_parse_string(c, text, "fuzz.ini") == 0) {
        kh_config_validate(c);
        /* A --set of the same text, line by line, goes through the same table. */
        char *line = strtok(text, "\n");
        while (line) {
            kh_config_set(c, line);
            line = strtok(NULL, "\n");
        }
    }
    kh_config_free(c);
    free(text);
    return 0;
}
