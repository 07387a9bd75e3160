"""The convolution lowering: im2col / col2im and the "shifted window" copies that feed GEMMs.

A convolution is a matrix product once its input patches are laid out as columns
(Chainer's ``im2col_cpu``).  For one image ``n`` and output pixels ``p = i*OW + j``:

    cols[(c*KH + kh)*KW + kw, p] = xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]      (im2col)
    y[n] (Cout, P)               = w.reshape(Cout, K) @ cols (K, P),  K = C*KH*KW

``col2im`` is the adjoint: it scatter-adds the columns back into the image.  The GEMMs
themselves are ``kernels/cpu/_blas.py``'s, called by ``conv.py`` on these buffers.

Every kernel here works on one image (or a block of images) in one thread, reading the
sizes from ``g``, the ``ConvGeometry`` named tuple of ``kernels/reference/conv.py``
(``g.KH``, ``g.sh``, ...), which Numba receives as a tuple of integers.
"""
import numpy as np

from ._numba import njit


@njit
def _valid_range(lo, hi, off, step, size):
    """The sub-range of ``j`` in [lo, hi) with ``0 <= j*step + off < size`` (may be empty)."""
    a = lo
    if off < 0:
        a = max(lo, (-off + step - 1) // step)      # first j with j*step + off >= 0
    a = min(a, hi)
    if size - 1 - off < 0:
        return a, a
    b = min(hi, (size - 1 - off) // step + 1)      # one past the last j with j*step + off < size
    return a, max(a, b)


# Run helpers on flat arrays.  The indices are uint64: Numba adds a negative-index
# wraparound test to signed indices, which keeps LLVM from vectorising these loops
# (measured 0.22 -> 0.11 ns per copied float).

@njit
def copy_run(dst, d0, src, s0, length):
    """dst[d0 : d0 + length] = src[s0 : s0 + length]"""
    d, s = np.uint64(d0), np.uint64(s0)
    for t in range(np.uint64(length)):
        dst[d + t] = src[s + t]


@njit
def add_run(dst, d0, src, s0, length):
    """dst[d0 : d0 + length] += src[s0 : s0 + length]"""
    d, s = np.uint64(d0), np.uint64(s0)
    for t in range(np.uint64(length)):
        dst[d + t] += src[s + t]


@njit
def zero_run(dst, d0, length):
    """dst[d0 : d0 + length] = 0"""
    d, zero = np.uint64(d0), dst.dtype.type(0)
    for t in range(np.uint64(length)):
        dst[d + t] = zero


@njit
def fill_run(dst, d0, value, length):
    """dst[d0 : d0 + length] = value"""
    d, v = np.uint64(d0), dst.dtype.type(value)
    for t in range(np.uint64(length)):
        dst[d + t] = v


@njit
def shift_run(dst, d0, value, length):
    """dst[d0 : d0 + length] += value"""
    d, v = np.uint64(d0), dst.dtype.type(value)
    for t in range(np.uint64(length)):
        dst[d + t] += v


@njit
def sum_run(src, s0, length):
    """sum(src[s0 : s0 + length]), accumulated in src's dtype"""
    s, acc = np.uint64(s0), src.dtype.type(0)
    for t in range(np.uint64(length)):
        acc += src[s + t]
    return acc


@njit
def _zero_columns(dst, first, rows, row_len, j0, j1):
    """dst[first + i*row_len + j] = 0 for i < rows, j0 <= j < j1 (the padding columns)."""
    zero = dst.dtype.type(0)
    for j in range(j0, j1):
        for i in range(rows):
            dst[first + i * row_len + j] = zero


@njit
def im2col(x, n, g, i0, i1, cols, col0):
    """Lower output rows [i0, i1) of image n into ``cols[:, col0 : col0 + (i1 - i0)*OW]``.

    cols[(c*KH + kh)*KW + kw, col0 + (i - i0)*OW + j] = xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]
    (padding positions are written as zeros).  ``x`` (N, C, H, W) and ``cols`` (K, ld) are
    C-contiguous; the loops index them as flat vectors so that the copies vectorise.
    """
    C, H, W, KH, KW, OW = g.C, g.H, g.W, g.KH, g.KW, g.OW
    sh, sw, ph, pw, dh, dw = g.sh, g.sw, g.ph, g.pw, g.dh, g.dw
    xf, cf, ld = x.reshape(-1), cols.reshape(-1), cols.shape[1]
    # With stride 1 and OW == W, output rows i and i+1 read input rows ih and ih+1 at
    # the same column offset: the whole valid block is ONE contiguous copy, followed by
    # re-zeroing the few padding columns at each row's ends.
    one_run = sh == 1 and sw == 1 and OW == W
    for c in range(C):
        plane = (n * C + c) * H * W                                # x[n, c] in xf
        for kh in range(KH):
            ih_off = kh * dh - ph
            ia, ib = _valid_range(i0, i1, ih_off, sh, H)           # rows with 0 <= ih < H
            for kw in range(KW):
                iw_off = kw * dw - pw
                a, b = _valid_range(0, OW, iw_off, sw, W)          # cols with 0 <= iw < W
                dst = ((c * KH + kh) * KW + kw) * ld + col0 - i0 * OW   # cf[dst + i*OW + j]
                zero_run(cf, dst + i0 * OW, (ia - i0) * OW)      # rows above the image
                zero_run(cf, dst + ib * OW, (i1 - ib) * OW)      # rows below it
                if ib <= ia:
                    continue
                if one_run:
                    # cf[dst + i*OW + j] = xf[plane + (i + ih_off)*W + j + iw_off], rows ia..ib-1
                    copy_run(cf, dst + ia * OW + a, xf, plane + (ia + ih_off) * W + a + iw_off,
                              (ib - 1 - ia) * OW + b - a)
                    _zero_columns(cf, dst + ia * OW, ib - ia, OW, 0, a)
                    _zero_columns(cf, dst + ia * OW, ib - ia, OW, b, OW)
                    continue
                _zero_columns(cf, dst + ia * OW, ib - ia, OW, 0, a)
                _zero_columns(cf, dst + ia * OW, ib - ia, OW, b, OW)
                for i in range(ia, ib):
                    r = dst + i * OW
                    src = plane + (i * sh + ih_off) * W + iw_off   # xf[src + j*sw] = pixel (i, j)
                    if sw == 1:
                        copy_run(cf, r + a, xf, src + a, b - a)
                    else:
                        for j in range(a, b):
                            cf[r + j] = xf[src + j * sw]


@njit
def col2im(dcols, col0, gx, n, c0, c1, g):
    """Scatter-add columns into channels [c0, c1) of image n of ``gx`` (which it zeroes first).

    gx[n, c, i*sh + kh*dh - ph, j*sw + kw*dw - pw] += dcols[((c-c0)*KH + kh)*KW + kw, col0 + i*OW + j]

    ``dcols`` is scratch: its entries that fall on padding are overwritten with zeros
    (so that the stride-1 case can add each tap's block as one contiguous run).
    """
    C, H, W, KH, KW, OH, OW = g.C, g.H, g.W, g.KH, g.KW, g.OH, g.OW
    sh, sw, ph, pw, dh, dw = g.sh, g.sw, g.ph, g.pw, g.dh, g.dw
    gf, df, ld = gx.reshape(-1), dcols.reshape(-1), dcols.shape[1]
    one_run = sh == 1 and sw == 1 and OW == W
    for c in range(c0, c1):
        plane = (n * C + c) * H * W                                # gx[n, c] in gf
        zero_run(gf, plane, H * W)
        for kh in range(KH):
            ih_off = kh * dh - ph
            ia, ib = _valid_range(0, OH, ih_off, sh, H)
            if ib <= ia:
                continue
            for kw in range(KW):
                iw_off = kw * dw - pw
                a, b = _valid_range(0, OW, iw_off, sw, W)
                src = (((c - c0) * KH + kh) * KW + kw) * ld + col0  # df[src + i*OW + j]
                if one_run:
                    # padding entries must add nothing: zero them, then add one run
                    _zero_columns(df, src + ia * OW, ib - ia, OW, 0, a)
                    _zero_columns(df, src + ia * OW, ib - ia, OW, b, OW)
                    # gf[plane + (i + ih_off)*W + j + iw_off] += df[src + i*OW + j]
                    add_run(gf, plane + (ia + ih_off) * W + a + iw_off, df, src + ia * OW + a,
                             (ib - 1 - ia) * OW + b - a)
                    continue
                for i in range(ia, ib):
                    dst = plane + (i * sh + ih_off) * W + iw_off   # gf[dst + j*sw] = pixel (i, j)
                    r = src + i * OW
                    if sw == 1:
                        add_run(gf, dst + a, df, r + a, b - a)
                    else:
                        for j in range(a, b):
                            gf[dst + j * sw] += df[r + j]


# ----------------------------------------------------------------------------------------
# The "shifted window" lowering for stride-1 convolutions (no im2col at all).
#
# Lay B padded images of one channel one under the other in a flat buffer:
#     xpad[c*L + (b*Hp + r)*Wp + s] = xpad_b[c, r, s],     L = B*Hp*Wp
# Read at offset kh*dh*Wp + kw*dw with row stride L, this buffer IS tap (kh, kw)'s
# (C, Nw) column matrix on a grid of Wp-wide output rows:
#     column q = (b*Hp + i)*Wp + j  holds  xpad_b[c, i + kh*dh, j + kw*dw]
# so y_wide (Cout, Nw) = sum over taps of w[:, :, kh, kw] @ that view: KH*KW GEMMs on a
# buffer that fits in L2.  Columns with j >= OW and rows between images are garbage:
# dropped on the way out (forward), zero on the way in (backward).  Nw =
# ((B-1)*Hp + OH)*Wp; the last tap reads (KW-1)*dw floats past the end (zeroed slack).
# ----------------------------------------------------------------------------------------

@njit
def pad_images(x, n0, cnt, c0, c1, g, buf):
    """buf[(c-c0)*L + (b*Hp + h + ph)*Wp + w + pw] = x[n0 + b, c, h, w]; borders untouched."""
    C, H, W = g.C, g.H, g.W
    Hp, Wp = H + 2 * g.ph, W + 2 * g.pw
    L = cnt * Hp * Wp
    xf = x.reshape(-1)
    for c in range(c0, c1):
        for b in range(cnt):
            for h in range(H):
                copy_run(buf, (c - c0) * L + (b * Hp + h + g.ph) * Wp + g.pw, xf,
                          (((n0 + b) * C + c) * H + h) * W, W)


@njit
def unpad_images(buf, n0, cnt, c0, c1, g, gx):
    """gx[n0 + b, c, h, w] = buf[(c-c0)*L + (b*Hp + h + ph)*Wp + w + pw] (the inverse copy)."""
    C, H, W = g.C, g.H, g.W
    Hp, Wp = H + 2 * g.ph, W + 2 * g.pw
    L = cnt * Hp * Wp
    gf = gx.reshape(-1)
    for c in range(c0, c1):
        for b in range(cnt):
            for h in range(H):
                copy_run(gf, (((n0 + b) * C + c) * H + h) * W, buf,
                          (c - c0) * L + (b * Hp + h + g.ph) * Wp + g.pw, W)


@njit
def wide_to_images(wide, n0, cnt, o0, o1, g, y, bias):
    """y[n0 + b, o, i, j] = wide[o - o0, (b*Hp + i)*Wp + j] + bias[o] (bias may be empty)."""
    Cout, OH, OW = g.Cout, g.OH, g.OW
    Hp, Wp = g.H + 2 * g.ph, g.W + 2 * g.pw
    Nw = wide.shape[1]
    yf, wf = y.reshape(-1), wide.reshape(-1)
    for b in range(cnt):
        for o in range(o0, o1):
            for i in range(OH):
                d = (((n0 + b) * Cout + o) * OH + i) * OW
                copy_run(yf, d, wf, (o - o0) * Nw + (b * Hp + i) * Wp, OW)
                if bias.size:
                    shift_run(yf, d, bias[o], OW)


@njit
def images_to_wide(gy, n0, cnt, o0, o1, g, wide):
    """wide[o - o0, (b*Hp + i)*Wp + j] = gy[n0 + b, o, i, j]; garbage entries untouched (zero)."""
    Cout, OH, OW = g.Cout, g.OH, g.OW
    Hp, Wp = g.H + 2 * g.ph, g.W + 2 * g.pw
    Nw = wide.shape[1]
    gf, wf = gy.reshape(-1), wide.reshape(-1)
    for b in range(cnt):
        for o in range(o0, o1):
            for i in range(OH):
                copy_run(wf, (o - o0) * Nw + (b * Hp + i) * Wp, gf,
                          (((n0 + b) * Cout + o) * OH + i) * OW, OW)
