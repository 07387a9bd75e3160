"""Rational-quadratic splines (neural spline flows, Durkan et al. 2019) as fused Functions.

Equations in ``kernels/reference/spline.py``: y = g(x) by eq. (4), identity outside
[-B, B], with the element-wise log dy/dx of eq. (5); the inverse by eqs. (6)-(8). Each
fused Function is one kernel call each way and replaces the composite below (a softmax,
a cumulative sum, every bin's candidate value, a one-hot selection: some 60 primitive
ops forward, each a pass over (N, ..., K) arrays). Their backward is not itself
differentiable: double backward raises and names the composite, which is.

The composite evaluates eq. (4) in *every* bin with xi clipped to [0, 1] (so every
candidate is finite) and keeps the element's own bin with a one-hot mask: the bin
index is piecewise constant in x and the parameters, so treating it as a constant
gives the exact derivative everywhere but on the knots themselves.
"""
import kernels

from ..function import Function
from .elementwise import clip, log, sqrt, where
from .reduce import sum as _sum
from .scan import cumsum
from .shape import concatenate

__all__ = ["RQSpline", "RQSplineInverse", "rq_spline", "rq_spline_inverse", "rq_spline_composite",
           "rq_spline_inverse_composite"]


def _wrap(g, arrays, n):
    T = type(g)
    return tuple(T(a) for a in arrays[:n])


class RQSpline(Function):
    """y = g(x; w~, h~, d~) (eq. (4)), logdet = log g'(x) element-wise (eq. (5)); identity tails.

    Derivatives: the reverse sweep of ``kernels/reference/spline.py`` (adjoint of every
    line of eqs. (4)-(5), then through the knots' cumulative sums, the softmax of the
    widths / heights and the softplus of the slopes). Replaces ``rq_spline_composite``.
    """
    differentiable_backward = False
    composite = "autograd.ops.spline.rq_spline_composite (the same equations from primitives)"

    def forward(self, x, w, h, d, bound=3.0):
        self.save_for_backward(x, w, h, d)
        self.bound = bound
        return kernels.rq_spline_forward(x, w, h, d, bound)

    def backward(self, gy, glogdet):
        x, w, h, d = self.saved_tensors
        out = kernels.rq_spline_backward(gy.data, glogdet.data, x.data, w.data, h.data, d.data, self.bound)
        return _wrap(gy, out, 4)


class RQSplineInverse(Function):
    """x = g^-1(y) (eqs. (6)-(8)), logdet = -log g'(x) element-wise; identity tails.

    Derivatives by the implicit function theorem: dx/dy = 1/g'(x), dx/dtheta =
    -(dg/dtheta)/g'(x) (``kernels/reference/spline.py``). Replaces ``rq_spline_inverse_composite``.
    """
    differentiable_backward = False
    composite = "autograd.ops.spline.rq_spline_inverse_composite (the same equations from primitives)"

    def forward(self, y, w, h, d, bound=3.0):
        self.save_for_backward(y, w, h, d)
        self.bound = bound
        return kernels.rq_spline_inverse(y, w, h, d, bound)

    def backward(self, gx, glogdet):
        y, w, h, d = self.saved_tensors
        out = kernels.rq_spline_inverse_backward(gx.data, glogdet.data, y.data, w.data, h.data, d.data,
                                                 self.bound)
        return _wrap(gx, out, 4)


def rq_spline(x, widths, heights, derivatives, bound=3.0):
    """Monotone rational-quadratic spline, fused: returns ``(y, logdet)``, both shaped like x.

    Args:
        x: Tensor of any shape S.
        widths, heights: unnormalised bin widths and heights, S + (K,) (softmax-normalised inside).
        derivatives: unnormalised inner knot slopes, S + (K-1,) (softplus inside; the
            end slopes are 1, matching the identity tails).
        bound: B; the spline maps [-B, B] onto itself, the identity outside.

    Returns:
        ``(y, logdet)`` with logdet = log dy/dx per element (0 in the tails).
    """
    return RQSpline()(x, widths, heights, derivatives, bound=bound)


def rq_spline_inverse(y, widths, heights, derivatives, bound=3.0):
    """Inverse of ``rq_spline``, fused: returns ``(x, logdet)`` with logdet = log dx/dy per element."""
    return RQSplineInverse()(y, widths, heights, derivatives, bound=bound)


# -- the composite twins -----------------------------------------------------------------------
def _knots(u, bound, minimum):
    """Knots (S, K+1) from unnormalised sizes u (S, K): -B, the inner cumulative sums, B."""
    from ..functional import softmax
    K = u.shape[-1]
    size = minimum + (1 - minimum * K) * softmax(u, axis=-1)
    inner = cumsum(size, axis=u.ndim - 1)[..., :K - 1] * (2 * bound) - bound
    end = u.xp.ones(u.shape[:-1] + (1,), u.dtype) * bound
    return concatenate([-end, inner, end], axis=-1)


def _parts(v, w, h, d, bound, by_y):
    """Every bin's (x_k, x_{k+1}, y_k, y_{k+1}, delta_k, delta_{k+1}), the one-hot of v's bin, inside."""
    from kernels.reference.spline import MIN_DERIVATIVE, MIN_HEIGHT, MIN_WIDTH
    from ..functional import softplus
    K = w.shape[-1]
    xk, yk = _knots(w, bound, MIN_WIDTH), _knots(h, bound, MIN_HEIGHT)
    one = w.xp.ones(d.shape[:-1] + (1,), d.dtype)
    delta = concatenate([one, MIN_DERIVATIVE + softplus(d), one], axis=-1)
    knots = (yk if by_y else xk).data
    k = (v.data[..., None] >= knots[..., 1:K]).sum(axis=-1)
    onehot = (v.xp.arange(K) == k[..., None]).astype(v.dtype)                 # (S, K), constant
    inside = (v.data >= -bound) & (v.data < bound)
    return (xk[..., :K], xk[..., 1:], yk[..., :K], yk[..., 1:], delta[..., :K], delta[..., 1:]), onehot, inside


def _rq_all(xi, xl, xr, yl, yr, dl, dr):
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    q = xi * (1 - xi)
    den = s + (dl + dr - 2 * s) * q
    dnum = dr * xi * xi + 2 * s * q + dl * (1 - xi) * (1 - xi)
    return yl + dy * (s * xi * xi + dl * q) / den, 2 * log(s) + log(dnum) - 2 * log(den)


def rq_spline_composite(x, widths, heights, derivatives, bound=3.0):
    """``rq_spline`` from primitives (differentiable twice; the fused op's twin)."""
    (xl, xr, yl, yr, dl, dr), onehot, inside = _parts(x, widths, heights, derivatives, bound, False)
    xi = clip((x.reshape(x.shape + (1,)) - xl) / (xr - xl), 0.0, 1.0)      # (S, K), every bin
    y_all, ld_all = _rq_all(xi, xl, xr, yl, yr, dl, dr)
    y, ld = _sum(y_all * onehot, axis=-1), _sum(ld_all * onehot, axis=-1)
    return where(inside, y, x), where(inside, ld, 0.0 * ld)


def rq_spline_inverse_composite(y, widths, heights, derivatives, bound=3.0):
    """``rq_spline_inverse`` from primitives: eqs. (6)-(8) in every bin, y clipped into the bin."""
    (xl, xr, yl, yr, dl, dr), onehot, inside = _parts(y, widths, heights, derivatives, bound, True)
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    r = clip((y.reshape(y.shape + (1,)) - yl) / dy, 0.0, 1.0) * dy         # y - y_k, inside the bin
    a = dy * (s - dl) + r * (dl + dr - 2 * s)
    b = dy * dl - r * (dl + dr - 2 * s)
    c = -s * r
    xi = 2 * c / (-b - sqrt(b * b - 4 * a * c))
    _, ld_all = _rq_all(xi, xl, xr, yl, yr, dl, dr)
    x, ld = _sum((xl + xi * dx) * onehot, axis=-1), _sum(ld_all * onehot, axis=-1)
    return where(inside, x, y), where(inside, -ld, 0.0 * ld)
