"""One Adam / AdamW step on raw arrays, in place: the specification.

Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, for one parameter array p,
its gradient g and its moment estimates m, v (t = step, 1 on the first step)::

    p <- p * (1 - lr * wd)                     decoupled decay (AdamW, Loshchilov & Hutter 2019)
    g <- g + wd * p                            or L2 decay through the gradient (Adam)
    m <- beta1 * m + (1 - beta1) * g           first-moment estimate
    v <- beta2 * v + (1 - beta2) * g^2         second raw-moment estimate
    p <- p - lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)

computed, as PyTorch does, without forming m_hat and v_hat::

    step_size = lr / (1 - beta1^t)
    denom     = sqrt(v) / sqrt(1 - beta2^t) + eps
    p        <- p - step_size * m / denom

Every scalar is rounded to p's dtype before it multiplies an array (NumPy's rule for a
Python float and an array), and the order of the operations below is the order of the
CPU kernel (compiled without fastmath), so its results agree with this twin's to the
last bit, in float32 too; the GPU kernel may fuse a multiply-add (last-bit differences).
This twin makes about ten passes over memory; ``kernels/cpu/optim.py`` makes one.
"""
import math

import numpy as np

from ..backend import get_array_module

__all__ = ["adam_step"]


def check_adam_args(p, g, m, v):
    """Shapes and dtypes of an Adam step, as clear errors (shared by every backend)."""
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"adam_step: the parameter must be float32 or float64, got {p.dtype}")
    for name, a in (("gradient", g), ("exp_avg m", m), ("exp_avg_sq v", v)):
        if a.shape != p.shape:
            raise ValueError(f"adam_step: {name} must have the parameter's shape {tuple(p.shape)}, "
                             f"got {tuple(a.shape)}")
        if a.dtype != p.dtype:
            raise TypeError(f"adam_step: {name} must have the parameter's dtype {p.dtype}, got {a.dtype}")


def adam_scalars(lr, beta1, beta2, step):
    """(step_size, 1 / sqrt(1 - beta2^t)): the bias corrections of step t, as Python floats."""
    if step < 1:
        raise ValueError(f"adam_step: step={step!r} must be >= 1 (the first step is 1)")
    return lr / (1.0 - beta1 ** step), 1.0 / math.sqrt(1.0 - beta2 ** step)


def adam_step(p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """One Adam (``decoupled=False``) or AdamW step: updates p, m and v in place (module docstring).

    Args:
        p: the parameter, float32 or float64; changed in place.
        g: its gradient (same shape and dtype); read, never written.
        m, v: the first and second moment estimates (``exp_avg``, ``exp_avg_sq``); changed in place.
        lr, beta1, beta2, eps, weight_decay: the hyper-parameters (Python floats).
        decoupled: True for AdamW's decay ``p <- p * (1 - lr * wd)``, False for L2 ``g + wd * p``.
        step: t, the number of this step (1 on the first).

    Returns:
        None (the arrays are updated in place).
    """
    check_adam_args(p, g, m, v)
    xp = get_array_module(p)
    step_size, inv_sqrt_bias2 = adam_scalars(lr, beta1, beta2, step)
    wd = weight_decay
    buf = xp.empty_like(p)
    if wd and decoupled:
        p *= 1.0 - lr * wd                                  # p = p - lr * wd * p   (AdamW)
    elif wd:
        g = g + wd * p                                      # g = g + wd * p        (L2)
    m *= beta1                                              # m = beta1 * m + (1 - beta1) * g
    m += xp.multiply(g, 1.0 - beta1, out=buf)
    v *= beta2                                              # v = beta2 * v + (1 - beta2) * g^2
    xp.multiply(g, g, out=buf)
    buf *= 1.0 - beta2
    v += buf
    denom = xp.sqrt(v, out=buf)                             # denom = sqrt(v) / sqrt(bias2) + eps
    denom *= inv_sqrt_bias2
    denom += eps
    update = xp.divide(m, denom, out=buf)                   # p = p - step_size * m / denom
    update *= step_size
    p -= update
