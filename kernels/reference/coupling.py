"""Affine coupling (RealNVP, Dinh et al. 2017 [1]), forward / inverse / gradients: plain NumPy.

RealNVP's coupling layer (eq. 6-7 of [1]) leaves one part of x unchanged and
transforms the other with a scale and shift computed from the unchanged part::

    y1 = x1,    y2 = x2 * exp(s(x1)) + t(x1),    log|det dy/dx| = sum_j s_j(x1)   (eq. 6)

These kernels do the element-wise part on arrays of equal shape ``(N, ...)``:
``x`` (= x2), ``s_raw`` and ``t`` (the network outputs).  The split into x1/x2 is the
caller's business, in one of two ways:

* channel masks: the caller slices the channels (contiguous views), no ``mask``;
* checkerboard (or any fixed) masks: pass the whole x and a 0/1 ``mask``
  (broadcastable to one sample, e.g. ``(1, H, W)``) where 1 marks the *unchanged*
  entries, eq. 9 of [1]: ``y = m*x + (1-m)*(x*exp(s) + t)``; logdet sums ``(1-m)*s``.

Optionally the scale is bounded inside the same pass, ``s = scale * tanh(s_raw)``, with
``scale`` broadcastable to one sample (e.g. per channel ``(C, 1, 1)``); without it
``s = s_raw``.  Equations (m = 0 when no mask; e = exp(s))::

    forward:  y = m*x + (1-m)*(x*e + t)              logdet[n] = sum_i (1-m_i) s[n,i]
    inverse:  x = m*y + (1-m)*(y - t)*exp(-s)        logdet[n] = -sum_i (1-m_i) s[n,i]

    forward backward, given gy and glogdet (per sample):
        gx = gy*(m + (1-m)*e)
        gt = (1-m)*gy
        gs = (1-m)*(gy*x*e + glogdet)
    inverse backward, given gx and glogdet, with x = (y-t)*exp(-s):
        gy = gx*(m + (1-m)*exp(-s))
        gt = -(1-m)*gx*exp(-s)
        gs = -(1-m)*(gx*x + glogdet)
    through the bound s = scale*tanh(s_raw):
        gs_raw = gs * scale * (1 - tanh(s_raw)^2)
        gscale = sum over the batch and broadcast axes of gs * tanh(s_raw)

For 0/1 masks, logdet is log|det J|; the kernels accept any mask values and then
follow the formulas above literally.  These functions are the specification and test
oracle of ``kernels/cpu/coupling.py`` (one fused pass each, exp recomputed in backward).

Reference:
    [1] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP. ICLR 2017.
        https://arxiv.org/abs/1605.08803 (Section 3.3, eq. 6-9).
"""
from ..backend import FLOATS, get_array_module

__all__ = ["affine_coupling_forward", "affine_coupling_inverse", "affine_coupling_backward",
           "affine_coupling_inverse_backward"]


def check_coupling_args(x, s_raw, t, scale, mask, names=("x", "s_raw", "t")):
    """Validate shapes and dtypes (shared with the Numba kernels); t may be None."""
    for name, a in zip(names, (x, s_raw, t)):
        if a is None:
            continue
        if not hasattr(a, "dtype") or not hasattr(a, "shape"):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
        if a.dtype not in FLOATS:
            raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
        if a.dtype != x.dtype:
            raise TypeError(f"{name} must have dtype {x.dtype} like {names[0]}, got {a.dtype}")
        if a.shape != x.shape:
            raise ValueError(f"{name} must have the shape of {names[0]} {tuple(x.shape)}, "
                             f"got {tuple(a.shape)}")
    if x.ndim < 1:
        raise ValueError(f"{names[0]} must have a batch axis, got a 0-d array")
    for name, a in (("scale", scale), ("mask", mask)):
        if a is None:
            continue
        if not hasattr(a, "shape"):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
        if name == "scale" and a.dtype != x.dtype:
            raise TypeError(f"scale must have dtype {x.dtype}, got {a.dtype}")
        sample = tuple(x.shape[1:])
        ok = a.ndim <= len(sample) and all(
            d == 1 or d == e for d, e in zip(a.shape[::-1], sample[::-1]))
        if not ok:
            raise ValueError(f"{name} must broadcast to one sample {sample} (e.g. per channel "
                             f"(C, 1, 1)), got shape {tuple(a.shape)}")


def _check_glogdet(glogdet, n, dtype):
    if glogdet is None:
        return
    if tuple(glogdet.shape) != (n,):
        raise ValueError(f"glogdet must have shape (N,) = ({n},), got {tuple(glogdet.shape)}")
    if glogdet.dtype != dtype:
        raise TypeError(f"glogdet must have dtype {dtype}, got {glogdet.dtype}")


def sum_to_shape(a, shape):
    """Sum ``a`` (N, ...) over the batch axis and every axis where ``shape`` broadcasts."""
    lead = a.ndim - len(shape)
    a = a.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True).reshape(shape) if axes else a.reshape(shape)


def _log_scale(s_raw, scale):
    """s = scale * tanh(s_raw), or s_raw when there is no scale."""
    xp = get_array_module(s_raw)
    return s_raw if scale is None else scale * xp.tanh(s_raw)


def _per_sample_sum(a):
    return a.reshape(a.shape[0], -1).sum(axis=1)


def affine_coupling_forward(x, s_raw, t, scale=None, mask=None):
    """``y = m*x + (1-m)*(x*exp(s) + t)``, ``logdet = sum (1-m)*s`` (``s = scale*tanh(s_raw)`` or ``s_raw``).

    Args:
        x: ``(N, ...)`` the transformed half x2 (or the whole x with ``mask``).
        s_raw, t: same shape and dtype as x (network outputs).
        scale: optional, broadcastable to one sample ``x.shape[1:]``; bounds s by tanh.
        mask: optional 0/1, broadcastable to one sample; 1 = passed through unchanged.

    Returns:
        ``(y, logdet)``: y like x, logdet ``(N,)``.
    """
    check_coupling_args(x, s_raw, t, scale, mask)
    xp = get_array_module(x)
    s = _log_scale(s_raw, scale)
    y = x * xp.exp(s) + t
    if mask is not None:
        y = mask * x + (1 - mask) * y
        s = (1 - mask) * s
    return y.astype(x.dtype, copy=False), _per_sample_sum(s).astype(x.dtype, copy=False)


def affine_coupling_inverse(y, s_raw, t, scale=None, mask=None):
    """``x = m*y + (1-m)*(y - t)*exp(-s)``, ``logdet = -sum (1-m)*s`` (the inverse map's own log-det).

    Arguments as in ``affine_coupling_forward`` with ``y`` in place of ``x``.

    Returns:
        ``(x, logdet)``.
    """
    check_coupling_args(y, s_raw, t, scale, mask, names=("y", "s_raw", "t"))
    xp = get_array_module(y)
    s = _log_scale(s_raw, scale)
    x = (y - t) * xp.exp(-s)
    if mask is not None:
        x = mask * y + (1 - mask) * x
        s = (1 - mask) * s
    return x.astype(y.dtype, copy=False), (-_per_sample_sum(s)).astype(y.dtype, copy=False)


def _through_scale(gs, s_raw, scale):
    """Chain rule through s = scale*tanh(s_raw): ``(gs_raw, gscale)``."""
    if scale is None:
        return gs, None
    xp = get_array_module(gs)
    th = xp.tanh(s_raw)
    return gs * scale * (1 - th * th), sum_to_shape(gs * th, scale.shape)


def affine_coupling_backward(gy, glogdet, x, s_raw, scale=None, mask=None, need_gt=True):
    """All input gradients of ``affine_coupling_forward`` in one pass (exp(s) recomputed).

    ``gx = gy*(m + (1-m)*e)``, ``gt = (1-m)*gy``, ``gs = (1-m)*(gy*x*e + glogdet)``,
    then ``gs_raw = gs*scale*(1 - tanh(s_raw)^2)`` and ``gscale = sum gs*tanh(s_raw)``
    when a scale is used.

    Args:
        gy: gradient w.r.t. y, like x (None = zero).
        glogdet: ``(N,)`` gradient w.r.t. logdet (None = zero).
        x, s_raw, scale, mask: the forward inputs (t is not needed).
        need_gt: False skips writing gt (returned as None): without a mask gt = gy, and
            a caller that can hand gy on saves a full memory pass.

    Returns:
        ``(gx, gs_raw, gt, gscale)``; gscale is None without a scale.
    """
    check_coupling_args(x, s_raw, gy, scale, mask, names=("x", "s_raw", "gy"))
    _check_glogdet(glogdet, x.shape[0], x.dtype)
    xp = get_array_module(x)
    gy = xp.zeros_like(x) if gy is None else gy
    gl = xp.zeros(x.shape[0], x.dtype) if glogdet is None else glogdet
    gl = gl.reshape((-1,) + (1,) * (x.ndim - 1))
    e = xp.exp(_log_scale(s_raw, scale))
    om = 1 if mask is None else 1 - mask
    gx = gy * e if mask is None else gy * (mask + om * e)
    gt = om * gy
    gs = om * (gy * x * e + gl)
    gs_raw, gscale = _through_scale(gs, s_raw, scale)
    cast = lambda a: None if a is None else xp.asarray(a, dtype=x.dtype)  # noqa: E731
    gt = xp.broadcast_to(gt, x.shape).copy() if need_gt else None
    return cast(gx), cast(gs_raw), cast(gt), cast(gscale)


def affine_coupling_inverse_backward(gx, glogdet, y, s_raw, t, scale=None, mask=None):
    """All input gradients of ``affine_coupling_inverse`` in one pass.

    With ``x = (y-t)*exp(-s)``: ``gy = gx*(m + (1-m)*exp(-s))``,
    ``gt = -(1-m)*gx*exp(-s)``, ``gs = -(1-m)*(gx*x + glogdet)``; the scale as in
    ``affine_coupling_backward``.

    Args:
        gx: gradient w.r.t. the inverse's output x (None = zero).
        glogdet: ``(N,)`` gradient w.r.t. the inverse's logdet (None = zero).
        y, s_raw, t, scale, mask: the inverse's inputs.

    Returns:
        ``(gy, gs_raw, gt, gscale)``.
    """
    check_coupling_args(y, s_raw, t, scale, mask, names=("y", "s_raw", "t"))
    if gx is not None:
        check_coupling_args(y, gx, None, None, None, names=("y", "gx", "t"))
    _check_glogdet(glogdet, y.shape[0], y.dtype)
    xp = get_array_module(y)
    gx = xp.zeros_like(y) if gx is None else gx
    gl = xp.zeros(y.shape[0], y.dtype) if glogdet is None else glogdet
    gl = gl.reshape((-1,) + (1,) * (y.ndim - 1))
    e = xp.exp(-_log_scale(s_raw, scale))
    x = (y - t) * e
    om = 1 if mask is None else 1 - mask
    gy = gx * e if mask is None else gx * (mask + om * e)
    gt = -om * gx * e
    gs = -om * (gx * x + gl)
    gs_raw, gscale = _through_scale(gs, s_raw, scale)
    cast = lambda a: None if a is None else xp.asarray(a, dtype=y.dtype)  # noqa: E731
    return cast(gy), cast(gs_raw), cast(gt), cast(gscale)
