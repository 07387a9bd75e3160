"""Matrix product, batched, with NumPy's 1-D rules, computed by ``kernels.matmul``.

On the CPU that kernel splits a product over the same threads as every other kernel, with
BLAS on one thread in each (``kernels/cpu/linalg.py``).
"""
import kernels

from ..function import Function
from .shape import reshape, swapaxes


class MatMul(Function):
    """y = x0 @ x1 on (..., n, k) @ (..., k, m);  gx0 = gy @ x1^T,  gx1 = x0^T @ gy
    (^T swaps the last two axes; batch axes that broadcast are summed back by the engine)."""
    def forward(self, x0, x1):
        self.save_for_backward(x0, x1)
        return kernels.matmul(x0, x1)

    def backward(self, gy):
        x0, x1 = self.saved_tensors
        need0, need1 = self.needs_input_grad
        gx0 = matmul(gy, swapaxes(x1, -1, -2)) if need0 else None
        gx1 = None
        if need1 and _is_transposed_2d(x1.data) and gy.ndim == 2:
            # x1 is a transposed view (Linear's W.T): compute (gy^T x0)^T, the same numbers,
            # so that W's own gradient (the transpose of this) comes out contiguous.
            gx1 = swapaxes(matmul(swapaxes(gy, -1, -2), x0), -1, -2)
        elif need1:
            gx1 = matmul(swapaxes(x0, -1, -2), gy)
        return gx0, gx1


def _is_transposed_2d(a):
    return a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def matmul(x0, x1):
    """Matrix product with NumPy semantics: batched, and 1-D operands promoted then squeezed."""
    from ..tensor import as_tensor
    x0, x1 = as_tensor(x0), as_tensor(x1)
    if x0.ndim == 0 or x1.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{x0.shape} and {x1.shape}")
    a = reshape(x0, (1, x0.shape[0])) if x0.ndim == 1 else x0
    b = reshape(x1, (x1.shape[0], 1)) if x1.ndim == 1 else x1
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: inner dimensions differ: shapes {x0.shape} and {x1.shape}")
    if a.ndim > 2 and b.ndim == 2:
        # (..., n, k) @ (k, m) is ONE product on (batch*n, k): one BLAS call instead of one
        # per batch entry, and b's gradient a^T @ gy comes out of one GEMM too (batched, it
        # was a (batch, k, m) array summed over the batch afterwards)
        y = MatMul()(reshape(a, (-1, a.shape[-1])), b)
        y = reshape(y, a.shape[:-1] + b.shape[-1:])  # (..., n, m)
    else:
        y = MatMul()(a, b)                             # (..., n, m)
    if x0.ndim == 1:
        y = reshape(y, y.shape[:-2] + y.shape[-1:])    # drop the promoted n = 1
    if x1.ndim == 1:
        y = reshape(y, y.shape[:-1])                   # drop the promoted m = 1
    return y
