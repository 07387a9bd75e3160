"""The one BLAS bridge of the CPU kernels: GEMM callable inside Numba, thread pinning, workspaces.

Every CPU kernel that multiplies matrices (dense conv and its Winograd path, masked and
causal conv) calls ``gemm`` below from inside ``@njit`` code, many Numba threads at
once, each on its own block of work::

    C[ic:] (m x n, row stride ldc) = op(A[ia:]) (m x k, lda) @ op(B[ib:]) (k x n, ldb) + beta * C

on flat arrays at element offsets, so a shifted or strided view of a buffer costs
nothing.  It is the CBLAS ``?gemm`` of the BLAS NumPy itself ships (OpenBLAS in the pip
wheels), registered with LLVM under a fixed symbol name so that ``cache=True`` machine
code stays valid in the next process.  Found by, in order:

1. ``dlsym`` through NumPy's extension module, which reaches the BLAS it links to
   (pip wheels: ``scipy_cblas_?gemm64_``, ILP64; other builds: ``cblas_?gemm64_`` or
   LP64 ``cblas_?gemm``);
2. the ``libscipy_openblas64_*`` file next to NumPy (``numpy.libs``, ``.dylibs``),
   where the first cannot see into the extension's dependencies.

Threads: our Numba threads are the parallelism, so BLAS must run on one thread inside
them, or two thread pools fight over the cores (docs/performance.md, "Threads").
``single_threaded()`` sets OpenBLAS's thread count to 1 around a whole parallel region
and restores it after, from the calling thread.  ``openblas_set_num_threads_local`` is
no alternative: despite its name it sets the same process-wide count (OpenBLAS 0.3.31,
measured), so workers that each save and restore it race and can leave NumPy's own
BLAS on one thread for the rest of the process.

Fallbacks: without a CBLAS ``loop_gemm`` (exact, slow; the dense conv then uses the NumPy
reference instead, ``HAS_BLAS``); with ``NUMBA_DISABLE_JIT=1`` NumPy's ``@`` on strided
views, so a student can step through any kernel with pdb.
"""
import ctypes
import glob
import math
import os
import threading
from collections import namedtuple

import numba
import numpy as np
from numba import types

from .. import config
from ._numba import njit

__all__ = ["gemm", "loop_gemm", "HAS_BLAS", "can_split", "single_threaded", "workspace", "clear_workspace"]

Cblas = namedtuple("Cblas", "sgemm dgemm ilp64 set_threads get_threads")
Cblas.__doc__ = "Addresses of ``cblas_sgemm`` / ``cblas_dgemm``, their integer width, thread setters."

# (sgemm, dgemm, ILP64?, set threads, get threads) as each kind of build names them
_NAMES = [
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True, "scipy_openblas_set_num_threads64_",
     "scipy_openblas_get_num_threads64_"),
    ("cblas_sgemm64_", "cblas_dgemm64_", True, "openblas_set_num_threads64_",
     "openblas_get_num_threads64_"),
    ("cblas_sgemm", "cblas_dgemm", False, "openblas_set_num_threads", "openblas_get_num_threads"),
]


def _libraries():
    """Candidate libraries, in order: NumPy's extension module, then the wheel's OpenBLAS."""
    try:
        from numpy._core import _multiarray_umath as mu
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as mu
    here = os.path.dirname(np.__file__)
    paths = [mu.__file__]
    for folder in (os.path.join(here, "..", "numpy.libs"), os.path.join(here, ".dylibs")):
        paths += sorted(glob.glob(os.path.join(folder, "libscipy_openblas64_*")))
    for path in paths:
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


def _find_cblas(libraries=None):
    """The first library (of ``_libraries()`` by default) and name set that has both GEMMs,
    as a ``Cblas``; None if none has."""
    addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
    for lib in _libraries() if libraries is None else libraries:
        for s, d, ilp64, set_t, get_t in _NAMES:
            try:
                fs, fd = getattr(lib, s), getattr(lib, d)
            except AttributeError:
                continue
            try:
                setter, getter = getattr(lib, set_t), getattr(lib, get_t)
                setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
            except AttributeError:  # a CBLAS without OpenBLAS's thread control (MKL, Accelerate)
                setter = getter = None
            return Cblas(addr(fs), addr(fd), ilp64, setter, getter)
    return None


CBLAS = None if numba.config.DISABLE_JIT else _find_cblas()
#: gemm is a real BLAS (CBLAS, or NumPy's ``@`` with the JIT off), not the loop fallback
HAS_BLAS = CBLAS is not None or numba.config.DISABLE_JIT

# One thread pool: from here on NumPy's OpenBLAS runs on one thread in this process (Numba's
# threads are the parallelism; ``kernels.matmul`` splits products over them).  Restoring two
# BLAS threads after each parallel region cost the diffusion U-Net's fwd+bwd 314 -> 432 ms:
# OpenBLAS's threads, woken by any product, spin on the core the next Numba region needs.
if config.PIN_BLAS_TO_ONE_THREAD and CBLAS is not None and CBLAS.set_threads is not None:
    CBLAS.set_threads(1)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@njit
def loop_gemm(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta=0.0, ta=False, tb=False):
    """The fallback when no CBLAS is found (exact, slow): ``gemm``'s contract in plain loops."""
    for i in range(m):
        row = ic + i * ldc
        for j in range(n):
            c[row + j] = 0.0 if beta == 0.0 else beta * c[row + j]
        for p in range(k):
            av = a[ia + p * lda + i] if ta else a[ia + i * lda + p]
            if tb:
                for j in range(n):
                    c[row + j] += av * b[ib + j * ldb + p]
            else:
                off = ib + p * ldb
                for j in range(n):
                    c[row + j] += av * b[off + j]


if CBLAS is not None:
    import llvmlite.binding as _ll
    _ll.add_symbol("minigen_cblas_sgemm", CBLAS.sgemm)  # linked by name, so cache=True works
    _ll.add_symbol("minigen_cblas_dgemm", CBLAS.dgemm)
    _bi = types.int64 if CBLAS.ilp64 else types.int32
    _ci = types.int32
    # cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    # pointers travel as integers (the same register as a void* on x86-64 and arm64)
    _sgemm = types.ExternalFunction("minigen_cblas_sgemm", types.void(
        _ci, _ci, _ci, _bi, _bi, _bi, types.float32, types.intp, _bi, types.intp, _bi,
        types.float32, types.intp, _bi))
    _dgemm = types.ExternalFunction("minigen_cblas_dgemm", types.void(
        _ci, _ci, _ci, _bi, _bi, _bi, types.float64, types.intp, _bi, types.intp, _bi,
        types.float64, types.intp, _bi))

    @njit
    def gemm(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta=0.0, ta=False, tb=False):
        """Row-major ``C (m x n, ldc) = op(A) @ op(B) + beta*C`` on flat arrays at offsets ia/ib/ic.

        ``op(A)`` is ``m x k``: A is stored ``m x k`` (row stride lda) or, when ``ta``, ``k x m``.
        ``op(B)`` is ``k x n``: B is stored ``k x n`` (ldb) or, when ``tb``, ``n x k``.
        """
        isz = c.itemsize
        tra = _TRANS if ta else _NO_TRANS
        trb = _TRANS if tb else _NO_TRANS
        pa = a.ctypes.data + ia * isz
        pb = b.ctypes.data + ib * isz
        pc = c.ctypes.data + ic * isz
        if isz == 4:
            _sgemm(_ROW_MAJOR, tra, trb, m, n, k, np.float32(1.0), pa, lda, pb, ldb, np.float32(beta),
                   pc, ldc)
        else:
            _dgemm(_ROW_MAJOR, tra, trb, m, n, k, 1.0, pa, lda, pb, ldb, beta, pc, ldc)

elif numba.config.DISABLE_JIT:
    def gemm(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta=0.0, ta=False, tb=False):
        """NumPy GEMM on strided views (NUMBA_DISABLE_JIT=1: step through with pdb)."""
        st = np.lib.stride_tricks.as_strided
        isz = c.itemsize
        A = st(a[ia:], (k, m), (lda * isz, isz)).T if ta else st(a[ia:], (m, k), (lda * isz, isz))
        B = st(b[ib:], (n, k), (ldb * isz, isz)).T if tb else st(b[ib:], (k, n), (ldb * isz, isz))
        C = st(c[ic:], (m, n), (ldc * isz, isz))
        prod = A @ B
        if beta == 0.0:
            C[...] = prod
        else:
            C[...] = beta * C + prod

else:
    gemm = loop_gemm


# ---------------------------------------------------------------------------------------
# BLAS threads
# ---------------------------------------------------------------------------------------

def can_split():
    """True when our threads may call ``gemm`` at once: BLAS can be pinned to one thread
    (or ``NUMBA_DISABLE_JIT=1``, where the "threads" run one after the other)."""
    return numba.config.DISABLE_JIT or (CBLAS is not None and CBLAS.set_threads is not None)


class single_threaded:
    """Context: BLAS runs on one thread inside it (the previous count is restored on exit).

    Entered by the calling Python thread around a whole parallel region, never inside
    the workers (see the module docstring).  Regions of several Python threads may
    overlap: the first to enter saves the count, the last to leave restores it.  A
    no-op without OpenBLAS's thread setter.
    """
    _lock = threading.Lock()
    _inside = 0          # regions entered and not yet left, in all Python threads
    _saved = None

    def __enter__(self):
        if CBLAS is None or CBLAS.set_threads is None:
            return
        with single_threaded._lock:
            if single_threaded._inside == 0:
                single_threaded._saved = CBLAS.get_threads()
                CBLAS.set_threads(1)
            single_threaded._inside += 1

    def __exit__(self, *exc):
        if CBLAS is None or CBLAS.set_threads is None:
            return
        with single_threaded._lock:
            single_threaded._inside -= 1
            if single_threaded._inside == 0:
                CBLAS.set_threads(single_threaded._saved)


# ---------------------------------------------------------------------------------------
# workspace cache
# ---------------------------------------------------------------------------------------

_cache = threading.local()


def workspace(name, shape, dtype):
    """A cached C-contiguous scratch array of ``shape`` (contents undefined), reused across calls.

    One buffer per name and dtype in each Python thread (concurrent callers stay apart);
    it grows to the largest request and is kept, so steady-state calls touch no fresh
    pages (docs/performance.md, "glibc malloc page faults").  Two live arrays of a call
    need two names.
    """
    buffers = _cache.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    size = math.prod(shape)          # (not np.prod: this runs on every kernel call)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(max(1, size), dtype=dtype)
    return buf[:size].reshape(shape)


def clear_workspace():
    """Free this thread's cached buffers (e.g. after a large model is gone)."""
    _cache.__dict__.pop("buffers", None)
