"""Convolution, transposed convolution, pooling and nearest upsampling: the plain specification.

Every function here is written to be read: a loop over the KH*KW kernel taps, and for
each tap one ``einsum`` over a shifted, strided window of the zero-padded input.  It is
the definition and the test oracle of ``kernels/cpu/conv.py`` (same names) and runs on
NumPy or CuPy through ``xp = get_array_module(x)``.

Layouts are PyTorch's, named as stored:

    x   (N, C, H, W)            images
    w   (Cout, Cin, KH, KW)     conv2d weight
    w   (Cin, Cout, KH, KW)     conv_transpose2d weight
    y   (N, Cout, OH, OW)

With stride (sh, sw), zero padding (ph, pw) and dilation (dh, dw):

    OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1          (likewise OW)
    y[n,o,i,j] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]

where ``xpad`` is ``x`` with ``ph`` zero rows above and below and ``pw`` zero columns left
and right.  The two gradients are the same sum read the other way round:

    gx = sum over taps of  w[:, :, kh, kw]^T gy  scattered back into the window
    gw[o,c,kh,kw] = sum_{n,i,j} gy[n,o,i,j] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]

A transposed convolution is the adjoint of a convolution: its forward is conv2d's
grad-input, its grad-input is conv2d's forward, and its grad-weight is conv2d's
grad-weight with the roles of x and gy swapped.

Conventions shared by every kernel of this family (the CPU kernels follow them too):

* ``stride``, ``padding``, ``dilation``, ``kernel_size`` are an int or a pair (rows, cols).
  ``padding`` may also be ``"valid"`` (0) or ``"same"`` (see ``same_padding``).
* x and w must have the same floating dtype (float32 or float64); the output has it too.
* Errors are ``ValueError`` (shapes, sizes) or ``TypeError`` (dtypes) naming what was
  expected and what was given.  Non-contiguous inputs are accepted (the CPU kernels
  copy them to C order once).  Groups and ceil_mode pooling are not supported.
"""
from collections import namedtuple

import numpy as np

from ..backend import get_array_module

__all__ = [
    "same_padding", "conv2d_output_shape", "conv_transpose2d_output_shape",
    "conv2d_forward", "conv2d_grad_input", "conv2d_grad_weight", "conv2d_grad_bias",
    "conv_transpose2d_forward", "conv_transpose2d_grad_input", "conv_transpose2d_grad_weight",
    "avg_pool2d_forward", "avg_pool2d_grad_input",
    "max_pool2d_forward", "max_pool2d_grad_input",
    "upsample_nearest2d_forward", "upsample_nearest2d_grad_input",
]


# ----------------------------------------------------------------------------------------
# Argument normalisation and validation (shared with kernels/cpu/conv.py)
# ----------------------------------------------------------------------------------------

def pair(value, name, minimum=0):
    """``value`` as a pair of ints ``(rows, cols)``; an int ``v`` means ``(v, v)``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        a, b = value
        a, b = int(a), int(b)
        ok = float(a) == float(value[0]) and float(b) == float(value[1])
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if a < minimum or b < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {(a, b)}")
    return a, b


def same_padding(kernel_size, dilation=1):
    """Zero padding that keeps a stride-1 convolution's output the size of its input.

    The effective kernel extent is ``dilation*(k-1) + 1``; "same" needs ``dilation*(k-1)``
    zeros in total, split equally above/below (left/right).  That split is symmetric only
    when ``dilation*(k-1)`` is even (always for odd kernels), so anything else is refused
    rather than padded asymmetrically.

    Args:
        kernel_size: int or (KH, KW).
        dilation: int or (dh, dw).
    Returns:
        (ph, pw) with ``ph = dh*(KH-1)//2``, ``pw = dw*(KW-1)//2``.
    Raises:
        ValueError: when ``dilation*(k-1)`` is odd (an even kernel with odd dilation).
    """
    kh, kw = pair(kernel_size, "kernel_size", 1)
    dh, dw = pair(dilation, "dilation", 1)
    total = (dh * (kh - 1), dw * (kw - 1))
    if total[0] % 2 or total[1] % 2:
        raise ValueError(f"padding='same' needs dilation*(kernel_size-1) even, got kernel_size="
                         f"{(kh, kw)} dilation={(dh, dw)}; pass explicit padding instead")
    return total[0] // 2, total[1] // 2


def _padding(padding, kernel_hw, dilation, stride):
    """Normalise ``padding`` (int, pair, 'valid' or 'same') to a pair of ints."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride={stride}")
            return same_padding(kernel_hw, dilation)
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return pair(padding, "padding", 0)


def _check_array(a, name, ndim, op):
    if getattr(a, "ndim", None) != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {getattr(a, 'shape', type(a))}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")


def _check_same_dtype(op, x, **others):
    for name, a in others.items():
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{op}: {name} dtype {a.dtype} differs from x dtype {x.dtype}; "
                            f"cast one of them (outputs take the input dtype)")


ConvGeometry = namedtuple(
    "ConvGeometry", "N C H W Cout KH KW OH OW sh sw ph pw dh dw")
ConvGeometry.__doc__ = """Every size of one convolution, resolved and validated.

x (N, C, H, W) * w (Cout, C, KH, KW) -> y (N, Cout, OH, OW); stride (sh, sw),
padding (ph, pw), dilation (dh, dw)."""


def _out_size(size, k, s, p, d):
    """OH = (H + 2p - d*(k-1) - 1) // s + 1; -1 when the kernel does not fit."""
    span = size + 2 * p - d * (k - 1)
    return (span - 1) // s + 1 if span >= 1 else -1


def conv_geometry(x_shape, w_shape, stride, padding, dilation, op="conv2d", out_hw=None):
    """Validate the sizes of ``x (N,C,H,W) * w (Cout,C,KH,KW)`` and resolve the output size.

    ``out_hw`` (used by the transposed conv) asks for only the first rows/cols of the
    output; it must not exceed the full size.
    """
    N, C, H, W = (int(s) for s in x_shape)
    Cout, Cin, KH, KW = (int(s) for s in w_shape)
    if Cin != C:
        raise ValueError(f"{op}: weight expects Cin={Cin} input channels (w shape {tuple(w_shape)}), "
                         f"but x has C={C} (x shape {tuple(x_shape)})")
    if min(N, C, H, W, Cout, KH, KW) < 1:
        raise ValueError(f"{op}: empty dimension in x shape {tuple(x_shape)} or w shape {tuple(w_shape)}")
    sh, sw = pair(stride, "stride", 1)
    dh, dw = pair(dilation, "dilation", 1)
    ph, pw = _padding(padding, (KH, KW), (dh, dw), (sh, sw))
    OH, OW = _out_size(H, KH, sh, ph, dh), _out_size(W, KW, sw, pw, dw)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: dilated kernel ({dh*(KH-1)+1}, {dw*(KW-1)+1}) is larger than the "
                         f"padded input ({H + 2*ph}, {W + 2*pw})")
    if out_hw is not None:
        if out_hw[0] > OH or out_hw[1] > OW:
            raise ValueError(f"{op}: requested output {tuple(out_hw)} exceeds the full size {(OH, OW)}")
        OH, OW = int(out_hw[0]), int(out_hw[1])
    return ConvGeometry(N, C, H, W, Cout, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw)


def conv2d_output_shape(x_shape, w_shape, stride=1, padding=0, dilation=1):
    """Shape ``(N, Cout, OH, OW)`` of ``conv2d_forward`` for these shapes (validates them)."""
    g = conv_geometry(x_shape, w_shape, stride, padding, dilation)
    return (g.N, g.Cout, g.OH, g.OW)


def conv_transpose2d_output_shape(x_shape, w_shape, stride=1, padding=0, output_padding=0,
                                  dilation=1):
    """Shape of ``conv_transpose2d_forward``: x (N, Cin, H, W), w (Cin, Cout, KH, KW).

    ``OH = (H-1)*sh - 2*ph + dh*(KH-1) + oph + 1`` (likewise OW).  As in PyTorch,
    ``output_padding`` must be smaller than the stride or the dilation.
    """
    N, C, H, W = (int(s) for s in x_shape)
    Cin, Cout, KH, KW = (int(s) for s in w_shape)
    if Cin != C:
        raise ValueError(f"conv_transpose2d: weight expects Cin={Cin} input channels (w shape "
                         f"{tuple(w_shape)}), but x has C={C} (x shape {tuple(x_shape)})")
    sh, sw = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    dh, dw = pair(dilation, "dilation", 1)
    oph, opw = pair(output_padding, "output_padding", 0)
    if not ((oph < sh or oph < dh) and (opw < sw or opw < dw)):
        raise ValueError(f"conv_transpose2d: output_padding {(oph, opw)} must be smaller than "
                         f"stride {(sh, sw)} or dilation {(dh, dw)}")
    OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"conv_transpose2d: output size {(OH, OW)} is empty (padding too large)")
    return (N, Cout, OH, OW)


def _transpose_geometry(x_shape, w_shape, y_shape, stride, padding, dilation, op):
    """Geometry of the conv2d whose adjoint is this transposed conv.

    The transposed conv maps x (N, Cin, H, W) -> y (N, Cout, OH, OW); the conv2d it is the
    adjoint of maps y-sized images to x-sized ones with weight (Cin, Cout, KH, KW), i.e.
    the same array read as (Cout_conv=Cin, Cin_conv=Cout, KH, KW).
    """
    return conv_geometry(y_shape, w_shape, stride, padding, dilation, op=op,
                         out_hw=(x_shape[2], x_shape[3]))


def checked_geometry(op, arrays, stride, padding, dilation, x_shape, w_shape, gy=None, bias=None,
                     output_padding=None):
    """Validate the arguments of kernel ``op`` and return its conv2d ``ConvGeometry``.

    Shared by every conv kernel here and in ``kernels/cpu/conv.py``, so both raise the
    same errors.  ``arrays`` maps names to the 4-D arrays (the first sets the dtype);
    ``output_padding`` is given for the transposed conv, whose geometry is that of the
    conv2d it is the adjoint of (y-sized images -> x-sized ones).
    """
    for name, a in arrays.items():
        _check_array(a, name, 4, op)
    (_, first), *others = arrays.items()
    _check_same_dtype(op, first, **dict(others), b=bias)
    if output_padding is None:
        g = conv_geometry(x_shape, w_shape, stride, padding, dilation, op=op)
        y_shape = (g.N, g.Cout, g.OH, g.OW)
    else:
        y_shape = conv_transpose2d_output_shape(x_shape, w_shape, stride, padding, output_padding,
                                                dilation)
        g = _transpose_geometry(x_shape, w_shape, y_shape, stride, padding, dilation, op)
    if bias is not None and tuple(bias.shape) != (y_shape[1],):
        raise ValueError(f"{op}: bias must have shape ({y_shape[1]},), got {tuple(bias.shape)}")
    if gy is not None:
        _check_gy(op, gy, y_shape)
    return g


def _check_gy(op, gy, expected):
    if tuple(gy.shape) != tuple(expected):
        raise ValueError(f"{op}: gy must have shape {tuple(expected)} (the forward output), "
                         f"got {tuple(gy.shape)}")


# ----------------------------------------------------------------------------------------
# Helpers of the reference loops
# ----------------------------------------------------------------------------------------

def _window(a, kh, kw, g):
    """The strided view of padded ``a`` that tap (kh, kw) reads: (N, C, OH, OW).

    window[n, c, i, j] = a[n, c, i*sh + kh*dh, j*sw + kw*dw]
    """
    r0, c0 = kh * g.dh, kw * g.dw
    return a[:, :, r0:r0 + g.sh * (g.OH - 1) + 1:g.sh, c0:c0 + g.sw * (g.OW - 1) + 1:g.sw]


def _pad(x, ph, pw):
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


# ----------------------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------------------

def _conv2d_forward(x, w, g):
    xp = get_array_module(x)
    xpad = _pad(x, g.ph, g.pw)                                        # (N, C, H+2ph, W+2pw)
    y = xp.zeros((g.N, g.Cout, g.OH, g.OW), dtype=x.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            # y[n,o,i,j] += sum_c w[o,c,kh,kw] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]
            y += xp.einsum("nchw,oc->nohw", _window(xpad, kh, kw, g), w[:, :, kh, kw],
                           optimize=True)
    return y


def _conv2d_grad_input(gy, w, g):
    xp = get_array_module(gy)
    gxpad = xp.zeros((g.N, g.C, g.H + 2 * g.ph, g.W + 2 * g.pw), dtype=gy.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            # every input pixel read by tap (kh, kw) gets back  w[:, :, kh, kw]^T gy
            _window(gxpad, kh, kw, g)[...] += xp.einsum("nohw,oc->nchw", gy, w[:, :, kh, kw],
                                                        optimize=True)
    return xp.ascontiguousarray(gxpad[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W])


def _conv2d_grad_weight(x, gy, g):
    xp = get_array_module(x)
    xpad = _pad(x, g.ph, g.pw)
    gw = xp.empty((g.Cout, g.C, g.KH, g.KW), dtype=x.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            # gw[o,c,kh,kw] = sum_{n,i,j} gy[n,o,i,j] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]
            gw[:, :, kh, kw] = xp.einsum("nohw,nchw->oc", gy, _window(xpad, kh, kw, g),
                                         optimize=True)
    return gw


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, as in PyTorch) with zero padding.

    ``y[n,o,i,j] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]``

    Args:
        x: (N, C, H, W) float32 or float64.
        w: (Cout, C, KH, KW), same dtype as x.
        b: optional (Cout,) bias, same dtype.
        stride, dilation: int or pair, >= 1.
        padding: int or pair (zeros added on both sides), or 'valid' / 'same'.
    Returns:
        y: (N, Cout, OH, OW) with ``OH = (H + 2ph - dh*(KH-1) - 1)//sh + 1``.
    """
    g = checked_geometry("conv2d_forward", dict(x=x, w=w), stride, padding, dilation, x.shape,
                         w.shape, bias=b)
    y = _conv2d_forward(x, w, g)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv2d_grad_input(gy, w, x_shape, stride=1, padding=0, dilation=1):
    """Gradient of ``conv2d_forward`` with respect to x (a transposed convolution of gy).

    ``gx[n,c,h,v] = sum_{o,kh,kw,i,j : h = i*sh + kh*dh - ph, v = j*sw + kw*dw - pw}
    w[o,c,kh,kw] * gy[n,o,i,j]``

    Args:
        gy: (N, Cout, OH, OW) upstream gradient.
        w: (Cout, C, KH, KW).
        x_shape: (N, C, H, W) of the forward input.
    Returns:
        gx: x_shape, dtype of gy.
    """
    g = checked_geometry("conv2d_grad_input", dict(gy=gy, w=w), stride, padding, dilation, x_shape,
                         w.shape, gy=gy)
    return _conv2d_grad_input(gy, w, g)


def conv2d_grad_weight(x, gy, w_shape, stride=1, padding=0, dilation=1):
    """Gradient of ``conv2d_forward`` with respect to w.

    ``gw[o,c,kh,kw] = sum_{n,i,j} gy[n,o,i,j] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]``

    Args:
        x: (N, C, H, W) forward input.
        gy: (N, Cout, OH, OW) upstream gradient.
        w_shape: (Cout, C, KH, KW).
    Returns:
        gw: w_shape, dtype of x.
    """
    g = checked_geometry("conv2d_grad_weight", dict(x=x, gy=gy), stride, padding, dilation, x.shape,
                         w_shape, gy=gy)
    return _conv2d_grad_weight(x, gy, g)


def conv2d_grad_bias(gy):
    """Gradient of the bias: ``gb[o] = sum_{n,i,j} gy[n,o,i,j]``.  gy: (N, Cout, OH, OW)."""
    _check_array(gy, "gy", 4, "conv2d_grad_bias")
    return gy.sum(axis=(0, 2, 3))


# ----------------------------------------------------------------------------------------
# conv_transpose2d: conv2d read backwards
# ----------------------------------------------------------------------------------------

def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``, groups=1).

    It is the adjoint of ``conv2d`` with the same weight array: with w read as a conv2d
    weight (Cout_conv=Cin, Cin_conv=Cout, KH, KW),
    ``y = conv2d_grad_input(x, w, y_shape) + b``, i.e.
    ``y[n,o,h,v] = b[o] + sum_{c,kh,kw,i,j : h = i*sh + kh*dh - ph, v = j*sw + kw*dw - pw}
    w[c,o,kh,kw] * x[n,c,i,j]``.

    Args:
        x: (N, Cin, H, W).
        w: (Cin, Cout, KH, KW) (PyTorch's transposed-conv layout), same dtype.
        b: optional (Cout,).
        output_padding: extra rows/cols added at the bottom/right of the output
            (disambiguates the output size when stride > 1).
    Returns:
        y: (N, Cout, OH, OW), ``OH = (H-1)*sh - 2*ph + dh*(KH-1) + oph + 1``.
    """
    g = checked_geometry("conv_transpose2d_forward", dict(x=x, w=w), stride, padding, dilation,
                         x.shape, w.shape, bias=b, output_padding=output_padding)
    y = _conv2d_grad_input(x, w, g)           # the transposed conv IS conv2d's grad-input
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_grad_input(gy, w, x_shape, stride=1, padding=0, output_padding=0,
                                dilation=1):
    """Gradient of ``conv_transpose2d_forward`` w.r.t. x: the plain conv2d of gy with w.

    ``gx = conv2d_forward(gy, w)`` (w read as (Cout_conv=Cin, Cin_conv=Cout, KH, KW)),
    keeping the first H x W outputs when output_padding >= stride.
    """
    g = checked_geometry("conv_transpose2d_grad_input", dict(gy=gy, w=w), stride, padding, dilation,
                         x_shape, w.shape, gy=gy, output_padding=output_padding)
    return _conv2d_forward(gy, w, g)


def conv_transpose2d_grad_weight(x, gy, w_shape, stride=1, padding=0, output_padding=0,
                                 dilation=1):
    """Gradient of ``conv_transpose2d_forward`` w.r.t. w: conv2d's grad-weight, roles swapped.

    ``gw[c,o,kh,kw] = sum_{n,i,j} x[n,c,i,j] * gypad[n, o, i*sh + kh*dh, j*sw + kw*dw]``
    = ``conv2d_grad_weight(gy, x, w_shape)`` (gy plays the conv input, x the conv output grad).
    """
    g = checked_geometry("conv_transpose2d_grad_weight", dict(x=x, gy=gy), stride, padding, dilation,
                         x.shape, w_shape, gy=gy, output_padding=output_padding)
    return _conv2d_grad_weight(gy, x, g)


# ----------------------------------------------------------------------------------------
# Pooling and upsampling
# ----------------------------------------------------------------------------------------

def _pool_geometry(x_shape, kernel_size, stride, padding, dilation, op):
    if len(x_shape) != 4:
        raise ValueError(f"{op}: x must be 4-D (N, C, H, W), got shape {tuple(x_shape)}")
    KH, KW = pair(kernel_size, "kernel_size", 1)
    stride = (KH, KW) if stride is None else stride
    ph, pw = pair(padding, "padding", 0)
    if ph > KH // 2 or pw > KW // 2:
        raise ValueError(f"{op}: padding {(ph, pw)} must be at most half the kernel size {(KH, KW)}")
    C = x_shape[1]
    return conv_geometry(x_shape, (C, C, KH, KW), stride, (ph, pw), dilation, op=op)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Average pooling over KH x KW windows; zero padding counts in the average.

    ``y[n,c,i,j] = 1/(KH*KW) * sum_{kh,kw} xpad[n, c, i*sh + kh, j*sw + kw]``
    (PyTorch's ``count_include_pad=True``; ``stride`` defaults to ``kernel_size``).
    """
    _check_array(x, "x", 4, "avg_pool2d_forward")
    g = _pool_geometry(x.shape, kernel_size, stride, padding, 1, "avg_pool2d_forward")
    xp = get_array_module(x)
    xpad = _pad(x, g.ph, g.pw)
    y = xp.zeros((g.N, g.C, g.OH, g.OW), dtype=x.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            y += _window(xpad, kh, kw, g)
    return y * x.dtype.type(1.0 / (g.KH * g.KW))


def avg_pool2d_grad_input(gy, x_shape, kernel_size, stride=None, padding=0):
    """Gradient of ``avg_pool2d_forward``: each window's pixels get ``gy / (KH*KW)``."""
    _check_array(gy, "gy", 4, "avg_pool2d_grad_input")
    xp = get_array_module(gy)
    g = _pool_geometry(x_shape, kernel_size, stride, padding, 1, "avg_pool2d_grad_input")
    _check_gy("avg_pool2d_grad_input", gy, (g.N, g.C, g.OH, g.OW))
    gxpad = xp.zeros((g.N, g.C, g.H + 2 * g.ph, g.W + 2 * g.pw), dtype=gy.dtype)
    gys = gy * gy.dtype.type(1.0 / (g.KH * g.KW))
    for kh in range(g.KH):
        for kw in range(g.KW):
            _window(gxpad, kh, kw, g)[...] += gys
    return xp.ascontiguousarray(gxpad[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W])


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1):
    """Max pooling; also returns where each maximum came from, for the backward.

    ``y[n,c,i,j] = max_{kh,kw} xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]`` with ``-inf``
    padding; ties keep the first tap in row-major order, and NaN wins (propagates).

    Returns:
        y: (N, C, OH, OW).
        idx: (N, C, OH, OW) int64, the flat index ``h*W + v`` of the maximum in its input
            plane (PyTorch's ``return_indices`` convention).
    """
    _check_array(x, "x", 4, "max_pool2d_forward")
    g = _pool_geometry(x.shape, kernel_size, stride, padding, dilation, "max_pool2d_forward")
    xp = get_array_module(x)
    xpad = xp.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw)), constant_values=-np.inf)
    rows = xp.arange(g.OH).reshape(-1, 1) * g.sh - g.ph                # (OH, 1)
    cols = xp.arange(g.OW).reshape(1, -1) * g.sw - g.pw                # (1, OW)
    y = xp.full((g.N, g.C, g.OH, g.OW), -np.inf, dtype=x.dtype)
    idx = xp.zeros((g.N, g.C, g.OH, g.OW), dtype=np.int64)
    for kh in range(g.KH):
        for kw in range(g.KW):
            v = _window(xpad, kh, kw, g)
            better = (v > y) | (xp.isnan(v) & ~xp.isnan(y))
            y = xp.where(better, v, y)
            idx = xp.where(better, (rows + kh * g.dh) * g.W + (cols + kw * g.dw), idx)
    return y, idx


def max_pool2d_grad_input(gy, idx, x_shape):
    """Gradient of ``max_pool2d_forward``: gy routed to the argmax, summed where windows overlap.

    ``gx[n, c].flat[idx[n,c,i,j]] += gy[n,c,i,j]``
    """
    _check_array(gy, "gy", 4, "max_pool2d_grad_input")
    if tuple(idx.shape) != tuple(gy.shape):
        raise ValueError(f"max_pool2d_grad_input: idx shape {tuple(idx.shape)} differs from gy "
                         f"shape {tuple(gy.shape)}")
    xp = get_array_module(gy)
    N, C, H, W = (int(s) for s in x_shape)
    plane = (xp.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1)
    flat = (idx + plane).ravel()
    gx = xp.bincount(flat, weights=gy.ravel(), minlength=N * C * H * W)
    return gx.astype(gy.dtype, copy=False).reshape(N, C, H, W)


def upsample_nearest2d_forward(x, scale_factor=2):
    """Nearest-neighbour upsampling by integer factors: ``y[n,c,h,v] = x[n,c,h//sh,v//sw]``."""
    _check_array(x, "x", 4, "upsample_nearest2d_forward")
    sh, sw = pair(scale_factor, "scale_factor", 1)
    xp = get_array_module(x)
    N, C, H, W = x.shape
    y = xp.broadcast_to(x[:, :, :, None, :, None], (N, C, H, sh, W, sw))
    return y.reshape(N, C, H * sh, W * sw)                            # (N, C, H*sh, W*sw)


def upsample_nearest2d_grad_input(gy, scale_factor=2):
    """Gradient of nearest upsampling: each input pixel sums its sh x sw copies."""
    _check_array(gy, "gy", 4, "upsample_nearest2d_grad_input")
    sh, sw = pair(scale_factor, "scale_factor", 1)
    N, C, OH, OW = gy.shape
    if OH % sh or OW % sw:
        raise ValueError(f"upsample_nearest2d_grad_input: gy spatial size {(OH, OW)} is not a "
                         f"multiple of scale_factor {(sh, sw)}")
    blocks = gy.reshape(N, C, OH // sh, sh, OW // sw, sw)             # (N, C, H, sh, W, sw)
    gx = blocks[:, :, :, 0, :, 0].copy()
    for a in range(sh):        # the sh*sw strided views added (NumPy's sum over axes (3, 5) is 10x slower)
        for b in range(sw):
            if a or b:
                gx += blocks[:, :, :, a, :, b]
    return gx                                                         # (N, C, H, W)
