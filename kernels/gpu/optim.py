"""The fused Adam / AdamW step on the GPU: one kernel, one pass over p, g, m, v.

Same name, arguments, validation and errors as ``kernels/reference/optim.py`` (whose
docstring, with the equations, this function carries); the CUDA source is
``adam_step`` in ``kernels/gpu/_sources_optim.py``.  p, m and v are updated in place,
so they must be C-contiguous; a strided gradient is copied first.
"""
import numpy as np

from ..reference import optim as ref
from ..reference.optim import adam_scalars, check_adam_args
from ._cupy import contiguous, i32, i64, launch, share_docs

__all__ = ["adam_step"]

NO_DECAY, DECOUPLED, L2 = 0, 1, 2


def adam_step(p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    check_adam_args(p, g, m, v)
    for name, a in (("the parameter", p), ("exp_avg m", m), ("exp_avg_sq v", v)):
        if not a.flags.c_contiguous:
            raise ValueError(f"adam_step: {name} must be C-contiguous (it is updated in place), got "
                             f"strides {a.strides} for shape {a.shape}")
    step_size, inv_sqrt_bias2 = adam_scalars(lr, beta1, beta2, step)
    mode = NO_DECAY if not weight_decay else DECOUPLED if decoupled else L2
    real = np.dtype(p.dtype).type            # every scalar rounded to p's dtype, as NumPy does
    if p.size:
        launch("adam_step", p.dtype, p.size, p, contiguous(g), m, v, i64(p.size), i32(mode),
               real(1.0 - lr * weight_decay), real(weight_decay), real(beta1), real(1.0 - beta1),
               real(beta2), real(1.0 - beta2), real(inv_sqrt_bias2), real(eps), real(step_size))


share_docs(globals(), ref, __all__)
