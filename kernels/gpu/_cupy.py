"""CuPy, imported on first use; memoized kernels (Chainer's ``@memoize``); launch helpers.

Nothing here imports CuPy at import time, so ``import kernels.gpu`` works on any machine
and fails only when a GPU kernel is called without CuPy.  ``use_module`` swaps the
array module for a stand-in with CuPy's interface (the CPU tests' host emulation in
``tests/kernels/gpu/hostcupy.py``), which is how the launchers below run in CI.
"""
import numpy as np

from .. import config
from . import _sources

_module = None          # the cupy module (or a stand-in installed by use_module)
_KERNELS = {}           # (name, dtype char) -> compiled RawKernel
_CONSTANTS = {}         # host bytes -> device copy of small int32 tables (tap offsets)


def cupy():
    """The CuPy module, imported on first use (a clear error when it is missing)."""
    global _module
    if _module is None:
        try:
            import cupy as cp
        except ImportError:
            raise RuntimeError("the CUDA kernels need CuPy (pip install -e .[gpu]) on a machine "
                               "with an NVIDIA GPU") from None
        _module = cp
    return _module


def use_module(module):
    """Use ``module`` as the array module (None = import CuPy again); drops memoized kernels."""
    global _module
    _module = module
    _KERNELS.clear()
    _CONSTANTS.clear()


def kernel(name, dtype):
    """The compiled kernel ``name`` for ``dtype``, built once per process (memoized)."""
    key = (name, np.dtype(dtype).char)
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = cupy().RawKernel(_sources.source(name, dtype), name,
                                             options=config.CUDA_OPTIONS)
    return k


def grid_1d(total):
    """Blocks for a grid-stride loop over ``total`` items: enough to cover them, capped."""
    block = config.CUDA_BLOCK
    return max(1, min(-(-int(total) // block), config.CUDA_MAX_BLOCKS))


def launch(name, dtype, total, *args):
    """Run kernel ``name`` on a 1-D grid covering ``total`` items (grid-stride loops)."""
    kernel(name, dtype)((grid_1d(total),), (config.CUDA_BLOCK,), args)


def launch_per_sample(name, dtype, n, d, *args):
    """Run kernel ``name`` on a 2-D grid: y over the ``n`` samples, x over ``d`` features.

    Each thread covers about ``config.CUDA_ITEMS_PER_THREAD`` features of a sample, so a
    per-sample reduction (``atomicAdd`` of one partial per thread) stays cheap.
    """
    block = config.CUDA_BLOCK
    per_block = block * config.CUDA_ITEMS_PER_THREAD
    gx = max(1, min(-(-int(d) // per_block), config.CUDA_MAX_BLOCKS))
    gy = max(1, min(int(n), config.CUDA_MAX_GRID_Y))
    kernel(name, dtype)((gx, gy), (block,), args)


def i32(v):
    """A C ``int`` kernel argument (CuPy would pass a Python int as int64)."""
    return np.int32(v)


def i64(v):
    """A C ``long long`` kernel argument."""
    return np.int64(v)


def device_constant(host):
    """A device copy of a small host int32 table, made once per distinct content.

    Copying the same few bytes to the GPU on every call would synchronise the stream.
    """
    host = np.ascontiguousarray(host, dtype=np.int32)
    key = (host.shape, host.tobytes())
    dev = _CONSTANTS.get(key)
    if dev is None:
        dev = _CONSTANTS[key] = cupy().asarray(host)
    return dev


def contiguous(a, dtype=None):
    """``a`` as a C-contiguous device array (a kernel reads raw pointers, not strides)."""
    return cupy().ascontiguousarray(a, dtype=dtype)


def share_docs(module_globals, ref, names):
    """The reference docstrings are the documentation of the GPU wrappers."""
    for name in names:
        module_globals[name].__doc__ = getattr(ref, name).__doc__
