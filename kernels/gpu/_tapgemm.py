"""Convolution over a list of taps as im2col + cuBLAS GEMM + col2im: dense, masked and causal.

All three conv families are one computation read with different taps.  Tap ``l`` is an
offset ``(oy_l, ox_l)``: output pixel ``(i, j)`` reads input ``(i*sh + oy_l, j*sw + ox_l)``
(zero outside the image).  With the columns ``cols[n, c*L + l, i*OW + j]`` of a block of
samples (``im2col``) and the weight as a ``(Cout, C*L)`` matrix ``w2``::

    forward      y[n]   = w2 @ cols[n]                        (N batched GEMMs)
    grad input   gx     = col2im(w2^T @ gy[n])                (gather of the columns)
    grad weight  gw2    = sum_n gy[n] @ cols[n]^T

The tap tables are the index maps every kernel here shares; ``conv_offsets``,
``masked_offsets`` and ``causal_offsets`` build them on the host, and
tests/kernels/gpu checks them (and the CUDA kernels that read them) against the
reference twins.  The batch is processed in blocks of samples so that one block's
columns stay under ``config.CUDA_COLS_BYTES``.
"""
import numpy as np

from .. import config
from ._cupy import contiguous, cupy, device_constant, i32, i64, launch


def conv_offsets(KH, KW, dh, dw, ph, pw):
    """Taps of a dense conv in (kh, kw) raster order: ``(kh*dh - ph, kw*dw - pw)``, (KH*KW, 2)."""
    kh, kw = np.meshgrid(np.arange(KH), np.arange(KW), indexing="ij")
    return np.stack([kh.ravel() * dh - ph, kw.ravel() * dw - pw], axis=1).astype(np.int32)


def masked_offsets(taps, ph, pw):
    """Taps of a masked conv (live taps only, in the list's order): ``(ky - ph, kx - pw)``."""
    return (np.asarray(taps, dtype=np.int64) - np.array([ph, pw])).astype(np.int32)


def causal_offsets(shifts):
    """Taps of a causal conv1d seen as an H = 1 image: ``(0, -s_k)`` with ``s_k = d*(K-1-k)``."""
    shifts = np.asarray(shifts, dtype=np.int64)
    return np.stack([np.zeros_like(shifts), -shifts], axis=1).astype(np.int32)


class TapGeometry:
    """Sizes of one tap convolution: x (N, C, H, W) -> y (N, Cout, OH, OW), stride (sh, sw)."""

    def __init__(self, N, C, H, W, Cout, OH, OW, offsets, sh=1, sw=1):
        self.N, self.C, self.H, self.W, self.Cout = int(N), int(C), int(H), int(W), int(Cout)
        self.OH, self.OW, self.sh, self.sw = int(OH), int(OW), int(sh), int(sw)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int32)
        self.L = len(self.offsets)

    def blocks(self, itemsize):
        """``(n0, nb)`` blocks of samples whose columns fit ``config.CUDA_COLS_BYTES``."""
        per_sample = self.C * self.L * self.OH * self.OW * itemsize
        nb = max(1, min(self.N, config.CUDA_COLS_BYTES // max(1, per_sample)))
        return [(n0, min(nb, self.N - n0)) for n0 in range(0, self.N, nb)]

    def scalars(self):
        """The geometry arguments shared by im2col and col2im, as C ints."""
        return (i32(self.C), i32(self.H), i32(self.W), i32(self.L), i32(self.OH), i32(self.OW),
                i32(self.sh), i32(self.sw))


def im2col(x, g):
    """Columns ``(nb, C*L, OH*OW)`` of a block of samples ``x (nb, C, H, W)`` (contiguous)."""
    cp = cupy()
    nb = x.shape[0]
    cols = cp.empty((nb, g.C * g.L, g.OH * g.OW), dtype=x.dtype)
    launch("im2col", x.dtype, cols.size, x, device_constant(g.offsets), cols, *g.scalars(),
           i64(cols.size))
    return cols


def col2im(cols, g, out):
    """Write into ``out (nb, C, H, W)`` (contiguous) the sum of the columns that read each pixel."""
    launch("col2im", cols.dtype, out.size, cols, device_constant(g.offsets), out, *g.scalars(),
           i64(out.size))


def forward(x, w2, g):
    """``y (N, Cout, OH, OW)``: ``y[n] = w2 @ im2col(x[n])``; ``w2`` is ``(Cout, C*L)``."""
    cp = cupy()
    x = contiguous(x)
    y = cp.empty((g.N, g.Cout, g.OH, g.OW), dtype=x.dtype)
    for n0, nb in g.blocks(x.dtype.itemsize):
        cols = im2col(x[n0:n0 + nb], g)                                   # (nb, C*L, OH*OW)
        y[n0:n0 + nb] = cp.matmul(w2, cols).reshape(nb, g.Cout, g.OH, g.OW)
    return y


def grad_input(gy, w2, g):
    """``gx (N, C, H, W)``: col2im of ``w2^T @ gy[n]``."""
    cp = cupy()
    gy = contiguous(gy)
    gx = cp.empty((g.N, g.C, g.H, g.W), dtype=gy.dtype)
    w2t = w2.T
    for n0, nb in g.blocks(gy.dtype.itemsize):
        gcols = cp.matmul(w2t, gy[n0:n0 + nb].reshape(nb, g.Cout, g.OH * g.OW))  # (nb, C*L, OH*OW)
        col2im(contiguous(gcols), g, gx[n0:n0 + nb])
    return gx


def grad_weight(x, gy, g):
    """``gw2 (Cout, C*L)`` = sum over samples of ``gy[n] @ im2col(x[n])^T``."""
    cp = cupy()
    x, gy = contiguous(x), contiguous(gy)
    gw2 = cp.zeros((g.Cout, g.C * g.L), dtype=x.dtype)
    for n0, nb in g.blocks(x.dtype.itemsize):
        cols = im2col(x[n0:n0 + nb], g)                                   # (nb, C*L, OH*OW)
        gyb = gy[n0:n0 + nb].reshape(nb, g.Cout, g.OH * g.OW)
        gw2 += cp.matmul(gyb, cols.transpose(0, 2, 1)).sum(axis=0)
    return gw2
