"""Masked conv2d over live taps on the GPU (PixelCNN): im2col of the live taps + cuBLAS GEMM.

Same names, arguments, validation and errors as ``kernels/reference/masked_conv.py``
(whose docstrings these functions carry).  Only the L live taps are gathered, so the
GEMM's inner dimension is ``Cin*L`` (7x7 mask A: 24 of 49 taps; 3x3 mask B: 5 of 9)::

    w2[o, c*L + l] = W'[o, c, ky_l, kx_l]          (centre tap times center_mask)
    y  = w2 @ cols(x) + b                          cols over the taps (ky - ph, kx - pw)
    gx = col2im(w2^T @ gy)
    gw = scatter of sum_n gy[n] @ cols(x[n])^T to the live taps (centre times center_mask),
         exactly zero at dead taps
    gb = sum gy over (n, i, j)
"""
from ..reference import masked_conv as ref
from ..reference.masked_conv import check_backward, check_block, check_forward, check_grad_weight
from ..taps import gather_taps, scatter_taps
from . import _tapgemm as tg
from ._cupy import cupy, share_docs

__all__ = ["masked_conv2d_forward", "masked_conv2d_grad_input", "masked_conv2d_grad_weight",
           "masked_conv2d_backward"]


def _geometry(x_shape, cout, taps, ph, pw, oh, ow):
    n, cin, h, w = x_shape
    return tg.TapGeometry(n, cin, h, w, cout, oh, ow, tg.masked_offsets(taps, ph, pw))


def _w2(w, taps, center_mask):
    """``(Cout, Cin*L)``: the live taps' matrices, row c*L + l (centre tap masked)."""
    cp = cupy()
    cm = None if center_mask is None else cp.asarray(center_mask, dtype=w.dtype)
    wl = gather_taps(w, taps, cm)                                  # (L, Cout, Cin)
    L, cout, cin = wl.shape
    return cp.ascontiguousarray(wl.transpose(1, 2, 0)).reshape(cout, cin * L)


def masked_conv2d_forward(x, w, taps, b=None, padding=None, center_mask=None, *, relu_input=False,
                          residual=False):
    taps, ph, pw, oh, ow = check_forward(x, w, taps, b, padding, center_mask)
    cout = w.shape[0]
    check_block(x.shape, (x.shape[0], cout, oh, ow), relu_input, residual)
    a = cupy().maximum(x, 0) if relu_input else x      # the fused block, composed here (one more pass)
    y = tg.forward(a, _w2(w, taps, center_mask), _geometry(x.shape, cout, taps, ph, pw, oh, ow))
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    if residual:
        y += x
    return y


def _backward(gy, x, x_shape, w, w_shape, taps, padding, center_mask, bias, want_gx, want_gw):
    x_shape, (taps, ph, pw, oh, ow) = check_backward(gy, x, w, w_shape, taps, padding, center_mask, x_shape)
    cout, cin, kh, kw = w_shape
    g = _geometry(x_shape, cout, taps, ph, pw, oh, ow)
    gx = tg.grad_input(gy, _w2(w, taps, center_mask), g) if want_gx else None
    gw = None
    if want_gw:
        gw2 = tg.grad_weight(x, gy, g)                             # (Cout, Cin*L)
        wl = gw2.reshape(cout, cin, g.L).transpose(2, 0, 1)        # (L, Cout, Cin)
        cm = None if center_mask is None else cupy().asarray(center_mask, dtype=gy.dtype)
        gw = scatter_taps(wl, taps, (kh, kw), cm)                  # zero at dead taps
    gb = gy.sum(axis=(0, 2, 3)) if bias else None
    return gx, gw, gb


def masked_conv2d_grad_input(gy, w, taps, x_shape, padding=None, center_mask=None):
    return _backward(gy, None, tuple(x_shape), w, w.shape, taps, padding, center_mask, False,
                     True, False)[0]


def masked_conv2d_grad_weight(x, gy, taps, kernel_size, padding=None, center_mask=None, bias=False):
    check_grad_weight(x, gy)
    kh, kw = (int(k) for k in kernel_size)
    _, gw, gb = _backward(gy, x, None, None, (gy.shape[1], x.shape[1], kh, kw), taps, padding,
                          center_mask, bias, False, True)
    return (gw, gb) if bias else gw


def masked_conv2d_backward(gy, x, w, taps, padding=None, center_mask=None, bias=False, input_grad=True, *,
                           relu_input=False, residual=False):
    check_block(x.shape, gy.shape, relu_input, residual)
    a = cupy().maximum(x, 0) if relu_input else x
    gx, gw, gb = _backward(gy, a, None, w, w.shape, taps, padding, center_mask, bias, input_grad, True)
    if gx is not None and relu_input:
        gx *= x > 0
    if gx is not None and residual:
        gx += gy
    return gx, gw, gb


share_docs(globals(), ref, __all__)
