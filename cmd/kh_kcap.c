/* khsim kcap (cmd/kh_kcap.h): the k-cap network, its relaxation, the
 * Hebbian and the learned rule, the meta-gradient, the data sets and the
 * earth mover's distance. The run and its record are in kh_kcap_run.c. */
#include "cmd/kh_kcap.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_rng.h"
#include "run/kh_sim.h"

/* The most entries the cap ranks (k + 1). */
#define KCAP_KMAX 64

/* The indices of the k largest entries of z, in order (ties to the lower
 * index), into idx [k]. */
static void top(const double *z, long len, long k, long *idx)
{
    double v[KCAP_KMAX];
    kh_topk_of(z, len, 0, k, v, idx);
}

void kh_kcap_hard(const double *z, long len, long k, double *a)
{
    long idx[KCAP_KMAX];
    top(z, len, k, idx);
    memset(a, 0, (size_t)len * sizeof(double));
    for (long j = 0; j < k; j++) {
        if (idx[j] >= 0) {
            a[idx[j]] = 1.0;
        }
    }
}

/* The threshold of the soft cap and the two entries it is the mean of. */
static double threshold(const double *z, long len, long k, long *i1, long *i2)
{
    long idx[KCAP_KMAX];
    top(z, len, k + 1, idx);
    *i1 = idx[k - 1];
    *i2 = idx[k];
    return 0.5 * (z[*i1] + z[*i2]);
}

void kh_kcap_soft(const double *z, long len, long k, double tau, double *a)
{
    long i1, i2;
    const double c = threshold(z, len, k, &i1, &i2);
    for (long i = 0; i < len; i++) {
        a[i] = 1.0 / (1.0 + exp(-(z[i] - c) / tau));
    }
}

static void cap(const double *z, long len, long k, double tau, double *a)
{
    if (tau > 0.0) {
        kh_kcap_soft(z, len, k, tau, a);
    } else {
        kh_kcap_hard(z, len, k, a);
    }
}

/* d [len] = J^T v for the cap a = cap(z) at tau (0 where it is hard):
 * da_i/dz_j = s_i (delta_ij - dc/dz_j), s_i = a_i (1 - a_i) / tau, and
 * dc/dz_j = 1/2 for the two entries c is the mean of. */
static void cap_vjp(const double *z, const double *a, long len, long k, double tau, const double *v,
                    double *d)
{
    if (!(tau > 0.0)) {
        memset(d, 0, (size_t)len * sizeof(double));
        return;
    }
    long i1, i2;
    threshold(z, len, k, &i1, &i2);
    double S = 0.0;
    for (long i = 0; i < len; i++) {
        const double s = a[i] * (1.0 - a[i]) / tau;
        d[i] = s * v[i];
        S += d[i];
    }
    d[i1] -= 0.5 * S;
    d[i2] -= 0.5 * S;
}

/* y [rows] = A [rows, cols] x. */
static void matvec(const double *A, long rows, long cols, const double *x, double *y)
{
    for (long i = 0; i < rows; i++) {
        double s = 0.0;
        for (long j = 0; j < cols; j++) {
            s += A[i * cols + j] * x[j];
        }
        y[i] = s;
    }
}

/* y [cols] = A^T x. */
static void matvec_t(const double *A, long rows, long cols, const double *x, double *y)
{
    memset(y, 0, (size_t)cols * sizeof(double));
    for (long i = 0; i < rows; i++) {
        for (long j = 0; j < cols; j++) {
            y[j] += A[i * cols + j] * x[i];
        }
    }
}

/* G [rows, cols] += u v^T. */
static void outer(double *G, long rows, long cols, const double *u, const double *v)
{
    for (long i = 0; i < rows; i++) {
        for (long j = 0; j < cols; j++) {
            G[i * cols + j] += u[i] * v[j];
        }
    }
}

void kh_kcap_data(int kind, long N, double noise, uint64_t seed, long n, double *z, double *x,
                  long *label, double *P)
{
    kh_rng r;
    kh_rng_seed(&r, seed, 31);
    for (long i = 0; i < n * 2; i++) {
        P[i] = kh_rng_normal(&r) / sqrt(2.0);
    }
    kh_rng_seed(&r, seed, 32);
    const double pi = acos(-1.0);
    for (long s = 0; s < N; s++) {
        const long c = s < N / 2 ? 0 : 1;
        const double u = kh_rng_uniform(&r);
        double a = 0.0, b = 0.0;
        if (kind == KH_KCAP_CIRCLES) {
            /* outer circle of radius 1, inner of radius 0.5 */
            const double rad = c == 0 ? 1.0 : 0.5, t = 2.0 * pi * u;
            a = rad * cos(t);
            b = rad * sin(t);
        } else if (kind == KH_KCAP_MOONS) {
            const double t = pi * u;
            a = c == 0 ? cos(t) : 1.0 - cos(t);
            b = c == 0 ? sin(t) : 0.5 - sin(t);
        } else {
            /* two Gaussian blobs of unit deviation at (-2, 0) and (2, 0) */
            a = c == 0 ? -2.0 : 2.0;
            b = 0.0;
        }
        z[2 * s] = a + noise * kh_rng_normal(&r);
        z[2 * s + 1] = b + noise * kh_rng_normal(&r);
        label[s] = c;
        for (long i = 0; i < n; i++) {
            x[s * n + i] = P[2 * i] * z[2 * s] + P[2 * i + 1] * z[2 * s + 1];
        }
    }
}

void kh_kcap_net_free(kh_kcap_net *net)
{
    free(net->in);
    free(net->out);
    for (int t = 0; t < 8; t++) {
        if (!net->shared || t == 0) {
            free(net->rec[t]);
        }
        net->rec[t] = NULL;
    }
    net->in = net->out = NULL;
}

int kh_kcap_net_alloc(kh_kcap_net *net, long n, long m, long k, long T, int shared, int cap_output,
                      uint64_t seed)
{
    memset(net, 0, sizeof *net);
    if (T < 1 || T > 8 || k < 1 || k >= m || k + 1 > KCAP_KMAX || (cap_output && k >= n)) {
        return KH_ERROR(KH_EINVAL,
                        "kcap: steps %ld (1 to 8), k %ld (1 to hidden - 1 = %ld, below %d%s)", T, k,
                        m - 1, KCAP_KMAX, cap_output ? ", below the inputs" : "");
    }
    net->n = n;
    net->m = m;
    net->k = k;
    net->T = T;
    net->shared = shared;
    net->cap_output = cap_output;
    net->in = malloc((size_t)(m * n) * sizeof(double));
    net->out = malloc((size_t)(n * m) * sizeof(double));
    int ok = net->in && net->out;
    for (long t = 0; t < T && ok; t++) {
        net->rec[t] = shared && t > 0 ? net->rec[0] : malloc((size_t)(m * m) * sizeof(double));
        ok = net->rec[t] != NULL;
    }
    if (!ok) {
        kh_kcap_net_free(net);
        return KH_ERROR(KH_ENOMEM, "kcap: cannot allocate a network of %ld units", m);
    }
    kh_rng r;
    kh_rng_seed(&r, seed, 33);
    for (long i = 0; i < m * n; i++) {
        net->in[i] = kh_rng_normal(&r) / sqrt((double)n);
    }
    for (long t = 0; t < (shared ? 1 : T); t++) {
        for (long i = 0; i < m * m; i++) {
            net->rec[t][i] = kh_rng_normal(&r) / sqrt((double)m);
        }
    }
    for (long i = 0; i < n * m; i++) {
        net->out[i] = kh_rng_normal(&r) / sqrt((double)m);
    }
    return KH_OK;
}

int kh_kcap_net_arrays(const kh_kcap_net *net, double **a, long *len)
{
    int c = 0;
    a[c] = net->in;
    len[c++] = net->m * net->n;
    for (long t = 0; t < (net->shared ? 1 : net->T); t++) {
        a[c] = net->rec[t];
        len[c++] = net->m * net->m;
    }
    a[c] = net->out;
    len[c++] = net->n * net->m;
    return c;
}

void kh_kcap_net_add(kh_kcap_net *net, const kh_kcap_net *d)
{
    double *a[KH_KCAP_ARRAYS], *b[KH_KCAP_ARRAYS];
    long la[KH_KCAP_ARRAYS], lb[KH_KCAP_ARRAYS];
    const int c = kh_kcap_net_arrays(net, a, la);
    kh_kcap_net_arrays(d, b, lb);
    for (int i = 0; i < c; i++) {
        for (long j = 0; j < la[i]; j++) {
            a[i][j] += b[i][j];
        }
    }
}

void kh_kcap_net_copy(kh_kcap_net *dst, const kh_kcap_net *src)
{
    double *a[KH_KCAP_ARRAYS], *b[KH_KCAP_ARRAYS];
    long la[KH_KCAP_ARRAYS], lb[KH_KCAP_ARRAYS];
    const int c = kh_kcap_net_arrays(dst, a, la);
    kh_kcap_net_arrays(src, b, lb);
    for (int i = 0; i < c; i++) {
        memcpy(a[i], b[i], (size_t)la[i] * sizeof(double));
    }
}

static void net_zero(kh_kcap_net *net)
{
    double *a[KH_KCAP_ARRAYS];
    long la[KH_KCAP_ARRAYS];
    const int c = kh_kcap_net_arrays(net, a, la);
    for (int i = 0; i < c; i++) {
        memset(a[i], 0, (size_t)la[i] * sizeof(double));
    }
}

int kh_kcap_pass_alloc(kh_kcap_pass *ps, const kh_kcap_net *net)
{
    const size_t s = (size_t)((net->T + 1) * net->m);
    ps->z = malloc(s * sizeof(double));
    ps->x = malloc(s * sizeof(double));
    ps->zout = malloc((size_t)net->n * sizeof(double));
    ps->out = malloc((size_t)net->n * sizeof(double));
    if (!ps->z || !ps->x || !ps->zout || !ps->out) {
        kh_kcap_pass_free(ps);
        return KH_ERROR(KH_ENOMEM, "kcap: cannot allocate a forward pass");
    }
    return KH_OK;
}

void kh_kcap_pass_free(kh_kcap_pass *ps)
{
    free(ps->z);
    free(ps->x);
    free(ps->zout);
    free(ps->out);
    memset(ps, 0, sizeof *ps);
}

double kh_kcap_forward(const kh_kcap_net *net, const double *x0, double tau, kh_kcap_pass *ps)
{
    const long n = net->n, m = net->m, k = net->k, T = net->T;
    matvec(net->in, m, n, x0, ps->z);
    cap(ps->z, m, k, tau, ps->x);
    for (long t = 1; t <= T; t++) {
        matvec(net->rec[t - 1], m, m, ps->x + (t - 1) * m, ps->z + t * m);
        cap(ps->z + t * m, m, k, tau, ps->x + t * m);
    }
    matvec(net->out, n, m, ps->x + T * m, ps->zout);
    if (net->cap_output) {
        cap(ps->zout, n, k, tau, ps->out);
    } else {
        memcpy(ps->out, ps->zout, (size_t)n * sizeof(double));
    }
    double L = 0.0;
    for (long i = 0; i < n; i++) {
        L += (ps->out[i] - x0[i]) * (ps->out[i] - x0[i]);
    }
    return L;
}

void kh_kcap_backward(const kh_kcap_net *net, const double *x0, double tau, const kh_kcap_pass *ps,
                      kh_kcap_net *g)
{
    const long n = net->n, m = net->m, k = net->k, T = net->T;
    double dout[256], dz[256], dx[256];
    for (long i = 0; i < n; i++) {
        dout[i] = 2.0 * (ps->out[i] - x0[i]);
    }
    if (net->cap_output) {
        cap_vjp(ps->zout, ps->out, n, k, tau, dout, dz);
        memcpy(dout, dz, (size_t)n * sizeof(double));
    }
    outer(g->out, n, m, dout, ps->x + T * m);
    matvec_t(net->out, n, m, dout, dx);
    for (long t = T; t >= 1; t--) {
        cap_vjp(ps->z + t * m, ps->x + t * m, m, k, tau, dx, dz);
        outer(g->rec[t - 1], m, m, dz, ps->x + (t - 1) * m);
        matvec_t(net->rec[t - 1], m, m, dz, dx);
    }
    cap_vjp(ps->z, ps->x, m, k, tau, dx, dz);
    outer(g->in, m, n, dz, x0);
}

/* M [rows, cols] += eta q p^T, each row then rescaled to its norm before. */
static void hebb_layer(double *M, long rows, long cols, const double *q, const double *p,
                       double eta)
{
    for (long i = 0; i < rows; i++) {
        double *w = M + i * cols;
        double before = 0.0, after = 0.0;
        for (long j = 0; j < cols; j++) {
            before += w[j] * w[j];
            w[j] += eta * q[i] * p[j];
            after += w[j] * w[j];
        }
        if (after > 0.0) {
            const double s = sqrt(before / after);
            for (long j = 0; j < cols; j++) {
                w[j] *= s;
            }
        }
    }
}

void kh_kcap_hebb(kh_kcap_net *net, const double *x0, const kh_kcap_pass *ps, double eta)
{
    const long n = net->n, m = net->m, T = net->T;
    hebb_layer(net->in, m, n, ps->x, x0, eta);
    for (long t = 1; t <= T; t++) {
        hebb_layer(net->rec[t - 1], m, m, ps->x + t * m, ps->x + (t - 1) * m, eta);
    }
    hebb_layer(net->out, n, m, x0, ps->x + T * m, eta);
}

int kh_kcap_rule_alloc(kh_kcap_rule *r, long T, long hidden, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->hidden = hidden;
    r->d[0] = 2;
    r->d[1] = 2 * T;
    r->d[2] = 3;
    for (int l = 0; l < 3; l++) {
        r->len[l] = hidden * r->d[l] + 2 * hidden + 1;
        r->total += r->len[l];
    }
    r->th[0] = calloc((size_t)r->total, sizeof(double));
    if (!r->th[0]) {
        return KH_ERROR(KH_ENOMEM, "kcap: cannot allocate the rule");
    }
    r->th[1] = r->th[0] + r->len[0];
    r->th[2] = r->th[1] + r->len[1];
    kh_rng g;
    kh_rng_seed(&g, seed, 34);
    for (int l = 0; l < 3; l++) {
        double *W1 = r->th[l], *w2 = W1 + hidden * r->d[l] + hidden;
        for (long i = 0; i < hidden * r->d[l]; i++) {
            W1[i] = kh_rng_normal(&g) / sqrt((double)r->d[l]);
        }
        for (long a = 0; a < hidden; a++) {
            w2[a] = 1e-3 * kh_rng_normal(&g);
        }
    }
    return KH_OK;
}

void kh_kcap_rule_free(kh_kcap_rule *r)
{
    free(r->th[0]);
    memset(r, 0, sizeof *r);
}

/* f(u) of layer l's MLP; with gt (may be NULL) adds s df/dtheta into gt. */
static double rule_eval(const kh_kcap_rule *r, int l, const double *u, double s, double *gt)
{
    const long h = r->hidden, d = r->d[l];
    const double *W1 = r->th[l], *b1 = W1 + h * d, *w2 = b1 + h, *b2 = w2 + h;
    double f = *b2;
    for (long a = 0; a < h; a++) {
        double y = b1[a];
        for (long b = 0; b < d; b++) {
            y += W1[a * d + b] * u[b];
        }
        const double ha = tanh(y);
        f += w2[a] * ha;
        if (gt) {
            const double back = s * w2[a] * (1.0 - ha * ha);
            for (long b = 0; b < d; b++) {
                gt[a * d + b] += back * u[b];
            }
            gt[h * d + a] += back;
            gt[h * d + h + a] += s * ha;
        }
    }
    if (gt) {
        gt[h * d + 2 * h] += s;
    }
    return f;
}

/* For every synapse of every layer: u its features; with dnet, dnet's
 * weight = f(u); with G (dL/dM') and gt, gt += G_ij df(u)/dtheta. */
static void rule_sweep(const kh_kcap_rule *r, const kh_kcap_net *net, const double *x0,
                       const kh_kcap_pass *ps, kh_kcap_net *dnet, const kh_kcap_net *G, double *gt)
{
    const long n = net->n, m = net->m, T = net->T;
    double u[24];
    for (long i = 0; i < m; i++) {
        for (long j = 0; j < n; j++) {
            u[0] = x0[j];
            u[1] = ps->x[i];
            const double f = rule_eval(r, 0, u, G ? G->in[i * n + j] : 0.0, G ? gt : NULL);
            if (dnet) {
                dnet->in[i * n + j] = f;
            }
        }
    }
    const long off1 = r->len[0], off2 = r->len[0] + r->len[1];
    for (long i = 0; i < m; i++) {
        for (long j = 0; j < m; j++) {
            for (long t = 1; t <= T; t++) {
                u[2 * (t - 1)] = ps->x[(t - 1) * m + j];
                u[2 * (t - 1) + 1] = ps->x[t * m + i];
            }
            double gs = 0.0;
            for (long t = 0; G && t < (net->shared ? 1 : T); t++) {
                gs += G->rec[t][i * m + j];
            }
            const double f = rule_eval(r, 1, u, gs, G ? gt + off1 : NULL);
            for (long t = 0; dnet && t < (net->shared ? 1 : T); t++) {
                dnet->rec[t][i * m + j] = f;
            }
        }
    }
    for (long i = 0; i < n; i++) {
        for (long j = 0; j < m; j++) {
            u[0] = ps->x[T * m + j];
            u[1] = ps->out[i];
            u[2] = x0[i];
            const double f = rule_eval(r, 2, u, G ? G->out[i * m + j] : 0.0, G ? gt + off2 : NULL);
            if (dnet) {
                dnet->out[i * m + j] = f;
            }
        }
    }
}

void kh_kcap_rule_update(const kh_kcap_rule *r, const kh_kcap_net *net, const double *x0,
                         const kh_kcap_pass *ps, kh_kcap_net *dnet)
{
    rule_sweep(r, net, x0, ps, dnet, NULL, NULL);
}

double kh_kcap_meta_loss(const kh_kcap_rule *r, const kh_kcap_net *net, const double *x0,
                         const double *xe, double tau, double *grad, kh_kcap_net *work,
                         kh_kcap_net *gwork, kh_kcap_pass *ps, kh_kcap_pass *ps2)
{
    kh_kcap_forward(net, x0, 0.0, ps);
    rule_sweep(r, net, x0, ps, work, NULL, NULL);
    kh_kcap_net_add(work, net); /* M' = M + f */
    const double L = kh_kcap_forward(work, xe, tau, ps2);
    if (grad) {
        net_zero(gwork);
        kh_kcap_backward(work, xe, tau, ps2, gwork);
        rule_sweep(r, net, x0, ps, NULL, gwork, grad);
    }
    return L;
}

/* The minimum-cost one-to-one matching of the N x N cost C (the
 * Hungarian algorithm with potentials, O(N^3)); returns the total cost, or
 * -1 when out of memory. */
static double hungarian(const double *C, long N)
{
    double *u = calloc((size_t)(N + 1), sizeof(double)),
           *v = calloc((size_t)(N + 1), sizeof(double));
    double *minv = malloc((size_t)(N + 1) * sizeof(double));
    long *p = calloc((size_t)(N + 1), sizeof(long)), *way = calloc((size_t)(N + 1), sizeof(long));
    char *used = malloc((size_t)(N + 1));
    if (!u || !v || !minv || !p || !way || !used) {
        free(u), free(v), free(minv), free(p), free(way), free(used);
        return -1.0;
    }
    for (long i = 1; i <= N; i++) {
        p[0] = i;
        long j0 = 0;
        for (long j = 0; j <= N; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            const long i0 = p[j0];
            double delta = INFINITY;
            long j1 = 0;
            for (long j = 1; j <= N; j++) {
                if (!used[j]) {
                    const double cur = C[(i0 - 1) * N + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if (minv[j] < delta) {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for (long j = 0; j <= N; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            const long j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0.0;
    for (long j = 1; j <= N; j++) {
        total += C[(p[j] - 1) * N + (j - 1)];
    }
    free(u), free(v), free(minv), free(p), free(way), free(used);
    return total;
}

/* Centres the N points X [N, 2] and scales them to a mean squared norm of 1
 * (all equal: left at 0). */
static void normalise2(double *X, long N)
{
    double c[2] = {0.0, 0.0}, s = 0.0;
    for (long i = 0; i < N; i++) {
        c[0] += X[2 * i] / (double)N;
        c[1] += X[2 * i + 1] / (double)N;
    }
    for (long i = 0; i < N; i++) {
        X[2 * i] -= c[0];
        X[2 * i + 1] -= c[1];
        s += (X[2 * i] * X[2 * i] + X[2 * i + 1] * X[2 * i + 1]) / (double)N;
    }
    for (long i = 0; s > 0.0 && i < 2 * N; i++) {
        X[i] /= sqrt(s);
    }
}

double kh_kcap_emd(const double *L, long N, long m, const double *Z, double *Y)
{
    double *mean = calloc((size_t)m, sizeof(double)), *Cv = calloc((size_t)(m * m), sizeof(double));
    double *P = malloc((size_t)(2 * N) * sizeof(double)),
           *Q = malloc((size_t)(2 * N) * sizeof(double));
    double *D = malloc((size_t)(N * N) * sizeof(double));
    gsl_matrix *evec = gsl_matrix_alloc((size_t)m, (size_t)m);
    gsl_vector *eval = gsl_vector_alloc((size_t)m);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)m);
    double emd = -1.0;
    if (!mean || !Cv || !P || !Q || !D || !evec || !eval || !ws) {
        goto out;
    }
    for (long i = 0; i < N; i++) {
        for (long a = 0; a < m; a++) {
            mean[a] += L[i * m + a] / (double)N;
        }
    }
    for (long i = 0; i < N; i++) {
        for (long a = 0; a < m; a++) {
            for (long b = 0; b < m; b++) {
                Cv[a * m + b] += (L[i * m + a] - mean[a]) * (L[i * m + b] - mean[b]);
            }
        }
    }
    gsl_matrix_view cv = gsl_matrix_view_array(Cv, (size_t)m, (size_t)m);
    gsl_eigen_symmv(&cv.matrix, eval, evec, ws);
    gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
    for (long i = 0; i < N; i++) {
        for (int c = 0; c < 2; c++) {
            double s = 0.0;
            for (long a = 0; a < m; a++) {
                s += (L[i * m + a] - mean[a]) * gsl_matrix_get(evec, (size_t)a, (size_t)c);
            }
            P[2 * i + c] = s;
        }
    }
    memcpy(Q, Z, (size_t)(2 * N) * sizeof(double));
    normalise2(P, N);
    normalise2(Q, N);
    /* Orthogonal Procrustes: R = U V^T from the SVD of P^T Q. */
    double A[4] = {0, 0, 0, 0}, Vd[4], Sd[2], wk[2];
    for (long i = 0; i < N; i++) {
        for (int a = 0; a < 2; a++) {
            for (int b = 0; b < 2; b++) {
                A[a * 2 + b] += P[2 * i + a] * Q[2 * i + b];
            }
        }
    }
    gsl_matrix_view Am = gsl_matrix_view_array(A, 2, 2), Vm = gsl_matrix_view_array(Vd, 2, 2);
    gsl_vector_view Sv = gsl_vector_view_array(Sd, 2), Wv = gsl_vector_view_array(wk, 2);
    gsl_linalg_SV_decomp(&Am.matrix, &Vm.matrix, &Sv.vector, &Wv.vector); /* A -> U */
    double R[4];
    for (int a = 0; a < 2; a++) {
        for (int b = 0; b < 2; b++) {
            R[a * 2 + b] = A[a * 2] * Vd[b * 2] + A[a * 2 + 1] * Vd[b * 2 + 1];
        }
    }
    for (long i = 0; i < N; i++) {
        const double p0 = P[2 * i], p1 = P[2 * i + 1];
        P[2 * i] = p0 * R[0] + p1 * R[2];
        P[2 * i + 1] = p0 * R[1] + p1 * R[3];
    }
    for (long i = 0; i < N; i++) {
        for (long j = 0; j < N; j++) {
            D[i * N + j] = hypot(P[2 * i] - Q[2 * j], P[2 * i + 1] - Q[2 * j + 1]);
        }
    }
    emd = hungarian(D, N);
    if (emd >= 0.0) {
        emd /= (double)N;
    }
    if (Y) {
        memcpy(Y, P, (size_t)(2 * N) * sizeof(double));
    }
out:
    free(mean);
    free(Cv);
    free(P);
    free(Q);
    free(D);
    gsl_matrix_free(evec); /* GSL's frees take NULL */
    gsl_vector_free(eval);
    gsl_eigen_symmv_free(ws);
    return emd;
}

int kh_kcap_logistic_fit(const double *X, const long *y, const long *idx, long nl, long d,
                         double lambda, double *w)
{
    const long D = d + 1;
    gsl_matrix *H = gsl_matrix_alloc((size_t)D, (size_t)D);
    gsl_vector *g = gsl_vector_alloc((size_t)D), *dw = gsl_vector_alloc((size_t)D);
    double *x = malloc((size_t)D * sizeof(double));
    int st = H && g && dw && x ? KH_OK : KH_ERROR(KH_ENOMEM, "kcap: cannot allocate a readout");
    for (long j = 0; j < D; j++) {
        w[j] = 0.0;
    }
    int it = 0;
    for (; st == KH_OK && it < 100; it++) {
        for (long j = 0; j < D; j++) {
            const double lj = j < d ? lambda : 1e-6 * lambda;
            gsl_vector_set(g, (size_t)j, lj * w[j]);
            for (long k = 0; k < D; k++) {
                gsl_matrix_set(H, (size_t)j, (size_t)k, j == k ? lj : 0.0);
            }
        }
        for (long i = 0; i < nl; i++) {
            const long s = idx[i];
            memcpy(x, X + s * d, (size_t)d * sizeof(double));
            x[d] = 1.0;
            double u = 0.0;
            for (long j = 0; j < D; j++) {
                u += w[j] * x[j];
            }
            const double pr = 1.0 / (1.0 + exp(-u)), c = pr * (1.0 - pr);
            for (long j = 0; j < D; j++) {
                *gsl_vector_ptr(g, (size_t)j) += (pr - (double)y[s]) * x[j];
                for (long k = 0; k < D; k++) {
                    *gsl_matrix_ptr(H, (size_t)j, (size_t)k) += c * x[j] * x[k];
                }
            }
        }
        /* The Hessian is positive definite (lambda > 0): Cholesky. */
        if (gsl_linalg_cholesky_decomp1(H) != 0 || gsl_linalg_cholesky_solve(H, g, dw) != 0) {
            st = KH_ERROR(KH_ENOCONV, "kcap: the readout's Hessian is not positive definite");
            break;
        }
        double big = 0.0;
        for (long j = 0; j < D; j++) {
            w[j] -= gsl_vector_get(dw, (size_t)j);
            big = fmax(big, fabs(gsl_vector_get(dw, (size_t)j)));
        }
        if (big < 1e-12) {
            break;
        }
    }
    if (st == KH_OK && it == 100) {
        st = KH_ERROR(KH_ENOCONV, "kcap: the readout's Newton iteration did not converge");
    }
    gsl_matrix_free(H); /* GSL's frees take NULL */
    gsl_vector_free(g);
    gsl_vector_free(dw);
    free(x);
    return st;
}

double kh_kcap_logistic_accuracy(const double *X, const long *y, const long *idx, long nt, long d,
                                 const double *w)
{
    long right = 0;
    for (long i = 0; i < nt; i++) {
        const double *x = X + idx[i] * d;
        double u = w[d];
        for (long j = 0; j < d; j++) {
            u += w[j] * x[j];
        }
        right += (u > 0.0) == (y[idx[i]] == 1);
    }
    return nt > 0 ? (double)right / (double)nt : 0.0;
}

/* The samples of one class, cls [n] in index order, taken in the order
 * perm: the first L into lab, the others into test. */
static void split(const long *cls, const long *perm, long n, long L, long *lab, long *nl,
                  long *test, long *nt)
{
    for (long i = 0; i < n; i++) {
        const long s = cls[perm[i]];
        if (i < L) {
            lab[(*nl)++] = s;
        } else {
            test[(*nt)++] = s;
        }
    }
}

int kh_kcap_semi(const double *X, const long *y, long N, long d, const long *per_class, int K,
                 int draws, uint64_t seed, double *acc)
{
    long n1 = 0;
    for (long s = 0; s < N; s++) {
        n1 += y[s] == 1;
    }
    const long n0 = N - n1;
    for (int k = 0; k < K; k++) {
        if (per_class[k] < 1 || per_class[k] >= n0 || per_class[k] >= n1) {
            return KH_ERROR(KH_EINVAL,
                            "kcap: %ld labelled samples of each class leave none to test "
                            "(%ld and %ld samples)",
                            per_class[k], n0, n1);
        }
    }
    long *cls = malloc((size_t)N * sizeof(long)), *perm = malloc((size_t)N * sizeof(long));
    long *lab = malloc((size_t)N * sizeof(long)), *test = malloc((size_t)N * sizeof(long));
    double *w = malloc((size_t)(d + 1) * sizeof(double));
    int st = cls && perm && lab && test && w
                 ? KH_OK
                 : KH_ERROR(KH_ENOMEM, "kcap: cannot allocate a readout");
    /* Class 0's samples, then class 1's, each in index order. */
    long a = 0, b = n0;
    for (long s = 0; st == KH_OK && s < N; s++) {
        cls[y[s] == 1 ? b++ : a++] = s;
    }
    for (int k = 0; k < K; k++) {
        acc[k] = 0.0;
    }
    kh_rng r;
    kh_rng_seed(&r, seed, 7);
    for (int dr = 0; st == KH_OK && dr < draws; dr++) {
        /* Each class in a random order; the first L of each are labelled. */
        kh_sim_shuffle(perm, n0, &r);
        kh_sim_shuffle(perm + n0, n1, &r);
        for (int k = 0; st == KH_OK && k < K; k++) {
            long nl = 0, nt = 0;
            split(cls, perm, n0, per_class[k], lab, &nl, test, &nt);
            split(cls + n0, perm + n0, n1, per_class[k], lab, &nl, test, &nt);
            st = kh_kcap_logistic_fit(X, y, lab, nl, d, KH_KCAP_SEMI_LAMBDA, w);
            if (st == KH_OK) {
                acc[k] += kh_kcap_logistic_accuracy(X, y, test, nt, d, w) / (double)draws;
            }
        }
    }
    free(cls);
    free(perm);
    free(lab);
    free(test);
    free(w);
    return st;
}
