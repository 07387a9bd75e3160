"""Composite functions: built from primitives, with NO backward code of their own.

Their gradients come from the primitives they are made of, and the op table
gradchecks each of them like a primitive. Each is written in its numerically
stable form, so it stays finite at extreme inputs:

    logsumexp(x)    = m + log(sum(exp(x - m))),  m = max(x) held constant
                      (m is detached: the gradient is exactly softmax(x) for any m)
    softplus(x)     = log(1 + exp(x)) = logaddexp(x, 0), computed as above
    log_sigmoid(x)  = -softplus(-x)
    log_softmax(x)  = x - logsumexp(x)
    softmax(x)      = exp(log_softmax(x))
"""
import math

from . import ops
from .tensor import Tensor


def _detached_max(x, axis, keepdims=True):
    """max(x) as a constant, with -inf rows replaced by 0 so x - m stays finite."""
    xp = x.xp
    m = x.data.max(axis=axis, keepdims=keepdims) if x.size else xp.zeros(())
    return Tensor(xp.where(xp.isfinite(m), m, 0).astype(x.dtype))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, stable for large |x|; gradient = softmax(x)."""
    m = _detached_max(x, axis)
    y = m + ops.log(ops.sum(ops.exp(x - m), axis=axis, keepdims=True))
    return y if keepdims else ops.squeeze(y, axis) if axis is not None else ops.reshape(y, ())


def softplus(x):
    """log(1 + exp(x)), finite for any x; derivative sigmoid(x)."""
    m = Tensor(x.xp.maximum(x.data, 0))  # constant shift; exact gradient for any shift
    return m + ops.log(ops.exp(x - m) + ops.exp(-m))


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    return -softplus(-x)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) over ``axis``."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    """exp(x - logsumexp(x)) over ``axis``."""
    return ops.exp(log_softmax(x, axis))


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (exp only sees min(x, 0): no overflow)."""
    return ops.where(x.data > 0, x, alpha * (ops.exp(ops.minimum(x, 0.0)) - 1))


def gelu(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1 + ops.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance: mean of squared deviations (divided by n - ddof)."""
    d = x - ops.mean(x, axis=axis, keepdims=True)
    n = x.size if axis is None else int(_count(x.shape, axis))
    return ops.sum(d * d, axis=axis, keepdims=keepdims) * (1.0 / (n - ddof))


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation, sqrt(var)."""
    return ops.sqrt(var(x, axis, keepdims, ddof))


def pad_circular(x, padding):
    """Periodic padding of the last two axes (a torus): ``padding`` rows / columns of the
    opposite edge are copied around (PyTorch's ``padding_mode="circular"``). Built from
    slices and concatenation, so its gradient (each padded copy sends its gradient back
    to the value it copies) and second derivative come from those primitives.

        pad_circular(x, 1)[..., 0, 1:-1] == x[..., -1, :]     (the row above row 0 is row H-1)
    """
    p = int(padding)
    H, W = x.shape[-2:]
    if not 0 <= p <= min(H, W):
        raise ValueError(f"pad_circular needs 0 <= padding <= min(H, W) = {min(H, W)}, got {padding}")
    if p == 0:
        return x
    x = ops.concatenate([x[..., H - p:, :], x, x[..., :p, :]], axis=x.ndim - 2)   # (..., H + 2p, W)
    return ops.concatenate([x[..., W - p:], x, x[..., :p]], axis=x.ndim - 1)      # (..., H + 2p, W + 2p)


def _count(shape, axis):
    axes = (axis,) if isinstance(axis, int) else axis
    n = 1
    for a in axes:
        n *= shape[a]
    return n


COMPOSITES = ["logsumexp", "softplus", "log_sigmoid", "log_softmax", "softmax", "elu", "gelu",
              "var", "std", "pad_circular"]
