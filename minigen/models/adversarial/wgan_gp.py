"""Wasserstein GAN with gradient penalty (WGAN-GP) [1].

WGAN [2] trains the generator to minimise the Earth-Mover (Wasserstein-1) distance,
written by Kantorovich-Rubinstein duality as a maximum over 1-Lipschitz *critics* f::

    W(P_r, P_g) = max_{|f|_L <= 1}  E_{x ~ P_r}[f(x)] - E_{x~ ~ P_g}[f(x~)]

[2] kept f Lipschitz by clipping its weights, which [1] §3 shows biases the critic
towards very simple functions and makes training sensitive to the clipping range. A
differentiable function is 1-Lipschitz iff its gradient norm is at most 1 everywhere,
and the optimal critic has gradient norm exactly 1 on the lines between coupled points
(Proposition 1), so [1] penalises the gradient norm on random points of those lines
(eq. 3, Algorithm 1)::

    x^ = eps x + (1 - eps) x~,   eps ~ U[0, 1],  x ~ P_r,  x~ = G(z)
    L  = E[f(x~)] - E[f(x)] + lambda E[(|grad_x^ f(x^)|_2 - 1)^2]          (critic, lambda = 10)
    L_G = -E[f(G(z))]                                                      (generator)

The penalty is a function of a *gradient*: minimising it by gradient descent needs the
gradient of a gradient, ``autograd.grad(f(x^).sum(), x^, create_graph=True)`` then an
ordinary backward through that graph (minigen's double backward, the composite twins
of the fused convolution). ``tests/minigen/test_wgan_gp.py`` checks that gradient by
finite differences.

Recipe of [1] (Algorithm 1 defaults): lambda = 10, n_critic = 5 critic steps per
generator step, Adam with lr 1e-4 and betas (0, 0.9); no batch normalisation in the
critic (§4: the penalty is per example, batch norm couples the examples). Players: on
images the DCGAN generator and the DCGAN discriminator without batch norm
(``dcgan.py``); on 2-D toys the GAN's MLPs (``gan.py``). The critic's estimate of the
Wasserstein distance, E f(x) - E f(x~), is logged as ``wasserstein`` at every step.

References:
    [1] I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin and A. Courville, "Improved Training
        of Wasserstein GANs", NeurIPS 2017. https://arxiv.org/abs/1704.00028 (eq. 3,
        Algorithm 1, Proposition 1, §4)
    [2] M. Arjovsky, S. Chintala and L. Bottou, "Wasserstein Generative Adversarial Networks",
        ICML 2017. https://arxiv.org/abs/1701.07875
"""
import numpy as np

from autograd import Tensor, enable_grad, grad, is_grad_enabled, rand

from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AdversarialModel
from .dcgan import dcgan_discriminator, dcgan_generator
from .gan import mlp_discriminator, mlp_generator

__all__ = ["WGANGP"]


@register("wgan-gp")
class WGANGP(AdversarialModel):
    """WGAN-GP (Gulrajani et al. 2017): a critic kept 1-Lipschitz by a gradient penalty.

    Args:
        data_shape: (C, H, H) images (conv players, H = 4 * 2^m) or (d,) points (MLP players).
        num_levels: levels of discrete data (17 for the digits), None for continuous data.
        latent_dim: dimension of z.
        channels: c of the conv players (images).
        hidden: widths of the MLP players (points).
        penalty: lambda, the weight of the gradient penalty.
        n_critic: critic steps per generator step.
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    betas = (0.0, 0.9)                                    # [1] Algorithm 1
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=32, channels=16, penalty=10.0,
                       n_critic=5),
            train=TrainConfig(data="digits", steps=7500, batch_size=64, lr=1e-4, seed=0, eval_every=500,
                              early_stopping=("val/mmd", 15)),
            about="conv WGAN-GP on the digits: lambda 10, n_critic 5, Adam 1e-4 (0, 0.9), 1500 generator "
                  "steps (7500 critic steps); keeps the best validation MMD (never stops early)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=8, channels=4, n_critic=2),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
        "8gaussians": Preset(
            model=dict(data_shape=(2,), num_levels=None, latent_dim=2, hidden=(128, 128, 128)),
            train=TrainConfig(data="8gaussians", steps=5000, batch_size=256, lr=1e-4, eval_every=500),
            about="the ring of 8 Gaussians with MLP players (1000 generator steps)"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, latent_dim=32, channels=16, hidden=(128, 128),
                 penalty=10.0, n_critic=5, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(latent_dim=latent_dim, channels=channels, hidden=tuple(hidden), n_critic=n_critic,
                       data_shape=tuple(data_shape))
        if num_levels is not None:
            check_positive(num_levels=num_levels)
        if not penalty >= 0:
            raise ValueError(f"penalty={penalty!r} is not allowed: lambda must be >= 0")
        self.data_shape, self.num_levels, self.latent_dim = tuple(data_shape), num_levels, latent_dim
        self.penalty, self.n_critic = float(penalty), n_critic
        self.D = int(np.prod(data_shape))
        if len(self.data_shape) == 3:
            self.generator = dcgan_generator(latent_dim, channels, self.data_shape, self.rng, dtype)
            self.discriminator = dcgan_discriminator(channels, self.data_shape, self.rng, dtype, batch_norm=False)
        else:
            self.generator = mlp_generator(latent_dim, hidden, self.data_shape, self.rng, dtype,
                                           tanh=num_levels is not None)
            self.discriminator = mlp_discriminator(self.data_shape, hidden, self.rng, dtype)

    @property
    def title(self):
        return "WGAN-GP"

    def gradient_penalty(self, real, fake, eps):
        """``E[(|grad_x^ f(x^)|_2 - 1)^2]`` at ``x^ = eps real + (1 - eps) fake`` ([1] eq. 3).

        Args:
            real, fake: Tensors (B, *data_shape) in the players' space.
            eps: Tensor (B, 1, ...) of U[0, 1] draws, broadcasting over an example.

        Returns:
            A scalar Tensor, differentiable in the critic's (and, through ``fake``, the
            generator's) parameters when gradients are recorded.
        """
        create_graph = is_grad_enabled()                 # False under no_grad: evaluation only
        with enable_grad():
            x_hat = eps * real + (1.0 - eps) * fake                                # (B, *data_shape)
            if not x_hat.requires_grad:                  # fake detached: x^ is a leaf of its own
                x_hat = Tensor(x_hat.data, requires_grad=True)
            g = grad(self.discriminator(x_hat).sum(), x_hat, create_graph=create_graph)
            norm = ((g * g).reshape(len(g), -1).sum(axis=1) + 1e-12).sqrt()       # (B,) |grad f(x^)|_2
            return ((norm - 1.0) * (norm - 1.0)).mean()

    def discriminator_loss(self, x, z, detach=True):
        """The critic's loss ``E f(x~) - E f(x) + lambda GP`` (module docstring). Metrics: the
        Wasserstein estimate E f(x) - E f(x~) and the penalty."""
        real = self.prepare(x)
        fake = self.generator(z)
        fake = fake.detach() if detach else fake
        f_real, f_fake = self.discriminator(real).mean(), self.discriminator(fake).mean()
        rng = self.rng if self.training else self.eval_rng(x)        # eval: common random numbers
        eps = rand((len(real),) + (1,) * (real.ndim - 1), rng, like=real)
        gp = self.gradient_penalty(real, fake, eps)
        loss = f_fake - f_real + gp * self.penalty
        return loss, {"wasserstein": f_real.item() - f_fake.item(), "gp": gp.item()}

    def generator_loss(self, z):
        """``-E f(G(z))``."""
        return -self.discriminator(self.generator(z)).mean(), {}

    def figures(self, run_dir, rng, split=None):
        """samples.png (images) or game.png (2-D; the arrows: -grad of -f, where f rises)."""
        import os
        from ... import plots
        if len(self.data_shape) != 3:
            if split is None:
                return []
            from ._game import game_figure
            return [game_figure([(self, "WGAN-GP, end of training")], split.x[:1000],
                                os.path.join(run_dir, "game.png"), rng)]
        return [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"),
                                 title="WGAN-GP samples", levels=self.num_levels)]

    def generator_objective(self, f_fake):
        """The generator's loss per sample, -f(x) (for the game figure's arrows)."""
        return -f_fake
