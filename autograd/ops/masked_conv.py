"""Masked 2-D convolution (PixelCNN) as one fused Function over the live taps.

The kernel (``kernels.masked_conv2d_*``, equations in ``kernels/reference/masked_conv.py``)
computes only the taps the mask keeps; dead taps get exactly zero gradient.  The fused
backward is not itself differentiable: double backward raises and names the composite
``masked_conv2d_composite`` (the same layer from primitives: ``w * mask`` over all
taps), which supports it and is tested equal to the fused op.
"""
import numpy as np

import kernels
from kernels import taps as T

from ..function import Function
from .elementwise import mul, relu
from .linalg import matmul
from .shape import getitem, pad, transpose

__all__ = ["MaskedConv2d", "masked_conv2d", "masked_conv2d_composite"]


class MaskedConv2d(Function):
    """y = b + sum over live taps (ky, kx) of W'[:, :, ky, kx] applied to x shifted by (ky-ph, kx-pw)

    ``W'`` is W with ``center_mask`` (channel groups) applied at the centre tap.
    Derivatives (kernels/reference/masked_conv.py):
        gx = the same sum with mirrored taps and W'^T (a masked conv of gy);
        gW[:, :, ky, kx] = sum_{n,i,j} gy * x shifted, at live taps; 0 at dead taps;
        gb = sum of gy over batch and pixels.
    Replaces the composite ``conv2d(x, w * mask) + b`` (``masked_conv2d_composite``),
    doing 24/49 (7x7 mask A) or 5/9 (3x3 mask B) of its work.

    With ``relu_input`` / ``residual`` it is the PixelCNN's residual block in one op,
    ``y = x + conv(ReLU(x))``: the ReLU, the sum and their derivatives
    (``gx = [x > 0] * conv_gx(gy) + gy``) happen inside the kernel's passes, and neither
    ReLU(x) nor its mask is stored (x itself is saved).
    """
    differentiable_backward = False
    composite = "autograd.ops.masked_conv.masked_conv2d_composite (w * mask over all taps)"

    def forward(self, x, w, b=None, taps=None, padding=None, center_mask=None, relu_input=False,
                residual=False):
        self.save_for_backward(x, w)
        self.params = (taps, padding, center_mask, b is not None)
        self.block = dict(relu_input=relu_input, residual=residual)
        return kernels.masked_conv2d_forward(x, w, taps, b, padding, center_mask, **self.block)

    def backward(self, gy):
        x, w = self.saved_tensors
        taps, padding, center_mask, has_b = self.params
        gx, gw, gb = kernels.masked_conv2d_backward(gy.data, x.data, w.data, taps, padding, center_mask,
                                                    bias=has_b, input_grad=self.needs_input_grad[0],
                                                    **self.block)
        grads = (None if gx is None else type(gy)(gx), type(gy)(gw))
        return grads + (type(gy)(gb),) if has_b else grads


def _structure(w, mask_type, groups, taps, center_mask):
    """(taps, center_mask) from a PixelCNN mask type, or the explicit ones."""
    if taps is not None:
        return T.as_taps(taps, w.shape[2:]), center_mask
    return T.pixelcnn_mask(w.shape[2:], mask_type, w.shape[0], w.shape[1], groups)


def masked_conv2d(x, w, b=None, mask_type="B", groups=1, *, taps=None, center_mask=None, padding=None,
                  relu_input=False, residual=False):
    """PixelCNN masked convolution, stride 1, "same" size for odd kernels.

    Args:
        x: ``(N, Cin, H, W)`` Tensor.
        w: ``(Cout, Cin, KH, KW)`` weight (full shape; entries at dead taps are unused).
        b: optional ``(Cout,)`` bias.
        mask_type: ``'A'`` (first layer: excludes the centre pixel) or ``'B'`` (includes it).
        groups: channel groups at the centre tap (3 for R -> G -> B, 1 for none).
        taps: explicit ``(L, 2)`` live taps instead of ``mask_type`` (e.g. Gated PixelCNN
            stacks from ``kernels.taps``); ``center_mask`` then optional ``(Cout, Cin)``.
        padding: None (``KH//2, KW//2``), int or pair.
        relu_input: convolve ReLU(x) (fused: ReLU(x) is never stored).
        residual: return ``x + conv(...)`` (Cout == Cin): with ``relu_input`` the
            pre-activation residual block ``x + conv(ReLU(x))`` as one op.

    Returns:
        ``(N, Cout, OH, OW)`` Tensor.
    """
    taps, center_mask = _structure(w, mask_type, groups, taps, center_mask)
    params = dict(taps=taps, padding=padding, center_mask=center_mask, relu_input=relu_input,
                  residual=residual)
    return MaskedConv2d()(x, w, **params) if b is None else MaskedConv2d()(x, w, b, **params)


def masked_conv2d_composite(x, w, b=None, mask_type="B", groups=1, *, taps=None, center_mask=None,
                            padding=None, relu_input=False, residual=False):
    """The same layer from primitives: ``w * mask`` over **all** taps (differentiable twice).

    ``y = b + sum_{ky,kx} x_shift(ky,kx) @ (w*mask)[:, :, ky, kx]^T`` with pad, slices,
    transposes and matmuls.  Slower than ``masked_conv2d``; it is the double-backward
    path and the test twin of the fused op.
    """
    taps, center_mask = _structure(w, mask_type, groups, taps, center_mask)
    x_in, x = x, (relu(x) if relu_input else x)                     # the block's input, what the taps read
    cout, cin, kh, kw = w.shape
    ph, pw = (kh // 2, kw // 2) if padding is None else (
        (padding, padding) if np.ndim(padding) == 0 else tuple(padding))
    mask = T.dense_mask(taps, (kh, kw), cout, cin, center_mask).astype(w.dtype)
    wm = mul(w, mask)                                               # (Cout, Cin, KH, KW)
    n, _, h, wd = x.shape
    oh, ow = h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1
    xp = transpose(pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), (0, 2, 3, 1))  # (N, Hp, Wp, Cin)
    y = None
    for ky in range(kh):
        for kx in range(kw):
            window = getitem(xp, (slice(None), slice(ky, ky + oh), slice(kx, kx + ow)))  # (N, OH, OW, Cin)
            term = matmul(window, transpose(getitem(wm, (slice(None), slice(None), ky, kx)), (1, 0)))
            y = term if y is None else y + term                     # (N, OH, OW, Cout)
    if b is not None:
        y = y + b
    y = transpose(y, (0, 3, 1, 2))                                  # (N, Cout, OH, OW)
    return x_in + y if residual else y

