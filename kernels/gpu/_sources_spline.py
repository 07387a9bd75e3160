"""CUDA C sources of the rational-quadratic spline kernels (neural spline flows), as strings.

Merged into ``_sources.SOURCES`` (so the nvcc / NVRTC compile checks and the host
emulation of tests/kernels/gpu cover them). The equations are those of
``kernels/reference/spline.py``; the structure is that of ``kernels/cpu/spline.py``:
one thread per element (grid-stride loop over the M elements), which finds its bin
with a running softmax sum, evaluates eqs. (4)-(5) (or solves (6)-(8)) on scalars and,
in backward, runs the reverse sweep and writes its rows of the parameter gradients.
No reductions cross threads: no atomics, barriers or shared memory.

    rq_spline_fwd   out = g(v) (or g^-1(v) when inverse), ld = log|d out / d v| per element
    rq_spline_bwd   gv, gw, gh, gd of either direction

The device helpers sit behind an include guard so that each source compiles on its
own (NVRTC, as CuPy does) and all of them in one translation unit (nvcc).
Every literal is cast to ``real``: an unsuffixed ``1.0`` would make float32 kernels
compute in float64 (test_gpu_compile checks the PTX).
"""

HELPERS = r"""
#ifndef MINIGEN_RQ_SPLINE_HELPERS
#define MINIGEN_RQ_SPLINE_HELPERS
// softmax constants of one row of K unnormalised sizes: max and sum of exp(u - max)
__device__ void rq_norm(const real* u, int K, real* mx, real* sm)
{
    real m = u[0];
    for (int j = 1; j < K; ++j) m = u[j] > m ? u[j] : m;
    real s = (real)0;
    for (int j = 0; j < K; ++j) s += exp(u[j] - m);
    *mx = m; *sm = s;
}

// the bin of v (the last inner knot <= v) and its two knots, in one pass over the row
__device__ int rq_bin(const real* u, int K, real B, real mn, real v, real* lo, real* hi)
{
    real m, s;
    rq_norm(u, K, &m, &s);
    real c = (real)0, a = -B;
    for (int i = 0; i < K - 1; ++i) {
        c += mn + ((real)1 - mn * (real)K) * exp(u[i] - m) / s;
        real b = c * ((real)2 * B) - B;                  // knot i + 1
        if (v < b) { *lo = a; *hi = b; return i; }
        a = b;
    }
    *lo = a; *hi = B;
    return K - 1;
}

// knots k and k + 1 of a row whose bin is known (the ends exactly -B and B)
__device__ void rq_pair(const real* u, int K, real B, real mn, int k, real* lo, real* hi)
{
    real m, s;
    rq_norm(u, K, &m, &s);
    real c = (real)0;
    for (int j = 0; j < k; ++j) c += mn + ((real)1 - mn * (real)K) * exp(u[j] - m) / s;
    *lo = k == 0 ? -B : c * ((real)2 * B) - B;
    c += mn + ((real)1 - mn * (real)K) * exp(u[k] - m) / s;
    *hi = k == K - 1 ? B : c * ((real)2 * B) - B;
}

// delta_i: 1 at both ends, m_d + softplus(d~_{i-1}) inside
__device__ real rq_slope(const real* d, int K, int i, real md)
{
    if (i == 0 || i == K) return (real)1;
    real a = d[i - 1];
    return md + (a > (real)0 ? a : (real)0) + log1p(exp(-fabs(a)));
}

// eqs. (4)-(5): y, and log dy/dx in *L
__device__ real rq_eval(real x, const real* p, real* L)
{
    real xl = p[0], xr = p[1], yl = p[2], yr = p[3], dl = p[4], dr = p[5];
    real dx = xr - xl, dy = yr - yl, s = dy / dx, xi = (x - xl) / dx, q = xi * ((real)1 - xi);
    real den = s + (dl + dr - (real)2 * s) * q;
    real dnum = dr * xi * xi + (real)2 * s * q + dl * ((real)1 - xi) * ((real)1 - xi);
    *L = (real)2 * log(s) + log(dnum) - (real)2 * log(den);
    return yl + dy * (s * xi * xi + dl * q) / den;
}

// eqs. (6)-(8): x in the bin from y
__device__ real rq_solve(real y, const real* p)
{
    real xl = p[0], xr = p[1], yl = p[2], yr = p[3], dl = p[4], dr = p[5];
    real dx = xr - xl, dy = yr - yl, s = dy / dx, r = y - yl;
    real a = dy * (s - dl) + r * (dl + dr - (real)2 * s);
    real b = dy * dl - r * (dl + dr - (real)2 * s);
    real c = -s * r;
    real disc = b * b - (real)4 * a * c;
    return xl + (real)2 * c / (-b - sqrt(disc > (real)0 ? disc : (real)0)) * dx;
}

// the reverse sweep of rq_eval: g[0] = g_x, g[1..6] = adjoints of (xl, xr, yl, yr, dl, dr)
__device__ void rq_adjoint(real gy, real gl, real x, const real* p, real* g)
{
    real xl = p[0], xr = p[1], dl = p[4], dr = p[5];
    real dx = xr - xl, dy = p[3] - p[2], s = dy / dx, xi = (x - xl) / dx, q = xi * ((real)1 - xi);
    real num = dy * (s * xi * xi + dl * q);
    real den = s + (dl + dr - (real)2 * s) * q;
    real dnum = dr * xi * xi + (real)2 * s * q + dl * ((real)1 - xi) * ((real)1 - xi);
    real g_num = gy / den;
    real g_den = -gy * num / (den * den) - (real)2 * gl / den;
    real g_dnum = gl / dnum;
    real g_s = (real)2 * gl / s + g_dnum * (real)2 * q + g_den * ((real)1 - (real)2 * q) + g_num * dy * xi * xi;
    real g_dr = g_dnum * xi * xi + g_den * q;
    real g_dl = g_dnum * ((real)1 - xi) * ((real)1 - xi) + g_den * q + g_num * dy * q;
    real g_q = g_dnum * (real)2 * s + g_den * (dl + dr - (real)2 * s) + g_num * dy * dl;
    real g_xi = g_dnum * ((real)2 * dr * xi - (real)2 * dl * ((real)1 - xi)) + g_num * dy * (real)2 * s * xi
                + g_q * ((real)1 - (real)2 * xi);
    real g_dy = g_num * (s * xi * xi + dl * q) + g_s / dx;
    real g_dx = -g_xi * xi / dx - g_s * s / dx;
    g[0] = g_xi / dx; g[1] = -g_xi / dx - g_dx; g[2] = g_dx; g[3] = gy - g_dy; g[4] = g_dy;
    g[5] = g_dl; g[6] = g_dr;
}

// adjoints of knots k, k + 1 -> gradient of the unnormalised row u (through cumsum and softmax)
__device__ void rq_softmax_grad(const real* u, int K, real B, real mn, int k, real glo, real ghi, real* out)
{
    real m, s;
    rq_norm(u, K, &m, &s);
    real dot = (real)0;
    for (int j = 0; j < K; ++j) {
        real g = (real)0;
        if (j < k && k >= 1) g += glo;
        if (j < k + 1 && k + 1 <= K - 1) g += ghi;
        g *= (real)2 * B * ((real)1 - mn * (real)K);
        out[j] = g;
        dot += exp(u[j] - m) / s * g;
    }
    for (int j = 0; j < K; ++j) out[j] = exp(u[j] - m) / s * (out[j] - dot);
}

// the bin of v and p = (x_k, x_k+1, y_k, y_k+1, delta_k, delta_k+1): v on the x knots, or y's
__device__ int rq_local(const real* w, const real* h, const real* d, int K, real B, real mw, real mh,
                        real md, real v, int inverse, real* p)
{
    int k;
    if (inverse) { k = rq_bin(h, K, B, mh, v, &p[2], &p[3]); rq_pair(w, K, B, mw, k, &p[0], &p[1]); }
    else         { k = rq_bin(w, K, B, mw, v, &p[0], &p[1]); rq_pair(h, K, B, mh, k, &p[2], &p[3]); }
    p[4] = rq_slope(d, K, k, md);
    p[5] = rq_slope(d, K, k + 1, md);
    return k;
}
#endif
"""

RQ_SPLINE_FWD = HELPERS + r"""
extern "C" __global__ void rq_spline_fwd(const real* v, const real* w, const real* h, const real* d,
                                         real* out, real* ld, long long M, int K, real B, real mw,
                                         real mh, real md, int inverse)
{
    for (long long n = blockIdx.x * (long long)blockDim.x + threadIdx.x; n < M;
         n += (long long)blockDim.x * gridDim.x) {
        real t = v[n];
        if (t < -B || t >= B) { out[n] = t; ld[n] = (real)0; continue; }      // identity tails
        real p[6], L;
        rq_local(w + n * K, h + n * K, d + n * (K - 1), K, B, mw, mh, md, t, inverse, p);
        if (inverse) {
            real x = rq_solve(t, p);
            rq_eval(x, p, &L);
            out[n] = x; ld[n] = -L;
        } else {
            out[n] = rq_eval(t, p, &L);
            ld[n] = L;
        }
    }
}
"""

RQ_SPLINE_BWD = HELPERS + r"""
extern "C" __global__ void rq_spline_bwd(const real* g, const real* gl, const real* v, const real* w,
                                         const real* h, const real* d, real* gv, real* gw, real* gh,
                                         real* gd, long long M, int K, real B, real mw, real mh,
                                         real md, int inverse)
{
    for (long long n = blockIdx.x * (long long)blockDim.x + threadIdx.x; n < M;
         n += (long long)blockDim.x * gridDim.x) {
        real t = v[n];
        if (t < -B || t >= B) {                                               // identity tails
            gv[n] = g[n];
            for (int j = 0; j < K; ++j) { gw[n * K + j] = (real)0; gh[n * K + j] = (real)0; }
            for (int j = 0; j < K - 1; ++j) gd[n * (K - 1) + j] = (real)0;
            continue;
        }
        real p[6], r[7], L;
        int k = rq_local(w + n * K, h + n * K, d + n * (K - 1), K, B, mw, mh, md, t, inverse, p);
        if (inverse) {                                 // implicit function theorem
            real x = rq_solve(t, p);
            rq_eval(x, p, &L);
            rq_adjoint((real)0, (real)1, x, p, r);     // r[0] = dL/dx
            real u = (g[n] - gl[n] * r[0]) * exp(-L);
            rq_adjoint(-u, -gl[n], x, p, r);
            gv[n] = u;
        } else {
            rq_adjoint(g[n], gl[n], t, p, r);
            gv[n] = r[0];
        }
        rq_softmax_grad(w + n * K, K, B, mw, k, r[1], r[2], gw + n * K);
        rq_softmax_grad(h + n * K, K, B, mh, k, r[3], r[4], gh + n * K);
        for (int i = 1; i < K; ++i) {
            real gdelta = (i == k ? r[5] : (real)0) + (i == k + 1 ? r[6] : (real)0);
            gd[n * (K - 1) + i - 1] = gdelta / ((real)1 + exp(-d[n * (K - 1) + i - 1]));
        }
    }
}
"""

SPLINE_SOURCES = {"rq_spline_fwd": RQ_SPLINE_FWD, "rq_spline_bwd": RQ_SPLINE_BWD}
