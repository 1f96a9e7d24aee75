/* The single test runner: every suite, exit status = failures != 0. */
#include <gsl/gsl_errno.h>
#include <hdf5.h>
#include <stdlib.h>

#include "core/kh_threads.h"
#include "kh_test.h"

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
    SRunner *sr = srunner_create(kh_config_suite());
    srunner_add_suite(sr, kh_data_suite());
    srunner_add_suite(sr, kh_models_suite());
    srunner_add_suite(sr, kh_solvers_suite());
    srunner_add_suite(sr, kh_physics_suite());
    srunner_add_suite(sr, kh_h5_suite());
    srunner_add_suite(sr, kh_cli_suite());
    srunner_add_suite(sr, kh_fast_suite());
    srunner_add_suite(sr, kh_gpu_suite());
    srunner_add_suite(sr, kh_train_suite());
    srunner_add_suite(sr, kh_sweep_suite());
    srunner_add_suite(sr, kh_reliability_suite());
    srunner_add_suite(sr, kh_reduced_suite());
    srunner_add_suite(sr, kh_stdp_suite());
    srunner_add_suite(sr, kh_conv_suite());
    srunner_add_suite(sr, kh_kcap_suite());
    srunner_add_suite(sr, kh_backends_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
