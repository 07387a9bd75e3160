"""Causal dilated 1-D convolution (WaveNet): Numba drivers around single-threaded BLAS GEMMs.

Same functions and equations as ``kernels/reference/causal_conv1d.py`` (read that first).

In 1-D a shifted input is a plain sub-matrix, so there is no padding and no im2col: for
tap k with shift ``s_k = d*(K-1-k)`` and output columns ``[t0, t1)``::

    y[n][:, t0':t1]  += W_k (Cout, Cin) @ x[n][:, t0'-s_k : t1-s_k],   t0' = max(t0, s_k)

one GEMM per tap, reading x and writing y in place (leading dimension T).  The work is
cut into independent output blocks (sample n, a range of time columns) so even N=1
runs on every thread; the parallel driver gives each thread a contiguous run of blocks.
grad-input is the same with W_k^T and the shift reversed; grad-weight sums
``gy[:, t] x[:, t-s_k]^T`` over blocks into per-thread partial buffers, merged serially.
The GEMMs are ``_blas.gemm`` (NumPy's OpenBLAS, pinned to one thread while ours run).
"""

from typing import NamedTuple

import numpy as np
from numba import prange

from .. import config
from ..reference import causal_conv1d as ref
from ..reference.causal_conv1d import (check_backward, check_causal_args, check_forward,
                                        check_grad_input, check_grad_weight)
from ._blas import can_split, gemm, single_threaded
from ._lowering import fill_run, sum_run, zero_run
from ._numba import bias_or_empty, parallel_driver, share_docs, thread_bounds

__all__ = ["causal_conv1d_forward", "causal_conv1d_grad_input", "causal_conv1d_grad_weight",
           "causal_conv1d_backward"]

# Time columns per work block (read from kernels.config when the lead adds it there).
BLOCK_T = config.CAUSAL_CONV_BLOCK_T


class Plan(NamedTuple):
    """What the drivers need (read in Numba as ``p.T``): sizes, tap shifts, work blocks.

    Block ``blocks[i] = (n, t0, t1)`` is sample n, output columns [t0, t1); thread th
    owns blocks ``[bounds[th], bounds[th+1])``.
    """
    cin: int
    cout: int
    T: int
    shifts: np.ndarray        # s_k = d*(K-1-k)
    blocks: np.ndarray
    bounds: np.ndarray
    want_gx: bool
    want_gw: bool


def _plan(n, cin, cout, t, shifts, n_elements, want_gx=False, want_gw=False):
    """Cut the output into blocks of ``BLOCK_T`` columns and give each thread a run of them."""
    bt = max(1, min(BLOCK_T, t))
    nb = -(-t // bt)
    blocks = np.array([(i, j * bt, min(t, (j + 1) * bt)) for i in range(n) for j in range(nb)],
                      dtype=np.int64).reshape(-1, 3)
    bounds = thread_bounds(len(blocks), n_elements, can_split=can_split())
    return Plan(cin=cin, cout=cout, T=t, shifts=shifts.astype(np.int64), blocks=blocks,
                bounds=bounds, want_gx=want_gx, want_gw=want_gw)


# ---------------------------------------------------------------------------------------
# parallel drivers (inner kernels are the GEMMs themselves)
# ---------------------------------------------------------------------------------------

@parallel_driver
def _forward_driver(x, wt, b, y, p):
    """y[n, :, t0:t1] = b + sum_k W_k @ x[n, :, t0-s_k : t1-s_k]   (flat arrays; wt (K, Cout, Cin))."""
    cin, cout, T = p.cin, p.cout, p.T
    for th in prange(p.bounds.shape[0] - 1):
        for bi in range(p.bounds[th], p.bounds[th + 1]):
            n, t0, t1 = p.blocks[bi, 0], p.blocks[bi, 1], p.blocks[bi, 2]
            for o in range(cout):
                fill_run(y, (n * cout + o) * T + t0, b[o] if b.size else 0.0, t1 - t0)
            for k in range(p.shifts.shape[0]):
                s = p.shifts[k]
                ts = max(t0, s)
                if ts >= t1:
                    continue
                gemm(cout, t1 - ts, cin, wt, k * cout * cin, cin, x, (n * cin) * T + ts - s, T,
                     y, (n * cout) * T + ts, T, beta=1.0)


@parallel_driver
def _backward_driver(gy, x, wt, gx, gw_part, gb_part, p):
    """gx blocks (mirrored shifts) and per-thread partial gW (K, Cout, Cin) and gb (flat arrays)."""
    cin, cout, T = p.cin, p.cout, p.T
    K = p.shifts.shape[0]
    for th in prange(p.bounds.shape[0] - 1):
        gwp = gw_part[th]
        gbp = gb_part[th]
        gwp[:] = 0.0
        gbp[:] = 0.0
        for bi in range(p.bounds[th], p.bounds[th + 1]):
            n, t0, t1 = p.blocks[bi, 0], p.blocks[bi, 1], p.blocks[bi, 2]
            for o in range(cout):          # gb[o] += sum_t gy[n, o, t0:t1]
                gbp[o] += sum_run(gy, (n * cout + o) * T + t0, t1 - t0)
            if p.want_gw:
                # gW_k += gy[n, :, ts:t1] @ x[n, :, ts-s : t1-s]^T
                for k in range(K):
                    s = p.shifts[k]
                    ts = max(t0, s)
                    if ts >= t1:
                        continue
                    gemm(cout, cin, t1 - ts, gy, (n * cout) * T + ts, T, x, (n * cin) * T + ts - s, T,
                         gwp, k * cout * cin, cin, beta=1.0, tb=True)
            if p.want_gx:
                # gx[n, :, t0:te] = sum_k W_k^T @ gy[n, :, t0+s : te+s], te = min(t1, T-s)
                for c in range(cin):
                    zero_run(gx, (n * cin + c) * T + t0, t1 - t0)
                for k in range(K):
                    s = p.shifts[k]
                    te = min(t1, T - s)
                    if te <= t0:
                        continue
                    gemm(cin, te - t0, cout, wt, k * cout * cin, cin, gy, (n * cout) * T + t0 + s, T,
                         gx, (n * cin) * T + t0, T, beta=1.0, ta=True)


# ---------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------

def _tap_major(w):
    """(Cout, Cin, K) -> flat (K, Cout, Cin): W_k contiguous for the GEMMs."""
    return np.ascontiguousarray(w.transpose(2, 0, 1)).ravel()


def causal_conv1d_forward(x, w, b=None, dilation=1):
    shifts = check_forward(x, w, b, dilation)
    n, cin, t = x.shape
    cout = w.shape[0]
    x = np.ascontiguousarray(x)
    y = np.empty((n, cout, t), x.dtype)
    p = _plan(n, cin, cout, t, shifts, y.size)
    with single_threaded():  # our threads parallelise; BLAS stays on one in both builds
        _forward_driver(x.ravel(), _tap_major(w), bias_or_empty(b, x.dtype), y.ravel(), p,
                        threads=len(p.bounds) - 1)
    return y


def _backward(gy, x, w, x_shape, kernel_size, dilation, bias=False, want_gx=False, want_gw=False):
    dtype = gy.dtype
    n, cin, t = x_shape
    cout = gy.shape[1]
    shifts = check_causal_args(x_shape, (cout, cin, kernel_size), dilation)
    gy = np.ascontiguousarray(gy)
    x = np.ascontiguousarray(x) if x is not None else np.zeros((1, cin, 1), dtype)
    wt = _tap_major(w) if w is not None else np.zeros(1, dtype)
    gx = np.empty(x_shape, dtype) if want_gx else np.zeros((1, 1, 1), dtype)
    p = _plan(n, cin, cout, t, shifts, gy.size, want_gx=want_gx, want_gw=want_gw)
    nt = len(p.bounds) - 1
    gw_part = np.empty((nt, kernel_size * cout * cin), dtype)
    gb_part = np.empty((nt, cout), dtype)
    with single_threaded():
        _backward_driver(gy.ravel(), x.ravel(), wt, gx.ravel(), gw_part, gb_part, p, threads=nt)
    gw = None
    if want_gw:  # merge the per-thread partials, (K, Cout, Cin) -> (Cout, Cin, K)
        gw = np.ascontiguousarray(gw_part.sum(axis=0).reshape(kernel_size, cout, cin).transpose(1, 2, 0))
    gb = gb_part.sum(axis=0) if bias else None
    return (gx if want_gx else None), gw, gb


def causal_conv1d_grad_input(gy, w, dilation=1):
    n, _, t = check_grad_input(gy, w)
    gx, _, _ = _backward(gy, None, w, (n, w.shape[1], t), w.shape[2], dilation, want_gx=True)
    return gx


def causal_conv1d_grad_weight(x, gy, kernel_size, dilation=1, bias=False):
    check_grad_weight(x, gy)
    _, gw, gb = _backward(gy, x, None, x.shape, int(kernel_size), dilation, bias=bias, want_gw=True)
    return (gw, gb) if bias else gw


def causal_conv1d_backward(gy, x, w, dilation=1, bias=False, input_grad=True):
    check_backward(gy, x, w)
    return _backward(gy, x, w, x.shape, w.shape[2], dilation, bias=bias, want_gx=input_grad,
                     want_gw=True)


share_docs(globals(), ref)
