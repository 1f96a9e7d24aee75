/* The single test runner: every suite, exit status = failures != 0.
 *
 * KH_TEST_SUITES=a,b,... runs only the suites named; KH_TEST_SKIP_SUITES=a,b,...
 * runs every suite but those (make test-sanitize runs the suite as two such
 * halves side by side, one per core). An unknown name is an error (exit 2). */
#include <gsl/gsl_errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_threads.h"
#include "kh_test.h"

static const struct {
    const char *name;
    Suite *(*make)(void);
} suites[] = {
    {"config", kh_config_suite},     {"data", kh_data_suite},
    {"models", kh_models_suite},     {"solvers", kh_solvers_suite},
    {"physics", kh_physics_suite},   {"h5", kh_h5_suite},
    {"cli", kh_cli_suite},           {"fast", kh_fast_suite},
    {"gpu", kh_gpu_suite},           {"train", kh_train_suite},
    {"sweep", kh_sweep_suite},       {"reliability", kh_reliability_suite},
    {"reduced", kh_reduced_suite},   {"stdp", kh_stdp_suite},
    {"conv", kh_conv_suite},         {"kcap", kh_kcap_suite},
    {"backends", kh_backends_suite},
};
enum { NSUITES = sizeof suites / sizeof suites[0] };

/* Whether the comma-separated list names suite k; *bad gets an unknown name. */
static int listed(const char *list, int k, const char **bad)
{
    int found = 0;
    const char *p = list;
    while (*p) {
        const size_t len = strcspn(p, ",");
        int known = 0;
        for (int j = 0; j < NSUITES; j++) {
            if (strlen(suites[j].name) == len && strncmp(p, suites[j].name, len) == 0) {
                known = 1;
                found |= j == k;
            }
        }
        if (!known && len > 0) {
            *bad = p;
        }
        p += len + (p[len] == ',');
    }
    return found;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* The suite waits as khsim does (kh_threads.h). */
    kh_threads_wait_passive(argv);
    /* Every time limit is sized for a machine three times slower than the
     * one the cases were timed on (a busy machine), unless set otherwise. */
    setenv("CK_TIMEOUT_MULTIPLIER", "3", 0);
    gsl_set_error_handler_off();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *only = getenv("KH_TEST_SUITES"), *skip = getenv("KH_TEST_SKIP_SUITES");
    SRunner *sr = NULL;
    const char *bad = NULL;
    for (int k = 0; k < NSUITES; k++) {
        const int run =
            (!only || !*only || listed(only, k, &bad)) && !(skip && *skip && listed(skip, k, &bad));
        if (run) {
            if (sr) {
                srunner_add_suite(sr, suites[k].make());
            } else {
                sr = srunner_create(suites[k].make());
            }
        }
    }
    if (bad || !sr) {
        fprintf(stderr, "khsim_tests: %s%.*s; the suites:",
                bad ? "no suite named " : "no suite left to run", bad ? (int)strcspn(bad, ",") : 0,
                bad ? bad : "");
        for (int k = 0; k < NSUITES; k++) {
            fprintf(stderr, " %s", suites[k].name);
        }
        fputc('\n', stderr);
        if (sr) {
            srunner_free(sr);
        }
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
