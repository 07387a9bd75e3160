"""Implementation of the Gated PixelCNN [1]: two stacks without a blind spot, gated units, labels.

PixelCNN ([2] §3.5, ``pixelcnn.py``) models p(x) = prod_i p(x_i | x_<i) with stacked
masked convolutions, whose receptive field misses a wedge above and to the right of
every pixel: the *blind spot* ([1] §2.2, Figure 1). The Gated PixelCNN changes three
things.

**Two stacks** ([1] §2.2, Figure 1 right). A *vertical stack* conditions on whole rows
above the pixel and a *horizontal stack* on the pixels to its left in the current row::

    vertical, first layer (4x7 of a 7x7)   horizontal, first layer (1x4, centre excluded)
    1 1 1 1 1 1 1                          1 1 1 0 . . .
    1 1 1 1 1 1 1
    1 1 1 1 1 1 1                          later layers (3x3 -> 2x3 and 1x2)
    1 1 1 1 1 1 1   <- the pixel's row     1 1 1      1 1
                                           1 1 1

The vertical stack's output at row i has seen row i (right of the pixel too), so it
feeds the horizontal stack only after a **down-shift** by one row: row i of the
horizontal stack receives the vertical stack's row i-1 (through a 1x1 convolution).
Neither stack has a blind spot, and the horizontal stack never sees the vertical
stack's view of its own row.

**Gated activation units** ([1] eq. (2)): every convolution produces 2p channels, split
into two halves f and g, and::

    y = tanh(W_f * x) ⊙ sigmoid(W_g * x)

**Residual and skip connections** ([1] §2.2, Figure 2): the horizontal stack adds its
input to ``1x1(y)``; each layer also sends ``1x1_skip(y)`` to the output head, which reads
the sum of the skips (as WaveNet does).

**Conditioning** ([1] §2.3, eq. (4)): with a class label h (one-hot, K classes) every
gate gets a learned per-layer bias ``V^T h``, the same at every pixel::

    y = tanh(W_f * x + V_f^T h) ⊙ sigmoid(W_g * x + V_g^T h)

so the model is p(x | h) = prod_i p(x_i | x_<i, h). The label of a batch is its ``y``;
``sample(n, rng, y)`` draws images of chosen classes.

Architecture of the digits presets (64 channels)::

    x / (L - 1) -> gated layer 1 (7x7: vertical 4x7, horizontal 1x4 without the centre)
                -> 6 gated layers (3x3: vertical 2x3, horizontal 1x2), residual on the horizontal stack
    sum of the 7 skips -> ReLU -> 1x1 64->64 -> ReLU -> 1x1 64->L logits

With 7 layers on 8x8 images the receptive field holds *every* earlier pixel: the
dependency mask (computed from the live taps, ``dependency_mask``) is the full
lower triangle, where PixelCNN's digits-reference misses 125 (output, earlier input)
pairs. Grey images only (one channel): the R -> G -> B split of [2] Figure 2 is not
implemented here.

References:
    [1] A. van den Oord, N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves,
        K. Kavukcuoglu, "Conditional Image Generation with PixelCNN Decoders",
        NeurIPS 2016. https://arxiv.org/abs/1606.05328 (§2.1-2.3, eqs. (2), (4), Figures 1-2).
    [2] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural
        Networks", ICML 2016. https://arxiv.org/abs/1601.06759 (§3.4-3.5).
"""
import contextlib

import numpy as np

from autograd import Tensor, ops
from autograd.ops import taps as T

from ...nn import Linear, MaskedConv2d, Module, ModuleList
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel, conv_reach

__all__ = ["GatedPixelCNN", "GatedLayer", "gate", "shift_down"]


def gate(z):
    """The gated activation unit, [1] eq. (2): ``tanh(f) ⊙ sigmoid(g)`` of the halves of z (N, 2p, H, W)."""
    f, g = ops.split(z, 2, axis=1)                                     # each (N, p, H, W)
    return ops.tanh(f) * ops.sigmoid(g)


def shift_down(v):
    """Row i of the result is row i-1 of v (N, C, H, W); row 0 is zeros: the vertical stack's
    link into the horizontal stack sees only rows above the pixel."""
    return ops.pad(v[:, :, :-1], ((0, 0), (0, 0), (1, 0), (0, 0)))


class GatedLayer(Module):
    """One gated layer of [1] Figure 2: both stacks, their link, residual and skip.

    Args:
        in_channels: channels entering both stacks (1 for the first layer).
        p: channels of the stacks (each convolution makes 2p for the gate).
        kernel: n; the vertical stack is n x (n//2 + 1) of an n x n kernel, the horizontal
            stack 1 x (n//2 + 1) (centre included) or 1 x n//2 (first layer, centre excluded).
        skip: channels of the skip connection.
        first: the first layer: horizontal mask A and no residual.
        num_classes: K for the label bias V^T h, or None.
        rng, dtype: initial weights.
    """

    def __init__(self, in_channels, p, kernel, skip, first, num_classes, *, rng, dtype=np.float32):
        super().__init__()
        conv = lambda cin, cout, k, taps: MaskedConv2d(cin, cout, k, taps=taps, rng=rng, dtype=dtype)  # noqa
        self.first = first
        self.v_conv = conv(in_channels, 2 * p, kernel, T.vertical_stack_taps(kernel, "B"))
        self.h_conv = conv(in_channels, 2 * p, (1, kernel),
                           T.horizontal_stack_taps((1, kernel), "A" if first else "B"))
        self.v_to_h = conv(2 * p, 2 * p, 1, T.full_taps(1))           # the 1x1 link, after the shift
        self.h_out = conv(p, p, 1, T.full_taps(1))                    # 1x1 before the residual sum
        self.skip = conv(p, skip, 1, T.full_taps(1))
        if num_classes:                                              # V_v, V_h of eq. (4), f and g halves
            self.V_v = Linear(num_classes, 2 * p, bias=False, rng=rng, dtype=dtype)
            self.V_h = Linear(num_classes, 2 * p, bias=False, rng=rng, dtype=dtype)

    def forward(self, v, h, onehot=None):
        """One layer.

        Args:
            v, h: the vertical and horizontal stacks' inputs (N, Cin, H, W).
            onehot: the labels one-hot (N, K), or None.

        Returns:
            ``(v', h', skip)``: (N, p, H, W), (N, p, H, W), (N, skip, H, W).
        """
        v_pre = self.v_conv(v)                                         # (N, 2p, H, W): rows <= i
        h_pre = self.h_conv(h) + self.v_to_h(shift_down(v_pre))        # (N, 2p, H, W): only x_<i
        if onehot is not None:
            N = onehot.shape[0]
            v_pre = v_pre + self.V_v(onehot).reshape(N, -1, 1, 1)      # V^T h, the same at every pixel
            h_pre = h_pre + self.V_h(onehot).reshape(N, -1, 1, 1)
        y = gate(h_pre)                                                # (N, p, H, W)
        h_next = self.h_out(y) if self.first else h + self.h_out(y)    # residual on the horizontal stack
        return gate(v_pre), h_next, self.skip(y)

    def reach(self, rv, rh):
        """Which input values reach each unit (bool (C, H, W, D) per stack), as ``forward``."""
        rv_pre = conv_reach(self.v_conv, rv)
        shifted = np.zeros_like(rv_pre)
        shifted[:, 1:] = rv_pre[:, :-1]                                # shift_down
        rh_pre = conv_reach(self.h_conv, rh) | conv_reach(self.v_to_h, shifted)
        halves = lambda r: r[:len(r) // 2] | r[len(r) // 2:]           # noqa: E731  (gate: f and g)
        ry = halves(rh_pre)
        rh_next = conv_reach(self.h_out, ry) if self.first else rh | conv_reach(self.h_out, ry)
        return halves(rv_pre), rh_next, conv_reach(self.skip, ry)


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, hidden=64, num_layers=6, head=64, first_kernel=7,
               kernel=3, num_classes=None)
_RECIPE = TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64, lr=1e-3,
                      seed=0)


@register("gated-pixelcnn")
class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN (van den Oord et al. 2016): two stacks, gated units, optional class labels.

    Args:
        data_shape: (1, H, W): grey images.
        num_levels: L, the values of a pixel (0..L-1); L = 2 trains on the binarised data.
        hidden: p, channels of both stacks.
        num_layers: gated layers after the first (3x3 kernels in [1]).
        head: channels of the hidden 1x1 layer of the output head (and of the skips).
        first_kernel: n of the first layer (7).
        kernel: n of the later layers (3).
        num_classes: K for a class-conditional model p(x | h) (10 for digits), None for p(x).
        rng: generator or seed for the initial weights.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(model=_DIGITS, train=_RECIPE,
                                   about="two stacks, 7 gated layers of 64 channels: no blind spot"),
        "digits-conditional": Preset(model=dict(_DIGITS, num_classes=10), train=_RECIPE,
                                     about="the same, conditioned on the digit's class: p(x | y)"),
        "digits-tiny": Preset(  # seconds on a CPU: the tests' and the example's smoke settings
            model=dict(_DIGITS, hidden=16, num_layers=2, head=16, first_kernel=5, num_classes=10),
            train=TrainConfig(data="digits", epochs=4, batch_size=64, lr=1e-2, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=64, num_layers=6, head=64,
                 first_kernel=7, kernel=3, num_classes=None, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, hidden=hidden, head=head, first_kernel=first_kernel,
                       kernel=kernel, num_classes=num_classes)
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers={num_layers!r} is not allowed: num_layers must be an integer >= 0")
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels={num_levels!r} is not allowed: num_levels must be an integer >= 2")
        if len(data_shape) != 3 or data_shape[0] != 1:
            raise ValueError(f"data_shape={tuple(data_shape)} is not allowed: the Gated PixelCNN here models "
                             "grey images (1, H, W)")
        for name, k in (("first_kernel", first_kernel), ("kernel", kernel)):
            if k % 2 == 0 or k < 3:
                raise ValueError(f"{name}={k} is not allowed: {name} must be odd and >= 3 (a centre and "
                                 "at least one neighbour)")
        self.data_shape, self.num_levels, self.num_classes = tuple(data_shape), num_levels, num_classes
        self.dataset_view = "binary" if num_levels == 2 else "raw"
        self.D = int(np.prod(self.data_shape))
        self.labels = None                                             # set by given(y)
        self.layers = ModuleList(
            [GatedLayer(1, hidden, first_kernel, head, True, num_classes, rng=self.rng, dtype=dtype)]
            + [GatedLayer(hidden, hidden, kernel, head, False, num_classes, rng=self.rng, dtype=dtype)
               for _ in range(num_layers)])
        self.out = ModuleList([MaskedConv2d(head, head, 1, taps=T.full_taps(1), rng=self.rng, dtype=dtype),
                               MaskedConv2d(head, num_levels, 1, taps=T.full_taps(1), rng=self.rng,
                                            dtype=dtype)])

    # -- the label h -------------------------------------------------------------------
    @contextlib.contextmanager
    def given(self, y):
        """Condition every pass inside the ``with`` block on the labels y (N,) (ignored when
        the model is unconditional). The family's likelihood and sampler then compute
        log p(x | y) and draw from p(x | y)."""
        previous, self.labels = self.labels, (None if y is None else np.asarray(y).astype(np.int64))
        try:
            yield self
        finally:
            self.labels = previous

    def onehot(self, n, y=None):
        """The labels (argument, else those of ``given``) one-hot (n, K), or None if unconditional."""
        if not self.num_classes:
            return None
        y = self.labels if y is None else np.asarray(y).astype(np.int64)
        if y is None:
            raise ValueError("this Gated PixelCNN is class-conditional: pass the labels, e.g. "
                             "logits(x, y), log_prob(x, y) or sample(n, rng, y)")
        y = np.broadcast_to(y, (n,))
        if y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}, got {np.unique(y).tolist()}")
        dtype = self.parameters()[0].dtype
        return Tensor(np.eye(self.num_classes, dtype=dtype)[y])      # (n, K)

    # -- the network --------------------------------------------------------------------
    def logits(self, x, y=None):
        """Logits of every conditional, all in one pass.

        Args:
            x: levels (N, 1, H, W), integers 0..L-1 (or a float Tensor).
            y: class labels (N,) of a conditional model (default: those of ``given``).

        Returns:
            Tensor (N, 1, L, H, W).
        """
        x = self.as_input(x)
        N, C, H, W = x.shape
        onehot = self.onehot(N, y)
        v = h = x * (1.0 / (self.num_levels - 1))                      # (N, 1, H, W)
        skips = 0
        for layer in self.layers:
            v, h, s = layer(v, h, onehot)
            skips = skips + s                                          # (N, head, H, W)
        out = self.out[1](self.out[0](skips.relu()).relu())            # (N, L, H, W)
        return out.reshape(N, C, self.num_levels, H, W)                # (N, 1, L, H, W)

    def conditional_logits(self, x, c, index):
        """Logits (N, L) of pixel (i, j): no row depends on a later row, so rows 0..i suffice."""
        i, j = index
        return self.logits(x[:, :, :i + 1])[:, c, :, i, j]

    def dependency_mask(self):
        """(D, D) bool: pixel i's logits depend on pixel j, from the layers' live taps. On the
        digits presets this is every earlier pixel: the blind spot is gone."""
        _, H, W = self.data_shape
        rv = rh = np.eye(self.D, dtype=bool).reshape(1, H, W, self.D)
        rs = False
        for layer in self.layers:
            rv, rh, skip = layer.reach(rv, rh)
            rs = rs | skip
        reach = conv_reach(self.out[1], conv_reach(self.out[0], rs))   # (L, H, W, D)
        return reach.any(axis=0).reshape(self.D, self.D)

    # -- the protocol with labels -------------------------------------------------------
    def loss(self, batch):
        """Mean NLL of a batch ``(x, y)``: -log p(x | y) with labels, -log p(x) without."""
        x, y = self.split_batch(batch)
        with self.given(y if self.num_classes else None):
            return super().loss(x)

    def eval_step(self, batch):
        x, y = self.split_batch(batch)
        with self.given(y if self.num_classes else None):
            return super().eval_step(x)

    def log_prob(self, x, y=None):
        """log p(x) (or log p(x | y) for a conditional model) in nats per example (N,)."""
        with self.given(y):
            return super().log_prob(x)

    def sample(self, n, rng, y=None):
        """``n`` images drawn pixel by pixel; a conditional model draws them from p(x | y),
        with y (n,) given or drawn uniformly from the K classes."""
        if self.num_classes and y is None:
            y = rng.integers(0, self.num_classes, n)
        with self.given(y):
            return super().sample(n, rng)

    def complete(self, x, observed, rng, y=None):
        """The family's completion, conditioned on y for a conditional model."""
        with self.given(y if y is not None else self.labels):
            return super().complete(x, observed, rng)

    def report(self, split, rng, batch_size=256):
        """The test figures; a conditional model adds the marginal likelihood
        p(x) = (1/K) sum_y p(x | y) (uniform labels), comparable with unconditional models:
        ``marginal_nll`` (nats) and ``marginal_bpd``."""
        out = super().report(split, rng, batch_size)
        if self.num_classes:
            K, batches = self.num_classes, np.array_split(split.x, max(1, len(split) // batch_size))
            logp = np.stack([np.concatenate([self.log_prob(x, np.full(len(x), k)) for x in batches])
                             for k in range(K)])                                   # (K, N): log p(x | k)
            top = logp.max(axis=0)
            nats = -(top + np.log(np.exp(logp - top).sum(axis=0)) - np.log(K)).mean()  # -log p(x)
            out.update(marginal_nll=float(nats), marginal_bpd=self.bits_per_dim(float(nats)))
        return out

    def figures(self, run_dir, rng, split=None):
        """samples.png (one row per class for a conditional model) and completions.png."""
        import os
        from ... import plots
        if not self.num_classes:
            return super().figures(run_dir, rng, split)
        K, per = self.num_classes, 10
        y = np.repeat(np.arange(K), per)
        title = f"Gated PixelCNN samples given the class: rows 0 to {K - 1}, top to bottom"
        paths = [plots.image_grid(self.sample(K * per, rng, y), os.path.join(run_dir, "samples.png"),
                                  nrow=per, title=title, levels=self.num_levels)]
        if split is not None:
            images, labels = split.x[:16], split.y[:16]
            with self.given(labels):
                occluded, completed = self.complete_lower_half(images, rng)
            paths.append(plots.completions(images, occluded, completed,
                                           os.path.join(run_dir, "completions.png"), levels=self.num_levels,
                                           title="Gated PixelCNN: lower halves completed given the class"))
        return paths
