"""Implementation of RealNVP [1]: real-valued non-volume preserving flows.

RealNVP is a normalizing flow (``minigen/nn/flows.py``: forward = data -> latent) built from
*affine coupling layers*. A coupling layer leaves part of its input unchanged and
scales and shifts the rest by functions of the unchanged part ([1] §3.2, eqs. (4)-(5));
written with a binary mask b (1 = kept) it is ([1] §3.4, eq. (9))

    z = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x))

Its Jacobian is triangular with diagonal exp(s) on the changed entries ([1] eq. (6)), so

    log_det_J = sum_i (1 - b_i) s_i(b * x)

costs nothing however deep the networks s and t are, and the inverse ([1] eqs. (7)-(8))

    x = b * z + (1 - b) * (z - t(b * z)) * exp(-s(b * z))

needs no inverse of s or t (b * z = b * x). As in [1] §4.1, s = scale * tanh(s_raw)
with a learned per-channel ``scale``, which keeps early steps from exploding.

Masks alternate so that every value gets transformed ([1] §3.4, Figure 3)::

    checkerboard (b = 1 where h + w is even; parity 1 flips it)    channel (first half kept)
        1 0 1 0                                                    channels 0 .. C/2-1: 1
        0 1 0 1                                                    channels C/2 .. C-1: 0
        1 0 1 0
        0 1 0 1

The multi-scale architecture ([1] §3.6) repeats, per scale: coupling
layers with alternating checkerboard masks, a squeeze (C, H, W) -> (4C, H/2, W/2),
coupling layers with alternating channel masks; the last scale has checkerboard
couplings only. [1] then factors half of the channels out to the latent at every
scale (``factor_out=True``); the digits-reference preset keeps them all::

    x (1x8x8) -> logit -> 3 x checkerboard coupling -> squeeze (4x4x4)
              -> 3 x channel coupling -> 3 x checkerboard coupling -> z (4x4x4) ~ N(0, I)

Each s/t network (``Conditioner``) is three 3x3 convolutions C -> hidden -> hidden -> 2C
with ReLU; its output holds s_raw (first C channels) and t. An MLP conditioner
(D -> hidden -> hidden -> 2D, half masks) serves vector data (2-D toys, the benchmark).
The likelihood on discrete pixels (dequantisation, logit, bits/dim) is ``FlowModel``'s.

References:
    [1] L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP",
        ICLR 2017. https://arxiv.org/abs/1605.08803
    [2] D. P. Kingma, P. Dhariwal, "Glow", NeurIPS 2018, §3.1 (ActNorm, used here in
        place of [1] §3.7's batch normalisation). https://arxiv.org/abs/1807.03039
"""
import numpy as np

from autograd import ops

from ...nn import (ActNorm, AffineCoupling, Conv2d, Flow, FlowSequence, Linear, Module, ModuleList, Squeeze,
                   channel_mask, checkerboard_mask)
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import FlowModel

__all__ = ["RealNVP", "MultiScaleFlow", "Conditioner"]


class Conditioner(Module):
    """The s/t network of one coupling: ``(s_raw, t) = net(b * x)``.

    ``kind="conv"``: three 3x3 convolutions C -> hidden -> hidden -> 2C, ReLU between;
    ``kind="mlp"``: D -> hidden -> hidden -> 2D. PyTorch's default initialisation.

    Args:
        channels: C (images) or D (vectors).
        hidden: width of the hidden layers.
        kind: "conv" or "mlp".
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, channels, hidden, kind, *, rng, dtype=np.float32):
        super().__init__()
        if kind == "conv":
            layer = lambda i, o: Conv2d(i, o, 3, padding=1, rng=rng, dtype=dtype)     # noqa: E731
        else:
            layer = lambda i, o: Linear(i, o, rng=rng, dtype=dtype)                   # noqa: E731
        self.layers = ModuleList([layer(channels, hidden), layer(hidden, hidden),
                                  layer(hidden, 2 * channels)])

    def forward(self, x):
        h = self.layers[1](self.layers[0](x).relu()).relu()
        s_raw, t = ops.split(self.layers[2](h), 2, axis=1)               # (N, 2C, ...) -> 2 x (N, C, ...)
        return s_raw, t


class MultiScaleFlow(Flow):
    """The multi-scale stack of the module docstring, as one ``Flow``.

    With ``factor_out`` the latent is the concatenation z = (z(1), ..., z(L)) of the
    factored-out halves, flattened to (N, D) ([1] §3.6); otherwise it keeps
    the shape of the last scale.
    """

    def __init__(self, data_shape, num_scales, couplings, final_couplings, hidden, kind,
                 factor_out, norm, *, rng, dtype=np.float32):
        super().__init__()
        self.factor_out = factor_out and num_scales > 1
        shape, scales = tuple(data_shape), []
        self.out_shapes = []                                             # shape of each z(i)

        def coupling(mask, C):
            steps = [AffineCoupling(Conditioner(C, hidden, kind, rng=rng, dtype=dtype), mask, C, dtype=dtype)]
            return steps + ([ActNorm(C, dtype=dtype)] if norm == "actnorm" else [])

        for i in range(num_scales):
            steps = []
            last = i == num_scales - 1
            for k in range(final_couplings if last else couplings):      # checkerboard / half
                b = checkerboard_mask(*shape[1:], k % 2)[None] if kind == "conv" else \
                    channel_mask(shape[0], k % 2, ndim=1)                # (1, 1, H, W) or (D,)
                steps += coupling(b, shape[0])
            if not last and kind == "conv":
                steps.append(Squeeze())
                shape = (4 * shape[0], shape[1] // 2, shape[2] // 2)     # (4C, H/2, W/2)
                for k in range(couplings):
                    steps += coupling(channel_mask(shape[0], k % 2), shape[0])
                if self.factor_out:
                    self.out_shapes.append((shape[0] // 2,) + shape[1:])
                    shape = (shape[0] // 2,) + shape[1:]                 # (2C, H/2, W/2)
            scales.append(FlowSequence(steps))
        self.out_shapes.append(shape)
        self.scales = ModuleList(scales)

    def latent_shape(self):
        """Shape of one z: flattened (D,) with factor-out, else the last scale's."""
        if self.factor_out:
            return (sum(int(np.prod(s)) for s in self.out_shapes),)
        return self.out_shapes[-1]

    def forward(self, x):
        zs, log_det_J = [], 0.0
        for i, scale in enumerate(self.scales):
            x, ld = scale(x)
            log_det_J = log_det_J + ld
            if self.factor_out and i < len(self.scales) - 1:
                C = x.shape[1]
                zs.append(x[:, :C // 2].reshape(len(x), -1))              # (N, C/2 * H * W)
                x = x[:, C // 2:]                                        # (N, C/2, H, W)
        if not self.factor_out:
            return x, log_det_J
        zs.append(x.reshape(len(x), -1))
        return ops.concatenate(zs, axis=1), log_det_J                    # (N, D)

    def inverse(self, z):
        if not self.factor_out:
            for scale in reversed(self.scales.children()):
                z = scale.inverse(z)
            return z
        sizes = np.cumsum([int(np.prod(s)) for s in self.out_shapes])[:-1]
        parts = ops.split(z, list(sizes), axis=1)
        x = parts[-1].reshape((len(z),) + self.out_shapes[-1])           # (N, C, H, W)
        for i in range(len(self.scales) - 1, -1, -1):
            if i < len(self.scales) - 1:
                z_i = parts[i].reshape((len(z),) + self.out_shapes[i])   # (N, C/2, H, W)
                x = ops.concatenate([z_i, x], axis=1)                    # (N, C, H, W)
            x = self.scales[i].inverse(x)
        return x


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, num_scales=2, couplings=3, final_couplings=3, hidden=64,
               conditioner="conv", alpha=0.05, test_draws=10)
_MNIST = dict(data_shape=(1, 28, 28), num_levels=256, num_scales=3, hidden=32, factor_out=True, test_draws=1)


@register("realnvp")
class RealNVP(FlowModel):
    """RealNVP (Dinh et al. 2017): affine couplings, multi-scale, exact log-likelihood.

    The flow of the module docstring, a N(0, I) prior, and ``FlowModel``'s
    dequantisation / logit bookkeeping, as a ``GenerativeModel``.

    Args:
        data_shape: shape of one example: (C, H, W) images or (D,) vectors.
        num_levels: L for discrete data (17 for digits), None for continuous data.
        num_scales: scales of the multi-scale architecture (images).
        couplings: coupling layers per mask type in each non-final scale (vectors: in all).
        final_couplings: checkerboard couplings of the last scale.
        hidden: width of the s/t networks.
        conditioner: "conv" (images) or "mlp" (vectors; images are flattened).
        factor_out: factor half the channels out at each scale ([1] §3.6).
        norm: None or "actnorm" (after every coupling).
        alpha: logit margin ([1] §4.1).
        eval_draws: dequantisation draws per evaluation batch (validation).
        test_draws: draws per test image of the report written at the end of a run (0: none).
        rng: generator or seed for the weights and the training noise.
        dtype: float dtype of the parameters (float64 for gradient checks).
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="the README's RealNVP: test NLL 95.38 nats (10 dequantisation draws)",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, couplings=2, final_couplings=2, hidden=16, test_draws=2),
                              train=TrainConfig(data="digits", epochs=4, batch_size=64, lr=3e-3, seed=0)),
        "mnist": Preset(model=_MNIST, train=TrainConfig(data="mnist", epochs=20, early_stopping=("val/nll", 5))),
        "fashion-mnist": Preset(model=_MNIST, train=TrainConfig(data="fashion-mnist", epochs=20,
                                                                 early_stopping=("val/nll", 5))),
        "moons": Preset(model=dict(data_shape=(2,), num_levels=None, couplings=8, hidden=64, conditioner="mlp"),
                        train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
        "checkerboard": Preset(
            model=dict(data_shape=(2,), num_levels=None, couplings=10, hidden=128, conditioner="mlp"),
            train=TrainConfig(data="checkerboard", epochs=30, batch_size=128, lr=1e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, num_scales=2, couplings=3,
                 final_couplings=3, hidden=64, conditioner="conv", factor_out=False, norm=None,
                 alpha=0.05, eval_draws=1, test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, num_scales=num_scales, couplings=couplings,
                       final_couplings=final_couplings, hidden=hidden, eval_draws=eval_draws)
        if conditioner not in ("conv", "mlp"):
            raise ValueError(f"conditioner={conditioner!r} is not allowed: choose 'conv' or 'mlp'")
        if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 2):
            raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2, or None")
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws)
        self.flat = conditioner == "mlp" and len(self.data_shape) > 1
        shape = (self.D,) if self.flat else self.data_shape
        if conditioner == "mlp":                                          # one scale of half masks
            num_scales, final_couplings = 1, couplings
        self.flow = MultiScaleFlow(shape, num_scales, couplings, final_couplings, hidden, conditioner,
                                   factor_out, norm, rng=self.rng, dtype=dtype)

    def flow_latent_shape(self):
        return self.flow.latent_shape()

    def log_p_cont(self, x):
        if self.flat:
            x = x.reshape(len(x), -1)                                    # (N, D)
        return super().log_p_cont(x)
