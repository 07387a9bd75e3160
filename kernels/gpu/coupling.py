"""Affine coupling (RealNVP) on the GPU: one fused kernel per direction and per backward.

Same names, arguments, validation and errors as ``kernels/reference/coupling.py``
(whose docstrings, with the equations, these functions carry).  Each call is one pass
over the ``(N, D)`` elements (``D`` = one sample's size) by one kernel of
``kernels/gpu/_sources.py``: ``coupling_fwd``, ``coupling_inv``, ``coupling_bwd``,
``coupling_inv_bwd``.  ``exp(s)`` is recomputed in the backward instead of stored.

* ``scale`` and ``mask`` (broadcastable to one sample) are expanded once to ``(D,)``;
* the log-determinant is reduced in the same pass: each thread adds its partial sum
  of one sample's features with one ``atomicAdd`` (so float results may differ from
  run to run in the last bits, as with any parallel sum);
* the scale's gradient ``sum gs*tanh(s_raw)`` over the batch and broadcast axes is a
  per-element product written by the kernel and summed by CuPy afterwards.
"""
from ..reference import coupling as ref
from ..reference.coupling import _check_glogdet, check_coupling_args, sum_to_shape
from ._cupy import contiguous, cupy, i32, i64, launch_per_sample, share_docs

__all__ = ["affine_coupling_forward", "affine_coupling_inverse", "affine_coupling_backward",
           "affine_coupling_inverse_backward"]


def _per_sample(a, x):
    """``a`` (None, or broadcastable to one sample of x) as a contiguous ``(D,)`` device array."""
    cp = cupy()
    if a is None:
        return cp.empty(1, x.dtype), i32(0)   # a valid pointer that the kernel does not read
    a = cp.asarray(a)
    return contiguous(cp.broadcast_to(a.astype(x.dtype, copy=False), x.shape[1:])).ravel(), i32(1)


def _size(x):
    """D, the size of one sample of x (N, ...)."""
    return x.size // x.shape[0] if x.shape[0] else 0


def _flat(a):
    return contiguous(a).reshape(a.shape[0], _size(a))


def _run_fwd(name, x, s_raw, t, scale, mask):
    cp = cupy()
    n = x.shape[0]
    d = _size(x)
    sc, has_scale = _per_sample(scale, x)
    m, has_mask = _per_sample(mask, x)
    out = cp.empty(x.shape, dtype=x.dtype)
    logdet = cp.zeros(n, dtype=x.dtype)
    launch_per_sample(name, x.dtype, n, d, _flat(x), _flat(s_raw), _flat(t), sc, m, out, logdet,
                      i64(n), i64(d), has_scale, has_mask)
    return out, logdet


def affine_coupling_forward(x, s_raw, t, scale=None, mask=None):
    check_coupling_args(x, s_raw, t, scale, mask)
    return _run_fwd("coupling_fwd", x, s_raw, t, scale, mask)


def affine_coupling_inverse(y, s_raw, t, scale=None, mask=None):
    check_coupling_args(y, s_raw, t, scale, mask, names=("y", "s_raw", "t"))
    return _run_fwd("coupling_inv", y, s_raw, t, scale, mask)


def _grads(x, g, glogdet, scale, want_gt):
    """Zero-filled defaults for g/glogdet and the output buffers of a backward kernel."""
    cp = cupy()
    n = x.shape[0]
    g = cp.zeros(x.shape, x.dtype) if g is None else g
    gl = cp.zeros(n, x.dtype) if glogdet is None else contiguous(glogdet)
    ga, gs_raw = cp.empty(x.shape, x.dtype), cp.empty(x.shape, x.dtype)
    gt = cp.empty(x.shape, x.dtype) if want_gt else ga          # ga: a valid pointer, not written
    gsth = cp.empty(x.shape, x.dtype) if scale is not None else ga
    return _flat(g), gl, ga, gs_raw, gt, gsth


def affine_coupling_backward(gy, glogdet, x, s_raw, scale=None, mask=None, need_gt=True):
    check_coupling_args(x, s_raw, gy, scale, mask, names=("x", "s_raw", "gy"))
    _check_glogdet(glogdet, x.shape[0], x.dtype)
    n, d = x.shape[0], _size(x)
    g, gl, gx, gs_raw, gt, gsth = _grads(x, gy, glogdet, scale, need_gt)
    sc, has_scale = _per_sample(scale, x)
    m, has_mask = _per_sample(mask, x)
    launch_per_sample("coupling_bwd", x.dtype, n, d, g, gl, _flat(x), _flat(s_raw), sc, m, gx,
                      gs_raw, gt, gsth, i64(n), i64(d), has_scale, has_mask, i32(need_gt))
    gscale = None if scale is None else sum_to_shape(gsth, scale.shape)
    return gx, gs_raw, (gt if need_gt else None), gscale


def affine_coupling_inverse_backward(gx, glogdet, y, s_raw, t, scale=None, mask=None):
    check_coupling_args(y, s_raw, t, scale, mask, names=("y", "s_raw", "t"))
    if gx is not None:
        check_coupling_args(y, gx, None, None, None, names=("y", "gx", "t"))
    _check_glogdet(glogdet, y.shape[0], y.dtype)
    n, d = y.shape[0], _size(y)
    g, gl, gy, gs_raw, gt, gsth = _grads(y, gx, glogdet, scale, True)
    sc, has_scale = _per_sample(scale, y)
    m, has_mask = _per_sample(mask, y)
    launch_per_sample("coupling_inv_bwd", y.dtype, n, d, g, gl, _flat(y), _flat(s_raw), _flat(t),
                      sc, m, gy, gs_raw, gt, gsth, i64(n), i64(d), has_scale, has_mask)
    gscale = None if scale is None else sum_to_shape(gsth, scale.shape)
    return gy, gs_raw, gt, gscale


share_docs(globals(), ref, __all__)
