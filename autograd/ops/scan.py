"""Scans: the cumulative sum along one axis.

    y_i = sum_{j <= i} x_j                      (along ``axis``)
    dL/dx_j = sum_{i >= j} dL/dy_i              (the reversed cumulative sum of gy)

NADE's O(HD) forward keeps a running sum of ``W[:, j] x_j`` over the pixels
(minigen/models/autoregressive/nade.py): one cumulative sum computes every
``a_i`` of the recurrence ``a_{i+1} = a_i + W[:, i] x_i`` at once.
"""
from kernels.backend import get_array_module

from ..function import Function
from .shape import flip


class CumSum(Function):
    """y = cumulative sum of x along ``axis``;  gx = flip(cumsum(flip(gy))) along that axis"""
    def forward(self, x, axis=0):
        if not -x.ndim <= axis < max(x.ndim, 1):
            raise ValueError(f"axis {axis} is out of range for an array of {x.ndim} dimensions")
        self.axis = axis % x.ndim
        return get_array_module(x).cumsum(x, axis=self.axis).astype(x.dtype, copy=False)

    def backward(self, gy):
        return flip(cumsum(flip(gy, self.axis), self.axis), self.axis)


def cumsum(x, axis=0):
    """Cumulative sum along ``axis`` (an int): ``y[..., i, ...] = sum_{j <= i} x[..., j, ...]``."""
    return CumSum()(x, axis=axis)
