"""MADE, the Masked Autoencoder for Distribution Estimation [1]: an MLP made autoregressive by masks.

An ordinary MLP x -> hidden -> hidden -> outputs lets every output see every input.
MADE multiplies each weight matrix by a 0/1 mask so that the outputs for value d see
only the values before d in an ordering; the D conditionals of p(x) then come out of
one pass ([1] §4.1; deep, §4.2)::

    p(x) = prod_{d=1}^{D} p(x_d | x_<d)
    h^l = ReLU(b^l + (W^l ⊙ M^{W^l}) h^{l-1}),   h^0 = x / (L - 1)          (M1)
    logits = c + (V ⊙ M^V) h^L                   (D x L logits, an L-way softmax each)  (M2)

**The masks, from connectivity numbers** ([1] §4.1, deep version §4.2). Index
convention (the paper's): inputs and orderings are numbered from 1, and
m^0(d) in {1, ..., D} is the position of input d in the ordering. Every hidden unit k
of layer l gets a number m^l(k): the largest position among the inputs it may depend
on. It is drawn uniformly from {min_k' m^{l-1}(k'), ..., D - 1} (a unit at D could feed
no output; below the previous layer's minimum it would have no inputs). Then::

    M^{W^l}[k, k'] = 1  iff  m^l(k) >= m^{l-1}(k')     (unit k of layer l sees unit k' below)  eq. (12)
    M^V[d, k]      = 1  iff  m^0(d) >  m^L(k)          (output d sees unit k of the last layer) eq. (13)

``>=`` between hidden layers, strict ``>`` at the output: output d reaches input d'
only if m^0(d') <= m^L(k) < m^0(d) along some path, so never itself or a later value.

**Orderings and order-agnostic training** ([1] §4.3-4.4). ``ordering="natural"`` is the
family's raster order (m^0(d) = d); ``"random"`` draws a permutation. With
``num_masks`` = K > 1 the model draws K mask sets (an ordering, if random, and the
hidden units' numbers) from its generator, and training cycles through them, a new
one at every step, as the paper does with a fixed number of masks; one set of
weights then learns K autoregressive models at once.

**The connectivity-agnostic ensemble** ([1] §4.4). At test time the K models are
averaged in probability::

    p_ens(x) = (1/K) sum_k p_k(x),   -log p_ens(x) = -logmeanexp_k(log p_k(x))

reported as ``nll_ensemble`` beside ``nll``, the mean of the K single-mask NLLs
(Jensen: nll_ensemble <= nll). ``sample`` draws from the same mixture (a mask per
sample, then that model's ancestral sampling).

References:
    [1] M. Germain, K. Gregor, I. Murray, H. Larochelle, "MADE: Masked Autoencoder for
        Distribution Estimation", ICML 2015. https://arxiv.org/abs/1502.03509
        (§4.1 masks; §4.2 deep MADE, eqs. (12)-(13); §4.3 order-agnostic and §4.4
        connectivity-agnostic training. (M1)-(M2) are this module's labels.)
"""
import numpy as np

from autograd import as_numpy, no_grad

from ...nn import MaskedLinear, ModuleList
from ...nn.masked_linear import connectivity, made_masks  # the masks of eqs. (12)-(13), shared with MAF/IAF
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel
from .fvsbn import check_data, output_mask

__all__ = ["MADE", "connectivity", "made_masks", "logmeanexp"]

ORDERINGS = ("natural", "random")
_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, hidden=(512, 512))


def logmeanexp(a):
    """log((1/K) sum_k exp(a_k)) over axis 0, stable: the log of an average of probabilities."""
    top = a.max(axis=0)
    return top + np.log(np.exp(a - top).mean(axis=0))


@register("made")
class MADE(AutoregressiveModel):
    """MADE with ReLU hidden layers and an L-way softmax per value, (M1)-(M2) and eqs. (12)-(13).

    Args:
        data_shape: (C, H, W) or (C, T) of one example.
        num_levels: L, the values each takes (0..L-1); L = 2 trains on the binarised view.
        hidden: sizes of the hidden layers (512, 512).
        num_masks: K, the mask sets trained in turn and averaged at test time (1: one MADE).
        ordering: "natural" (the family's raster order) or "random" (a permutation per mask).
        rng: generator or seed for the initial weights and the masks.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="MADE on the digits protocol (README): one mask, natural ordering",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-ensemble": Preset(
            model=dict(_DIGITS, num_masks=8, ordering="random"),
            about="8 masks, order-agnostic training; early stopping on the ensemble's NLL",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll_ensemble", 20),
                              batch_size=64, lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=(64, 64)), about="seconds on a CPU (smoke tests)",
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=1e-2, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=(512, 512), num_masks=1,
                 ordering="natural", rng=None, dtype=np.float32):
        super().__init__(rng)
        check_data("MADE", data_shape, num_levels)
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        check_positive(hidden=hidden, num_masks=num_masks)
        if not hidden:
            raise ValueError("hidden=() is not allowed: MADE needs at least one hidden layer")
        if ordering not in ORDERINGS:
            raise ValueError(f"ordering={ordering!r} is not allowed: ordering must be one of {ORDERINGS}")
        self.data_shape, self.num_levels = tuple(data_shape), int(num_levels)
        self.hidden, self.num_masks, self.ordering = hidden, int(num_masks), ordering
        self.dataset_view = "binary" if self.num_levels == 2 else "raw"
        self.D = D = int(np.prod(self.data_shape))
        if D < 2:
            raise ValueError(f"data_shape={self.data_shape} is not allowed: MADE needs D >= 2 values")
        C, L = self.data_shape[0], self.num_levels
        sizes = (D,) + hidden
        self.layers = ModuleList([MaskedLinear(a, b, np.ones((b, a)), rng=self.rng, dtype=dtype)
                                  for a, b in zip(sizes[:-1], sizes[1:])])
        self.output = MaskedLinear(hidden[-1], C * L * (D // C), np.ones((C * L * (D // C), hidden[-1])),
                                   rng=self.rng, dtype=dtype)
        natural = AutoregressiveModel.order(self) + 1                    # the family's raster order, 1-based
        sets = [connectivity(natural if ordering == "natural" else self.rng.permutation(D) + 1, hidden,
                             self.rng) for _ in range(self.num_masks)]
        for l in range(len(hidden) + 1):                                 # buffers m0 (K, D), m1 (K, H_1), ...
            self.register_buffer(f"m{l}", np.stack([s[l] for s in sets]))
        self.register_buffer("mask_index", np.zeros((), np.int64))      # which of the K sets is in use
        self.use_mask(0)

    # -- masks ----------------------------------------------------------------------------
    def numbers(self, k=None):
        """``[m^0, ..., m^L]`` of mask set k (default: the one in use)."""
        k = self.current if k is None else k
        return [as_numpy(getattr(self, f"m{l}").data)[k] for l in range(len(self.hidden) + 1)]

    @property
    def current(self):
        return int(as_numpy(self.mask_index.data))

    def use_mask(self, k):
        """Switch every layer to mask set k (weights untouched): eqs. (12)-(13)."""
        hidden, out = made_masks(self.numbers(k))
        for layer, M in zip(self.layers, hidden):
            layer.set_mask(M)
        self.output.set_mask(output_mask(out, self.data_shape[0], self.num_levels))
        self.mask_index = np.array(k, np.int64)

    def order(self):
        """Rank of each value in the ordering of the mask in use: m^0(d) - 1."""
        return self.numbers()[0] - 1

    def dependency_mask(self):
        """(D, D) bool: output d depends on input d' iff a path of live connections joins them,
        M^V M^{W^L} ... M^{W^1} > 0 (a subset of the values before d)."""
        hidden, reach = made_masks(self.numbers())
        for M in reversed(hidden):
            reach = (reach.astype(np.int64) @ M) > 0                     # (D, H_{l-1})
        return reach.astype(bool)

    # -- the network, (M1)-(M2) -------------------------------------------------------------------
    def logits(self, x):
        """The logits of every conditional under the mask in use.

        Args:
            x: levels (N, *data_shape), integers 0..L-1 (or a float Tensor).

        Returns:
            Tensor (N, C, L, *spatial).
        """
        x = self.as_input(x)
        N, C = x.shape[0], self.data_shape[0]
        h = x.reshape(N, self.D) * (1.0 / (self.num_levels - 1))         # (N, D): h^0 = x / (L - 1)
        for layer in self.layers:
            h = layer(h).relu()                                          # (N, H_l), (M1)
        logits = self.output(h)                                          # (N, C*L*P), (M2)
        return logits.reshape((N, C, self.num_levels) + self.data_shape[1:])   # (N, C, L, *spatial)

    # -- training and the ensemble -----------------------------------------------------------
    def train_step(self, batch):
        """One Adam step on the mask in use, then the next of the K masks (§4.3-4.4)."""
        metrics = super().train_step(batch)
        if self.num_masks > 1:
            self.use_mask((self.current + 1) % self.num_masks)
        return metrics

    def nll_per_mask(self, x):
        """-log p_k(x) for every mask set k: float64 array (K, N); the mask in use is kept."""
        current, out = self.current, []
        try:
            with no_grad():
                for k in range(self.num_masks):
                    self.use_mask(k)
                    out.append(np.asarray(as_numpy(self.nll(x).data), np.float64))
        finally:
            self.use_mask(current)
        return np.stack(out)

    def log_prob_ensemble(self, x):
        """log p_ens(x) = logmeanexp_k log p_k(x), nats per example (N,)."""
        return logmeanexp(-self.nll_per_mask(x))                          # (K, N) -> (N,)

    def eval_step(self, batch):
        """``nll``: the mean single-mask NLL over the K masks; with K > 1 also
        ``nll_ensemble``, -log of the K models' average probability (and their bits/dim)."""
        x = self.split_batch(batch)[0]
        if self.num_masks == 1:
            return super().eval_step(batch)
        nll = self.nll_per_mask(x)                                       # (K, N)
        ensemble = self.nats_metrics(-logmeanexp(-nll))                  # -log (1/K) sum_k p_k(x)
        return {**self.nats_metrics(nll.mean(axis=0)),
                "nll_ensemble": ensemble["nll"], "bpd_ensemble": ensemble["bpd"]}

    def sample(self, n, rng):
        """``n`` samples of p_ens: each picks one of the K masks uniformly, then is drawn value by
        value in that mask's ordering (K = 1: plain ancestral sampling)."""
        if self.num_masks == 1:
            return super().sample(n, rng)
        which = rng.integers(self.num_masks, size=n)                     # the mixture's component
        out = np.zeros((n,) + self.data_shape, np.uint8 if self.num_levels <= 256 else np.int64)
        current = self.current
        try:
            for k in np.unique(which):
                self.use_mask(int(k))
                out[which == k] = super().sample(int((which == k).sum()), rng)
        finally:
            self.use_mask(current)
        return out

