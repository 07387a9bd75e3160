"""Rational-quadratic splines (neural spline flows) as fused Numba passes.

Same functions and equations as ``kernels/reference/spline.py`` (read that first). The
reference builds every knot of every element as (M, K+1) arrays, gathers the bin and
sweeps back through a dozen temporaries; here each element is one loop iteration that
finds its bin with a running sum of the softmax, evaluates eqs. (4)-(5) (or (6)-(8))
on scalars and, in backward, runs the reverse sweep and writes its rows of the
parameter gradients directly: one read of the inputs and one write of the outputs.

Scalar arithmetic is in float64 whatever the array dtype (an element is a few dozen
flops on scalars, nothing to vectorise), results are stored in the arrays' dtype.
Elements are independent, so the parallel driver splits them into blocks of rows.
"""
import math

import numpy as np
from numba import prange

from ..reference import spline as ref
from ..reference.spline import (MIN_DERIVATIVE, MIN_HEIGHT, MIN_WIDTH, check_spline_grad, check_spline_args)
from ._fastmath import fast_exp
from ._numba import njit, parallel_driver, share_docs, thread_bounds

__all__ = ["rq_spline_forward", "rq_spline_inverse", "rq_spline_backward", "rq_spline_inverse_backward"]


# ---------------------------------------------------------------------------------------
# one element
# ---------------------------------------------------------------------------------------

@njit
def _norm(u):
    """(max, sum of exp(u - max)) of one row: the softmax's constants."""
    m = u[0]
    for j in range(1, u.shape[0]):
        m = max(m, u[j])
    s = 0.0
    for j in range(u.shape[0]):
        s += fast_exp(u[j] - m)
    return m, s


@njit
def _bin_and_knots(u, B, mn, v):
    """One pass over a row: the bin k of v (the last knot <= v among the inner knots
    -B + 2B sum_{j<i} size_j, i = 1..K-1) and its knots k, k+1 (the ends exactly -B and B)."""
    K = u.shape[0]
    m, s = _norm(u)
    c, lo = 0.0, -B
    for i in range(K - 1):
        c += mn + (1 - mn * K) * fast_exp(u[i] - m) / s
        hi = c * (2 * B) - B                                   # knot i + 1
        if v < hi:
            return i, lo, hi
        lo = hi
    return K - 1, lo, B


@njit
def _knot_pair(u, B, mn, k):
    """Knots k and k+1 of a row whose bin is already known (the ends exactly -B and B)."""
    K = u.shape[0]
    m, s = _norm(u)
    c = 0.0
    for j in range(k):
        c += mn + (1 - mn * K) * fast_exp(u[j] - m) / s
    lo = -B if k == 0 else c * (2 * B) - B
    c += mn + (1 - mn * K) * fast_exp(u[k] - m) / s
    hi = B if k == K - 1 else c * (2 * B) - B
    return lo, hi


@njit
def _slope(d, i):
    """delta_i: 1 at i = 0 and i = K, m_d + softplus(d~_{i-1}) inside."""
    if i == 0 or i == d.shape[0] + 1:
        return 1.0
    a = d[i - 1]
    return MIN_DERIVATIVE + max(a, 0.0) + math.log1p(math.exp(-abs(a)))


@njit
def _local(w, h, d, B, v, by_y):
    """The bin of v (found on the x knots, or the y knots for the inverse) and its
    (k, x_k, x_{k+1}, y_k, y_{k+1}, delta_k, delta_{k+1})."""
    if by_y:
        k, yl, yr = _bin_and_knots(h, B, MIN_HEIGHT, v)
        xl, xr = _knot_pair(w, B, MIN_WIDTH, k)
    else:
        k, xl, xr = _bin_and_knots(w, B, MIN_WIDTH, v)
        yl, yr = _knot_pair(h, B, MIN_HEIGHT, k)
    return k, xl, xr, yl, yr, _slope(d, k), _slope(d, k + 1)


@njit
def _rq_bin(x, xl, xr, yl, yr, dl, dr):
    """Eqs. (4)-(5): (y, log dy/dx)."""
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    xi = (x - xl) / dx
    q = xi * (1 - xi)
    den = s + (dl + dr - 2 * s) * q
    dnum = dr * xi * xi + 2 * s * q + dl * (1 - xi) * (1 - xi)
    return yl + dy * (s * xi * xi + dl * q) / den, 2 * math.log(s) + math.log(dnum) - 2 * math.log(den)


@njit
def _solve(y, xl, xr, yl, yr, dl, dr):
    """Eqs. (6)-(8)."""
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    r = y - yl
    a = dy * (s - dl) + r * (dl + dr - 2 * s)
    b = dy * dl - r * (dl + dr - 2 * s)
    c = -s * r
    return xl + 2 * c / (-b - math.sqrt(max(b * b - 4 * a * c, 0.0))) * dx


@njit
def _rq_bin_backward(gy, gl, x, xl, xr, yl, yr, dl, dr):
    """The reference's reverse sweep, line for line."""
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    xi = (x - xl) / dx
    q = xi * (1 - xi)
    num = dy * (s * xi * xi + dl * q)
    den = s + (dl + dr - 2 * s) * q
    dnum = dr * xi * xi + 2 * s * q + dl * (1 - xi) * (1 - xi)
    g_num = gy / den
    g_den = -gy * num / (den * den) - 2 * gl / den
    g_dnum = gl / dnum
    g_s = 2 * gl / s + g_dnum * 2 * q + g_den * (1 - 2 * q) + g_num * dy * xi * xi
    g_dr = g_dnum * xi * xi + g_den * q
    g_dl = g_dnum * (1 - xi) * (1 - xi) + g_den * q + g_num * dy * q
    g_q = g_dnum * 2 * s + g_den * (dl + dr - 2 * s) + g_num * dy * dl
    g_xi = g_dnum * (2 * dr * xi - 2 * dl * (1 - xi)) + g_num * dy * 2 * s * xi + g_q * (1 - 2 * xi)
    g_dy = g_num * (s * xi * xi + dl * q) + g_s / dx
    g_dx = -g_xi * xi / dx - g_s * s / dx
    return g_xi / dx, -g_xi / dx - g_dx, g_dx, gy - g_dy, g_dy, g_dl, g_dr


@njit
def _through_softmax(u, B, mn, k, g_lo, g_hi, out):
    """Adjoints of knots k, k+1 -> gradient of the unnormalised row u (reference ``_param_grads``)."""
    K = u.shape[0]
    m, s = _norm(u)
    dot = 0.0
    for j in range(K):
        g = 0.0
        if j < k and k >= 1:
            g += g_lo
        if j < k + 1 and k + 1 <= K - 1:
            g += g_hi
        g *= 2 * B * (1 - mn * K)
        out[j] = g                                         # g_p, for now
        dot += fast_exp(u[j] - m) / s * g
    for j in range(K):
        out[j] = fast_exp(u[j] - m) / s * (out[j] - dot)


@njit
def _param_grads(w, h, d, B, k, g_xl, g_xr, g_yl, g_yr, g_dl, g_dr, gw, gh, gd):
    _through_softmax(w, B, MIN_WIDTH, k, g_xl, g_xr, gw)
    _through_softmax(h, B, MIN_HEIGHT, k, g_yl, g_yr, gh)
    for i in range(1, d.shape[0] + 1):
        g = (g_dl if i == k else 0.0) + (g_dr if i == k + 1 else 0.0)
        gd[i - 1] = g / (1 + math.exp(-d[i - 1]))


# ---------------------------------------------------------------------------------------
# drivers: blocks of elements
# ---------------------------------------------------------------------------------------

@parallel_driver
def _forward_driver(v, w, h, d, B, inverse, out, ld, bounds):
    for b in prange(bounds.shape[0] - 1):
        for n in range(bounds[b], bounds[b + 1]):
            t = float(v[n])
            if t < -B or t >= B:                           # identity tails
                out[n] = v[n]
                ld[n] = 0
                continue
            k, xl, xr, yl, yr, dl, dr = _local(w[n], h[n], d[n], B, t, inverse)
            if inverse:
                x = _solve(t, xl, xr, yl, yr, dl, dr)
                out[n] = x
                ld[n] = -_rq_bin(x, xl, xr, yl, yr, dl, dr)[1]
            else:
                y, L = _rq_bin(t, xl, xr, yl, yr, dl, dr)
                out[n] = y
                ld[n] = L


@parallel_driver
def _backward_driver(g, gl, v, w, h, d, B, inverse, gv, gw, gh, gd, bounds):
    for b in prange(bounds.shape[0] - 1):
        for n in range(bounds[b], bounds[b + 1]):
            t = float(v[n])
            if t < -B or t >= B:
                gv[n] = g[n]
                gw[n, :] = 0
                gh[n, :] = 0
                gd[n, :] = 0
                continue
            k, xl, xr, yl, yr, dl, dr = _local(w[n], h[n], d[n], B, t, inverse)
            if inverse:                                    # implicit function theorem
                x = _solve(t, xl, xr, yl, yr, dl, dr)
                L = _rq_bin(x, xl, xr, yl, yr, dl, dr)[1]
                dL_dx = _rq_bin_backward(0.0, 1.0, x, xl, xr, yl, yr, dl, dr)[0]
                u = (float(g[n]) - float(gl[n]) * dL_dx) * math.exp(-L)
                r = _rq_bin_backward(-u, -float(gl[n]), x, xl, xr, yl, yr, dl, dr)
                gv[n] = u
            else:
                r = _rq_bin_backward(float(g[n]), float(gl[n]), t, xl, xr, yl, yr, dl, dr)
                gv[n] = r[0]
            _param_grads(w[n], h[n], d[n], B, k, r[1], r[2], r[3], r[4], r[5], r[6], gw[n], gh[n], gd[n])


# ---------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------

def _flat(v, w, h, d):
    K = w.shape[-1]
    return (np.ascontiguousarray(v).reshape(-1), np.ascontiguousarray(w).reshape(-1, K),
            np.ascontiguousarray(h).reshape(-1, K), np.ascontiguousarray(d).reshape(-1, K - 1))


def _forward(v, w, h, d, bound, inverse):
    v1, w1, h1, d1 = _flat(v, w, h, d)
    out, ld = np.empty_like(v1), np.empty_like(v1)
    bounds = thread_bounds(len(v1), w1.size)
    _forward_driver(v1, w1, h1, d1, float(bound), inverse, out, ld, bounds, threads=len(bounds) - 1)
    return out.reshape(v.shape), ld.reshape(v.shape)


def _backward(g, gl, v, w, h, d, bound, inverse):
    v1, w1, h1, d1 = _flat(v, w, h, d)
    g1 = np.zeros_like(v1) if g is None else np.ascontiguousarray(g).reshape(-1)
    gl1 = np.zeros_like(v1) if gl is None else np.ascontiguousarray(gl).reshape(-1)
    gv, gw, gh, gd = np.empty_like(v1), np.empty_like(w1), np.empty_like(h1), np.empty_like(d1)
    bounds = thread_bounds(len(v1), w1.size)
    _backward_driver(g1, gl1, v1, w1, h1, d1, float(bound), inverse, gv, gw, gh, gd, bounds,
                     threads=len(bounds) - 1)
    return gv.reshape(v.shape), gw.reshape(w.shape), gh.reshape(h.shape), gd.reshape(d.shape)


def rq_spline_forward(x, widths, heights, derivatives, bound=3.0):
    check_spline_args(x, widths, heights, derivatives, bound)
    return _forward(x, widths, heights, derivatives, bound, inverse=False)


def rq_spline_inverse(y, widths, heights, derivatives, bound=3.0):
    check_spline_args(y, widths, heights, derivatives, bound, name="y")
    return _forward(y, widths, heights, derivatives, bound, inverse=True)


def rq_spline_backward(gy, glogdet, x, widths, heights, derivatives, bound=3.0):
    check_spline_args(x, widths, heights, derivatives, bound)
    check_spline_grad(gy, x, "gy")
    check_spline_grad(glogdet, x, "glogdet")
    return _backward(gy, glogdet, x, widths, heights, derivatives, bound, inverse=False)


def rq_spline_inverse_backward(gx, glogdet, y, widths, heights, derivatives, bound=3.0):
    check_spline_args(y, widths, heights, derivatives, bound, name="y")
    check_spline_grad(gx, y, "gx")
    check_spline_grad(glogdet, y, "glogdet")
    return _backward(gx, glogdet, y, widths, heights, derivatives, bound, inverse=True)


share_docs(globals(), ref)
