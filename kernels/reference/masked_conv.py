"""Masked 2-D convolution over a list of live taps (PixelCNN [1], Gated PixelCNN [2]): plain NumPy.

The weight keeps its full shape ``(Cout, Cin, KH, KW)``; only the taps listed in
``taps`` (``(L, 2)`` int array of ``(ky, kx)``, see ``kernels.taps``) are used, and
dead taps get exactly zero gradient.  Nothing multiplies the weight by a mask,
except the optional channel-group mask at the centre tap (R -> G -> B ordering,
[1] Section 3.4): ``center_mask`` is a ``(Cout, Cin)`` 0/1 matrix that multiplies
``w[:, :, KH//2, KW//2]`` (``kernels.taps.channel_group_mask``).

Geometry (stride 1, cross-correlation like PyTorch's ``conv2d``)::

    padding (ph, pw), default (KH//2, KW//2): "same" size for odd kernels
    OH = H + 2*ph - KH + 1,  OW = W + 2*pw - KW + 1
    y[n, o, i, j] = b[o] + sum_{(ky, kx) in taps} sum_c W'[o, c, ky, kx] * x[n, c, i+ky-ph, j+kx-pw]

where x is zero outside the image and ``W' = W`` except at the centre tap,
``W'[:, :, KH//2, KW//2] = W[:, :, KH//2, KW//2] * center_mask``.  Gradients::

    gx[n, c, r, s] = sum_taps sum_o W'[o, c, ky, kx] * gy[n, o, r-ky+ph, s-kx+pw]
    gW[o, c, ky, kx] = sum_{n,i,j} gy[n, o, i, j] * x[n, c, i+ky-ph, j+kx-pw]   (live taps;
                       times center_mask at the centre; 0 at dead taps)
    gb[o] = sum_{n,i,j} gy[n, o, i, j]

A pre-activation residual block, ``y = x + conv(ReLU(x))`` ([1] Figure 5, the PixelCNN's
blocks), is one call with ``relu_input`` and ``residual`` (forward and backward), so the
ReLU and the sum are computed while the kernel copies x and writes y::

    forward    y = conv(a) (+ x if residual),   a = ReLU(x) if relu_input else x
    backward   gx = [x > 0] * conv_gx(gy) (+ gy if residual),   gW from a

(``residual`` needs Cout == Cin and OH, OW == H, W.)

These functions are the specification and the test oracle of ``kernels/cpu/masked_conv.py``.

References:
    [1] van den Oord et al. Pixel Recurrent Neural Networks. 2016. https://arxiv.org/abs/1601.06759
    [2] van den Oord et al. Conditional Image Generation with PixelCNN Decoders. 2016.
        https://arxiv.org/abs/1606.05328
"""
import numpy as np

from ..backend import check_float as _check_float, get_array_module
from ..taps import as_taps, center_index

__all__ = ["masked_conv2d_forward", "masked_conv2d_grad_input", "masked_conv2d_grad_weight",
           "masked_conv2d_backward"]


def _padding(padding, kh, kw):
    if padding is None:
        return kh // 2, kw // 2
    if isinstance(padding, (int, np.integer)):
        padding = (padding, padding)
    try:
        ph, pw = (int(p) for p in padding)
    except (TypeError, ValueError):
        raise TypeError(f"padding must be None, an int or a pair of ints, got {padding!r}") from None
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {(ph, pw)}")
    return ph, pw


def check_masked_conv_args(x_shape, cout, cin_w, kernel_size, taps, padding, center_mask, dtype):
    """Validate a masked-conv problem; returns ``(taps, ph, pw, OH, OW)``.

    Shared by the reference and the Numba kernels so both raise the same errors.
    """
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {tuple(x_shape)}")
    n, cin, h, w = x_shape
    if cin != cin_w:
        raise ValueError(f"x has {cin} channels but the weight expects Cin={cin_w}")
    kh, kw = kernel_size
    taps = as_taps(taps, (kh, kw))
    ph, pw = _padding(padding, kh, kw)
    oh, ow = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"output would be empty: input {h}x{w}, kernel {kh}x{kw}, padding {(ph, pw)}")
    if center_mask is not None:
        if tuple(center_mask.shape) != (cout, cin):
            raise ValueError(f"center_mask must have shape (Cout, Cin) = {(cout, cin)}, "
                             f"got {tuple(center_mask.shape)}")
        center_index(taps, (kh, kw))  # raises when the centre tap is dead
    return taps, ph, pw, oh, ow


def _check_weight(w, dtype):
    _check_float("w", w, dtype)
    if w.ndim != 4:
        raise ValueError(f"w must be 4-D (Cout, Cin, KH, KW), got shape {tuple(w.shape)}")


def check_forward(x, w, taps, b, padding, center_mask):
    """Validate ``masked_conv2d_forward``'s arguments (shared by the reference, Numba and CUDA
    kernels); returns ``(taps, ph, pw, oh, ow)``."""
    _check_float("x", x)
    _check_weight(w, x.dtype)
    cout, cin, kh, kw = w.shape
    geometry = check_masked_conv_args(x.shape, cout, cin, (kh, kw), taps, padding, center_mask, x.dtype)
    if b is not None:
        _check_float("b", b, x.dtype)
        if tuple(b.shape) != (cout,):
            raise ValueError(f"b must have shape (Cout,) = ({cout},), got {tuple(b.shape)}")
    return geometry


def check_backward(gy, x, w, w_shape, taps, padding, center_mask, x_shape=None):
    """Validate the arrays of a backward pass: ``gy`` with ``x`` (or only its ``x_shape``) and ``w``
    (or only its ``w_shape``); returns ``(x_shape, (taps, ph, pw, oh, ow))``."""
    _check_float("gy", gy)
    if w is not None:
        _check_weight(w, gy.dtype)
    if x is not None:
        _check_float("x", x, gy.dtype)
        x_shape = tuple(x.shape)
    cout, cin, kh, kw = w_shape
    geometry = check_masked_conv_args(tuple(x_shape), cout, cin, (kh, kw), taps, padding, center_mask,
                                      gy.dtype)
    _check_gy(gy, x_shape[0], cout, geometry[3], geometry[4])
    return tuple(x_shape), geometry


def check_grad_weight(x, gy):
    """The two arrays of ``masked_conv2d_grad_weight`` must be float, of one dtype, and 4-D."""
    _check_float("x", x)
    _check_float("gy", gy, x.dtype)
    if gy.ndim != 4 or x.ndim != 4:
        raise ValueError(f"x and gy must be 4-D, got shapes {tuple(x.shape)} and {tuple(gy.shape)}")


def _tap_weights(w, taps, center_mask):
    """``wl[li] = W'[:, :, ky_l, kx_l]`` of shape (L, Cout, Cin), centre tap masked."""
    xp = get_array_module(w)
    wl = w[:, :, taps[:, 0], taps[:, 1]].transpose(2, 0, 1).copy()  # (L, Cout, Cin)
    if center_mask is not None:
        lc = center_index(taps, w.shape[2:])
        wl[lc] *= xp.asarray(center_mask, dtype=w.dtype)
    return wl


def check_block(x_shape, y_shape, relu_input, residual):
    """The fused-block options: ``residual`` adds x to y, so their shapes must match."""
    if residual and tuple(x_shape) != tuple(y_shape):
        raise ValueError(f"residual=True adds the input {tuple(x_shape)} to the output {tuple(y_shape)}: "
                         "it needs Cout == Cin and the same spatial size")


def masked_conv2d_forward(x, w, taps, b=None, padding=None, center_mask=None, *, relu_input=False,
                          residual=False):
    """Masked conv2d forward over the live taps only.

    ``y[n,o,i,j] = b[o] + sum_{(ky,kx) in taps} sum_c W'[o,c,ky,kx] * x[n,c,i+ky-ph,j+kx-pw]``
    (module docstring: geometry, centre mask).

    Args:
        x: ``(N, Cin, H, W)`` float32/float64.
        w: ``(Cout, Cin, KH, KW)``, same dtype; entries at dead taps are ignored.
        taps: ``(L, 2)`` ints ``(ky, kx)``, e.g. ``kernels.taps.pixelcnn_taps(7, 'A')``.
        b: optional ``(Cout,)`` bias.
        padding: None (``(KH//2, KW//2)``: same size for odd kernels), an int or ``(ph, pw)``.
        center_mask: optional ``(Cout, Cin)`` 0/1 matrix for the centre tap (channel groups).
        relu_input: convolve ReLU(x) instead of x.
        residual: return ``x + conv(...)`` (the residual block; Cout == Cin, same size).

    Returns:
        y: ``(N, Cout, OH, OW)``.
    """
    taps, ph, pw, oh, ow = check_forward(x, w, taps, b, padding, center_mask)
    cout = w.shape[0]
    check_block(x.shape, (x.shape[0], cout, oh, ow), relu_input, residual)
    xp = get_array_module(x)
    a = xp.maximum(x, 0) if relu_input else x                     # what the taps read
    xpad = xp.pad(a, ((0, 0), (0, 0), (ph, ph), (pw, pw)))       # (N, Cin, H+2ph, W+2pw)
    wl = _tap_weights(w, taps, center_mask)                        # (L, Cout, Cin)
    y = xp.zeros((x.shape[0], cout, oh, ow), dtype=x.dtype)
    for li, (ky, kx) in enumerate(taps):
        window = xpad[:, :, ky:ky + oh, kx:kx + ow]                # (N, Cin, OH, OW)
        y += xp.einsum("oc,nchw->nohw", wl[li], window)
    if b is not None:
        y += b[None, :, None, None]
    if residual:
        y += x
    return y


def masked_conv2d_grad_input(gy, w, taps, x_shape, padding=None, center_mask=None):
    """Gradient of the masked conv w.r.t. its input (a conv with the mirrored taps).

    ``gx[n,c,r,s] = sum_{(ky,kx) in taps} sum_o W'[o,c,ky,kx] * gy[n,o,r-ky+ph,s-kx+pw]``

    Args:
        gy: ``(N, Cout, OH, OW)`` upstream gradient.
        w: ``(Cout, Cin, KH, KW)``.
        taps, padding, center_mask: as in ``masked_conv2d_forward``.
        x_shape: ``(N, Cin, H, W)`` of the forward input.

    Returns:
        gx: ``(N, Cin, H, W)``.
    """
    x_shape, (taps, ph, pw, oh, ow) = check_backward(gy, None, w, w.shape, taps, padding, center_mask, x_shape)
    cin = w.shape[1]
    xp = get_array_module(gy)
    n, _, h, wd = x_shape
    wl = _tap_weights(w, taps, center_mask)
    gxpad = xp.zeros((n, cin, h + 2 * ph, wd + 2 * pw), dtype=gy.dtype)
    for li, (ky, kx) in enumerate(taps):
        gxpad[:, :, ky:ky + oh, kx:kx + ow] += xp.einsum("oc,nohw->nchw", wl[li], gy)
    return gxpad[:, :, ph:ph + h, pw:pw + wd].copy()


def _check_gy(gy, n, cout, oh, ow):
    if tuple(gy.shape) != (n, cout, oh, ow):
        raise ValueError(f"gy must have shape (N, Cout, OH, OW) = {(n, cout, oh, ow)}, "
                         f"got {tuple(gy.shape)}")


def masked_conv2d_grad_weight(x, gy, taps, kernel_size, padding=None, center_mask=None, bias=False):
    """Gradient w.r.t. the weight (and bias): only live taps are computed, dead taps are 0.

    ``gW[o,c,ky,kx] = sum_{n,i,j} gy[n,o,i,j] * x[n,c,i+ky-ph,j+kx-pw]`` for live taps,
    multiplied by ``center_mask`` at the centre; ``gb[o] = sum_{n,i,j} gy[n,o,i,j]``.

    Args:
        x: ``(N, Cin, H, W)`` forward input.
        gy: ``(N, Cout, OH, OW)``.
        taps, padding, center_mask: as in ``masked_conv2d_forward``.
        kernel_size: ``(KH, KW)`` of the weight.
        bias: also return the bias gradient.

    Returns:
        gw ``(Cout, Cin, KH, KW)``, or ``(gw, gb)`` when ``bias`` is true.
    """
    _check_float("x", x)
    _check_float("gy", gy, x.dtype)
    if gy.ndim != 4:
        raise ValueError(f"gy must be 4-D (N, Cout, OH, OW), got shape {tuple(gy.shape)}")
    kh, kw = (int(k) for k in kernel_size)
    cout, cin = gy.shape[1], x.shape[1] if x.ndim == 4 else -1
    taps, ph, pw, oh, ow = check_masked_conv_args(x.shape, cout, cin, (kh, kw), taps, padding,
                                                  center_mask, x.dtype)
    _check_gy(gy, x.shape[0], cout, oh, ow)
    xp = get_array_module(x)
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gw = xp.zeros((cout, cin, kh, kw), dtype=x.dtype)
    for ky, kx in taps:
        gw[:, :, ky, kx] = xp.einsum("nohw,nchw->oc", gy, xpad[:, :, ky:ky + oh, kx:kx + ow])
    if center_mask is not None:
        gw[:, :, kh // 2, kw // 2] *= xp.asarray(center_mask, dtype=x.dtype)
    if bias:
        return gw, gy.sum(axis=(0, 2, 3))
    return gw


def masked_conv2d_backward(gy, x, w, taps, padding=None, center_mask=None, bias=False, input_grad=True, *,
                           relu_input=False, residual=False):
    """Both backward passes at once (what an autograd op calls): ``(gx, gw, gb)``.

    ``gx`` is None when ``input_grad`` is false (e.g. the first layer, whose input is
    data); ``gb`` is None unless ``bias``.  Same equations as the two functions above;
    with ``relu_input`` / ``residual`` (the fused block, module docstring) ``x`` is the
    block's input: ``gx = [x > 0] * conv_gx(gy) (+ gy)`` and gW is taken against ReLU(x).
    """
    _check_float("gy", gy)
    check_block(x.shape, gy.shape, relu_input, residual)
    a = get_array_module(x).maximum(x, 0) if relu_input else x
    gx = None
    if input_grad:
        gx = masked_conv2d_grad_input(gy, w, taps, x.shape, padding, center_mask)
        if relu_input:
            gx *= x > 0
        if residual:
            gx += gy
    res = masked_conv2d_grad_weight(a, gy, taps, w.shape[2:], padding, center_mask, bias)
    gw, gb = res if bias else (res, None)
    return gx, gw, gb
