"""Softmax cross-entropy of integer targets as one fused Function.

Equations in ``kernels/reference/cross_entropy.py``.  The fused Function replaces the
composite ``softmax_cross_entropy_composite``::

    loss = -sum_k onehot(t)_k * log_softmax(z)_k = logsumexp(z) - z_t

about eight primitive ops forward (max, subtract, exp, sum, log, add, subtract,
select) and more backward, each a full pass over the logits, and a log-probability
tensor as large as the logits kept for backward.  The fused forward reads z once and
keeps one logsumexp per position; its backward is one pass,
``gz = gy * (softmax(z) - onehot(t))``.  It is not itself differentiable: double
backward raises and names that composite.
"""
import kernels

from ..function import Function
from .reduce import sum as reduce_sum

__all__ = ["SoftmaxCrossEntropy", "softmax_cross_entropy", "softmax_cross_entropy_composite"]


class SoftmaxCrossEntropy(Function):
    """loss = logsumexp(z) - z[t] per position, classes along ``axis``; t is not differentiated.

    Derivative (kernels/reference/cross_entropy.py): gz = gy * (softmax(z) - onehot(t)),
    softmax(z) = exp(z - logsumexp(z)) from the saved logsumexp.
    """
    differentiable_backward = False
    composite = ("autograd.ops.cross_entropy.softmax_cross_entropy_composite "
                 "(-onehot * log_softmax summed over the classes, from primitives)")

    def forward(self, z, target=None, axis=1):
        loss, lse = kernels.softmax_cross_entropy_forward(z, target, axis)
        self.save_for_backward(z)
        self.target, self.lse, self.axis = target, lse, axis
        return loss

    def backward(self, gy):
        (z,) = self.saved_tensors
        gz = kernels.softmax_cross_entropy_backward(gy.data, z.data, self.target, self.lse, self.axis)
        return type(gy)(gz)


def _target(logits, target):
    """Integer targets as an array on the logits' device (a Tensor's data, a list, an array)."""
    target = getattr(target, "data", target)
    return logits.xp.asarray(target)


def softmax_cross_entropy(logits, target, axis=1):
    """Per-position negative log-likelihood ``-log softmax(logits)[target]`` along ``axis``.

    Args:
        logits: float Tensor, the K classes along ``axis``.
        target: integer class indices in [0, K) (array or Tensor), logits' shape without ``axis``.
        axis: the class axis.

    Returns:
        a Tensor of target's shape (no reduction).
    """
    return SoftmaxCrossEntropy()(logits, target=_target(logits, target), axis=int(axis))


def softmax_cross_entropy_composite(logits, target, axis=1):
    """``softmax_cross_entropy`` from primitives (differentiable twice; the fused op's twin)."""
    from ..functional import log_softmax     # autograd.functional imports this package
    from ..tensor import Tensor
    xp, t = logits.xp, _target(logits, target)
    axis %= logits.ndim
    K = logits.shape[axis]
    classes = xp.arange(K).reshape((1,) * axis + (K,) + (1,) * (logits.ndim - axis - 1))
    onehot = Tensor((classes == xp.expand_dims(t, axis)).astype(logits.dtype))
    return -reduce_sum(log_softmax(logits, axis) * onehot, axis=axis)
