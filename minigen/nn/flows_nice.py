"""NICE's bijections (Dinh, Krueger & Bengio 2015 [1]): additive coupling and the diagonal scaling.

Direction as every flow in minigen (``nn/flows.py``): ``forward(x) -> (z, log_det_J)``
data -> latent, ``inverse(z) -> x``.

**Additive coupling** ([1] §3.2, the additive coupling law; §5.1 for the odd / even
partition). The D inputs of a vector x are split into two index sets I1 (kept) and
I2 (changed); a network m of any shape (its input |I1| wide, output |I2| wide) shifts the
changed half::

    z_I1 = x_I1,          z_I2 = x_I2 + m(x_I1)
    x_I1 = z_I1,          x_I2 = z_I2 - m(z_I1)                 (the inverse: m is never inverted)

The Jacobian is unit triangular: log_det_J = 0; the coupling preserves volume. Layers
alternate the roles of the two sets so every value gets changed.

**Diagonal scaling** ([1] §3.3). Volume preserving layers alone cannot concentrate mass,
so a last layer scales every value::

    z = exp(s) * x,       log_det_J = sum_d s_d                 (S_dd = exp(s_d) > 0)

The logistic prior of [1] §3.4 is the model's (``models/flows/nice.py``).

Reference:
    [1] L. Dinh, D. Krueger, Y. Bengio, "NICE: Non-linear Independent Components
        Estimation", ICLR 2015 workshop. https://arxiv.org/abs/1410.8516
"""
import numpy as np

from autograd import Tensor, ops

from .flows import Flow
from .init import zeros
from .module import Parameter

__all__ = ["AdditiveCoupling", "DiagonalScaling", "odd_even_split"]


def odd_even_split(dim, parity=0):
    """The index sets (I1 kept, I2 changed) of [1] §5.1: even indices kept when ``parity``
    is 0, odd ones when it is 1. Returns two int arrays."""
    idx = np.arange(dim)
    kept = idx % 2 == parity
    return idx[kept], idx[~kept]


class AdditiveCoupling(Flow):
    """z_I1 = x_I1, z_I2 = x_I2 + m(x_I1) on (N, D) vectors ([1] §3.2); log_det_J = 0.

    Args:
        net: m, a Module from (N, |I1|) to (N, |I2|).
        kept: I1, the indices passed through (``odd_even_split``).
        changed: I2, the indices shifted.
    """

    def __init__(self, net, kept, changed):
        super().__init__()
        self.net = net
        self.kept, self.changed = np.asarray(kept), np.asarray(changed)
        self.unsplit = np.argsort(np.concatenate([self.kept, self.changed]))   # puts (I1, I2) back

    def _join(self, a, b):
        return ops.concatenate([a, b], axis=1)[:, self.unsplit]                 # (N, D)

    def forward(self, x):
        """Args: x (N, D). Returns: (z, zeros (N,))."""
        x1, x2 = x[:, self.kept], x[:, self.changed]                            # (N, |I1|), (N, |I2|)
        z = self._join(x1, x2 + self.net(x1))
        return z, Tensor(x.xp.zeros(len(x), dtype=x.dtype))

    def inverse(self, z):
        z1, z2 = z[:, self.kept], z[:, self.changed]
        return self._join(z1, z2 - self.net(z1))


class DiagonalScaling(Flow):
    """z = exp(s) * x per value ([1] §3.3), log_det_J = sum s; s starts at 0 (the identity).

    Args:
        dim: D, or a shape such as (C, H, W): one scale per value.
        dtype: float dtype of s.
    """

    def __init__(self, dim, *, dtype=np.float32):
        super().__init__()
        self.s = Parameter(zeros((dim,) if np.isscalar(dim) else tuple(dim), dtype))

    def forward(self, x):
        """Args: x (N, *shape of s). Returns: (z, log_det_J (N,))."""
        return x * self.s.exp(), self.s.sum().broadcast_to((len(x),))

    def inverse(self, z):
        return z * (-self.s).exp()
