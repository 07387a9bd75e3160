"""Convolution and transposed convolution on the GPU: im2col + cuBLAS GEMM + col2im.

Same names, arguments, validation and errors as ``kernels/reference/conv.py`` (whose
docstrings these functions carry).  Every conv is a tap convolution
(``kernels/gpu/_tapgemm.py``) with the KH*KW taps ``(kh*dh - ph, kw*dw - pw)`` and the
weight read as a ``(Cout, C*KH*KW)`` matrix (a free reshape of ``(Cout, C, KH, KW)``):

    conv2d_forward              y  = w2 @ cols(x)                         (+ b)
    conv2d_grad_input           gx = col2im(w2^T @ gy)
    conv2d_grad_weight          gw = sum_n gy[n] @ cols(x[n])^T
    conv_transpose2d_*          the same three read backwards (a transposed conv is
                                the adjoint of the conv2d with the same weight array)

Pooling, upsampling and the bias gradient are NumPy-style array code in the reference
module and run there on CuPy arrays (the dispatcher falls back to the twin).
"""
from ..reference import conv as ref
from ..reference.conv import checked_geometry
from . import _tapgemm as tg
from ._cupy import share_docs

__all__ = [
    "conv2d_forward", "conv2d_grad_input", "conv2d_grad_weight",
    "conv_transpose2d_forward", "conv_transpose2d_grad_input", "conv_transpose2d_grad_weight",
]


def _taps(g):
    """The tap geometry of conv2d geometry ``g`` (x-sized input -> y-sized output)."""
    offs = tg.conv_offsets(g.KH, g.KW, g.dh, g.dw, g.ph, g.pw)
    return tg.TapGeometry(g.N, g.C, g.H, g.W, g.Cout, g.OH, g.OW, offs, g.sh, g.sw)


def _w2(w, g):
    """The weight as the GEMM's ``(Cout, C*KH*KW)`` matrix (rows c*L + l, l = kh*KW + kw)."""
    return tg.contiguous(w).reshape(g.Cout, g.C * g.KH * g.KW)


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    g = checked_geometry("conv2d_forward", dict(x=x, w=w), stride, padding, dilation, x.shape,
                         w.shape, bias=b)
    return _add_bias(tg.forward(x, _w2(w, g), _taps(g)), b)


def conv2d_grad_input(gy, w, x_shape, stride=1, padding=0, dilation=1):
    g = checked_geometry("conv2d_grad_input", dict(gy=gy, w=w), stride, padding, dilation, x_shape,
                         w.shape, gy=gy)
    return tg.grad_input(gy, _w2(w, g), _taps(g))


def conv2d_grad_weight(x, gy, w_shape, stride=1, padding=0, dilation=1):
    g = checked_geometry("conv2d_grad_weight", dict(x=x, gy=gy), stride, padding, dilation, x.shape,
                         w_shape, gy=gy)
    return tg.grad_weight(x, gy, _taps(g)).reshape(g.Cout, g.C, g.KH, g.KW)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    g = checked_geometry("conv_transpose2d_forward", dict(x=x, w=w), stride, padding, dilation,
                         x.shape, w.shape, bias=b, output_padding=output_padding)
    # g is the conv2d (y-sized -> x-sized) this is the adjoint of: y = its grad-input of x
    return _add_bias(tg.grad_input(x, _w2(w, g), _taps(g)), b)


def conv_transpose2d_grad_input(gy, w, x_shape, stride=1, padding=0, output_padding=0,
                                dilation=1):
    g = checked_geometry("conv_transpose2d_grad_input", dict(gy=gy, w=w), stride, padding, dilation,
                         x_shape, w.shape, gy=gy, output_padding=output_padding)
    return tg.forward(gy, _w2(w, g), _taps(g))


def conv_transpose2d_grad_weight(x, gy, w_shape, stride=1, padding=0, output_padding=0,
                                 dilation=1):
    g = checked_geometry("conv_transpose2d_grad_weight", dict(x=x, gy=gy), stride, padding,
                         dilation, x.shape, w_shape, gy=gy, output_padding=output_padding)
    # conv2d's grad-weight with the roles swapped: gy plays the input, x the output gradient
    return tg.grad_weight(gy, x, _taps(g)).reshape(g.Cout, g.C, g.KH, g.KW)


share_docs(globals(), ref, __all__)
