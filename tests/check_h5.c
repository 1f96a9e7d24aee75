/* HDF5 round trip: every dataset and attribute of docs/record.md, with
 * its shape and its values, and the file's completeness for re-integration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "core/kh_error.h"
#include "io/kh_data.h"
#include "io/kh_h5.h"
#include "kh_test.h"
#include "models/kh_model.h"
#include "run/kh_sim.h"

static const char *ini = "[network]\nhidden = 3\ninputs = 5\np = 3\nR = 1.2\nw_inh = 0.4\n"
                         "tau_L = 7.5\n[learning]\ng = power\nn = 2\ndrive = Q\n"
                         "[input]\nsource = uniform\nsamples = 3\npresentation_time = 1.5\n"
                         "reset_h = true\nseed = 5\n[init]\nweights = normal\nseed = 9\n"
                         "[solver]\nmethod = rkck\n[output]\nrecord_every = 0.5\n"
                         "snapshot_every = 2\n";

START_TEST(test_roundtrip)
{
    kh_config *c = kh_test_config(ini);
    char out[512];
    kh_test_tmpname(out, sizeof out, ".h5");
    snprintf(c->p.out_path, sizeof c->p.out_path, "%s", out);
    kh_sim_result res;
    ck_assert_msg(kh_sim_run(c, "network.R=1.2", NULL, NULL, NULL, &res) == KH_OK, "%s",
                  kh_errmsg());
    int rank;
    long d[3];
    /* Rows at each presentation's start and every 0.5 after it, and the end. */
    double *t = kh_test_read(out, "/trajectory/t", &rank, d);
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq(d[0], 10);
    const double t_exp[10] = {0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5};
    for (int k = 0; k < 10; k++) {
        ck_assert_double_eq_tol(t[k], t_exp[k], 1e-12);
    }
    double *smp = kh_test_read(out, "/trajectory/sample", &rank, d);
    const double s_exp[10] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 2};
    for (int k = 0; k < 10; k++) {
        ck_assert(smp[k] == s_exp[k]);
    }
    const char *two_d[] = {"/trajectory/h", "/trajectory/current", "/trajectory/pnorm"};
    for (int i = 0; i < 3; i++) {
        double *x = kh_test_read(out, two_d[i], &rank, d);
        ck_assert_int_eq(rank, 2);
        ck_assert_int_eq(d[0], 10);
        ck_assert_int_eq(d[1], 3);
        free(x);
    }
    double *h = kh_test_read(out, "/trajectory/h", &rank, d);
    /* With reset_h, each presentation's first row has h = 0, after the reset. */
    for (int mu = 0; mu < 3; mu++) {
        ck_assert(h[0 * 3 + mu] == 0.0 && h[3 * 3 + mu] == 0.0 && h[6 * 3 + mu] == 0.0);
        ck_assert(h[2 * 3 + mu] != 0.0);
    }
    /* Inputs, schedule and initial weights, exactly. */
    kh_dataset data;
    ck_assert_int_eq(kh_data_load(&c->p, &data), KH_OK);
    double *v = kh_test_read(out, "/input/v", &rank, d);
    ck_assert_int_eq(d[0], 3);
    ck_assert_int_eq(d[1], 5);
    ck_assert_int_eq(memcmp(v, data.x, 15 * sizeof(double)), 0);
    double *ts = kh_test_read(out, "/input/t_start", &rank, d);
    ck_assert_double_eq_tol(ts[1], 1.5, 1e-15);
    ck_assert_double_eq_tol(ts[2], 3.0, 1e-15);
    double *st = kh_test_read(out, "/snapshots/t", &rank, d);
    ck_assert_int_eq(d[0], 4);
    ck_assert_double_eq_tol(st[1], 2.0, 1e-15);
    ck_assert_double_eq_tol(st[3], 4.5, 1e-15);
    double *W = kh_test_read(out, "/snapshots/W", &rank, d);
    ck_assert_int_eq(rank, 3);
    ck_assert_int_eq(d[0], 4);
    ck_assert_int_eq(d[1], 3);
    ck_assert_int_eq(d[2], 5);
    double W0[15];
    ck_assert_int_eq(kh_sim_init_weights(&c->p, W0), KH_OK);
    ck_assert_int_eq(memcmp(W, W0, sizeof W0), 0);
    /* Row 0's current, pnorm and Lyapunov value from the closed forms. */
    double *I = kh_test_read(out, "/trajectory/current", &rank, d);
    double *B = kh_test_read(out, "/trajectory/pnorm", &rank, d);
    double *L = kh_test_read(out, "/trajectory/lyapunov", &rank, d);
    double *dL = kh_test_read(out, "/trajectory/dL_dt", &rank, d);
    double Lx = 0;
    for (int mu = 0; mu < 3; mu++) {
        double i_ = 0, b = 0;
        for (int i = 0; i < 5; i++) {
            double w = W0[mu * 5 + i];
            i_ += copysign(w * w, w) * v[i];
            b += fabs(w * w * w);
        }
        ck_assert_double_eq_tol(I[mu], i_, 1e-12);
        ck_assert_double_eq_tol(B[mu], b, 1e-12);
        double Q = i_ / pow(b, 2.0 / 3.0);
        Lx += Q > 0 ? Q * Q * Q / 3.0 : 0.0;
    }
    ck_assert_double_eq_tol(L[0], Lx, 1e-12);
    for (int k = 0; k < 10; k++) {
        ck_assert(isfinite(dL[k]));
    }
    /* Every dataset says its units (a unit, not a formula) and what it
     * holds; each /trajectory dataset's first axis is /trajectory/t (an HDF5
     * dimension scale), W's is /snapshots/t, and the axes are labelled. */
    const char *all[] = {"/input/v",
                         "/input/t_start",
                         "/input/t_end",
                         "/trajectory/t",
                         "/trajectory/h",
                         "/trajectory/current",
                         "/trajectory/pnorm",
                         "/trajectory/lyapunov",
                         "/trajectory/dL_dt",
                         "/trajectory/sample",
                         "/snapshots/t",
                         "/snapshots/W",
                         "/trajectory/gI_negative",
                         "/snapshots/state"};
    char text[512];
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        ck_assert_int_eq(kh_h5_read_attr_string(out, all[i], "units", text, sizeof text), KH_OK);
        ck_assert_msg(!strchr(text, '='), "%s: units '%s' is a formula", all[i], text);
        ck_assert_int_eq(kh_h5_read_attr_string(out, all[i], "description", text, sizeof text),
                         KH_OK);
        ck_assert_msg(strlen(text) > 5, "%s: description '%s'", all[i], text);
    }
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/state/h", "units", text, sizeof text), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/state/t", "description", text, sizeof text),
                     KH_OK);
    hid_t file = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(file >= 0);
    const char *pairs[][2] = {{"/trajectory/h", "/trajectory/t"},
                              {"/trajectory/lyapunov", "/trajectory/t"},
                              {"/snapshots/W", "/snapshots/t"},
                              {"/input/v", "/input/t_start"}};
    for (int i = 0; i < 4; i++) {
        hid_t dset = H5Dopen2(file, pairs[i][0], H5P_DEFAULT),
              sc = H5Dopen2(file, pairs[i][1], H5P_DEFAULT);
        ck_assert_msg(H5DSis_attached(dset, sc, 0) > 0, "%s's first axis is not %s", pairs[i][0],
                      pairs[i][1]);
        H5Dclose(dset);
        H5Dclose(sc);
    }
    hid_t w = H5Dopen2(file, "/snapshots/W", H5P_DEFAULT);
    char label[32] = "";
    ck_assert(H5DSget_label(w, 2, label, sizeof label) > 0);
    ck_assert_str_eq(label, "input");
    H5Dclose(w);
    H5Fclose(file);
    /* ... and so does every other dataset of the record, /state included. */
    ck_assert_int_ge(kh_test_record_described(out), 16);
    /* Attributes: root, /params (typed), /solver. */
    char buf[4096];
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "status", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "complete");
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "khsim_version", buf, sizeof buf), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "study", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, ini);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "overrides", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "network.R=1.2");
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/", "created", buf, sizeof buf), KH_OK);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/params", "learning.g", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "power");
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/params", "network.model", buf, sizeof buf),
                     KH_OK);
    ck_assert_str_eq(buf, "krotov_hopfield");
    double x;
    for (size_t i = 0; kh_param_table[i].key; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.%s", kh_param_table[i].section, kh_param_table[i].key);
        int ok = kh_h5_read_attr_double(out, "/params", name, &x) == KH_OK ||
                 kh_h5_read_attr_string(out, "/params", name, buf, sizeof buf) == KH_OK;
        ck_assert_msg(ok, "/params lacks %s", name);
    }
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/params", "network.inputs", &x), KH_OK);
    ck_assert_double_eq_tol(x, 5, 0.5);
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/params", "network.tau_L", &x), KH_OK);
    ck_assert_double_eq_tol(x, 7.5, 1e-15);
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/params", "input.reset_h", &x), KH_OK);
    ck_assert_double_eq_tol(x, 1, 1e-15);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/solver", "method", buf, sizeof buf), KH_OK);
    ck_assert_str_eq(buf, "rkck");
    const char *counters[] = {"steps",        "failed_steps", "rhs_evals", "switches",
                              "wall_seconds", "rtol",         "atol"};
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(kh_h5_read_attr_double(out, "/solver", counters[i], &x), KH_OK);
    }
    ck_assert_int_eq(kh_h5_read_attr_double(out, "/solver", "steps", &x), KH_OK);
    ck_assert_double_eq_tol(x, (double)res.stats.steps, 0.5);
    ck_assert_int_eq(kh_h5_read_attr_string(out, "/trajectory/t", "units", buf, sizeof buf), KH_OK);
    /* Missing things are errors, not crashes. */
    double *none = NULL;
    ck_assert_int_eq(kh_h5_read(out, "/no/such", &none, &rank, d), KH_EIO);
    ck_assert_int_eq(kh_h5_read("/nonexistent.h5", "/trajectory/t", &none, &rank, d), KH_EIO);
    free(t);
    free(smp);
    free(h);
    free(v);
    free(ts);
    free(st);
    free(W);
    free(I);
    free(B);
    free(L);
    free(dL);
    kh_dataset_release(&data);
    kh_config_free(c);
    remove(out);
}
END_TEST

Suite *kh_h5_suite(void)
{
    Suite *s = suite_create("h5");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
