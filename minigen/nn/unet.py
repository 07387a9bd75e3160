"""The U-Net of a denoising diffusion model (Ho et al. 2020 [1], Appendix B), from minigen layers.

A PixelCNN++ / Wide-ResNet style U-Net (Ronneberger et al. 2015 [2]) that maps a noisy
image x_t and its step t (and optionally a class label y) to a tensor of x's shape::

    t --sinusoidal--> Linear, SiLU, Linear --> emb (+ Embedding(y) for class conditioning)

    x --conv3x3--> [ResBlock x num_res_blocks (+ attention) , Downsample] per level
                      |  skips  (one per block and per downsampling)       v
                   [ResBlock, SelfAttention, ResBlock]   (the middle, lowest resolution)
                      v
                   [ResBlock x (num_res_blocks + 1) on concat(h, skip) (+ attention), Upsample]
    --> GroupNorm, SiLU, conv3x3 --> output (C channels: eps; 2C with a learned variance)

ResBlock (Ho et al.'s, after Zagoruyko & Komodakis 2016), the time step added once::

    h = conv3x3(SiLU(GroupNorm(x)))
    h = h + Linear(SiLU(emb))[:, :, None, None]
    h = conv3x3(Dropout(SiLU(GroupNorm(h))))
    y = skip(x) + h           skip: identity, or a 1x1 conv when the channels change

The sinusoidal embedding is the Transformer's position encoding (Vaswani et al. 2017,
§3.5) of the step: [sin(t w_i), cos(t w_i)], w_i = 10000^(-i / (d/2)). As in [1]'s code
the last convolution of every residual branch and of the output starts at zero, so the
untrained network is the identity on its skips and predicts eps = 0.

References:
    [1] J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        https://arxiv.org/abs/2006.11239
    [2] O. Ronneberger, P. Fischer, T. Brox, "U-Net", MICCAI 2015. https://arxiv.org/abs/1505.04597
"""
import math

import numpy as np

from autograd import Tensor, ops, to_device

from . import init
from .attention import SelfAttention2d
from .conv import Conv2d, Upsample
from .layers import Dropout, Embedding, Linear, SiLU
from .module import Module, ModuleList, Parameter
from .norm import GroupNorm

__all__ = ["timestep_embedding", "ResBlock", "UNet"]


def timestep_embedding(t, dim, max_period=10000.0):
    """Sinusoidal embedding (N, dim) of steps t (N,): [sin(t w), cos(t w)], w_i = max_period^(-i/half)."""
    half = dim // 2
    w = np.exp(-math.log(max_period) * np.arange(half) / half)             # (half,)
    angles = np.asarray(t, np.float64)[:, None] * w[None, :]                # (N, half)
    emb = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return np.pad(emb, ((0, 0), (0, dim - 2 * half)))                       # (N, dim)


def _zero(conv):
    """Start a convolution at zero ([1]'s code), so its residual branch is off at first."""
    conv.weight = Parameter(init.zeros(conv.weight.shape, conv.weight.dtype))
    conv.bias = Parameter(init.zeros(conv.bias.shape, conv.bias.dtype))
    return conv


class ResBlock(Module):
    """The residual block of the module docstring: (N, C_in, H, W), emb (N, E) -> (N, C_out, H, W)."""

    def __init__(self, in_channels, out_channels, emb_dim, groups=8, dropout=0.0, *, rng, dtype=np.float32):
        super().__init__()
        self.norm1 = GroupNorm(min(groups, in_channels), in_channels, activation="silu", dtype=dtype)
        self.conv1 = Conv2d(in_channels, out_channels, 3, padding=1, rng=rng, dtype=dtype)
        self.emb = Linear(emb_dim, out_channels, rng=rng, dtype=dtype)
        self.norm2 = GroupNorm(min(groups, out_channels), out_channels, activation="silu", dtype=dtype)
        self.dropout = Dropout(dropout, rng=rng)
        self.conv2 = _zero(Conv2d(out_channels, out_channels, 3, padding=1, rng=rng, dtype=dtype))
        self.skip = (Conv2d(in_channels, out_channels, 1, rng=rng, dtype=dtype)
                     if in_channels != out_channels else None)
        self.act = SiLU()

    def forward(self, x, emb):
        h = self.conv1(self.norm1(x))                                       # norm1 applies SiLU
        h = h + self.emb(self.act(emb)).reshape(len(x), -1, 1, 1)           # (N, C_out, 1, 1)
        h = self.conv2(self.dropout(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class UNet(Module):
    """The U-Net of the module docstring.

    Args:
        in_channels: C of the images.
        base: channels of the first level.
        mults: channel multiplier of each level (len(mults) levels; all but the last downsample).
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention: the resolutions (heights) at which a self-attention block follows each
            residual block; the middle always has one.
        image_size: height (= width) of the input, to place the attention.
        groups: GroupNorm groups.
        dropout: dropout in the residual blocks.
        num_heads: attention heads.
        num_classes: None for an unconditional net; K for labels 0 .. K-1 and K = "no label"
            (classifier-free guidance, Ho & Salimans 2022).
        out_channels: output channels (default in_channels; 2 * in_channels for a learned variance).
        rng: generator for the weights and the dropout masks.
        dtype: float dtype of the parameters.
    """

    def __init__(self, in_channels=1, base=64, mults=(1, 2), num_res_blocks=2, attention=(4,), image_size=8,
                 groups=8, dropout=0.1, num_heads=1, num_classes=None, out_channels=None, *, rng,
                 dtype=np.float32):
        super().__init__()
        self.base, self.num_classes, self.dtype = base, num_classes, np.dtype(dtype)
        emb_dim = 4 * base
        kw = dict(rng=rng, dtype=dtype)
        self.time = ModuleList([Linear(base, emb_dim, **kw), Linear(emb_dim, emb_dim, **kw)])
        self.label = Embedding(num_classes + 1, emb_dim, **kw) if num_classes else None
        self.conv_in = Conv2d(in_channels, base, 3, padding=1, **kw)
        block = lambda i, o: ResBlock(i, o, emb_dim, groups, dropout, **kw)           # noqa: E731
        attend = lambda c: SelfAttention2d(c, num_heads, groups, **kw)                # noqa: E731
        down, skips, ch, size = [], [base], base, image_size
        for level, m in enumerate(mults):
            for _ in range(num_res_blocks):
                down.append(ModuleList([block(ch, base * m)]
                                       + ([attend(base * m)] if size in attention else [])))
                ch = base * m
                skips.append(ch)
            if level < len(mults) - 1:
                down.append(Conv2d(ch, ch, 3, stride=2, padding=1, **kw))          # Downsample
                skips.append(ch)
                size = (size + 1) // 2
        self.down = ModuleList(down)
        self.middle = ModuleList([block(ch, ch), attend(ch), block(ch, ch)])
        up = []
        for level, m in reversed(list(enumerate(mults))):
            for _ in range(num_res_blocks + 1):
                up.append(ModuleList([block(ch + skips.pop(), base * m)]
                                     + ([attend(base * m)] if size in attention else [])))
                ch = base * m
            if level > 0:
                up.append(ModuleList([Upsample(2), Conv2d(ch, ch, 3, padding=1, **kw)]))
                size = size * 2
        self.up = ModuleList(up)
        self.norm_out = GroupNorm(min(groups, ch), ch, activation="silu", dtype=dtype)
        self.conv_out = _zero(Conv2d(ch, out_channels or in_channels, 3, padding=1, **kw))
        self.act = SiLU()

    def embed(self, t, y, device):
        """emb (N, 4 base) of steps t (N,) and labels y (N,) or None."""
        e = Tensor(to_device(timestep_embedding(t, self.base).astype(self.dtype), device))
        e = self.time[1](self.act(self.time[0](e)))
        if self.label is not None:
            if y is None:
                y = np.full(len(t), self.num_classes)                        # no label
            e = e + self.label(to_device(np.asarray(y), device) if device != "cpu" else np.asarray(y))
        return e

    def forward(self, x, t, y=None):
        """Args: x (N, C, H, W); t (N,) steps; y (N,) labels in 0 .. K (K: none) or None.
        Returns: (N, out_channels, H, W)."""
        emb = self.embed(t, y, x.device)
        h = self.conv_in(x)
        hs = [h]
        for layer in self.down:
            if isinstance(layer, ModuleList):
                h = layer[0](h, emb)
                for attn in layer.children()[1:]:
                    h = attn(h)
            else:
                h = layer(h)                                                 # Downsample
            hs.append(h)
        h = self.middle[2](self.middle[1](self.middle[0](h, emb)), emb)
        for layer in self.up:
            if isinstance(layer[0], ResBlock):
                skip = hs.pop()
                if skip.shape[2:] != h.shape[2:]:              # odd sizes: crop the upsampled map
                    h = h[:, :, :skip.shape[2], :skip.shape[3]]
                h = layer[0](ops.concatenate([h, skip], axis=1), emb)
                for attn in layer.children()[1:]:
                    h = attn(h)
            else:
                h = layer[1](layer[0](h))                                    # Upsample, conv
        return self.conv_out(self.norm_out(h))                              # norm_out applies SiLU
