"""Softmax cross-entropy, forward and backward, each one pass over the logits, in Numba.

Same functions and equations as ``kernels/reference/cross_entropy.py`` (read that
first).  The logits are viewed as (A, K, B): A positions before the class axis, K
classes, B positions after it (B = 1 when the classes are last).  Two loop orders, so
the innermost loop always runs over contiguous memory and vectorises:

    B = 1 (classes last)   per row a: max, then sum of exp over the K contiguous classes;
                           backward: the row's K gradients
    B > 1 (e.g. NCHW)      per a: the same reductions done for all B positions at once,
                           k outer, b inner (running max and sum in two length-B buffers);
                           backward: k outer, b inner

exp is ``fast_exp`` (Cephes polynomial: ~2e-7 relative in float32, ~2e-16 in float64);
the one log per position is libm's.  Blocks of a run in parallel (``prange``) when the
logits are large enough (``use_parallel``); each position is written by one thread.
"""
import numpy as np
from numba import prange

from ..reference import cross_entropy as ref
from ..reference.cross_entropy import check_cross_entropy_args
from ._fastmath import fast_exp
from ._numba import njit, parallel_driver, share_docs, thread_bounds

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


@njit
def _forward_rows(z, t, loss, lse):
    """z (n, K) contiguous rows; loss[a] = logsumexp(z[a]) - z[a, t[a]]."""
    n, K = z.shape
    for a in range(n):
        row = z[a]
        m = row[0]
        for k in range(1, K):
            m = max(m, row[k])
        s = z.dtype.type(0)
        for k in range(K):
            s += fast_exp(row[k] - m)
        lz = m + np.log(s)
        lse[a] = lz
        loss[a] = lz - row[t[a]]


@njit
def _forward_planes(z, t, loss, lse):
    """z (n, K, B); the row reductions of ``_forward_rows`` for all B positions at once."""
    n, K, B = z.shape
    m = np.empty(B, z.dtype)
    s = np.empty(B, z.dtype)
    for a in range(n):
        za = z[a]
        for b in range(B):
            m[b] = za[0, b]
            s[b] = 0
        for k in range(1, K):
            for b in range(B):
                m[b] = max(m[b], za[k, b])
        for k in range(K):
            for b in range(B):
                s[b] += fast_exp(za[k, b] - m[b])
        for b in range(B):
            lz = m[b] + np.log(s[b])
            lse[a, b] = lz
            loss[a, b] = lz - za[t[a, b], b]


@njit
def _backward_rows(gy, z, t, lse, gz):
    """gz[a, k] = gy[a] * (exp(z[a, k] - lse[a]) - [k == t[a]]); z, gz (n, K) rows."""
    n, K = z.shape
    zero = z.dtype.type(0)
    one = z.dtype.type(1)
    for a in range(n):
        g, lz, ta = gy[a], lse[a], t[a]
        for k in range(K):
            gz[a, k] = g * (fast_exp(z[a, k] - lz) - (one if k == ta else zero))


@njit
def _backward_planes(gy, z, t, lse, gz):
    """gz[a, k, b] = gy[a, b] * (exp(z[a, k, b] - lse[a, b]) - [k == t[a, b]]); all (n, K, B)."""
    n, K, B = z.shape
    one = z.dtype.type(1)
    for a in range(n):
        for k in range(K):
            for b in range(B):
                hit = one if t[a, b] == k else z.dtype.type(0)
                gz[a, k, b] = gy[a, b] * (fast_exp(z[a, k, b] - lse[a, b]) - hit)


@parallel_driver
def _forward_rows_driver(z, t, loss, lse, bounds):
    for c in prange(bounds.shape[0] - 1):
        lo, hi = bounds[c], bounds[c + 1]
        _forward_rows(z[lo:hi], t[lo:hi], loss[lo:hi], lse[lo:hi])


@parallel_driver
def _forward_planes_driver(z, t, loss, lse, bounds):
    for c in prange(bounds.shape[0] - 1):
        lo, hi = bounds[c], bounds[c + 1]
        _forward_planes(z[lo:hi], t[lo:hi], loss[lo:hi], lse[lo:hi])


@parallel_driver
def _backward_rows_driver(gy, z, t, lse, gz, bounds):
    for c in prange(bounds.shape[0] - 1):
        lo, hi = bounds[c], bounds[c + 1]
        _backward_rows(gy[lo:hi], z[lo:hi], t[lo:hi], lse[lo:hi], gz[lo:hi])


@parallel_driver
def _backward_planes_driver(gy, z, t, lse, gz, bounds):
    for c in prange(bounds.shape[0] - 1):
        lo, hi = bounds[c], bounds[c + 1]
        _backward_planes(gy[lo:hi], z[lo:hi], t[lo:hi], lse[lo:hi], gz[lo:hi])


def _views(z, target, axis):
    """z as a contiguous (A, K, B) array and target as (A, B) int64."""
    A = int(np.prod(z.shape[:axis]))
    K = z.shape[axis]
    z3 = np.ascontiguousarray(z).reshape(A, K, -1)
    return z3, np.ascontiguousarray(target, dtype=np.int64).reshape(A, z3.shape[2])


def softmax_cross_entropy_forward(z, target, axis=1):
    axis = check_cross_entropy_args(z, target, axis)
    z3, t2 = _views(z, target, axis)
    loss = np.empty(t2.shape, z.dtype)
    lse = np.empty(t2.shape, z.dtype)
    bounds = thread_bounds(z3.shape[0], z3.size)
    if z3.shape[2] == 1:                          # classes last: contiguous rows
        _forward_rows_driver(z3[:, :, 0], t2[:, 0], loss[:, 0], lse[:, 0], bounds, threads=len(bounds) - 1)
    else:
        _forward_planes_driver(z3, t2, loss, lse, bounds, threads=len(bounds) - 1)
    return loss.reshape(target.shape), lse.reshape(target.shape)


def softmax_cross_entropy_backward(gy, z, target, lse, axis=1):
    axis = check_cross_entropy_args(z, target, axis, gy=gy, lse=lse)
    z3, t2 = _views(z, target, axis)
    gy2 = np.ascontiguousarray(gy).reshape(t2.shape)
    lse2 = np.ascontiguousarray(lse).reshape(t2.shape)
    gz = np.empty(z3.shape, z.dtype)
    bounds = thread_bounds(z3.shape[0], z3.size)
    if z3.shape[2] == 1:                          # classes last: contiguous rows
        _backward_rows_driver(gy2[:, 0], z3[:, :, 0], t2[:, 0], lse2[:, 0], gz[:, :, 0], bounds,
                              threads=len(bounds) - 1)
    else:
        _backward_planes_driver(gy2, z3, t2, lse2, gz, bounds, threads=len(bounds) - 1)
    return gz.reshape(z.shape)


share_docs(globals(), ref)
