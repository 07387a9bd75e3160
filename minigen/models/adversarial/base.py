"""``AdversarialModel``: a generator and a discriminator (critic) trained as a two-player game.

A generative adversarial network (Goodfellow et al. 2014, Algorithm 1) has no likelihood
to ascend: a generator G maps noise z ~ p(z) to samples, a discriminator D tells them from
data, and the two take turns::

    repeat:
        n_critic times:  ascend  E_data[log D(x)] + E_z[log(1 - D(G(z)))]    (discriminator)
        once:            descend the generator's loss on fresh z              (generator)

Each model of the family states the two losses (``discriminator_loss``,
``generator_loss``: minimax or non-saturating, Wasserstein with clipping or a gradient
penalty, ...). This base owns what they share: the two optimisers, the alternation
(``train_step`` is one discriminator step on its batch, and every ``n_critic``-th also a
generator step, so one batch feeds one critic update as in WGAN's Algorithm 1), a step
counter kept in a buffer so a resumed run alternates exactly as before, and sampling.
"""
import numpy as np

from autograd import no_grad, randn

from ...optim import Adam
from ..base import GenerativeModel

__all__ = ["AdversarialModel"]


class AdversarialModel(GenerativeModel):
    """Base of the adversarial family (see the module docstring).

    Subclasses set ``self.generator`` and ``self.discriminator`` (Modules),
    ``self.latent_dim``, and define ``discriminator_loss(x, z)`` and ``generator_loss(z)``,
    each returning ``(loss Tensor, {name: float})``.

    Attributes:
        n_critic: discriminator steps per generator step.
        betas: Adam's (beta1, beta2) for both players (DCGAN's (0.5, 0.999) by default).
    """

    n_critic = 1
    betas = (0.5, 0.999)
    best_metric = ("val/d_loss", "min")

    def __init__(self, rng=None):
        super().__init__(rng)
        self.register_buffer("critic_steps", np.zeros((), np.int64))

    def discriminator_loss(self, x, z):
        raise NotImplementedError(f"{self.title} must define discriminator_loss(x, z)")

    def generator_loss(self, z):
        raise NotImplementedError(f"{self.title} must define generator_loss(z)")

    def noise(self, n, rng):
        """z ~ N(0, I): (n, latent_dim) as a Tensor of the parameters' dtype."""
        return randn((n, self.latent_dim), rng, like=self.parameters()[0])   # on the parameters' device

    def configure_optimizers(self, config, total_steps=None):
        """One Adam per player ("generator", "discriminator"), lr from ``config``, betas above."""
        self.optimizers = {
            "generator": Adam(self.generator.parameters(), lr=config.lr, betas=self.betas),
            "discriminator": Adam(self.discriminator.parameters(), lr=config.lr, betas=self.betas)}
        self.schedules, self.ema = {}, None
        return self.optimizers

    def train_step(self, batch):
        """One discriminator step on ``batch``; every ``n_critic``-th call, one generator step."""
        x = self.split_batch(batch)[0]
        d_opt, g_opt = self.optimizers["discriminator"], self.optimizers["generator"]
        d_opt.zero_grad()
        d_loss, metrics = self.discriminator_loss(x, self.noise(len(x), self.rng))
        d_loss.backward()
        d_opt.step()
        out = {"d_loss": d_loss.item(), **metrics}
        self.critic_steps = self.critic_steps.data + 1
        if int(self.critic_steps.data) % self.n_critic == 0:
            g_opt.zero_grad()
            g_loss, metrics = self.generator_loss(self.noise(len(x), self.rng))
            g_loss.backward()
            g_opt.step()
            out.update(g_loss=g_loss.item(), **metrics)
        return out

    def eval_step(self, batch):
        """Both players' losses on ``batch`` with the batch's common random numbers."""
        x = self.split_batch(batch)[0]
        rng = self.eval_rng(x)
        with no_grad():
            d_loss, _ = self.discriminator_loss(x, self.noise(len(x), rng))
            g_loss, _ = self.generator_loss(self.noise(len(x), rng))
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    def sample(self, n, rng):
        """G(z) for ``n`` draws z ~ p(z), as an array."""
        with no_grad():
            return self.generator(self.noise(n, rng)).numpy()
