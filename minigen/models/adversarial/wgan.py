"""Wasserstein GAN (WGAN) [1]: a critic kept Lipschitz by clipping its weights.

The generator minimises the Earth-Mover (Wasserstein-1) distance between the data P_r and
its samples P_g ([1] eq. 1). By Kantorovich-Rubinstein duality ([1] eq. 2)::

    W(P_r, P_g) = sup_{|f|_L <= 1}  E_{x ~ P_r}[f(x)] - E_{x ~ P_g}[f(x)]

and for functions f_w that are K-Lipschitz for some K the supremum over them is
K W(P_r, P_g) ([1] eq. 3). [1] obtains "some K" by clamping every weight of the critic to
a box [-c, c] after each of its updates, so the family {f_w} is compact (§3, "a clearly
terrible way to enforce a Lipschitz constraint" - WGAN-GP's gradient penalty is the
better one, ``wgan_gp.py``). Algorithm 1::

    repeat:
        n_critic times:                                              (n_critic = 5)
            g_w <- grad_w [ mean f_w(x) - mean f_w(G(z)) ]
            w   <- w + alpha RMSProp(w, g_w)                          (alpha = 5e-5)
            w   <- clip(w, -c, c)                                     (c = 0.01)
        g_theta <- -grad_theta mean f_w(G(z))
        theta   <- theta - alpha RMSProp(theta, g_theta)

Losses (minimised): critic ``E f(G(z)) - E f(x)``, generator ``-E f(G(z))``. RMSProp
rather than Adam ([1] §3: momentum-based optimisers made training unstable with the
clipped critic's non-stationary loss). The critic's estimate of W (up to K),
E f(x) - E f(G(z)), is logged as ``wasserstein`` at every critic step in metrics.jsonl
and on validation; [1] §4.2 shows it falls as the samples improve, unlike the GAN's
losses, and ``figures`` draws it over training.

Players: the DCGAN generator and discriminator (``dcgan.py``) as [1] §4 uses them, the
critic's batch norm kept (``critic_batch_norm``) and, as in [1]'s code, *every* critic
parameter clipped (batch norm's scale and shift too). Left out: [1]'s code runs 100
critic steps for the first 25 generator steps and every 500th; here n_critic is fixed.

References:
    [1] M. Arjovsky, S. Chintala and L. Bottou, "Wasserstein Generative Adversarial Networks",
        ICML 2017. https://arxiv.org/abs/1701.07875 (eqs. 1-3, Algorithm 1, §3, §4.2)
"""
import numpy as np

from ...nn import init
from ...optim import RMSprop
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AdversarialModel
from .dcgan import dcgan_discriminator, dcgan_generator

__all__ = ["WGAN"]


@register("wgan")
class WGAN(AdversarialModel):
    """WGAN (Arjovsky et al. 2017): weight clipping to [-c, c], RMSprop, n_critic critic steps.

    Args:
        data_shape: (C, H, H) with H = 4 * 2^m or 7 * 2^m ((1, 8, 8) digits, (1, 28, 28) Fashion-MNIST).
        num_levels: levels of the discrete images.
        latent_dim: dimension of z.
        channels: c of the DCGAN players.
        clip: c, the box every critic parameter is clipped to.
        n_critic: critic steps per generator step.
        critic_batch_norm: keep the DCGAN critic's batch norm ([1] does).
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=32, channels=32, clip=0.01, n_critic=5,
                       critic_batch_norm=True),
            train=TrainConfig(data="digits", steps=10000, batch_size=64, lr=5e-5, seed=0, eval_every=500,
                              early_stopping=("val/mmd", 20)),
            about="DCGAN players, clip 0.01, n_critic 5, RMSprop 5e-5 (alpha 0.99), batch 64, 2000 generator "
                  "steps (10000 critic steps); keeps the best validation MMD (every 500 steps, never stops "
                  "early)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=8, channels=8, n_critic=2),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
        "fashion-mnist": Preset(
            model=dict(data_shape=(1, 28, 28), num_levels=256, latent_dim=64, channels=32, clip=0.01,
                       n_critic=5, critic_batch_norm=True),
            train=TrainConfig(data="fashion-mnist", steps=50000, batch_size=64, lr=5e-5, seed=0,
                              eval_every=2500, early_stopping=("val/mmd", 20)),
            about="the digits recipe on 28x28 Fashion-MNIST (7x7 -> 14 -> 28 players), 10000 generator "
                  "steps"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, latent_dim=32, channels=32, clip=0.01, n_critic=5,
                 critic_batch_norm=True, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(num_levels=num_levels, latent_dim=latent_dim, channels=channels, n_critic=n_critic,
                       data_shape=tuple(data_shape))
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"data_shape={data_shape!r} is not allowed: WGAN needs square images (C, H, H)")
        if not clip > 0:
            raise ValueError(f"clip={clip!r} is not allowed: the clipping box c must be > 0")
        self.data_shape, self.num_levels, self.latent_dim = tuple(data_shape), num_levels, latent_dim
        self.clip, self.n_critic, self.D = float(clip), n_critic, int(np.prod(data_shape))
        self.generator = dcgan_generator(latent_dim, channels, self.data_shape, self.rng, dtype)
        self.discriminator = dcgan_discriminator(channels, self.data_shape, self.rng, dtype,
                                                 batch_norm=critic_batch_norm)
        for name, p in self.named_parameters():                     # DCGAN's N(0, 0.02) weights
            if name.endswith("weight") and p.ndim == 4:
                p.data = init.normal(p.shape, self.rng, std=0.02, dtype=dtype)
        self.clip_critic()

    @property
    def title(self):
        return "WGAN"

    def configure_optimizers(self, config, total_steps=None):
        """One RMSprop per player (lr from ``config``, alpha 0.99 as PyTorch's default in [1]'s code)."""
        self.optimizers = {"generator": RMSprop(self.generator.parameters(), lr=config.lr),
                           "discriminator": RMSprop(self.discriminator.parameters(), lr=config.lr)}
        self.schedules, self.ema = {}, None
        return self.optimizers

    def clip_critic(self):
        """w <- clip(w, -c, c) for every parameter of the critic (Algorithm 1, line 7)."""
        for p in self.discriminator.parameters():
            p.data = p.xp.clip(p.data, -self.clip, self.clip)

    def after_critic_step(self):
        self.clip_critic()

    def discriminator_loss(self, x, z, detach=True):
        """The critic's loss ``E f(G(z)) - E f(x)``; metric ``wasserstein`` = E f(x) - E f(G(z))."""
        fake = self.generator(z)
        f_real = self.discriminator(self.prepare(x)).mean()
        f_fake = self.discriminator(fake.detach() if detach else fake).mean()
        return f_fake - f_real, {"wasserstein": f_real.item() - f_fake.item()}

    def generator_loss(self, z):
        """``-E f(G(z))``."""
        return -self.discriminator(self.generator(z)).mean(), {}

    def eval_step(self, batch):
        """The family's figures and the critic's Wasserstein estimate on ``batch`` (common noise)."""
        out = super().eval_step(batch)
        out["wasserstein"] = -out["d_loss"]
        return out

    def figures(self, run_dir, rng, split=None):
        """samples.png, and wasserstein.png when the run's metrics.jsonl is there."""
        import os
        from ... import plots
        paths = [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"),
                                  title="WGAN samples", levels=self.num_levels)]
        log = os.path.join(run_dir, "metrics.jsonl")
        if os.path.exists(log):
            paths.append(wasserstein_curve(log, os.path.join(run_dir, "wasserstein.png")))
        return paths


def wasserstein_curve(metrics, path, title="WGAN: the critic's Wasserstein estimate"):
    """The critic's estimate E f(x) - E f(G(z)) over training (train, smoothed; and validation)
    from a run's metrics.jsonl (or a list of records)."""
    from ... import plots
    return plots.curves(metrics, path, keys=["train/wasserstein", "val/wasserstein"], title=title,
                        smooth=0.98)
