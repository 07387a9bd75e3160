"""One Adam / AdamW step in one pass over memory, in Numba.

Same function and equations as ``kernels/reference/optim.py`` (read that first).  The
twin makes about ten NumPy passes over p, g, m and v; here each element is read once
and p, m, v written once.  Per element i, with every scalar already in p's dtype::

    p_i <- p_i * (1 - lr * wd)                          (decoupled decay)
    g    = g_i + wd * p_i                               (L2 decay) or g_i
    m_i <- m_i * beta1 + g * (1 - beta1)
    v_i <- v_i + ... = v_i * beta2 + (g * g) * (1 - beta2)
    p_i <- p_i - (m_i / (sqrt(v_i) * inv_sqrt_bias2 + eps)) * step_size

in the twin's order and without fastmath (no fused multiply-add, no approximate
reciprocal or square root), so the results equal the twin's to the last bit.
Tensors of at least ``config.PARALLEL_MIN_ELEMENTS`` elements are split into one
contiguous chunk per thread (``thread_bounds``, ``prange``); smaller ones run the serial
build of the driver (``parallel_driver``).
"""
import numpy as np
from numba import prange

from ..reference import optim as ref
from ..reference.optim import adam_scalars, check_adam_args
from ._numba import njit, parallel_driver, share_docs, thread_bounds

__all__ = ["adam_step"]

NO_DECAY, DECOUPLED, L2 = 0, 1, 2


@njit(fastmath=False)
def _adam_chunk(p, g, m, v, mode, keep, wd, beta1, c1, beta2, c2, inv_sqrt_bias2, eps, step_size):
    """Every element of the 1-D arrays (the module docstring's five lines).

    The loop starts at 0 (a chunk is a slice): an index known to be >= 0 needs no
    negative-index wraparound, so LLVM vectorises the loop.
    """
    for i in range(p.shape[0]):
        pi = p[i]
        gi = g[i]
        if mode == DECOUPLED:
            pi = pi * keep
        elif mode == L2:
            gi = gi + wd * pi
        mi = m[i] * beta1 + gi * c1
        vi = v[i] * beta2 + (gi * gi) * c2
        m[i] = mi
        v[i] = vi
        p[i] = pi - (mi / (np.sqrt(vi) * inv_sqrt_bias2 + eps)) * step_size


@parallel_driver(fastmath=False)
def _adam_driver(p, g, m, v, bounds, mode, keep, wd, beta1, c1, beta2, c2, inv_sqrt_bias2, eps,
                 step_size):
    for b in prange(bounds.shape[0] - 1):
        lo, hi = bounds[b], bounds[b + 1]
        _adam_chunk(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], mode, keep, wd, beta1, c1, beta2, c2,
                    inv_sqrt_bias2, eps, step_size)


def _flat(name, a, writable):
    """A 1-D view of ``a`` (written in place, so never a copy when ``writable``)."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if writable:
        raise ValueError(f"adam_step: {name} must be C-contiguous (it is updated in place), got "
                         f"strides {a.strides} for shape {a.shape}")
    return np.ascontiguousarray(a).reshape(-1)


def adam_step(p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    check_adam_args(p, g, m, v)
    for name, a in (("the parameter", p), ("exp_avg m", m), ("exp_avg_sq v", v)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"adam_step: {name} must be a NumPy array, got {type(a).__name__}")
    step_size, inv_sqrt_bias2 = adam_scalars(lr, beta1, beta2, step)
    mode = NO_DECAY if not weight_decay else DECOUPLED if decoupled else L2
    real = p.dtype.type            # every scalar rounded to p's dtype, as NumPy does
    pf, gf, mf, vf = (_flat("the parameter", p, True), _flat("the gradient", g, False),
                      _flat("exp_avg m", m, True), _flat("exp_avg_sq v", v, True))
    bounds = thread_bounds(p.size, p.size)
    _adam_driver(pf, gf, mf, vf, bounds, mode, real(1.0 - lr * weight_decay), real(weight_decay),
                 real(beta1), real(1.0 - beta1), real(beta2), real(1.0 - beta2), real(inv_sqrt_bias2),
                 real(eps), real(step_size), threads=len(bounds) - 1)


share_docs(globals(), ref)
