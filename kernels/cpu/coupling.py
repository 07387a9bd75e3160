"""Affine coupling (RealNVP) as single fused passes in Numba.

Same functions and equations as ``kernels/reference/coupling.py`` (read that first).
Each call is one pass over memory: forward reads x, s_raw, t and writes y and the
per-sample log-det; backward reads gy, x, s_raw (and glogdet) and writes gx, gs_raw,
gt, recomputing exp(s) instead of storing it.  PyTorch eager does ~6 ops forward and
~8 backward, each a full memory pass plus dispatch (docs/performance.md).

exp and tanh are the vectorisable polynomials of ``_fastmath`` (``np.exp`` in ``@njit``
is a scalar libm call and 5x slower).  Arrays are viewed as ``(N, D)``; the optional
scale and mask are expanded to one sample ``(D,)``.  The parallel driver runs over
blocks of samples (rows), so each log-det is written by one thread; the scale
gradient is a reduction over rows and goes to per-thread partial rows ``(T, D)``,
summed serially afterwards.
"""

import numpy as np
from numba import prange

from ..reference import coupling as ref
from ..reference.coupling import _check_glogdet, check_coupling_args, sum_to_shape
from ._fastmath import fast_exp, fast_tanh, zero_of
from ._numba import njit, parallel_driver, share_docs, thread_bounds

__all__ = ["affine_coupling_forward", "affine_coupling_inverse", "affine_coupling_backward",
           "affine_coupling_inverse_backward"]


# ---------------------------------------------------------------------------------------
# inner kernels: one row (sample) each
# ---------------------------------------------------------------------------------------

@njit
def _forward_row(x, s_raw, t, sc, m, out):
    """One sample of the forward map (reference equations); returns its log-det.

    ``sc`` / ``m`` are arrays or None: Numba compiles one version per combination and
    prunes the dead branches, so the loop body is branch-free and vectorises.
    """
    acc = zero_of(out)   # in the data type: a float64 sum would halve the SIMD width
    for i in range(x.shape[0]):
        s = s_raw[i]
        if sc is not None:
            s = sc[i] * fast_tanh(s)
        y = x[i] * fast_exp(s) + t[i]
        if m is not None:
            y = m[i] * x[i] + (1 - m[i]) * y               # y = m*x + (1-m)*(x*e^s + t)
            s = (1 - m[i]) * s
        out[i] = y
        acc += s
    return acc


@njit
def _inverse_row(y, s_raw, t, sc, m, out):
    """One sample of the inverse map ``x = m*y + (1-m)*(y-t)*e^-s``; returns its log-det (-sum s)."""
    acc = zero_of(out)
    for i in range(y.shape[0]):
        s = s_raw[i]
        if sc is not None:
            s = sc[i] * fast_tanh(s)
        x = (y[i] - t[i]) * fast_exp(-s)
        if m is not None:
            x = m[i] * y[i] + (1 - m[i]) * x
            s = (1 - m[i]) * s
        out[i] = x
        acc += s
    return -acc


@njit
def _backward_row(g, gl, v, s_raw, t, sc, m, gv, gs_raw, gt, gsc):
    """One sample of the fused backward; adds gs*tanh(s_raw) into the partial row ``gsc``.

    forward  (t is None, v = x):  e = exp(s)
        gx = g*(m + (1-m)*e),  gt = (1-m)*g,     gs = (1-m)*(g*x*e + gl)
    inverse  (t given,   v = y):  e = exp(-s), x = (y-t)*e
        gy = g*(m + (1-m)*e),  gt = -(1-m)*g*e,  gs = -(1-m)*(g*x + gl)
    then gs_raw = gs*scale*(1 - tanh^2) with a scale.  None arguments prune branches.
    """
    for i in range(v.shape[0]):
        r = s_raw[i]
        th = r
        s = r
        if sc is not None:
            th = fast_tanh(r)
            s = sc[i] * th
        gi = g[i]
        if t is None:
            e = fast_exp(s)
            ge = gi * e
            gti = gi
            gsi = ge * v[i] + gl
        else:
            e = fast_exp(-s)
            ge = gi * e
            gti = -ge
            gsi = -(ge * (v[i] - t[i]) + gl)
        if m is not None:
            om = 1 - m[i]
            gv[i] = m[i] * gi + om * ge
            gti = om * gti
            gsi = om * gsi
        else:
            gv[i] = ge
        if gt is not None:           # None: the caller uses gy itself (forward, no mask)
            gt[i] = gti
        if sc is not None:
            gsc[i] += gsi * th
            gs_raw[i] = gsi * sc[i] * (1 - th * th)
        else:
            gs_raw[i] = gsi


# ---------------------------------------------------------------------------------------
# parallel drivers: blocks of rows
# ---------------------------------------------------------------------------------------

@parallel_driver
def _forward_driver(x, s_raw, t, sc, m, out, logdet, bounds):
    for b in prange(bounds.shape[0] - 1):
        for n in range(bounds[b], bounds[b + 1]):
            logdet[n] = _forward_row(x[n], s_raw[n], t[n], sc, m, out[n])


@parallel_driver
def _inverse_driver(y, s_raw, t, sc, m, out, logdet, bounds):
    for b in prange(bounds.shape[0] - 1):
        for n in range(bounds[b], bounds[b + 1]):
            logdet[n] = _inverse_row(y[n], s_raw[n], t[n], sc, m, out[n])


@parallel_driver
def _backward_driver(g, gl, v, s_raw, t, sc, m, gv, gs_raw, gt, gsc_part, bounds):
    for b in prange(bounds.shape[0] - 1):
        gsc = gsc_part[b]
        gsc[:] = 0.0
        for n in range(bounds[b], bounds[b + 1]):
            _backward_row(g[n], gl[n], v[n], s_raw[n], None if t is None else t[n], sc, m,
                          gv[n], gs_raw[n], None if gt is None else gt[n], gsc)


# ---------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------

def _rows(a):
    """View (N, ...) as contiguous (N, D)."""
    return np.ascontiguousarray(a).reshape(a.shape[0], -1)


def _per_sample(a, sample_shape, dtype):
    """Broadcast scale / mask to one flat sample (D,); None stays None."""
    if a is None:
        return None
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dtype), sample_shape)).ravel()


def _forward(v, s_raw, t, scale, mask, inverse):
    sc = _per_sample(scale, v.shape[1:], v.dtype)
    m = _per_sample(mask, v.shape[1:], v.dtype)
    v2, s2, t2 = _rows(v), _rows(s_raw), _rows(t)
    out = np.empty_like(v2)
    logdet = np.empty(v.shape[0], v.dtype)
    bounds = thread_bounds(len(v2), v2.size)
    driver = _inverse_driver if inverse else _forward_driver
    driver(v2, s2, t2, sc, m, out, logdet, bounds, threads=len(bounds) - 1)
    return out.reshape(v.shape), logdet


def affine_coupling_forward(x, s_raw, t, scale=None, mask=None):
    check_coupling_args(x, s_raw, t, scale, mask)
    return _forward(x, s_raw, t, scale, mask, inverse=False)


def affine_coupling_inverse(y, s_raw, t, scale=None, mask=None):
    check_coupling_args(y, s_raw, t, scale, mask, names=("y", "s_raw", "t"))
    return _forward(y, s_raw, t, scale, mask, inverse=True)


def _backward(g, glogdet, v, s_raw, t, scale, mask, inverse, need_gt=True):
    dtype = v.dtype
    sc = _per_sample(scale, v.shape[1:], dtype)
    m = _per_sample(mask, v.shape[1:], dtype)
    v2, s2 = _rows(v), _rows(s_raw)
    t2 = _rows(t) if inverse else None   # the forward direction's backward does not need t
    g2 = _rows(g) if g is not None else np.zeros_like(v2)
    gl = np.zeros(v.shape[0], dtype) if glogdet is None else np.ascontiguousarray(glogdet)
    gv, gs_raw = np.empty_like(v2), np.empty_like(v2)
    gt = np.empty_like(v2) if need_gt else None
    bounds = thread_bounds(len(v2), v2.size)
    gsc_part = np.empty((len(bounds) - 1, v2.shape[1] if sc is not None else 1), dtype)
    _backward_driver(g2, gl, v2, s2, t2, sc, m, gv, gs_raw, gt, gsc_part, bounds, threads=len(bounds) - 1)
    gscale = None
    if sc is not None:  # merge the per-thread partial rows, then sum onto scale's own shape
        gscale = sum_to_shape(gsc_part.sum(axis=0).reshape(v.shape[1:]), scale.shape)
    shape = v.shape
    return gv.reshape(shape), gs_raw.reshape(shape), None if gt is None else gt.reshape(shape), gscale


def affine_coupling_backward(gy, glogdet, x, s_raw, scale=None, mask=None, need_gt=True):
    check_coupling_args(x, s_raw, gy, scale, mask, names=("x", "s_raw", "gy"))
    _check_glogdet(glogdet, x.shape[0], x.dtype)
    return _backward(gy, glogdet, x, s_raw, None, scale, mask, inverse=False, need_gt=need_gt)


def affine_coupling_inverse_backward(gx, glogdet, y, s_raw, t, scale=None, mask=None):
    check_coupling_args(y, s_raw, t, scale, mask, names=("y", "s_raw", "t"))
    if gx is not None:
        check_coupling_args(y, gx, None, None, None, names=("y", "gx", "t"))
    _check_glogdet(glogdet, y.shape[0], y.dtype)
    return _backward(gx, glogdet, y, s_raw, t, scale, mask, inverse=True)


share_docs(globals(), ref)
