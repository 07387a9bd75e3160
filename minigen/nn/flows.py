"""Bijections: every invertible layer of minigen, with the flow direction stated once.

**Direction, for every flow in minigen** (``Flow``)::

    forward(x) -> (z, log_det_J)     data -> latent; log_det_J = log|det dz/dx^T|, shape (N,)
    inverse(z) -> x                  latent -> data; sampling is inverse(z), z ~ p_Z

A composition f = f_K o ... o f_1 (``FlowSequence``) adds the log-dets of its steps
(chain rule) and inverts them in reverse order. The bijections (a shape comment on
every reshape):

    Squeeze          (N, C, H, W) -> (N, 4C, H/2, W/2), each 2x2 block to 4 channels
                     ([1] §3.6, Figure 3); a permutation: log_det_J = 0
    ActNorm          z = x * exp(log_s) + b per channel, initialised from the first batch
                     so z has zero mean and unit variance ([2] §3.1); log_det_J = HW sum log_s
    LogitTransform   y = logit(alpha + (1 - 2 alpha) x) from [0, 1) onto R ([1] §4.1)
    AffineCoupling   y = b*x + (1-b)*(x*exp(s) + t), (s_raw, t) = net(b*x), s = scale*tanh(s_raw),
                     one fused pass ([1] §3.3-3.4, eqs. (6)-(9)); log_det_J = sum (1-b) s

The prior's log-density is ``losses.standard_normal_log_prob``, beside
``losses.log_normal_pdf``: minigen's Gaussian density, in one place. Models built from these layers are in ``minigen/models/flows/``.

References:
    [1] L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP",
        ICLR 2017. https://arxiv.org/abs/1605.08803
    [2] D. P. Kingma, P. Dhariwal, "Glow: Generative Flow with Invertible 1x1
        Convolutions", NeurIPS 2018, §3.1. https://arxiv.org/abs/1807.03039
"""
import math

import numpy as np

from autograd import Tensor
from autograd.ops.coupling import affine_coupling, affine_coupling_inverse

from .init import zeros
from .module import Module, ModuleList, Parameter

__all__ = ["Flow", "FlowSequence", "Squeeze", "ActNorm", "LogitTransform", "AffineCoupling",
           "checkerboard_mask", "channel_mask"]


class Flow(Module):
    """An invertible map from data to latent. ``forward(x) -> (z, log_det_J)`` maps data
    to latent with ``log_det_J = log|det dz/dx^T|`` per example, shape (N,);
    ``inverse(z) -> x`` maps back. Every flow in minigen follows this direction."""

    def forward(self, x):
        """Args: x (N, ...) data side. Returns: (z, log_det_J (N,))."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x) -> (z, log_det_J)")

    def inverse(self, z):
        """Args: z (N, ...) latent side. Returns: x."""
        raise NotImplementedError(f"{type(self).__name__} must define inverse(z) -> x")


class FlowSequence(Flow):
    """f = f_K o ... o f_1: log-dets add (chain rule), the inverse runs in reverse order.

    Args:
        flows: the steps, f_1 (applied first to data) first.
    """

    def __init__(self, flows):
        super().__init__()
        self.steps = ModuleList(flows)

    def forward(self, x):
        log_det_J = 0.0
        for f in self.steps:
            x, ld = f(x)
            log_det_J = log_det_J + ld                           # log|det J_f2 J_f1| = sum
        return x, log_det_J

    def inverse(self, z):
        for f in reversed(self.steps.children()):
            z = f.inverse(z)
        return z


class Squeeze(Flow):
    """Space-to-channel ([1] §3.6): each 2x2 block of every channel becomes 4 channels::

        channel k, block  p q     ->   channels 4k, 4k+1, 4k+2, 4k+3  hold  p, q, r, s
                          r s

    so channels 4k, 4k+1 hold a block's top row and 4k+2, 4k+3 its bottom row. It only
    moves values: log_det_J = 0.
    """

    def forward(self, x):
        N, C, H, W = x.shape
        x = x.reshape(N, C, H // 2, 2, W // 2, 2)               # (N, C, H/2, 2, W/2, 2)
        x = x.transpose(0, 1, 3, 5, 2, 4)                        # (N, C, 2, 2, H/2, W/2)
        z = x.reshape(N, 4 * C, H // 2, W // 2)                  # (N, 4C, H/2, W/2)
        return z, Tensor(x.xp.zeros(N, dtype=x.dtype))

    def inverse(self, z):
        N, C4, H2, W2 = z.shape
        z = z.reshape(N, C4 // 4, 2, 2, H2, W2)                  # (N, C, 2, 2, H/2, W/2)
        z = z.transpose(0, 1, 4, 2, 5, 3)                        # (N, C, H/2, 2, W/2, 2)
        return z.reshape(N, C4 // 4, 2 * H2, 2 * W2)             # (N, C, H, W)


class ActNorm(Flow):
    """Activation normalisation ([2] §3.1): a per-channel affine map

        z = x * exp(log_s) + b,     log_det_J = (H W) * sum_c log_s_c

    on (N, C, H, W) or (N, C) inputs. The first forward in training mode sets
    ``log_s = -log std(x)`` and ``b = -mean(x) exp(log_s)`` from that batch, so z starts
    with zero mean and unit variance per channel (data-dependent initialisation);
    after that both are ordinary trained parameters.

    Args:
        num_channels: C.
        dtype: float dtype of the parameters.
    """

    def __init__(self, num_channels, *, dtype=np.float32):
        super().__init__()
        self.log_s = Parameter(zeros((num_channels,), dtype))
        self.b = Parameter(zeros((num_channels,), dtype))
        self.register_buffer("initialized", np.zeros((), dtype))

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)                     # (1, C, 1, 1) or (1, C)

    def forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))                    # all but the channel axis
        if self.training and not self.initialized.item():
            mean, std = x.data.mean(axis=axes), x.data.std(axis=axes)
            self.log_s.data = (-np.log(std + 1e-6)).astype(self.log_s.dtype)
            self.b.data = (-mean / (std + 1e-6)).astype(self.b.dtype)
            self.initialized = np.ones((), self.initialized.dtype)
        shape = self._shape(x)
        z = x * self.log_s.reshape(shape).exp() + self.b.reshape(shape)
        hw = x.size // (x.shape[0] * x.shape[1])                 # H*W (1 for (N, C))
        log_det_J = (hw * self.log_s.sum()).broadcast_to((len(x),))
        return z, log_det_J

    def inverse(self, z):
        shape = self._shape(z)
        return (z - self.b.reshape(shape)) * (-self.log_s.reshape(shape)).exp()


class LogitTransform(Flow):
    """Map [0, 1) onto R so the flow never sees a bounded domain ([1] §4.1):

        p = alpha + (1 - 2 alpha) x          squeeze [0, 1] into [alpha, 1 - alpha]
        y = logit(p) = log p - log(1 - p)

    Its Jacobian is diagonal, dy_i/dx_i = (1 - 2 alpha) / (p_i (1 - p_i)), so

        log_det_J = sum_i [ log(1 - 2 alpha) - log p_i - log(1 - p_i) ]

    [1] writes ``logit(alpha + (1 - alpha) x)``; we keep both ends away from 0 and 1
    (the symmetric form used by most implementations), so y is bounded by
    ``+-logit(1 - alpha)`` (+-2.94 for alpha = 0.05).

    Args:
        alpha: the margin (0.05 in [1]).
    """

    def __init__(self, alpha=0.05):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        p = self.alpha + (1 - 2 * self.alpha) * x
        log_p, log_1mp = p.log(), (1 - p).log()
        y = log_p - log_1mp
        log_det_J = (math.log(1 - 2 * self.alpha) - log_p - log_1mp).reshape(len(x), -1).sum(axis=1)
        return y, log_det_J

    def inverse(self, y):
        return (y.sigmoid() - self.alpha) * (1.0 / (1 - 2 * self.alpha))

    def extra_repr(self):
        return f"alpha={self.alpha}"


def checkerboard_mask(height, width, parity=0):
    """b ``(1, H, W)``: 1 (kept) where ``(h + w + parity)`` is even ([1] Figure 3, left)."""
    h, w = np.indices((height, width))
    return ((h + w + parity) % 2 == 0).astype(np.float32)[None]          # (1, H, W)


def channel_mask(channels, parity=0, ndim=3):
    """b: 1 (kept) on the first C/2 channels, the last C/2 when ``parity`` is 1 ([1] Figure 3, right).

    Shape ``(C, 1, 1)`` for images (``ndim=3``), ``(C,)`` for vectors (``ndim=1``).
    """
    b = (np.arange(channels) < channels // 2).astype(np.float32)
    b = b if parity == 0 else 1 - b
    return b.reshape((channels,) + (1,) * (ndim - 1))


class AffineCoupling(Flow):
    """RealNVP affine coupling layer [1] eq. (9), fused: forward is data -> latent.

    ``(s_raw, t) = net(b * x)``, ``s = scale * tanh(s_raw)`` (a learned per-channel
    scale bounds the log-scale), then::

        y = b*x + (1-b)*(x*exp(s) + t),     log|det dy/dx| = sum_i (1-b_i) s_i

    ``b`` (1 = kept) is a checkerboard (``checkerboard_mask``) or channel mask
    (``channel_mask``); the inverse reuses ``net(b*y)`` since ``b*y = b*x``.

    Args:
        net: a Module mapping ``b*x`` (N, C, ...) to the pair ``(s_raw, t)``, each like x.
        mask: b, one sample's shape or with a leading batch axis of 1 (``(1, C, H, W)``).
        channels: C (or D for vectors): the scale is per channel.
        scale: learn the tanh bound (RealNVP's ``scale``); False uses ``s = s_raw``.
        dtype: parameter and mask dtype.
    """

    def __init__(self, net, mask, channels, scale=True, dtype=np.float32):
        super().__init__()
        self.net = net
        mask = np.asarray(mask, dtype=dtype)
        self.register_buffer("b", mask)
        # a leading 1 is a batch axis only on (1, D) vector or (1, C, H, W) image masks;
        # checkerboard_mask's (1, H, W) is one image's mask, broadcast over channels
        batched = mask.ndim in (2, 4) and mask.shape[0] == 1
        sample_ndim = mask.ndim - 1 if batched else mask.ndim
        self.scale = Parameter(np.ones((channels,) + (1,) * (sample_ndim - 1), dtype)) if scale else None

    def _mask(self, x):
        b = self.b.data
        return b.reshape(b.shape[1:]) if b.ndim == x.ndim else b         # one sample's shape

    def forward(self, x):
        """Args: x (N, ...). Returns: ``(y, log_det_J)`` with log_det_J (N,)."""
        b = self._mask(x)
        s_raw, t = self.net(x * b)
        return affine_coupling(x, s_raw, t, self.scale, b)

    def inverse(self, y):
        """Args: y (N, ...). Returns: x with ``forward(x)[0] == y``."""
        b = self._mask(y)
        s_raw, t = self.net(y * b)
        return affine_coupling_inverse(y, s_raw, t, self.scale, b)[0]
