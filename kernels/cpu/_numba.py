"""Numba helpers shared by the CPU kernels: one ``njit`` reading the config.

Set ``NUMBA_DISABLE_JIT=1`` to run every kernel as plain Python (pdb, coverage).
"""
from types import FunctionType

import numba
import numpy as np

from .. import config

numba.config.THREADING_LAYER = config.THREADING_LAYER
numba.config.THREADING_LAYER_PRIORITY = config.THREADING_LAYER_PRIORITY


def njit(*args, parallel=False, **kwargs):
    """``numba.njit`` with the project's defaults: cache=True and the config's fastmath set."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("fastmath", config.FASTMATH)
    kwargs.setdefault("error_model", "numpy")
    if args and callable(args[0]):
        return numba.njit(parallel=parallel, **kwargs)(args[0])
    return numba.njit(*args, parallel=parallel, **kwargs)


@njit(parallel=True)
def _touch_pool(a):
    for i in numba.prange(a.size):
        a[i] = i


def threading_layer():
    """The threading layer Numba chose ('omp' or 'workqueue'): it is picked at the first
    parallel launch, so launch a trivial one first."""
    _touch_pool(np.zeros(2))
    return numba.threading_layer()


def use_parallel(n_elements):
    """Run parallel only when the work is big enough to pay for the thread launch."""
    return n_elements >= config.PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1


def split_range(n, n_parts):
    """Boundaries of ``n_parts`` nearly equal chunks of ``range(n)`` (for per-thread partials)."""
    n_parts = max(1, min(n_parts, n))
    step, extra = divmod(n, n_parts)
    bounds = [0]
    for i in range(n_parts):
        bounds.append(bounds[-1] + step + (1 if i < extra else 0))
    return bounds


def serial_twin(fn):
    """A copy of ``fn`` under another name, to compile without ``parallel``.

    Numba's on-disk cache keys entries by function name and bytecode, not by compile
    flags, so ``njit(fn)`` and ``njit(parallel=True)(fn)`` of one function would load
    each other's machine code from the cache.  The copy gets its own cache entry.
    """
    twin = FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                        fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    return twin
