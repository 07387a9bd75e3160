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

Data space. Discrete images (``num_levels`` = L set) are seen by both players on
[-1, 1], ``x / (L - 1) * 2 - 1`` (``prepare``), the range of a tanh generator (Radford et
al. 2016, §3), and ``sample`` maps G(z) back to the data's integer levels, so the
samples are judged like any other model's. Continuous data (the 2-D toys) pass unchanged.

What the protocol's other methods mean here. A GAN has no likelihood, so:

* ``loss(batch)`` is the discriminator's loss with gradients into *both* players (the
  game's value function V(D, G) up to sign; its gradient in G's parameters is the
  minimax generator's). The training step detaches G(z) in the discriminator's step
  instead; ``loss`` is what the contract tests gradcheck in float64.
* ``eval_step`` adds ``mmd``: the unbiased squared MMD with a Gaussian kernel (median
  bandwidth, ``minigen.metrics``) between the batch and as many samples, with common
  random numbers. It is the validation figure that picks the kept parameters
  (``best_metric``): the losses of a two-player game do not say whether the samples
  improve.
* ``report`` adds, on the 8x8 digits, the sample metrics of 1000 samples against the
  split (FID, KID, precision, recall, C2ST AUC: ``minigen.metrics.sample_metrics``).
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
    best_metric = ("val/mmd", "min")
    num_levels = None     # levels of discrete data (seen on [-1, 1]); None: continuous data

    def __init__(self, rng=None):
        super().__init__(rng)
        self.register_buffer("critic_steps", np.zeros((), np.int64))

    def discriminator_loss(self, x, z, detach=True):
        """The discriminator's loss of data ``x`` (raw batch) and noise ``z``.

        Args:
            detach: stop gradients into the generator (the training step); ``loss`` passes False.
        """
        raise NotImplementedError(f"{self.title} must define discriminator_loss(x, z, detach=True)")

    def prepare(self, x):
        """A raw batch in the players' space: ``x / (L - 1) * 2 - 1`` for L levels, else as is;
        a Tensor of the parameters' dtype."""
        from autograd import Tensor, as_numpy, to_device
        param = self.parameters()[0]
        x = np.asarray(as_numpy(getattr(x, "data", x)), np.float64)
        if self.num_levels is not None:
            x = x / (self.num_levels - 1) * 2.0 - 1.0
        return Tensor(to_device(x.astype(param.dtype), param.device))

    def loss(self, batch):
        """The discriminator's loss of ``batch`` with gradients into both players (module
        docstring): ``(Tensor, {name: float})``, noise from ``self.rng``."""
        x = self.split_batch(batch)[0]
        return self.discriminator_loss(x, self.noise(len(x), self.rng), detach=False)

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
        self.after_critic_step()
        out = {"loss": d_loss.item(), "d_loss": d_loss.item(), **metrics}
        self.critic_steps = self.critic_steps.data + 1
        if int(self.critic_steps.data) % self.n_critic == 0:
            g_opt.zero_grad()
            g_loss, metrics = self.generator_loss(self.noise(len(x), self.rng))
            g_loss.backward()
            g_opt.step()
            out.update(g_loss=g_loss.item(), **metrics)
        return out

    def after_critic_step(self):
        """Called after every discriminator (critic) update, before any generator step: a hook
        for constraints on the critic's weights (WGAN's clipping, ``wgan.py``); nothing here."""

    def eval_step(self, batch):
        """Both players' losses on ``batch``, and the MMD between the batch and as many samples
        (module docstring), with the batch's common random numbers."""
        from autograd import as_numpy
        from ...metrics.distances import mmd
        x = self.split_batch(batch)[0]
        rng = self.eval_rng(x)
        with no_grad():
            d_loss, _ = self.discriminator_loss(x, self.noise(len(x), rng))
            g_loss, _ = self.generator_loss(self.noise(len(x), rng))
            fake = as_numpy(self.generator(self.noise(len(x), rng)).data)
        real = as_numpy(self.prepare(x).data)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "mmd": mmd(real, fake)}

    def sample(self, n, rng):
        """G(z) for ``n`` draws z ~ p(z), as an array; for L-level data rounded from [-1, 1]
        to the integer levels 0..L-1 (uint8 when L <= 256)."""
        with no_grad():
            x = self.generator(self.noise(n, rng)).numpy()
        if self.num_levels is None:
            return x
        levels = np.rint((np.clip(x, -1.0, 1.0) + 1.0) / 2.0 * (self.num_levels - 1))
        return levels.astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def report(self, split, rng, batch_size=256, samples=1000):
        """The losses and MMD averaged over ``split``; on the 8x8 digits also the sample metrics
        of ``samples`` draws against it (``minigen.metrics.sample_metrics``)."""
        out = super().report(split, rng, batch_size)
        if getattr(split, "name", None) == "digits" and self.num_levels is not None:
            from ...metrics import sample_metrics
            values = sample_metrics(self.sample(samples, rng), split, num_levels=self.num_levels, rng=rng)
            out.update({k: v for k, v in values.items() if k != "kid_std"})
        return out
