/* Helpers shared by the models: the currents of a weight matrix, the neuron
 * dynamics with global lateral inhibition, the plasticity update of the form
 * tau_L dW_mui/dt = a_mu v_i - b_mu W_mui, and its Jacobian.
 *
 *   tau dh_mu/dt = I_mu - w_inh sum_{nu != mu} r(h_nu) - h_mu
 *
 * Reference: D. Krotov and J. J. Hopfield, PNAS 116:7723 (2019), eqs. 3-4.
 * Each output element is computed by one thread and every sum runs in a
 * fixed order, so results are bit-identical for any thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kh_error.h"
#include "core/kh_kernels.h"
#include "core/kh_threads.h"
#include "models/kh_model.h"

size_t kh_net_dim(const kh_params *p)
{
    return (size_t)p->n_hidden * (1 + (size_t)p->n_visible);
}

int kh_net_init(kh_model_ws *w, const kh_params *p)
{
    return kh_net_init_units(w, p, p->n_hidden);
}

int kh_net_init_units(kh_model_ws *w, const kh_params *p, long units)
{
    w->p = p;
    w->m = units;
    w->n = p->n_visible;
    w->v = NULL;
    w->Rp = pow(p->R, p->p);
    w->p2 = p->p - 2.0;
    w->ip2 = kh_int_exponent(w->p2);
    size_t m = (size_t)w->m;
    double **arrays[] = {&w->I,  &w->B,  &w->vv, &w->a,  &w->b,  &w->ah, &w->bh, &w->aI,
                         &w->bI, &w->aB, &w->bB, &w->az, &w->bz, &w->zh, &w->zz, &w->gI_neg};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        *arrays[k] = calloc(m, sizeof(double));
        if (!*arrays[k]) {
            return KH_ERROR(KH_ENOMEM, "cannot allocate model scratch for %zu units", m);
        }
    }
    return KH_OK;
}

void kh_net_unit_view(kh_model_ws *w, long mu, kh_model_ws *view)
{
    *view = *w;
    view->m = 1;
    double **arrays[] = {&view->I,  &view->B,  &view->vv, &view->a,     &view->b,  &view->ah,
                         &view->bh, &view->aI, &view->bI, &view->aB,    &view->bB, &view->az,
                         &view->bz, &view->zh, &view->zz, &view->gI_neg};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        *arrays[k] += mu;
    }
}

void kh_net_release(kh_model_ws *w)
{
    double **arrays[] = {&w->I,  &w->B,  &w->vv, &w->a,  &w->b,  &w->ah, &w->bh, &w->aI,
                         &w->bI, &w->aB, &w->bB, &w->az, &w->bz, &w->zh, &w->zz, &w->gI_neg};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        free(*arrays[k]);
        *arrays[k] = NULL;
    }
}

kh_model_ws *kh_net_alloc(const kh_params *p, const char *model)
{
    kh_model_ws *w = calloc(1, sizeof *w);
    if (!w) {
        KH_ERROR(KH_ENOMEM, "cannot allocate the %s workspace", model);
        return NULL;
    }
    if (kh_net_init(w, p) != KH_OK) {
        kh_net_free(w);
        return NULL;
    }
    w->type = kh_model_find(model);
    return w;
}

void kh_net_free(void *ws)
{
    if (!ws) {
        return;
    }
    kh_net_release(ws);
    free(ws);
}

void kh_model_set_input(void *ws, const double *v)
{
    ((kh_model_ws *)ws)->v = v;
}

/* One row's moments, compiled for AVX2 and for any x86-64 (KH_CLONES). */
KH_CLONES static void row_moments(const double *w, const double *v, long n, double p2, int ip2,
                                  double *I, double *B, double *vv)
{
    kh_row_moments(w, v, n, p2, ip2, I, B, vv);
}

KH_CLONES static void row_dwdt(const double *w, const double *v, long n, double a, double b,
                               double inv, double *dw)
{
    kh_dw_row(w, v, n, a, b, inv, dw);
}

int kh_net_moments(kh_model_ws *w, const double *h, const double *W, int want_vv)
{
    const long m = w->m, n = w->n;
    const double *v = w->v;
    const double p2 = w->p2;
    const int ip2 = w->ip2;
    double *I = w->I, *B = w->B, *vv = want_vv ? w->vv : NULL;
#pragma omp parallel for default(none) shared(I, B, vv, W, v)                                      \
    firstprivate(m, n, p2, ip2) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        row_moments(W + mu * n, v, n, p2, ip2, &I[mu], &B[mu], vv ? &vv[mu] : NULL);
    }
    return kh_net_not_finite(w, h, NULL, 0);
}

int kh_net_not_finite(const kh_model_ws *w, const double *h, const double *z, long nz)
{
    for (long mu = 0; mu < w->m; mu++) {
        if (!isfinite(w->I[mu]) || !isfinite(w->B[mu]) || !isfinite(h[mu])) {
            return 1;
        }
    }
    for (long i = 0; i < nz; i++) {
        if (!isfinite(z[i])) {
            return 1;
        }
    }
    return 0;
}

/* The values of the state after W in w: the rule's, or, where it has one
 * a unit, one for each of w's units (a workspace may hold some units). */
static long n_extra(const kh_model_ws *w)
{
    const long m = w->p->n_hidden;
    const long nz = (long)w->type->dim(w->p) - m - m * w->n;
    return nz == m ? w->m : nz;
}

int kh_net_reduced(const double *h, const double *z, double *dh, double *dz, void *ws)
{
    kh_model_ws *w = ws;
    if (kh_net_not_finite(w, h, z, n_extra(w))) {
        return 1;
    }
    kh_net_dhdt(w, h, dh);
    w->type->coefficients(h, w->one_sided ? dh : NULL, z, 0, ws);
    if (w->type->sphere_gain) {
        for (long mu = 0; mu < w->m; mu++) {
            if (w->type->sphere_gain(h[mu], w->I[mu], w->B[mu], ws) * w->I[mu] < 0.0) {
                w->gI_neg[mu] = 1.0;
            }
        }
    }
    if (w->type->extra_rhs) {
        w->type->extra_rhs(h, z, dz, ws);
    }
    return 0;
}

int kh_net_rhs(double t, const double y[], double dydt[], void *ws)
{
    (void)t;
    kh_model_ws *w = ws;
    const long mn = w->m * w->n;
    if (kh_net_moments(w, y, y + w->m, 0)) {
        return 1;
    }
    int r = w->type->reduced(y, y + w->m + mn, dydt, dydt + w->m + mn, ws);
    if (r != 0) {
        return r;
    }
    kh_net_dwdt(w, y + w->m, dydt + w->m);
    return 0;
}

int kh_net_jacobian_full(double t, const double y[], double *dfdy, double dfdt[], void *ws)
{
    (void)t;
    kh_model_ws *w = ws;
    const size_t dim = w->type->dim(w->p);
    if (kh_net_moments(w, y, y + w->m, 0)) {
        return 1;
    }
    w->type->coefficients(y, NULL, y + w->m + w->m * w->n, 1, ws);
    kh_net_jacobian(w, y, dfdy, dim);
    if (w->type->extra_jacobian) {
        w->type->extra_jacobian(y, dfdy, dim, ws);
    }
    for (size_t i = 0; i < dim; i++) {
        dfdt[i] = 0.0;
    }
    return 0;
}

void kh_net_switches(const double y[], void *ws, double s[])
{
    kh_model_ws *w = ws;
    if (w->type->switches_need_moments(w)) {
        kh_net_moments(w, y, y + w->m, 0);
    }
    w->type->reduced_switches(y, w, s);
}

int kh_net_observe(const double y[], void *ws, kh_obs *o)
{
    kh_model_ws *w = ws;
    if (kh_net_moments(w, y, y + w->m, 1)) {
        return 1;
    }
    w->type->observe_moments(y, y + w->m + w->m * w->n, ws, o);
    return 0;
}

void kh_net_observe_plain(const double *h, const double *z, void *ws, kh_obs *o)
{
    (void)h;
    (void)z;
    kh_model_ws *w = ws;
    memcpy(o->current, w->I, (size_t)w->m * sizeof(double));
    memcpy(o->pnorm, w->B, (size_t)w->m * sizeof(double));
    o->L = NAN;
    o->dL_dt = NAN;
}

double kh_net_relu_sum(const double *h, long m)
{
    double s = 0.0;
    for (long mu = 0; mu < m; mu++) {
        s += kh_relu(h[mu]);
    }
    return s;
}

void kh_net_dhdt(const kh_model_ws *w, const double *h, double *dh)
{
    const kh_params *p = w->p;
    double S = p->w_inh != 0.0 ? kh_net_relu_sum(h, w->m) : 0.0;
    for (long mu = 0; mu < w->m; mu++) {
        dh[mu] = kh_dhdt(w->I[mu], h[mu], S, p->w_inh, p->tau);
    }
}

void kh_net_dwdt(const kh_model_ws *w, const double *W, double *dW)
{
    const long m = w->m, n = w->n;
    const double *v = w->v, *a = w->a, *b = w->b;
    const double inv = 1.0 / w->p->tau_L;
#pragma omp parallel for default(none) shared(W, dW, v, a, b)                                      \
    firstprivate(m, n, inv) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        row_dwdt(W + mu * n, v, n, a[mu], b[mu], inv, dW + mu * n);
    }
}

void kh_net_jacobian(const kh_model_ws *w, const double *y, double *J, size_t dim)
{
    const kh_params *p = w->p;
    const long m = w->m, n = w->n;
    const double *h = y, *W = y + m, *v = w->v;
    const double inv_tau = 1.0 / p->tau, inv_tl = 1.0 / p->tau_L;
    memset(J, 0, dim * dim * sizeof(double));
    for (long mu = 0; mu < m; mu++) {
        double *row = J + (size_t)mu * dim;
        for (long nu = 0; nu < m; nu++) {
            if (nu != mu && h[nu] > 0.0) {
                row[nu] = -p->w_inh * inv_tau;
            }
        }
        row[mu] = -inv_tau;
        for (long i = 0; i < n; i++) {
            row[m + mu * n + i] = kh_dI_dw(W[mu * n + i], v[i], p->p, w->p2, w->ip2) * inv_tau;
        }
    }
    const double pp = p->p, p2 = w->p2;
    const int ip2 = w->ip2;
#pragma omp parallel for default(none) shared(J, W, v, w)                                          \
    firstprivate(m, n, dim, pp, p2, ip2, inv_tl) if (KH_PAR(m * n)) schedule(static)
    for (long mu = 0; mu < m; mu++) {
        const double *wr = W + mu * n;
        for (long i = 0; i < n; i++) {
            double *row = J + (size_t)(m + mu * n + i) * dim;
            row[mu] = (w->ah[mu] * v[i] - w->bh[mu] * wr[i]) * inv_tl;
            double *rw = row + m + mu * n;
            for (long j = 0; j < n; j++) {
                double dI = kh_dI_dw(wr[j], v[j], pp, p2, ip2);
                double dB = kh_dB_dw(wr[j], pp, p2, ip2);
                double da = w->aI[mu] * dI + w->aB[mu] * dB;
                double db = w->bI[mu] * dI + w->bB[mu] * dB;
                rw[j] = (da * v[i] - db * wr[i]) * inv_tl;
            }
            rw[i] -= w->b[mu] * inv_tl;
        }
    }
}

size_t kh_net_no_switches(const void *ws)
{
    (void)ws;
    return 0;
}
