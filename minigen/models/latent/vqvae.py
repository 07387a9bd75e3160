"""Implementation of the VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017): a discrete code grid from a codebook.

The encoder maps an image to a grid of vectors z_e(x) (N, Dz, h, w); each vector is
replaced by its nearest entry of a learned codebook e_1..e_K (§3.1, eqs. 1-2)::

    k(x) = argmin_j ||z_e(x) - e_j||_2,      z_q(x) = e_{k(x)}

and the decoder reconstructs x from z_q(x). The posterior q(z = k | x) is one-hot, so with
a uniform prior over the K codes at each of the M = h w positions, the KL term of the
ELBO is the constant M log K (§3.1): ``nelbo = rec + M log K`` is an upper bound on the
NLL in nats (reported, not trained). argmin has no gradient; the **straight-through
estimator** (§3.2; Bengio et al. 2013) copies the decoder input's gradient onto the
encoder output::

    forward: z_q        backward: dL/dz_e := dL/dz_q       (straight_through(z_e, z_q))

The codebook then learns from a term of its own, and a commitment term keeps the encoder
near its codes (§3.2, eq. 3, with sg the stop-gradient, ``Tensor.detach``)::

    L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||_2^2 + beta ||z_e(x) - sg[e]||_2^2,   beta = 0.25

**EMA codebook** (Appendix A.1, ``codebook_update="ema"``): instead of the codebook term,
each e_i is the running mean of the encoder outputs assigned to it, with decay gamma::

    N_i <- gamma N_i + (1 - gamma) n_i,   m_i <- gamma m_i + (1 - gamma) sum_{j: k_j = i} z_e,j,
    e_i = m_i / N_i                       (N_i Laplace-smoothed so that an unused code keeps e_i)

and the loss keeps the reconstruction and the commitment terms. With Adam at lr 1e-3 a
codebook trained by its term moves at most about 1e-3 per step while the encoder's
outputs grow, and most codes fall out of use on digits; the EMA codebook follows them.

The codebook's use is measured by the perplexity exp(-sum_j p_j log p_j) of the codes'
frequencies p_j in a batch (K when all are used equally, 1 when one code is).

The paper's second stage, an autoregressive prior (PixelCNN) over the code grids, is the
model ``vq-vae-prior`` (``vqvae_prior.py``); here ``sample`` decodes code grids drawn from
the uniform prior this bound assumes, so its samples are not digits.

Initialisation: the codebook starts as K encoder outputs of the first training batch
(``init_codebook``), a departure from the paper's random codebook: at random (+-1/K) the
encoder's first vectors all land on a few codes, and the rest of the codebook never
receives a gradient (perplexity 2 of 32 after 10 epochs on digits; with the data start,
every code is used from the first step). The networks on 8x8 digits (ReLU between
layers, PyTorch-default initialisation)::

    encoder  x (N, 1, 8, 8) -> Conv 4x4 stride 2 -> C -> Conv 3x3 C -> Conv 1x1 -> z_e (N, Dz, 4, 4)
    decoder  z_q -> Conv 3x3 Dz -> C -> ConvT 4x4 stride 2 C -> C -> Conv 1x1 -> (N, 17, 8, 8) logits

References:
    [1] A. van den Oord, O. Vinyals and K. Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017. https://arxiv.org/abs/1711.00937 (§3.1 eqs. 1-2, §3.2 eq. 3)
    [2] Y. Bengio, N. Léonard and A. Courville, "Estimating or propagating gradients through
        stochastic neurons for conditional computation", 2013. https://arxiv.org/abs/1308.3432
"""
import math
import os

import numpy as np

from autograd import as_numpy, get_array_module, is_grad_enabled, no_grad, to_device

from ...nn.conv import Conv2d, ConvTranspose2d
from ...nn.module import Module, Parameter
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .autoencoder import DIGITS_RECIPE, Autoencoder
from .base import LatentVariableModel

__all__ = ["VQVAE", "straight_through", "perplexity"]


def straight_through(z_e, z_q):
    """z_q in the forward pass, the identity onto z_e in the backward pass ([1] §3.2):
    ``z_e + sg[z_q - z_e]``. No gradient reaches z_q through it."""
    return z_e + (z_q - z_e).detach()


def perplexity(k, K):
    """exp(entropy) of the code frequencies in ``k`` (integers < K): in [1, K]."""
    p = np.bincount(np.asarray(k).reshape(-1), minlength=K) / np.asarray(k).size
    return float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))


class VQEncoder(Module):
    """z_e(x): (N, C_in, H, W) -> (N, Dz, H/2, W/2) (module docstring)."""

    def __init__(self, channels_in, hidden, embedding_dim, *, rng, dtype):
        super().__init__()
        self.conv1 = Conv2d(channels_in, hidden, 4, stride=2, padding=1, rng=rng, dtype=dtype)
        self.conv2 = Conv2d(hidden, hidden, 3, padding=1, rng=rng, dtype=dtype)
        self.head = Conv2d(hidden, embedding_dim, 1, rng=rng, dtype=dtype)

    def forward(self, x):
        h = self.conv1(x).relu()                               # (N, C, H/2, W/2)
        return self.head(self.conv2(h).relu())                 # (N, Dz, H/2, W/2)


class VQDecoder(Module):
    """p(x | z_q): (N, Dz, H/2, W/2) -> K numbers per pixel (N, D, K)."""

    def __init__(self, data_shape, hidden, embedding_dim, params_per_pixel, *, rng, dtype):
        super().__init__()
        self.C, self.K = data_shape[0], params_per_pixel
        self.conv1 = Conv2d(embedding_dim, hidden, 3, padding=1, rng=rng, dtype=dtype)
        self.up = ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1, rng=rng, dtype=dtype)
        self.head = Conv2d(hidden, self.C * params_per_pixel, 1, rng=rng, dtype=dtype)

    def forward(self, z):
        n = z.shape[0]
        h = self.up(self.conv1(z).relu()).relu()               # (N, C, H, W)
        out = self.head(h).reshape(n, self.K, -1)              # (N, K, D)
        return out.transpose(0, 2, 1)                          # (N, D, K)


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, num_embeddings=32, embedding_dim=16, hidden=64, beta=0.25,
               codebook_update="ema")


@register("vq-vae")
class VQVAE(Autoencoder):
    """VQ-VAE (van den Oord et al. 2017): codebook, straight-through estimator, commitment loss.

    Args:
        data_shape: (C, H, W) with H and W even.
        num_levels: L, levels of the raw data (categorical reconstruction).
        num_embeddings: K, codebook entries.
        embedding_dim: Dz, the size of each code vector.
        hidden: channels of the hidden convolutions.
        beta: the commitment weight of eq. 3.
        codebook_update: "loss" (the codebook term of eq. 3) or "ema" (Appendix A.1).
        decay: gamma of the EMA codebook.
        rng: generator (or seed) of the initial weights.
        dtype: float dtype of the parameters.
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="4x4 grid of K=32 codes of 16 numbers, conv 64, beta 0.25"),
        "digits-tiny": Preset(model=dict(_DIGITS, num_embeddings=8, embedding_dim=4, hidden=16),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, num_embeddings=32, embedding_dim=16, hidden=64,
                 beta=0.25, codebook_update="ema", decay=0.99, rng=None, dtype=np.float32):
        check_positive(data_shape=data_shape, num_embeddings=num_embeddings, embedding_dim=embedding_dim,
                       hidden=hidden)
        if len(data_shape) != 3 or data_shape[1] % 2 or data_shape[2] % 2:
            raise ValueError(f"data_shape={data_shape!r}: the VQ-VAE needs images (C, H, W) with H, W even")
        if not beta >= 0:
            raise ValueError(f"beta={beta!r} is not allowed: the commitment weight must be >= 0")
        if codebook_update not in ("loss", "ema") or not 0 < decay < 1:
            raise ValueError(f"codebook_update={codebook_update!r}, decay={decay!r}: 'loss' or 'ema', "
                             "and a decay in (0, 1)")
        grid = (embedding_dim, data_shape[1] // 2, data_shape[2] // 2)           # (Dz, h, w)
        super().__init__(data_shape, num_levels, math.prod(grid), (hidden, embedding_dim), "conv", "relu",
                         "linear", "categorical", rng=rng, dtype=dtype)
        self.grid = grid
        self.K, self.M, self.beta = num_embeddings, self.grid[1] * self.grid[2], beta
        for name in ("code_mean", "code_moment", "code_count"):                # no code Gaussian here
            delattr(self, name)
        self.codebook_ema, self.decay = codebook_update == "ema", decay
        bound = 1.0 / num_embeddings
        codebook = self.rng.uniform(-bound, bound, (num_embeddings, embedding_dim)).astype(dtype)   # (K, Dz)
        if self.codebook_ema:
            self.register_buffer("codebook", codebook)
            self.register_buffer("ema_count", np.ones(num_embeddings, dtype))                  # N_i
            self.register_buffer("ema_sum", codebook.copy())                                   # m_i
        else:
            self.codebook = Parameter(codebook)
        self.register_buffer("codebook_ready", np.zeros((), np.int64))       # 1 once set from data

    def build_networks(self, architecture, code_dim, hidden, activation, code_activation, K, dtype):
        """The conv encoder and decoder of the module docstring (``hidden`` = (C, Dz))."""
        C, Dz = hidden
        return (VQEncoder(self.data_shape[0], C, Dz, rng=self.rng, dtype=dtype),
                VQDecoder(self.data_shape, C, Dz, K, rng=self.rng, dtype=dtype))

    # -- quantisation ------------------------------------------------------------------------
    def quantize(self, z_e):
        """k = argmin_j ||z_e - e_j|| at every position (eqs. 1-2) and z_q = e_k.

        Args:
            z_e: Tensor (N, Dz, h, w).

        Returns:
            ``(k (N, h, w) integers, z_q Tensor (N, Dz, h, w))``; z_q is differentiable in
            the codebook (for the codebook term), not in z_e.
        """
        z = as_numpy(z_e.data).transpose(0, 2, 3, 1)                            # (N, h, w, Dz)
        e = as_numpy(self.codebook.data)                                        # (K, Dz)
        d2 = (z * z).sum(-1, keepdims=True) - 2 * z @ e.T + (e * e).sum(-1)     # (N, h, w, K)
        k = d2.argmin(axis=-1)                                                  # (N, h, w)
        z_q = self.codebook[to_device(k, self.codebook.device)]                 # (N, h, w, Dz)
        return k, z_q.transpose(0, 3, 1, 2)                                     # (N, Dz, h, w)

    def decode(self, h):
        """The decoder at the quantised codes: h (N, Dz, h, w) or flattened (N, J) -> (N, D, K)."""
        z_e = h.reshape((h.shape[0],) + self.grid) if h.ndim == 2 else h
        return self.decoder(straight_through(z_e, self.quantize(z_e)[1]))

    def objective(self, x, rng, train=True):
        """Eq. 3 of a batch: ``(loss, {"rec", "vq", "commit", "nelbo", "bpd", "perplexity"}, z_e)``."""
        x_in, target = self.data_view(x)
        z_e = self.encode(x_in)                                                 # (N, Dz, h, w)
        k, z_q = self.quantize(z_e)
        rec = self.reconstruction_loss(self.decoder(straight_through(z_e, z_q)), target).mean()
        d_vq, d_commit = z_e.detach() - z_q, z_e - z_q.detach()
        vq = (d_vq * d_vq).sum(axis=(1, 2, 3)).mean()                           # ||sg[z_e] - e||^2
        commit = (d_commit * d_commit).sum(axis=(1, 2, 3)).mean()               # ||z_e - sg[e]||^2
        loss = rec + self.beta * commit if self.codebook_ema else rec + vq + self.beta * commit
        r = float(as_numpy(rec.data))
        nelbo = r + self.M * math.log(self.K)                                   # uniform prior: KL = M log K
        return loss, {"rec": r, "vq": float(as_numpy(vq.data)), "commit": float(as_numpy(commit.data)),
                      "nelbo": nelbo, "bpd": self.bits_per_dim(nelbo), "perplexity": perplexity(k, self.K)}, z_e

    def init_codebook(self, x):
        """e_1..e_K <- K encoder outputs z_e of the examples ``x``, drawn at random (with repeats if
        there are fewer vectors than K), so that every code starts where the encoder's vectors are."""
        with no_grad():
            z = as_numpy(self.encode(self.data_view(x)[0]).data)                  # (N, Dz, h, w)
        z = z.transpose(0, 2, 3, 1).reshape(-1, self.grid[0])                    # (N h w, Dz)
        pick = self.rng.choice(len(z), self.K, replace=len(z) < self.K)
        self.codebook.data = to_device(z[pick].astype(self.codebook.dtype), self.codebook.device)
        if self.codebook_ema:                                                    # N_i = 1, m_i = e_i
            self.ema_count.data = self.ema_count.data * 0 + 1
            self.ema_sum.data = self.codebook.data.copy()
        self.codebook_ready.data = to_device(np.array(1, np.int64), self.codebook.device)

    def loss(self, batch):
        """Eq. 3, the mean over the batch; metrics as ``objective``. The first training batch
        initialises the codebook (``init_codebook``)."""
        x = self.split_batch(batch)[0]
        if self.training and not int(self.codebook_ready.data):
            self.init_codebook(x)
        loss, metrics, z_e = self.objective(x, self.rng)
        if self.codebook_ema and self.training and is_grad_enabled():
            self.update_codebook(z_e)
        return loss, metrics

    def update_codebook(self, z_e):
        """One EMA step of the codebook (Appendix A.1) from this batch's encoder outputs."""
        k, _ = self.quantize(z_e)
        xp, g = get_array_module(self.codebook.data), self.decay
        z = z_e.data.transpose(0, 2, 3, 1).reshape(-1, self.grid[0])            # (N h w, Dz)
        onehot = (xp.asarray(k).reshape(-1, 1) == xp.arange(self.K)).astype(z.dtype)   # (N h w, K)
        count = g * self.ema_count.data + (1 - g) * onehot.sum(axis=0)          # N_i
        self.ema_sum.data = g * self.ema_sum.data + (1 - g) * (onehot.T @ z)    # m_i (K, Dz)
        n, eps = count.sum(), 1e-5
        self.ema_count.data = count
        smoothed = (count + eps) / (n + self.K * eps) * n                       # Laplace smoothing
        self.codebook.data = (self.ema_sum.data / smoothed[:, None]).astype(self.codebook.dtype)

    def posterior_mean(self, x):
        """z_e(x) flattened: array (N, J), J = Dz h w (the family's pictures interpolate it)."""
        return super().posterior_mean(x).reshape(len(x), -1)

    def codes(self, x):
        """k(x), the code grid of each example: integers (N, h, w)."""
        with no_grad():
            return self.quantize(self.encode(self.data_view(x)[0]))[0]

    def sample(self, n, rng, mean=False):
        """Code grids from the uniform prior of the bound, decoded (no learned prior yet: module docstring).

        Returns:
            (n, *data_shape): categorical draws (raw levels), or the decoder's mean in [0, 1].
        """
        k = rng.integers(0, self.K, (n,) + self.grid[1:])                       # (n, h, w)
        with no_grad():
            z_q = self.codebook[to_device(k, self.codebook.device)].transpose(0, 3, 1, 2)   # (n, Dz, h, w)
            out = self.decoder(z_q)                                             # (n, D, K)
            if mean:
                return np.clip(self.mean_of(out), 0, 1).reshape((n,) + self.data_shape)
            return np.asarray(self.to_levels(None, rng, out)).reshape((n,) + self.data_shape)

    def figures(self, run_dir, rng, split=None):
        """The family's pictures (reconstructions, interpolation of z_e, scatter) with a uniform-prior
        samples.png, and codes.png: the code grids of test digits."""
        from ... import plots
        paths = LatentVariableModel.figures(self, run_dir, rng, split)
        grid = np.concatenate([self.sample(32, rng, mean=True), self.sample(32, rng) / self.sample_unit()])
        plots.image_grid(grid, paths[0], nrow=16, title=f"{self.title}: uniform code grids decoded "
                                                        "(the learned prior: vq-vae-prior)")
        if split is not None:
            k = self.codes(split.x[:32])                                        # (32, h, w)
            paths.append(plots.image_grid(k[:, None], os.path.join(run_dir, "codes.png"), nrow=16,
                                          value_range=(0, self.K - 1), title="k(x) of test digits"))
        return paths
