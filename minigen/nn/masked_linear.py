"""``MaskedLinear``: a linear layer whose connectivity is a fixed 0/1 mask (MADE [1] §4).

    y = x (W ⊙ M)^T + b            W, M: (out_features, in_features)

The mask is *structural*: the product ``W * M`` is computed inside ``forward`` on
every call, so a masked entry of W never reaches the output and its gradient,
``dL/dW = (gy^T x) ⊙ M``, is exactly zero. The weights are never overwritten
(no ``weight.data *= mask``): changing the connectivity (MADE's order-agnostic
training swaps masks between steps) is ``set_mask(M)``, which replaces the mask
buffer and leaves W alone.

Initialisation is PyTorch's ``Linear`` default, uniform in ``+-1/sqrt(in_features)``
with masked entries counted in the fan-in (as a ``w * mask`` layer in PyTorch starts).

``connectivity`` and ``made_masks`` build MADE's masks from connectivity numbers ([1] §4.2,
eqs. (12)-(13)); the MADE model (``models/autoregressive/made.py``) and the MAF / IAF layers
(``nn/flows_autoregressive.py``) both use them.

Reference:
    [1] M. Germain, K. Gregor, I. Murray, H. Larochelle, "MADE: Masked Autoencoder for
        Distribution Estimation", ICML 2015. https://arxiv.org/abs/1502.03509 (§4, masks eqs. (12)-(13)).
"""
import numpy as np

from autograd import Tensor, as_numpy

from . import init
from .module import Module, Parameter

__all__ = ["MaskedLinear", "connectivity", "made_masks"]


class MaskedLinear(Module):
    """Affine map with a 0/1 connectivity mask: ``y = x (W * M)^T + b``.

    Args:
        in_features: size of the last axis of the input.
        out_features: size of the last axis of the output.
        mask: 0/1 (or bool) array (out_features, in_features); ``mask[k, j] = 1`` lets
            input j feed output k.
        bias: add the learned bias ``b`` (out_features,).
        rng: ``numpy.random.Generator`` for the initial weights.
        dtype: float dtype of the parameters (the mask buffer has the same dtype).
    """

    def __init__(self, in_features, out_features, mask, bias=True, *, rng, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.default_uniform((out_features, in_features), rng, dtype=dtype))
        self.bias = Parameter(init.default_uniform((out_features,), rng, fan_in=in_features,
                                                   dtype=dtype)) if bias else None
        self.register_buffer("mask", self._check(mask))

    def _check(self, mask):
        mask = np.asarray(as_numpy(getattr(mask, "data", mask)))
        if mask.shape != (self.out_features, self.in_features):
            raise ValueError(f"mask of shape {mask.shape} does not fit a MaskedLinear({self.in_features}, "
                             f"{self.out_features}): it must be (out_features, in_features) = "
                             f"{(self.out_features, self.in_features)}")
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("mask entries must be 0 or 1")
        return Tensor(mask.astype(self.weight.dtype))

    def set_mask(self, mask):
        """Replace the connectivity (weights untouched); ``mask`` as in the constructor."""
        self.mask = self._check(mask).to(self.weight.device)

    def forward(self, x):
        """Args: x (..., in_features). Returns: (..., out_features)."""
        y = x @ (self.weight * self.mask).T                    # (..., out_features)
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        live = int(as_numpy(self.mask.data).sum())
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"live={live}/{self.in_features * self.out_features}, bias={self.bias is not None}")


def connectivity(m0, hidden, rng):
    """The connectivity numbers of every layer, [1] §4.2.

    Args:
        m0: (D,) the ordering: m0[d] in 1..D is input d's position.
        hidden: sizes of the hidden layers.
        rng: ``numpy.random.Generator``.

    Returns:
        ``[m^0, m^1, ..., m^L]``: m^l (H_l,) uniform on {min m^{l-1}, ..., D - 1}.
    """
    D = len(m0)
    m = [np.asarray(m0, np.int64)]
    for H in hidden:
        m.append(rng.integers(m[-1].min(), D, size=H))                # high exclusive: max D - 1
    return m


def made_masks(m):
    """The masks of eqs. (12)-(13) from connectivity numbers ``[m^0, ..., m^L]``.

    Returns:
        ``(hidden, output)``: hidden[l - 1] = M^{W^l} (H_l, H_{l-1}) and output = M^V (D, H_L),
        0/1 arrays laid out (out, in) like the layers' weights.
    """
    hidden = [(m[l][:, None] >= m[l - 1][None, :]).astype(np.int8) for l in range(1, len(m))]  # eq. (12)
    output = (m[0][:, None] > m[-1][None, :]).astype(np.int8)                                  # eq. (13)
    return hidden, output
