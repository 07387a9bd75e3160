"""Generative adversarial nets (GAN) [1]: the two-player game, with MLP players.

A generator G maps noise z ~ p(z) = N(0, I) to samples; a discriminator D(x) in (0, 1)
says how likely x is to be data. They play the minimax game of [1] eq. 1::

    min_G max_D  V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p(z)}[log(1 - D(G(z)))]

For a fixed G the best discriminator is D*(x) = p_data / (p_data + p_g) (Proposition 1),
and against it G minimises 2 JSD(p_data || p_g) - log 4 (Theorem 1). Training alternates
(Algorithm 1): ``k`` steps of D ascending V, then one step of G (``n_critic = k`` of the
family base). Both are written with logits l = logit D(x), since ``log D = -softplus(-l)``
and ``log(1 - D) = -softplus(l)`` are stable where D saturates::

    discriminator   -V = E softplus(-l(x)) + E softplus(l(G(z)))
    generator, "minimax"          E log(1 - D(G(z)))  = -E softplus(l(G(z)))
    generator, "non-saturating"  -E log D(G(z))       =  E softplus(-l(G(z)))

Why two generator losses ([1] §3, last paragraph): early in training D rejects samples
with confidence, l(G(z)) << 0, where log(1 - D) is flat: the minimax generator's gradient
vanishes (sigmoid(l) -> 0 multiplies it). Maximising log D(G(z)) instead has the same
fixed point and strong gradients there. ``examples/13_gans.py`` shows both gradient fields.

One-sided label smoothing (Salimans et al. 2016 [2], §3.4): the real targets are
1 - ``label_smoothing`` (fake targets stay 0), so D cannot grow arbitrarily confident on
data; the real term becomes ``(1 - s) softplus(-l) + s softplus(l)``.

Players (MLPs, as in [1] §5 without maxout): G = Linear-ReLU stacks, a tanh output on
discrete images (data on [-1, 1], see the family base) or a linear one on continuous
toys; D = Linear-LeakyReLU(0.2) stacks and one logit.

References:
    [1] I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair,
        A. Courville and Y. Bengio, "Generative Adversarial Nets", NeurIPS 2014.
        https://arxiv.org/abs/1406.2661 (eq. 1, Algorithm 1, Proposition 1, Theorem 1, §3)
    [2] T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford and X. Chen,
        "Improved Techniques for Training GANs", NeurIPS 2016, §3.4.
        https://arxiv.org/abs/1606.03498
"""
import math

import numpy as np

from autograd import as_numpy, no_grad
from autograd.functional import softplus

from ...nn import LeakyReLU, Linear, ReLU, Reshape, Sequential, Tanh
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AdversarialModel

__all__ = ["GAN", "OBJECTIVES", "mlp_generator", "mlp_discriminator", "discriminator_loss",
           "generator_objective"]

OBJECTIVES = ("non-saturating", "minimax")


def mlp_generator(latent_dim, hidden, data_shape, rng, dtype, tanh):
    """z (N, latent_dim) -> Linear-ReLU x len(hidden) -> Linear -> (tanh) -> (N, *data_shape)."""
    sizes, layers = (latent_dim,) + tuple(hidden), []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(a, b, rng=rng, dtype=dtype), ReLU()]
    layers.append(Linear(sizes[-1], int(np.prod(data_shape)), rng=rng, dtype=dtype))
    return Sequential(*layers, *([Tanh()] if tanh else []), Reshape(*data_shape))


def mlp_discriminator(data_shape, hidden, rng, dtype):
    """x (N, *data_shape) -> flatten -> Linear-LeakyReLU(0.2) x len(hidden) -> one logit (N, 1)."""
    sizes, layers = (int(np.prod(data_shape)),) + tuple(hidden), [Reshape(-1)]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(a, b, rng=rng, dtype=dtype), LeakyReLU(0.2)]
    return Sequential(*layers, Linear(sizes[-1], 1, rng=rng, dtype=dtype))


def _ring_preset(objective, about):
    return Preset(model=dict(data_shape=(2,), num_levels=None, latent_dim=2, hidden=(128, 128, 128),
                             objective=objective, k=1, label_smoothing=0.0),
                  train=TrainConfig(data="8gaussians", steps=3000, batch_size=256, lr=1e-3, eval_every=250),
                  about=about)


@register("gan")
class GAN(AdversarialModel):
    """GAN (Goodfellow et al. 2014): MLP players, minimax or non-saturating generator loss.

    Args:
        data_shape: shape of one example ((1, 8, 8) digits, (2,) toy points).
        num_levels: levels of discrete data (17 for the digits), None for continuous data.
        latent_dim: dimension of z.
        hidden: widths of the hidden layers of both players.
        objective: the generator's loss, "non-saturating" or "minimax" (module docstring).
        k: discriminator steps per generator step (Algorithm 1).
        label_smoothing: one-sided label smoothing s: real targets 1 - s.
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=32, hidden=(256, 256),
                       objective="non-saturating", k=1, label_smoothing=0.1),
            train=TrainConfig(data="digits", steps=15000, batch_size=64, lr=2e-4, seed=0, eval_every=500,
                              early_stopping=("val/mmd", 30)),
            about="MLP GAN on the digits: Adam 2e-4 (0.5, 0.999), k = 1, smoothing 0.1, 15000 generator "
                  "steps; keeps the best validation MMD (evaluated every 500 steps, never stops early)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=8, hidden=(32,)),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
        "8gaussians": _ring_preset("non-saturating", "the ring of 8 Gaussians, non-saturating loss: "
                                   "the game figure and the modes covered"),
        "8gaussians-minimax": _ring_preset("minimax", "the same game with the saturating minimax loss"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, latent_dim=32, hidden=(256, 256),
                 objective="non-saturating", k=1, label_smoothing=0.0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(latent_dim=latent_dim, hidden=tuple(hidden), k=k, data_shape=tuple(data_shape))
        if num_levels is not None:
            check_positive(num_levels=num_levels)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective={objective!r} is not allowed: objective must be one of {OBJECTIVES}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing={label_smoothing!r} is not allowed: it must be in [0, 1)")
        self.data_shape, self.num_levels, self.latent_dim = tuple(data_shape), num_levels, latent_dim
        self.objective, self.n_critic, self.label_smoothing = objective, k, label_smoothing
        self.D = int(np.prod(data_shape))
        self.generator = mlp_generator(latent_dim, hidden, self.data_shape, self.rng, dtype,
                                       tanh=num_levels is not None)
        self.discriminator = mlp_discriminator(self.data_shape, hidden, self.rng, dtype)

    @property
    def title(self):
        return f"GAN ({self.objective})"

    # -- the two losses --------------------------------------------------------------------
    def discriminator_loss(self, x, z, detach=True):
        """-V(D, G) with one-sided label smoothing: E[(1-s) softplus(-l(x)) + s softplus(l(x))]
        + E softplus(l(G(z))). Metrics: the mean D(x) and D(G(z))."""
        return discriminator_loss(self, x, z, detach)

    def generator_objective(self, l_fake):
        """The generator's loss per sample from the logits l(G(z)) (module docstring)."""
        return generator_objective(l_fake, self.objective)

    def generator_loss(self, z):
        """The mean generator loss of noise ``z`` ("minimax" or "non-saturating")."""
        l_fake = self.discriminator(self.generator(z)).reshape(-1)
        return self.generator_objective(l_fake).mean(), {}

    # -- reports and pictures --------------------------------------------------------------
    def report(self, split, rng, batch_size=256, samples=1000):
        """The family's report; on the ring of 8 Gaussians also the modes covered by 2000 samples
        (``minigen.metrics.modes_covered``: within 3 std of a mode, >= 1 % of the samples)."""
        out = super().report(split, rng, batch_size, samples)
        if getattr(split, "name", None) == "8gaussians":
            from ...data.toy import eight_gaussians_means
            from ...metrics import modes_covered
            covered = modes_covered(self.sample(2000, rng), eight_gaussians_means(), 0.5 / math.sqrt(2.0))
            out.update(modes=float(covered["modes"]), high_quality=covered["high_quality"])
        return out

    def figures(self, run_dir, rng, split=None):
        """samples.png (digits) or game.png (2-D: D's heat map, the points, G's gradient field)."""
        import os
        from ... import plots
        if split is None:
            return []
        if self.data_shape == (2,):
            from ._game import game_figure
            return [game_figure([(self, "end of training")], split.x[:1000], os.path.join(run_dir, "game.png"),
                                rng)]
        x = self.sample(64, rng)
        return [plots.image_grid(x, os.path.join(run_dir, "samples.png"), title=f"{self.title} samples",
                                 levels=self.num_levels)]


def discriminator_loss(model, x, z, detach=True):
    """-V(D, G) of a GAN ``model`` with one-sided label smoothing s (module docstring)::

        E[(1 - s) softplus(-l(x)) + s softplus(l(x))] + E softplus(l(G(z)))

    Returns ``(loss, {"D_real": mean D(x), "D_fake": mean D(G(z))})``; shared with DCGAN."""
    fake = model.generator(z)
    l_real = model.discriminator(model.prepare(x)).reshape(-1)                 # (B,) logits
    l_fake = model.discriminator(fake.detach() if detach else fake).reshape(-1)
    s = model.label_smoothing
    real_term = softplus(-l_real) * (1.0 - s) + softplus(l_real) * s if s else softplus(-l_real)
    loss = real_term.mean() + softplus(l_fake).mean()
    return loss, {"D_real": _mean_sigmoid(l_real), "D_fake": _mean_sigmoid(l_fake)}


def generator_objective(l_fake, objective="non-saturating"):
    """The generator's loss per sample from the logits l(G(z)) (module docstring):
    ``-softplus(l)`` = log(1 - D) ("minimax") or ``softplus(-l)`` = -log D ("non-saturating")."""
    return -softplus(l_fake) if objective == "minimax" else softplus(-l_fake)


def _mean_sigmoid(logits):
    with no_grad():
        l = np.asarray(as_numpy(logits.data), np.float64)
    return float(np.mean(1.0 / (1.0 + np.exp(-l))))
