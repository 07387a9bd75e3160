"""Matrix product: plain NumPy (the specification of ``kernels/cpu/linalg.py``).

``matmul(a, b)`` is NumPy's ``a @ b``: ``C[i, j] = sum_p A[i, p] * B[p, j]``, batched over
leading axes that broadcast, 1-D operands promoted to a row / a column and dropped again.
The CPU kernel computes the same product with one thread pool: the autograd ``MatMul``
op calls it, so a model's products and its Numba kernels never run two pools at once.
"""
from ..backend import get_array_module

__all__ = ["matmul"]


def matmul(a, b):
    """``a @ b`` with NumPy's rules (batched, broadcasting, 1-D promoted).

    Args:
        a: ``(..., n, k)`` or ``(k,)`` array.
        b: ``(..., k, m)`` or ``(k,)`` array, same float dtype.

    Returns:
        ``(..., n, m)`` (1-D operands' promoted axes dropped).
    """
    return get_array_module(a, b).matmul(a, b)
