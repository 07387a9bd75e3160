"""VAE-GAN [1]: a VAE whose reconstruction error is measured in a discriminator's features.

A VAE (``minigen/models/latent/vae.py``) scores a reconstruction x~ = Dec(z), z ~ q(z|x),
pixel by pixel (its likelihood p(x|z)); errors that a person barely sees (a stroke one
pixel to the side) cost as much as those that ruin the digit, and the decoder hedges with
blurry means. [1] §2.2 replaces that pixel likelihood by a Gaussian on the *l-th hidden
layer of a GAN discriminator*, Dis_l, trained at the same time to tell data from
reconstructions and from samples of the prior ([1] eqs. 7-9)::

    L_prior      = KL(q(z|x) || p(z))                                            (the VAE's)
    L_llike^Dis_l = -E_q log N(Dis_l(x) | Dis_l(x~), I) = 1/2 |Dis_l(x~) - Dis_l(x)|^2 + const   (eq. 7)
    L_GAN        = log Dis(x) + log(1 - Dis(Dec(z))) + log(1 - Dis(Dec(Enc(x)))),  z ~ p(z)   (eq. 9)

and trains each network on its own part ([1] Algorithm 1)::

    encoder        minimise  L_prior + L_llike
    decoder        minimise  gamma L_llike - L_GAN      (non-saturating here: softplus(-l) for both fakes)
    discriminator  maximise  L_GAN                      (its features are not trained by L_llike)

gamma weighs reconstructing against fooling Dis (§2.2 "Limiting error signals").
With logits l = logit Dis, -L_GAN for Dis is E softplus(-l(x)) + E softplus(l(x~)) +
E softplus(l(Dec(z))), as in ``gan.py``.

Networks, for H x H images (H = s * 2^m, s = 4 or 7) and c = ``channels`` (the DCGAN
players of ``dcgan.py``, as [1] §4 uses DCGAN-style networks)::

    Enc:  the DCGAN discriminator's body (strided convs, BN, LReLU 0.2) -> flatten -> Linear
          -> (mu, log var), 2J numbers
    Dec:  the DCGAN generator, z (J) -> (N, C, H, H), tanh
    Dis:  the DCGAN discriminator without batch norm; Dis_l = its last hidden layer (N, c 2^m, s, s),
          the input of the final Conv s -> one logit

Recipe: Adam 2e-4 (0.5, 0.999) for all three (DCGAN's; [1] §4 used RMSProp 3e-4),
one step of each per batch (discriminator first). ``report`` adds the digits sample
metrics (FID ...); ``reconstruct`` gives Dec(mu(x)); ``examples/15_gan_variants.py``
puts its reconstructions and samples beside the plain VAE's and compares the FIDs.

References:
    [1] A. B. L. Larsen, S. K. Sønderby, H. Larochelle and O. Winther, "Autoencoding beyond pixels
        using a learned similarity metric", ICML 2016. https://arxiv.org/abs/1512.09300
        (§2.1 eqs. 1-3, §2.2 eqs. 7-9, Algorithm 1)
"""
import numpy as np

from autograd import as_numpy, grad, no_grad, randn
from autograd.functional import softplus

from ...nn import Linear, Reshape, Sequential
from ...optim import Adam
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AdversarialModel
from .dcgan import _upsamplings, dcgan_discriminator, dcgan_generator
from .gan import _mean_sigmoid

__all__ = ["VAEGAN"]

_RECIPE = "Adam 2e-4 (0.5, 0.999) for encoder, decoder and discriminator, batch 64, seed 0"


@register("vae-gan")
class VAEGAN(AdversarialModel):
    """VAE-GAN (Larsen et al. 2016): the reconstruction error in Dis's hidden layer.

    Args:
        data_shape: (C, H, H), H = 4 * 2^m or 7 * 2^m ((1, 8, 8) digits, (1, 28, 28) Fashion-MNIST).
        num_levels: levels of the discrete images.
        latent_dim: J, the dimension of z.
        channels: c of the DCGAN-style networks.
        gamma: the weight of L_llike in the decoder's loss.
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    betas = (0.5, 0.999)
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=16, channels=32, gamma=1.0),
            train=TrainConfig(data="digits", steps=2000, batch_size=64, lr=2e-4, seed=0, eval_every=250,
                              early_stopping=("val/mmd", 8)),
            about=f"VAE-GAN on the digits, J = 16, gamma 1, {_RECIPE}, 2000 steps; keeps the best validation "
                  "MMD (every 250 steps, never stops early)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=4, channels=4),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
        "fashion-mnist": Preset(
            model=dict(data_shape=(1, 28, 28), num_levels=256, latent_dim=32, channels=32, gamma=1.0),
            train=TrainConfig(data="fashion-mnist", steps=10000, batch_size=64, lr=2e-4, seed=0,
                              eval_every=1000, early_stopping=("val/mmd", 10)),
            about=f"VAE-GAN on 28x28 Fashion-MNIST (7x7 -> 14 -> 28 networks), J = 32, {_RECIPE}, "
                  "10000 steps"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, latent_dim=16, channels=32, gamma=1.0, rng=None,
                 dtype=np.float32):
        super().__init__(rng)
        check_positive(num_levels=num_levels, latent_dim=latent_dim, channels=channels,
                       data_shape=tuple(data_shape))
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"data_shape={data_shape!r} is not allowed: VAE-GAN needs square images "
                             "(C, H, H)")
        if not gamma >= 0:
            raise ValueError(f"gamma={gamma!r} is not allowed: gamma must be >= 0")
        self.data_shape, self.num_levels, self.latent_dim = tuple(data_shape), num_levels, latent_dim
        self.gamma, self.D = float(gamma), int(np.prod(data_shape))
        s, m = _upsamplings(self.data_shape[1])
        body = dcgan_discriminator(channels, self.data_shape, self.rng, dtype)[:-2]       # (N, c 2^m, s, s)
        self.encoder = Sequential(*body, Reshape(-1), Linear(channels * 2 ** m * s * s, 2 * latent_dim,
                                                             rng=self.rng, dtype=dtype))
        self.generator = dcgan_generator(latent_dim, channels, self.data_shape, self.rng, dtype)    # Dec
        self.discriminator = dcgan_discriminator(channels, self.data_shape, self.rng, dtype, batch_norm=False)

    @property
    def title(self):
        return "VAE-GAN"

    def features(self, x):
        """Dis_l(x): the discriminator's last hidden layer (N, c 2^m, s, s)."""
        return self.discriminator[:-2](x)

    def encode(self, x):
        """(mu, log var) of q(z|x), each (N, J), for x in the players' space."""
        h = self.encoder(x)
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def terms(self, x, rng, detach_fakes):
        """Everything of one batch (x in [-1, 1]): ``(mu, log_var, x~, Dec(z_p))`` with the
        reparameterised z = mu + exp(log_var / 2) eps and z_p ~ p(z), eps, z_p from ``rng``."""
        mu, log_var = self.encode(x)
        eps = randn(mu.shape, rng, like=mu)
        x_rec = self.generator(mu + (log_var * 0.5).exp() * eps)
        x_p = self.generator(self.noise(len(x), rng))
        if detach_fakes:
            x_rec, x_p = x_rec.detach(), x_p.detach()
        return mu, log_var, x_rec, x_p

    def discriminator_objective(self, x, x_rec, x_p):
        """-L_GAN for Dis: E softplus(-l(x)) + E softplus(l(x~)) + E softplus(l(Dec(z_p)))."""
        l_real = self.discriminator(x).reshape(-1)
        l_rec, l_p = self.discriminator(x_rec).reshape(-1), self.discriminator(x_p).reshape(-1)
        loss = softplus(-l_real).mean() + softplus(l_rec).mean() + softplus(l_p).mean()
        return loss, {"D_real": _mean_sigmoid(l_real), "D_rec": _mean_sigmoid(l_rec),
                      "D_prior": _mean_sigmoid(l_p)}

    def vae_objectives(self, x, mu, log_var, x_rec, x_p):
        """(encoder loss L_prior + L_llike, decoder loss gamma L_llike + E softplus(-l(x~))
        + E softplus(-l(x_p)), metrics); per example means."""
        kl = ((mu * mu + log_var.exp() - 1.0 - log_var) * 0.5).sum(axis=1).mean()                 # [1] eq. 3
        diff = self.features(x_rec) - self.features(x)              # Dis is not stepped on these losses
        llike = ((diff * diff) * 0.5).reshape(len(x), -1).sum(axis=1).mean()                       # [1] eq. 7
        fool = softplus(-self.discriminator(x_rec).reshape(-1)).mean() + \
            softplus(-self.discriminator(x_p).reshape(-1)).mean()
        metrics = {"kl": kl.item(), "llike": llike.item(), "g_gan": fool.item()}
        return kl + llike, llike * self.gamma + fool, metrics

    # -- training --------------------------------------------------------------------------------
    def configure_optimizers(self, config, total_steps=None):
        """One Adam per network: "encoder", "generator" (the decoder), "discriminator"."""
        self.optimizers = {name: Adam(net.parameters(), lr=config.lr, betas=self.betas) for name, net in
                           (("encoder", self.encoder), ("generator", self.generator),
                            ("discriminator", self.discriminator))}
        self.schedules, self.ema = {}, None
        return self.optimizers

    def loss(self, batch):
        """The three losses summed, with gradients everywhere (what the contract tests gradcheck)."""
        x = self.prepare(self.split_batch(batch)[0])
        mu, log_var, x_rec, x_p = self.terms(x, self.rng, detach_fakes=False)
        d_loss, _ = self.discriminator_objective(x, x_rec, x_p)
        enc_loss, dec_loss, metrics = self.vae_objectives(x, mu, log_var, x_rec, x_p)
        return d_loss + enc_loss + dec_loss, metrics

    def train_step(self, batch):
        """Algorithm 1: a discriminator step on (x, x~, Dec(z_p)), then encoder and decoder steps,
        each on the gradient of its own loss (the encoder's taken by ``grad``, the decoder's by backward)."""
        x = self.prepare(self.split_batch(batch)[0])
        opt = self.optimizers
        mu, log_var, x_rec, x_p = self.terms(x, self.rng, detach_fakes=False)
        opt["discriminator"].zero_grad()
        d_loss, metrics = self.discriminator_objective(x, x_rec.detach(), x_p.detach())
        d_loss.backward()
        opt["discriminator"].step()
        enc_loss, dec_loss, more = self.vae_objectives(x, mu, log_var, x_rec, x_p)
        enc_params = self.encoder.parameters()
        enc_grads = grad(enc_loss, enc_params, retain_graph=True)
        opt["generator"].zero_grad()
        dec_loss.backward()
        for p, g in zip(enc_params, enc_grads):
            p.grad = g
        opt["encoder"].step()
        opt["generator"].step()
        return {"loss": enc_loss.item() + dec_loss.item(), "d_loss": d_loss.item(),
                "enc_loss": enc_loss.item(), "dec_loss": dec_loss.item(), **metrics, **more}

    def eval_step(self, batch):
        """The losses on ``batch`` (common random numbers), the pixel error |Dec(mu(x)) - x| on [0, 1]
        (``rec``), and the MMD between the batch and as many samples (picks the kept parameters)."""
        from ...metrics.distances import mmd
        x = self.prepare(self.split_batch(batch)[0])
        rng = self.eval_rng(x)
        mu, log_var, x_rec, x_p = self.terms(x, rng, detach_fakes=False)
        d_loss, _ = self.discriminator_objective(x, x_rec, x_p)
        enc_loss, dec_loss, metrics = self.vae_objectives(x, mu, log_var, x_rec, x_p)
        real = np.asarray(as_numpy(x.data), np.float64)
        mean_rec = np.asarray(as_numpy(self.generator(mu).data), np.float64)
        fake = np.asarray(as_numpy(self.generator(self.noise(len(x), rng)).data), np.float64)
        return {"d_loss": d_loss.item(), "enc_loss": enc_loss.item(), "dec_loss": dec_loss.item(), **metrics,
                "rec": float(np.abs(mean_rec - real).mean() / 2), "mmd": mmd(real, fake)}

    # -- reconstructions and pictures ------------------------------------------------------------
    def reconstruct(self, x):
        """Dec(mu(x)) of raw images x, as integer levels."""
        with no_grad():
            out = as_numpy(self.generator(self.encode(self.prepare(x))[0]).data)
        return np.rint((np.clip(out, -1, 1) + 1) / 2 * (self.num_levels - 1)).astype(np.uint8)

    def figures(self, run_dir, rng, split=None):
        """samples.png, and reconstructions.png of test images."""
        import os
        from ... import plots
        paths = [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"),
                                  title="VAE-GAN samples", levels=self.num_levels)]
        if split is not None:
            x = split.x[:16]
            path = os.path.join(run_dir, "reconstructions.png")
            paths.append(plots.reconstructions(x, self.reconstruct(x), path, levels=self.num_levels,
                                               title="VAE-GAN: data (top), Dec(mu(x)) (bottom)"))
        return paths
