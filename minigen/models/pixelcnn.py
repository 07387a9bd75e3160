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
structural: the layers (``minigen.nn.masked.MaskedConv2d``) compute only the live taps,
so a masked weight gets exactly zero gradient.

Architecture ([1] §3.5 and Table 1, with the residual block simplified from Figure 5)::

    x / (L - 1) -> 7x7 conv mask A, C -> h
      -> num_blocks x residual block:  y = x + conv3x3_B(ReLU(x))
      -> ReLU -> 1x1 conv mask B, h -> h -> ReLU -> 1x1 conv mask B, h -> C*L logits

Training maximises the exact log-likelihood: the loss is the cross-entropy of every
value under its conditional, summed over the image (nats per image, reported also as
bits/dim = nats / (n C log 2)). Sampling is sequential: n*C passes of the network, each
drawing one value from its categorical (``sample``); completing an image whose lower
half is hidden draws only the hidden values, in the same order (``complete``).

Index convention: pixels are numbered in raster order from 0; "pixel j" of an HxW
image is (j // W, j % W). Because no output row depends on a later input row, a pass
that needs the conditionals of row i runs the network on rows 0..i only.

The receptive field of stacked masked convolutions has a *blind spot* to the upper
right of each pixel ([2] §2.2, Figure 1); the gated PixelCNN of [2] removes it with two
stacks, which is not implemented here.

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural
        Networks", ICML 2016. https://arxiv.org/abs/1601.06759 (eqs. (1)-(2); §2.2
        discrete softmax; §3.4 masked convolution; §3.5 PixelCNN; Table 1; Figures 2, 5).
    [2] A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves,
        K. Kavukcuoglu, "Conditional Image Generation with PixelCNN Decoders",
        NeurIPS 2016. https://arxiv.org/abs/1606.05328 (§2.2, blind spot).
"""
import json
import math
import os

import numpy as np

from autograd import Tensor, no_grad

from ..nn.distributions import Categorical
from ..nn.losses import cross_entropy
from ..nn.masked import MaskedConv2d
from ..nn.module import Module, ModuleList
from . import register
from .base import GenerativeModel

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
        return x + self.conv(x.relu())


@register("pixelcnn")
class PixelCNN(GenerativeModel):
    """PixelCNN [1] as a ``GenerativeModel`` (see the module docstring).

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

    presets = {
        "digits-reference": {
            "model": {"data_shape": (1, 8, 8), "num_levels": 17, "hidden": 64, "num_blocks": 6,
                      "head": 64},
            "train": {"data": "digits", "epochs": 100, "early_stopping": ("val/nll", 20),
                      "batch_size": 64, "lr": 1e-3, "seed": 0}},
        "digits-tiny": {  # seconds on a CPU: the tests' and the example's smoke settings
            "model": {"data_shape": (1, 8, 8), "num_levels": 17, "hidden": 16, "num_blocks": 2,
                      "head": 16, "first_kernel": 5},
            "train": {"data": "digits", "epochs": 4, "batch_size": 64, "lr": 1e-2, "seed": 0}},
        "mnist-binary": {
            "model": {"data_shape": (1, 28, 28), "num_levels": 2, "hidden": 64, "num_blocks": 6,
                      "head": 64},
            "train": {"data": "mnist", "epochs": 20, "early_stopping": ("val/nll", 3),
                      "batch_size": 64, "lr": 1e-3, "seed": 0}},
        **{name: {
            "model": {"data_shape": (1, 28, 28), "num_levels": 256, "hidden": 64, "num_blocks": 6,
                      "head": 64},
            "train": {"data": name, "epochs": 20, "early_stopping": ("val/nll", 3),
                      "batch_size": 64, "lr": 1e-3, "seed": 0}} for name in ("mnist", "fashion-mnist")},
    }
    default_preset = "digits-reference"
    best_metric = ("val/nll", "min")

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=64, num_blocks=6, head=64,
                 first_kernel=7, kernel=3, rng=None, dtype=np.float32):
        super().__init__(rng)
        self.data_shape, self.num_levels = tuple(data_shape), int(num_levels)
        self.dataset_view = "binary" if self.num_levels == 2 else "raw"   # what the trainer loads
        C = self.data_shape[0]
        self.D = int(np.prod(self.data_shape))
        conv = lambda cin, cout, k, mask: MaskedConv2d(cin, cout, k, mask, groups=C,  # noqa: E731
                                                       rng=self.rng, dtype=dtype)
        self.input_conv = conv(C, hidden, first_kernel, "A")
        self.blocks = ModuleList([ResidualBlock(hidden, kernel, C, rng=self.rng, dtype=dtype)
                                  for _ in range(num_blocks)])
        self.head = ModuleList([conv(hidden, head, 1, "B"), conv(head, C * self.num_levels, 1, "B")])

    # -- the conditionals p(x_i | x_<i) -------------------------------------------------
    def _as_input(self, x):
        """Integer levels (array or Tensor) -> a float Tensor of the parameters' dtype."""
        dtype = self.input_conv.weight.dtype
        if isinstance(x, Tensor):
            return x if x.dtype == dtype else x.astype(dtype)
        return Tensor(np.asarray(x, dtype=dtype))

    def logits(self, x):
        """Logits of every conditional, all in one pass.

        Args:
            x: levels (N, C, H, W), integers 0..L-1 (an array, or a float Tensor when a
                gradient with respect to the input is wanted).

        Returns:
            Tensor (N, C, L, H, W): ``logits[n, c, :, i, j]`` parameterise
            p(x[n, c, i, j] | the values before it in raster and channel order).
        """
        x = self._as_input(x)
        N, C, H, W = x.shape
        h = self.input_conv(x * (1.0 / (self.num_levels - 1)))            # (N, h, H, W)
        for block in self.blocks:
            h = block(h)
        h = self.head[1](self.head[0](h.relu()).relu())                   # (N, C*L, H, W)
        return h.reshape(N, C, self.num_levels, H, W)                     # (N, C, L, H, W)

    def nll(self, x):
        """-log p(x) in nats per image ([1] eqs. (1)-(2)), as a Tensor (N,).

        Args:
            x: integer levels (N, C, H, W).
        """
        target = np.asarray(x.data if isinstance(x, Tensor) else x).astype(np.int64)
        if target.shape[1:] != self.data_shape:
            raise ValueError(f"this PixelCNN models images of shape {self.data_shape}, got "
                             f"{target.shape[1:]} (for 28x28 data use --config mnist, "
                             "fashion-mnist or mnist-binary)")
        nll = cross_entropy(self.logits(x), target, axis=2, reduction="none")  # (N, C, H, W)
        return nll.reshape(len(target), -1).sum(axis=1)                   # (N,)

    def log_prob(self, x):
        """Exact log p(x) in nats per image, a float64 array (N,).

        Args:
            x: integer levels (N, C, H, W).
        """
        with no_grad():
            return -np.asarray(self.nll(x).numpy(), np.float64)

    def _metrics(self, nll):
        value = float(np.asarray(nll.numpy(), np.float64).mean())
        return {"nll": value, "bpd": value / (self.D * math.log(2))}

    # -- the protocol (models/base.py) ----------------------------------------------------
    def train_step(self, batch):
        """One Adam step on the mean NLL (nats per image) of a batch; returns nll and bpd."""
        x, _ = self.split_batch(batch)
        opt = self.optimizers["main"]
        opt.zero_grad()
        nll = self.nll(x)
        nll.mean().backward()
        opt.step()
        return self._metrics(nll)

    def eval_step(self, batch):
        """Exact NLL (nats per image) and bits/dim of a batch."""
        x, _ = self.split_batch(batch)
        with no_grad():
            return self._metrics(self.nll(x))

    # -- sampling, one value at a time ------------------------------------------------------
    def complete(self, x, observed, rng):
        """Fill in the unobserved values of ``x`` by ancestral sampling in raster order.

        Values are drawn one at a time, pixel by pixel and R -> G -> B within a pixel, each
        from p(x_i | x_<i) with everything before it either observed or already drawn.
        Observed values are returned unchanged. When every hidden value comes after every
        observed one (e.g. the lower half hidden) this samples the exact conditional
        p(hidden | observed); otherwise observed values *after* a hidden one are ignored
        when drawing it.

        Args:
            x: integer levels (N, C, H, W); values at hidden positions are ignored.
            observed: boolean mask broadcastable to (N, C, H, W); True = keep.
            rng: ``numpy.random.Generator``.

        Returns:
            Integer array (N, C, H, W) (uint8 when L <= 256).
        """
        x = np.array(x, dtype=np.int64)                                    # a copy we fill in
        hidden = ~np.broadcast_to(np.asarray(observed, bool), x.shape)
        x[hidden] = 0
        N, C, H, W = x.shape
        with no_grad():
            for i in range(H):
                for j in range(W):
                    for c in range(C):
                        todo = hidden[:, c, i, j]
                        if not todo.any():
                            continue
                        rows = x[:, :, :i + 1]                 # (N, C, i+1, W): rows 0..i suffice
                        logits = self.logits(rows)[:, c, :, i, j]               # (N, L)
                        draw = Categorical(logits, axis=1).sample(rng).numpy()  # (N,)
                        x[:, c, i, j] = np.where(todo, draw, x[:, c, i, j])
        return x.astype(np.uint8 if self.num_levels <= 256 else np.int64)  # the raw data's type

    def sample(self, n, rng):
        """``n`` images (n, C, H, W) of integer levels, drawn pixel by pixel ([1] §2.1).

        Args:
            n: number of images.
            rng: ``numpy.random.Generator``.
        """
        return self.complete(np.zeros((n,) + self.data_shape, np.int64), False, rng)

    def complete_lower_half(self, x, rng):
        """``(occluded, completed)``: hide the lower half of ``x`` and sample it back.

        Args:
            x: integer levels (N, C, H, W).
            rng: ``numpy.random.Generator``.

        Returns:
            occluded: float32 copy of x with NaN on the hidden rows (for ``plots.completions``);
            completed: integer array (N, C, H, W).
        """
        H = x.shape[2]
        observed = (np.arange(H) < H // 2)[:, None]                        # (H, 1): upper rows
        occluded = np.where(observed, np.asarray(x, np.float32), np.nan)
        return occluded, self.complete(x, observed, rng)

    def figures(self, run_dir, rng, images=None):
        """Write ``samples.png`` and ``completions.png`` (lower halves hidden) into ``run_dir``.

        Args:
            run_dir: folder to write into.
            rng: ``numpy.random.Generator``.
            images: integer images (N, C, H, W) to complete (default: the first test images
                of the run's data set, named in ``run_dir/config.json``).

        Returns:
            The paths written.
        """
        from .. import plots
        L, n = self.num_levels, 64 if self.D <= 256 else 16    # H*W*C passes each: keep it short
        paths = [plots.image_grid(self.sample(n, rng), os.path.join(run_dir, "samples.png"),
                                  title="PixelCNN samples", levels=L)]
        images = self._run_images(run_dir, n // 4) if images is None else images
        if images is not None:
            occluded, completed = self.complete_lower_half(images, rng)
            paths.append(plots.completions(images, occluded, completed,
                                           os.path.join(run_dir, "completions.png"),
                                           title="PixelCNN: lower halves completed", levels=L))
        return paths

    def _run_images(self, run_dir, n):
        """The first ``n`` test images of the run's data set, or None if unknown or misfit."""
        from ..data import get_dataset
        try:
            with open(os.path.join(run_dir, "config.json")) as f:
                ds = get_dataset(json.load(f)["data"], "test", view=self.dataset_view)
        except (OSError, KeyError, ValueError, TypeError):
            return None
        return ds.x[:n] if tuple(ds.shape) == self.data_shape else None
