"""Helpers shared by every CPU kernel: one ``njit``, one way to build and run drivers.

* ``njit``: ``numba.njit`` with the project's defaults (on-disk cache, the config's fastmath);
* ``parallel_driver``: a driver compiled twice, with ``parallel=True`` and as its serial
  twin, run as ``driver(*args, threads=n)`` (the serial build when n == 1: no pool launch);
* ``use_parallel`` / ``thread_bounds`` / ``split_range``: when to go parallel, how to cut the work;
* ``bias_or_empty`` and ``share_docs``: the small wrapper chores every kernel file has.

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


def thread_bounds(n_items, n_elements, can_split=True):
    """int64 boundaries of one contiguous run of ``range(n_items)`` per thread: every Numba
    thread gets one when ``n_elements`` of work pay for a parallel launch (and, for kernels
    that call BLAS, ``can_split``: BLAS can be pinned to one thread in each), else one run."""
    parts = numba.get_num_threads() if can_split and use_parallel(n_elements) else 1
    return np.array(split_range(n_items, parts), dtype=np.int64)


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


class Drivers:
    """A driver compiled twice: with ``parallel=True`` and as its serial twin.

    A driver runs ``for t in prange(...)`` over per-thread runs of work.  Calling it as
    ``driver(*args, threads=n)`` runs the parallel build when ``n > 1`` and the serial
    one otherwise (work too small to pay for waking the thread pool).
    """

    def __init__(self, fn, **options):
        self.parallel = njit(parallel=True, **options)(fn)
        self.serial = njit(serial_twin(fn), **options)
        self.__doc__ = fn.__doc__

    def __call__(self, *args, threads):
        (self.parallel if threads > 1 else self.serial)(*args)


def parallel_driver(fn=None, **options):
    """Decorator making ``fn`` a ``Drivers`` pair; ``options`` (e.g. ``fastmath=False``) go to
    both builds: ``@parallel_driver`` or ``@parallel_driver(fastmath=False)``."""
    if fn is None:
        return lambda f: Drivers(f, **options)
    return Drivers(fn, **options)


def bias_or_empty(b, dtype):
    """``b`` as a contiguous array, or an empty one of ``dtype`` for "no bias": kernels test
    ``b.size``, and Numba sees one array type either way (one compiled version)."""
    return np.zeros(0, dtype) if b is None else np.ascontiguousarray(b)


def share_docs(namespace, reference):
    """Give each wrapper named in ``namespace["__all__"]`` its reference twin's docstring:
    the reference (``kernels/reference``) documents the equations, the kernel implements them."""
    for name in namespace["__all__"]:
        namespace[name].__doc__ = getattr(reference, name).__doc__
