"""Reductions: Sum and Max. Mean and Min are composed from them.

(This module defines ``sum``/``max``/``min`` like NumPy, so Python's own are
reached as ``builtins.max``.)
"""
import builtins

from kernels.backend import get_array_module

from ..function import Function
from .shape import broadcast_to, reshape


def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axis:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(out))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """y = sum of x over ``axis``;  dy/dx = 1 (gy is broadcast back to x's shape)"""
    def forward(self, x, axis=None, keepdims=False):
        self.axes = _normalize_axis(axis, x.ndim)
        self.x_shape = x.shape
        return x.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, gy):
        gy = reshape(gy, _keepdims_shape(self.x_shape, self.axes))
        return broadcast_to(gy, self.x_shape)


class Max(Function):
    """y = max of x over ``axis``;  dy/dx = [x == y] / (number of maxima): ties split evenly"""
    def forward(self, x, axis=None, keepdims=False):
        xp = get_array_module(x)
        self.axes = _normalize_axis(axis, x.ndim)
        self.x_shape = x.shape
        y = x.max(axis=self.axes, keepdims=True)
        mask = (x == y)
        self.save_for_backward((mask / mask.sum(axis=self.axes, keepdims=True)).astype(x.dtype))
        return y if keepdims else xp.squeeze(y, axis=self.axes)

    def backward(self, gy):
        (share,) = self.saved_tensors
        gy = reshape(gy, _keepdims_shape(self.x_shape, self.axes))
        return broadcast_to(gy, self.x_shape) * share


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum over ``axis`` (None = all axes)."""
    return Sum()(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``, composed as ``sum / count``."""
    axes = _normalize_axis(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(x, axis, keepdims) * (1.0 / count if count else float("nan"))


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; the gradient is shared evenly among tied maxima."""
    return Max()(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``, composed as ``-max(-x)``."""
    return -max(-x, axis, keepdims)
