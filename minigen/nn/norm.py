"""Normalisation layers: BatchNorm1d/2d, LayerNorm, GroupNorm.

All three standardise over some axes and then apply a learned per-feature affine map:

    x_hat = (x - mean) / sqrt(var + eps),     y = gamma * x_hat + beta

with the biased variance (divide by n). They differ in the axes the statistics run over:

    BatchNorm   (N, C, *)  per channel, over the batch and spatial axes (Ioffe & Szegedy 2015)
    LayerNorm   (*, D...)  per example, over the last ``len(normalized_shape)`` axes (Ba et al. 2016)
    GroupNorm   (N, C, *)  per example and group of C/G channels (Wu & He 2018)

Only BatchNorm mixes examples, so only it behaves differently in training and
evaluation: in training it uses the batch statistics and updates running estimates

    running_mean <- (1 - momentum) * running_mean + momentum * mean
    running_var  <- (1 - momentum) * running_var  + momentum * var * n / (n - 1)

(the unbiased variance, as PyTorch does), and in evaluation it uses the running ones.
BatchNorm and LayerNorm are composed from autograd ops: the gradient through the
statistics comes from the chain rule, with no backward code here.  GroupNorm runs as one
fused op (``autograd.ops.group_norm``, equations and backward in
``kernels/reference/norm.py``), optionally with the SiLU that follows it in a diffusion
U-Net; ``autograd.ops.norm.group_norm_composite`` is the same layer from primitives.
"""
import numpy as np

from autograd import Tensor, ops

from . import init
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "standardize"]


def standardize(x, axes, eps):
    """``(x - mean) / sqrt(var + eps)`` with the mean and biased variance over ``axes``.

    Args:
        x: Tensor.
        axes: tuple of axes to reduce.
        eps: added to the variance.

    Returns:
        ``(x_hat, mean, var)``; mean and var keep the reduced axes (size 1).
    """
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    return d / (var + eps).sqrt(), mean, var


class _BatchNorm(Module):
    """Shared code of BatchNorm1d and BatchNorm2d (they differ only in accepted ranks)."""

    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 *, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(init.ones((num_features,), dtype)) if affine else None    # gamma
        self.bias = Parameter(init.zeros((num_features,), dtype)) if affine else None     # beta
        if track_running_stats:
            self.register_buffer("running_mean", init.zeros((num_features,), dtype))
            self.register_buffer("running_var", init.ones((num_features,), dtype))

    def forward(self, x):
        """Args: x (N, C, *). Returns: same shape."""
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of rank "
                             f"{' or '.join(map(str, self.ranks))} with {self.num_features} channels "
                             f"on axis 1, got shape {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))                  # all but the channel axis
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)   # (1, C, 1, ...) broadcasts per channel
        if self.training or not self.track_running_stats:
            x_hat, mean, var = standardize(x, axes, self.eps)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.data, var.data, n=x.size // self.num_features)
        else:
            mean = Tensor(self.running_mean.data.reshape(shape))
            var = Tensor(self.running_var.data.reshape(shape))
            x_hat = (x - mean) / (var + self.eps).sqrt()
        if not self.affine:
            return x_hat
        return x_hat * self.weight.reshape(shape) + self.bias.reshape(shape)

    def _update_running_stats(self, mean, var, n):
        if n < 2:
            raise ValueError(f"{type(self).__name__}: training needs more than one value per channel "
                             "to estimate a variance; use a larger batch or eval()")
        m = self.momentum
        self.running_mean.data = (1 - m) * self.running_mean.data + m * mean.reshape(-1)
        self.running_var.data = (1 - m) * self.running_var.data + m * var.reshape(-1) * (n / (n - 1))

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    Ioffe & Szegedy (2015), "Batch Normalization", Algorithm 1 (training) and §3.1
    (inference with population statistics).

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running averages.
        affine: learn gamma (init 1) and beta (init 0).
        track_running_stats: keep running estimates for evaluation; if False, batch
            statistics are used in evaluation too.
        dtype: float dtype of parameters and buffers.
    """

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C. Arguments as BatchNorm1d."""

    ranks = (4,)


class LayerNorm(Module):
    """Layer normalisation (Ba, Kiros & Hinton 2016, eq. 4) over the trailing axes.

    Args:
        normalized_shape: int or tuple: the trailing shape to normalise over
            (e.g. D for (N, T, D) inputs).
        eps: added to the variance.
        elementwise_affine: learn gamma and beta of shape ``normalized_shape``.
        dtype: float dtype of the parameters.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, *, dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(init.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(init.zeros(shape, dtype)) if elementwise_affine else None

    def forward(self, x):
        """Args: x (*, *normalized_shape). Returns: same shape."""
        k = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm{self.normalized_shape} got input of shape {x.shape}")
        x_hat, _, _ = standardize(x, tuple(range(x.ndim - k, x.ndim)), self.eps)
        return x_hat if self.weight is None else x_hat * self.weight + self.bias

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


class GroupNorm(Module):
    """Group normalisation (Wu & He 2018, eq. 1 and Figure 3's code): the C channels are
    split into G groups, each standardised per example over its channels and spatial axes.

    G = 1 is LayerNorm over (C, *); G = C is instance normalisation.

    Args:
        num_groups: G, which must divide num_channels.
        num_channels: C.
        eps: added to the variance.
        affine: learn per-channel gamma (init 1) and beta (init 0).
        activation: None, or "silu" for ``SiLU(GroupNorm(x))`` in one fused pass (the
            order of every normalisation in a diffusion U-Net).
        dtype: float dtype of the parameters.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, activation=None, *,
                 dtype=np.float32):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must divide "
                             f"num_channels={num_channels}")
        if activation not in (None, "silu"):
            raise ValueError(f"GroupNorm: activation={activation!r} is not allowed: None or 'silu'")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.activation = activation
        self.weight = Parameter(init.ones((num_channels,), dtype)) if affine else None
        self.bias = Parameter(init.zeros((num_channels,), dtype)) if affine else None

    def forward(self, x):
        """Args: x (N, C, *). Returns: same shape."""
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm expects (N, {self.num_channels}, ...), got shape {x.shape}")
        # x_hat = standardize(x.reshape(N, G, -1), (2,)); y = act(x_hat * gamma + beta), fused
        return ops.group_norm(x, self.num_groups, self.weight, self.bias, self.eps, self.activation)

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.weight is not None}{act}"
