"""An energy-based model trained with short-run Langevin dynamics and a replay buffer [1].

A network E_theta(x) -> R defines p(x) = exp(-E(x)) / Z over continuous x. The
maximum-likelihood gradient ([1] eq. (2); ``EnergyModel``'s docstring) contrasts the data
with the model's samples, which [1] draws by *stochastic gradient Langevin dynamics*
(SGLD, [1] eq. (3); Welling & Teh 2011):

    x^k = x^{k-1} - lambda grad_x E(x^{k-1}) + sigma * z,     z ~ N(0, I)

run for K steps (short-run: K = 20 to 60), with step lambda and noise sigma set apart
(as [1] §3.1 does; sigma = sqrt(2 lambda) would be the exact Langevin diffusion), x^k
clipped to the data's range and the gradient clipped elementwise to ``grad_clip``.
[1] §3.1 starts the chains from a **replay buffer** of past samples: each chain starts
from a random buffer entry, or with probability ``reinit`` (5%) from uniform noise, and
its end is written back. Here the buffer is a model buffer, so a checkpoint holds it
and a resumed run continues exactly.

The loss ([1] §3.3, eq. (4) and the regulariser of §3.3) is

    L = mean E(x+) - mean E(x-) + alpha (mean E(x+)^2 + mean E(x-)^2)

with x- the SGLD samples, no gradient through the sampler. The energy-magnitude
regulariser keeps E from drifting to large values where SGLD stops moving. The
negatives of one step are drawn once (``negatives_for``) and reused by every evaluation
of that step's loss, so the loss is a function of the parameters alone (its gradient is
then checked in float64 like every model's).

Energies: a small convolutional network for images (3x3 convs 1 -> h -> 2h (stride 2)
-> 2h (stride 2), ELU, a linear head; smooth activations give SGLD smooth gradients),
and an MLP (2 -> h -> h -> h -> 1, ELU) for 2-D toys, whose energy landscape
exp(-E) is drawn on a grid and normalised there, giving the toys' NLL by quadrature.

**Noise and temperature.** SGLD with step lambda and noise sigma samples exp(-E / T) with
T = sigma^2 / (2 lambda). The 2-D presets use sigma = sqrt(2 lambda) (T = 1), so the
normalised exp(-E) drawn in the landscape is the distribution the chains sample; with
sigma 0.05 and lambda 0.02 (T = 0.06) the chains sit in the minima while exp(-E) stays
broad (8 Gaussians: test NLL 3.70 nats after 3 epochs at T = 0.06; 3.28 after 10 epochs
at T = 1, still a ring rather than 8 modes; the truth is 2.84, uniform 4.16). The image presets follow [1]: a tiny sigma and a
large, clipped step, i.e. a cold sampler, so there exp(-E) is an energy, not a density.
The sampler is part of the model: on the digits, 60 SGLD steps from fresh noise give
blurred strokes (FID 13.3, worse than independent pixels), the replay buffer the training
chains left holds digits (FID 4.7), and running any chain much longer than it was trained
for saturates the pixels to 0 or 1 (200 steps from noise: FID 32), as [1] and Nijkamp et
al. (2019) observe for short-run EBMs. So ``digits-reference`` samples as [1] does: 20 more
steps (the training chains' length) from distinct replay-buffer entries (FID 5.1).

**Validation metric** (no likelihood for images): the energy gap mean E(x_val) - mean
E(x-), x- from ``eval_steps`` SGLD steps started at uniform noise with common random
numbers. It starts near 0 and goes down as the model learns to put the data below what
its sampler finds from noise; it is a training monitor, not a likelihood.

References:
    [1] Y. Du, I. Mordatch, "Implicit generation and modeling with energy based models",
        NeurIPS 2019. https://arxiv.org/abs/1903.08689
    [2] M. Welling, Y. W. Teh, "Bayesian learning via stochastic gradient Langevin
        dynamics", ICML 2011.
"""
import os
import zlib

import numpy as np

from autograd import Tensor, as_numpy, enable_grad, get_array_module, grad, no_grad, to_device
from autograd.functional import elu

from ...nn import Conv2d, Linear, ModuleList
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import EnergyModel

__all__ = ["EBM"]

_TOY = dict(data_shape=(2,), hidden=64, data_range=(-4.0, 4.0), sgld_steps=40, step_size=0.02, noise=0.2,
            grad_clip=None, alpha=0.1, buffer_size=10000, reinit=0.05)
_DIGITS = dict(data_shape=(1, 8, 8), hidden=16, data_range=(0.0, 1.0), sgld_steps=20, step_size=1.0, noise=0.005,
               grad_clip=0.03, alpha=0.1, buffer_size=1000, reinit=0.05, eval_steps=20, sample_steps=20,
               sample_from="buffer")


@register("ebm")
class EBM(EnergyModel):
    """Energy network, short-run SGLD from a replay buffer, contrastive loss + alpha E^2.

    Args:
        data_shape: (C, H, W) images (convolutional energy) or (2,) points (MLP energy).
        hidden: channels / width h of the energy network.
        data_range: (lo, hi) of the data; chains are clipped to it, noise starts uniform in it.
        sgld_steps: K, Langevin steps per training step.
        step_size: lambda of the update.
        noise: sigma of the update.
        grad_clip: clip grad_x E elementwise to +-grad_clip (None: no clipping).
        alpha: weight of the energy-magnitude regulariser.
        buffer_size: replay buffer entries.
        reinit: probability that a chain starts from noise instead of the buffer.
        eval_steps: SGLD steps of the validation negatives (default: sgld_steps).
        sample_steps: SGLD steps of ``sample`` (default: eval_steps).
        sample_from: where ``sample`` starts its chains: "noise" (uniform) or "buffer" (replay
            buffer entries, i.e. continuing the training chains, as [1]'s samples do).
        rng: generator or seed.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    dataset_view = "scaled"
    best_metric = ("val/energy_gap", "min")
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, train=TrainConfig(data="digits", steps=500, eval_every=100, batch_size=64, lr=1e-3, seed=0),
            about="8x8 digits scaled to [0, 1]: conv energy 1-16-32-32, 20 SGLD steps (lambda 1, gradient clipped "
                  "to 0.03, sigma 0.005) from a 1000-entry replay buffer (5% noise restarts), alpha 0.1, Adam 1e-3, "
                  "500 steps; samples: 20 more SGLD steps from replay-buffer entries ([1]'s samples)"),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=4, sgld_steps=5, sample_steps=5, buffer_size=64),
                              train=TrainConfig(data="digits", epochs=1, batch_size=64, lr=1e-3, seed=0)),
        "8gaussians": Preset(model=_TOY, train=TrainConfig(data="8gaussians", epochs=10, batch_size=128, lr=1e-3,
                                                           seed=0),
                             about="ring of 8 Gaussians: MLP energy 2-64-64-64-1, 40 SGLD steps lambda 0.02 with "
                                   "sigma = sqrt(2 lambda) = 0.2 (exact Langevin, so exp(-E) is what is sampled), "
                                   "alpha 0.1, 10 epochs; landscape picture, NLL by quadrature"),
        "moons": Preset(model=_TOY, train=TrainConfig(data="moons", epochs=10, batch_size=128, lr=1e-3, seed=0),
                        about="two moons: the 8gaussians recipe"),
    }

    def __init__(self, data_shape=(1, 8, 8), hidden=32, data_range=(0.0, 1.0), sgld_steps=40, step_size=1.0,
                 noise=0.005, grad_clip=0.03, alpha=1.0, buffer_size=10000, reinit=0.05, eval_steps=None,
                 sample_steps=None, sample_from="noise", rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, hidden=hidden, sgld_steps=sgld_steps, buffer_size=buffer_size,
                       eval_steps=eval_steps, sample_steps=sample_steps)
        if not (step_size > 0 and noise >= 0 and alpha >= 0 and 0 <= reinit <= 1 and data_range[0] < data_range[1]):
            raise ValueError(f"need step_size > 0, noise >= 0, alpha >= 0, 0 <= reinit <= 1, lo < hi; got "
                             f"{step_size}, {noise}, {alpha}, {reinit}, {data_range}")
        self.data_shape, self.D = tuple(data_shape), int(np.prod(data_shape))
        self.data_range, self.sgld_steps, self.step_size, self.noise = tuple(data_range), sgld_steps, step_size, noise
        self.grad_clip, self.alpha, self.reinit = grad_clip, alpha, reinit
        self.eval_steps = eval_steps or sgld_steps
        self.sample_steps = sample_steps or self.eval_steps
        if sample_from not in ("noise", "buffer"):
            raise ValueError(f"sample_from={sample_from!r}: choose 'noise' or 'buffer'")
        self.sample_from = sample_from
        self.image = len(self.data_shape) == 3
        self.dataset_view = "scaled" if self.image else "raw"         # images onto [0, 1]; points as they are
        if self.image:
            C, h = self.data_shape[0], hidden
            self.layers = ModuleList([Conv2d(C, h, 3, padding=1, rng=self.rng, dtype=dtype),
                                      Conv2d(h, 2 * h, 3, stride=2, padding=1, rng=self.rng, dtype=dtype),
                                      Conv2d(2 * h, 2 * h, 3, stride=2, padding=1, rng=self.rng, dtype=dtype)])
            size = 2 * h * ((self.data_shape[1] + 3) // 4) * ((self.data_shape[2] + 3) // 4)
            self.head = Linear(size, 1, rng=self.rng, dtype=dtype)
        else:
            self.layers = ModuleList([Linear(self.D, hidden, rng=self.rng, dtype=dtype),
                                      Linear(hidden, hidden, rng=self.rng, dtype=dtype),
                                      Linear(hidden, hidden, rng=self.rng, dtype=dtype)])
            self.head = Linear(hidden, 1, rng=self.rng, dtype=dtype)
        self.register_buffer("replay", self.uniform(buffer_size, self.rng).astype(dtype))
        self.register_buffer("steps", np.zeros((), np.int64))
        self._negatives = (None, None)

    def uniform(self, n, rng):
        lo, hi = self.data_range
        return lo + (hi - lo) * rng.random((n,) + self.data_shape)

    # -- the energy and the sampler ---------------------------------------------------------
    def energy(self, x):
        """E(x): Tensor (N,)."""
        h = self.as_input(x)
        for layer in self.layers:
            h = elu(layer(h))
        return self.head(h.reshape(len(h), -1)).reshape(len(h))          # (N, features) -> (N,)

    def sgld(self, x, steps, rng):
        """K steps of x <- clip(x - lambda clip(grad_x E(x)) + sigma z) from x (an array); returns an
        array on the parameters' device (the noise is drawn on the host with ``rng`` and moved)."""
        w = self.head.weight                        # the chains run where the parameters are
        xp, dtype = get_array_module(w.data), w.data.dtype
        x = to_device(np.asarray(as_numpy(x), dtype), w.device)
        lo, hi = self.data_range
        with enable_grad():
            for _ in range(steps):
                xt = Tensor(x, requires_grad=True)
                g = grad(self.energy(xt).sum(), xt).data
                if self.grad_clip is not None:
                    g = xp.clip(g, -self.grad_clip, self.grad_clip)
                z = to_device(rng.standard_normal(x.shape).astype(dtype), w.device)
                x = xp.clip(x - self.step_size * g + self.noise * z, lo, hi)
        return x

    def negative_samples(self, x, rng):
        """Chains from the replay buffer (or noise, with probability ``reinit``) after K SGLD
        steps; returns ``(samples, buffer indices)``."""
        n = len(x)
        idx = rng.integers(0, len(self.replay.data), n)
        start = np.array(as_numpy(self.replay.data)[idx])
        fresh = rng.random(n) < self.reinit
        start[fresh] = self.uniform(int(fresh.sum()), rng)
        return self.sgld(start, self.sgld_steps, rng), idx

    def negatives_for(self, x):
        """This step's negatives, drawn once per (step, batch) with ``self.rng`` and then reused."""
        key = (int(self.steps.data), zlib.crc32(np.ascontiguousarray(as_numpy(getattr(x, "data", x))).tobytes()))
        if self._negatives[0] != key:
            with no_grad():
                self._negatives = (key, self.negative_samples(x, self.rng))
        return self._negatives[1]

    # -- the protocol ---------------------------------------------------------------------
    def loss(self, batch):
        """mean E(x+) - mean E(x-) + alpha (mean E(x+)^2 + mean E(x-)^2)  ([1] §3.3)."""
        x = self.split_batch(batch)[0]
        neg, _ = self.negatives_for(x)
        e_pos, e_neg = self.energy(x), self.energy(neg)
        gap = e_pos.mean() - e_neg.mean()
        loss = gap + self.alpha * ((e_pos * e_pos).mean() + (e_neg * e_neg).mean())
        return loss, {"energy_data": e_pos.mean().item(), "energy_neg": e_neg.mean().item(),
                      "energy_gap": gap.item()}

    def train_step(self, batch):
        """One Adam step on the loss; the chains' ends go back into the replay buffer."""
        metrics = super().train_step(batch)
        neg, idx = self.negatives_for(self.split_batch(batch)[0])
        replay = np.array(as_numpy(self.replay.data))
        replay[idx] = as_numpy(neg)
        self.replay = replay
        self.steps = np.asarray(int(self.steps.data) + 1, np.int64)
        return metrics

    def eval_step(self, batch):
        """Energies of the batch and of ``eval_steps``-step SGLD samples from noise (common
        random numbers), and their gap (the validation metric)."""
        x = self.split_batch(batch)[0]
        rng = self.eval_rng(x)
        neg = self.sgld(self.uniform(len(x), rng), self.eval_steps, rng)
        with no_grad():
            e_pos, e_neg = float(self.energy(x).data.mean()), float(self.energy(neg).data.mean())
        return {"energy_data": e_pos, "energy_neg": e_neg, "energy_gap": e_pos - e_neg}

    def sample(self, n, rng, steps=None):
        """``n`` samples: ``steps`` (default sample_steps) SGLD steps from uniform noise, or from
        distinct replay-buffer entries (``sample_from="buffer"``; with replacement if n > buffer)."""
        if self.sample_from == "noise":
            start = self.uniform(n, rng)
        else:
            size = len(self.replay.data)
            idx = rng.permutation(size)[:n] if n <= size else rng.integers(0, size, n)
            start = np.asarray(as_numpy(self.replay.data))[idx]
        x = self.sgld(start, steps or self.sample_steps, rng)
        return np.asarray(as_numpy(x)).reshape((n,) + self.data_shape)

    def grid_log_prob(self, grid=200):
        """For 2-D data: ``(log_prob, log_Z)``, log Z by quadrature of exp(-E) on a grid of the range."""
        lo, hi = self.data_range
        t = np.linspace(lo, hi, grid)
        xx, yy = np.meshgrid(t, t)
        pts = np.stack([xx.ravel(), yy.ravel()], axis=1)                    # (grid^2, 2)
        with no_grad():
            e = np.concatenate([as_numpy(self.energy(pts[i:i + 10000]).data) for i in range(0, len(pts), 10000)])
        m = (-e).max()
        log_z = float(m + np.log(np.exp(-e - m).sum() * (t[1] - t[0]) ** 2))

        def log_prob(x):
            with no_grad():
                return -np.asarray(as_numpy(self.energy(np.asarray(x)).data), np.float64) - log_z
        return log_prob, log_z

    def report(self, split, rng, batch_size=256):
        """The validation figures on ``split``; for 2-D data also the NLL by quadrature."""
        out = super().report(split, rng, batch_size)
        if self.data_shape == (2,):
            log_prob, log_z = self.grid_log_prob()
            out.update(nll=float(-log_prob(split.x).mean()), log_Z=log_z)
        return out

    def figures(self, run_dir, rng, split=None):
        """samples.png and replay.png (images), or landscape.png (2-D: exp(-E) with samples)."""
        from ... import plots
        if self.image:
            return [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"), nrow=8,
                                     title=f"{self.title}: {self.sample_steps} SGLD steps from {self.sample_from}"),
                    plots.image_grid(self.replay.data[:64], os.path.join(run_dir, "replay.png"), nrow=8,
                                     title=f"{self.title}: replay buffer")]
        if self.data_shape == (2,):
            return [plots.density_2d(self.grid_log_prob()[0], os.path.join(run_dir, "landscape.png"),
                                     samples=self.sample(500, rng), bounds=self.data_range[1],
                                     data=None if split is None else split.x[:1000],
                                     title=f"{self.title}: exp(-E) normalised on the grid, SGLD samples")]
        return []
