"""Scans: the cumulative sum along one axis.

    y_i = sum_{j <= i} x_j                      (along ``axis``)
    dL/dx_j = sum_{i >= j} dL/dy_i              (the reversed cumulative sum of gy)

NADE's O(HD) forward keeps a running sum of ``W[:, j] x_j`` over the pixels
(minigen/models/autoregressive/nade.py): one cumulative sum computes every
``a_i`` of the recurrence ``a_{i+1} = a_i + W[:, i] x_i`` at once.
"""
import numpy as np

from kernels.backend import get_array_module

from ..function import Function
from .shape import flip


ROW_LOOP_MIN = 256   # slices of at least this many elements: add them one by one (below)


def _cumsum(x, axis):
    """NumPy's cumsum, or, when each slice along ``axis`` is large, the running sum written out
    ``y[i] = y[i - 1] + x[i]`` on contiguous slices: the same additions in the same order
    (so the same numbers), but NumPy's strided accumulate is some 20x slower on arrays such
    as NADE's (64, 64, 256)."""
    xp = get_array_module(x)
    if xp is not np or x.shape[axis] < 2 or x.size // x.shape[axis] < ROW_LOOP_MIN:
        return xp.cumsum(x, axis=axis).astype(x.dtype, copy=False)
    y = np.moveaxis(x, axis, 0).copy()                # (n, ...) contiguous slices
    for i in range(1, len(y)):
        np.add(y[i - 1], y[i], out=y[i])
    return np.ascontiguousarray(np.moveaxis(y, 0, axis))


class CumSum(Function):
    """y = cumulative sum of x along ``axis``;  gx = flip(cumsum(flip(gy))) along that axis"""
    def forward(self, x, axis=0):
        if not -x.ndim <= axis < max(x.ndim, 1):
            raise ValueError(f"axis {axis} is out of range for an array of {x.ndim} dimensions")
        self.axis = axis % x.ndim
        return _cumsum(x, self.axis)

    def backward(self, gy):
        return flip(cumsum(flip(gy, self.axis), self.axis), self.axis)


def cumsum(x, axis=0):
    """Cumulative sum along ``axis`` (an int): ``y[..., i, ...] = sum_{j <= i} x[..., j, ...]``."""
    return CumSum()(x, axis=axis)
