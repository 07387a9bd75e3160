"""Masked conv2d over live taps (PixelCNN): Numba drivers around single-threaded BLAS GEMMs.

Same functions and equations as ``kernels/reference/masked_conv.py`` (read that first).

How it is computed (one image at a time, each Numba thread owning whole images)::

    pad:   xin[c, (i+PT)*Wp + (j+PL)] = x[n, c, i, j]   zero margins, row width Wp
    taps:  tap l reads xin at the flat offset off_l = (dy_l+PT)*Wp + (dx_l+PL), so the
           shifted image of tap l is the strided *view* xin[:, off_l : off_l + OH*Wp]
    GEMM:  out (Cout, OH*Wp) = sum_l W_l (Cout, Cin) @ view_l (Cin, OH*Wp)
           (the outputs in columns j >= OW of each row are garbage and never read)
    crop:  y[n, o, i, j] = out[o, i*Wp + j] + b[o]

so no im2col copy is made ("shift" mode: L GEMMs of depth Cin that accumulate).

    grad-input:  the same shifted GEMMs on the padded gy with mirrored taps and W_l^T
    grad-weight: the L views stacked into one (L*Cin, OH*Wp) matrix and ONE GEMM
                 gW += gy (Cout, OH*Wp; zero garbage columns) @ stack^T: the copy costs
                 less than L thin GEMMs of depth OH*Wp lose (measured 330 vs 390 us/image)
    grad-bias:   summed while gy is copied into its padded buffer (no extra pass)

The residual block ``y = x + conv(ReLU(x))`` (``relu_input``, ``residual``) costs no extra
pass over memory: the ReLU is applied while x is copied into its padded buffer, x is added
while the image's output is still in cache, and so are the backward's ``[x > 0]`` and ``+ gy``.

When Cin is small (a first layer: Cin = 1 or 3) GEMMs of depth Cin are too thin, and
"im2col" mode works on the exact output grid instead: the L views are gathered into
``cols`` (L*Cin + 1, OH*OW) whose last row is ones, so that one GEMM
``y[n] = [W | b] @ cols`` writes the output in place, bias included (no crop), and
``[gW | gb] += gy[n] @ cols^T`` reads gy in place (no copy; that product, with its long
depth OH*OW and its short sides, runs as 4x4 blocks of inner products in Numba, where
OpenBLAS took 1.8x longer: ``_add_row_products``); grad-input does one GEMM
``Z = W^T @ gy[n]`` (L*Cin rows) and shift-adds Z's rows (col2im).  Either way one
image's buffers stay in the core's L2 cache, which is what makes this faster than a
whole-batch im2col (docs/performance.md: the im2col copy was the overhead).  Per-thread
partial [gW | gb] buffers are summed serially after the parallel loop.

GEMMs call the BLAS that NumPy ships from inside Numba (``kernels/cpu/_blas.py``), with
BLAS pinned to one thread while the Numba threads run, so each core runs its own GEMMs.
Buffers come from a per-thread workspace cache, so repeated calls do not page-fault
fresh memory (docs/performance.md).
"""

from typing import NamedTuple

import numpy as np
from numba import prange

from .. import config
from ..reference import masked_conv as ref
from ..reference.masked_conv import check_backward, check_block, check_forward, check_grad_weight
from ..taps import center_index
from ._blas import can_split, gemm, single_threaded, workspace
from ._fastmath import zero_of
from ._lowering import add_run, copy_run
from ._numba import bias_or_empty, njit, parallel_driver, share_docs, thread_bounds

__all__ = ["masked_conv2d_forward", "masked_conv2d_grad_input", "masked_conv2d_grad_weight",
           "masked_conv2d_backward"]

# Knobs (read from kernels.config when the lead adds them there).
# Below this many input channels, gather the shifted views into one im2col matrix.
IM2COL_BELOW_CIN = config.MASKED_CONV_IM2COL_BELOW_CIN


# ---------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------

def _margins(ih, iw, oh, ow, dys, dxs):
    """Zero margins (top, left, bottom, right) so every tap of every output pixel is in-buffer."""
    pt = max(0, -int(dys.min()))
    pl = max(0, -int(dxs.min()))
    pb = max(0, int(dys.max()) + oh - ih)
    pr = max(0, int(dxs.max()) + ow - iw)
    return pt, pl, pb, pr


def _layout(ih, iw, oh, margins, dys, dxs, wp):
    """Flat offsets of the taps and the per-channel buffer length for row width ``wp``."""
    pt, pl, pb, _ = margins
    offs = ((dys + pt) * wp + (dxs + pl)).astype(np.int64)
    ld = (pt + ih + pb) * wp + wp + int(offs.max()) + 1  # generous tail: garbage reads stay inside
    return offs, ld


class Plan(NamedTuple):
    """Everything a driver needs for one problem (built by ``_plan``, read in Numba as ``p.wp``).

    The padded x holds channel c at ``[c*ld_x, (c+1)*ld_x)`` with margins (fwd_pt, fwd_pl)
    and row width wp, and tap l's shifted view starts at ``offs_x[l]``; the padded gy is
    laid out likewise for the mirrored taps (bwd_*, ld_g, offs_g).  Thread t owns images
    ``[bounds[t], bounds[t+1])``.
    """
    cin: int
    bounds: np.ndarray
    wp: int
    fwd_pt: int
    fwd_pl: int
    ld_x: int
    offs_x: np.ndarray
    bwd_pt: int
    bwd_pl: int
    ld_g: int
    offs_g: np.ndarray
    dys: np.ndarray
    dxs: np.ndarray
    im2col: bool              # small Cin: gather the views on the exact output grid
    want_gx: bool
    want_gw: bool
    relu: bool                # the taps read ReLU(x) (fused pre-activation)
    residual: bool            # y = x + conv(...), so gx gets + gy


class Scratch(NamedTuple):
    """Per-thread workspaces (T, ...): padded x, padded gy, gathered columns, GEMM output."""
    x: np.ndarray
    g: np.ndarray
    cols: np.ndarray
    out: np.ndarray


def _plan(x_shape, cout, taps, ph, pw, oh, ow, backward=False, want_gx=False, want_gw=False, relu=False,
          residual=False):
    """The ``Plan`` of one problem: margins, row width, tap offsets, threads."""
    n, cin, ih, iw = x_shape
    dys = (taps[:, 0] - ph).astype(np.int64)          # input row = i + dy
    dxs = (taps[:, 1] - pw).astype(np.int64)
    fwd_m = _margins(ih, iw, oh, ow, dys, dxs)
    wp = fwd_m[1] + iw + fwd_m[3]
    bwd_m, offs_g, ld_g = (0, 0, 0, 0), np.zeros(1, np.int64), 1
    if backward:  # gy padded for the mirrored taps; share one row width
        bwd_m = _margins(oh, ow, ih, iw, -dys, -dxs)
        wp = max(wp, bwd_m[1] + ow + bwd_m[3])
    wp = max(wp, ow, iw)
    offs_x, ld_x = _layout(ih, iw, oh, fwd_m, dys, dxs, wp)
    if backward:
        offs_g, ld_g = _layout(oh, ow, ih, bwd_m, -dys, -dxs, wp)
    bounds = thread_bounds(n, n * cout * oh * ow, can_split=can_split())   # whole images per thread
    return Plan(cin=cin, bounds=bounds, wp=wp, fwd_pt=fwd_m[0], fwd_pl=fwd_m[1], ld_x=ld_x,
                offs_x=offs_x, bwd_pt=bwd_m[0], bwd_pl=bwd_m[1], ld_g=ld_g, offs_g=offs_g,
                dys=dys, dxs=dxs, im2col=cin < IM2COL_BELOW_CIN, want_gx=want_gx, want_gw=want_gw,
                relu=relu, residual=residual)


# ---------------------------------------------------------------------------------------
# inner kernels (one image, one thread)
# ---------------------------------------------------------------------------------------

@njit
def _pad_into(src, buf, ld, pt, pl, wp, relu=False):
    """buf[c*ld + (i+pt)*wp + (j+pl)] = src[c, i, j] (ReLU(src) with ``relu``); margins stay zero."""
    C, H, W = src.shape
    zero = zero_of(buf)
    for c in range(C):
        base = c * ld + pt * wp + pl
        for i in range(H):
            row = src[c, i]
            o = np.uint64(base + i * wp)     # unsigned: see _lowering's run helpers
            if relu:
                for j in range(np.uint64(W)):
                    buf[o + j] = max(row[j], zero)
            else:
                copy_run(buf, o, row, 0, W)


@njit
def _pad_into_sum_strided(src, buf, ld, pt, pl, wp, sums, stride, offset):
    """``_pad_into`` that also adds channel c's total into ``sums[c*stride + offset]`` (gb)."""
    C, H, W = src.shape
    for c in range(C):
        base = c * ld + pt * wp + pl
        acc = zero_of(buf)
        for i in range(H):
            row = src[c, i]
            o = np.uint64(base + i * wp)
            for j in range(np.uint64(W)):
                v = row[j]
                buf[o + j] = v
                acc += v
        sums[c * stride + offset] += acc


@njit
def _gather_cols(xin, ld, offs, cin, wp, oh, ow, cols):
    """im2col on the exact output grid: cols[l*Cin + c, i*OW + j] = xin[c*ld + off_l + i*wp + j].

    The row after the last tap row (index L*Cin) is left alone: the caller fills it with
    ones once, so that the GEMM adds the bias (forward) or sums gy (bias gradient).
    """
    m = oh * ow
    for li in range(offs.shape[0]):
        for c in range(cin):
            src = c * ld + offs[li]
            dst = (li * cin + c) * m
            for i in range(oh):
                copy_run(cols, dst + i * ow, xin, src + i * wp, ow)


@njit
def _stack_views(xin, ld, offs, cin, m, cols):
    """cols[l*Cin + c, :m] = xin[c*ld + off_l : ... + m]: the L shifted views as one matrix."""
    for li in range(offs.shape[0]):
        for c in range(cin):
            copy_run(cols, (li * cin + c) * m, xin, c * ld + offs[li], m)


@njit
def _crop_into(out, wp, dst, b):
    """dst[o, i, j] = out[o*(OH*wp) + i*wp + j] (+ b[o]; b may be empty): drop the garbage columns."""
    C, H, W = dst.shape
    m = H * wp
    for o in range(C):
        bo = b[o] if b.size else 0.0
        for i in range(H):
            row = dst[o, i]
            base = np.uint64(o * m + i * wp)
            for j in range(np.uint64(W)):
                row[j] = out[base + j] + bo


@njit
def _col2im_exact(z, dys, dxs, cin, oh, ow, dst):
    """dst[c, r, s] = sum_l z[l*Cin + c, (r-dy_l)*OW + (s-dx_l)] over in-range output pixels.

    ``z = W^T @ gy`` holds, per tap, what each output pixel sends back to its input pixel.
    """
    C, H, W = dst.shape
    for c in range(C):
        for r in range(H):
            row = dst[c, r]
            for s in range(W):
                row[s] = 0.0
            for li in range(dys.shape[0]):
                i = r - dys[li]
                if i < 0 or i >= oh:
                    continue
                dx = dxs[li]
                s0 = max(0, dx)
                s1 = min(W, ow + dx)
                if s1 > s0:
                    add_run(row, s0, z, (li * cin + c) * (oh * ow) + i * ow - dx + s0, s1 - s0)


@njit
def _add_image(dst, src):
    """dst += src for one image (C, H, W): the residual, while dst is still in cache."""
    d, s = dst.reshape(dst.size), src.reshape(src.size)
    for q in range(d.size):
        d[q] += s[q]


@njit
def _add_row_products(m, n, k, a, ia, b, ib, c):
    """c[i*n + j] += sum_p a[ia + i*k + p] * b[ib + j*k + p]  (C += A @ B^T; A (m, k), B (n, k)).

    The small-Cin weight gradient: gy (Cout x pixels) against the gathered columns (taps x
    pixels), a GEMM with a long k and a short m and n, where OpenBLAS was measured at
    45 us per 28x28 image (64 x 784 by 25 x 784) and these 4 x 4 blocks of inner products,
    16 accumulators over one SIMD loop on p, at 25 us.
    """
    i = 0
    while i < m:
        r = min(4, m - i)              # rows of A in this block: 4, or the last 1-3
        a0 = a[ia + i * k:]
        a1 = a[ia + (i + min(1, r - 1)) * k:]   # blocks of fewer rows repeat their last row
        a2 = a[ia + (i + min(2, r - 1)) * k:]
        a3 = a[ia + (i + min(3, r - 1)) * k:]
        zero = zero_of(c)
        j = 0
        while j + 4 <= n:              # 4 x 4 blocks: 8 loads feed 16 multiply-adds
            b0, b1, b2, b3 = b[ib + j * k:], b[ib + (j + 1) * k:], b[ib + (j + 2) * k:], b[ib + (j + 3) * k:]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
            for p in range(k):
                x0, x1, x2, x3 = b0[p], b1[p], b2[p], b3[p]
                y0, y1, y2, y3 = a0[p], a1[p], a2[p], a3[p]
                s00, s01, s02, s03 = s00 + y0 * x0, s01 + y0 * x1, s02 + y0 * x2, s03 + y0 * x3
                s10, s11, s12, s13 = s10 + y1 * x0, s11 + y1 * x1, s12 + y1 * x2, s13 + y1 * x3
                s20, s21, s22, s23 = s20 + y2 * x0, s21 + y2 * x1, s22 + y2 * x2, s23 + y2 * x3
                s30, s31, s32, s33 = s30 + y3 * x0, s31 + y3 * x1, s32 + y3 * x2, s33 + y3 * x3
            block = ((s00, s01, s02, s03), (s10, s11, s12, s13), (s20, s21, s22, s23), (s30, s31, s32, s33))
            for u in range(r):
                for v in range(4):
                    c[(i + u) * n + j + v] += block[u][v]
            j += 4
        for jj in range(j, n):         # the last 1-3 columns (the bias's ones row): 4 x 1 blocks
            b0 = b[ib + jj * k:]
            s0 = s1 = s2 = s3 = zero
            for p in range(k):
                x0 = b0[p]
                s0, s1, s2, s3 = s0 + a0[p] * x0, s1 + a1[p] * x0, s2 + a2[p] * x0, s3 + a3[p] * x0
            col = (s0, s1, s2, s3)
            for u in range(r):
                c[(i + u) * n + jj] += col[u]
        i += 4


@njit
def _block_grad(gx, x, gy, relu, residual):
    """gx = [x > 0] * gx (relu) + gy (residual), in place, for one image."""
    g, xf, gf = gx.reshape(gx.size), x.reshape(x.size), gy.reshape(gy.size)
    zero = zero_of(g)
    if relu:
        for q in range(g.size):
            g[q] = g[q] if xf[q] > zero else zero
    if residual:
        for q in range(g.size):
            g[q] += gf[q]


# ---------------------------------------------------------------------------------------
# parallel drivers (prange over threads; each thread owns a block of images)
# ---------------------------------------------------------------------------------------

@parallel_driver
def _forward_driver(x, wt, b, y, p, ws):
    """y[n] = conv of x[n]; wt is (Cout, L*Cin + 1) flat, its last column the bias."""
    cin, oh, ow = p.cin, y.shape[2], y.shape[3]
    cout, wp, ld, offs = y.shape[1], p.wp, p.ld_x, p.offs_x
    L = offs.shape[0]
    K = L * cin
    kb = K + 1
    m = oh * wp
    ohw = oh * ow
    yf = y.reshape(y.size)
    for t in prange(p.bounds.shape[0] - 1):
        xin, cols, out = ws.x[t], ws.cols[t], ws.out[t]
        xin[:] = 0.0
        if p.im2col:
            cols[K * ohw:(K + 1) * ohw] = 1.0      # the bias row
        for n in range(p.bounds[t], p.bounds[t + 1]):
            _pad_into(x[n], xin, ld, p.fwd_pt, p.fwd_pl, wp, p.relu)
            if p.im2col:
                # y[n] (Cout, OH*OW) = [W | b] @ [cols; 1], straight into the output
                _gather_cols(xin, ld, offs, cin, wp, oh, ow, cols)
                gemm(cout, ohw, kb, wt, 0, kb, cols, 0, ohw, yf, n * cout * ohw, ohw)
            else:
                # out (Cout, OH*wp) = sum_l W_l @ view_l, then crop and add the bias
                for li in range(L):
                    gemm(cout, m, cin, wt, li * cin, kb, xin, offs[li], ld, out, 0, m,
                         beta=0.0 if li == 0 else 1.0)
                _crop_into(out, wp, y[n], b)
            if p.residual:
                _add_image(y[n], x[n])


@parallel_driver
def _backward_driver(gy, x, wt, gx, gw_part, p, ws):
    """Per-thread partial [gW | gb] (Cout, L*Cin + 1) and gx, image by image."""
    cout, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    cin, wp, ld_x, ld_g = p.cin, p.wp, p.ld_x, p.ld_g
    L = p.offs_x.shape[0]
    K = L * cin
    kb = K + 1
    ih = gx.shape[2]
    m = oh * wp            # forward output grid (padded width)
    mx = ih * wp           # input grid (grad-input output)
    ohw = oh * ow
    g0 = p.bwd_pt * wp + p.bwd_pl  # where gy[0, 0] sits in its padded buffer
    gyf = gy.reshape(gy.size)
    for t in prange(p.bounds.shape[0] - 1):
        xin, gin, cols, gxo, gwp = ws.x[t], ws.g[t], ws.cols[t], ws.out[t], gw_part[t]
        gwp[:] = 0.0
        if p.im2col:
            cols[K * ohw:(K + 1) * ohw] = 1.0
        else:
            gin[:] = 0.0
        if p.want_gw:
            xin[:] = 0.0
        for n in range(p.bounds[t], p.bounds[t + 1]):
            gn = n * cout * ohw
            if p.im2col:
                # small Cin: everything on the exact grid, gy read in place (no copy)
                if p.want_gw:
                    # [gW | gb] += gy[n] (Cout, OH*OW) @ [cols; 1]^T
                    _pad_into(x[n], xin, ld_x, p.fwd_pt, p.fwd_pl, wp, p.relu)
                    _gather_cols(xin, ld_x, p.offs_x, cin, wp, oh, ow, cols)
                    _add_row_products(cout, kb, ohw, gyf, gn, cols, 0, gwp)
                else:
                    for o in range(cout):  # gb alone
                        acc = zero_of(gyf)
                        for q in range(ohw):
                            acc += gyf[gn + o * ohw + q]
                        gwp[o * kb + K] += acc
                if p.want_gx:
                    # Z (L*Cin, OH*OW) = W^T @ gy[n], then shift-add Z's rows into gx[n]
                    gemm(K, ohw, cout, wt, 0, kb, gyf, gn, ohw, gxo, 0, ohw, ta=True)
                    _col2im_exact(gxo, p.dys, p.dxs, cin, oh, ow, gx[n])
                    if p.relu or p.residual:
                        _block_grad(gx[n], x[n], gy[n], p.relu, p.residual)
                continue
            # shift mode: gy copied into a zero-margin buffer (its bias sums on the way)
            _pad_into_sum_strided(gy[n], gin, ld_g, p.bwd_pt, p.bwd_pl, wp, gwp, kb, K)
            if p.want_gw:
                # gW (Cout, L*Cin) += gy (Cout, m; zero garbage columns) @ [view_0; ...; view_L-1]^T
                # one GEMM on the stacked views beats L thin ones (measured ~390 -> ~330 us/image)
                _pad_into(x[n], xin, ld_x, p.fwd_pt, p.fwd_pl, wp, p.relu)
                _stack_views(xin, ld_x, p.offs_x, cin, m, cols)
                gemm(cout, K, m, gin, g0, ld_g, cols, 0, m, gwp, 0, kb, beta=1.0, tb=True)
            if p.want_gx:
                # gx (Cin, mx) = sum_l W_l^T @ gy-view_l (mirrored taps)
                for li in range(L):
                    gemm(cin, mx, cout, wt, li * cin, kb, gin, p.offs_g[li], ld_g, gxo, 0, mx,
                         beta=0.0 if li == 0 else 1.0, ta=True)
                _crop_into(gxo, wp, gx[n], gwp[:0])
                if p.relu or p.residual:
                    _block_grad(gx[n], x[n], gy[n], p.relu, p.residual)


# ---------------------------------------------------------------------------------------
# wrappers: validate, plan, allocate, run
# ---------------------------------------------------------------------------------------

def _tap_matrix(w, taps, center_mask, b=None):
    """[W' at the live taps | b] as one flat (Cout, L*Cin + 1) matrix: column block l is W'_l."""
    cout, cin = w.shape[:2]
    L = len(taps)
    wt = np.zeros((cout, L * cin + 1), w.dtype)                 # (Cout, L*Cin + 1)
    wl = wt[:, :L * cin].reshape(cout, L, cin)                  # (Cout, L, Cin) view
    wl[...] = w[:, :, taps[:, 0], taps[:, 1]].transpose(0, 2, 1)
    if center_mask is not None:
        wl[:, center_index(taps, w.shape[2:]), :] *= np.asarray(center_mask, dtype=w.dtype)
    if b is not None:
        wt[:, -1] = b
    return wt.ravel()


def masked_conv2d_forward(x, w, taps, b=None, padding=None, center_mask=None, *, relu_input=False,
                          residual=False):
    taps, ph, pw, oh, ow = check_forward(x, w, taps, b, padding, center_mask)
    cout, cin = w.shape[:2]
    check_block(x.shape, (x.shape[0], cout, oh, ow), relu_input, residual)
    x = np.ascontiguousarray(x)
    p = _plan(x.shape, cout, taps, ph, pw, oh, ow, relu=relu_input, residual=residual)
    wt = _tap_matrix(w, taps, center_mask, b)
    y = np.empty((x.shape[0], cout, oh, ow), dtype=x.dtype)
    nt, K = len(p.bounds) - 1, len(taps) * cin
    ws = Scratch(x=workspace("mc_in", (nt, cin * p.ld_x), x.dtype),
                 g=workspace("mc_gin", (nt, 1), x.dtype),
                 cols=workspace("mc_cols", (nt, (K + 1) * oh * ow if p.im2col else 1), x.dtype),
                 out=workspace("mc_out", (nt, 1 if p.im2col else cout * oh * p.wp), x.dtype))
    # our threads share the images; BLAS runs on one thread in each (and in the serial build)
    with single_threaded():
        _forward_driver(x, wt, bias_or_empty(b, x.dtype), y, p, ws, threads=nt)
    return y


def masked_conv2d_backward(gy, x, w, taps, padding=None, center_mask=None, bias=False, input_grad=True, *,
                           relu_input=False, residual=False):
    if x is not None:
        check_block(x.shape, gy.shape, relu_input, residual)
    return _backward(gy, x, w.shape, w, taps, padding, center_mask, bias=bias, want_gx=input_grad,
                     want_gw=True, relu=relu_input, residual=residual)


def masked_conv2d_grad_input(gy, w, taps, x_shape, padding=None, center_mask=None):
    gx, _, _ = _backward(gy, None, w.shape, w, taps, padding, center_mask, want_gx=True,
                         x_shape=tuple(x_shape))
    return gx


def masked_conv2d_grad_weight(x, gy, taps, kernel_size, padding=None, center_mask=None, bias=False):
    check_grad_weight(x, gy)
    kh, kw = (int(k) for k in kernel_size)
    _, gw, gb = _backward(gy, x, (gy.shape[1], x.shape[1], kh, kw), None, taps, padding,
                          center_mask, bias=bias, want_gw=True)
    return (gw, gb) if bias else gw


def _backward(gy, x, w_shape, w, taps, padding, center_mask, bias=False, want_gx=False, want_gw=False,
              x_shape=None, relu=False, residual=False):
    x_shape, (taps, ph, pw, oh, ow) = check_backward(gy, x, w, w_shape, taps, padding, center_mask, x_shape)
    cout, cin, kh, kw = w_shape
    dtype = gy.dtype
    gy = np.ascontiguousarray(gy)
    x = np.ascontiguousarray(x) if x is not None else np.zeros((1, 1, 1, 1), dtype)
    p = _plan(x_shape, cout, taps, ph, pw, oh, ow, backward=True, want_gx=want_gx, want_gw=want_gw,
              relu=relu, residual=residual)
    wt = _tap_matrix(w, taps, center_mask) if w is not None else np.zeros(1, dtype)
    n, _, ih, iw = x_shape
    gx = np.empty(x_shape, dtype) if want_gx else np.empty((1, 1, ih, 1), dtype)
    nt, L, wp = len(p.bounds) - 1, len(taps), p.wp
    K = L * cin
    ws = Scratch(x=workspace("mc_in", (nt, cin * p.ld_x if want_gw else 1), dtype),
                 g=workspace("mc_gin", (nt, 1 if p.im2col else cout * p.ld_g), dtype),
                 cols=workspace("mc_cols", (nt, (K + 1) * oh * ow if p.im2col else
                                            (K * oh * wp if want_gw else 1)), dtype),
                 out=workspace("mc_out", (nt, (K * oh * ow if p.im2col else cin * ih * wp)
                                          if want_gx else 1), dtype))
    gw_part = np.empty((nt, cout * (K + 1)), dtype)
    with single_threaded():   # as in the forward
        _backward_driver(gy, x, wt, gx, gw_part, p, ws, threads=nt)
    part = gw_part.sum(axis=0).reshape(cout, K + 1)              # per-thread partials, merged serially
    gw = None
    if want_gw:
        gw = np.zeros((cout, cin, kh, kw), dtype)
        gw[:, :, taps[:, 0], taps[:, 1]] = part[:, :K].reshape(cout, L, cin).transpose(0, 2, 1)
        if center_mask is not None:
            gw[:, :, kh // 2, kw // 2] *= np.asarray(center_mask, dtype=dtype)
    gb = np.ascontiguousarray(part[:, K]) if bias else None
    return (gx if want_gx else None), gw, gb


share_docs(globals(), ref)
