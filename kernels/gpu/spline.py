"""Rational-quadratic splines (neural spline flows) on the GPU: one kernel each way.

Same names, arguments, validation and errors as ``kernels/reference/spline.py`` (whose
docstrings, with the equations, these functions carry). ``rq_spline_fwd`` and
``rq_spline_bwd`` (``kernels/gpu/_sources_spline.py``) run one thread per element over
the flattened (M,) values and (M, K) parameter rows; ``inverse`` selects the direction.
Compiled by nvcc and NVRTC and checked against the reference twin by the host emulation
(tests/kernels/gpu); not run on a GPU by its author.
"""
from ..reference import spline as ref
from ..reference.spline import MIN_DERIVATIVE, MIN_HEIGHT, MIN_WIDTH, check_spline_grad, check_spline_args
from ._cupy import contiguous, cupy, i32, i64, launch, share_docs

__all__ = ["rq_spline_forward", "rq_spline_inverse", "rq_spline_backward", "rq_spline_inverse_backward"]


def _flat(v, w, h, d):
    K = w.shape[-1]
    return (contiguous(v).reshape(-1), contiguous(w).reshape(-1, K), contiguous(h).reshape(-1, K),
            contiguous(d).reshape(-1, K - 1), K)


def _constants(dtype, bound):
    real = dtype.type
    return real(bound), real(MIN_WIDTH), real(MIN_HEIGHT), real(MIN_DERIVATIVE)


def _forward(v, w, h, d, bound, inverse):
    cp = cupy()
    v1, w1, h1, d1, K = _flat(v, w, h, d)
    out, ld = cp.empty_like(v1), cp.empty_like(v1)
    launch("rq_spline_fwd", v.dtype, v1.size, v1, w1, h1, d1, out, ld, i64(v1.size), i32(K),
           *_constants(v.dtype, bound), i32(inverse))
    return out.reshape(v.shape), ld.reshape(v.shape)


def _backward(g, gl, v, w, h, d, bound, inverse):
    cp = cupy()
    v1, w1, h1, d1, K = _flat(v, w, h, d)
    g1 = cp.zeros_like(v1) if g is None else contiguous(g).reshape(-1)
    gl1 = cp.zeros_like(v1) if gl is None else contiguous(gl).reshape(-1)
    gv, gw, gh, gd = cp.empty_like(v1), cp.empty_like(w1), cp.empty_like(h1), cp.empty_like(d1)
    launch("rq_spline_bwd", v.dtype, v1.size, g1, gl1, v1, w1, h1, d1, gv, gw, gh, gd, i64(v1.size), i32(K),
           *_constants(v.dtype, bound), i32(inverse))
    return gv.reshape(v.shape), gw.reshape(w.shape), gh.reshape(h.shape), gd.reshape(d.shape)


def rq_spline_forward(x, widths, heights, derivatives, bound=3.0):
    check_spline_args(x, widths, heights, derivatives, bound)
    return _forward(x, widths, heights, derivatives, bound, False)


def rq_spline_inverse(y, widths, heights, derivatives, bound=3.0):
    check_spline_args(y, widths, heights, derivatives, bound, name="y")
    return _forward(y, widths, heights, derivatives, bound, True)


def rq_spline_backward(gy, glogdet, x, widths, heights, derivatives, bound=3.0):
    check_spline_args(x, widths, heights, derivatives, bound)
    check_spline_grad(gy, x, "gy")
    check_spline_grad(glogdet, x, "glogdet")
    return _backward(gy, glogdet, x, widths, heights, derivatives, bound, False)


def rq_spline_inverse_backward(gx, glogdet, y, widths, heights, derivatives, bound=3.0):
    check_spline_args(y, widths, heights, derivatives, bound, name="y")
    check_spline_grad(gx, y, "gx")
    check_spline_grad(glogdet, y, "glogdet")
    return _backward(gx, glogdet, y, widths, heights, derivatives, bound, True)


share_docs(globals(), ref, __all__)
