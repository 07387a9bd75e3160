"""Convolution layers: Conv2d, ConvTranspose2d, AvgPool2d, MaxPool2d, Upsample.

Each ``forward`` is one op of ``autograd.ops.conv`` (kernels in ``kernels/*/conv.py``),
whose backward is differentiable again, so gradient penalties through these layers work.
Conventions (``rng``, ``dtype``, PyTorch weight layout) are in ``module.py``.

    Conv2d           y = conv2d(x, W) + b            W: (out_channels, in_channels, KH, KW)
    ConvTranspose2d  y = conv_transpose2d(x, W) + b  W: (in_channels, out_channels, KH, KW)
    AvgPool2d        y = mean over each window (zero padding counts)
    MaxPool2d        y = max over each window
    Upsample         y[h, v] = x[h // s, v // s]     (nearest neighbour, integer factors)
"""
import numpy as np

from autograd.ops.conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d, pair, upsample_nearest2d

from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "ConvTranspose2d", "AvgPool2d", "MaxPool2d", "Upsample"]


class Conv2d(Module):
    """2-D convolution (groups=1), PyTorch semantics and default initialisation.

    W and b are uniform in ``+-1/sqrt(fan_in)`` with ``fan_in = in_channels*KH*KW``
    (``init.default_uniform``, the full kernel).

    Args:
        in_channels, out_channels: C and Cout.
        kernel_size: k or (KH, KW).
        stride, dilation: int or pair.
        padding: int, pair, ``'valid'`` or ``'same'`` (odd effective kernel, stride 1).
        bias: learn a bias (out_channels,).
        rng: ``numpy.random.Generator`` for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, *, rng, dtype=np.float32):
        super().__init__()
        kh, kw = pair(kernel_size, "kernel_size", 1)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        fan_in = in_channels * kh * kw
        self.weight = Parameter(init.default_uniform((out_channels, in_channels, kh, kw), rng, dtype=dtype))
        self.bias = Parameter(init.default_uniform((out_channels,), rng, fan_in=fan_in, dtype=dtype)) \
            if bias else None

    def forward(self, x):
        """Args: x (N, in_channels, H, W). Returns: (N, out_channels, OH, OW)."""
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None}")


class ConvTranspose2d(Module):
    """Transposed 2-D convolution (groups=1): the adjoint of Conv2d, e.g. DCGAN's upsampling.

    The weight is stored as PyTorch stores it, ``(in_channels, out_channels, KH, KW)``;
    PyTorch's default initialisation then takes ``fan_in = out_channels*KH*KW`` (its
    dimension 1 times the kernel), reproduced here.

    Args:
        in_channels, out_channels: C and Cout.
        kernel_size: k or (KH, KW).
        stride, padding, dilation: int or pair.
        output_padding: extra rows/cols at the bottom/right of the output (< stride or < dilation).
        bias: learn a bias (out_channels,).
        rng: generator for the initial weights.
        dtype: parameter dtype.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 dilation=1, bias=True, *, rng, dtype=np.float32):
        super().__init__()
        kh, kw = pair(kernel_size, "kernel_size", 1)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = output_padding
        fan_in = out_channels * kh * kw
        self.weight = Parameter(init.default_uniform((in_channels, out_channels, kh, kw), rng, dtype=dtype))
        self.bias = Parameter(init.default_uniform((out_channels,), rng, fan_in=fan_in, dtype=dtype)) \
            if bias else None

    def forward(self, x):
        """Args: x (N, in_channels, H, W). Returns: (N, out_channels, OH, OW),
        ``OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1``."""
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}, "
                f"dilation={self.dilation}, bias={self.bias is not None}")


class AvgPool2d(Module):
    """Average pooling; ``stride`` defaults to ``kernel_size``; zero padding counts in the mean."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(Module):
    """Max pooling; ``stride`` defaults to ``kernel_size``; padding is -inf (never the max)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}")


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer ``scale_factor`` (or a pair of them).

    Only ``mode='nearest'`` exists (raises ValueError otherwise), as in PyTorch's default.
    """

    def __init__(self, scale_factor=2, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: only mode='nearest' is implemented, got {mode!r}")
        self.scale_factor = pair(scale_factor, "scale_factor", 1)

    def forward(self, x):
        return upsample_nearest2d(x, self.scale_factor)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode='nearest'"
