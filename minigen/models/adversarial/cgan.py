"""Conditional GAN (cGAN) [1]: the GAN game with the label y given to both players.

[1] §3.2 conditions "both the generator and discriminator on some extra information y",
fed "as additional input layer" to each. The game of the GAN ([2] eq. 1) becomes
([1] eq. 2)::

    min_G max_D  V(D, G) = E_{x, y ~ p_data}[log D(x | y)] + E_{z ~ p(z), y ~ p(y)}[log(1 - D(G(z | y) | y))]

so D judges whether x is a real example *of class y*, and G must make samples that
pass as the class it was asked for. Losses, written with the logits l = logit D (as in
``gan.py``, the non-saturating generator loss of [2] §3)::

    discriminator   E softplus(-l(x | y)) + E softplus(l(G(z | y') | y'))      y' ~ U{0..K-1}
    generator       E softplus(-l(G(z | y') | y'))

How y enters (the convolutional form of [1]'s "additional input layer", as conditional
DCGANs do it): the one-hot code e_y (K values) is appended to z for G, and to x as K
constant image channels for D::

    G:  [z, e_y] (N, latent_dim + K)  -> the DCGAN generator (dcgan.py)      -> (N, C, H, H)
    D:  [x, e_y broadcast] (N, C + K, H, H) -> the DCGAN discriminator       -> (N, 1) logit

The model's noise (``noise``) is the pair [z, e_y'] with a uniform label y', so the
family base's training step, evaluation and ``sample`` need nothing new; the real
labels of a batch reach D through ``real_labels`` (set by ``train_step``, ``loss`` and
``eval_step`` from the batch's (x, y)). ``sample(n, rng, labels=...)`` draws chosen
classes; ``report`` adds ``label_accuracy``, the fraction of conditional samples that
minigen's digit classifier (the FID network) puts in the class they were asked for.

[1] trained MLPs (with maxout and dropout) on MNIST; the presets use the DCGAN players
and recipe (Adam 2e-4, beta1 = 0.5) instead, as the 8x8 digits are images.

References:
    [1] M. Mirza and S. Osindero, "Conditional Generative Adversarial Nets", 2014.
        https://arxiv.org/abs/1411.1784 (§3.2, eq. 2)
    [2] I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        https://arxiv.org/abs/1406.2661
"""
import numpy as np

from autograd import Tensor, as_numpy, no_grad, ops, randn, to_device
from autograd.functional import softplus

from ...nn import init
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AdversarialModel
from .dcgan import dcgan_discriminator, dcgan_generator
from .gan import _mean_sigmoid

__all__ = ["ConditionalGAN"]

_RECIPE = "Adam 2e-4 (0.5, 0.999), k = 1, N(0, 0.02) init, batch 64, seed 0"


@register("cgan")
class ConditionalGAN(AdversarialModel):
    """Conditional GAN (Mirza & Osindero 2014) with DCGAN players; the label goes to both.

    Args:
        data_shape: (C, H, H) with H = 4 * 2^m or 7 * 2^m ((1, 8, 8) digits, (1, 28, 28) Fashion-MNIST).
        num_levels: levels of the discrete images (17 for the digits, 256 for Fashion-MNIST).
        num_classes: K, the number of labels.
        latent_dim: dimension of z.
        channels: c of the DCGAN players.
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    betas = (0.5, 0.999)
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, num_classes=10, latent_dim=32, channels=32),
            train=TrainConfig(data="digits", steps=4000, batch_size=64, lr=2e-4, seed=0, eval_every=250,
                              early_stopping=("val/mmd", 16)),
            about=f"conditional DCGAN on the digits: {_RECIPE}, 4000 generator steps; keeps the best "
                  "validation MMD (every 250 steps, never stops early)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, num_classes=10, latent_dim=8, channels=8),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
        "fashion-mnist": Preset(
            model=dict(data_shape=(1, 28, 28), num_levels=256, num_classes=10, latent_dim=64, channels=32),
            train=TrainConfig(data="fashion-mnist", steps=10000, batch_size=64, lr=2e-4, seed=0,
                              eval_every=1000, early_stopping=("val/mmd", 10)),
            about=f"conditional DCGAN on 28x28 Fashion-MNIST (7x7 -> 14 -> 28 players), {_RECIPE}, "
                  "10000 generator steps; keeps the best validation MMD (every 1000 steps)"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, num_classes=10, latent_dim=32, channels=32,
                 rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(num_levels=num_levels, num_classes=num_classes, latent_dim=latent_dim,
                       channels=channels, data_shape=tuple(data_shape))
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"data_shape={data_shape!r} is not allowed: cGAN needs square images (C, H, H)")
        self.data_shape, self.num_levels, self.latent_dim = tuple(data_shape), num_levels, latent_dim
        self.num_classes, self.n_critic, self.D = num_classes, 1, int(np.prod(data_shape))
        C, H = self.data_shape[0], self.data_shape[1]
        self.generator = dcgan_generator(latent_dim + num_classes, channels, self.data_shape, self.rng, dtype)
        self.discriminator = dcgan_discriminator(channels, (C + num_classes, H, H), self.rng, dtype)
        for name, p in self.named_parameters():                     # DCGAN §4: N(0, 0.02) weights
            if name.endswith("weight") and p.ndim == 4:
                p.data = init.normal(p.shape, self.rng, std=0.02, dtype=dtype)
        self.real_labels = None

    @property
    def title(self):
        return "cGAN"

    # -- labels ------------------------------------------------------------------------------
    def one_hot(self, y):
        """e_y: (N,) labels -> (N, K) one-hot array of the parameters' dtype and device."""
        y = np.asarray(as_numpy(y)).astype(np.int64)
        if y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= self.num_classes)):
            raise ValueError(f"labels must be integers in 0..{self.num_classes - 1} of shape (N,), got "
                             f"shape {y.shape} with values {np.unique(y)[:12]}")
        param = self.parameters()[0]
        return to_device(np.eye(self.num_classes, dtype=param.dtype)[y], param.device)

    def noise(self, n, rng, labels=None):
        """The generator's input [z, e_y]: z ~ N(0, I), y uniform on the K classes unless
        ``labels`` (N,) are given; a Tensor (n, latent_dim + K)."""
        z = randn((n, self.latent_dim), rng, like=self.parameters()[0])
        labels = rng.integers(0, self.num_classes, n) if labels is None else labels
        return ops.concatenate([z, Tensor(self.one_hot(labels))], axis=1)

    def conditioned(self, x, codes):
        """D's input: images (N, C, H, H) and one-hot codes (N, K) as K constant channels."""
        H = self.data_shape[1]
        N, K = len(codes), self.num_classes
        maps = codes.reshape(N, K, 1, 1).broadcast_to((N, K, H, H))
        return ops.concatenate([x, maps], axis=1)                   # (N, C + K, H, H)

    def _take_labels(self, batch):
        x, y = self.split_batch(batch)
        if y is None:
            raise ValueError("a conditional GAN trains on labelled batches (x, y); this batch has no labels")
        self.real_labels = y
        return x

    # -- the two losses ----------------------------------------------------------------------
    def train_step(self, batch):
        """The family's step on ``batch`` = (x, y); y reaches D through ``real_labels``."""
        return super().train_step(self._take_labels(batch))

    def loss(self, batch):
        return super().loss(self._take_labels(batch))

    def eval_step(self, batch):
        return super().eval_step(self._take_labels(batch))

    def discriminator_loss(self, x, z, detach=True):
        """-V(D, G) of [1] eq. 2 (module docstring); metrics the mean D(x|y) and D(G(z|y')|y')."""
        codes = z[:, self.latent_dim:]                              # e_y' of the fake labels
        fake = self.generator(z)
        real = self.prepare(x)
        real_codes = Tensor(self.one_hot(self.real_labels))
        l_real = self.discriminator(self.conditioned(real, real_codes)).reshape(-1)
        l_fake = self.discriminator(self.conditioned(fake.detach() if detach else fake, codes)).reshape(-1)
        loss = softplus(-l_real).mean() + softplus(l_fake).mean()
        return loss, {"D_real": _mean_sigmoid(l_real), "D_fake": _mean_sigmoid(l_fake)}

    def generator_loss(self, z):
        """The non-saturating loss E softplus(-l(G(z|y')|y'))."""
        l_fake = self.discriminator(self.conditioned(self.generator(z), z[:, self.latent_dim:])).reshape(-1)
        return softplus(-l_fake).mean(), {}

    # -- samples, report, pictures -----------------------------------------------------------
    def sample(self, n, rng, labels=None):
        """G(z | y) for n draws, y uniform unless ``labels`` (n,) are given; integer levels."""
        with no_grad():
            x = self.generator(self.noise(n, rng, labels)).numpy()
        levels = np.rint((np.clip(x, -1.0, 1.0) + 1.0) / 2.0 * (self.num_levels - 1))
        return levels.astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def class_rows(self, rng, per_class=10):
        """One row of ``per_class`` samples per class: [(label, images (per_class, C, H, W)), ...]."""
        return [(str(k), self.sample(per_class, rng, np.full(per_class, k))) for k in range(self.num_classes)]

    def report(self, split, rng, batch_size=256, samples=1000):
        """The family's report; on the digits also ``label_accuracy`` (module docstring)."""
        out = super().report(split, rng, batch_size, samples)
        if getattr(split, "name", None) == "digits":
            from ...metrics.features import digits_classifier, to_unit
            labels = np.arange(samples) % self.num_classes
            x = to_unit(self.sample(samples, rng, labels), self.num_levels)
            predicted = digits_classifier()[0].predict(x.astype(np.float32))
            out["label_accuracy"] = float(np.mean(predicted == labels))
        return out

    def figures(self, run_dir, rng, split=None):
        """classes.png: one row of samples per class (``plots.labelled_rows``)."""
        import os
        from ... import plots
        return [plots.labelled_rows(self.class_rows(rng), os.path.join(run_dir, "classes.png"),
                                    title="cGAN: one row per class", levels=self.num_levels)]
