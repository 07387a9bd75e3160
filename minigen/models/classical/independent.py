"""The independent-pixel baseline: every value its own categorical, fitted by counting.

    p(x) = prod_i p_i(x_i),    p_i(l) = (n_il + alpha) / (n + alpha L)

where n_il counts training examples whose value i is l. With add-one (Laplace)
smoothing, alpha = 1, no level has probability zero, so a test image with a level never
seen at that pixel still has a finite likelihood. On the digits protocol it scores
106.47 nats per image, against D log L = 181.33 for the uniform model: the distance
from there to PixelCNN's 82.32 is what modelling the dependences between pixels buys.

Reference: any textbook treatment of the maximum-likelihood categorical with a
Dirichlet(alpha) prior, e.g. K. P. Murphy, "Machine Learning: A Probabilistic
Perspective", 2012, §3.4 (the Dirichlet-multinomial model, eq. 3.51).
"""
import numpy as np

from autograd import as_numpy

from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import ClassicalModel

__all__ = ["IndependentCategorical"]


@register("independent")
class IndependentCategorical(ClassicalModel):
    """The independent-pixel baseline: one categorical per value, add-alpha smoothed counts.

    Args:
        data_shape: shape of one example.
        num_levels: L.
        alpha: the smoothing pseudo-count (1: Laplace's add-one rule).
        rng: generator or seed (unused by the fit; kept for the protocol).
    """

    default_preset = "digits-reference"
    presets = {"digits-reference": Preset(
        model=dict(data_shape=(1, 8, 8), num_levels=17, alpha=1.0),
        train=TrainConfig(data="digits", epochs=1, batch_size=64, seed=0),
        about="the README's independent-pixel baseline: 106.47 nats")}

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, alpha=1.0, rng=None):
        super().__init__(rng)
        check_positive(data_shape=data_shape)
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels={num_levels!r} is not allowed: num_levels must be an integer >= 2")
        if not alpha > 0:
            raise ValueError(f"alpha={alpha!r} is not allowed: alpha must be > 0")
        self.data_shape, self.num_levels, self.alpha = tuple(data_shape), num_levels, float(alpha)
        self.D = int(np.prod(self.data_shape))
        self.register_buffer("counts", np.zeros((self.D, num_levels), np.float64))   # n_il

    def log_probs(self):
        """log p_i(l), an array (D, L): (n_il + alpha) / (n + alpha L)."""
        c = self.counts.data if hasattr(self.counts, "data") else self.counts
        c = as_numpy(c) + self.alpha
        return np.log(c / c.sum(axis=1, keepdims=True))

    def train_step(self, batch):
        """Add the batch's level counts; returns its NLL under the updated counts."""
        x = np.asarray(as_numpy(self.split_batch(batch)[0])).reshape(-1, self.D).astype(np.int64)
        counts = np.array(as_numpy(getattr(self.counts, "data", self.counts)))
        np.add.at(counts, (np.broadcast_to(np.arange(self.D), x.shape), x), 1.0)
        self.counts = counts
        return self.nats_metrics(-self.log_prob(x))

    def log_prob(self, x):
        """log p(x) = sum_i log p_i(x_i) in nats per example, float64 (N,)."""
        x = np.asarray(as_numpy(x)).reshape(len(x), -1).astype(np.int64)         # (N, D)
        if x.shape[1] != self.D:
            raise ValueError(f"this model has {self.D} values per example, got {x.shape[1]}")
        return self.log_probs()[np.arange(self.D), x].sum(axis=1)

    def sample(self, n, rng):
        """``n`` examples, every value drawn from its own categorical."""
        p = np.exp(self.log_probs())                                               # (D, L)
        u = rng.random((n, self.D, 1))
        x = (u > np.cumsum(p, axis=1)[None]).sum(axis=2)                           # inverse CDF
        return np.minimum(x, self.num_levels - 1).reshape((n,) + self.data_shape).astype(np.uint8)

    def figures(self, run_dir, rng, split=None):
        import os
        from ... import plots
        return [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"),
                                 title=f"{self.title} samples", levels=self.num_levels)]
