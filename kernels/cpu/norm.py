"""Group normalisation (+ affine, + optional SiLU) as single fused passes in Numba.

Same functions and equations as ``kernels/reference/norm.py`` (read that first).  The
input is viewed as rows (N*G, Cg, S): one row is one group of one example, and every
row is independent, so the parallel driver hands blocks of rows to threads.

    forward   per row: mean and variance (two passes over the row, float64 sums), then
              y = act(x * a_c + b_c) with a_c = gamma_c * rstd, b_c = beta_c - mean * a_c
    backward  per row: pass 1 writes gz (SiLU's derivative applied) into gx and sums
              gz and gz * x_hat per channel -- those sums are gbeta's and ggamma's (n, c)
              terms, and weighted by gamma they are the two row means of the
              standardisation's derivative; pass 2 turns gz into gx in place

The per-(n, c) sums go to an (N, C) array, each entry written by the one thread that
owns its row, and are summed over n afterwards: no shared accumulator, no atomics.
sigmoid is ``1 / (1 + fast_exp(-z))`` (vectorisable; exp's overflow to inf gives 0).
"""
import numpy as np
from numba import prange

from ..reference import norm as ref
from ..reference.norm import check_group_norm_args
from ._fastmath import fast_exp
from ._numba import njit, parallel_driver, share_docs, thread_bounds

__all__ = ["group_norm_forward", "group_norm_backward"]


# ---------------------------------------------------------------------------------------
# inner kernels: one row (n, g) of shape (Cg, S)
# ---------------------------------------------------------------------------------------

@njit
def _forward_row(x, gamma, beta, eps, silu, y):
    """Standardise one row x (Cg, S) into y; returns (mean, rstd)."""
    Cg, S = x.shape
    M = Cg * S
    acc = 0.0
    for c in range(Cg):
        for s in range(S):
            acc += x[c, s]
    mean = acc / M
    acc = 0.0
    for c in range(Cg):
        for s in range(S):
            d = x[c, s] - mean
            acc += d * d
    rstd = 1.0 / np.sqrt(acc / M + eps)
    one = x.dtype.type(1)
    for c in range(Cg):
        a = x.dtype.type(gamma[c] * rstd)                  # z = a * x + b = gamma * x_hat + beta
        b = x.dtype.type(beta[c] - mean * gamma[c] * rstd)
        if silu:
            for s in range(S):
                z = x[c, s] * a + b
                y[c, s] = z / (one + fast_exp(-z))           # z * sigmoid(z)
        else:
            for s in range(S):
                y[c, s] = x[c, s] * a + b
    return mean, rstd


@njit
def _backward_row(gy, x, gamma, beta, mean, rstd, silu, gx, ggamma_row, gbeta_row):
    """gx of one row, and its per-channel terms of ggamma and gbeta (reference equations)."""
    Cg, S = x.shape
    one = x.dtype.type(1)
    m = x.dtype.type(mean)
    r = x.dtype.type(rstd)
    a1 = 0.0    # sum gz * gamma          (M * mean_m(gxh))
    a2 = 0.0    # sum gz * gamma * x_hat  (M * mean_m(gxh * x_hat))
    for c in range(Cg):
        sg = x.dtype.type(0)
        sgx = x.dtype.type(0)
        for s in range(S):
            xh = (x[c, s] - m) * r
            g = gy[c, s]
            if silu:
                z = xh * gamma[c] + beta[c]
                sig = one / (one + fast_exp(-z))
                g = g * sig * (one + z * (one - sig))
            gx[c, s] = g
            sg += g
            sgx += g * xh
        gbeta_row[c] = sg
        ggamma_row[c] = sgx
        a1 += sg * gamma[c]
        a2 += sgx * gamma[c]
    M = Cg * S
    m1 = x.dtype.type(a1 / M)
    m2 = x.dtype.type(a2 / M)
    for c in range(Cg):
        for s in range(S):
            xh = (x[c, s] - m) * r
            gx[c, s] = r * (gx[c, s] * gamma[c] - m1 - xh * m2)


# ---------------------------------------------------------------------------------------
# drivers: blocks of rows; rows are (n, g), x4 is (N, G, Cg, S), gamma4 (G, Cg)
# ---------------------------------------------------------------------------------------

@parallel_driver
def _forward_driver(x4, gamma4, beta4, eps, silu, y4, mean, rstd, bounds):
    G = x4.shape[1]
    for b in prange(bounds.shape[0] - 1):
        for row in range(bounds[b], bounds[b + 1]):
            n, g = row // G, row % G
            mean[n, g], rstd[n, g] = _forward_row(x4[n, g], gamma4[g], beta4[g], eps, silu, y4[n, g])


@parallel_driver
def _backward_driver(gy4, x4, gamma4, beta4, mean, rstd, silu, gx4, ggamma_nc, gbeta_nc, bounds):
    G = x4.shape[1]
    for b in prange(bounds.shape[0] - 1):
        for row in range(bounds[b], bounds[b + 1]):
            n, g = row // G, row % G
            _backward_row(gy4[n, g], x4[n, g], gamma4[g], beta4[g], mean[n, g], rstd[n, g], silu,
                          gx4[n, g], ggamma_nc[n, g], gbeta_nc[n, g])


# ---------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------

def _views(x, gamma, beta, G):
    N, C = x.shape[:2]
    x4 = np.ascontiguousarray(x).reshape(N, G, C // G, -1)
    return x4, np.ascontiguousarray(gamma).reshape(G, C // G), np.ascontiguousarray(beta).reshape(G, C // G)


def group_norm_forward(x, gamma, beta, num_groups, eps=1e-5, act=None):
    check_group_norm_args(x, gamma, beta, num_groups, act)
    x4, g4, b4 = _views(x, gamma, beta, num_groups)
    y4 = np.empty_like(x4)
    mean = np.empty(x4.shape[:2], x.dtype)
    rstd = np.empty(x4.shape[:2], x.dtype)
    bounds = thread_bounds(x4.shape[0] * x4.shape[1], x4.size)   # rows (n, g)
    _forward_driver(x4, g4, b4, float(eps), act == "silu", y4, mean, rstd, bounds,
                    threads=len(bounds) - 1)
    return y4.reshape(x.shape), mean, rstd


def group_norm_backward(gy, x, gamma, beta, mean, rstd, num_groups, act=None):
    check_group_norm_args(x, gamma, beta, num_groups, act, gy=gy)
    x4, g4, b4 = _views(x, gamma, beta, num_groups)
    gy4 = np.ascontiguousarray(gy).reshape(x4.shape)
    gx4 = np.empty_like(x4)
    ggamma_nc = np.empty(x4.shape[:3], x.dtype)           # (N, G, Cg): summed over n below
    gbeta_nc = np.empty(x4.shape[:3], x.dtype)
    bounds = thread_bounds(x4.shape[0] * x4.shape[1], x4.size)   # rows (n, g)
    _backward_driver(gy4, x4, g4, b4, np.ascontiguousarray(mean), np.ascontiguousarray(rstd),
                     act == "silu", gx4, ggamma_nc, gbeta_nc, bounds, threads=len(bounds) - 1)
    C = x.shape[1]
    return gx4.reshape(x.shape), ggamma_nc.sum(axis=0).reshape(C), gbeta_nc.sum(axis=0).reshape(C)


share_docs(globals(), ref)
