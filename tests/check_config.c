/* The study-file parser and its strict validation (README, "Study file"). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "kh_test.h"

static int parse_status(const char *ini)
{
    kh_config *c = kh_config_alloc();
    int s = kh_config_parse_string(c, ini, "bad.ini");
    if (s == KH_OK) {
        s = kh_config_validate(c);
    }
    kh_config_free(c);
    return s;
}

START_TEST(test_defaults_and_values)
{
    kh_config *c = kh_test_config("[network]\nhidden = 7\np = 3.5\n[learning]\ng = power\n"
                                  "drive = Q\n[input]\nsource = uniform\n[network]\ninputs = 9\n"
                                  "[input]\nreset_h = true\n");
    ck_assert_int_eq(c->p.n_hidden, 7);
    ck_assert_int_eq(c->p.n_visible, 9);
    ck_assert_double_eq_tol(c->p.p, 3.5, 1e-15);
    ck_assert_int_eq(c->p.g, KH_G_POWER);
    ck_assert_int_eq(c->p.drive, KH_DRIVE_Q);
    ck_assert_int_eq(c->p.reset_h, 1);
    ck_assert_str_eq(c->p.model, "krotov_hopfield");
    ck_assert_str_eq(c->p.out_path, "output/test.h5");
    /* presentation_time_end defaults to presentation_time. */
    ck_assert(c->p.presentation_time_end == c->p.presentation_time);
    kh_config_free(c);
}
END_TEST

START_TEST(test_schedule)
{
    kh_config *c = kh_test_config("[input]\npresentation_time = 25\npresentation_time_end = 5\n");
    ck_assert_double_eq_tol(kh_config_presentation_time(&c->p, 0, 5), 25.0, 1e-12);
    ck_assert_double_eq_tol(kh_config_presentation_time(&c->p, 2, 5), 15.0, 1e-12);
    ck_assert_double_eq_tol(kh_config_presentation_time(&c->p, 4, 5), 5.0, 1e-12);
    kh_config_free(c);
}
END_TEST

static const struct {
    const char *ini, *needle;
} bad[] = {
    {"[network]\nhiden = 3\n", "unknown key 'hiden'"},
    {"[netwrk]\nhidden = 3\n", "unknown section [netwrk]"},
    {"[bogus]\n", "unknown section [bogus]"},
    {"[network]\np = 1.5\n", "network.p = 1.5 is out of range"},
    {"[network]\ntau = 0\n", "network.tau = 0 is out of range"},
    {"[network]\ntau_L = -2\n", "network.tau_L = -2"},
    /* a value past the bound that keeps products finite is told that bound */
    {"[network]\ntau_L = 1e308\n",
     "network.tau_L = 1e308 is out of range: must be > 0 and <= 1e+300"},
    {"[network]\nw_inh = nan\n", "network.w_inh = nan is not finite"},
    {"[network]\nR = inf\n", "not finite"},
    {"[learning]\nh_star = 0\n", "learning.h_star = 0 is out of range"},
    {"[learning]\nn = 0.5\n", "learning.n = 0.5 is out of range"},
    {"[input]\nsamples = -3\n", "input.samples = -3 is out of range"},
    {"[input]\nsamples = 2.5\n", "not an integer"},
    {"[network]\nhidden = many\n", "is not a count"},
    {"[learning]\ng = sigmoid\n", "learning.g = 'sigmoid' is not one of"},
    {"[input]\nreset_h = maybe\n", "not a boolean"},
    {"[network]\np = 3\np = 4\n", "given twice"},
    {"[solver]\nrtol = 0\n", "solver.rtol = 0 is out of range"},
    {"[input]\nsource = uniform\n", "network.inputs must be set"},
    {"[network]\nhidden = 1e19\n", "must be >= 1 and <= 9e+15"},
    {"[input]\nsource = file\n", "input.source = file needs input.path"},
    {"this is not ini\n", "syntax error"},
};

START_TEST(test_bad_input)
{
    kh_config *c = kh_config_alloc();
    int s = kh_config_parse_string(c, bad[_i].ini, "bad.ini");
    if (s == KH_OK) {
        s = kh_config_validate(c);
    }
    ck_assert_int_eq(s, KH_EINVAL);
    ck_assert_msg(strstr(kh_errmsg(), bad[_i].needle) != NULL, "'%s' lacks '%s'", kh_errmsg(),
                  bad[_i].needle);
    ck_assert_msg(strstr(kh_errmsg(), "bad.ini") != NULL, "'%s' lacks the file", kh_errmsg());
    kh_config_free(c);
}
END_TEST

START_TEST(test_set_override)
{
    kh_config *c = kh_test_config("[network]\np = 3\n");
    ck_assert_int_eq(kh_config_set(c, "network.p=4"), KH_OK);
    ck_assert(c->p.p == 4.0);
    ck_assert_int_eq(kh_config_set(c, "network.p=1"), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "--set"));
    ck_assert_int_eq(kh_config_set(c, "nonsense"), KH_EINVAL);
    ck_assert_int_eq(kh_config_set(c, "network.nokey=1"), KH_EINVAL);
    ck_assert(c->p.p == 4.0);
    kh_config_free(c);
    ck_assert_int_eq(parse_status("[network]\nhidden = 3\n"), KH_OK);
}
END_TEST

/* Lines as the documentation writes them: trailing '#' and ';' comments,
 * indented keys, a comment longer than a line; and a line whose value is
 * too long is refused with its line number, not cut. */
START_TEST(test_lines_comments_indent)
{
    char text[2048], longc[320];
    memset(longc, 'x', sizeof longc - 1);
    longc[sizeof longc - 1] = '\0';
    snprintf(text, sizeof text,
             "[network]\n  hidden = 7   # units\np = 3.5 ; the exponent\n# %s\n"
             "\t  w_inh = 0.25\n",
             longc);
    kh_config *c = kh_config_alloc();
    ck_assert_int_eq(kh_config_parse_string(c, text, "t.ini"), KH_OK);
    ck_assert_int_eq(c->p.n_hidden, 7);
    ck_assert_double_eq_tol(c->p.p, 3.5, 1e-15);
    ck_assert_double_eq_tol(c->p.w_inh, 0.25, 1e-15);
    kh_config_free(c);
    snprintf(text, sizeof text, "[network]\nhidden = 7\n[output]\npath = /tmp/%s.h5\n", longc);
    c = kh_config_alloc();
    ck_assert_int_eq(kh_config_parse_string(c, text, "t.ini"), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "t.ini:4"));
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "characters"));
    kh_config_free(c);
}
END_TEST

START_TEST(test_read_missing_file)
{
    kh_config *c = kh_config_alloc();
    ck_assert_int_eq(kh_config_read(c, "/nonexistent/study.ini"), KH_EIO);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "/nonexistent/study.ini"));
    kh_config_free(c);
}
END_TEST

/* What is not a regular study file: a directory and /dev/zero (whose size
 * reads 0: it once ran as an empty study, every key at its default) are
 * refused by name; a pipe (a shell's <(...)) is read as a file is. */
START_TEST(test_read_not_a_file)
{
    kh_config *c = kh_config_alloc();
    ck_assert_int_eq(kh_config_read(c, "/tmp"), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "a directory"));
    ck_assert_int_eq(kh_config_read(c, "/dev/zero"), KH_EINVAL);
    ck_assert_ptr_nonnull(strstr(kh_errmsg(), "NUL bytes"));
    kh_config_free(c);
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    static const char text[] = "[network]\nhidden = 7\n";
    ck_assert_int_eq(write(fd[1], text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
    c = kh_config_alloc();
    ck_assert_int_eq(kh_config_read(c, path), KH_OK);
    ck_assert_int_eq(c->p.n_hidden, 7);
    close(fd[0]);
    kh_config_free(c);
}
END_TEST

Suite *kh_config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_defaults_and_values);
    tcase_add_test(tc, test_schedule);
    tcase_add_test(tc, test_lines_comments_indent);
    tcase_add_loop_test(tc, test_bad_input, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_set_override);
    tcase_add_test(tc, test_read_missing_file);
    tcase_add_test(tc, test_read_not_a_file);
    suite_add_tcase(s, tc);
    return s;
}
