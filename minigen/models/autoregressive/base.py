"""``AutoregressiveModel``: exact likelihood by the chain rule, sampling one value at a time.

An autoregressive model of D discrete values x_1..x_D (pixels and channels, or the
steps of a sequence) in a fixed order writes

    p(x) = prod_{i=1}^{D} p(x_i | x_<i)        each factor an L-way categorical

and computes every conditional's logits in one pass of a network whose output i never
sees inputs at or after position i. The family's contract (tested for every model of
the family, ``tests/minigen/models``):

* ``logits(x)`` -> (N, C, L, *spatial): the logits of every conditional at once;
* ``order()`` -> (D,) the rank of each value (flattened C, *spatial) in the order;
* ``dependency_mask()`` -> (D, D) bool: ``[i, j]`` True where output i *does* depend
  on input j. The default is every earlier value (``order[j] < order[i]``); a model
  whose receptive field is narrower (PixelCNN's blind spot) states its own, and the
  Jacobian test checks the network against it both ways: no output depends on itself
  or a later value, and every stated input really feeds it.

The loss is the exact NLL in nats per example; ``sample`` and ``complete`` draw the
values one at a time in the order, each from its conditional.
"""
import numpy as np

from autograd import Tensor, no_grad, to_device

from ...nn.distributions import Categorical
from ...nn.losses import cross_entropy
from ..base import GenerativeModel

__all__ = ["AutoregressiveModel", "conv_reach"]


class AutoregressiveModel(GenerativeModel):
    """Base of the autoregressive family (see the module docstring).

    Subclasses set ``self.data_shape`` ((C, H, W) or (C, T)), ``self.num_levels`` (L)
    and ``self.D``, and define ``logits(x)``.
    """

    best_metric = ("val/nll", "min")

    # -- what a model of the family defines --------------------------------------------
    def logits(self, x):
        """Logits of every conditional: x (N, C, *spatial) integers -> Tensor (N, C, L, *spatial)."""
        raise NotImplementedError(f"{self.title} must define logits(x)")

    def order(self):
        """Rank of every value (flattened (C, *spatial)) in the generation order: raster
        order over positions, channels R -> G -> B within a position."""
        C, rest = self.data_shape[0], int(np.prod(self.data_shape[1:]))
        rank = np.arange(rest)[None, :] * C + np.arange(C)[:, None]      # (C, positions)
        return rank.reshape(-1)

    def dependency_mask(self):
        """(D, D) bool: output i depends on input j. Default: every earlier value."""
        rank = self.order()
        return rank[None, :] < rank[:, None]

    # -- likelihood ---------------------------------------------------------------------
    def as_input(self, x):
        """Integer levels (array or Tensor) -> a float Tensor of the parameters' dtype and device."""
        p = self.parameters()[0]
        if isinstance(x, Tensor):
            return x if x.dtype == p.dtype else x.astype(p.dtype)
        return Tensor(to_device(x, p.device), dtype=p.dtype)

    def nll(self, x):
        """-log p(x) = -sum_i log p(x_i | x_<i), in nats per example: Tensor (N,).

        Args:
            x: integer levels (N, *data_shape).
        """
        target = to_device(x.data if isinstance(x, Tensor) else x, self.device).astype(np.int64)
        if tuple(target.shape[1:]) != tuple(self.data_shape):
            raise ValueError(f"this {self.title} models examples of shape {tuple(self.data_shape)}, got "
                             f"{tuple(target.shape[1:])}; build it for the data (see its presets)")
        nll = cross_entropy(self.logits(x), target, axis=2, reduction="none")  # (N, C, *spatial)
        return nll.reshape(len(target), -1).sum(axis=1)                   # (N,)

    def log_prob(self, x):
        """Exact log p(x) in nats per example, a float64 array (N,)."""
        with no_grad():
            return -np.asarray(self.nll(x).numpy(), np.float64)

    def loss(self, batch):
        """The mean NLL of a batch (nats per example); metrics nll and bpd."""
        nll = self.nll(self.split_batch(batch)[0])
        return nll.mean(), self.nats_metrics(nll)

    def eval_step(self, batch):
        """Exact NLL (nats per example) and bits/dim of a batch."""
        with no_grad():
            return self.nats_metrics(self.nll(self.split_batch(batch)[0]))

    # -- sampling, one value at a time ---------------------------------------------------
    def conditional_logits(self, x, c, index):
        """Logits (N, L) of value ``(c, *index)`` given ``x`` (only earlier values matter).
        Models override it to compute less than a full pass (PixelCNN: rows up to i)."""
        return self.logits(x)[(slice(None), c, slice(None)) + tuple(index)]

    def complete(self, x, observed, rng):
        """Fill in the unobserved values of ``x`` by ancestral sampling in the model's order.

        Each hidden value is drawn from p(x_i | x_<i) with every earlier value observed or
        already drawn; observed values come back unchanged. When every hidden value comes
        after every observed one (the lower half hidden) this samples exactly
        p(hidden | observed); otherwise observed values *after* a hidden one are ignored.

        Args:
            x: integer levels (N, *data_shape); values at hidden positions are ignored.
            observed: boolean mask broadcastable to x; True = keep.
            rng: ``numpy.random.Generator``.

        Returns:
            Integer array like x (uint8 when L <= 256).
        """
        x = np.array(x, dtype=np.int64)                                    # a copy we fill in
        hidden = ~np.broadcast_to(np.asarray(observed, bool), x.shape)
        x[hidden] = 0
        flat = np.argsort(self.order())                                    # positions in order
        with no_grad():
            for p in flat:
                c, *index = np.unravel_index(p, self.data_shape)
                at = (slice(None), c) + tuple(index)
                todo = hidden[at]
                if not todo.any():
                    continue
                draw = Categorical(self.conditional_logits(x, c, index), axis=1).sample(rng).numpy()
                x[at] = np.where(todo, draw, x[at])
        return x.astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def sample(self, n, rng):
        """``n`` examples drawn value by value (integer levels, shaped like the data)."""
        return self.complete(np.zeros((n,) + tuple(self.data_shape), np.int64), False, rng)

    def complete_lower_half(self, x, rng):
        """``(occluded, completed)``: hide the lower half of images x and sample it back.

        Returns:
            occluded: float32 copy of x with NaN on the hidden rows (``plots.completions``);
            completed: integer array like x.
        """
        H = x.shape[2]
        observed = (np.arange(H) < H // 2)[:, None]                        # (H, 1): upper rows
        occluded = np.where(observed, np.asarray(x, np.float32), np.nan)
        return occluded, self.complete(x, observed, rng)

    def figures(self, run_dir, rng, split=None):
        """samples.png and, for images with a test split, completions.png (lower halves hidden)."""
        import os
        from ... import plots
        if len(self.data_shape) != 3:
            return []
        L, n = self.num_levels, 64 if self.D <= 256 else 16    # D passes each: keep it short
        paths = [plots.image_grid(self.sample(n, rng), os.path.join(run_dir, "samples.png"),
                                  title=f"{self.title} samples", levels=L)]
        if split is not None:
            images = split.x[:n // 4]
            occluded, completed = self.complete_lower_half(images, rng)
            paths.append(plots.completions(images, occluded, completed, os.path.join(run_dir, "completions.png"),
                                           title=f"{self.title}: lower halves completed", levels=L))
        return paths


def conv_reach(conv, reach):
    """Which inputs reach each output of a masked convolution, from its live taps.

    Args:
        conv: a layer with ``mask()`` -> dense 0/1 mask (Cout, Cin, KH, KW) ("same" padding).
        reach: bool (Cin, H, W, D): ``reach[c, i, j, d]`` = input value d feeds channel c at (i, j).

    Returns:
        bool (Cout, H, W, D): the same after the convolution.
    """
    mask = np.asarray(conv.mask()) != 0
    Cout, Cin, KH, KW = mask.shape
    _, H, W, D = reach.shape
    padded = np.zeros((Cin, H + KH - 1, W + KW - 1, D), np.float32)
    padded[:, KH // 2:KH // 2 + H, KW // 2:KW // 2 + W] = reach
    out = np.zeros((Cout, H * W * D), np.float32)
    for ky in range(KH):
        for kx in range(KW):
            if mask[:, :, ky, kx].any():            # y[i, j] += w[ky, kx] x[i + ky - KH//2, j + kx - KW//2]
                window = padded[:, ky:ky + H, kx:kx + W].reshape(Cin, -1)        # (Cin, H*W*D)
                out += mask[:, :, ky, kx].astype(np.float32) @ window
    return (out > 0).reshape(Cout, H, W, D)
