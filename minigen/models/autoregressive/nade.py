"""The Neural Autoregressive Distribution Estimator (NADE) [1]: one hidden layer, weights shared.

NADE writes p(x) as a product of conditionals in a fixed order ([1] §3)::

    p(x) = prod_{i=1}^{D} p(x_i | x_<i)                                   (N1)

and computes each conditional with a hidden layer of H sigmoid units that sees only
the earlier values. For binary values [1] uses a sigmoid output; minigen's digits have
L = 17 levels, so each conditional is an L-way softmax with its own output weights
V_i (L x H) and bias b_i (L)::

    h_i = sigm(c + W[:, <i] x_<i)            W: H x D, c: H               (N2)
    logits_i = V_i h_i + b_i                 V: D x L x H, b: D x L        (N3)
    p(x_i = l | x_<i) = softmax_l(logits_i)

with values scaled to [0, 1] (x / (L - 1)) wherever they enter the network.

**The O(HD) forward** ([1] §3, Algorithm 1). Every h_i uses the *same* W and c, only
with one more column each time, so the pre-activations obey a running sum::

    a_1 = c                                                               (N4)
    a_{i+1} = a_i + W[:, i] x_i                                           (N5)
    h_i = sigm(a_i)

which costs O(H) per value and O(HD) for all D conditionals, where evaluating (N2)
separately for every i costs O(HD^2) (``logits_naive``, the test's oracle). The
recurrence is a cumulative sum over i of the terms ``W[:, i] x_i``; ``logits`` computes
all of them with one ``cumsum`` (autograd/ops/scan.py) and shifts it by one so that
a_i holds the values *before* i. NADE is FVSBN (fvsbn.py) with a shared hidden
layer: the sigmoid of a linear function of the earlier values, fed through V_i.

Index convention: values are numbered 0..D-1 in the generation order (raster order
for grey images: pixel i = (i // W, i % W)); column i of W belongs to value i.

Initialisation is PyTorch's default for the two linear maps: W, c uniform in
+-1/sqrt(D) (the input layer x -> a), V, b uniform in +-1/sqrt(H).

References:
    [1] H. Larochelle, I. Murray, "The Neural Autoregressive Distribution Estimator",
        AISTATS 2011. https://proceedings.mlr.press/v15/larochelle11a.html (§3, Algorithm 1;
        (N1)-(N5) are this module's labels of its equations).
    [2] B. Uria, M.-A. Cote, K. Gregor, I. Murray, H. Larochelle, "Neural Autoregressive
        Distribution Estimation", JMLR 17(205), 2016. https://arxiv.org/abs/1605.02226
        (§3: the same model, with softmax outputs for discrete values).
"""
import numpy as np

from autograd import ops

from ...nn import Parameter, init
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel
from .fvsbn import check_data

__all__ = ["NADE"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, hidden=256)


@register("nade")
class NADE(AutoregressiveModel):
    """NADE with an L-way softmax per value, eqs. (N1)-(N5).

    Args:
        data_shape: (C, H, W) or (C, T) of one example; channels within a position are
            ordered as the family's ``order()`` says (R -> G -> B).
        num_levels: L, the values each takes (0..L-1); L = 2 trains on the binarised view.
        hidden: H, the hidden units shared by every conditional.
        rng: generator or seed for the initial weights.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="NADE on the digits protocol (README): H = 256 sigmoid units",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=32), about="seconds on a CPU (smoke tests)",
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=1e-2, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=256, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_data("NADE", data_shape, num_levels)
        check_positive(hidden=hidden)
        self.data_shape, self.num_levels, self.hidden = tuple(data_shape), int(num_levels), int(hidden)
        self.dataset_view = "binary" if self.num_levels == 2 else "raw"
        D, H, L = int(np.prod(self.data_shape)), self.hidden, self.num_levels
        self.D = D
        self.W = Parameter(init.default_uniform((H, D), self.rng, dtype=dtype))              # (N2)
        self.c = Parameter(init.default_uniform((H,), self.rng, fan_in=D, dtype=dtype))
        self.V = Parameter(init.default_uniform((D, L, H), self.rng, fan_in=H, dtype=dtype))  # (N3)
        self.b = Parameter(init.default_uniform((D, L), self.rng, fan_in=H, dtype=dtype))
        rank = self.order()
        self.perm = np.argsort(rank)       # perm[i] = flat index (C, *spatial) of the i-th value
        self.rank = rank                   # rank[flat index] = its place i in the order

    def _in_order(self, x):
        """Integer levels -> values scaled to [0, 1], in the generation order: Tensor (N, D)."""
        x = self.as_input(x)
        v = x.reshape(len(x), self.D) * (1.0 / (self.num_levels - 1))   # (N, D) flat (C, *spatial)
        return v if self.data_shape[0] == 1 else v[:, self.perm]          # grey: already in order

    def _as_logits(self, logits):
        """(N, D, L) in the generation order -> the family's layout (N, C, L, *spatial)."""
        N, C, L = logits.shape[0], self.data_shape[0], self.num_levels
        if C > 1:
            logits = logits[:, self.rank]                                # back to flat (C, *spatial)
        logits = logits.reshape(N, C, self.D // C, L).transpose(0, 1, 3, 2)   # (N, C, L, P)
        return logits.reshape((N, C, L) + self.data_shape[1:])            # (N, C, L, *spatial)

    def logits(self, x):
        """All D conditionals in O(HD) per example: the running sum (N4)-(N5), vectorised.

        Args:
            x: levels (N, *data_shape), integers 0..L-1 (or a float Tensor).

        Returns:
            Tensor (N, C, L, *spatial).
        """
        # The recurrence as a loop (0-based: value i is the paper's i + 1):
        #     a = c                                                       (N4)
        #     for i in range(D):
        #         h[i] = sigm(a);  logits[i] = V[i] h[i] + b[i]           (N2)-(N3)
        #         a = a + W[:, i] x[i]                                    (N5)
        # A cumulative sum over i of the terms W[:, i] x[i] gives every a at once.
        v = self._in_order(x)                                            # (N, D)
        N, D, H = v.shape[0], self.D, self.hidden
        terms = v.T.reshape(D, N, 1) * self.W.T.reshape(D, 1, H)         # (D, N, H): [j, n] = W[:, j] x_j
        upto = ops.cumsum(terms, axis=0)                                 # (D, N, H): sum_{j <= i}, (N5)
        a = ops.pad(upto[:D - 1], ((1, 0), (0, 0), (0, 0))) + self.c     # (D, N, H): c + sum_{j < i}, (N4)
        h = a.sigmoid()                                                  # (D, N, H): h_i, (N2)
        logits = h @ self.V.transpose(0, 2, 1)                           # (D, N, L): V_i h_i, (N3)
        return self._as_logits(logits.transpose(1, 0, 2) + self.b)       # (N, D, L) + b_i

    def logits_naive(self, x):
        """The same conditionals computed one at a time from (N2), O(HD^2): the tests' oracle.

        Returns:
            Tensor (N, C, L, *spatial).
        """
        v = self._in_order(x)                                            # (N, D)
        rows = [self._conditional(v, i) for i in range(self.D)]          # D x (N, L)
        return self._as_logits(ops.stack(rows, axis=1))                  # (N, D, L) -> family layout

    def _conditional(self, v, i):
        """logits_i = V_i sigm(c + W[:, <i] x_<i) + b_i, eqs. (N2)-(N3): Tensor (N, L)."""
        a = self.c + v[:, :i] @ self.W[:, :i].T                          # (N, H); a_1 = c when i = 0
        return a.sigmoid() @ self.V[i].T + self.b[i]                     # (N, L)

    def conditional_logits(self, x, c, index):
        """Logits (N, L) of one value for sampling: (N2)-(N3) for it alone, O(HD)."""
        flat = np.ravel_multi_index((c,) + tuple(index), self.data_shape)
        return self._conditional(self._in_order(x), int(self.rank[flat]))
