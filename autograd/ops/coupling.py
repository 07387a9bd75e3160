"""Affine coupling (RealNVP) as fused Functions: forward and inverse, each one pass.

Equations in ``kernels/reference/coupling.py``.  Each fused Function replaces the
composite ``affine_coupling_composite``::

    s = scale * tanh(s_raw)  (or s_raw);   y = m*x + (1-m)*(x*exp(s) + t)
    logdet = ((1-m)*s).reshape(N, -1).sum(1)

(about 8 primitive ops forward, 10 backward, each a full pass over memory).  Their
backward is not itself differentiable: double backward raises and names that composite.
"""
import kernels

from ..function import Function
from .elementwise import exp, tanh

__all__ = ["AffineCoupling", "AffineCouplingInverse", "affine_coupling", "affine_coupling_inverse",
           "affine_coupling_composite", "affine_coupling_inverse_composite"]

_COMPOSITE = "autograd.ops.coupling.affine_coupling_composite (the same equations from primitives)"


def _grads(gy, arrays, n_inputs):
    """Wrap the kernel's (g0, gs_raw, gt, gscale) as Tensors, one per Function input."""
    T = type(gy) if gy is not None else None
    return tuple(None if a is None else T(a) for a in arrays[:n_inputs])


class AffineCoupling(Function):
    """y = m*x + (1-m)*(x*exp(s) + t),  logdet = sum_i (1-m_i) s_i,  s = scale*tanh(s_raw) or s_raw

    Derivatives (e = exp(s)): gx = gy*(m + (1-m)*e); gt = (1-m)*gy;
    gs = (1-m)*(gy*x*e + glogdet); gs_raw = gs*scale*(1 - tanh(s_raw)^2) (gs without scale);
    gscale = sum over batch and broadcast axes of gs*tanh(s_raw).
    Replaces the composite ``affine_coupling_composite`` (forward direction).
    """
    differentiable_backward = False
    composite = _COMPOSITE

    def forward(self, x, s_raw, t, scale=None, mask=None):
        self.save_for_backward(x, s_raw, scale)
        self.mask = mask
        return kernels.affine_coupling_forward(x, s_raw, t, scale, mask)

    def backward(self, gy, glogdet):
        x, s_raw, scale = self.saved_tensors
        pass_gy = self.mask is None      # then gt = gy: hand gy on, as Add does (no copy)
        out = kernels.affine_coupling_backward(gy.data, glogdet.data, x.data, s_raw.data,
                                               None if scale is None else scale.data, self.mask,
                                               need_gt=not pass_gy)
        grads = _grads(gy, out, len(self.inputs))
        return grads[:2] + (gy,) + grads[3:] if pass_gy else grads


class AffineCouplingInverse(Function):
    """x = m*y + (1-m)*(y - t)*exp(-s),  logdet = -sum_i (1-m_i) s_i  (the inverse map's own)

    Derivatives (e = exp(-s), x as above): gy = gx*(m + (1-m)*e); gt = -(1-m)*gx*e;
    gs = -(1-m)*(gx*x + glogdet); through the scale as in ``AffineCoupling``.
    Replaces the composite ``affine_coupling_inverse_composite``.
    """
    differentiable_backward = False
    composite = "autograd.ops.coupling.affine_coupling_inverse_composite (the same equations from primitives)"

    def forward(self, y, s_raw, t, scale=None, mask=None):
        self.save_for_backward(y, s_raw, t, scale)
        self.mask = mask
        return kernels.affine_coupling_inverse(y, s_raw, t, scale, mask)

    def backward(self, gx, glogdet):
        y, s_raw, t, scale = self.saved_tensors
        out = kernels.affine_coupling_inverse_backward(gx.data, glogdet.data, y.data, s_raw.data, t.data,
                                                       None if scale is None else scale.data, self.mask)
        return _grads(gx, out, len(self.inputs))


def affine_coupling(x, s_raw, t, scale=None, mask=None):
    """RealNVP coupling, forward direction (data -> latent), fused: returns ``(y, logdet)``.

    Args:
        x: ``(N, ...)`` Tensor: the transformed half x2, or all of x with ``mask``.
        s_raw, t: Tensors like x (the conditioner's outputs, computed from the kept part).
        scale: optional Tensor broadcastable to one sample (e.g. ``(C, 1, 1)``);
            then ``s = scale * tanh(s_raw)``, else ``s = s_raw``.
        mask: optional 0/1 array broadcastable to one sample; 1 = kept (y = x there).

    Returns:
        ``(y, logdet)`` with logdet ``(N,)`` = log|det dy/dx| for 0/1 masks.
    """
    args = (x, s_raw, t) if scale is None else (x, s_raw, t, scale)
    return AffineCoupling()(*args, mask=mask)


def affine_coupling_inverse(y, s_raw, t, scale=None, mask=None):
    """Inverse of ``affine_coupling`` (latent -> data), fused: returns ``(x, -logdet)``."""
    args = (y, s_raw, t) if scale is None else (y, s_raw, t, scale)
    return AffineCouplingInverse()(*args, mask=mask)


def _log_scale(s_raw, scale):
    return s_raw if scale is None else scale * tanh(s_raw)


def affine_coupling_composite(x, s_raw, t, scale=None, mask=None):
    """``affine_coupling`` from primitives (differentiable twice; the fused op's twin)."""
    s = _log_scale(s_raw, scale)
    y = x * exp(s) + t
    if mask is not None:
        y = mask * x + (1 - mask) * y
        s = (1 - mask) * s
    return y, s.reshape(s.shape[0], -1).sum(axis=1)


def affine_coupling_inverse_composite(y, s_raw, t, scale=None, mask=None):
    """``affine_coupling_inverse`` from primitives."""
    s = _log_scale(s_raw, scale)
    x = (y - t) * exp(-s)
    if mask is not None:
        x = mask * y + (1 - mask) * x
        s = (1 - mask) * s
    return x, -s.reshape(s.shape[0], -1).sum(axis=1)

