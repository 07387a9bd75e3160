"""Matrix product with the project's one thread pool: Numba threads, each calling one-thread BLAS.

Same function and semantics as ``kernels/reference/linalg.py`` (NumPy's ``a @ b``).

Why not just ``np.matmul``: NumPy's OpenBLAS runs its own thread pool, and after a product its
threads keep spinning for a while.  A Numba kernel launched next (a convolution, the fused
Adam step) then waits for a core an idle-spinning BLAS thread holds; a VAE training step went
from 9.8 to 16-20 ms that way (docs/performance.md, "Threads").  So a 2-D product with enough
work is split here over Numba's threads, each calling BLAS pinned to one thread (``_blas``):

    split rows (m >= n):     C[r0:r1, :] = op(A)[r0:r1, :] @ op(B)
    split columns (m < n):   C[:, c0:c1] = op(A) @ op(B)[:, c0:c1]

``op`` is the transpose when an operand is a transposed (Fortran-ordered) view, like the
``W.T`` of a Linear layer: its memory is read as it lies, no copy.  Everything else (batched,
1-D, mixed dtypes, small products) is ``np.matmul`` with BLAS on one thread.
"""
import numpy as np
from numba import prange

from .. import config
from ..reference import linalg as ref
from ._blas import HAS_BLAS, can_split, gemm, single_threaded
from ._numba import parallel_driver, share_docs, thread_bounds

__all__ = ["matmul"]


@parallel_driver
def _matmul_driver(a, b, c, m, n, k, lda, ldb, ta, tb, bounds, split_rows):
    """Thread t computes rows (or columns) bounds[t]:bounds[t+1] of C (m x n, flat)."""
    for t in prange(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        if split_rows:      # rows lo:hi of op(A): row r starts at r*lda, or at column r when ta
            gemm(hi - lo, n, k, a, lo if ta else lo * lda, lda, b, 0, ldb, c, lo * n, n, ta=ta, tb=tb)
        else:               # columns lo:hi of op(B): column j starts at j, or at row j when tb
            gemm(m, hi - lo, k, a, 0, lda, b, lo * ldb if tb else lo, ldb, c, lo, n, ta=ta, tb=tb)


def _operand(x):
    """(flat memory, transposed?, leading dimension) of a 2-D operand, copying only if strided."""
    if x.flags.c_contiguous:
        return x.reshape(-1), False, x.shape[1]
    if x.flags.f_contiguous:                     # x = y.T with y C-contiguous: read y transposed
        return x.T.reshape(-1), True, x.shape[0]
    return np.ascontiguousarray(x).reshape(-1), False, x.shape[1]


def matmul(a, b):
    a, b = np.asarray(a), np.asarray(b)
    m, k = a.shape if a.ndim == 2 else (0, 0)
    n = b.shape[1] if b.ndim == 2 else 0
    if (a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64)
            or b.shape[0] != k or m * n * k < config.MATMUL_SPLIT_MIN_WORK or not (HAS_BLAS and can_split())):
        with single_threaded():                  # NumPy's rules and errors, BLAS on one thread
            return np.matmul(a, b)
    A, ta, lda = _operand(a)
    B, tb, ldb = _operand(b)
    c = np.empty((m, n), a.dtype)
    split_rows = m >= n
    bounds = thread_bounds(m if split_rows else n, m * n * k)
    with single_threaded():
        _matmul_driver(A, B, c.reshape(-1), m, n, k, lda, ldb, ta, tb, bounds, split_rows,
                       threads=len(bounds) - 1)
    return c


share_docs(globals(), ref)
