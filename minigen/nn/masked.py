"""Layers on the fused kernels: PixelCNN's masked convolution, WaveNet's causal convolution,
(RealNVP's affine coupling is a bijection: ``nn/flows.py``).

* ``MaskedConv2d`` [1, 2]: a convolution whose mask is *structural*: the layer holds the
  list of live taps (``kernels.taps``) and computes only those, so a masked weight entry
  is never used and gets exactly zero gradient (no ``weight.data *= mask``).
* ``CausalConv1d`` [3]: output t sees inputs t, t-d, ..., t-d*(K-1).

Initialisation is PyTorch's default (``init.default_uniform``): weights and biases
uniform in +-1/sqrt(fan_in) with fan_in = Cin * KH * KW over the *full* kernel, masked
taps included, so a masked layer starts like its PyTorch ``w * mask`` counterpart.

References:
    [1] van den Oord et al. Pixel Recurrent Neural Networks. 2016. https://arxiv.org/abs/1601.06759
        (Section 3.4, Figure 2).
    [2] van den Oord et al. Conditional Image Generation with PixelCNN Decoders. 2016.
        https://arxiv.org/abs/1606.05328 (Section 2.2).
    [3] van den Oord et al. WaveNet. 2016. https://arxiv.org/abs/1609.03499 (Section 2.1).
"""
import numpy as np

from autograd.ops import taps as T
from autograd.ops.causal_conv1d import causal_conv1d
from autograd.ops.masked_conv import masked_conv2d

from . import init
from .module import Module, Parameter

__all__ = ["MaskedConv2d", "CausalConv1d"]


class MaskedConv2d(Module):
    """PixelCNN masked convolution (stride 1, "same" size), mask A or B, optional channel groups.

    Mask A (first layer) hides the centre pixel, mask B (later layers) shows it; with
    ``groups`` > 1 the centre tap connects output group g to input groups < g (A) or
    <= g (B), the R -> G -> B ordering of [1] Figure 2::

        5x5 mask A          5x5 mask B
        1 1 1 1 1           1 1 1 1 1
        1 1 1 1 1           1 1 1 1 1
        1 1 0 0 0           1 1 1 0 0
        0 0 0 0 0           0 0 0 0 0
        0 0 0 0 0           0 0 0 0 0

    Args:
        in_channels, out_channels: Cin, Cout.
        kernel_size: odd k or (kh, kw).
        mask_type: 'A' or 'B'.
        groups: channel groups at the centre (3 for RGB, 1 for grey).
        bias: learn a bias.
        taps: explicit ``(L, 2)`` live taps (e.g. ``kernels.taps.vertical_stack_taps``);
            replaces ``mask_type`` (``groups`` is then ignored).
        rng: generator for the initial weights.
        dtype: parameter dtype.
    """

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="B", groups=1, bias=True, *,
                 taps=None, rng, dtype=np.float32):
        super().__init__()
        kh, kw = T.kernel_size_2d(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.mask_type, self.groups = (None, 1) if taps is not None else (mask_type, int(groups))
        if taps is not None:
            self.taps, self.center_mask = T.as_taps(taps, (kh, kw)), None
        else:
            self.taps, self.center_mask = T.pixelcnn_mask((kh, kw), mask_type, out_channels, in_channels,
                                                          groups)
        fan_in = in_channels * kh * kw                     # full kernel, masked taps included
        self.weight = Parameter(init.default_uniform((out_channels, in_channels, kh, kw), rng, dtype=dtype))
        self.bias = Parameter(init.default_uniform((out_channels,), rng, fan_in=fan_in, dtype=dtype)) \
            if bias else None

    def mask(self):
        """The equivalent dense 0/1 mask ``(Cout, Cin, KH, KW)`` (for ``w * mask`` comparisons)."""
        return T.dense_mask(self.taps, self.kernel_size, self.out_channels, self.in_channels,
                            self.center_mask)

    def forward(self, x, *, relu_input=False, residual=False):
        """Args: x (N, Cin, H, W). Returns: (N, Cout, H, W).

        ``relu_input`` convolves ReLU(x) and ``residual`` adds x to the result, fused into
        the kernel: ``conv(x, relu_input=True, residual=True)`` is the pre-activation
        residual block ``x + conv(ReLU(x))`` in one op (Cout == Cin).
        """
        return masked_conv2d(x, self.weight, self.bias, taps=self.taps, center_mask=self.center_mask,
                             relu_input=relu_input, residual=residual)

    def extra_repr(self):
        kind = f"mask={self.mask_type}, groups={self.groups}" if self.mask_type else f"taps={len(self.taps)}"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, {kind}, "
                f"live_taps={len(self.taps)}/{self.kernel_size[0] * self.kernel_size[1]}, "
                f"bias={self.bias is not None}")


class CausalConv1d(Module):
    """WaveNet's causal dilated convolution: ``y[t]`` depends on ``x[t - d*(K-1-k)]``, k = 0..K-1.

    Args:
        in_channels, out_channels: Cin, Cout.
        kernel_size: K (2 in WaveNet).
        dilation: d (WaveNet doubles it per layer: 1, 2, 4, ..., 512).
        bias: learn a bias.
        rng: generator for the initial weights.
        dtype: parameter dtype.
    """

    def __init__(self, in_channels, out_channels, kernel_size=2, dilation=1, bias=True, *, rng,
                 dtype=np.float32):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation = int(kernel_size), int(dilation)
        T.causal_taps_1d(self.kernel_size, self.dilation)  # validates
        self.weight = Parameter(init.default_uniform((out_channels, in_channels, self.kernel_size), rng,
                                                     dtype=dtype))
        fan_in = in_channels * self.kernel_size
        self.bias = Parameter(init.default_uniform((out_channels,), rng, fan_in=fan_in, dtype=dtype)) \
            if bias else None

    @property
    def receptive_field(self):
        """Number of input steps one output sees: d*(K-1) + 1."""
        return self.dilation * (self.kernel_size - 1) + 1

    def forward(self, x):
        """Args: x (N, Cin, T). Returns: (N, Cout, T)."""
        return causal_conv1d(x, self.weight, self.bias, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, bias={self.bias is not None}")
