"""CUDA kernels through CuPy, under the same module and function names as ``kernels/reference``.

    conv.py            conv2d and transposed conv: im2col + cuBLAS GEMM + col2im
    masked_conv.py     masked conv over the live taps only (PixelCNN)
    causal_conv1d.py   causal dilated conv1d (WaveNet)
    coupling.py        fused affine coupling forward / inverse / backward (RealNVP)
    spline.py          rational-quadratic spline forward / inverse / backward (spline flows)
    optim.py           the fused Adam / AdamW step (minigen.optim)
    cross_entropy.py   softmax cross-entropy forward / backward
    _sources.py        every CUDA C source, as plain strings (compiled and CPU-checked in CI)
    _tapgemm.py        the tap convolution all three conv families share
    _cupy.py           lazy CuPy import, memoized kernels, launch helpers

Importing this package does not import CuPy; the first kernel call does.  Kernels not
listed here (pooling, upsampling, bias gradients) run as their reference twins, which
are written with ``xp`` and work on CuPy arrays.  See docs/gpu.md for what has been
compiled, what has been checked on the CPU, and what has run on a GPU.
"""
from .conv import *            # noqa: F401,F403
from .masked_conv import *     # noqa: F401,F403
from .causal_conv1d import *   # noqa: F401,F403
from .coupling import *        # noqa: F401,F403
from .spline import *          # noqa: F401,F403
from .optim import *           # noqa: F401,F403
from .cross_entropy import *   # noqa: F401,F403
from . import conv, masked_conv, causal_conv1d, coupling, spline, optim, cross_entropy

__all__ = [name for mod in (conv, masked_conv, causal_conv1d, coupling, spline, optim, cross_entropy)
           for name in mod.__all__]
