"""BLAS GEMM callable from inside Numba kernels, and a per-thread workspace cache.

Masked and causal convolutions are GEMMs on shifted views of one image at a time, run
by several Numba threads at once (``kernels/cpu/masked_conv.py``).  ``gemm`` calls the
BLAS that NumPy itself ships (OpenBLAS's CBLAS, found with ``dlsym`` through NumPy's
extension module) with row-major semantics and arbitrary leading dimensions and
offsets, so a strided view costs nothing.  ``single_threaded()`` pins BLAS to one
thread while the Numba threads run, so each core runs its own GEMMs instead of two
BLAS thread pools fighting over 2 cores (docs/performance.md, "Threads").

Fallbacks: without a usable CBLAS a loop GEMM (exact, slow); with
``NUMBA_DISABLE_JIT=1`` a NumPy GEMM on strided views (step through with pdb).
"""
import ctypes
import threading

import numba
import numpy as np
from numba import types

from ._numba import njit

__all__ = ["gemm", "can_split", "single_threaded", "workspace", "clear_workspace"]


# ---------------------------------------------------------------------------------------
# BLAS GEMM callable from Numba (row-major CBLAS semantics)
# ---------------------------------------------------------------------------------------

def _find_cblas():
    """NumPy's CBLAS sgemm/dgemm and OpenBLAS thread setter, or None.

    ``dlsym`` on NumPy's extension module searches the libraries it links to, so this
    finds the BLAS NumPy itself uses (pip wheels: ``scipy_openblas64_``, ILP64).
    Returns ``(sgemm_addr, dgemm_addr, ilp64, set_threads, get_threads)``.
    """
    try:
        try:
            from numpy._core import _multiarray_umath as mu
        except ImportError:  # NumPy 1.x
            from numpy.core import _multiarray_umath as mu
        lib = ctypes.CDLL(mu.__file__)
    except (ImportError, OSError):
        return None
    candidates = [
        ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True, "scipy_openblas_set_num_threads64_",
         "scipy_openblas_get_num_threads64_"),
        ("cblas_sgemm64_", "cblas_dgemm64_", True, "openblas_set_num_threads64_",
         "openblas_get_num_threads64_"),
        ("cblas_sgemm", "cblas_dgemm", False, "openblas_set_num_threads", "openblas_get_num_threads"),
    ]
    for s, d, ilp64, set_t, get_t in candidates:
        try:
            fs, fd = getattr(lib, s), getattr(lib, d)
        except AttributeError:
            continue
        try:
            setter, getter = getattr(lib, set_t), getattr(lib, get_t)
            setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
        except AttributeError:
            setter = getter = None
        addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
        return addr(fs), addr(fd), ilp64, setter, getter
    return None


CBLAS = None if numba.config.DISABLE_JIT else _find_cblas()
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

if CBLAS is not None:
    import llvmlite.binding as _ll
    _ll.add_symbol("minigen_cblas_sgemm", CBLAS[0])  # linked by name, so cache=True works
    _ll.add_symbol("minigen_cblas_dgemm", CBLAS[1])
    _bi = types.int64 if CBLAS[2] else types.int32
    _ci = types.int32
    _sgemm = types.ExternalFunction("minigen_cblas_sgemm", types.void(
        _ci, _ci, _ci, _bi, _bi, _bi, types.float32, types.intp, _bi, types.intp, _bi,
        types.float32, types.intp, _bi))
    _dgemm = types.ExternalFunction("minigen_cblas_dgemm", types.void(
        _ci, _ci, _ci, _bi, _bi, _bi, types.float64, types.intp, _bi, types.intp, _bi,
        types.float64, types.intp, _bi))

    @njit
    def gemm(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc):
        """Row-major ``C (m x n, ldc) = op(A) @ op(B) + beta*C`` on flat arrays at offsets ia/ib/ic.

        ``op(A)`` is ``m x k``: A is stored ``m x k`` (lda) or, when ``ta``, ``k x m``.
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
    def gemm(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc):
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
    @njit
    def gemm(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc):
        """Loop GEMM fallback when no CBLAS is found (exact, slow): same contract as above."""
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


def can_split():
    """True when BLAS can be pinned to one thread while Numba threads call it."""
    return CBLAS is not None and CBLAS[3] is not None


class single_threaded:
    """Context: BLAS runs on the calling thread only (restored on exit).

    A no-op when there is no OpenBLAS thread setter: no CBLAS was found, or
    ``NUMBA_DISABLE_JIT=1``, where ``gemm`` is NumPy's ``@`` and Python runs one thread.
    """

    def __enter__(self):
        self.prev = CBLAS[4]() if can_split() else None
        if self.prev is not None:
            CBLAS[3](1)

    def __exit__(self, *exc):
        if self.prev is not None:
            CBLAS[3](self.prev)


# ---------------------------------------------------------------------------------------
# workspace cache
# ---------------------------------------------------------------------------------------

WORKSPACE = {}


def workspace(name, rows, cols, dtype):
    """A cached ``(rows, cols)`` buffer (contents undefined), reused across calls.

    Keyed by name, dtype and Python thread; grows to the largest request and is kept,
    so steady-state calls touch no fresh pages.
    """
    key = (name, np.dtype(dtype).char, threading.get_ident())
    size = max(1, rows * cols)
    buf = WORKSPACE.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        WORKSPACE[key] = buf
    return buf[:size].reshape(rows, max(1, cols))


def clear_workspace():
    """Free every cached buffer (e.g. after a large model is gone)."""
    WORKSPACE.clear()
