"""Causal dilated 1-D convolution (WaveNet [1]): forward and both gradients, plain NumPy.

With x ``(N, Cin, T)``, w ``(Cout, Cin, K)`` and dilation d, output t sees only the
present and the past (Figure 3 of [1])::

    y[n, o, t] = b[o] + sum_{k=0}^{K-1} sum_c w[o, c, k] * x[n, c, t - d*(K-1-k)]

with x = 0 at negative times, i.e. a left zero padding of ``d*(K-1)`` and no right
padding, so y has the length T of x.  Tap k reads the shift ``s_k = d*(K-1-k)``
(``kernels.taps.causal_taps_1d`` gives ``-s_k``).  Gradients::

    gx[n, c, t] = sum_k sum_o w[o, c, k] * gy[n, o, t + s_k]      (t + s_k < T)
    gw[o, c, k] = sum_{n, t >= s_k} gy[n, o, t] * x[n, c, t - s_k]
    gb[o]       = sum_{n, t} gy[n, o, t]

Taps with ``s_k >= T`` (kernel longer than the sequence) read only padding.

Reference:
    [1] van den Oord et al. WaveNet: A Generative Model for Raw Audio. 2016.
        https://arxiv.org/abs/1609.03499 (Section 2.1, Figure 3).
"""
import numpy as np

from ..backend import check_float as _check_float, get_array_module

__all__ = ["causal_conv1d_forward", "causal_conv1d_grad_input", "causal_conv1d_grad_weight",
           "causal_conv1d_backward"]


def check_causal_args(x_shape, w_shape, dilation):
    """Validate shapes and dilation (shared with the Numba kernels); returns the shifts s_k."""
    if int(dilation) != dilation or dilation < 1:
        raise ValueError(f"dilation must be a positive int, got {dilation!r}")
    n, cin, t = x_shape
    cout, cin_w, k = w_shape
    if cin != cin_w:
        raise ValueError(f"x has {cin} channels but the weight expects Cin={cin_w}")
    if k < 1 or t < 1:
        raise ValueError(f"kernel size and sequence length must be >= 1, got K={k}, T={t}")
    return int(dilation) * (k - 1 - np.arange(k))


# -- argument checks of the public functions, shared by the reference, Numba and CUDA kernels --
def check_forward(x, w, b, dilation):
    """Validate ``causal_conv1d_forward``'s arguments; returns the shifts s_k."""
    _check_float("x", x, ndim=3, layout="(N, C, T)")
    _check_float("w", w, x.dtype, ndim=3, layout="(Cout, Cin, K)")
    shifts = check_causal_args(x.shape, w.shape, dilation)
    if b is not None:
        _check_float("b", b, x.dtype)
        if tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"b must have shape (Cout,) = ({w.shape[0]},), got {tuple(b.shape)}")
    return shifts


def check_grad_input(gy, w):
    """Validate ``causal_conv1d_grad_input``'s arguments; returns the input's shape (N, Cin, T)."""
    _check_float("gy", gy, ndim=3, layout="(N, Cout, T)")
    _check_float("w", w, gy.dtype, ndim=3, layout="(Cout, Cin, K)")
    n, cout, t = gy.shape
    if cout != w.shape[0]:
        raise ValueError(f"gy has {cout} channels but the weight has Cout={w.shape[0]}")
    return (n, w.shape[1], t)


def check_grad_weight(x, gy):
    """Validate ``causal_conv1d_grad_weight``'s arrays."""
    _check_float("x", x, ndim=3, layout="(N, C, T)")
    _check_float("gy", gy, x.dtype, ndim=3, layout="(N, Cout, T)")
    if gy.shape[0] != x.shape[0] or gy.shape[2] != x.shape[2]:
        raise ValueError(f"gy must have shape (N, Cout, T) with N, T of x {tuple(x.shape)}, "
                         f"got {tuple(gy.shape)}")


def check_backward(gy, x, w):
    """Validate ``causal_conv1d_backward``'s arrays."""
    _check_float("gy", gy, ndim=3, layout="(N, Cout, T)")
    _check_float("x", x, gy.dtype, ndim=3, layout="(N, C, T)")
    _check_float("w", w, gy.dtype, ndim=3, layout="(Cout, Cin, K)")
    if gy.shape != (x.shape[0], w.shape[0], x.shape[2]):
        raise ValueError(f"gy must have shape (N, Cout, T) = {(x.shape[0], w.shape[0], x.shape[2])}, "
                         f"got {tuple(gy.shape)}")


def causal_conv1d_forward(x, w, b=None, dilation=1):
    """``y[n,o,t] = b[o] + sum_k sum_c w[o,c,k] * x[n,c,t - d*(K-1-k)]`` (x = 0 before t = 0).

    Args:
        x: ``(N, Cin, T)`` float32/float64.
        w: ``(Cout, Cin, K)`` same dtype.
        b: optional ``(Cout,)``.
        dilation: d >= 1.

    Returns:
        y: ``(N, Cout, T)``.
    """
    shifts = check_forward(x, w, b, dilation)
    cout, t = w.shape[0], x.shape[2]
    xp = get_array_module(x)
    pad = int(shifts[0])
    xpad = xp.pad(x, ((0, 0), (0, 0), (pad, 0)))              # (N, Cin, pad + T)
    y = xp.zeros((x.shape[0], cout, t), dtype=x.dtype)
    for k, s in enumerate(shifts):
        window = xpad[:, :, pad - s:pad - s + t]                # x[..., t - s]
        y += xp.einsum("oc,nct->not", w[:, :, k], window)
    if b is not None:
        y += b[None, :, None]
    return y


def causal_conv1d_grad_input(gy, w, dilation=1):
    """``gx[n,c,t] = sum_k sum_o w[o,c,k] * gy[n,o,t + d*(K-1-k)]`` (gy = 0 at t >= T).

    Args:
        gy: ``(N, Cout, T)``.
        w: ``(Cout, Cin, K)``.

    Returns:
        gx: ``(N, Cin, T)``.
    """
    n, _, t = check_grad_input(gy, w)
    shifts = check_causal_args((n, w.shape[1], t), w.shape, dilation)
    xp = get_array_module(gy)
    pad = int(shifts[0])
    gypad = xp.pad(gy, ((0, 0), (0, 0), (0, pad)))            # (N, Cout, T + pad)
    gx = xp.zeros((n, w.shape[1], t), dtype=gy.dtype)
    for k, s in enumerate(shifts):
        gx += xp.einsum("oc,not->nct", w[:, :, k], gypad[:, :, s:s + t])
    return gx


def causal_conv1d_grad_weight(x, gy, kernel_size, dilation=1, bias=False):
    """``gw[o,c,k] = sum_{n,t} gy[n,o,t] * x[n,c,t - d*(K-1-k)]``, and ``gb[o] = sum gy`` if ``bias``.

    Returns:
        gw ``(Cout, Cin, K)``, or ``(gw, gb)`` when ``bias``.
    """
    check_grad_weight(x, gy)
    k = int(kernel_size)
    cout, cin = gy.shape[1], x.shape[1]
    shifts = check_causal_args(x.shape, (cout, cin, k), dilation)
    xp = get_array_module(x)
    pad = int(shifts[0])
    t = x.shape[2]
    xpad = xp.pad(x, ((0, 0), (0, 0), (pad, 0)))
    gw = xp.zeros((cout, cin, k), dtype=x.dtype)
    for j, s in enumerate(shifts):
        gw[:, :, j] = xp.einsum("not,nct->oc", gy, xpad[:, :, pad - s:pad - s + t])
    if bias:
        return gw, gy.sum(axis=(0, 2))
    return gw


def causal_conv1d_backward(gy, x, w, dilation=1, bias=False, input_grad=True):
    """Both backward passes at once: ``(gx, gw, gb)``.

    gx is None unless ``input_grad``, gb is None unless ``bias``.
    """
    gx = causal_conv1d_grad_input(gy, w, dilation) if input_grad else None
    res = causal_conv1d_grad_weight(x, gy, w.shape[2], dilation, bias)
    gw, gb = res if bias else (res, None)
    return gx, gw, gb
