/* khsim sweep: see kh_sweep.h. The sweep file:
 *
 *   [sweep]
 *   base = default.ini   the base study (required; beside the sweep file first)
 *   out = output/my_sweep         directory of the points and the index
 *                                 (default output/<sweep file name>)
 *   verify = true                 run khsim verify on every point
 *   command = run                 run: khsim run on every point; train: khsim
 *                                 train (its readout's test error per point)
 *   seed_per_point = false        true: init.seed and input.seed (where not
 *                                 swept) keyed on (seed, point)
 *   [grid]                        every combination (the last key fastest)
 *   network.w_inh = 0.2, 0.5, 1.5
 *   init.seed = 1, 2
 *   [list]                        the values taken together, one per point
 *   learning.delta = 0.3, 0.4     (all lists of one length; with a grid,
 *   learning.h_star = 0.1, 0.2     every list entry times every combination)
 *
 * Point i is the base study with its values set (as --set would) and
 * output.path = <out>/point_<i>.h5. Its random streams come from its own
 * study's seeds (xoshiro256** keyed by seed and stream; with seed_per_point,
 * the seeds keyed on the point too), so what a point computes depends only on
 * the sweep file: not on the number of ranks, nor on the order they run in. */
#include "cmd/kh_sweep.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef KH_HAVE_MPI
#include <mpi.h>
#endif

#include "cmd/kh_cli.h"
#include "cmd/kh_train.h"
#include "cmd/kh_verify.h"
#include "core/kh_error.h"
#include "io/kh_config.h"
#include "io/kh_h5.h"
#include "io/kh_isolate.h"
#include "run/kh_sim.h"
#include "solvers/kh_solver.h"

#define MAX_KEYS 16
#define MAX_VALUES 256
#define VALUE_LEN 128

typedef struct sweep_key {
    char name[128]; /* section.key */
    int is_list;
    long n_values;
    char values[MAX_VALUES][VALUE_LEN];
} sweep_key;

typedef struct sweep {
    char path[KH_PATH_MAX], base[KH_PATH_MAX];
    char out[KH_PATH_MAX - 64]; /* leaves room for /point_NNNN.h5 */
    int verify;
    int seed_per_point; /* init.seed and input.seed keyed on (seed, point) */
    int train;          /* command = train: each point is a khsim train */
    sweep_key keys[MAX_KEYS];
    int n_keys;
    long n_points, list_len;
    char error[512];
} sweep;

/* What one point gave: sent from a worker to rank 0 as bytes. */
typedef struct point_result {
    long index;
    int status;  /* 0 complete, 1 failed, 2 interrupted */
    int verify;  /* 1 passed, 0 failed, -1 not run */
    int skipped; /* 1: complete already */
    int signal;  /* the signal its rank got (SIGINT, SIGTERM), else 0 */
    long steps;
    double wall_seconds;
    char message[400];
} point_result;

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    sweep *s = user;
    if (s->error[0]) {
        return 0;
    }
    if (strcmp(section, "sweep") == 0) {
        if (strcmp(name, "base") == 0) {
            kh_config_resolve(s->path, value, s->base, sizeof s->base); /* beside the sweep file */
        } else if (strcmp(name, "out") == 0) {
            snprintf(s->out, sizeof s->out, "%s", value);
        } else if (strcmp(name, "seed_per_point") == 0) {
            s->seed_per_point = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
            if (!s->seed_per_point && strcmp(value, "false") != 0 && strcmp(value, "0") != 0) {
                snprintf(s->error, sizeof s->error,
                         "sweep.seed_per_point = '%s' is not true or false", value);
            }
        } else if (strcmp(name, "command") == 0) {
            s->train = strcmp(value, "train") == 0;
            if (!s->train && strcmp(value, "run") != 0) {
                snprintf(s->error, sizeof s->error, "sweep.command = '%s' is not run or train",
                         value);
            }
        } else if (strcmp(name, "verify") == 0) {
            s->verify = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
            if (!s->verify && strcmp(value, "false") != 0 && strcmp(value, "0") != 0) {
                snprintf(s->error, sizeof s->error, "sweep.verify = '%s' is not true or false",
                         value);
            }
        } else {
            snprintf(s->error, sizeof s->error,
                     "unknown key sweep.%s (base, out, verify, seed_per_point, command)", name);
        }
        return s->error[0] ? 0 : 1;
    }
    if (strcmp(section, "grid") != 0 && strcmp(section, "list") != 0) {
        snprintf(s->error, sizeof s->error, "unknown section [%s] (sweep, grid, list)", section);
        return 0;
    }
    if (s->n_keys == MAX_KEYS) {
        snprintf(s->error, sizeof s->error, "more than %d swept keys", MAX_KEYS);
        return 0;
    }
    const char *dot = strchr(name, '.');
    if (!dot || kh_param_find_dotted(name) < 0) {
        snprintf(s->error, sizeof s->error,
                 "[%s] %s is not a study key (section.key, see khsim "
                 "--help)",
                 section, name);
        return 0;
    }
    for (int k = 0; k < s->n_keys; k++) {
        if (strcmp(s->keys[k].name, name) == 0) {
            snprintf(s->error, sizeof s->error, "%s is swept twice", name);
            return 0;
        }
    }
    sweep_key *key = &s->keys[s->n_keys++];
    snprintf(key->name, sizeof key->name, "%s", name);
    key->is_list = strcmp(section, "list") == 0;
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", value);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ' || *tok == '\t') {
            tok++;
        }
        size_t l = strlen(tok);
        while (l > 0 && (tok[l - 1] == ' ' || tok[l - 1] == '\t')) {
            tok[--l] = '\0';
        }
        if (l == 0 || l >= VALUE_LEN || key->n_values == MAX_VALUES) {
            snprintf(s->error, sizeof s->error, "%s: an empty, too long value, or more than %d",
                     name, MAX_VALUES);
            return 0;
        }
        snprintf(key->values[key->n_values++], VALUE_LEN, "%s", tok);
    }
    if (key->n_values == 0) {
        snprintf(s->error, sizeof s->error, "%s has no values", name);
        return 0;
    }
    return 1;
}

static int sweep_read(const char *path, sweep *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->verify = 1;
    char *raw = NULL;
    int rs = kh_config_read_text(path, (size_t)1 << 20, "sweep file", &raw);
    if (rs != KH_OK) {
        return rs;
    }
    char *text = NULL;
    int st = kh_config_normalize(raw, path, &text);
    free(raw);
    if (st != KH_OK) {
        return st;
    }
    int line = ini_parse_string(text, on_entry, s);
    free(text);
    if (s->error[0]) {
        return KH_ERROR(KH_EINVAL, "%s: %s", path, s->error);
    }
    if (line > 0) {
        return KH_ERROR(KH_EINVAL, "%s:%d: cannot parse this line", path, line);
    }
    if (!s->base[0]) {
        return KH_ERROR(KH_EINVAL, "%s: sweep.base (the base study) is required", path);
    }
    if (s->n_keys == 0) {
        return KH_ERROR(KH_EINVAL, "%s: nothing swept: give keys in [grid] or [list]", path);
    }
    s->list_len = 1;
    long grid = 1, list = -1;
    for (int k = 0; k < s->n_keys; k++) {
        if (s->keys[k].is_list) {
            if (list >= 0 && s->keys[k].n_values != list) {
                return KH_ERROR(KH_EINVAL,
                                "%s: the lists have different lengths (%s: %ld, not %ld)", path,
                                s->keys[k].name, s->keys[k].n_values, list);
            }
            list = s->keys[k].n_values;
        } else {
            grid *= s->keys[k].n_values;
        }
    }
    s->list_len = list > 0 ? list : 1;
    s->n_points = grid * s->list_len;
    if (!s->out[0]) {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *dot = strrchr(b, '.');
        int l = dot ? (int)(dot - b) : (int)strlen(b);
        snprintf(s->out, sizeof s->out, "output/%.*s", l, b);
    }
    return KH_OK;
}

/* The value of key k at point i. */
static const char *value_at(const sweep *s, long i, int k)
{
    const long grid_points = s->n_points / s->list_len;
    const sweep_key *key = &s->keys[k];
    if (key->is_list) {
        return key->values[i / grid_points];
    }
    long g = i % grid_points;
    for (int q = s->n_keys - 1; q > k; q--) {
        if (!s->keys[q].is_list) {
            g /= s->keys[q].n_values;
        }
    }
    return key->values[g % key->n_values];
}

static void point_path(const sweep *s, long i, char *buf, size_t len)
{
    snprintf(buf, len, "%s/point_%04ld.h5", s->out, i);
}

/* A seed keyed on (seed, point): splitmix64 of both, kept below 2^53 (the
 * study file's largest integer). */
static long keyed_seed(long seed, long point)
{
    uint64_t z = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)point + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (long)(z & ((1ull << 53) - 1));
}

/* Whether key `name` is swept. */
static int swept(const sweep *s, const char *name)
{
    for (int k = 0; k < s->n_keys; k++) {
        if (strcmp(s->keys[k].name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The base study with point i's values. */
static int point_config(const sweep *s, long i, kh_config **out, char *overrides, size_t len)
{
    kh_config *c = kh_config_alloc();
    if (!c) {
        return KH_ENOMEM;
    }
    int st = kh_config_read(c, s->base);
    overrides[0] = '\0';
    for (int k = 0; k < s->n_keys && st == KH_OK; k++) {
        char a[512];
        snprintf(a, sizeof a, "%s=%s", s->keys[k].name, value_at(s, i, k));
        st = kh_config_set(c, a);
        size_t l = strlen(overrides);
        snprintf(overrides + l, len - l, "%s%s", l ? "\n" : "", a);
    }
    /* seed_per_point: the seeds not swept become keyed on (seed, point), so
     * that every point draws its own streams, whatever rank runs it. */
    const char *seeds[2][2] = {{"init", "seed"}, {"input", "seed"}};
    for (int q = 0; q < 2 && st == KH_OK && s->seed_per_point; q++) {
        char name[32], value[32];
        snprintf(name, sizeof name, "%s.%s", seeds[q][0], seeds[q][1]);
        if (swept(s, name)) {
            continue;
        }
        long base_seed = q == 0 ? c->p.init_seed : c->p.input_seed;
        snprintf(value, sizeof value, "%ld", keyed_seed(base_seed, i));
        st = kh_config_set_kv(c, seeds[q][0], seeds[q][1], value, "sweep: ");
        size_t l = strlen(overrides);
        snprintf(overrides + l, len - l, "%s%s=%s", l ? "\n" : "", name, value);
    }
    char path[KH_PATH_MAX];
    point_path(s, i, path, sizeof path);
    if (st == KH_OK) {
        st = kh_config_set_kv(c, "output", "path", path, "sweep: ");
        if (st == KH_OK) {
            /* A point the sweep reruns replaces its own unfinished file. */
            st = kh_config_set_kv(c, "output", "overwrite", "true", "sweep: ");
        }
    }
    if (st == KH_OK) {
        st = kh_config_validate(c);
    }
    if (st != KH_OK) {
        kh_config_free(c);
        return st;
    }
    *out = c;
    return KH_OK;
}

static void audit(const sweep *s, const char *path, point_result *r)
{
    r->verify = -1;
    if (!s->verify) {
        return;
    }
    char method[64] = "";
    kh_h5_read_attr_string(path, "/params", "solver.method", method, sizeof method);
    if (kh_method_caps(method) & KH_SOLVER_NOT_ODE) {
        return; /* no trajectory of the ODE to audit */
    }
    FILE *null = fopen("/dev/null", "w");
    int v = kh_verify(path, 0, null ? null : stderr);
    if (null) {
        fclose(null);
    }
    r->verify = v == KH_OK ? 1 : (v == KH_ECHECK ? 0 : -1);
}

/* A point's earlier file, as a restart reads it: when its status is
 * complete, its counters into r (skipped), and 1; else 0. */
static int take_complete(const char *path, point_result *r)
{
    char status[64] = "";
    if (kh_h5_read_attr_string(path, "/", "status", status, sizeof status) != KH_OK ||
        strcmp(status, "complete") != 0) {
        return 0;
    }
    double x = 0.0;
    r->skipped = 1;
    if (kh_h5_read_attr_double(path, "/solver", "steps", &x) == KH_OK) {
        r->steps = (long)x;
    }
    if (kh_h5_read_attr_double(path, "/solver", "wall_seconds", &x) == KH_OK) {
        r->wall_seconds = x;
    }
    return 1;
}

/* Whether the record at path is of this point: its study text and its
 * overrides (the point's values and seeds) are the point's. A sweep file
 * changed between two runs makes its old points' files another point's. */
static int same_point(const char *path, const kh_config *c, const char *overrides)
{
    const size_t cap = (size_t)1 << 16;
    char *buf = malloc(cap);
    int same = buf != NULL;
    if (same) {
        same = kh_h5_read_attr_string(path, "/", "overrides", buf, cap) == KH_OK &&
               strcmp(buf, overrides) == 0;
    }
    if (same) {
        const char *study = c->study_text ? c->study_text : "";
        same = kh_h5_read_attr_string(path, "/", "study", buf, cap) == KH_OK &&
               strncmp(buf, study, cap - 1) == 0;
    }
    free(buf);
    kh_error_clear();
    return same;
}

/* In a child process (kh_isolated): what a restart reads of an earlier
 * file, take_complete and, when it is complete, the audit. Its status says
 * the audit's result (KH_OK passed, KH_ECHECK failed, KH_EINVAL none), so
 * that the parent, which then reads the same attributes in-process, does
 * not read the trajectory itself. */
static int probe_point(const char *path, void *arg)
{
    const sweep *s = arg;
    point_result r;
    memset(&r, 0, sizeof r);
    r.verify = -1;
    if (take_complete(path, &r) && !s->train) {
        audit(s, path, &r);
    }
    return r.verify == 1 ? KH_OK : (r.verify == 0 ? KH_ECHECK : KH_EINVAL);
}

/* Runs point i (or takes it from its complete file). An earlier file is
 * read in a child process first: a damaged one, which crashes or hangs
 * HDF5, makes the point fail with that message and is left as it is. */
static void run_point(const sweep *s, long i, const volatile sig_atomic_t *stop, point_result *r)
{
    memset(r, 0, sizeof *r);
    r->index = i;
    r->verify = -1;
    char path[KH_PATH_MAX];
    point_path(s, i, path, sizeof path);
    kh_config *c = NULL;
    char overrides[4096];
    int st = point_config(s, i, &c, overrides, sizeof overrides);
    if (st == KH_OK && access(path, F_OK) == 0) {
        int sig = 0;
        const int probed = kh_isolated(path, probe_point, (void *)s, stop, &sig);
        if (sig != 0 || probed == KH_EINTR) {
            r->status = probed == KH_EINTR ? 2 : 1;
            snprintf(r->message, sizeof r->message, "%s%s", kh_errmsg(),
                     probed == KH_EINTR ? ""
                                        : " (left as it is: delete it to run the point again)");
            kh_config_free(c);
            return;
        }
        if (same_point(path, c, overrides) && take_complete(path, r)) {
            r->verify = probed == KH_OK ? 1 : (probed == KH_ECHECK ? 0 : -1);
            kh_config_free(c);
            return;
        }
        /* Not complete, or a file of another point (the sweep file changed
         * since): the point runs again. */
    }
    kh_sim_result res;
    memset(&res, 0, sizeof res);
    kh_train_result tres;
    memset(&tres, 0, sizeof tres);
    if (st == KH_OK && s->train) {
        st = kh_train_run(c, overrides, 0, stop, NULL, NULL, &tres);
    } else if (st == KH_OK) {
        st = kh_sim_run(c, overrides, stop, NULL, NULL, &res);
    }
    kh_config_free(c);
    /* A training's steps are its readout epochs; its time, all phases. */
    r->steps = s->train ? tres.epochs : res.stats.steps;
    r->wall_seconds = s->train
                          ? tres.seconds_unsupervised + tres.seconds_features + tres.seconds_readout
                          : res.wall_seconds;
    if (st != KH_OK) {
        r->status = st == KH_EINTR ? 2 : 1;
        snprintf(r->message, sizeof r->message, "%s", kh_errmsg());
        return;
    }
    if (!s->train) {
        audit(s, path, r); /* a training's record is audited by its own tests */
    }
}

static int make_dirs(const char *dir)
{
    char buf[KH_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *q = buf + 1; *q; q++) {
        if (*q == '/') {
            *q = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return KH_ERROR(KH_EIO, "cannot create directory %s: %s", buf, strerror(errno));
            }
            *q = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return KH_ERROR(KH_EIO, "cannot create directory %s: %s", buf, strerror(errno));
    }
    return KH_OK;
}

/* The CSV field of a string, quoted. */
static void csv_string(FILE *f, const char *x)
{
    fputc('"', f);
    for (; *x; x++) {
        if (*x == '"') {
            fputc('"', f);
        }
        fputc(*x == '\n' ? ' ' : *x, f);
    }
    fputc('"', f);
}

static const char *status_name(int status)
{
    return status == 0 ? "complete" : (status == 1 ? "failed" : "interrupted");
}

static int write_index(const sweep *s, const point_result *res)
{
    const long P = s->n_points;
    char path[KH_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/index.csv", s->out);
    FILE *f = fopen(path, "w");
    if (!f) {
        return KH_ERROR(KH_EIO, "%s: cannot write: %s", path, strerror(errno));
    }
    fprintf(f, "point,file,status,verify,steps,wall_seconds");
    for (int k = 0; k < s->n_keys; k++) {
        fprintf(f, ",%s", s->keys[k].name);
    }
    fprintf(f, ",message\n");
    for (long i = 0; i < P; i++) {
        const point_result *r = &res[i];
        fprintf(f, "%ld,point_%04ld.h5,%s,%s,%ld,%.6g", i, i, status_name(r->status),
                r->verify < 0 ? "" : (r->verify ? "passed" : "failed"), r->steps, r->wall_seconds);
        for (int k = 0; k < s->n_keys; k++) {
            fputc(',', f);
            csv_string(f, value_at(s, i, k));
        }
        fputc(',', f);
        csv_string(f, r->message);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        return KH_ERROR(KH_EIO, "%s: cannot write (disk full?)", path);
    }

    snprintf(path, sizeof path, "%s/index.h5", s->out);
    kh_h5 *h = kh_h5_create_plain(path);
    if (!h) {
        return KH_EIO;
    }
    long *lv = malloc((size_t)P * sizeof(long));
    double *dv = malloc((size_t)P * sizeof(double));
    int st = lv && dv ? KH_OK : KH_ERROR(KH_ENOMEM, "index of %ld points", P);
    const long dims[1] = {P};
    struct {
        const char *name, *units;
    } cols[] = {{"/points/status", "index|0 complete, 1 failed, 2 interrupted@point"},
                {"/points/verify", "index|1 passed, 0 failed, -1 not audited@point"},
                {"/points/steps", "count|solver steps of each point@point"}};
    for (int c = 0; c < 3 && st == KH_OK; c++) {
        for (long i = 0; i < P; i++) {
            lv[i] = c == 0 ? res[i].status : (c == 1 ? res[i].verify : res[i].steps);
        }
        st = kh_h5_write_array(h, cols[c].name, lv, 1, dims, 1, cols[c].units);
    }
    for (long i = 0; i < P && st == KH_OK; i++) {
        dv[i] = res[i].wall_seconds;
    }
    if (st == KH_OK) {
        st = kh_h5_write_array(h, "/points/wall_seconds", dv, 1, dims, 0,
                               "s|wall time of each point@point");
    }
    /* Each swept key: its values as numbers where they all are, else the
     * index of the value in the attribute `choices`. */
    for (int k = 0; k < s->n_keys && st == KH_OK; k++) {
        int numeric = 1;
        for (long v = 0; v < s->keys[k].n_values; v++) {
            char *end;
            strtod(s->keys[k].values[v], &end);
            numeric &= *end == '\0';
        }
        char name[256];
        snprintf(name, sizeof name, "/points/%s", s->keys[k].name);
        for (long i = 0; i < P; i++) {
            const char *x = value_at(s, i, k);
            if (numeric) {
                dv[i] = strtod(x, NULL);
            } else {
                for (long v = 0; v < s->keys[k].n_values; v++) {
                    if (strcmp(x, s->keys[k].values[v]) == 0) {
                        dv[i] = (double)v;
                    }
                }
            }
        }
        char what[320];
        snprintf(what, sizeof what,
                 numeric ? "as in the study file|the value of %s at each point@point"
                         : "index|the value of %s at each point, as an index into the "
                           "attribute choices@point",
                 s->keys[k].name);
        st = kh_h5_write_array(h, name, dv, 1, dims, 0, what);
        if (st == KH_OK && !numeric) {
            char choices[MAX_VALUES * 8] = "";
            for (long v = 0; v < s->keys[k].n_values; v++) {
                size_t l = strlen(choices);
                snprintf(choices + l, sizeof choices - l, "%s%s", v ? "," : "",
                         s->keys[k].values[v]);
            }
            st = kh_h5_set_dataset_attr(h, name, "choices", choices);
        }
    }
    for (long i = 0; i < P && st == KH_OK; i++) {
        char file[64], link[64];
        snprintf(file, sizeof file, "point_%04ld.h5", i);
        snprintf(link, sizeof link, "/point/%04ld", i);
        st = kh_h5_external_link(h, link, file);
        if (st == KH_OK && res[i].message[0]) {
            char attr[32];
            snprintf(attr, sizeof attr, "%04ld", i);
            st = kh_h5_set_attr(h, "/points/messages", attr, 0.0, res[i].message);
        }
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(h, "/", "sweep_file", 0.0, s->path);
    }
    if (st == KH_OK) {
        st = kh_h5_set_attr(h, "/", "base_study", 0.0, s->base);
    }
    free(lv);
    free(dv);
    int s2 = kh_h5_close(h);
    return st != KH_OK ? st : s2;
}

/* The point's line on `out`; a line its reader can no longer take (a
 * closed pipe, with SIGPIPE ignored) stops the sweep as SIGPIPE would, but
 * with the index written: *stop = SIGPIPE. */
static void report_point(FILE *out, const sweep *s, const point_result *r,
                         volatile sig_atomic_t *stop)
{
    if (!out) {
        return;
    }
    fprintf(out, "point %4ld/%ld %-11s %s", r->index + 1, s->n_points,
            r->skipped ? "(done)" : status_name(r->status),
            r->verify < 0 ? "" : (r->verify ? "audits passed" : "AUDIT FAILED"));
    for (int k = 0; k < s->n_keys; k++) {
        fprintf(out, "  %s=%s", s->keys[k].name, value_at(s, r->index, k));
    }
    if (r->message[0]) {
        fprintf(out, "  (%s)", r->message);
    }
    fprintf(out, "\n");
    fflush(out);
    if (kh_cli_reader_gone(out) && stop && !*stop) {
        *stop = SIGPIPE;
    }
}

/* The points from `from` on, left unrun by a stop. */
static void mark_not_run(point_result *res, long from, long n_points)
{
    for (long j = from; j < n_points; j++) {
        res[j].index = j;
        res[j].status = 2;
        res[j].verify = -1;
        snprintf(res[j].message, sizeof res[j].message, "not run (interrupted)");
    }
}

/* The base study and every point's values, checked before any run. */
static int check_points(const sweep *s, const char *path)
{
    int st = KH_OK;
    for (long i = 0; i < s->n_points && st == KH_OK; i++) {
        kh_config *c = NULL;
        char ov[4096];
        if ((st = point_config(s, i, &c, ov, sizeof ov)) != KH_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", kh_errmsg());
            st = KH_ERROR(st, "%s: point %ld: %s", path, i, msg);
        }
        kh_config_free(c);
    }
    return st;
}

/* Every point in this process, one after the other. */
static void run_serial(const sweep *s, volatile sig_atomic_t *stop, FILE *report, point_result *res)
{
    for (long i = 0; i < s->n_points; i++) {
        run_point(s, i, stop, &res[i]);
        report_point(report, s, &res[i], stop);
        if (stop && *stop) {
            mark_not_run(res, i + 1, s->n_points);
            break;
        }
    }
}

/* The index and the summary line; KH_OK, or why the sweep is not a success. */
static int summarize(const sweep *s, const point_result *res, volatile sig_atomic_t *stop,
                     FILE *report, int size)
{
    int st = write_index(s, res);
    long failed = 0, audit = 0, done = 0;
    for (long i = 0; i < s->n_points; i++) {
        failed += res[i].status != 0;
        audit += res[i].verify == 0;
        done += res[i].status == 0;
    }
    if (report) {
        fprintf(report,
                "%s/index.h5, index.csv: %ld of %ld points complete, %ld failed or "
                "not run, %ld failed an audit (%d rank%s)\n",
                s->out, done, s->n_points, failed, audit, size, size > 1 ? "s" : "");
    }
    if (st == KH_OK && (failed || audit)) {
        st = stop && *stop
                 ? KH_ERROR(KH_EINTR, "sweep interrupted")
                 : KH_ERROR(KH_ECHECK, "%ld points failed, %ld failed an audit", failed, audit);
    }
    return st;
}

int kh_sweep_run(const char *path, volatile sig_atomic_t *stop, FILE *report)
{
    sweep *s = calloc(1, sizeof *s);
    if (!s) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the sweep");
    }
    int rank = 0, size = 1;
#ifdef KH_HAVE_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
#endif
    int st = sweep_read(path, s);
    if (st == KH_OK) {
        st = check_points(s, path);
    }
    if (st == KH_OK && rank == 0) {
        st = make_dirs(s->out);
    }
#ifdef KH_HAVE_MPI
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
#endif
    if (st != KH_OK) {
        free(s);
        return st;
    }
    point_result *res = rank == 0 ? calloc((size_t)s->n_points, sizeof *res) : NULL;
    if (rank == 0 && !res) {
        long P = s->n_points;
        free(s);
        return KH_ERROR(KH_ENOMEM, "cannot allocate %ld results", P);
    }
    if (size == 1) {
        run_serial(s, stop, report, res);
    }
#ifdef KH_HAVE_MPI
    else if (rank == 0) {
        /* The task farm: a point to each worker, then the next to whichever
         * finishes first. */
        long next = 0, active = 0;
        int remote = 0; /* the signal a worker got: the sweep stops */
        for (int w = 1; w < size; w++) {
            long give = next < s->n_points ? next++ : -1;
            MPI_Send(&give, 1, MPI_LONG, w, 1, MPI_COMM_WORLD);
            active += give >= 0;
        }
        while (active > 0) {
            point_result r;
            MPI_Status ms;
            MPI_Recv(&r, (int)sizeof r, MPI_BYTE, MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &ms);
            res[r.index] = r;
            report_point(report, s, &r, stop);
            remote = remote ? remote : r.signal;
            long give = next < s->n_points && !(stop && *stop) && !remote ? next++ : -1;
            MPI_Send(&give, 1, MPI_LONG, ms.MPI_SOURCE, 1, MPI_COMM_WORLD);
            active -= give < 0;
        }
        mark_not_run(res, next, s->n_points);
        if (remote && stop && !*stop) {
            *stop = remote; /* as if this rank had got it: the sweep ends 128 + signal */
        }
    } else {
        for (;;) {
            long i;
            MPI_Recv(&i, 1, MPI_LONG, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (i < 0) {
                break;
            }
            point_result r;
            run_point(s, i, stop, &r);
            r.signal = stop ? (int)*stop : 0; /* then rank 0 hands out no more points */
            MPI_Send(&r, (int)sizeof r, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
        }
    }
#endif
    if (rank == 0) {
        st = summarize(s, res, stop, report, size);
    }
#ifdef KH_HAVE_MPI
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int sig = stop ? (int)*stop : 0;
    MPI_Bcast(&sig, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (stop && sig && !*stop) {
        *stop = sig; /* every rank ends 128 + the signal */
    }
#endif
    free(res);
    free(s);
    return st;
}
