"""Softmax cross-entropy on the GPU: one kernel forward (a thread per position), one backward
(a thread per logit).

Same names, arguments and errors as ``kernels/reference/cross_entropy.py`` (whose
docstrings, with the equations, these functions carry); the CUDA sources are
``xent_fwd`` and ``xent_bwd`` in ``kernels/gpu/_sources_cross_entropy.py``.  Targets
are not range-checked here (that would synchronise with the GPU on every step): a
target outside [0, K) gives a NaN loss, which the training loop reports.
"""
from ..reference import cross_entropy as ref
from ..reference.cross_entropy import check_cross_entropy_args
from ._cupy import contiguous, cupy, i32, i64, launch, share_docs

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


def _geometry(z, axis):
    """(K, B): the class count and the number of positions after the class axis."""
    K = z.shape[axis]
    B = 1
    for n in z.shape[axis + 1:]:
        B *= n
    return K, B


def softmax_cross_entropy_forward(z, target, axis=1):
    axis = check_cross_entropy_args(z, target, axis, check_range=False)
    cp = cupy()
    K, B = _geometry(z, axis)
    loss = cp.empty(target.shape, z.dtype)
    lse = cp.empty(target.shape, z.dtype)
    if loss.size:
        launch("xent_fwd", z.dtype, loss.size, contiguous(z), contiguous(target, "int64"), loss, lse,
               i32(K), i64(B), i64(loss.size))
    return loss, lse


def softmax_cross_entropy_backward(gy, z, target, lse, axis=1):
    axis = check_cross_entropy_args(z, target, axis, gy=gy, lse=lse, check_range=False)
    cp = cupy()
    K, B = _geometry(z, axis)
    gz = cp.empty(z.shape, z.dtype)
    if gz.size:
        launch("xent_bwd", z.dtype, gz.size, contiguous(gy), contiguous(z), contiguous(target, "int64"),
               contiguous(lse), gz, i32(K), i64(B), i64(gz.size))
    return gz


share_docs(globals(), ref, __all__)
