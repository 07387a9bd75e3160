"""Planar and radial flows (Rezende & Mohamed 2015 [1] §4.1): one-unit residual bijections of vectors.

Direction as every flow in minigen (``nn/flows.py``): ``forward(x) -> (z, log_det_J)``
is the map with the closed-form log-det; ``inverse(z) -> x`` solves a one-dimensional
equation (no closed form, but a scalar root or a quadratic, to machine precision).
[1] pushes noise through ``forward`` (the flow is a variational posterior); used as a
density model the same ``forward`` maps data to latent. Both uses are in
``models/flows/planar.py``.

**Planar** ([1] eqs. (10)-(12)) on x in R^D, h = tanh::

    z = x + u_hat h(w^T x + b)
    log|det dz/dx^T| = log|1 + u_hat^T psi(x)|,    psi(x) = h'(w^T x + b) w        (matrix determinant lemma)

**The invertibility constraint** ([1] Appendix A.1). z is invertible iff w^T u_hat >= -1
(then a -> a + (w^T u_hat) h(a) is increasing). Any free u is mapped to such a u_hat by
moving it along w::

    u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,     m(a) = -1 + softplus(a)

so w^T u_hat = m(w^T u) > -1, and the log-det's argument 1 + (1 - h^2) m is > 0.
Inverse: with a = w^T x + b, w^T z + b = a + m h(a), one increasing scalar equation per
example with |a - (w^T z + b)| <= |m|; bisection on that bracket, then x = z - u_hat h(a).

**Radial** ([1] eq. (14)) around a centre x0, r = ||x - x0||, h(alpha, r) = 1 / (alpha + r)::

    z = x + beta h(alpha, r) (x - x0)
    log|det dz/dx^T| = (D - 1) log(1 + beta h) + log(1 + beta h + beta h'(alpha, r) r)

with alpha = softplus(alpha_raw) > 0 and beta = -alpha + softplus(beta_raw) >= -alpha
(invertibility, [1] Appendix A.2). Inverse: ||z - x0|| = r (1 + beta / (alpha + r)) is a
quadratic in r, r^2 + (alpha + beta - r_z) r - alpha r_z = 0, whose positive root gives r,
then x = x0 + (z - x0) / (1 + beta h(alpha, r)).

Reference:
    [1] D. J. Rezende, S. Mohamed, "Variational Inference with Normalizing Flows", ICML 2015.
        https://arxiv.org/abs/1505.05770
"""
import numpy as np

from autograd import Tensor, functional, no_grad

from . import init
from .flows import Flow
from .module import Parameter

__all__ = ["Planar", "Radial"]


class Planar(Flow):
    """z = x + u_hat tanh(w^T x + b) on (N, D), the module docstring's constraint built in.

    Args:
        dim: D.
        rng: generator for the initial u, w, b (uniform in +-1/sqrt(D)).
        dtype: float dtype of the parameters.
    """

    def __init__(self, dim, *, rng, dtype=np.float32):
        super().__init__()
        self.dim = dim
        self.u = Parameter(init.default_uniform((dim,), rng, fan_in=dim, dtype=dtype))
        self.w = Parameter(init.default_uniform((dim,), rng, fan_in=dim, dtype=dtype))
        self.b = Parameter(init.default_uniform((1,), rng, fan_in=dim, dtype=dtype))

    def constrained(self):
        """(u_hat, m): u moved along w so that w^T u_hat = m = -1 + softplus(w^T u) > -1."""
        wu = (self.w * self.u).sum(axis=0, keepdims=True)                 # (1,)
        m = functional.softplus(wu) - 1.0
        u_hat = self.u + (m - wu) * self.w / (self.w * self.w).sum()
        return u_hat, m

    def forward(self, x):
        """Args: x (N, D). Returns: (z (N, D), log_det_J (N,))."""
        u_hat, m = self.constrained()
        h = (x @ self.w + self.b).tanh()                          # (N,): h(w^T x + b)
        z = x + h.reshape(-1, 1) * u_hat                          # (N, D)
        log_det_J = (1.0 + (1.0 - h * h) * m).log()               # u_hat^T psi = h' w^T u_hat = h' m
        return z, log_det_J

    def inverse(self, z, iterations=100):
        """Args: z (N, D). Returns: x, by bisection on a + m tanh(a) = w^T z + b (no graph)."""
        with no_grad():
            u_hat, m = self.constrained()
            xp, w = z.xp, self.w.data.astype(np.float64)
            m = float(m.item())
            c = z.data.astype(np.float64) @ w + float(self.b.data[0])   # (N,)
            lo, hi = c - abs(m), c + abs(m)                       # a lies within |m| of c
            for _ in range(iterations):                           # a + m tanh(a) is increasing
                mid = 0.5 * (lo + hi)
                above = mid + m * xp.tanh(mid) > c
                lo, hi = xp.where(above, lo, mid), xp.where(above, mid, hi)
            a = 0.5 * (lo + hi)
            x = z.data - xp.tanh(a)[:, None] * u_hat.data.astype(np.float64)
        return Tensor(x.astype(z.dtype))

    def extra_repr(self):
        return f"dim={self.dim}"


class Radial(Flow):
    """z = x + beta (x - x0) / (alpha + ||x - x0||) on (N, D), beta >= -alpha built in.

    Args:
        dim: D.
        rng: generator for the initial centre x0 and the raw alpha, beta.
        dtype: float dtype of the parameters.
    """

    def __init__(self, dim, *, rng, dtype=np.float32):
        super().__init__()
        self.dim = dim
        self.x0 = Parameter(init.default_uniform((dim,), rng, fan_in=dim, dtype=dtype))
        self.alpha_raw = Parameter(init.default_uniform((1,), rng, fan_in=dim, dtype=dtype))
        self.beta_raw = Parameter(init.default_uniform((1,), rng, fan_in=dim, dtype=dtype))

    def constrained(self):
        """(alpha, beta): alpha = softplus(alpha_raw) > 0, beta = -alpha + softplus(beta_raw)."""
        alpha = functional.softplus(self.alpha_raw)
        return alpha, functional.softplus(self.beta_raw) - alpha

    def forward(self, x):
        """Args: x (N, D). Returns: (z (N, D), log_det_J (N,))."""
        alpha, beta = self.constrained()
        d = x - self.x0                                           # (N, D)
        r = (d * d).sum(axis=1).sqrt()                            # (N,)
        h = 1.0 / (alpha + r)                                     # h(alpha, r)
        z = x + (beta * h).reshape(-1, 1) * d
        # h'(alpha, r) = -h^2, so 1 + beta h + beta h' r = 1 + beta h (1 - h r)
        log_det_J = (self.dim - 1) * (1.0 + beta * h).log() + (1.0 + beta * h * (1.0 - h * r)).log()
        return z, log_det_J

    def inverse(self, z):
        """Args: z (N, D). Returns: x from the positive root of the module docstring's quadratic."""
        with no_grad():
            alpha, beta = (float(v.item()) for v in self.constrained())
            xp, x0 = z.xp, self.x0.data.astype(np.float64)
            d = z.data.astype(np.float64) - x0
            rz = xp.sqrt((d * d).sum(axis=1))                    # (N,) ||z - x0||
            p = alpha + beta - rz
            r = 0.5 * (-p + xp.sqrt(p * p + 4.0 * alpha * rz))   # the positive root
            x = x0 + d / (1.0 + beta / (alpha + r))[:, None]
        return Tensor(x.astype(z.dtype))

    def extra_repr(self):
        return f"dim={self.dim}"
