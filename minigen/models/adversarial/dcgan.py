"""Deep convolutional GAN (DCGAN) [1]: the GAN game played by convolutional players.

The game and its losses are the GAN's ([2]; the non-saturating generator loss,
``gan.py``). What [1] adds is an architecture that trains stably (§3, "Approach and model
architecture"), each point of its list here:

* no pooling: the discriminator downsamples with **strided convolutions**, the generator
  upsamples with **transposed ("fractionally-strided") convolutions**;
* **batch normalisation** in both players, except the generator's output layer and the
  discriminator's input layer;
* **ReLU** in the generator, **tanh** at its output (data scaled to [-1, 1]);
  **LeakyReLU with slope 0.2** in the discriminator;
* no fully connected hidden layers: z is "projected and reshaped" by the first
  transposed convolution (1x1 -> 4x4);
* §4 "Details of adversarial training": weights from N(0, 0.02), mini-batches of 128,
  **Adam with lr 2e-4 and beta1 = 0.5** (0.9 "resulted in training oscillation").

For an H x H image (H = s * 2^m, s = 4 or 7; s = 4, m = 1 for the 8x8 digits, s = 7, m = 2 for
28x28 Fashion-MNIST, where the first and last kernels are 7 instead of 4), with c = ``channels``::

    G:  z (N, latent_dim, 1, 1) -ConvT 4, s1-> (N, c 2^m, 4, 4) -BN-ReLU-
        [ -ConvT 4, s2, p1-> (N, c 2^(j-1), 2x) -BN-ReLU- ] x m  -ConvT 3, s1, p1-> (N, C, H, H) -tanh
    D:  x (N, C, H, H) -Conv 3, s1, p1-> (N, c, H, H) -LReLU(0.2)-
        [ -Conv 4, s2, p1-> (N, 2x channels, H/2) -BN-LReLU(0.2)- ] x m  -Conv 4, s1-> (N, 1, 1, 1) logit

The digits preset uses batches of 64 (the digits protocol) instead of [1]'s 128.

References:
    [1] A. Radford, L. Metz and S. Chintala, "Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks", ICLR 2016. https://arxiv.org/abs/1511.06434
    [2] I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        https://arxiv.org/abs/1406.2661
"""
import numpy as np

from ...nn import BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, ReLU, Reshape, Sequential, Tanh
from ...nn import init
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AdversarialModel
from .gan import OBJECTIVES, discriminator_loss, generator_objective

__all__ = ["DCGAN", "dcgan_generator", "dcgan_discriminator"]


def _upsamplings(size):
    """(s, m) with size = s * 2^m, s = 4 or 7 (ValueError otherwise)."""
    for s in (4, 7):
        m = int(round(np.log2(size / s))) if size >= s else -1
        if m >= 0 and s * 2 ** m == size:
            return s, m
    raise ValueError(f"DCGAN images must be square with a side 4 * 2^m or 7 * 2^m (8, 14, 16, 28, 32, ...), "
                     f"got {size}")


def dcgan_generator(latent_dim, channels, data_shape, rng, dtype):
    """The generator of the module docstring: z (N, latent_dim) -> (N, C, H, H) in [-1, 1]."""
    C, H = data_shape[0], data_shape[1]
    s, m = _upsamplings(H)
    width = channels * 2 ** m
    layers = [Reshape(latent_dim, 1, 1),                                        # (N, latent_dim, 1, 1)
              ConvTranspose2d(latent_dim, width, s, 1, 0, bias=False, rng=rng, dtype=dtype),  # (N, w, s, s)
              BatchNorm2d(width, dtype=dtype), ReLU()]
    for _ in range(m):                                                          # 4 -> 8 -> ... -> H
        layers += [ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False, rng=rng, dtype=dtype),
                   BatchNorm2d(width // 2, dtype=dtype), ReLU()]
        width //= 2
    layers += [ConvTranspose2d(width, C, 3, 1, 1, rng=rng, dtype=dtype), Tanh()]  # (N, C, H, H)
    return Sequential(*layers)


def dcgan_discriminator(channels, data_shape, rng, dtype, batch_norm=True):
    """The discriminator of the module docstring: x (N, C, H, H) -> one logit (N, 1).
    ``batch_norm=False`` drops its batch norms (WGAN-GP's critic, which must not mix examples)."""
    C, H = data_shape[0], data_shape[1]
    s, m = _upsamplings(H)
    layers, width = [Conv2d(C, channels, 3, 1, 1, rng=rng, dtype=dtype), LeakyReLU(0.2)], channels
    for _ in range(m):                                                          # H -> H/2 -> ... -> 4
        layers += [Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm, rng=rng, dtype=dtype),
                   *([BatchNorm2d(2 * width, dtype=dtype)] if batch_norm else []), LeakyReLU(0.2)]
        width *= 2
    layers += [Conv2d(width, 1, s, 1, 0, rng=rng, dtype=dtype), Reshape(1)]     # (N, 1)
    return Sequential(*layers)


@register("dcgan")
class DCGAN(AdversarialModel):
    """DCGAN (Radford et al. 2016): strided-conv discriminator, transposed-conv generator, batch norm.

    Args:
        data_shape: (C, H, H) with H = 4 * 2^m or 7 * 2^m ((1, 8, 8) for the digits).
        num_levels: levels of the discrete images (17 for the digits).
        latent_dim: dimension of z ([1] uses 100).
        channels: c, the width of the discriminator's first and the generator's last layer.
        objective: the generator's loss, "non-saturating" ([1]) or "minimax".
        k: discriminator steps per generator step.
        label_smoothing: one-sided label smoothing s (0 in [1]).
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    betas = (0.5, 0.999)                                  # [1] §4: beta1 = 0.5
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=32, channels=32,
                       objective="non-saturating", k=1, label_smoothing=0.0),
            train=TrainConfig(data="digits", steps=4000, batch_size=64, lr=2e-4, seed=0, eval_every=250,
                              early_stopping=("val/mmd", 16)),
            about="DCGAN on the digits: Adam 2e-4 (0.5, 0.999), k = 1, 4000 generator steps, N(0, 0.02) "
                  "init; keeps the best validation MMD (every 250 steps, never stops early)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=8, channels=8),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, latent_dim=32, channels=64,
                 objective="non-saturating", k=1, label_smoothing=0.0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(latent_dim=latent_dim, channels=channels, k=k, num_levels=num_levels,
                       data_shape=tuple(data_shape))
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"data_shape={data_shape!r} is not allowed: DCGAN needs square images (C, H, H)")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective={objective!r} is not allowed: objective must be one of {OBJECTIVES}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing={label_smoothing!r} is not allowed: it must be in [0, 1)")
        self.data_shape, self.num_levels, self.latent_dim = tuple(data_shape), num_levels, latent_dim
        self.objective, self.n_critic, self.label_smoothing = objective, k, label_smoothing
        self.D = int(np.prod(data_shape))
        self.generator = dcgan_generator(latent_dim, channels, self.data_shape, self.rng, dtype)
        self.discriminator = dcgan_discriminator(channels, self.data_shape, self.rng, dtype)
        for name, p in self.named_parameters():                     # [1] §4: N(0, 0.02) weights
            if name.endswith("weight") and p.ndim == 4:
                p.data = init.normal(p.shape, self.rng, std=0.02, dtype=dtype)

    def discriminator_loss(self, x, z, detach=True):
        """-V(D, G), as the GAN's (``gan.discriminator_loss``)."""
        return discriminator_loss(self, x, z, detach)

    def generator_objective(self, l_fake):
        return generator_objective(l_fake, self.objective)

    def generator_loss(self, z):
        """The mean generator loss of noise ``z`` (non-saturating in [1])."""
        l_fake = self.discriminator(self.generator(z)).reshape(-1)
        return self.generator_objective(l_fake).mean(), {}

    def interpolate(self, rng, rows=6, steps=8):
        """Samples along straight lines between random z pairs ([1] §6.1, Fig. 4): (rows * steps, C, H, W)."""
        from autograd import Tensor, as_numpy, no_grad, to_device
        z0, z1 = rng.standard_normal((2, rows, 1, self.latent_dim))
        t = np.linspace(0.0, 1.0, steps)[None, :, None]
        z = ((1 - t) * z0 + t * z1).reshape(-1, self.latent_dim)                 # (rows * steps, latent)
        with no_grad():
            z = to_device(z.astype(self.parameters()[0].dtype), self.device)
            x = as_numpy(self.generator(Tensor(z)).data)
        return np.rint((np.clip(x, -1, 1) + 1) / 2 * (self.num_levels - 1)).astype(np.uint8)

    def figures(self, run_dir, rng, split=None):
        """samples.png and interpolation.png (lines in z, one per row)."""
        import os
        from ... import plots
        paths = [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"),
                                  title="DCGAN samples", levels=self.num_levels)]
        paths.append(plots.image_grid(self.interpolate(rng), os.path.join(run_dir, "interpolation.png"),
                                      nrow=8, title="DCGAN: straight lines in z", levels=self.num_levels))
        return paths
