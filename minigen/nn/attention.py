"""Attention, composed from ops (matmul, softmax): no backward code of its own.

Scaled dot-product attention (Vaswani et al. 2017 [1], eq. 1)::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V

with the softmax along the keys, written with the stable composite
``autograd.functional.softmax`` (exp(x - logsumexp x)). Multi-head attention [1] §3.2.2
splits the d channels into h heads of d/h, attends in each, and joins them again.

``SelfAttention2d`` is the attention block of the diffusion U-Net (Ho et al. 2020 [2],
Appendix B; the Wide ResNet / PixelCNN++ backbone with self-attention at 16x16, after
Wang et al. 2018's non-local block): every spatial position attends to every other::

    h = GroupNorm(x)                       (N, C, H, W)
    q, k, v = h W_q, h W_k, h W_v          over the H*W positions: (N, heads, HW, C/heads)
    y = x + (Attention(q, k, v) W_o)       back to (N, C, H, W), a residual block

References:
    [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017. https://arxiv.org/abs/1706.03762
    [2] J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        https://arxiv.org/abs/2006.11239
"""
import math

import numpy as np

from autograd import functional as F
from autograd import ops

from .layers import Linear
from .module import Module
from .norm import GroupNorm

__all__ = ["scaled_dot_product_attention", "SelfAttention2d"]


def scaled_dot_product_attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v ([1] eq. 1).

    Args:
        q: (..., Lq, d) queries.
        k: (..., Lk, d) keys.
        v: (..., Lk, dv) values.

    Returns:
        (..., Lq, dv).
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv) expected; got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(q.shape[-1]))   # (..., Lq, Lk)
    return ops.matmul(F.softmax(scores, axis=-1), v)                                     # (..., Lq, dv)


class SelfAttention2d(Module):
    """Multi-head self-attention over the spatial positions of an (N, C, H, W) map, residual.

    Args:
        channels: C.
        num_heads: heads; must divide C.
        groups: groups of the GroupNorm in front.
        rng: generator for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, channels, num_heads=1, groups=8, *, rng, dtype=np.float32):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"SelfAttention2d: num_heads={num_heads} must divide channels={channels}")
        self.channels, self.num_heads = channels, num_heads
        self.norm = GroupNorm(min(groups, channels), channels, dtype=dtype)
        self.qkv = Linear(channels, 3 * channels, rng=rng, dtype=dtype)
        self.out = Linear(channels, channels, rng=rng, dtype=dtype)

    def forward(self, x):
        """Args: x (N, C, H, W). Returns: (N, C, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SelfAttention2d expects (N, {self.channels}, H, W), got shape {x.shape}")
        n, c, h, w = x.shape
        nh, dh = self.num_heads, c // self.num_heads
        tokens = self.norm(x).reshape(n, c, h * w).transpose(0, 2, 1)         # (N, HW, C)
        q, k, v = ops.split(self.qkv(tokens), 3, axis=-1)                    # 3 x (N, HW, C)
        heads = [t.reshape(n, h * w, nh, dh).transpose(0, 2, 1, 3) for t in (q, k, v)]   # (N, nh, HW, dh)
        y = scaled_dot_product_attention(*heads)                             # (N, nh, HW, dh)
        y = self.out(y.transpose(0, 2, 1, 3).reshape(n, h * w, c))           # (N, HW, C)
        return x + y.transpose(0, 2, 1).reshape(n, c, h, w)

    def extra_repr(self):
        return f"{self.channels}, num_heads={self.num_heads}"
