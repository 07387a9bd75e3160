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
line of the transforms below is one SIMD loop over c (images are transposed to NHWC on
the way in and back to NCHW on the way out, one pass each).  ``conv.py`` routes 3x3,
stride-1, dilation-1 convolutions here when that measured faster (its ``_use_winograd``);
the test oracle is the plain conv2d of ``kernels/reference/conv.py``.
"""
import numpy as np
from numba import prange

from ._blas import gemm, single_threaded, workspace
from ._numba import njit

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


@njit
def _input_tile(x, r, s, V, t):
    """V[4a + b, t, :] = (B^T d B)[a, b] for the tile d = x[r:r+4, s:s+4, :] of one NHWC image."""
    for c in range(x.shape[2]):
        # e = B^T d, column by column
        e00, e10, e20, e30 = _bt(x[r, s, c], x[r + 1, s, c], x[r + 2, s, c], x[r + 3, s, c])
        e01, e11, e21, e31 = _bt(x[r, s + 1, c], x[r + 1, s + 1, c], x[r + 2, s + 1, c], x[r + 3, s + 1, c])
        e02, e12, e22, e32 = _bt(x[r, s + 2, c], x[r + 1, s + 2, c], x[r + 2, s + 2, c], x[r + 3, s + 2, c])
        e03, e13, e23, e33 = _bt(x[r, s + 3, c], x[r + 1, s + 3, c], x[r + 2, s + 3, c], x[r + 3, s + 3, c])
        # (e B) row by row
        V[0, t, c], V[1, t, c], V[2, t, c], V[3, t, c] = _bt(e00, e01, e02, e03)
        V[4, t, c], V[5, t, c], V[6, t, c], V[7, t, c] = _bt(e10, e11, e12, e13)
        V[8, t, c], V[9, t, c], V[10, t, c], V[11, t, c] = _bt(e20, e21, e22, e23)
        V[12, t, c], V[13, t, c], V[14, t, c], V[15, t, c] = _bt(e30, e31, e32, e33)


@njit
def _input_tile_adjoint(V, t, x, r, s):
    """x[r:r+4, s:s+4, :] += B v B^T with v[a, b] = V[4a + b, t, :] (the adjoint of _input_tile)."""
    for c in range(x.shape[2]):
        h00, h10, h20, h30 = _b(V[0, t, c], V[4, t, c], V[8, t, c], V[12, t, c])
        h01, h11, h21, h31 = _b(V[1, t, c], V[5, t, c], V[9, t, c], V[13, t, c])
        h02, h12, h22, h32 = _b(V[2, t, c], V[6, t, c], V[10, t, c], V[14, t, c])
        h03, h13, h23, h33 = _b(V[3, t, c], V[7, t, c], V[11, t, c], V[15, t, c])
        for a, (p, q, u, v) in enumerate(((h00, h01, h02, h03), (h10, h11, h12, h13),
                                          (h20, h21, h22, h23), (h30, h31, h32, h33))):
            g0, g1, g2, g3 = _b(p, q, u, v)
            x[r + a, s, c] += g0
            x[r + a, s + 1, c] += g1
            x[r + a, s + 2, c] += g2
            x[r + a, s + 3, c] += g3


@njit
def _output_tile(M, t, bias, y, r, s):
    """y[r:r+2, s:s+2, :] = A^T m A + bias with m[a, b] = M[4a + b, t, :] (NHWC)."""
    for o in range(y.shape[2]):
        q00, q10 = _at(M[0, t, o], M[4, t, o], M[8, t, o], M[12, t, o])
        q01, q11 = _at(M[1, t, o], M[5, t, o], M[9, t, o], M[13, t, o])
        q02, q12 = _at(M[2, t, o], M[6, t, o], M[10, t, o], M[14, t, o])
        q03, q13 = _at(M[3, t, o], M[7, t, o], M[11, t, o], M[15, t, o])
        y00, y01 = _at(q00, q01, q02, q03)
        y10, y11 = _at(q10, q11, q12, q13)
        b = bias[o]
        y[r, s, o], y[r, s + 1, o], y[r + 1, s, o], y[r + 1, s + 1, o] = y00 + b, y01 + b, y10 + b, y11 + b


@njit
def _output_tile_adjoint(gy, r, s, GM, t):
    """GM[4a + b, t, :] = (A g A^T)[a, b] for the 2x2 tile g = gy[r:r+2, s:s+2, :] (NHWC)."""
    for o in range(gy.shape[2]):
        p00, p10, p20, p30 = _a(gy[r, s, o], gy[r + 1, s, o])
        p01, p11, p21, p31 = _a(gy[r, s + 1, o], gy[r + 1, s + 1, o])
        GM[0, t, o], GM[1, t, o], GM[2, t, o], GM[3, t, o] = _a(p00, p01)
        GM[4, t, o], GM[5, t, o], GM[6, t, o], GM[7, t, o] = _a(p10, p11)
        GM[8, t, o], GM[9, t, o], GM[10, t, o], GM[11, t, o] = _a(p20, p21)
        GM[12, t, o], GM[13, t, o], GM[14, t, o], GM[15, t, o] = _a(p30, p31)


# ---------------------------------------------------------------------------------------
# Whole-batch passes: images split over the threads; the 16 GEMMs split over the threads
# ---------------------------------------------------------------------------------------

@njit(parallel=True)
def _to_v(xpad, TH, TW, V):
    """V (16, N*TH*TW, C) from the zero-framed NHWC input xpad (N, 2*TH+2, 2*TW+2, C)."""
    for n in prange(xpad.shape[0]):
        for i in range(TH):
            for j in range(TW):
                _input_tile(xpad[n], 2 * i, 2 * j, V, (n * TH + i) * TW + j)


@njit(parallel=True)
def _to_gm(gy, TH, TW, GM):
    """GM (16, N*TH*TW, Cout) from the NHWC output gradient gy (N, 2*TH, 2*TW, Cout)."""
    for n in prange(gy.shape[0]):
        for i in range(TH):
            for j in range(TW):
                _output_tile_adjoint(gy[n], 2 * i, 2 * j, GM, (n * TH + i) * TW + j)


@njit(parallel=True)
def _from_m(M, TH, TW, bias, y):
    """The NHWC output y (N, 2*TH, 2*TW, Cout) from M (16, N*TH*TW, Cout)."""
    for n in prange(y.shape[0]):
        for i in range(TH):
            for j in range(TW):
                _output_tile(M, (n * TH + i) * TW + j, bias, y[n], 2 * i, 2 * j)


@njit(parallel=True)
def _from_gv(GV, TH, TW, gx):
    """The NHWC input gradient gx (N, 2*TH+2, 2*TW+2, C) = sum over tiles of B gV B^T."""
    for n in prange(gx.shape[0]):
        gx[n] = 0
        for i in range(TH):
            for j in range(TW):
                _input_tile_adjoint(GV, (n * TH + i) * TW + j, gx[n], 2 * i, 2 * j)


@njit(parallel=True)
def _gemm16_parallel(A, B, C, m, n, k, ta, tb):
    for xi in prange(16):
        gemm(m, n, k, A[xi], 0, m if ta else k, B[xi], 0, k if tb else n, C[xi], 0, n, ta=ta, tb=tb)


def _gemm16(A, B, C, m, n, k, ta=False, tb=False):
    """C[xi] (m, n) = op(A[xi]) @ op(B[xi]) for the 16 positions xi, split over the threads.

    A, B, C are (16, pitch) matrices holding one position's matrix per row (``_planes``).
    """
    with single_threaded():   # our threads share the 16 GEMMs; BLAS runs on one in each
        _gemm16_parallel(A, B, C, m, n, k, ta, tb)


# ---------------------------------------------------------------------------------------
# The three conv2d passes (called from conv.py on a validated geometry g)
# ---------------------------------------------------------------------------------------

def usable(g):
    """3x3, stride 1, dilation 1: the only convolutions F(2x2, 3x3) computes."""
    return g.KH == g.KW == 3 and g.sh == g.sw == 1 and g.dh == g.dw == 1


def _tiles(g):
    return (g.OH + 1) // 2, (g.OW + 1) // 2


def _planes(name, T, C, dtype):
    """A (16, T, C) transform-domain scratch array, and the (16, pitch) matrix holding it.

    Its 16 planes are placed 1024*k + 32 elements apart, not a multiple of 4 KiB: the
    transforms read or write all 16 planes at once, and 16 streams 4 KiB-aligned land
    in one L1 cache set (measured 8x slower).  The GEMMs take the (16, pitch) matrix.
    """
    pitch = -(-(T * C) // 1024) * 1024 + 32
    rows = workspace("winograd_" + name, (16, pitch), dtype)
    return rows[:, :T * C].reshape(16, T, C), rows


def _nhwc_framed(x, g, TH, TW):
    """x (N, C, H, W) as NHWC in a zero frame (N, 2*TH+2, 2*TW+2, C): padding in front, zeros behind."""
    xpad = workspace("winograd_frame", (g.N, 2 * TH + 2, 2 * TW + 2, g.C), x.dtype)
    xpad[...] = 0
    xpad[:, g.ph:g.ph + g.H, g.pw:g.pw + g.W, :] = x.transpose(0, 2, 3, 1)
    return xpad


def _nchw(a):
    """A fresh NCHW array from an NHWC view of a scratch buffer (never a view of the scratch)."""
    out = np.empty((a.shape[0], a.shape[3], a.shape[1], a.shape[2]), a.dtype)
    out[...] = a.transpose(0, 3, 1, 2)
    return out


def _weights(w, transposed=False):
    """U (16, C, Cout) = G w G^T at each position of the 4x4 domain (one (16, 9) GEMM);
    ``transposed``: U^T (16, Cout, C), what grad_input multiplies by."""
    Cout, C = w.shape[:2]
    if transposed:
        return (GG.astype(w.dtype) @ np.ascontiguousarray(w).reshape(Cout * C, 9).T).reshape(16, Cout, C)
    w9 = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(C * Cout, 9)  # row c*Cout + o
    return (GG.astype(w.dtype) @ w9.T).reshape(16, C, Cout)


def _v(x, g, TH, TW):
    """V = B^T d B of every input tile, as (16, pitch) rows: row xi holds V[xi] (T, C)."""
    V, rows = _planes("V", g.N * TH * TW, g.C, x.dtype)
    _to_v(_nhwc_framed(x, g, TH, TW), TH, TW, V)
    return rows


def _gm(gy, g, TH, TW):
    """gM = A gy_tile A^T of every output tile, as (16, pitch) rows: row xi holds gM[xi] (T, Cout)."""
    gyt = workspace("winograd_gy", (g.N, 2 * TH, 2 * TW, g.Cout), gy.dtype)
    gyt[...] = 0
    gyt[:, :g.OH, :g.OW, :] = gy.reshape(g.N, g.Cout, g.OH, g.OW).transpose(0, 2, 3, 1)
    GM, rows = _planes("GM", g.N * TH * TW, g.Cout, gy.dtype)
    _to_gm(gyt, TH, TW, GM)
    return rows


def forward(x, w, b, g):
    """y (N, Cout, OH, OW) = conv2d(x, w) + b."""
    TH, TW = _tiles(g)
    T = g.N * TH * TW
    V, U = _v(x, g, TH, TW), _weights(w)
    M, M_rows = _planes("GM", T, g.Cout, x.dtype)
    _gemm16(V, U.reshape(16, -1), M_rows, T, g.Cout, g.C)                 # M = V @ U
    yt = workspace("winograd_gy", (g.N, 2 * TH, 2 * TW, g.Cout), x.dtype)
    _from_m(M, TH, TW, np.zeros(g.Cout, x.dtype) if b is None else np.ascontiguousarray(b), yt)
    return _nchw(yt[:, :g.OH, :g.OW, :])


def grad_input(gy, w, g):
    """gx (N, C, H, W): the adjoint of ``forward`` applied to gy."""
    TH, TW = _tiles(g)
    T = g.N * TH * TW
    GM, Ut = _gm(gy, g, TH, TW), _weights(w, transposed=True)
    GV, GV_rows = _planes("V", T, g.C, gy.dtype)
    _gemm16(GM, Ut.reshape(16, -1), GV_rows, T, g.C, g.Cout)              # gV = gM @ U^T
    gxpad = workspace("winograd_frame", (g.N, 2 * TH + 2, 2 * TW + 2, g.C), gy.dtype)
    _from_gv(GV, TH, TW, gxpad)
    return _nchw(gxpad[:, g.ph:g.ph + g.H, g.pw:g.pw + g.W, :])


def grad_weight(x, gy, g):
    """gw (Cout, C, 3, 3) = G^T (sum over tiles V^T gM) G."""
    TH, TW = _tiles(g)
    T = g.N * TH * TW
    V, GM = _v(x, g, TH, TW), _gm(gy, g, TH, TW)
    GU = np.empty((16, g.C, g.Cout), x.dtype)
    _gemm16(V, GM, GU.reshape(16, -1), g.C, g.Cout, T, ta=True)          # gU = V^T @ gM
    gw9 = GG.T.astype(x.dtype) @ GU.reshape(16, g.C * g.Cout)              # (9, C*Cout) = G^T gU G
    return np.ascontiguousarray(gw9.reshape(3, 3, g.C, g.Cout).transpose(3, 2, 0, 1))
