"""Implementation of MAF [1]: Masked Autoregressive Flow.

MAF stacks K autoregressive affine layers, each a MADE network [2] that reads the data
side (``nn.MaskedAutoregressiveAffine``, ``nn/flows_autoregressive.py``: forward = data ->
latent). Layer k maps its input v to ([1] §3.1)::

    u_d = (v_d - mu_d(v_<d)) exp(-alpha_d(v_<d)),      log|det du/dv^T| = -sum_d alpha_d(v_<d)

and the change of variables adds the K log-dets to the prior's log-density ([1] eq. (1))::

    log p(x) = log N(z; 0, I) - sum_{k=1}^{K} sum_d alpha^(k)_d

**One pass or D passes.** All mu_d, alpha_d of a layer come from one MADE pass over v,
so the density of any x costs K passes: MAF is made for density estimation. Sampling
inverts each layer value by value, v_d = u_d exp(alpha_d) + mu_d, D passes per layer
(K D in all). IAF (``iaf.py``) is the same layer with its sides swapped: one-pass
sampling, D-pass density. The README's timing table measures the trade-off.

**Orderings** ([1] §3.1, §4). One layer models only one autoregressive order; stacking
layers with the order *reversed* between them lets the second undo the first's
restrictions, and the stack is more flexible than one deeper MADE.

**digits-reference** (the README's protocol, images flattened to the 64 values)::

    x (64) -> dequantise (x + u)/17 -> logit (alpha 0.05) ->
    5 x MAF layer, MADE 64 -> 256 -> 256 -> 2*64 (ReLU; outputs mu, alpha), order 1..64 in
    layers 1, 3, 5 and 64..1 in layers 2, 4 -> z ~ N(0, I_64)

Adam 1e-3, batch 64, seed 0, early stopping on validation NLL (patience 20, cap 200 epochs),
test NLL over 10 dequantisation draws. PyTorch's default initialisation; no batch
normalisation between layers ([1] uses it; left out here).

References:
    [1] G. Papamakarios, T. Pavlakou, I. Murray, "Masked Autoregressive Flow for Density
        Estimation", NeurIPS 2017. https://arxiv.org/abs/1705.07057
    [2] M. Germain, K. Gregor, I. Murray, H. Larochelle, "MADE", ICML 2015, §4.
"""
import numpy as np

from ...nn import FlowSequence, MaskedAutoregressiveAffine
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import FlowModel
from .nice import check_levels

__all__ = ["MAF", "autoregressive_stack"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, layers=5, hidden=(256, 256), alpha=0.05, test_draws=10)
_TOY = dict(data_shape=(2,), num_levels=None, layers=5, hidden=(64, 64))


def autoregressive_stack(dim, layers, hidden, inverted, rng, dtype):
    """``layers`` MAF (or IAF, ``inverted``) layers on D values, the order reversed between them."""
    natural = np.arange(1, dim + 1)
    return FlowSequence([MaskedAutoregressiveAffine(dim, hidden, natural if k % 2 == 0 else natural[::-1],
                                                    inverted=inverted, rng=rng, dtype=dtype)
                         for k in range(layers)])


def check_arguments(model, data_shape, num_levels, layers, hidden, eval_draws):
    hidden = (hidden,) if np.isscalar(hidden) else tuple(hidden)
    check_positive(data_shape=data_shape, layers=layers, hidden=hidden, eval_draws=eval_draws)
    check_levels(num_levels)
    if not hidden:
        raise ValueError(f"hidden=() is not allowed: {model} needs at least one hidden layer")
    return hidden


@register("maf")
class MAF(FlowModel):
    """MAF (Papamakarios et al. 2017): K MADE affine layers, orders reversed, a N(0, I) prior.

    Args:
        data_shape: shape of one example (flattened to D values).
        num_levels: L for discrete data (17 for digits), None for continuous data.
        layers: K, the autoregressive layers.
        hidden: sizes of each MADE's hidden layers.
        alpha: logit margin for discrete data.
        eval_draws: dequantisation draws per validation batch.
        test_draws: draws per test image of the end-of-run report (0: none).
        rng: generator or seed for the weights, the MADE connectivity and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="MAF on the digits protocol: 5 MADE layers 64-256-256-128, orders reversed",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, layers=2, hidden=(64,), test_draws=2), about="seconds on a CPU",
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
        "moons": Preset(model=_TOY, train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, layers=5, hidden=(256, 256), alpha=0.05,
                 eval_draws=1, test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        hidden = check_arguments("MAF", data_shape, num_levels, layers, hidden, eval_draws)
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws, flat=True)
        self.flow = autoregressive_stack(self.D, layers, hidden, False, self.rng, dtype)
