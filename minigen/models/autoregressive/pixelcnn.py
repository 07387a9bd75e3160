"""Implementation of PixelCNN [1]: an autoregressive model of images built from masked convolutions.

PixelCNN writes the probability of an image x of n pixels, read in raster order (row by
row, left to right), as a product of conditionals ([1] §2.1, eq. (1))::

    p(x) = prod_{i=1}^{n} p(x_i | x_1, ..., x_{i-1})

and, for colour images, splits every pixel into its channels in the order R -> G -> B
([1] eq. (2))::

    p(x_i | x_<i) = p(x_i,R | x_<i) p(x_i,G | x_<i, x_i,R) p(x_i,B | x_<i, x_i,R, x_i,G)

Every conditional is a categorical over the L levels a value may take ([1] §2.2: a
256-way softmax for 8-bit images; 17-way for the 0..16 digits; 2-way once binarised).
One network computes all n*C conditionals in a single pass: its convolutions are
*masked* so that the output at pixel i never sees input pixels >= i ([1] §3.4). The
first layer uses mask A, which also hides the centre pixel; every later layer uses mask
B, which lets a pixel's features see themselves (they hold only x_<i)::

    7x7 mask A                 3x3 mask B      (1 = live tap, kernels.taps.pixelcnn_taps)
    1 1 1 1 1 1 1              1 1 1
    1 1 1 1 1 1 1              1 1 0
    1 1 1 1 1 1 1              0 0 0
    1 1 1 0 0 0 0
    0 0 0 0 0 0 0
    0 0 0 0 0 0 0
    0 0 0 0 0 0 0

At the centre tap, channels are split into C groups (R, G, B; [1] Figure 2, right):
output group g sees input groups < g with mask A and <= g with mask B, so the R logits
of pixel i see no part of pixel i, G's see its R, and B's see its R and G. Masks are
structural: the layers (``minigen.nn.MaskedConv2d``) compute only the live taps,
so a masked weight gets exactly zero gradient.

Architecture ([1] §3.5 and Table 1, with the residual block simplified from Figure 5)::

    x / (L - 1) -> 7x7 conv mask A, C -> h
      -> num_blocks x residual block:  y = x + conv3x3_B(ReLU(x))
      -> ReLU -> 1x1 conv mask B, h -> h -> ReLU -> 1x1 conv mask B, h -> C*L logits

Training maximises the exact log-likelihood: the loss is the cross-entropy of every
value under its conditional, summed over the image (nats per image, reported also as
bits/dim = nats / (n C log 2)). Sampling is sequential: n*C passes of the network, each
drawing one value from its categorical; completing an image whose lower half is
hidden draws only the hidden values, in the same order (both in the family base,
``autoregressive/base.py``, with the likelihood and the loss).

Index convention: pixels are numbered in raster order from 0; "pixel j" of an HxW
image is (j // W, j % W). Because no output row depends on a later input row, a pass
that needs the conditionals of row i runs the network on rows 0..i only.

The receptive field of stacked masked convolutions has a *blind spot* to the upper
right of each pixel ([2] §2.2, Figure 1); ``dependency_mask`` computes the receptive
field from the layers' live taps, blind spot included, and the family's Jacobian test
checks the network against it. The gated PixelCNN of [2] removes it with two stacks.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural
        Networks", ICML 2016. https://arxiv.org/abs/1601.06759 (eqs. (1)-(2); §2.2
        discrete softmax; §3.4 masked convolution; §3.5 PixelCNN; Table 1; Figures 2, 5).
    [2] A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves,
        K. Kavukcuoglu, "Conditional Image Generation with PixelCNN Decoders",
        NeurIPS 2016. https://arxiv.org/abs/1606.05328 (§2.2, blind spot).
"""
import numpy as np

from ...nn import MaskedConv2d, Module, ModuleList
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel, conv_reach

__all__ = ["PixelCNN", "ResidualBlock"]


class ResidualBlock(Module):
    """``y = x + conv_B(ReLU(x))``: one residual block; it owns its skip connection.

    The identity path keeps mask B's connectivity (a channel group sees itself), so the
    block is as causal as its convolution.

    Args:
        channels: h, input and output channels.
        kernel_size: of the mask-B convolution (3 in [1]).
        groups: channel groups at the centre tap (1 grey, 3 RGB).
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, channels, kernel_size, groups, *, rng, dtype=np.float32):
        super().__init__()
        self.conv = MaskedConv2d(channels, channels, kernel_size, "B", groups=groups, rng=rng,
                                 dtype=dtype)

    def forward(self, x):
        return self.conv(x, relu_input=True, residual=True)        # x + conv(ReLU(x)), one fused op


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, hidden=64, num_blocks=6, head=64)
_MNIST = dict(data_shape=(1, 28, 28), num_levels=256, hidden=64, num_blocks=6, head=64)


@register("pixelcnn")
class PixelCNN(AutoregressiveModel):
    """PixelCNN (van den Oord et al. 2016): masked convolutions, exact likelihood by the chain rule.

    Args:
        data_shape: (C, H, W) of one image; C = 3 orders the channels R -> G -> B.
        num_levels: L, the values a pixel channel takes (0..L-1). L = 2 makes the model
            train on the binarised view of the data (``dataset_view = "binary"``).
        hidden: h, channels of the hidden layers.
        num_blocks: residual blocks of 3x3 mask-B convolutions.
        head: channels of the hidden 1x1 layer of the output head.
        first_kernel: size of the mask-A input convolution (7 in [1]).
        kernel: size of the mask-B convolutions of the blocks (3 in [1]).
        rng: generator or seed for the initial weights.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="the README's PixelCNN: test NLL 82.32 nats",
            train=TrainConfig(data="digits", epochs=100, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(  # seconds on a CPU: the tests' and the example's smoke settings
            model=dict(_DIGITS, hidden=16, num_blocks=2, head=16, first_kernel=5),
            train=TrainConfig(data="digits", epochs=4, batch_size=64, lr=1e-2, seed=0)),
        "mnist-binary": Preset(
            model=dict(_MNIST, num_levels=2),
            train=TrainConfig(data="mnist", epochs=20, early_stopping=("val/nll", 3), lr=1e-3)),
        "mnist": Preset(model=_MNIST, train=TrainConfig(data="mnist", epochs=20, early_stopping=("val/nll", 3))),
        "fashion-mnist": Preset(model=_MNIST, train=TrainConfig(data="fashion-mnist", epochs=20,
                                                                 early_stopping=("val/nll", 3))),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=64, num_blocks=6, head=64,
                 first_kernel=7, kernel=3, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, hidden=hidden, head=head, first_kernel=first_kernel,
                       kernel=kernel)
        if not isinstance(num_blocks, int) or num_blocks < 0:
            raise ValueError(f"num_blocks={num_blocks!r} is not allowed: num_blocks must be an integer >= 0")
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels={num_levels!r} is not allowed: num_levels must be an integer >= 2")
        if len(data_shape) != 3:
            raise ValueError(f"data_shape={tuple(data_shape)} is not allowed: PixelCNN models images (C, H, W)")
        self.data_shape, self.num_levels = tuple(data_shape), int(num_levels)
        self.dataset_view = "binary" if self.num_levels == 2 else "raw"   # what the run layer loads
        C = self.data_shape[0]
        self.D = int(np.prod(self.data_shape))
        conv = lambda cin, cout, k, mask: MaskedConv2d(cin, cout, k, mask, groups=C,  # noqa: E731
                                                       rng=self.rng, dtype=dtype)
        self.input_conv = conv(C, hidden, first_kernel, "A")
        self.blocks = ModuleList([ResidualBlock(hidden, kernel, C, rng=self.rng, dtype=dtype)
                                  for _ in range(num_blocks)])
        self.head = ModuleList([conv(hidden, head, 1, "B"), conv(head, C * self.num_levels, 1, "B")])

    def logits(self, x):
        """Logits of every conditional, all in one pass.

        Args:
            x: levels (N, C, H, W), integers 0..L-1 (an array, or a float Tensor when a
                gradient with respect to the input is wanted).

        Returns:
            Tensor (N, C, L, H, W): ``logits[n, c, :, i, j]`` parameterise
            p(x[n, c, i, j] | the values before it in raster and channel order).
        """
        x = self.as_input(x)
        N, C, H, W = x.shape
        h = self.input_conv(x * (1.0 / (self.num_levels - 1)))            # (N, h, H, W)
        for block in self.blocks:
            h = block(h)
        h = self.head[0](h, relu_input=True)                              # conv(ReLU(h)), fused
        h = self.head[1](h, relu_input=True)                              # (N, C*L, H, W)
        return h.reshape(N, C, self.num_levels, H, W)                     # (N, C, L, H, W)

    def conditional_logits(self, x, c, index):
        """Logits (N, L) of value (c, i, j): no output row depends on a later input row, so
        the pass runs on rows 0..i only."""
        i, j = index
        return self.logits(x[:, :, :i + 1])[:, c, :, i, j]

    def dependency_mask(self):
        """(D, D) bool: value i's logits depend on input value j, from the live taps of every
        layer (the blind spot of [2] §2.2 included): the family's Jacobian test checks the
        network against it."""
        C, H, W = self.data_shape
        reach = np.eye(self.D, dtype=bool).reshape(C, H, W, self.D)   # each input reaches itself
        reach = conv_reach(self.input_conv, reach)
        for block in self.blocks:
            reach = reach | conv_reach(block.conv, reach)              # the skip keeps what x saw
        for conv in self.head:
            reach = conv_reach(conv, reach)
        reach = reach.reshape(C, self.num_levels, H, W, self.D).any(axis=1)  # logits of value (c, i, j)
        return reach.reshape(self.D, self.D)
