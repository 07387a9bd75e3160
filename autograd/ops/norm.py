"""Group normalisation (+ affine, + optional SiLU) as one fused Function.

Equations in ``kernels/reference/norm.py``.  The fused Function replaces the composite
``group_norm_composite``::

    mean, var over each group;  x_hat = (x - mean) / sqrt(var + eps)
    z = gamma * x_hat + beta;   y = z  or  z * sigmoid(z)

about fifteen primitive ops forward and more backward, each a full pass over memory;
the fused forward reads x once and writes y once.  Its backward is not itself
differentiable: double backward raises and names that composite.
"""
import kernels

from ..function import Function

__all__ = ["GroupNormAct", "group_norm", "group_norm_composite"]


class GroupNormAct(Function):
    """y = act(gamma * (x - mean_g) / sqrt(var_g + eps) + beta), act None or SiLU.

    Derivatives (kernels/reference/norm.py): gz = gy * act'(z); gbeta = sum gz;
    ggamma = sum gz * x_hat; gx = rstd * (gxh - mean(gxh) - x_hat * mean(gxh * x_hat)),
    gxh = gz * gamma, the means over each group.
    """
    differentiable_backward = False
    composite = "autograd.ops.norm.group_norm_composite (the same equations from primitives)"

    def forward(self, x, gamma, beta, num_groups=1, eps=1e-5, act=None):
        y, mean, rstd = kernels.group_norm_forward(x, gamma, beta, num_groups, eps, act)
        self.save_for_backward(x, gamma, beta)
        self.stats, self.num_groups, self.act = (mean, rstd), num_groups, act
        return y

    def backward(self, gy):
        x, gamma, beta = self.saved_tensors
        gx, ggamma, gbeta = kernels.group_norm_backward(gy.data, x.data, gamma.data, beta.data,
                                                        *self.stats, self.num_groups, self.act)
        T = type(gy)
        return T(gx), T(ggamma), T(gbeta)


def _affine(x, gamma, beta):
    """Ones and zeros of x's array type for a normalisation without affine parameters."""
    C = x.shape[1]
    xp = x.xp
    gamma = gamma if gamma is not None else xp.ones(C, x.dtype)
    beta = beta if beta is not None else xp.zeros(C, x.dtype)
    return gamma, beta


def group_norm(x, num_groups, gamma=None, beta=None, eps=1e-5, act=None):
    """Group normalisation of x (N, C, *) over G groups, then ``gamma * . + beta``, then act.

    Args:
        x: (N, C, *) Tensor.
        num_groups: G, a divisor of C.
        gamma, beta: (C,) Tensors, or None for 1 and 0.
        eps: added to the variance.
        act: None or "silu" (``z * sigmoid(z)``, applied after the affine map).

    Returns:
        a Tensor like x.
    """
    gamma, beta = _affine(x, gamma, beta)
    return GroupNormAct()(x, gamma, beta, num_groups=int(num_groups), eps=eps, act=act)


def group_norm_composite(x, num_groups, gamma=None, beta=None, eps=1e-5, act=None):
    """``group_norm`` from primitives (differentiable twice; the fused op's twin)."""
    gamma, beta = _affine(x, gamma, beta)
    n, C = x.shape[:2]
    xg = x.reshape(n, num_groups, -1)
    mean = xg.mean(axis=2, keepdims=True)
    d = xg - mean
    var = (d * d).mean(axis=2, keepdims=True)
    x_hat = (d / (var + eps).sqrt()).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    z = x_hat * gamma.reshape(shape) + beta.reshape(shape)
    return z * z.sigmoid() if act == "silu" else z
