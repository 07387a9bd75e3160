"""The VQ-VAE with a learned prior: a PixelCNN over the code grid (van den Oord et al. 2017, §3.3, §4.2).

The VQ-VAE (``vqvae.py``) maps an image x to a grid of M = h w discrete codes k(x), each
one of K codebook entries, and decodes z_q = e_{k(x)}. Its bound with a uniform prior,
``rec + M log K``, is loose and its uniform draws are not digits. The paper's second
stage ([1] §3.3: "we fit an autoregressive distribution over z, p(z), so that we can
generate x via ancestral sampling") fits a **PixelCNN** to the code grids of the
training set: minigen's ``PixelCNN`` (``autoregressive/pixelcnn.py``), reused as it is,
on images of shape (1, h, w) whose "levels" are the K code indices::

    p(k) = prod_{m=1}^{M} p(k_m | k_<m)      (raster order over the h x w grid)

**The bound with the learned prior.** The posterior q(k|x) is one-hot at k(x) (eq. 1),
so its entropy is 0 and KL(q(k|x) || p(k)) = -log p(k(x)). The ELBO (the KL form of the
VAE's bound, with the decoder's categorical over L levels per pixel) is exact to write::

    -ELBO(x) = -log p(x | z_q(k(x)))  -  log p(k(x))   >=  -log p(x)      nats per image
               `------- rec -------'    `-- prior --'

``rec`` is the reconstruction term the VQ-VAE trains (``vq-vae``'s ``rec``), ``prior`` the
PixelCNN's exact NLL of the image's code grid; ``nelbo`` is their sum, reported per test
image in nats (and bits/dim over the D pixels). With the uniform prior the second term is
M log K = 55.45 nats for a 4 x 4 grid of 32 codes; the PixelCNN's is what it learned.

**Two stages in one run** (the choice made here; the paper trains the prior on a trained,
frozen VQ-VAE). For the first ``vqvae_steps`` optimiser steps the VQ-VAE trains on its own
eq. 3 and the PixelCNN trains beside it on the (detached) codes of the same batches:
the two losses share no parameter, so this is the VQ-VAE's run plus a prior that
follows its codes. After ``vqvae_steps`` the VQ-VAE is frozen (encoder, decoder and
codebook: no gradient, no EMA update) and only the PixelCNN trains, on fixed codes, for
the rest of the run; early stopping watches ``val/nelbo``. The step counter is a buffer,
so a resumed run switches at the same step. ``vqvae_steps=0`` trains the prior alone:
after ``load_vqvae(run_dir)`` has loaded the VQ-VAE of a ``vq-vae`` run folder, that is
the paper's second stage exactly.

Sampling is ancestral ([1] §4.2): k ~ p(k) by the PixelCNN, one code at a time, then
x ~ p(x | z_q(k)) (or its mean, for pictures).

References:
    [1] A. van den Oord, O. Vinyals and K. Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017. https://arxiv.org/abs/1711.00937
    [2] A. van den Oord, N. Kalchbrenner and K. Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016 (the PixelCNN). https://arxiv.org/abs/1601.06759
"""
import math

import numpy as np

from autograd import as_numpy, device_of, no_grad, to_device

from ..autoregressive.pixelcnn import PixelCNN
from ..base import CRC
from ..registry import Preset, TrainConfig, register
from .base import LatentVariableModel
from .vqvae import VQVAE, perplexity

__all__ = ["VQVAEPrior"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, num_embeddings=32, embedding_dim=16, hidden=64, beta=0.25,
               codebook_update="ema", prior_hidden=64, prior_blocks=4, prior_head=64, prior_kernel=7,
               vqvae_steps=800)


@register("vq-vae-prior")
class VQVAEPrior(LatentVariableModel):
    """VQ-VAE + PixelCNN prior over its code grid: ancestral samples and a -ELBO with the learned prior.

    Args:
        data_shape, num_levels, num_embeddings, embedding_dim, hidden, beta, codebook_update, decay:
            the VQ-VAE's (``vqvae.VQVAE``).
        prior_hidden, prior_blocks, prior_head, prior_kernel: the PixelCNN's ``hidden``,
            ``num_blocks``, ``head`` and ``first_kernel`` on the (1, h, w) grid of K levels.
        vqvae_steps: steps of stage 1 (VQ-VAE and prior); afterwards the VQ-VAE is frozen.
        rng: generator (or seed) of the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    best_metric = ("val/nelbo", "min")
    default_preset = "digits-reference"
    eval_key = (CRC, 12)
    presets = {
        "digits-reference": Preset(
            model=dict(_DIGITS),
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nelbo", 20), batch_size=64,
                              lr=1e-3, seed=0),
            about="vq-vae's reference (4x4 grid of K=32 codes) for 800 steps, then a PixelCNN 64x4 "
                  "on frozen codes"),
        "digits-tiny": Preset(model=dict(_DIGITS, num_embeddings=8, embedding_dim=4, hidden=16,
                                         prior_hidden=16, prior_blocks=1, prior_head=16, prior_kernel=3,
                                         vqvae_steps=30),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, num_embeddings=32, embedding_dim=16, hidden=64,
                 beta=0.25, codebook_update="ema", decay=0.99, prior_hidden=64, prior_blocks=4, prior_head=64,
                 prior_kernel=7, vqvae_steps=800, rng=None, dtype=np.float32):
        super().__init__(rng)
        if not isinstance(vqvae_steps, int) or vqvae_steps < 0:
            raise ValueError(f"vqvae_steps={vqvae_steps!r} is not allowed: an integer >= 0")
        self.vqvae = VQVAE(data_shape, num_levels, num_embeddings, embedding_dim, hidden, beta,
                           codebook_update, decay, rng=self.rng, dtype=dtype)
        self.data_shape, self.num_levels, self.D = self.vqvae.data_shape, num_levels, self.vqvae.D
        self.latent_dim, self.K, self.grid = self.vqvae.latent_dim, num_embeddings, self.vqvae.grid[1:]
        self.prior = PixelCNN((1,) + self.grid, num_embeddings, prior_hidden, prior_blocks, prior_head,
                              first_kernel=prior_kernel, rng=self.rng, dtype=dtype)
        self.vqvae_steps = vqvae_steps
        self.register_buffer("step_count", np.zeros((), np.int64))           # optimiser steps taken

    @property
    def frozen(self):
        """True in stage 2: the VQ-VAE no longer trains."""
        return int(self.step_count.data) >= self.vqvae_steps

    def load_vqvae(self, run_dir):
        """Load the VQ-VAE of a ``vq-vae`` run folder (its kept parameters and codebook); with
        ``vqvae_steps=0`` the run then trains the prior alone, the paper's second stage."""
        from ...run import load_run
        vq, config = load_run(run_dir, device=self.device)
        if config["model"] != "vq-vae":
            raise ValueError(f"{run_dir} holds a {config['model']!r} run, not a 'vq-vae' one")
        mine = {k: v.shape for k, v in self.vqvae.state_dict().items()}
        theirs = {k: np.shape(v) for k, v in vq.state_dict().items()}
        if mine != theirs:
            raise ValueError(f"the VQ-VAE of {run_dir} has another architecture ({config['model_kwargs']}); "
                             "build this model with the same num_embeddings, embedding_dim and hidden")
        self.vqvae.load_state_dict(vq.state_dict())

    # -- the two terms ------------------------------------------------------------------------
    def codes(self, x):
        """k(x), each example's code grid as a PixelCNN image: integers (N, 1, h, w)."""
        return self.vqvae.codes(x)[:, None]

    def prior_nll(self, k):
        """-log p(k) under the PixelCNN, nats per grid: Tensor (N,)."""
        return self.prior.nll(k)

    def nelbo(self, x):
        """-ELBO(x) = rec + prior (module docstring), nats per example: float64 array (N,)."""
        with no_grad():
            x_in, target = self.vqvae.data_view(x)
            k, z_q = self.vqvae.quantize(self.vqvae.encode(x_in))
            rec = self.vqvae.reconstruction_loss(self.vqvae.decoder(z_q), target)
            prior = self.prior_nll(k[:, None])
        return as_numpy(rec.data).astype(np.float64) + as_numpy(prior.data).astype(np.float64)

    def loss(self, batch):
        """Stage 1: the VQ-VAE's eq. 3 + the prior's NLL of the batch's (detached) codes;
        stage 2: the prior's NLL of the frozen VQ-VAE's codes."""
        x = self.split_batch(batch)[0]
        if self.frozen or not self.training:
            prior = self.prior_nll(self.codes(x)).mean()
            return prior, {"prior": float(as_numpy(prior.data))}
        vq_loss, metrics = self.vqvae.loss(batch)                            # inits / updates the codebook
        prior = self.prior_nll(self.codes(x)).mean()
        return vq_loss + prior, {**metrics, "prior": float(as_numpy(prior.data))}

    def train_step(self, batch):
        """One step of the one optimiser (the frozen VQ-VAE gets no gradient), then the step count."""
        metrics = super().train_step(batch)
        dev = device_of(self.step_count.data)
        self.step_count.data = to_device(np.array(int(self.step_count.data) + 1, np.int64), dev)
        return metrics

    def eval_step(self, batch):
        """``{"nelbo", "bpd", "rec", "prior", "mse", "perplexity"}``: batch means, nats per image."""
        x = self.split_batch(batch)[0]
        with no_grad():
            _, metrics, _ = self.vqvae.objective(x, self.eval_rng(x), train=False)
            k = self.codes(x)
            prior = float(as_numpy(self.prior_nll(k).data).astype(np.float64).mean())
        nelbo = metrics["rec"] + prior
        return {"nelbo": nelbo, "bpd": self.bits_per_dim(nelbo), "rec": metrics["rec"], "prior": prior,
                "uniform_prior": self.vqvae.M * math.log(self.K), "perplexity": perplexity(k, self.K),
                "mse": float(self.vqvae.reconstruction_error(x).mean())}

    # -- samples and the family's pictures -----------------------------------------------------
    def decode_codes(self, k, rng, mean=False):
        """x ~ p(x | z_q(k)) for code grids k (n, h, w): raw levels, or the mean in [0, 1]."""
        vq = self.vqvae
        with no_grad():
            z_q = vq.codebook[to_device(np.asarray(k, np.int64), vq.codebook.device)]   # (n, h, w, Dz)
            out = vq.decoder(z_q.transpose(0, 3, 1, 2))                                # (n, D, L)
            if mean:
                return np.clip(vq.mean_of(out), 0, 1).reshape((len(k),) + self.data_shape)
            return np.asarray(vq.to_levels(None, rng, out)).reshape((len(k),) + self.data_shape)

    def sample(self, n, rng, mean=False):
        """Ancestral samples ([1] §4.2): k ~ p(k) by the PixelCNN, then x ~ p(x | z_q(k)) (or its mean)."""
        k = self.prior.sample(n, rng)[:, 0]                                   # (n, h, w)
        return self.decode_codes(k, rng, mean)

    def sample_unit(self):
        return self.num_levels - 1

    def posterior_mean(self, x):
        """z_e(x) flattened (N, J): the VQ-VAE's code vectors (the family's scatter and lines)."""
        return self.vqvae.posterior_mean(x)

    def decode_mean(self, z):
        """The decoder's mean at the quantised z (N, J): images in [0, 1]."""
        return self.vqvae.decode_mean(z)

    def figures(self, run_dir, rng, split=None):
        """The family's pictures (samples.png: prior samples, means then draws; reconstructions,
        interpolation, scatter) and codes.png: PixelCNN code grids next to test digits' grids."""
        import os
        from ... import plots
        paths = super().figures(run_dir, rng, split)
        if split is not None:
            grids = np.concatenate([self.codes(split.x[:16])[:, 0], self.prior.sample(16, rng)[:, 0]])
            paths.append(plots.image_grid(grids[:, None], os.path.join(run_dir, "codes.png"),
                                          nrow=16, value_range=(0, self.K - 1),
                                          title="k(x) of test digits (top), k ~ PixelCNN prior (bottom)"))
        return paths
