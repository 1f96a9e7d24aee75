#include "kh_test.h"
Suite *kh_h5_suite(void) { return suite_create("h5"); }
Suite *kh_cli_suite(void) { return suite_create("cli"); }
