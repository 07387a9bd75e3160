"""Implementation of Glow [1]: generative flow with invertible 1x1 convolutions.

Glow keeps RealNVP's multi-scale design but replaces its fixed channel permutations by
a learned mixing. One *step of flow* ([1] §3, Figure 2a, Table 1), forward = data ->
latent as every flow in minigen (``nn/flows.py``), on (N, C, H, W)::

    actnorm          y = s * x + b per channel, data-dependent init   log|det| = HW sum log|s|  (§3.1)
    inv. 1x1 conv    y = W x per pixel, W = P L (U + diag(s))         log|det| = HW sum log|s|  (§3.2, (9)-(11))
    affine coupling  (x_a, x_b) = split(x); (log s, t) = NN(x_a)
                     y_b = s * x_b + t, y_a = x_a                     log|det| = sum log|s|     (§3.3)

(``nn.ActNorm``, ``nn.InvertibleConv1x1``, ``nn.AffineCoupling`` with a channel mask;
the coupling's scale is nn's s = scale * tanh(s_raw), where [1]'s code uses a sigmoid.)
NN is three convolutions, 3x3 -> ReLU -> 1x1 -> ReLU -> 3x3, the last one **zero-
initialised** so each coupling starts as the identity ([1] §3.3).

**Multi-scale with split priors** ([1] §3, Figure 2b). Each level squeezes (C, H, W) ->
(4C, H/2, W/2), runs K steps, then (except the last level) factors half the channels
out. [1] gives the factored half z_1 a Gaussian prior whose mean and log-std come from
the kept half z_2 through a zero-initialised 3x3 convolution; written as a bijection
(so the model keeps ``FlowModel``'s N(0, I) prior) it is the affine map::

    (mu, log_sigma) = Conv3x3_0(z_2),   eps = (z_1 - mu) exp(-log_sigma),   log|det| = -sum log_sigma

and log N(eps; 0, I) - sum log_sigma = log N(z_1; mu, sigma^2), [1]'s split prior
exactly. The latent is the concatenation of every level's eps and the last level's
output, flattened to (N, D).

**Temperature** ([1] §5, Figure 8): sampling with eps ~ N(0, T^2 I), T < 1, trades
diversity for fidelity; ``sample(n, rng, temperature=T)``. The end-of-run picture shows
T = 0.7 and T = 1.0.

**digits-reference** (the README's protocol)::

    x (1x8x8) -> dequantise (x + u)/17 -> logit (alpha 0.05)
      level 1: squeeze -> 4x4x4 -> 4 x [actnorm(4) -> inv 1x1 (LU, 4x4) -> affine coupling,
               NN = conv3x3 4->64, ReLU, conv1x1 64->64, ReLU, conv3x3 64->8 (zero init)]
               -> split: 2x4x4 factored out through the split prior (conv3x3 2->4, zero init)
      level 2: squeeze 2x4x4 -> 8x2x2 -> 4 x [actnorm(8) -> inv 1x1 (LU, 8x8) -> coupling 8->64->64->16]
      z = (eps_1 (32), z_2 (32)) ~ N(0, I_64)

Adam 1e-3, batch 64, seed 0, early stopping on validation NLL (patience 20, cap 200 epochs),
test NLL over 10 dequantisation draws; PyTorch's default initialisation, the zero-
initialised layers excepted. A 2-D variant (``moons``) uses linear layers for NN, no
squeeze and one level.

Reference:
    [1] D. P. Kingma, P. Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions",
        NeurIPS 2018. https://arxiv.org/abs/1807.03039
"""
import os

import numpy as np

from autograd import ops

from ...nn import (ActNorm, AffineCoupling, Conv2d, Flow, FlowSequence, InvertibleConv1x1, Linear, Module,
                   ModuleList, Squeeze, channel_mask)
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import FlowModel
from .nice import check_levels

__all__ = ["Glow", "GlowFlow", "CouplingNet"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, levels=2, steps=4, hidden=64, lu=True, alpha=0.05,
               test_draws=10)
_TOY = dict(data_shape=(2,), num_levels=None, levels=1, steps=6, hidden=64)


def zero_init(layer):
    """Weights and bias set to 0 ([1] §3.3): the layer outputs 0 until it learns."""
    layer.weight.data = np.zeros_like(layer.weight.data)
    layer.bias.data = np.zeros_like(layer.bias.data)
    return layer


class CouplingNet(Module):
    """NN of the coupling, ``(s_raw, t) = NN(b * x)``: 3x3 -> ReLU -> 1x1 -> ReLU -> 3x3 (zero init)
    for images, or Linear -> ReLU -> Linear -> ReLU -> Linear (zero init) for vectors."""

    def __init__(self, channels, hidden, image, *, rng, dtype):
        super().__init__()
        if image:
            self.layers = ModuleList([Conv2d(channels, hidden, 3, padding=1, rng=rng, dtype=dtype),
                                      Conv2d(hidden, hidden, 1, rng=rng, dtype=dtype),
                                      zero_init(Conv2d(hidden, 2 * channels, 3, padding=1, rng=rng, dtype=dtype))])
        else:
            self.layers = ModuleList([Linear(channels, hidden, rng=rng, dtype=dtype),
                                      Linear(hidden, hidden, rng=rng, dtype=dtype),
                                      zero_init(Linear(hidden, 2 * channels, rng=rng, dtype=dtype))])

    def forward(self, x):
        h = self.layers[1](self.layers[0](x).relu()).relu()
        return ops.split(self.layers[2](h), 2, axis=1)                          # (s_raw, t), each like x


class GlowFlow(Flow):
    """The levels of the module docstring as one ``Flow``: x (N, C, H, W) or (N, D) -> z (N, D_total)."""

    def __init__(self, data_shape, levels, steps, hidden, lu, *, rng, dtype=np.float32):
        super().__init__()
        shape, self.image = tuple(data_shape), len(data_shape) == 3
        self.out_shapes, blocks, priors = [], [], []
        for level in range(levels):
            flows = []
            if self.image:
                flows.append(Squeeze())
                shape = (4 * shape[0], shape[1] // 2, shape[2] // 2)            # (4C, H/2, W/2)
            C = shape[0]
            mask = channel_mask(C, 0, ndim=len(shape))                          # first half kept
            for _ in range(steps):
                flows += [ActNorm(C, dtype=dtype), InvertibleConv1x1(C, lu, rng=rng, dtype=dtype),
                          AffineCoupling(CouplingNet(C, hidden, self.image, rng=rng, dtype=dtype), mask, C,
                                         dtype=dtype)]
            blocks.append(FlowSequence(flows))
            if level < levels - 1:                                              # split prior of z_1
                prior = Conv2d(C - C // 2, 2 * (C // 2), 3, padding=1, rng=rng, dtype=dtype) if self.image \
                    else Linear(C - C // 2, 2 * (C // 2), rng=rng, dtype=dtype)
                priors.append(zero_init(prior))
                self.out_shapes.append((C // 2,) + shape[1:])
                shape = (C - C // 2,) + shape[1:]
        self.out_shapes.append(shape)
        self.blocks, self.priors = ModuleList(blocks), ModuleList(priors)

    def latent_shape(self):
        return (sum(int(np.prod(s)) for s in self.out_shapes),)

    def forward(self, x):
        eps, log_det_J = [], 0.0
        for level, block in enumerate(self.blocks):
            x, ld = block(x)
            log_det_J = log_det_J + ld
            if level < len(self.priors):
                C = x.shape[1]
                z1, x = x[:, :C // 2], x[:, C // 2:]                            # factored out, kept
                mu, log_sigma = ops.split(self.priors[level](x), 2, axis=1)
                eps.append(((z1 - mu) * (-log_sigma).exp()).reshape(len(x), -1))
                log_det_J = log_det_J - log_sigma.reshape(len(x), -1).sum(axis=1)
        eps.append(x.reshape(len(x), -1))
        return ops.concatenate(eps, axis=1), log_det_J                          # (N, D)

    def inverse(self, z):
        sizes = np.cumsum([int(np.prod(s)) for s in self.out_shapes])[:-1]
        parts = ops.split(z, list(sizes), axis=1) if len(sizes) else [z]
        x = parts[-1].reshape((len(z),) + self.out_shapes[-1])
        for level in range(len(self.blocks) - 1, -1, -1):
            if level < len(self.priors):
                mu, log_sigma = ops.split(self.priors[level](x), 2, axis=1)
                z1 = parts[level].reshape((len(z),) + self.out_shapes[level]) * log_sigma.exp() + mu
                x = ops.concatenate([z1, x], axis=1)
            x = self.blocks[level].inverse(x)
        return x


@register("glow")
class Glow(FlowModel):
    """Glow (Kingma & Dhariwal 2018): actnorm, invertible 1x1 convolutions, affine couplings,
    multi-scale with split priors; temperature sampling.

    Args:
        data_shape: (C, H, W) images (H, W divisible by 2^levels) or (D,) vectors.
        num_levels: L for discrete data (17 for digits), None for continuous data.
        levels: L of [1], the scales (images; 1 for vectors).
        steps: K of [1], steps of flow per level.
        hidden: channels (or units) of the coupling networks.
        lu: the LU-parameterised 1x1 convolution ([1] §3.2) instead of the plain matrix.
        alpha: logit margin for discrete data.
        eval_draws: dequantisation draws per validation batch.
        test_draws: draws per test image of the end-of-run report (0: none).
        rng: generator or seed for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="Glow on the digits protocol: 2 levels x 4 steps, LU 1x1 convs, split prior",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-plain": Preset(model=dict(_DIGITS, lu=False), about="the same with plain 1x1 convs (LU each step)",
                               train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20),
                                                 batch_size=64, lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, steps=2, hidden=16, test_draws=2), about="seconds on a CPU",
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
        "moons": Preset(model=_TOY, train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, levels=2, steps=4, hidden=64, lu=True, alpha=0.05,
                 eval_draws=1, test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, levels=levels, steps=steps, hidden=hidden, eval_draws=eval_draws)
        check_levels(num_levels)
        data_shape = tuple(data_shape)
        if len(data_shape) == 3 and any(s % 2 ** levels for s in data_shape[1:]):
            raise ValueError(f"data_shape={data_shape} does not fit levels={levels}: H and W must be divisible "
                             f"by 2^levels = {2 ** levels}")
        if len(data_shape) not in (1, 3) or (len(data_shape) == 1 and (levels != 1 or data_shape[0] < 2)):
            raise ValueError(f"data_shape={data_shape} with levels={levels} is not allowed: (C, H, W) images, "
                             f"or (D,) vectors with D >= 2 and levels=1")
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws)
        self.flow = GlowFlow(data_shape, levels, steps, hidden, lu, rng=self.rng, dtype=dtype)

    def flow_latent_shape(self):
        return self.flow.latent_shape()

    def figures(self, run_dir, rng, split=None):
        """samples.png at T = 1.0 and temperature.png, rows at T = 0.7 and T = 1.0 (images)."""
        if len(self.data_shape) == 1:
            return super().figures(run_dir, rng, split)
        from ... import plots
        paths = super().figures(run_dir, rng, split)
        seed = int(rng.integers(2 ** 31))                                      # the same noise at both T
        rows = [(f"T = {T}", self.sample(16, np.random.default_rng(seed), temperature=T)) for T in (0.7, 1.0)]
        paths.append(plots.labelled_rows(rows, os.path.join(run_dir, "temperature.png"),
                                         title="Glow samples at two temperatures", levels=self.num_levels))
        return paths
