"""Softmax cross-entropy of integer targets, fused: the specification.

For logits z with the K classes along ``axis`` and an integer target t per position
(z's shape without ``axis``), the negative log-likelihood of t under softmax(z) is::

    loss = -log softmax(z)[t] = logsumexp(z) - z[t]
    logsumexp(z) = m + log sum_k exp(z_k - m),   m = max_k z_k     (stable: every exponent <= 0)

Backward, with gy the gradient of loss at each position::

    gz_k = gy * (softmax(z)_k - [k == t]),   softmax(z)_k = exp(z_k - logsumexp(z))

so backward needs only z, t and the per-position logsumexp (one number per position,
K times smaller than the log-probabilities the composite keeps).  The composite,
``-take_along_axis(log_softmax(z), t)``, makes about eight passes forward and more
backward; the fused kernels read z once forward and once backward.
"""
import numpy as np

from ..backend import get_array_module

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


def check_cross_entropy_args(z, target, axis, gy=None, lse=None, check_range=True):
    """Shapes, dtypes and (for NumPy targets, unless ``check_range`` is False) the target range
    of a cross-entropy call, as clear errors; returns the axis >= 0."""
    if z.dtype not in (np.float32, np.float64):
        raise TypeError(f"softmax_cross_entropy: logits must be float32 or float64, got {z.dtype}")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"softmax_cross_entropy: axis={axis} is out of range for logits of shape "
                         f"{tuple(z.shape)}")
    axis %= z.ndim
    expected = tuple(z.shape[:axis] + z.shape[axis + 1:])
    if tuple(target.shape) != expected or target.dtype.kind not in "iu":
        raise ValueError(f"softmax_cross_entropy: logits of shape {tuple(z.shape)} (classes on axis "
                         f"{axis}) need integer targets of shape {expected}, got {target.dtype} "
                         f"{tuple(target.shape)}")
    K = z.shape[axis]
    # the range is checked for host (NumPy) targets only: on a GPU it would synchronise every
    # step; there the CUDA kernel (kernels/gpu/cross_entropy.py) gives such a position a NaN loss
    host = check_range and isinstance(target, np.ndarray)
    if host and target.size and (int(target.min()) < 0 or int(target.max()) >= K):
        raise ValueError(f"softmax_cross_entropy: targets must be class indices in [0, {K}), got values in "
                         f"[{int(target.min())}, {int(target.max())}]")
    for name, a in (("gy", gy), ("lse", lse)):
        if a is not None and (tuple(a.shape) != expected or a.dtype != z.dtype):
            raise ValueError(f"softmax_cross_entropy: {name} must be {z.dtype} of shape {expected}, "
                             f"got {a.dtype} {tuple(a.shape)}")
    return axis


def softmax_cross_entropy_forward(z, target, axis=1):
    """Per-position ``logsumexp(z) - z[target]`` (module docstring).

    Args:
        z: float logits, the classes along ``axis``.
        target: integer class indices in [0, K), z's shape without ``axis``.
        axis: the class axis.

    Returns:
        ``(loss, lse)``, both of target's shape and z's dtype: the negative
        log-likelihood per position and the logsumexp backward needs.
    """
    axis = check_cross_entropy_args(z, target, axis)
    xp = get_array_module(z)
    t = xp.expand_dims(target.astype(np.int64), axis)
    m = z.max(axis=axis, keepdims=True)
    lse = m + xp.log(xp.exp(z - m).sum(axis=axis, keepdims=True))
    loss = lse - xp.take_along_axis(z, t, axis=axis)
    return xp.squeeze(loss, axis), xp.squeeze(lse, axis)


def softmax_cross_entropy_backward(gy, z, target, lse, axis=1):
    """``gz = gy * (softmax(z) - onehot(target))`` (module docstring), z's shape and dtype."""
    axis = check_cross_entropy_args(z, target, axis, gy=gy, lse=lse)
    xp = get_array_module(z)
    K = z.shape[axis]
    classes = xp.arange(K).reshape((1,) * axis + (K,) + (1,) * (z.ndim - axis - 1))
    onehot = classes == xp.expand_dims(target, axis)
    p = xp.exp(z - xp.expand_dims(lse, axis))
    return (p - onehot.astype(z.dtype)) * xp.expand_dims(gy, axis)
