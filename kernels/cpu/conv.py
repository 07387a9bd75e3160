"""Convolution kernels for NumPy arrays: Numba-parallel im2col fused with per-thread GEMMs.

Same names and semantics as ``kernels/reference/conv.py`` (read that first: it holds the
equations).  Every convolution is lowered to matrix products (see ``_lowering.py``):

    forward      y[n] (Cout, P)  = W2 (Cout, K) @ cols(x[n]) (K, P)         K = C*KH*KW, P = OH*OW
    grad_input   dcols (K, P)    = W2^T @ gy[n],  then gx[n] = col2im(dcols)
    grad_weight  gW2 (Cout, K)  += gy[n] @ cols(x[n])^T      (summed over images)

The three layers of STYLE §8:

    wrapper (validate, make contiguous, allocate, plan)  conv2d_forward(...)
      -> driver: prange over threads, each owning a contiguous run of work
         units (blocks of images / pixels / channels)      _forward_driver(...)
        -> inner single-thread kernel over those units     _forward_units(...)

Drivers are built parallel and serial (``_numba.parallel_driver``); the sizes travel as
``g``, the reference's ``ConvGeometry`` named tuple (``g.KH``, ``g.OW``), into Numba.

What makes it fast (measured, see minigen/bench/kernels_conv.py):

* no big im2col buffer: each worker lowers one unit into its own L2-sized workspace and
  multiplies it at once with a single-threaded OpenBLAS GEMM (``_blas.gemm``; one GEMM
  per unit, written straight into the NCHW output with ``ldc = P``, so no layout
  transposes); BLAS is pinned to one thread around the whole parallel region
  (``_blas.single_threaded``), so the Numba and OpenBLAS thread pools never fight;
* the workspace is cached per Python thread (``_blas.workspace``), so no large buffer is
  page-faulted per call;
* 1x1 / stride-1 / unpadded convolutions skip im2col: the image is already the column
  matrix;
* tiny images (P < ``CONV_MIN_GEMM_COLS``) are batched several per GEMM;
* grad-weight accumulates into one (Cout, K) partial per thread (GEMM with beta=1),
  merged serially at the end, never into a shared accumulator;
* 3x3 stride-1 convolutions with 32+ channels go to Winograd F(2x2, 3x3) instead
  (``_winograd.py``: 2.25x fewer multiplications, 16 GEMMs in a transform domain, in
  cache-sized blocks of tiles; ``_use_winograd`` and kernels/config.py).

The transposed convolution is these same three kernels with roles swapped (its forward
is conv2d's grad-input, and so on).  Pooling and upsampling are re-exported from the
reference: they are single memory passes that NumPy already does at bandwidth, and
they are not on the profile of any model here (measured: see the note at the bottom).

Non-contiguous inputs are copied to C order once (never rejected).  When no CBLAS was found
(``_blas.HAS_BLAS`` False) the wrappers call the NumPy reference instead.
"""
from functools import lru_cache

import numba
import numpy as np
from numba import prange

from .. import config
from ..reference import conv as ref
from ..reference.conv import (  # noqa: F401  (re-exported, see the note at the bottom)
    avg_pool2d_forward, avg_pool2d_grad_input, conv2d_grad_bias, conv2d_output_shape,
    conv_transpose2d_output_shape, max_pool2d_forward, max_pool2d_grad_input, same_padding,
    upsample_nearest2d_forward, upsample_nearest2d_grad_input)
from ._blas import HAS_BLAS, can_split, gemm, single_threaded, workspace
from ._lowering import col2im, im2col, images_to_wide, pad_images, unpad_images, wide_to_images
from ._numba import bias_or_empty, njit, parallel_driver, split_range, use_parallel
from . import _winograd

__all__ = list(ref.__all__)

# Tuning knobs: their values and meaning live in kernels/config.py (one place for all knobs).
CONV_MIN_GEMM_COLS = config.CONV_MIN_GEMM_COLS
CONV_COLS_BYTES = config.CONV_COLS_BYTES
CONV_MACS_PER_ELEMENT = config.CONV_MACS_PER_ELEMENT
CONV_WIDE_MIN_CHANNELS = config.CONV_WIDE_MIN_CHANNELS
CONV_WIDE_MAX_WASTE = config.CONV_WIDE_MAX_WASTE
CONV_WINOGRAD_MIN_CHANNELS = config.CONV_WINOGRAD_MIN_CHANNELS


# ----------------------------------------------------------------------------------------
# Inner kernels: one thread, a run of work units [u0, u1).  units[u] = (n0, count, a0, a1):
# images n0 .. n0+count-1 and pixels [a0, a1) (forward, grad-weight) or input channels
# [a0, a1) (grad-input).  g is the ConvGeometry named tuple (g.KH, g.OW, ...); the GEMMs
# read and write flat views (xf = x.reshape(-1)) at element offsets.
# ----------------------------------------------------------------------------------------

@njit
def _is_direct(g):
    """A 1x1, stride-1, unpadded conv: x[n] (C, H*W) already is the column matrix."""
    return g.KH == 1 and g.KW == 1 and g.sh == 1 and g.sw == 1 and g.ph == 0 and g.pw == 0


@njit
def _lower(x, g, n0, cnt, p0, p1, ws):
    """The (K, cnt*(p1-p0)) column block of a unit as (flat array, offset, leading dimension).

    Pixels [p0, p1) are whole output rows (the planner cuts at row boundaries).
    """
    K, L, P = g.C * g.KH * g.KW, p1 - p0, g.OH * g.OW
    if cnt == 1 and _is_direct(g):
        return x.reshape(-1), n0 * g.C * P + p0, P
    cols = ws[:K * cnt * L]
    for j in range(cnt):
        im2col(x, n0 + j, g, p0 // g.OW, p1 // g.OW, cols.reshape((K, cnt * L)), j * L)
    return cols, 0, cnt * L


@njit
def _gather(gy, n0, cnt, p0, p1, out):
    """out[o, j*L + q] = gy[n0 + j, o, p0 + q]: several images side by side as one matrix."""
    L = p1 - p0
    for j in range(cnt):
        for o in range(gy.shape[1]):
            for q in range(L):
                out[o, j * L + q] = gy[n0 + j, o, p0 + q]


@njit
def _forward_units(x, w2, b, y, g, units, u0, u1, ws):
    """y[n][:, p0:p1] = W2 @ cols(x[n])[:, p0:p1] + b for each unit (y is (N, Cout, P))."""
    Cout, K, P = g.Cout, w2.shape[1], g.OH * g.OW
    wf, yf = w2.reshape(-1), y.reshape(-1)
    for u in range(u0, u1):
        n0, cnt, p0, p1 = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        L = p1 - p0
        cols, ic, ldc = _lower(x, g, n0, cnt, p0, p1, ws)
        if cnt == 1:   # straight into the NCHW output: rows of length P, columns p0..p1
            gemm(Cout, L, K, wf, 0, K, cols, ic, ldc, yf, n0 * Cout * P + p0, P)
            if b.size:
                for o in range(Cout):
                    y[n0, o, p0:p1] += b[o]
        else:          # several small images in one GEMM, then split them out
            out = ws[K * cnt * L:(K + Cout) * cnt * L]
            gemm(Cout, cnt * L, K, wf, 0, K, cols, ic, ldc, out, 0, cnt * L)
            out = out.reshape((Cout, cnt * L))
            for j in range(cnt):
                for o in range(Cout):
                    bo = b[o] if b.size else 0.0
                    for q in range(L):
                        y[n0 + j, o, p0 + q] = out[o, j * L + q] + bo


@njit
def _grad_weight_units(x, gy, gw2, g, units, u0, u1, ws):
    """gw2 (Cout, K) = sum over units of gy[n][:, p0:p1] @ cols(x[n])[:, p0:p1]^T (a partial)."""
    Cout, K, P = g.Cout, gw2.shape[1], g.OH * g.OW
    gyf, gwf = gy.reshape(-1), gw2.reshape(-1)
    gw2[:] = 0
    for u in range(u0, u1):
        n0, cnt, p0, p1 = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        L = p1 - p0
        cols, ic, ldc = _lower(x, g, n0, cnt, p0, p1, ws)
        if cnt == 1:
            gyb, ig, ldg = gyf, n0 * Cout * P + p0, P
        else:
            gyb, ig, ldg = ws[K * cnt * L:(K + Cout) * cnt * L], 0, cnt * L
            _gather(gy, n0, cnt, p0, p1, gyb.reshape((Cout, cnt * L)))
        # gw2[o, k] += sum_p gy[n, o, p] * cols[k, p]
        gemm(Cout, K, cnt * L, gyb, ig, ldg, cols, ic, ldc, gwf, 0, K, beta=1.0, tb=True)


@njit
def _grad_input_units(gy, w2, gx, g, units, u0, u1, ws):
    """gx[n, c0:c1] = col2im(W2[:, rows(c0:c1)]^T @ gy[n]) for each unit (gy is (N, Cout, P))."""
    C, Cout, KK, P = g.C, g.Cout, g.KH * g.KW, g.OH * g.OW
    K = C * KK
    gyf, wf, gxf = gy.reshape(-1), w2.reshape(-1), gx.reshape(-1)
    for u in range(u0, u1):
        n0, cnt, c0, c1 = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        rows = (c1 - c0) * KK
        if cnt == 1:
            gyb, ig, ldg = gyf, n0 * Cout * P, P
        else:
            gyb, ig, ldg = ws[K * cnt * P:(K + Cout) * cnt * P], 0, cnt * P
            _gather(gy, n0, cnt, 0, P, gyb.reshape((Cout, cnt * P)))
        # W2[:, rows] starts at column c0*KK of w2 and is read transposed
        if cnt == 1 and _is_direct(g):   # 1x1: the column matrix is the image itself
            gemm(rows, P, Cout, wf, c0 * KK, K, gyb, ig, ldg, gxf, (n0 * C + c0) * P, P, ta=True)
            continue
        dcols = ws[:rows * cnt * P]
        # dcols[k, p] = sum_o w2[o, k] * gy[n, o, p]
        gemm(rows, cnt * P, Cout, wf, c0 * KK, K, gyb, ig, ldg, dcols, 0, cnt * P, ta=True)
        for j in range(cnt):
            col2im(dcols.reshape((rows, cnt * P)), j * P, gx, n0 + j, c0, c1, g)


# ----------------------------------------------------------------------------------------
# Stride-1 inner kernels: KH*KW GEMMs on shifted views of a padded buffer (see
# _lowering.py, "shifted window").  units[u] = (n0, count, a0, a1): images n0..n0+count-1
# and output channels [a0, a1) (forward, grad-weight) or input channels (grad-input).
# wt is the weight as (KH*KW, Cout, C); every unit of a run has the same count.
# ----------------------------------------------------------------------------------------

@njit
def _wide_sizes(g, cnt):
    """(Wp, L = cnt*Hp*Wp, Nw = ((cnt-1)*Hp + OH)*Wp) of a batch of cnt padded images."""
    Hp, Wp = g.H + 2 * g.ph, g.W + 2 * g.pw
    return Wp, cnt * Hp * Wp, ((cnt - 1) * Hp + g.OH) * Wp


@njit
def _forward_wide_units(x, wt, b, y, g, units, u0, u1, ws):
    """y[n, o0:o1] = sum_taps wt[tap, o0:o1] @ shifted(xpad) (+ b) for each unit."""
    C, Cout, KH, KW, dh, dw = g.C, g.Cout, g.KH, g.KW, g.dh, g.dw
    wf = wt.reshape(-1)
    last = -1
    for u in range(u0, u1):
        n0, cnt, o0, o1 = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        Wp, L, Nw = _wide_sizes(g, cnt)
        xpad = ws[:C * L + (KW - 1) * dw + 1]
        if cnt != last:
            xpad[:] = 0                             # borders and slack stay zero
            last = cnt
        pad_images(x, n0, cnt, 0, C, g, xpad)
        wide = ws[xpad.size:xpad.size + (o1 - o0) * Nw]
        for kh in range(KH):
            for kw in range(KW):
                t = kh * KW + kw
                # wide[o, q] (+)= sum_c w[o, c, kh, kw] * xpad[c*L + kh*dh*Wp + kw*dw + q]
                gemm(o1 - o0, Nw, C, wf, (t * Cout + o0) * C, C, xpad, kh * dh * Wp + kw * dw, L,
                     wide, 0, Nw, beta=1.0 if t else 0.0)
        wide_to_images(wide.reshape((o1 - o0, Nw)), n0, cnt, o0, o1, g, y, b)


@njit
def _grad_input_wide_units(gy, wt, gx, g, units, u0, u1, ws):
    """gxpad[c0:c1] += wt[tap, :, c0:c1]^T @ gy_wide at each tap's offset; gx = its interior."""
    C, Cout, KH, KW, dh, dw = g.C, g.Cout, g.KH, g.KW, g.dh, g.dw
    wf = wt.reshape(-1)
    last = -1
    for u in range(u0, u1):
        n0, cnt, c0, c1 = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        Wp, L, Nw = _wide_sizes(g, cnt)
        gwide = ws[:Cout * Nw]
        if cnt != last:
            gwide[:] = 0                            # garbage entries stay zero
            last = cnt
        images_to_wide(gy, n0, cnt, 0, Cout, g, gwide.reshape((Cout, Nw)))
        gxpad = ws[gwide.size:gwide.size + (c1 - c0) * L + (KW - 1) * dw + 1]
        gxpad[:] = 0
        for kh in range(KH):
            for kw in range(KW):
                t = kh * KW + kw
                # gxpad[c*L + kh*dh*Wp + kw*dw + q] += sum_o w[o, c, kh, kw] * gy_wide[o, q]
                gemm(c1 - c0, Nw, Cout, wf, t * Cout * C + c0, C, gwide, 0, Nw,
                     gxpad, kh * dh * Wp + kw * dw, L, beta=1.0, ta=True)
        unpad_images(gxpad, n0, cnt, c0, c1, g, gx)


@njit
def _grad_weight_wide_units(x, gy, part, g, units, u0, u1, ws):
    """part[tap, o0:o1] (Cout, C) += gy_wide[o0:o1] @ shifted(xpad)^T for each unit."""
    C, Cout, KH, KW, dh, dw = g.C, g.Cout, g.KH, g.KW, g.dh, g.dw
    pf = part.reshape(-1)
    part[:] = 0
    last = -1
    for u in range(u0, u1):
        n0, cnt, o0, o1 = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        Wp, L, Nw = _wide_sizes(g, cnt)
        xpad = ws[:C * L + (KW - 1) * dw + 1]
        gwide = ws[xpad.size:xpad.size + (o1 - o0) * Nw]
        if cnt != last:
            xpad[:] = 0                             # borders, slack and garbage stay zero
            ws[xpad.size:xpad.size + Cout * Nw] = 0
            last = cnt
        pad_images(x, n0, cnt, 0, C, g, xpad)
        images_to_wide(gy, n0, cnt, o0, o1, g, gwide.reshape((o1 - o0, Nw)))
        for kh in range(KH):
            for kw in range(KW):
                t = kh * KW + kw
                # gw[o, c, kh, kw] += sum_q gy_wide[o, q] * xpad[c*L + kh*dh*Wp + kw*dw + q]
                gemm(o1 - o0, C, Nw, gwide, 0, Nw, xpad, kh * dh * Wp + kw * dw, L,
                     pf, (t * Cout + o0) * C, C, beta=1.0, tb=True)


# ----------------------------------------------------------------------------------------
# Drivers: thread t runs units [bounds[t], bounds[t+1]) with workspace ws[t]; each is built
# parallel and serial (``parallel_driver``), the serial build for a single run of units.
# ----------------------------------------------------------------------------------------

@parallel_driver
def _forward_driver(x, w2, b, y, g, units, bounds, ws):
    for t in prange(bounds.size - 1):
        _forward_units(x, w2, b, y, g, units, bounds[t], bounds[t + 1], ws[t])


@parallel_driver
def _grad_weight_driver(x, gy, partials, g, units, bounds, ws):
    for t in prange(bounds.size - 1):
        _grad_weight_units(x, gy, partials[t], g, units, bounds[t], bounds[t + 1], ws[t])


@parallel_driver
def _grad_input_driver(gy, w2, gx, g, units, bounds, ws):
    for t in prange(bounds.size - 1):
        _grad_input_units(gy, w2, gx, g, units, bounds[t], bounds[t + 1], ws[t])


@parallel_driver
def _forward_wide_driver(x, wt, b, y, g, units, bounds, ws):
    for t in prange(bounds.size - 1):
        _forward_wide_units(x, wt, b, y, g, units, bounds[t], bounds[t + 1], ws[t])


@parallel_driver
def _grad_weight_wide_driver(x, gy, partials, g, units, bounds, ws):
    for t in prange(bounds.size - 1):
        _grad_weight_wide_units(x, gy, partials[t], g, units, bounds[t], bounds[t + 1], ws[t])


@parallel_driver
def _grad_input_wide_driver(gy, wt, gx, g, units, bounds, ws):
    for t in prange(bounds.size - 1):
        _grad_input_wide_units(gy, wt, gx, g, units, bounds[t], bounds[t + 1], ws[t])


# ----------------------------------------------------------------------------------------
# Planning (pure Python, cached per geometry)
# ----------------------------------------------------------------------------------------

def _cdiv(a, b):
    return -(-a // b)


def _use_wide(g):
    """Stride 1 with enough channels for per-tap GEMMs, and not too much garbage: wide path."""
    if g.sh != 1 or g.sw != 1 or _is_direct(g):
        return False
    waste = (g.H + 2 * g.ph) * (g.W + 2 * g.pw) / (g.OH * g.OW)
    return min(g.C, g.Cout) >= CONV_WIDE_MIN_CHANNELS and waste <= CONV_WIDE_MAX_WASTE


def _use_winograd(g):
    """3x3 stride-1 with enough channels: Winograd F(2x2, 3x3) (config's numbers)."""
    return _winograd.usable(g) and min(g.C, g.Cout) >= CONV_WINOGRAD_MIN_CHANNELS


def _split(n_items, batch, n_threads, n_channels):
    """Units (n0, count, a0, a1): batches of images, channels split until all threads have work."""
    image_units = [(n, min(batch, n_items - n)) for n in range(0, n_items, batch)]
    groups = 1
    if len(image_units) < n_threads:
        groups = min(n_channels, _cdiv(n_threads, len(image_units)))
    return [(n, cnt, n_channels * i // groups, n_channels * (i + 1) // groups)
            for n, cnt in image_units for i in range(groups)]


@lru_cache(maxsize=256)
def _plan(g, kind, n_threads, itemsize):
    """Cut the work into units and assign contiguous runs of them to threads.

    Returns (wide?, units (U, 4) int64, bounds (T+1,) int64, workspace items per thread).
    """
    P, KK = g.OH * g.OW, g.KH * g.KW
    K = g.C * KK
    min_cols = max(1, CONV_MIN_GEMM_COLS)
    wide = _use_wide(g)
    if wide:   # units (n0, count, channel range); buffers: padded images + wide output
        Hp, Wp = g.H + 2 * g.ph, g.W + 2 * g.pw
        batch = 1
        if g.OH * Wp < min_cols:
            batch = max(1, min(_cdiv(min_cols - g.OH * Wp, Hp * Wp) + 1, _cdiv(g.N, n_threads)))
        units = _split(g.N, batch, n_threads, g.C if kind == "grad_input" else g.Cout)
        items = (g.C * batch * Hp * Wp + (g.KW - 1) * g.dw + 1
                 + g.Cout * ((batch - 1) * Hp + g.OH) * Wp)
    else:
        batch = 1 if P >= min_cols else max(1, min(_cdiv(min_cols, P), _cdiv(g.N, n_threads)))
        if kind == "grad_input":   # units (n0, count, input-channel range): own gx[n, c0:c1]
            units = _split(g.N, batch, n_threads, g.C)
            groups = max(1, _cdiv(K * batch * P * itemsize, CONV_COLS_BYTES))
            if groups > 1 and batch == 1:  # keep the column block L2-sized
                units = [(n, 1, g.C * i // groups, g.C * (i + 1) // groups)
                         for n in range(g.N) for i in range(min(groups, g.C))]
            cols = batch * P
        else:                      # units (n0, count, pixel range of whole output rows)
            tiles = 1
            if batch == 1:
                tiles = min(max(1, _cdiv(K * P * itemsize, CONV_COLS_BYTES)),
                            max(1, P // min_cols))
                if g.N * tiles < n_threads:
                    tiles = _cdiv(n_threads, g.N)
                tiles = min(tiles, g.OH)
            units = [(n, min(batch, g.N - n), g.OW * (g.OH * i // tiles),
                      g.OW * (g.OH * (i + 1) // tiles))
                     for n in range(0, g.N, batch) for i in range(tiles)]
            cols = batch * max(a1 - a0 for _, _, a0, a1 in units)
        items = (K + g.Cout) * cols
    units = np.array(units, dtype=np.int64)
    bounds = np.array(split_range(len(units), n_threads), dtype=np.int64)
    return wide, units, bounds, items


def _threads(g):
    """How many threads to use: 1 unless the multiply-adds pay for a parallel launch (and
    BLAS can be pinned to one thread inside ours)."""
    macs = g.N * g.Cout * g.OH * g.OW * g.C * g.KH * g.KW
    if can_split() and use_parallel(macs // CONV_MACS_PER_ELEMENT):
        return numba.get_num_threads()
    return 1


# ----------------------------------------------------------------------------------------
# The three conv2d lowerings on a resolved geometry (shared by conv and transposed conv)
# ----------------------------------------------------------------------------------------

def _tap_major(w, g):
    """The weight as (KH*KW, Cout, C): one contiguous (Cout, C) matrix per tap."""
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(g.KH * g.KW, g.Cout, g.C)


def _forward(x, w, b, g):
    """y (N, Cout, OH, OW) = conv2d(x, w) + b on a validated geometry ``g``."""
    if _use_winograd(g):
        return _winograd.forward(x, w, b, g)
    x = np.ascontiguousarray(x)
    b = bias_or_empty(b, x.dtype)
    y = np.empty((g.N, g.Cout, g.OH * g.OW), dtype=x.dtype)          # (N, Cout, P)
    nt = _threads(g)
    wide, units, bounds, items = _plan(g, "forward", nt, x.itemsize)
    ws = workspace("conv", (nt, items), x.dtype)
    if wide:
        driver, wmat = _forward_wide_driver, _tap_major(w, g)
    else:
        driver = _forward_driver
        wmat = np.ascontiguousarray(w).reshape(g.Cout, -1)          # (Cout, K)
    with single_threaded():   # our threads share the work; BLAS runs on one in each
        driver(x, wmat, b, y, g, units, bounds, ws, threads=bounds.size - 1)
    return y.reshape(g.N, g.Cout, g.OH, g.OW)


def _grad_input(gy, w, g):
    """gx (N, C, H, W) = conv2d's adjoint applied to gy on geometry ``g``."""
    if _use_winograd(g):
        return _winograd.grad_input(gy, w, g)
    gy = np.ascontiguousarray(gy).reshape(g.N, g.Cout, g.OH * g.OW)  # (N, Cout, P)
    gx = np.empty((g.N, g.C, g.H, g.W), dtype=gy.dtype)
    nt = _threads(g)
    wide, units, bounds, items = _plan(g, "grad_input", nt, gy.itemsize)
    ws = workspace("conv", (nt, items), gy.dtype)
    if wide:
        driver, wmat = _grad_input_wide_driver, _tap_major(w, g)
    else:
        driver = _grad_input_driver
        wmat = np.ascontiguousarray(w).reshape(g.Cout, -1)          # (Cout, K)
    with single_threaded():   # our threads share the work; BLAS runs on one in each
        driver(gy, wmat, gx, g, units, bounds, ws, threads=bounds.size - 1)
    return gx


def _grad_weight(x, gy, g):
    """gw (Cout, C, KH, KW) = sum_n gy[n] @ cols(x[n])^T on geometry ``g``."""
    if _use_winograd(g):
        return _winograd.grad_weight(x, gy, g)
    x = np.ascontiguousarray(x)
    gy = np.ascontiguousarray(gy).reshape(g.N, g.Cout, g.OH * g.OW)  # (N, Cout, P)
    nt = _threads(g)
    wide, units, bounds, items = _plan(g, "grad_weight", nt, x.itemsize)
    ws = workspace("conv", (nt, items), x.dtype)
    KK, K = g.KH * g.KW, g.C * g.KH * g.KW
    # per-thread partials from the workspace (a fresh buffer this size page-faults each call)
    if wide:   # partials per tap: (T, KH*KW, Cout, C)
        partials = workspace("conv_partials", (bounds.size - 1, KK, g.Cout, g.C), x.dtype)
        driver = _grad_weight_wide_driver
    else:      # partials as the GEMM sees them: (T, Cout, C*KH*KW)
        partials = workspace("conv_partials", (bounds.size - 1, g.Cout, K), x.dtype)
        driver = _grad_weight_driver
    with single_threaded():   # our threads share the work; BLAS runs on one in each
        driver(x, gy, partials, g, units, bounds, ws, threads=bounds.size - 1)
    gw = partials[0]
    for t in range(1, partials.shape[0]):   # serial merge of the per-thread partials
        gw += partials[t]
    if wide:   # (a transposed copy: never a view of the workspace)
        return np.ascontiguousarray(gw.reshape(g.KH, g.KW, g.Cout, g.C).transpose(2, 3, 0, 1))
    return gw.reshape(g.Cout, g.C, g.KH, g.KW).copy()


# ----------------------------------------------------------------------------------------
# Public wrappers: validate exactly like the reference, then lower
# ----------------------------------------------------------------------------------------

def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """See ``kernels.reference.conv.conv2d_forward``."""
    if not HAS_BLAS:
        return ref.conv2d_forward(x, w, b, stride, padding, dilation)
    g = ref.checked_geometry("conv2d_forward", dict(x=x, w=w), stride, padding, dilation, x.shape,
                             w.shape, bias=b)
    return _forward(x, w, b, g)


def conv2d_grad_input(gy, w, x_shape, stride=1, padding=0, dilation=1):
    """See ``kernels.reference.conv.conv2d_grad_input``."""
    if not HAS_BLAS:
        return ref.conv2d_grad_input(gy, w, x_shape, stride, padding, dilation)
    g = ref.checked_geometry("conv2d_grad_input", dict(gy=gy, w=w), stride, padding, dilation,
                             x_shape, w.shape, gy=gy)
    return _grad_input(gy, w, g)


def conv2d_grad_weight(x, gy, w_shape, stride=1, padding=0, dilation=1):
    """See ``kernels.reference.conv.conv2d_grad_weight``."""
    if not HAS_BLAS:
        return ref.conv2d_grad_weight(x, gy, w_shape, stride, padding, dilation)
    g = ref.checked_geometry("conv2d_grad_weight", dict(x=x, gy=gy), stride, padding, dilation,
                             x.shape, w_shape, gy=gy)
    return _grad_weight(x, gy, g)


# The transposed convolution: the conv2d lowerings with roles swapped.  Its geometry is
# that of the conv2d it is the adjoint of (y-sized images -> x-sized ones), so
#   forward     = conv2d grad_input(x)              (x plays gy)
#   grad_input  = conv2d forward(gy)                (gy plays x)
#   grad_weight = conv2d grad_weight(gy, x)         (gy plays x, x plays gy)

def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """See ``kernels.reference.conv.conv_transpose2d_forward``."""
    if not HAS_BLAS:
        return ref.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation)
    g = ref.checked_geometry("conv_transpose2d_forward", dict(x=x, w=w), stride, padding, dilation,
                             x.shape, w.shape, bias=b, output_padding=output_padding)
    y = _grad_input(x, w, g)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_grad_input(gy, w, x_shape, stride=1, padding=0, output_padding=0,
                                dilation=1):
    """See ``kernels.reference.conv.conv_transpose2d_grad_input``."""
    if not HAS_BLAS:
        return ref.conv_transpose2d_grad_input(gy, w, x_shape, stride, padding, output_padding,
                                               dilation)
    g = ref.checked_geometry("conv_transpose2d_grad_input", dict(gy=gy, w=w), stride, padding,
                             dilation, x_shape, w.shape, gy=gy, output_padding=output_padding)
    return _forward(gy, w, None, g)


def conv_transpose2d_grad_weight(x, gy, w_shape, stride=1, padding=0, output_padding=0,
                                 dilation=1):
    """See ``kernels.reference.conv.conv_transpose2d_grad_weight``."""
    if not HAS_BLAS:
        return ref.conv_transpose2d_grad_weight(x, gy, w_shape, stride, padding, output_padding,
                                                dilation)
    g = ref.checked_geometry("conv_transpose2d_grad_weight", dict(x=x, gy=gy), stride, padding,
                             dilation, x.shape, w_shape, gy=gy, output_padding=output_padding)
    return _grad_weight(gy, x, g)


# Note on pooling / upsampling / grad_bias (re-exported from the reference above): they
# are one or two memory passes (KH*KW strided adds / compares), which NumPy runs at
# memory bandwidth; a Numba version only pays off if a model's profile shows it.
