"""Masked autoregressive affine bijections: MAF (Papamakarios et al. 2017 [1]) and IAF (Kingma et al. 2016 [2]).

Direction as every flow in minigen (``nn/flows.py``): ``forward(x) -> (z, log_det_J)``
data -> latent, ``inverse(z) -> x`` latent -> data (sampling).

One MADE network ([3], masks from ``masked_linear.made_masks``) reads a vector v and
returns, for every value d, a shift mu_d and a log-scale alpha_d that depend only on
the values before d in an ordering (``order``): one pass gives all D of them. The two
layers differ in *which side* the network reads.

**MAF** ([1] §3.1): the network reads the data side, x::

    forward   z_d = (x_d - mu_d(x_<d)) exp(-alpha_d(x_<d))        one pass (density)
    inverse   x_d = z_d exp(alpha_d(x_<d)) + mu_d(x_<d)           D passes (sampling)
    log|det dz/dx^T| = -sum_d alpha_d(x_<d)                        (triangular Jacobian)

**IAF** ([2] §4, eq. (10) with sigma = exp(alpha)): the network reads the latent side, z::

    inverse   x_d = z_d exp(alpha_d(z_<d)) + mu_d(z_<d)           one pass (sampling)
    forward   z_d = (x_d - mu_d(z_<d)) exp(-alpha_d(z_<d))        D passes (density)
    log|det dz/dx^T| = -sum_d alpha_d(z_<d)

An IAF is a MAF with its two sides swapped ([1] §3.2): MAF evaluates the density of any
x in one pass but samples in D, IAF the reverse. IAF suits variational posteriors (it
scores its own samples in one pass: the z is known); MAF suits density estimation.

**The D passes.** Start from v = 0 and apply the one-pass formula D times, each time
with the network reading the current v. The network's outputs for the value in
position k depend only on positions < k, so after pass k the first k values (in the
ordering) are exact and stay so; after D passes all are, and so are their gradients
(the recorded graph computes the same function of the same exact values).

References:
    [1] G. Papamakarios, T. Pavlakou, I. Murray, "Masked Autoregressive Flow for Density
        Estimation", NeurIPS 2017. https://arxiv.org/abs/1705.07057
    [2] D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling,
        "Improved Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016.
        https://arxiv.org/abs/1606.04934
    [3] M. Germain, K. Gregor, I. Murray, H. Larochelle, "MADE", ICML 2015, §4 (masks).
"""
import numpy as np

from autograd import ops

from .flows import Flow
from .masked_linear import MaskedLinear, connectivity, made_masks
from .module import ModuleList

__all__ = ["MaskedAutoregressiveAffine"]


class MaskedAutoregressiveAffine(Flow):
    """One MAF layer (``inverted=False``) or IAF layer (``inverted=True``) on (N, D) vectors.

    The MADE network: D -> hidden[0] -> ... -> 2D, ReLU between, masks of [3] eqs. (12)-(13)
    with hidden connectivity numbers drawn from ``rng``; output rows 0..D-1 are mu, rows
    D..2D-1 alpha (both halves carry value d's output mask). PyTorch's default init.

    Args:
        dim: D.
        hidden: sizes of the hidden layers, e.g. (256, 256).
        order: (D,) the position (1..D) of each value in the ordering; default 1..D.
            MAF stacks reverse it between layers.
        inverted: False for MAF (density in one pass), True for IAF (sampling in one pass).
        rng: generator for the weights and the hidden units' connectivity numbers.
        dtype: float dtype of the parameters.
    """

    def __init__(self, dim, hidden, order=None, inverted=False, *, rng, dtype=np.float32):
        super().__init__()
        self.dim, self.inverted = dim, bool(inverted)
        hidden = (hidden,) if np.isscalar(hidden) else tuple(hidden)
        order = np.arange(1, dim + 1) if order is None else np.asarray(order)
        if sorted(order.tolist()) != list(range(1, dim + 1)):
            raise ValueError(f"order must be a permutation of 1..{dim} (positions, 1-based), got {order.tolist()}")
        self.order = order
        masks, out = made_masks(connectivity(order, hidden, rng))              # eqs. (12)-(13)
        sizes = (dim,) + hidden
        self.layers = ModuleList([MaskedLinear(a, b, M, rng=rng, dtype=dtype)
                                  for a, b, M in zip(sizes[:-1], sizes[1:], masks)]
                                 + [MaskedLinear(hidden[-1], 2 * dim, np.concatenate([out, out]), rng=rng,
                                                 dtype=dtype)])

    def conditioners(self, v):
        """(mu, alpha), each (N, D): value d's from the values before d in v only."""
        for layer in self.layers.children()[:-1]:
            v = layer(v).relu()
        return ops.split(self.layers[-1](v), 2, axis=1)                         # (N, 2D) -> 2 x (N, D)

    def _shift_scale(self, x):                       # one pass reading x: z = (x - mu(x)) exp(-alpha(x))
        mu, alpha = self.conditioners(x)
        return (x - mu) * (-alpha).exp(), -alpha.sum(axis=1)

    def _unshift_scale(self, z):                     # one pass reading z: x = z exp(alpha(z)) + mu(z)
        mu, alpha = self.conditioners(z)
        return z * alpha.exp() + mu, -alpha.sum(axis=1)

    def forward(self, x):
        """Args: x (N, D). Returns: (z, log_det_J (N,)): one pass (MAF) or D passes (IAF)."""
        if not self.inverted:
            return self._shift_scale(x)
        z = x * 0.0
        for _ in range(self.dim):                    # IAF: z_d = (x_d - mu_d(z_<d)) exp(-alpha_d(z_<d))
            mu, alpha = self.conditioners(z)
            z = (x - mu) * (-alpha).exp()
        return z, -alpha.sum(axis=1)                 # alpha read the exact z_<d in the last pass

    def inverse(self, z):
        """Args: z (N, D). Returns: x: one pass (IAF) or D passes (MAF)."""
        if self.inverted:
            return self._unshift_scale(z)[0]
        x = z * 0.0
        for _ in range(self.dim):                    # MAF: x_d = z_d exp(alpha_d(x_<d)) + mu_d(x_<d)
            mu, alpha = self.conditioners(x)
            x = z * alpha.exp() + mu
        return x

    def inverse_and_log_det(self, z):
        """x = inverse(z) and log|det dz/dx^T| at that x, (N,). For IAF one pass: a
        variational posterior draws x from noise z and scores it with this."""
        if self.inverted:
            return self._unshift_scale(z)
        x = self.inverse(z)
        return x, -self.conditioners(x)[1].sum(axis=1)

    def extra_repr(self):
        return f"dim={self.dim}, {'IAF' if self.inverted else 'MAF'}"
