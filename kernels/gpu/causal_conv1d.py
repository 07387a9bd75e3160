"""Causal dilated conv1d on the GPU (WaveNet): a tap convolution of an H = 1 image.

Same names, arguments, validation and errors as ``kernels/reference/causal_conv1d.py``
(whose docstrings these functions carry).  Tap k reads ``x[t - s_k]``, ``s_k = d*(K-1-k)``,
which is the tap ``(0, -s_k)`` of ``kernels/gpu/_tapgemm.py`` on x seen as
``(N, Cin, 1, T)``; the weight ``(Cout, Cin, K)`` is already the GEMM's ``(Cout, Cin*K)``
matrix with rows ``c*K + k``::

    y  = w2 @ cols(x) + b,    gx = col2im(w2^T @ gy),    gw = sum_n gy[n] @ cols(x[n])^T
"""
from ..reference import causal_conv1d as ref
from ..reference.causal_conv1d import (check_backward, check_causal_args, check_forward,
                                        check_grad_input, check_grad_weight)
from . import _tapgemm as tg
from ._cupy import share_docs

__all__ = ["causal_conv1d_forward", "causal_conv1d_grad_input", "causal_conv1d_grad_weight",
           "causal_conv1d_backward"]


def _geometry(x_shape, cout, shifts):
    n, cin, t = x_shape
    return tg.TapGeometry(n, cin, 1, t, cout, 1, t, tg.causal_offsets(shifts))


def _w2(w):
    cout, cin, k = w.shape
    return tg.contiguous(w).reshape(cout, cin * k)


def causal_conv1d_forward(x, w, b=None, dilation=1):
    shifts = check_forward(x, w, b, dilation)
    cout, t = w.shape[0], x.shape[2]
    y = tg.forward(x.reshape(x.shape[0], x.shape[1], 1, t), _w2(w), _geometry(x.shape, cout, shifts))
    y = y.reshape(x.shape[0], cout, t)                               # (N, Cout, T)
    if b is not None:
        y += b.reshape(1, -1, 1)
    return y


def _backward(gy, x, x_shape, w, kernel_size, dilation, bias, want_gx, want_gw):
    n, cin, t = x_shape
    cout = gy.shape[1]
    shifts = check_causal_args(x_shape, (cout, cin, kernel_size), dilation)
    g = _geometry(x_shape, cout, shifts)
    gy4 = gy.reshape(n, cout, 1, t)
    gx = tg.grad_input(gy4, _w2(w), g).reshape(n, cin, t) if want_gx else None
    gw = None
    if want_gw:
        gw = tg.grad_weight(x.reshape(n, cin, 1, t), gy4, g).reshape(cout, cin, kernel_size)
    gb = gy.sum(axis=(0, 2)) if bias else None
    return gx, gw, gb


def causal_conv1d_grad_input(gy, w, dilation=1):
    n, _, t = check_grad_input(gy, w)
    return _backward(gy, None, (n, w.shape[1], t), w, w.shape[2], dilation, False, True, False)[0]


def causal_conv1d_grad_weight(x, gy, kernel_size, dilation=1, bias=False):
    check_grad_weight(x, gy)
    _, gw, gb = _backward(gy, x, x.shape, None, int(kernel_size), dilation, bias, False, True)
    return (gw, gb) if bias else gw


def causal_conv1d_backward(gy, x, w, dilation=1, bias=False, input_grad=True):
    check_backward(gy, x, w)
    return _backward(gy, x, x.shape, w, w.shape[2], dilation, bias, input_grad, True)


share_docs(globals(), ref, __all__)
