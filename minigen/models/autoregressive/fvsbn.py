"""The fully visible sigmoid belief network (FVSBN) [1], as the NADE paper [2] describes it.

The simplest autoregressive model: every conditional is a *linear* function of the
values before it, squashed by a sigmoid ([2] §2, the FVSBN baseline)::

    p(x) = prod_{i=1}^{D} p(x_i | x_<i)                                   (1)
    p(x_i = 1 | x_<i) = sigm(b_i + sum_{j<i} W_ij x_j)                    (2) binary values

minigen's digits have L = 17 levels, so the sigmoid of (2) becomes an L-way softmax
whose L logits are each an affine function of the earlier values, scaled to [0, 1]::

    logits[i, l] = b[i, l] + sum_{j<i} W[i, j, l] * x_j / (L - 1)        (3)
    p(x_i = l | x_<i) = softmax_l(logits[i, :])

The sum over j < i is a masked weight: W is strictly lower triangular in the
generation order (raster order: pixel j = (j // W, j % W), numbered from 0), so the
whole of (3) for every i at once is one masked linear layer
(``minigen.nn.MaskedLinear``, mask ``M[(i, l), j] = 1 iff j < i``). No hidden units:
the model has D * (D + 1) * L parameters (70,720 on the 8x8 digits), and its only
capacity is pairwise and linear in the previous values, which is what NADE and MADE
improve on with a hidden layer.

Training maximises the exact log-likelihood; sampling draws one value at a time (the
autoregressive family's base, ``autoregressive/base.py``).

References:
    [1] B. J. Frey, "Graphical Models for Machine Learning and Digital Communication",
        MIT Press, 1998 (the fully visible sigmoid belief network).
    [2] H. Larochelle, I. Murray, "The Neural Autoregressive Distribution Estimator",
        AISTATS 2011. https://proceedings.mlr.press/v15/larochelle11a.html (§2: FVSBN).
"""
import numpy as np

from ...nn import MaskedLinear
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel

__all__ = ["FVSBN", "check_data"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17)
_PROTOCOL = dict(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64, lr=1e-3, seed=0)


def check_data(model_name, data_shape, num_levels):
    """Validate ``data_shape`` ((C, H, W) or (C, T)) and ``num_levels`` (an integer >= 2)."""
    check_positive(data_shape=data_shape)
    if len(data_shape) not in (2, 3):
        raise ValueError(f"data_shape={tuple(data_shape)} is not allowed: {model_name} models images "
                         "(C, H, W) or sequences (C, T)")
    if not isinstance(num_levels, int) or num_levels < 2:
        raise ValueError(f"num_levels={num_levels!r} is not allowed: num_levels must be an integer >= 2")


def output_mask(dependency, C, L):
    """Rows of a masked output layer laid out (c, l, position), each the row of its value.

    Args:
        dependency: (D, K) 0/1, row v = what value v's logits may see (v = c * P + position).
        C, L: channels and levels.

    Returns:
        (C * L * P, K): row ``(c * L + l) * P + p`` is row ``c * P + p`` of ``dependency``.
    """
    D, K = dependency.shape
    P = D // C
    per_value = dependency.reshape(C, 1, P, K)
    return np.broadcast_to(per_value, (C, L, P, K)).reshape(C * L * P, K)


@register("fvsbn")
class FVSBN(AutoregressiveModel):
    """Fully visible sigmoid belief net with an L-way softmax per value, eq. (3).

    Args:
        data_shape: (C, H, W) or (C, T) of one example; C > 1 orders channels within a
            position (R -> G -> B) as the family's ``order()`` does.
        num_levels: L, the values each takes (0..L-1); L = 2 trains on the binarised view.
        rng: generator or seed for the initial weights.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(model=_DIGITS, train=TrainConfig(**_PROTOCOL),
                                   about="FVSBN on the digits protocol (README): W masked lower triangular"),
        "digits-tiny": Preset(model=_DIGITS, about="seconds on a CPU (smoke tests)",
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=1e-2, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_data("FVSBN", data_shape, num_levels)
        self.data_shape, self.num_levels = tuple(data_shape), int(num_levels)
        self.dataset_view = "binary" if self.num_levels == 2 else "raw"
        self.D = int(np.prod(self.data_shape))
        C, L = self.data_shape[0], self.num_levels
        # M[(c, l, p), j] = 1 iff value j comes before value (c, p): W strictly lower triangular, eq. (3)
        mask = output_mask(self.dependency_mask(), C, L)                 # (C*L*P, D)
        self.linear = MaskedLinear(self.D, C * L * (self.D // C), mask, rng=self.rng, dtype=dtype)

    def logits(self, x):
        """Eq. (3) for every value at once.

        Args:
            x: levels (N, *data_shape), integers 0..L-1 (or a float Tensor).

        Returns:
            Tensor (N, C, L, *spatial).
        """
        x = self.as_input(x)
        N, C = x.shape[0], self.data_shape[0]
        v = x.reshape(N, self.D) * (1.0 / (self.num_levels - 1))         # (N, D): x_j / (L - 1)
        logits = self.linear(v)                                          # (N, C*L*P): b + (W * M) v
        return logits.reshape((N, C, self.num_levels) + self.data_shape[1:])   # (N, C, L, *spatial)

    @property
    def W(self):
        """The effective weights W[i, j, l] of eq. (3) as an array (D, D, L) (masked entries 0)."""
        C, L, D = self.data_shape[0], self.num_levels, self.D
        w = (self.linear.weight.numpy() * self.linear.mask.numpy()).reshape(C, L, D // C, D)
        return w.transpose(0, 2, 3, 1).reshape(D, D, L)                 # (value i, input j, level l)
