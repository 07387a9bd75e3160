"""The VAE's networks: encoders ``x -> (mu, log_var)`` and decoders ``z -> parameters of p(x|z)``.

Kingma & Welling [1] use one-hidden-layer MLPs (Appendix C); the reference
configuration of minigen stacks two hidden layers, and a convolutional pair is
offered for images whose side is a multiple of 4 (8x8 digits, 28x28 MNIST)::

    MLPEncoder    x (N, C, H, W) -> flatten (N, D) -> [Linear, ReLU] x len(hidden)
                                 -> Linear -> mu, log_var (N, J) each
    MLPDecoder    z (N, J) -> [Linear, ReLU] x len(hidden) -> Linear -> (N, D, K)
    ConvEncoder   x -> [Conv 3x3 stride 2, ReLU] x 2 -> flatten -> Linear -> mu, log_var
    ConvDecoder   z -> Linear, ReLU -> (N, C2, H/4, W/4) -> ConvT 4x4 stride 2, ReLU
                                    -> ConvT 4x4 stride 2 -> (N, D, K)

``D = C * H * W`` pixels, ``J`` latent dimensions, and ``K`` numbers per pixel that
the likelihood of the decoder needs (1 Bernoulli logit, a Gaussian's mean and
log-variance, or 17 categorical logits). Every layer is initialised as PyTorch does
by default (weights and biases uniform in +-1/sqrt(fan_in)).

References:
    [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
        Appendix C. https://arxiv.org/abs/1312.6114
"""
import math

import numpy as np

from autograd import ops

from ...nn.conv import Conv2d, ConvTranspose2d
from ...nn.layers import Linear
from ...nn.module import Module, ModuleList

__all__ = ["MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "build_networks"]


class MLPEncoder(Module):
    """q_phi(z|x)'s network: the mean and log-variance of a diagonal Gaussian (eq. 9 of [1]).

    Args:
        data_shape: shape of one example, e.g. (1, 8, 8).
        latent_dim: J.
        hidden: widths of the hidden layers.
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, latent_dim, hidden, *, rng, dtype=np.float32):
        super().__init__()
        sizes = [math.prod(data_shape)] + list(hidden)
        self.layers = ModuleList([Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])])
        self.head = Linear(sizes[-1], 2 * latent_dim, rng=rng, dtype=dtype)
        self.latent_dim = latent_dim

    def forward(self, x):
        """Args: x (N, *data_shape). Returns: mu (N, J), log_var (N, J)."""
        h = x.reshape(x.shape[0], -1)                          # (N, D)
        for layer in self.layers:
            h = layer(h).relu()                                # (N, hidden)
        out = self.head(h)                                     # (N, 2J)
        mu, log_var = ops.split(out, 2, axis=1)                # (N, J) each
        return mu, log_var


class MLPDecoder(Module):
    """p_theta(x|z)'s network: K numbers for every one of the D pixels.

    Args:
        data_shape: shape of one example.
        latent_dim: J.
        hidden: widths of the hidden layers (first applied first).
        params_per_pixel: K.
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, latent_dim, hidden, params_per_pixel, *, rng, dtype=np.float32):
        super().__init__()
        sizes = [latent_dim] + list(hidden)
        self.layers = ModuleList([Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])])
        self.D, self.K = math.prod(data_shape), params_per_pixel
        self.head = Linear(sizes[-1], self.D * self.K, rng=rng, dtype=dtype)

    def forward(self, z):
        """Args: z (N, J). Returns: (N, D, K)."""
        h = z
        for layer in self.layers:
            h = layer(h).relu()                                # (N, hidden)
        return self.head(h).reshape(z.shape[0], self.D, self.K)   # (N, D, K)


class ConvEncoder(Module):
    """Two stride-2 3x3 convolutions, then a Linear layer to (mu, log_var).

    Args:
        data_shape: (C, H, W) with H and W multiples of 4.
        latent_dim: J.
        channels: channels of the two convolutions.
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, latent_dim, channels=(32, 64), *, rng, dtype=np.float32):
        super().__init__()
        c, h, w = data_shape
        self.conv1 = Conv2d(c, channels[0], 3, stride=2, padding=1, rng=rng, dtype=dtype)
        self.conv2 = Conv2d(channels[0], channels[1], 3, stride=2, padding=1, rng=rng, dtype=dtype)
        self.head = Linear(channels[1] * (h // 4) * (w // 4), 2 * latent_dim, rng=rng, dtype=dtype)
        self.latent_dim = latent_dim

    def forward(self, x):
        """Args: x (N, C, H, W). Returns: mu (N, J), log_var (N, J)."""
        h = self.conv1(x).relu()                               # (N, C1, H/2, W/2)
        h = self.conv2(h).relu()                               # (N, C2, H/4, W/4)
        out = self.head(h.reshape(x.shape[0], -1))             # (N, 2J)
        mu, log_var = ops.split(out, 2, axis=1)                # (N, J) each
        return mu, log_var


class ConvDecoder(Module):
    """A Linear layer to a (C2, H/4, W/4) map, then two stride-2 4x4 transposed convolutions.

    Args:
        data_shape: (C, H, W) with H and W multiples of 4.
        latent_dim: J.
        params_per_pixel: K.
        channels: channels of the two feature maps (the inverse order of the encoder's).
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, data_shape, latent_dim, params_per_pixel, channels=(32, 64), *, rng,
                 dtype=np.float32):
        super().__init__()
        self.C, self.H, self.W = data_shape
        self.K, self.c2 = params_per_pixel, channels[1]
        self.fc = Linear(latent_dim, self.c2 * (self.H // 4) * (self.W // 4), rng=rng, dtype=dtype)
        self.deconv1 = ConvTranspose2d(channels[1], channels[0], 4, stride=2, padding=1, rng=rng, dtype=dtype)
        self.deconv2 = ConvTranspose2d(channels[0], self.C * self.K, 4, stride=2, padding=1, rng=rng,
                                       dtype=dtype)

    def forward(self, z):
        """Args: z (N, J). Returns: (N, D, K)."""
        n = z.shape[0]
        h = self.fc(z).relu().reshape(n, self.c2, self.H // 4, self.W // 4)   # (N, C2, H/4, W/4)
        h = self.deconv1(h).relu()                             # (N, C1, H/2, W/2)
        out = self.deconv2(h)                                  # (N, K*C, H, W)
        out = out.reshape(n, self.K, self.C * self.H * self.W)  # (N, K, D)
        return out.transpose(0, 2, 1)                          # (N, D, K)


def build_networks(architecture, data_shape, latent_dim, hidden, params_per_pixel, *, rng, dtype):
    """The encoder and decoder of ``architecture`` ("mlp" or "conv").

    For "mlp", ``hidden`` lists the encoder's hidden widths and the decoder mirrors them
    (64-256-256-J and J-256-256-64K); for "conv" it gives the two channel counts.

    Returns:
        ``(encoder, decoder)``.
    """
    if architecture == "mlp":
        decoder_hidden = list(hidden)[::-1]
        return (MLPEncoder(data_shape, latent_dim, hidden, rng=rng, dtype=dtype),
                MLPDecoder(data_shape, latent_dim, decoder_hidden, params_per_pixel, rng=rng, dtype=dtype))
    if architecture == "conv":
        if len(data_shape) != 3 or data_shape[1] % 4 or data_shape[2] % 4:
            raise ValueError(f"architecture='conv' needs images (C, H, W) with H and W multiples of 4, "
                             f"got {tuple(data_shape)}")
        return (ConvEncoder(data_shape, latent_dim, hidden, rng=rng, dtype=dtype),
                ConvDecoder(data_shape, latent_dim, params_per_pixel, hidden, rng=rng, dtype=dtype))
    raise ValueError(f"unknown architecture {architecture!r}; choose 'mlp' or 'conv'")
