"""Group normalisation fused with its affine map and an optional SiLU: the specification.

Group normalisation (Wu & He 2018, eq. 1 with the groups of their Figure 3) views an
input x (N, C, *) as (N, G, M), M = C/G * prod(*), and standardises each row::

    mean[n, g] = (1/M) sum_m x[n, g, m]
    var[n, g]  = (1/M) sum_m (x[n, g, m] - mean[n, g])^2          (biased)
    rstd[n, g] = 1 / sqrt(var[n, g] + eps)
    x_hat      = (x - mean) * rstd
    z[n, c, .] = gamma[c] * x_hat[n, c, .] + beta[c]
    y          = z                       act = None
               = z * sigmoid(z)          act = "silu"   (Elfwing et al. 2018)

The diffusion U-Net applies GroupNorm then SiLU before every convolution; as one kernel
that is one read of x and one write of y, where the composite is about fifteen passes.

Backward (gy -> gx, ggamma, gbeta), M and the means over each row (n, g)::

    gz         = gy                                        act = None
               = gy * s * (1 + z * (1 - s)),  s = sigmoid(z)   act = "silu" (d silu / dz)
    gbeta[c]   = sum_{n, .} gz[n, c, .]
    ggamma[c]  = sum_{n, .} gz[n, c, .] * x_hat[n, c, .]
    gxh        = gz * gamma[c]
    gx         = rstd * (gxh - mean_m(gxh) - x_hat * mean_m(gxh * x_hat))

The last line is the derivative of the standardisation: x_hat's mean is 0 and its mean
square 1, which removes the two components of gxh along 1 and x_hat.  Nothing of the
forward is stored but mean and rstd (N, G); z and s are recomputed.
"""
import numpy as np

from ..backend import get_array_module

__all__ = ["group_norm_forward", "group_norm_backward"]

ACTIVATIONS = (None, "silu")


def check_group_norm_args(x, gamma, beta, num_groups, act, gy=None):
    """Shapes and dtypes of a group-norm call, as clear errors (shared by every backend)."""
    if x.ndim < 2:
        raise ValueError(f"group_norm: x must be (N, C, ...), got shape {tuple(x.shape)}")
    C = x.shape[1]
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or C % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups!r} must be a positive divisor of C={C}")
    if act not in ACTIVATIONS:
        raise ValueError(f"group_norm: act={act!r} is not one of {ACTIVATIONS}")
    for name, a in (("gamma", gamma), ("beta", beta)):
        if a.shape != (C,):
            raise ValueError(f"group_norm: {name} must have shape ({C},), got {tuple(a.shape)}")
        if a.dtype != x.dtype:
            raise TypeError(f"group_norm: {name} is {a.dtype} but x is {x.dtype}")
    if gy is not None and (gy.shape != x.shape or gy.dtype != x.dtype):
        raise ValueError(f"group_norm: gy must match x ({tuple(x.shape)}, {x.dtype}), "
                         f"got {tuple(gy.shape)}, {gy.dtype}")


def _sigmoid(xp, z):
    """1 / (1 + exp(-z)), finite at any z (exp of a non-positive number only)."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _rows(xp, x, gamma, beta, G):
    """x as (N, G, Cg, S) and gamma, beta as (1, G, Cg, 1)."""
    N, C = x.shape[:2]
    x4 = x.reshape(N, G, C // G, -1)
    return x4, gamma.reshape(1, G, C // G, 1), beta.reshape(1, G, C // G, 1)


def group_norm_forward(x, gamma, beta, num_groups, eps=1e-5, act=None):
    """y = act(gamma * standardise_groups(x) + beta) (module docstring).

    Args:
        x: (N, C, *) float array.
        gamma, beta: (C,) arrays of x's dtype (ones and zeros for a plain normalisation).
        num_groups: G, a divisor of C.
        eps: added to the variance.
        act: None or "silu".

    Returns:
        ``(y, mean, rstd)``: y like x; mean and rstd (N, G), what backward needs.
    """
    check_group_norm_args(x, gamma, beta, num_groups, act)
    xp = get_array_module(x)
    x4, g4, b4 = _rows(xp, x, gamma, beta, num_groups)
    mean = x4.mean(axis=(2, 3), keepdims=True)
    d = x4 - mean
    rstd = 1 / xp.sqrt((d * d).mean(axis=(2, 3), keepdims=True) + x.dtype.type(eps))
    z = d * rstd * g4 + b4
    y = z * _sigmoid(xp, z) if act == "silu" else z
    return y.reshape(x.shape), mean[:, :, 0, 0], rstd[:, :, 0, 0]


def group_norm_backward(gy, x, gamma, beta, mean, rstd, num_groups, act=None):
    """Gradients (gx, ggamma, gbeta) of ``group_norm_forward`` (module docstring)."""
    check_group_norm_args(x, gamma, beta, num_groups, act, gy=gy)
    xp = get_array_module(x)
    x4, g4, b4 = _rows(xp, x, gamma, beta, num_groups)
    gy4 = gy.reshape(x4.shape)
    x_hat = (x4 - mean[:, :, None, None]) * rstd[:, :, None, None]
    gz = gy4
    if act == "silu":
        z = x_hat * g4 + b4
        s = _sigmoid(xp, z)
        gz = gy4 * s * (1 + z * (1 - s))
    C = x.shape[1]
    gbeta = gz.sum(axis=(0, 3)).reshape(C)
    ggamma = (gz * x_hat).sum(axis=(0, 3)).reshape(C)
    gxh = gz * g4
    gx = rstd[:, :, None, None] * (gxh - gxh.mean(axis=(2, 3), keepdims=True)
                                   - x_hat * (gxh * x_hat).mean(axis=(2, 3), keepdims=True))
    return gx.reshape(x.shape), ggamma, gbeta
