"""Latent diffusion (Rombach et al. 2022 [1]) at digit scale: a DDPM on a trained VAE's codes.

Stable Diffusion's structure in three parts ([1] §3):

1. a **first-stage autoencoder**, trained once and then frozen: here a minigen VAE (or
   any latent-variable model with ``posterior_mean`` and ``decode_mean``) loaded from its
   run folder with ``minigen.run.load_run`` (``autoencoder="runs/vae"``); an image x is
   represented by its code z = mu(x), the mean of q(z | x);
2. a **diffusion model in the latent space** ([1] eq. 2): the DDPM of ``ddpm.py`` with
   eps-prediction and the simple loss, on codes standardised per dimension (the statistics
   of the first training batch, kept as buffers; [1] §4.3.2 rescales by one global std),
   with an MLP denoiser in place of the U-Net (a code is a vector, not an image);
3. **conditioning** ([1] §3.3): a class label embedded and added to the time embedding,
   dropped with probability ``p_uncond`` so that the same network also gives the
   unconditional eps, and guided sampling eps~ = (1 + w) eps(z, y) - w eps(z, none)
   (Ho & Salimans 2022, eq. 6).

Samples: z_T ~ N(0, I) -> ancestral steps in latent space (cheap: an MLP on J numbers) ->
un-standardise -> the VAE's decoder mean -> nearest grey level.

The denoiser, for a code z_t (N, J), step t and label y::

    e = Linear(SiLU(Linear(sinusoid(t)))) + Embedding(y)          (N, H)
    h = Linear(z_t);  h = h + Linear(SiLU(Linear(SiLU(LayerNorm(h) + e))))   per block
    eps = Linear(SiLU(h))                                          (N, J), last layer at zero

The autoencoder is loaded at its first use (so a preset builds anywhere); without one an
untrained VAE of the same shape stands in (the model-table tests).
The bound of ``ddpm.py`` would be a bound on the codes, not on the pixels, so none is reported.

References:
    [1] R. Rombach, A. Blattmann, D. Lorenz, P. Esser, B. Ommer, "High-Resolution Image Synthesis
        with Latent Diffusion Models", CVPR 2022. https://arxiv.org/abs/2112.10752
    [2] J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
"""
import os

import numpy as np

from autograd import Tensor, as_numpy, to_device

from ... import plots
from ...nn import Embedding, LayerNorm, Linear, Module, ModuleList, Parameter, SiLU, init
from ...nn.unet import timestep_embedding
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from . import _sampling
from .base import DiffusionModel
from .schedules import NoiseSchedule

__all__ = ["LatentDiffusion", "Denoiser"]


class Denoiser(Module):
    """The MLP eps-network of the module docstring: (z_t (N, J), t (N,), y (N,) or None) -> (N, J)."""

    def __init__(self, latent_dim, hidden, num_blocks, num_classes, *, rng, dtype=np.float32):
        super().__init__()
        kw = dict(rng=rng, dtype=dtype)
        self.hidden, self.num_classes, self.dtype = hidden, num_classes, np.dtype(dtype)
        self.time = ModuleList([Linear(hidden, hidden, **kw), Linear(hidden, hidden, **kw)])
        self.label = Embedding(num_classes + 1, hidden, **kw) if num_classes else None
        self.inp = Linear(latent_dim, hidden, **kw)
        self.blocks = ModuleList([ModuleList([LayerNorm(hidden, dtype=dtype), Linear(hidden, hidden, **kw),
                                              Linear(hidden, hidden, **kw)]) for _ in range(num_blocks)])
        self.out = Linear(hidden, latent_dim, **kw)
        self.out.weight = Parameter(init.zeros(self.out.weight.shape, dtype))
        self.act = SiLU()

    def forward(self, z, t, y=None):
        e = Tensor(to_device(timestep_embedding(t, self.hidden).astype(self.dtype), z.device))
        e = self.time[1](self.act(self.time[0](e)))
        if self.label is not None:
            labels = np.full(len(t), self.num_classes) if y is None else np.asarray(y)
            e = e + self.label(labels if z.device == "cpu" else to_device(labels, z.device))
        h = self.inp(z)
        for norm, first, second in self.blocks:
            h = h + second(self.act(first(self.act(norm(h) + e))))
        return self.out(self.act(h))


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, T=1000, schedule="linear", beta_1=1e-4, beta_T=0.02,
               hidden=256, num_blocks=3, num_classes=10, p_uncond=0.1, guidance=1.0)


@register("latent-diffusion")
class LatentDiffusion(DiffusionModel):
    """A class-conditional DDPM on the codes of a frozen VAE (module docstring).

    Args:
        autoencoder: run folder of a trained latent-variable model (None: an untrained VAE
            with ``latent_dim`` stands in, for tests).
        data_shape, num_levels: the images' shape and grey levels.
        latent_dim: J, the autoencoder's code size (checked when it is loaded).
        T, schedule, beta_1, beta_T: the noise schedule (``schedules.py``).
        hidden, num_blocks: the denoiser's width and residual blocks.
        num_classes, p_uncond, guidance: class conditioning, label dropout, w used by ``sample``.
        figure_samples: samples per class and weight in the pictures.
        rng: generator for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    dataset_view = "raw"
    clip_x0 = False                                          # codes are not on [-1, 1]
    presets = {
        "digits-reference": Preset(
            model=dict(_DIGITS, autoencoder="runs/vae"),
            train=TrainConfig(data="digits", epochs=400, batch_size=64, lr=1e-3, ema_decay=0.999, seed=0,
                              early_stopping=("val/loss", 40)),
            about="DDPM (T=1000, MLP 256x3) on the codes of runs/vae (train vae --config digits-reference "
                  "--out runs/vae first), classes with label dropout 0.1"),
    }

    def __init__(self, autoencoder=None, data_shape=(1, 8, 8), num_levels=17, latent_dim=16, T=1000,
                 schedule="linear", beta_1=1e-4, beta_T=0.02, hidden=256, num_blocks=3, num_classes=10,
                 p_uncond=0.1, guidance=1.0, figure_samples=6, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(T=T, hidden=hidden, num_blocks=num_blocks, figure_samples=figure_samples)
        if not 0 <= p_uncond < 1:
            raise ValueError(f"p_uncond={p_uncond!r} is not allowed: a probability in [0, 1)")
        self.data_shape, self.num_levels, self.D = tuple(data_shape), num_levels, int(np.prod(data_shape))
        self.autoencoder_path, self.latent_dim = autoencoder, latent_dim
        self.__dict__["_autoencoder"] = None                 # loaded at first use, never trained
        self.diffusion_shape = (latent_dim,)
        self.schedule = NoiseSchedule(T, schedule, **(dict(beta_1=beta_1, beta_T=beta_T)
                                                      if schedule == "linear" else {}))
        self.T, self.num_classes, self.p_uncond, self.guidance = T, num_classes, p_uncond, guidance
        self.figure_samples, self.dtype = figure_samples, np.dtype(dtype)
        self.denoiser = Denoiser(latent_dim, hidden, num_blocks, num_classes, rng=self.rng, dtype=dtype)
        self.register_buffer("code_mean", np.zeros(latent_dim, dtype))
        self.register_buffer("code_std", np.ones(latent_dim, dtype))
        self.register_buffer("code_stats_set", np.zeros((), dtype))

    @property
    def autoencoder(self):
        """The frozen first stage: the run folder's model (loaded once), or an untrained stand-in VAE."""
        if self._autoencoder is None:
            self.__dict__["_autoencoder"] = self._load(self.autoencoder_path)
        return self._autoencoder

    def _load(self, path):
        if path is None:
            from ..latent.vae import VAE
            return VAE(self.data_shape, self.num_levels, self.latent_dim, hidden=(32,),
                       rng=np.random.default_rng(1), dtype=self.dtype).eval()
        from ...run import load_run
        if not os.path.exists(os.path.join(path, "config.json")):
            raise FileNotFoundError(f"autoencoder={path!r} is not a run folder (no config.json); train one "
                                    "first, e.g. python -m minigen train vae --config digits-reference "
                                    f"--out {path}")
        model, _ = load_run(path)
        if not (hasattr(model, "posterior_mean") and hasattr(model, "decode_mean")):
            raise TypeError(f"{path} holds a {type(model).__name__}, which has no posterior_mean / "
                            "decode_mean")
        if (model.latent_dim, tuple(model.data_shape)) != (self.latent_dim, self.data_shape):
            raise ValueError(f"{path}: codes of {model.latent_dim} for images {tuple(model.data_shape)}; "
                             f"this model was built for latent_dim={self.latent_dim}, "
                             f"data_shape={self.data_shape}")
        return model.eval()

    # -- codes ------------------------------------------------------------------------------
    def encode(self, x):
        """Standardised codes (N, J) of integer images: (mu(x) - mean) / std."""
        z = np.asarray(self.autoencoder.posterior_mean(np.asarray(as_numpy(x))), np.float64)
        if not as_numpy(self.code_stats_set.data):          # the first training batch sets the statistics
            self.code_mean.data = to_device(z.mean(axis=0).astype(self.dtype), self.device)
            self.code_std.data = to_device((z.std(axis=0) + 1e-3).astype(self.dtype), self.device)
            self.code_stats_set.data = to_device(np.ones((), self.dtype), self.device)
        mean, std = as_numpy(self.code_mean.data), as_numpy(self.code_std.data)    # codes live on the host
        return ((z - mean) / std).astype(self.dtype)

    def decode(self, z):
        """Integer images from standardised codes: the decoder's mean, rounded to a level."""
        z = np.asarray(as_numpy(z)) * as_numpy(self.code_std.data) + as_numpy(self.code_mean.data)
        mean = self.autoencoder.decode_mean(z.astype(self.dtype))
        L = self.num_levels
        return np.clip(np.rint(np.asarray(mean) * (L - 1)), 0, L - 1).astype(np.int64)

    def network(self, zt, t, y=None):
        """(eps_theta, log sigma_t^2 = log beta~_t), as ``DDPM.network`` (the samplers' interface)."""
        zt = zt if isinstance(zt, Tensor) else self.tensor(zt)
        return self.denoiser(zt, t, y), self.tensor(self.schedule.variance("small", t, 2))

    def tensor(self, a):
        """A host array as a Tensor of the model's dtype on the model's device."""
        return Tensor(to_device(np.asarray(a, self.dtype), self.device))

    # -- the protocol -------------------------------------------------------------------------
    def _mse(self, x, y, rng, drop):
        z0 = self.encode(x)
        t = rng.integers(1, self.T + 1, len(z0))
        eps = rng.standard_normal(z0.shape).astype(self.dtype)
        if self.num_classes and y is not None:
            y = np.asarray(as_numpy(y)).astype(np.int64)
            y = np.where(rng.random(len(y)) < self.p_uncond, self.num_classes, y) if drop else y
        zt = self.schedule.q_sample(z0, t, eps)
        d = self.network(zt, t, y if self.num_classes else None)[0] - self.tensor(eps)
        return (d * d).mean()                                # Ho et al. eq. 14, on the codes

    def loss(self, batch):
        x, y = self.split_batch(batch)
        mse = self._mse(x, y, self.rng, drop=True)
        return mse, {"mse": mse.item()}

    def eval_figures(self, batch):
        x, y = self.split_batch(batch)
        return {"loss": self._mse(x, y, self.eval_rng(x), drop=False).item()}

    def sample_raw(self, n, rng):
        y = np.arange(n) % self.num_classes if self.num_classes else None
        return self.decode(_sampling.ancestral(self, n, rng, y=y, w=self.guidance)[0])

    def figures(self, run_dir, rng, split=None):
        """latent_guided.png: one row per class, ``figure_samples`` each at w = 0, 1, 3."""
        if not self.num_classes:
            return [plots.image_grid(self.sample(36, rng), os.path.join(run_dir, "samples.png"), nrow=6,
                                     levels=self.num_levels, title="Latent diffusion samples")]
        k, K, weights = self.figure_samples, self.num_classes, (0.0, 1.0, 3.0)
        y = np.repeat(np.arange(K), k)
        z_T = rng.standard_normal((len(y),) + self.diffusion_shape)
        with self.averaged():
            by_w = [self.decode(_sampling.ancestral(self, len(y), rng, y=y, w=w, x_T=z_T)[0])
                    for w in weights]
        rows = [(f"{c}", np.concatenate([s[c * k:(c + 1) * k] for s in by_w])) for c in range(K)]
        return [plots.labelled_rows(rows, os.path.join(run_dir, "latent_guided.png"), levels=self.num_levels,
                                    title=f"Latent diffusion on VAE codes: w = 0, 1, 3 ({k} each), "
                                          f"T = {self.T}")]
