"""Winograd F(2x2, 3x3): 3x3 stride-1 convolutions with 2.25x fewer multiplications.

Lavin & Gray 2016 ("Fast Algorithms for Convolutional Neural Networks", eq. 8).  The
output is cut into 2x2 tiles; each needs the 4x4 input tile d under it, and

    y_tile = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, 4x4)

    B^T = [1  0 -1  0]    G = [1    0    0 ]    A^T = [1 1  1  0]
          [0  1  1  0]        [1/2  1/2  1/2]         [0 1 -1 -1]
          [0 -1  1  0]        [1/2 -1/2  1/2]
          [0  1  0 -1]        [0    0    1 ]

is the 3x3 correlation of d with g, exactly in exact arithmetic: 16 multiplications per
tile and channel pair instead of 36.  Summed over input channels, the elementwise
product becomes 16 independent matrix products, one per position xi of the 4x4 domain:

    V[xi] (T, C)    = (B^T d B)[xi]        T = N * tiles per image (the input transform)
    U[xi] (C, Cout) = (G g G^T)[xi]        the weights, transformed once per call
    M[xi] (T, Cout) = V[xi] @ U[xi]        16 GEMMs
    y tile          = A^T M A (+ bias)     the output transform

y is linear in U and in V, so backward is the same machinery run as adjoints:

    gM[xi] = (A gy_tile A^T)[xi]
    grad_input:   gV[xi] = gM[xi] @ U[xi]^T,   gx tile += B gV B^T   (tiles overlap by 2)
    grad_weight:  gU[xi] = V[xi]^T @ gM[xi],   gw = G^T gU G

The transforms run channels-last: every tile is 16 vectors over the channels, so each
line of the transforms below is one SIMD loop over c (each image is copied to NHWC on
the way in and back to NCHW on the way out, while it is in cache).

The work is blocked for the cache.  Each thread takes a run of images; a block of tiles
(a few whole small images, or some rows of tiles of a large one) goes through the input
transform, the 16 GEMMs and the output transform while its planes (16 x tiles x C and
x Cout numbers, about ``config.CONV_WINOGRAD_BLOCK_BYTES``) are still in L2.  Planes for
the whole batch at once would be 51 MB at 64->64 28x28 N=64, and every transform a trip
to memory (measured 1.9x slower there).  ``conv.py`` routes 3x3, stride-1, dilation-1
convolutions here when that measured faster (its ``_use_winograd``); the test oracle is
the plain conv2d of ``kernels/reference/conv.py``.
"""
import numpy as np
from numba import prange

from .. import config
from ._blas import can_split, gemm, single_threaded, workspace
from ._numba import njit, parallel_driver, thread_bounds

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
#: kron(G, G) (16, 9): U[4a+b] = sum_ij G[a,i] G[b,j] g[i,j], all weights in one GEMM.
GG = np.kron(G, G)


# ---------------------------------------------------------------------------------------
# The four transforms of one tile, channels innermost (one SIMD loop over c or o)
# ---------------------------------------------------------------------------------------

@njit(inline="always")
def _bt(a0, a1, a2, a3):
    """B^T (a0, a1, a2, a3): the input transform along one axis."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


@njit(inline="always")
def _b(a0, a1, a2, a3):
    """B (a0, a1, a2, a3): its adjoint."""
    return a0, a1 - a2 + a3, a1 + a2 - a0, -a3


@njit(inline="always")
def _at(a0, a1, a2, a3):
    """A^T (a0, a1, a2, a3): the output transform along one axis (4 -> 2)."""
    return a0 + a1 + a2, a1 - a2 - a3


@njit(inline="always")
def _a(a0, a1):
    """A (a0, a1): its adjoint (2 -> 4)."""
    return a0, a0 + a1, a0 - a1, -a1


# Each transform is written as a few SIMD loops over the channels with at most 4 rows
# written per loop: LLVM vectorises a loop only while checking the arrays it writes
# against those it reads stays cheap, and the 16-output loop of the textbook form ran
# scalar (the input transform of a 28x28 64-channel image: 0.18 ms as one loop, 0.027 ms
# as four).  The sums are the same, term by term.

@njit(inline="always")
def _input_row(x, p, q, sign, s, V, xi, t):
    """V[xi:xi+4, t, :] = (e B) for the row e = x[p, s:s+4] + sign * x[q, s:s+4] of B^T d."""
    for c in range(x.shape[2]):
        V[xi, t, c], V[xi + 1, t, c], V[xi + 2, t, c], V[xi + 3, t, c] = _bt(
            x[p, s, c] + sign * x[q, s, c], x[p, s + 1, c] + sign * x[q, s + 1, c],
            x[p, s + 2, c] + sign * x[q, s + 2, c], x[p, s + 3, c] + sign * x[q, s + 3, c])


@njit
def _input_tile(x, r, s, V, t):
    """V[4a + b, t, :] = (B^T d B)[a, b] for the tile d = x[r:r+4, s:s+4, :] of one NHWC image."""
    one = x.dtype.type(1)
    _input_row(x, r, r + 2, -one, s, V, 0, t)          # row 0 of B^T d: d0 - d2
    _input_row(x, r + 1, r + 2, one, s, V, 4, t)       # row 1: d1 + d2
    _input_row(x, r + 2, r + 1, -one, s, V, 8, t)      # row 2: d2 - d1
    _input_row(x, r + 1, r + 3, -one, s, V, 12, t)     # row 3: d1 - d3


@njit(inline="always")
def _add_row(x, r, s, c, h0, h1, h2, h3):
    """x[r, s:s+4, c] += (h B^T) for one row h of B v."""
    g0, g1, g2, g3 = _b(h0, h1, h2, h3)
    x[r, s, c] += g0
    x[r, s + 1, c] += g1
    x[r, s + 2, c] += g2
    x[r, s + 3, c] += g3


@njit
def _input_tile_adjoint(V, t, x, r, s):
    """x[r:r+4, s:s+4, :] += B v B^T with v[a, b] = V[4a + b, t, :] (the adjoint of _input_tile)."""
    for c in range(x.shape[2]):        # row 0 of B v: v0
        _add_row(x, r, s, c, V[0, t, c], V[1, t, c], V[2, t, c], V[3, t, c])
    for c in range(x.shape[2]):        # row 1: v1 - v2 + v3
        _add_row(x, r + 1, s, c, V[4, t, c] - V[8, t, c] + V[12, t, c], V[5, t, c] - V[9, t, c] + V[13, t, c],
                 V[6, t, c] - V[10, t, c] + V[14, t, c], V[7, t, c] - V[11, t, c] + V[15, t, c])
    for c in range(x.shape[2]):        # row 2: v1 + v2 - v0
        _add_row(x, r + 2, s, c, V[4, t, c] + V[8, t, c] - V[0, t, c], V[5, t, c] + V[9, t, c] - V[1, t, c],
                 V[6, t, c] + V[10, t, c] - V[2, t, c], V[7, t, c] + V[11, t, c] - V[3, t, c])
    for c in range(x.shape[2]):        # row 3: -v3
        _add_row(x, r + 3, s, c, -V[12, t, c], -V[13, t, c], -V[14, t, c], -V[15, t, c])


@njit
def _output_tile(M, t, bias, y, r, s):
    """y[r:r+2, s:s+2, :] = A^T m A + bias with m[a, b] = M[4a + b, t, :] (NHWC)."""
    for o in range(y.shape[2]):        # row 0 of A^T m: m0 + m1 + m2
        y0, y1 = _at(M[0, t, o] + M[4, t, o] + M[8, t, o], M[1, t, o] + M[5, t, o] + M[9, t, o],
                     M[2, t, o] + M[6, t, o] + M[10, t, o], M[3, t, o] + M[7, t, o] + M[11, t, o])
        y[r, s, o], y[r, s + 1, o] = y0 + bias[o], y1 + bias[o]
    for o in range(y.shape[2]):        # row 1: m1 - m2 - m3
        y0, y1 = _at(M[4, t, o] - M[8, t, o] - M[12, t, o], M[5, t, o] - M[9, t, o] - M[13, t, o],
                     M[6, t, o] - M[10, t, o] - M[14, t, o], M[7, t, o] - M[11, t, o] - M[15, t, o])
        y[r + 1, s, o], y[r + 1, s + 1, o] = y0 + bias[o], y1 + bias[o]


@njit(inline="always")
def _a_row(p0, p1, GM, xi, t, o):
    """GM[xi:xi+4, t, o] = (p A^T) for one row p of A g."""
    GM[xi, t, o], GM[xi + 1, t, o], GM[xi + 2, t, o], GM[xi + 3, t, o] = _a(p0, p1)


@njit
def _output_tile_adjoint(gy, r, s, GM, t):
    """GM[4a + b, t, :] = (A g A^T)[a, b] for the 2x2 tile g = gy[r:r+2, s:s+2, :] (NHWC)."""
    for o in range(gy.shape[2]):       # row 0 of A g: g0
        _a_row(gy[r, s, o], gy[r, s + 1, o], GM, 0, t, o)
    for o in range(gy.shape[2]):       # row 1: g0 + g1
        _a_row(gy[r, s, o] + gy[r + 1, s, o], gy[r, s + 1, o] + gy[r + 1, s + 1, o], GM, 4, t, o)
    for o in range(gy.shape[2]):       # row 2: g0 - g1
        _a_row(gy[r, s, o] - gy[r + 1, s, o], gy[r, s + 1, o] - gy[r + 1, s + 1, o], GM, 8, t, o)
    for o in range(gy.shape[2]):       # row 3: -g1
        _a_row(-gy[r + 1, s, o], -gy[r + 1, s + 1, o], GM, 12, t, o)


# ---------------------------------------------------------------------------------------
# Blocked passes: each thread takes a run of images; a block of tiles at a time goes
# input transform -> 16 GEMMs -> output transform while its planes are still in cache
# ---------------------------------------------------------------------------------------

@njit
def _frame(x, g, xp):
    """xp (Hp, Wp, C) = one NCHW image x (C, H, W) channels-last in a zero frame (padding in
    front, zeros behind up to the tiles' even size)."""
    xp[...] = 0
    for h in range(g.H):
        for w in range(g.W):
            for c in range(g.C):
                xp[g.ph + h, g.pw + w, c] = x[c, h, w]


@njit
def _unframe(xp, g, x):
    """x (C, H, W) = the interior of the channels-last frame xp (the adjoint of ``_frame``'s copy)."""
    for c in range(g.C):
        for h in range(g.H):
            for w in range(g.W):
                x[c, h, w] = xp[g.ph + h, g.pw + w, c]


@njit
def _to_nhwc(y, g, yt):
    """yt (2*TH, 2*TW, Cout) = one NCHW output-sized image y (Cout, OH, OW), zeros past its edge."""
    yt[...] = 0
    for r in range(g.OH):
        for s in range(g.OW):
            for o in range(g.Cout):
                yt[r, s, o] = y[o, r, s]


@njit
def _to_nchw(yt, g, y):
    """y (Cout, OH, OW) = the channels-last yt cropped to the output."""
    for o in range(g.Cout):
        for r in range(g.OH):
            for s in range(g.OW):
                y[o, r, s] = yt[r, s, o]


@njit
def _forward_run(x, U, bias, y, g, blk, n0, n1, xp, V, M, yt):
    """y[n0:n1] = conv2d(x[n0:n1], w) + bias, one block of tiles at a time."""
    TH, TW, images, rows = blk
    Vf, Mf, Uf = V.reshape(-1), M.reshape(-1), U.reshape(-1)
    vs, ms = V.shape[1] * g.C, M.shape[1] * g.Cout              # plane strides
    for na in range(n0, n1, images):
        nb = min(n1, na + images)
        for m in range(nb - na):
            _frame(x[na + m], g, xp[m])
        for i0 in range(0, TH, rows):
            i1 = min(TH, i0 + rows)
            t = 0
            for m in range(nb - na):                               # V = B^T d B
                for i in range(i0, i1):
                    for j in range(TW):
                        _input_tile(xp[m], 2 * i, 2 * j, V, t)
                        t += 1
            for xi in range(16):                                   # M[xi] = V[xi] @ U[xi]
                gemm(t, g.Cout, g.C, Vf, xi * vs, g.C, Uf, xi * g.C * g.Cout, g.Cout,
                     Mf, xi * ms, g.Cout)
            t = 0
            for m in range(nb - na):                               # y tile = A^T M A + b
                for i in range(i0, i1):
                    for j in range(TW):
                        _output_tile(M, t, bias, yt[m], 2 * i, 2 * j)
                        t += 1
        for m in range(nb - na):
            _to_nchw(yt[m], g, y[na + m])


@njit
def _grad_input_run(gy, Ut, gx, g, blk, n0, n1, gxp, GV, GM, gyt):
    """gx[n0:n1] = the adjoint of ``_forward_run`` applied to gy[n0:n1]."""
    TH, TW, images, rows = blk
    GVf, GMf, Utf = GV.reshape(-1), GM.reshape(-1), Ut.reshape(-1)
    vs, ms = GV.shape[1] * g.C, GM.shape[1] * g.Cout
    for na in range(n0, n1, images):
        nb = min(n1, na + images)
        for m in range(nb - na):
            _to_nhwc(gy[na + m], g, gyt[m])
            gxp[m] = 0
        for i0 in range(0, TH, rows):
            i1 = min(TH, i0 + rows)
            t = 0
            for m in range(nb - na):                               # gM = A gy A^T
                for i in range(i0, i1):
                    for j in range(TW):
                        _output_tile_adjoint(gyt[m], 2 * i, 2 * j, GM, t)
                        t += 1
            for xi in range(16):                                   # gV[xi] = gM[xi] @ U[xi]^T
                gemm(t, g.C, g.Cout, GMf, xi * ms, g.Cout, Utf, xi * g.Cout * g.C, g.C,
                     GVf, xi * vs, g.C)
            t = 0
            for m in range(nb - na):                               # gx tile += B gV B^T
                for i in range(i0, i1):
                    for j in range(TW):
                        _input_tile_adjoint(GV, t, gxp[m], 2 * i, 2 * j)
                        t += 1
        for m in range(nb - na):
            _unframe(gxp[m], g, gx[na + m])


@njit
def _grad_weight_run(x, gy, GU, g, blk, n0, n1, xp, V, GM, gyt):
    """GU (16, C, Cout) = sum over the tiles of images n0..n1 of V^T gM."""
    TH, TW, images, rows = blk
    Vf, GMf, GUf = V.reshape(-1), GM.reshape(-1), GU.reshape(-1)
    vs, ms = V.shape[1] * g.C, GM.shape[1] * g.Cout
    GU[...] = 0
    for na in range(n0, n1, images):
        nb = min(n1, na + images)
        for m in range(nb - na):
            _frame(x[na + m], g, xp[m])
            _to_nhwc(gy[na + m], g, gyt[m])
        for i0 in range(0, TH, rows):
            i1 = min(TH, i0 + rows)
            t = 0
            for m in range(nb - na):
                for i in range(i0, i1):
                    for j in range(TW):
                        _input_tile(xp[m], 2 * i, 2 * j, V, t)
                        _output_tile_adjoint(gyt[m], 2 * i, 2 * j, GM, t)
                        t += 1
            for xi in range(16):                                   # gU[xi] += V[xi]^T @ gM[xi]
                gemm(g.C, g.Cout, t, Vf, xi * vs, g.C, GMf, xi * ms, g.Cout,
                     GUf, xi * g.C * g.Cout, g.Cout, beta=1.0, ta=True)


@parallel_driver
def _forward_driver(x, U, bias, y, g, blk, bounds, xp, V, M, yt):
    for p in prange(bounds.size - 1):
        _forward_run(x, U, bias, y, g, blk, bounds[p], bounds[p + 1], xp[p], V[p], M[p], yt[p])


@parallel_driver
def _grad_input_driver(gy, Ut, gx, g, blk, bounds, gxp, GV, GM, gyt):
    for p in prange(bounds.size - 1):
        _grad_input_run(gy, Ut, gx, g, blk, bounds[p], bounds[p + 1], gxp[p], GV[p], GM[p], gyt[p])


@parallel_driver
def _grad_weight_driver(x, gy, GU, g, blk, bounds, xp, V, GM, gyt):
    for p in prange(bounds.size - 1):
        _grad_weight_run(x, gy, GU[p], g, blk, bounds[p], bounds[p + 1], xp[p], V[p], GM[p], gyt[p])


# ---------------------------------------------------------------------------------------
# The three conv2d passes (called from conv.py on a validated geometry g)
# ---------------------------------------------------------------------------------------

def usable(g):
    """3x3, stride 1, dilation 1: the only convolutions F(2x2, 3x3) computes."""
    return g.KH == g.KW == 3 and g.sh == g.sw == 1 and g.dh == g.dw == 1


def _blocking(g, itemsize):
    """(TH, TW, images, rows): tiles per image TH x TW, and a block is ``images`` whole images
    (small images) or ``rows`` rows of tiles of one image, about config's block bytes of planes."""
    TH, TW = (g.OH + 1) // 2, (g.OW + 1) // 2
    tiles = max(1, config.CONV_WINOGRAD_BLOCK_BYTES // (16 * (g.C + g.Cout) * itemsize))
    images = max(1, min(g.N, tiles // (TH * TW)))
    rows = TH if images > 1 else max(1, min(TH, tiles // TW))
    return TH, TW, images, rows


def _plane_tiles(tiles, channels, itemsize):
    """Room for ``tiles`` tiles in each of the 16 planes, plus up to 3 more so that no plane
    stride is a multiple of 4 KiB (where the channel count allows): the transforms stream
    all 16 planes at once, and starts 4 KiB apart share one L1 set (measured 8x slower)."""
    for extra in range(4):
        if all((tiles + extra) * c * itemsize % 4096 for c in channels):
            return tiles + extra
    return tiles


def _scratch(g, blk, parts, dtype, in_ch, out_ch):
    """Per-thread scratch: frames (images, Hp, Wp, in_ch), input- and output-side planes
    (16, tiles, ch), channels-last output (images, 2TH, 2TW, out_ch)."""
    TH, TW, images, rows = blk
    tiles = _plane_tiles(max(images * TH * TW, rows * TW), (in_ch, out_ch), np.dtype(dtype).itemsize)
    return (workspace("winograd_frame", (parts, images, 2 * TH + 2, 2 * TW + 2, in_ch), dtype),
            workspace("winograd_in", (parts, 16, tiles, in_ch), dtype),
            workspace("winograd_out", (parts, 16, tiles, out_ch), dtype),
            workspace("winograd_nhwc", (parts, images, 2 * TH, 2 * TW, out_ch), dtype))


def _bounds(g):
    """Runs of images per thread: parallel when the transform-domain multiply-adds (4 per output
    and channel pair, against the direct convolution's 9) pay for it, as in conv.py."""
    return thread_bounds(g.N, g.N * g.C * g.Cout * g.OH * g.OW * 4 // config.CONV_MACS_PER_ELEMENT,
                         can_split=can_split())


def _weights(w, transposed=False):
    """U (16, C, Cout) = G w G^T at each position of the 4x4 domain (one (16, 9) GEMM);
    ``transposed``: U^T (16, Cout, C), what grad_input multiplies by."""
    Cout, C = w.shape[:2]
    if transposed:
        return (GG.astype(w.dtype) @ np.ascontiguousarray(w).reshape(Cout * C, 9).T).reshape(16, Cout, C)
    w9 = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(C * Cout, 9)  # row c*Cout + o
    return (GG.astype(w.dtype) @ w9.T).reshape(16, C, Cout)


def forward(x, w, b, g):
    """y (N, Cout, OH, OW) = conv2d(x, w) + b."""
    x = np.ascontiguousarray(x)
    blk, bounds = _blocking(g, x.itemsize), _bounds(g)
    xp, V, M, yt = _scratch(g, blk, bounds.size - 1, x.dtype, g.C, g.Cout)
    bias = np.zeros(g.Cout, x.dtype) if b is None else np.ascontiguousarray(b)   # added per tile
    y = np.empty((g.N, g.Cout, g.OH, g.OW), x.dtype)
    with single_threaded():   # our threads share the images; BLAS runs on one in each
        _forward_driver(x, _weights(w), bias, y, g, blk, bounds, xp, V, M, yt, threads=bounds.size - 1)
    return y


def grad_input(gy, w, g):
    """gx (N, C, H, W): the adjoint of ``forward`` applied to gy."""
    gy = np.ascontiguousarray(gy).reshape(g.N, g.Cout, g.OH, g.OW)
    blk, bounds = _blocking(g, gy.itemsize), _bounds(g)
    gxp, GV, GM, gyt = _scratch(g, blk, bounds.size - 1, gy.dtype, g.C, g.Cout)
    gx = np.empty((g.N, g.C, g.H, g.W), gy.dtype)
    with single_threaded():
        _grad_input_driver(gy, _weights(w, transposed=True), gx, g, blk, bounds, gxp, GV, GM, gyt,
                           threads=bounds.size - 1)
    return gx


def grad_weight(x, gy, g):
    """gw (Cout, C, 3, 3) = G^T (sum over tiles V^T gM) G."""
    x = np.ascontiguousarray(x)
    gy = np.ascontiguousarray(gy).reshape(g.N, g.Cout, g.OH, g.OW)
    blk, bounds = _blocking(g, x.itemsize), _bounds(g)
    xp, V, GM, gyt = _scratch(g, blk, bounds.size - 1, x.dtype, g.C, g.Cout)
    GU = workspace("winograd_gu", (bounds.size - 1, 16, g.C, g.Cout), x.dtype)   # per-thread sums
    with single_threaded():
        _grad_weight_driver(x, gy, GU, g, blk, bounds, xp, V, GM, gyt, threads=bounds.size - 1)
    gU = GU[0]
    for p in range(1, GU.shape[0]):   # serial merge of the per-thread partials
        gU += GU[p]
    gw9 = GG.T.astype(x.dtype) @ gU.reshape(16, g.C * g.Cout)              # (9, C*Cout) = G^T gU G
    return np.ascontiguousarray(gw9.reshape(3, 3, g.C, g.Cout).transpose(3, 2, 0, 1))
