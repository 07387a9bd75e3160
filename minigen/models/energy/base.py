"""``EnergyModel``: p(x) = exp(-E(x)) / Z, trained by contrasting data with the model's own samples.

The gradient of the log-likelihood of an energy-based model is a difference of two
expectations (Hinton 2002, eq. 5; Du & Mordatch 2019, eq. 2)::

    d/dtheta log p(x) = -dE(x)/dtheta + E_{x' ~ p}[dE(x')/dtheta]

The second term needs samples of the model, which a Markov chain provides approximately:
Gibbs sweeps started at the data (contrastive divergence, CD-k), a persistent chain
(PCD; Tieleman 2008), or Langevin dynamics. So the family's training loss is the
surrogate whose gradient is that estimate::

    loss = mean E(x_data) - mean E(x_neg),      x_neg = negative_samples(x_data) (no gradient)

and the default ``train_step`` (zero_grad / backward / step) applies it. Each model states
its energy and its chain; the normalising constant Z stays out of training, and a model
that reports a likelihood estimates it separately (annealed importance sampling for an RBM).
"""

from autograd import Tensor, no_grad, to_device

from ..base import GenerativeModel

__all__ = ["EnergyModel"]


class EnergyModel(GenerativeModel):
    """Base of the energy-based family (see the module docstring).

    Subclasses define ``energy(x) -> Tensor (N,)`` and ``negative_samples(x, rng) -> array``.
    """

    best_metric = ("val/energy_gap", "min")

    def energy(self, x):
        """E(x) per example: Tensor (N,)."""
        raise NotImplementedError(f"{self.title} must define energy(x)")

    def negative_samples(self, x, rng):
        """Samples of the model's chain for the batch ``x`` (CD: started at x), an array like x."""
        raise NotImplementedError(f"{self.title} must define negative_samples(x, rng)")

    def as_input(self, x):
        p = self.parameters()[0]
        return x if isinstance(x, Tensor) else Tensor(to_device(x, p.device), dtype=p.dtype)

    def contrast(self, x, rng):
        """``(loss, metrics)``: mean E(data) - mean E(negatives), the negatives drawn with ``rng``."""
        with no_grad():
            neg = self.negative_samples(x, rng)
        e_data, e_neg = self.energy(self.as_input(x)).mean(), self.energy(self.as_input(neg)).mean()
        gap = e_data - e_neg
        return gap, {"energy_data": e_data.item(), "energy_gap": gap.item()}

    def loss(self, batch):
        return self.contrast(self.split_batch(batch)[0], self.rng)

    def eval_step(self, batch):
        """The energy gap on ``batch`` with the batch's common random numbers."""
        x = self.split_batch(batch)[0]
        with no_grad():
            return self.contrast(x, self.eval_rng(x))[1]
