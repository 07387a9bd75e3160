"""The deterministic autoencoders' networks: an encoder ``f: x -> h`` and a decoder ``g: h -> out``.

An autoencoder (Goodfellow, Bengio & Courville, *Deep Learning*, 2016, ch. 14) is the
composition ``r(x) = g(f(x))`` of an encoder ``h = f(x)`` (the code, J numbers) and a
decoder ``g`` that gives K numbers per pixel (1 for a squared-error or Bernoulli
reconstruction, L logits for a categorical one)::

    MLPEncoder   x (N, *data_shape) -> flatten (N, D) -> [Linear, act] x len(hidden)
                                    -> Linear -> code activation -> h (N, J)
    MLPDecoder   h (N, J) -> [Linear, act] x len(hidden) -> Linear -> (N, D, K)
    ConvEncoder  x (N, C, H, W) -> [Conv 3x3 stride 2, act] x 2 -> flatten -> Linear -> h
    ConvDecoder  the VAE's (``_vae_nets.ConvDecoder``): Linear, two 4x4 stride-2 ConvT

``activation="linear"`` with ``hidden=()`` gives the linear autoencoder of Baldi &
Hornik (1989), whose optimum spans the principal subspace. Every layer starts as
PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)).
"""
import math

import numpy as np

from autograd import ops

from ...nn.conv import Conv2d
from ...nn.layers import Linear
from ...nn.module import Module, ModuleList
from ._vae_nets import ConvDecoder

__all__ = ["ACTIVATIONS", "activate", "MLPEncoder", "MLPDecoder", "ConvEncoder", "build_autoencoder"]

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear")


def activate(h, name):
    """``h`` through the activation ``name`` (one of ``ACTIVATIONS``)."""
    if name == "relu":
        return ops.relu(h)
    if name == "sigmoid":
        return ops.sigmoid(h)
    if name == "tanh":
        return ops.tanh(h)
    return h


class MLPEncoder(Module):
    """f(x): an MLP from the flattened example to the code h (N, J).

    Args:
        data_shape: shape of one example.
        code_dim: J.
        hidden: widths of the hidden layers.
        activation: the hidden layers' activation.
        code_activation: the code's activation ("sigmoid" for a sparse autoencoder).
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, code_dim, hidden, activation, code_activation, *, rng, dtype):
        super().__init__()
        sizes = [math.prod(data_shape)] + list(hidden)
        self.layers = ModuleList([Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])])
        self.head = Linear(sizes[-1], code_dim, rng=rng, dtype=dtype)
        self.activation, self.code_activation = activation, code_activation

    def forward(self, x):
        """Args: x (N, *data_shape). Returns: h (N, J)."""
        h = x.reshape(x.shape[0], -1)                          # (N, D)
        for layer in self.layers:
            h = activate(layer(h), self.activation)            # (N, hidden)
        return activate(self.head(h), self.code_activation)    # (N, J)


class MLPDecoder(Module):
    """g(h): an MLP from the code to K numbers per pixel (N, D, K).

    Args:
        data_shape: shape of one example.
        code_dim: J.
        hidden: widths of the hidden layers (first applied first).
        activation: the hidden layers' activation.
        params_per_pixel: K.
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, code_dim, hidden, activation, params_per_pixel, *, rng, dtype):
        super().__init__()
        sizes = [code_dim] + list(hidden)
        self.layers = ModuleList([Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])])
        self.D, self.K = math.prod(data_shape), params_per_pixel
        self.head = Linear(sizes[-1], self.D * self.K, rng=rng, dtype=dtype)
        self.activation = activation

    def forward(self, h):
        """Args: h (N, J). Returns: (N, D, K)."""
        for layer in self.layers:
            h = activate(layer(h), self.activation)            # (N, hidden)
        return self.head(h).reshape(h.shape[0], self.D, self.K)   # (N, D, K)


class ConvEncoder(Module):
    """f(x): two stride-2 3x3 convolutions, then a Linear layer to the code.

    Args:
        data_shape: (C, H, W) with H and W multiples of 4.
        code_dim: J.
        channels: channels of the two convolutions.
        activation: the hidden activation.
        code_activation: the code's activation.
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, code_dim, channels, activation, code_activation, *, rng, dtype):
        super().__init__()
        c, h, w = data_shape
        self.conv1 = Conv2d(c, channels[0], 3, stride=2, padding=1, rng=rng, dtype=dtype)
        self.conv2 = Conv2d(channels[0], channels[1], 3, stride=2, padding=1, rng=rng, dtype=dtype)
        self.head = Linear(channels[1] * (h // 4) * (w // 4), code_dim, rng=rng, dtype=dtype)
        self.activation, self.code_activation = activation, code_activation

    def forward(self, x):
        """Args: x (N, C, H, W). Returns: h (N, J)."""
        h = activate(self.conv1(x), self.activation)           # (N, C1, H/2, W/2)
        h = activate(self.conv2(h), self.activation)           # (N, C2, H/4, W/4)
        return activate(self.head(h.reshape(x.shape[0], -1)), self.code_activation)   # (N, J)


def build_autoencoder(architecture, data_shape, code_dim, hidden, activation, code_activation,
                      params_per_pixel, *, rng, dtype=np.float32):
    """``(encoder, decoder)`` of ``architecture``: "mlp" (the decoder mirrors ``hidden``) or
    "conv" (``hidden`` = the two channel counts; ReLU decoder as the VAE's)."""
    if activation not in ACTIVATIONS or code_activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r}, code_activation={code_activation!r}: each must be "
                         f"one of {', '.join(ACTIVATIONS)}")
    if architecture == "mlp":
        return (MLPEncoder(data_shape, code_dim, hidden, activation, code_activation, rng=rng, dtype=dtype),
                MLPDecoder(data_shape, code_dim, list(hidden)[::-1], activation, params_per_pixel,
                           rng=rng, dtype=dtype))
    if architecture == "conv":
        if len(data_shape) != 3 or data_shape[1] % 4 or data_shape[2] % 4 or len(hidden) != 2:
            raise ValueError(f"architecture='conv' needs images (C, H, W) with H and W multiples of 4 and "
                             f"hidden=(C1, C2), got {tuple(data_shape)} and {hidden!r}")
        return (ConvEncoder(data_shape, code_dim, hidden, activation, code_activation, rng=rng, dtype=dtype),
                ConvDecoder(data_shape, code_dim, params_per_pixel, hidden, rng=rng, dtype=dtype))
    raise ValueError(f"unknown architecture {architecture!r}; choose 'mlp' or 'conv'")
