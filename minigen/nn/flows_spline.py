"""The rational-quadratic spline coupling of neural spline flows (Durkan et al. 2019 [1]).

Direction as every flow in minigen (``nn/flows.py``): ``forward(x) -> (z, log_det_J)``
data -> latent, ``inverse(z) -> x``.

A coupling layer ([1] §3.1 and §3.3, after RealNVP's) splits the D values of a vector
x into a kept set I1 and a changed set I2. A network reads x_I1 and returns, for every
changed value i, the parameters theta_i of its own monotone rational-quadratic spline
g_theta_i (K bin widths, K bin heights, K - 1 inner slopes, all unnormalised; the
spline, identity outside [-B, B], is ``autograd.ops.rq_spline``, eqs. (4)-(8) of [1])::

    z_I1 = x_I1,            z_i = g_{theta_i(x_I1)}(x_i)        i in I2
    log_det_J = sum_{i in I2} log g'_{theta_i}(x_i)             (triangular Jacobian)
    x_I1 = z_I1,            x_i = g^-1_{theta_i(z_I1)}(z_i)     (the network is never inverted)

With K bins a coupling is far more flexible than an affine one (which is the case
K = 1 with a line), and still exactly invertible by the quadratic formula.

Reference:
    [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios, "Neural Spline Flows",
        NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""
import numpy as np

from autograd import ops
from autograd.ops.spline import rq_spline, rq_spline_inverse

from .flows import Flow

__all__ = ["RQSplineCoupling", "split_by_mask"]


def split_by_mask(mask):
    """(I1, I2): the flat indices where ``mask`` is 1 (kept) and 0 (changed)."""
    b = np.asarray(mask).reshape(-1)
    return np.flatnonzero(b == 1), np.flatnonzero(b == 0)


class RQSplineCoupling(Flow):
    """Spline coupling on (N, D) vectors (module docstring).

    Args:
        net: a Module from (N, |I1|) to (N, |I2| * (3K - 1)): per changed value K widths,
            K heights and K - 1 slopes, in that order.
        kept, changed: I1 and I2 (``split_by_mask``).
        bins: K.
        bound: B.
    """

    def __init__(self, net, kept, changed, bins=8, bound=3.0):
        super().__init__()
        if bins < 2 or not bound > 0:
            raise ValueError(f"a spline coupling needs bins >= 2 and bound > 0, got bins={bins}, bound={bound}")
        self.net, self.bins, self.bound = net, int(bins), float(bound)
        self.kept, self.changed = np.asarray(kept), np.asarray(changed)
        self.unsplit = np.argsort(np.concatenate([self.kept, self.changed]))   # puts (I1, I2) back

    def _params(self, x_kept):
        K = self.bins
        p = self.net(x_kept).reshape(len(x_kept), len(self.changed), 3 * K - 1)   # (N, |I2|, 3K-1)
        return ops.split(p, [K, 2 * K], axis=2)                                # w (K), h (K), d (K-1)

    def forward(self, x):
        """Args: x (N, D). Returns: (z (N, D), log_det_J (N,))."""
        x_kept, x_changed = x[:, self.kept], x[:, self.changed]
        y, ld = rq_spline(x_changed, *self._params(x_kept), bound=self.bound)
        return ops.concatenate([x_kept, y], axis=1)[:, self.unsplit], ld.sum(axis=1)

    def inverse(self, z):
        """Args: z (N, D). Returns: x (N, D)."""
        z_kept, z_changed = z[:, self.kept], z[:, self.changed]
        x, _ = rq_spline_inverse(z_changed, *self._params(z_kept), bound=self.bound)
        return ops.concatenate([z_kept, x], axis=1)[:, self.unsplit]

    def extra_repr(self):
        return f"bins={self.bins}, bound={self.bound}, kept={len(self.kept)}, changed={len(self.changed)}"
