"""Neural spline flow [1]: coupling layers whose element-wise maps are monotone
rational-quadratic splines.

Each coupling (``nn.RQSplineCoupling``, ``nn/flows_spline.py``) keeps half of the values
and sends every other value x_i through its own spline g_theta_i, whose parameters
theta_i (K widths, K heights, K - 1 inner slopes) an MLP computes from the kept half.
The spline ([1] §3.1, eqs. (4)-(5); ``kernels/reference/spline.py``) maps [-B, B] onto
itself through K bins and is the identity outside; its inverse is the root of a quadratic
([1] App. A, eqs. (6)-(8)). The change of variables, term by term::

    y   = logit(alpha + (1 - 2 alpha) x')    log|det| = sum_d log dy_d/dx'_d          (FlowModel)
    h_k = coupling_k(h_{k-1})                log|det| = sum_{i in I2} log g'_theta_i(h_i)   (eq. (5))
    log p(x') = log N(h_K; 0, I) + sum_k log|det_k| + log|det logit|

Couplings alternate their halves: on images a checkerboard of the flattened pixels
(b = 1 where h + w + k is even), on vectors the even / odd indices; so after two layers
every value has been transformed by a function of the others.

**digits-reference** (the README's protocol, images flattened to the 64 values)::

    x (64) -> dequantise (x + u)/17 -> logit (alpha 0.05) ->
    4 x RQ-spline coupling, K = 8 bins on [-3, 3] (the logit's range is +-2.94), linear tails;
        theta = MLP 32 -> 256 -> 256 -> 32 * (3*8 - 1) = 736 (ReLU), checkerboard halves alternating
    -> z ~ N(0, I_64)

Adam 1e-3, batch 64, seed 0, early stopping on validation NLL (patience 20, cap 200 epochs),
test NLL over 10 dequantisation draws. PyTorch's default initialisation.

Reference:
    [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios, "Neural Spline Flows",
        NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""
import numpy as np

from ...nn import FlowSequence, Linear, ReLU, Sequential
from ...nn.flows_spline import RQSplineCoupling, split_by_mask
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import FlowModel

__all__ = ["SplineFlow", "coupling_masks"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, couplings=4, bins=8, bound=3.0, hidden=256, alpha=0.05,
               test_draws=10)
_TOY = dict(data_shape=(2,), num_levels=None, couplings=4, bins=8, bound=4.5, hidden=64)


def coupling_masks(data_shape, n):
    """n alternating 0/1 masks (1 = kept) over the flattened values: a checkerboard of the pixels
    for (C, H, W) images (the same on every channel), even / odd indices for (D,) vectors."""
    masks = []
    for k in range(n):
        if len(data_shape) == 3:
            C, H, W = data_shape
            h, w = np.indices((H, W))
            b = np.broadcast_to((h + w + k) % 2 == 0, (C, H, W))
        else:
            b = (np.arange(int(np.prod(data_shape))) + k) % 2 == 0
        masks.append(b.reshape(-1).astype(np.float32))
    return masks


def theta_net(n_in, hidden, n_out, rng, dtype):
    """The spline parameters' MLP: n_in -> hidden -> hidden -> n_out (ReLU)."""
    return Sequential(Linear(n_in, hidden, rng=rng, dtype=dtype), ReLU(),
                      Linear(hidden, hidden, rng=rng, dtype=dtype), ReLU(),
                      Linear(hidden, n_out, rng=rng, dtype=dtype))


@register("spline-flow")
class SplineFlow(FlowModel):
    """Neural spline flow (Durkan et al. 2019): rational-quadratic spline couplings.

    Args:
        data_shape: shape of one example: (C, H, W) images or (D,) vectors (flattened inside).
        num_levels: L for discrete data (17 for digits), None for continuous data.
        couplings: number of spline coupling layers.
        bins: K, bins of every spline.
        bound: B, the splines live on [-B, B] (identity outside).
        hidden: width of the parameter MLPs.
        alpha: logit margin (discrete data).
        eval_draws: dequantisation draws per validation batch.
        test_draws: draws per test image of the end-of-run report (0: none).
        rng: generator or seed for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="4 spline couplings, K = 8, B = 3, MLP 32-256-256-736; the README's protocol",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, couplings=2, bins=4, hidden=32, test_draws=2),
                              about="seconds on a CPU",
                              train=TrainConfig(data="digits", epochs=4, batch_size=64, lr=3e-3, seed=0)),
        "moons": Preset(model=_TOY, train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
        "checkerboard": Preset(model=dict(_TOY, couplings=6, hidden=128),
                               train=TrainConfig(data="checkerboard", epochs=30, batch_size=128, lr=1e-3,
                                                 seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, couplings=4, bins=8, bound=3.0, hidden=256,
                 alpha=0.05, eval_draws=1, test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, couplings=couplings, hidden=hidden, eval_draws=eval_draws)
        if not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins={bins!r} is not allowed: an integer >= 2")
        if not bound > 0:
            raise ValueError(f"bound={bound!r} is not allowed: the splines' interval [-B, B] needs B > 0")
        if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 2):
            raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2, or None")
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws, flat=True)
        if self.D < 2:
            raise ValueError(f"data_shape={self.data_shape} is not allowed: a coupling needs D >= 2 values")
        steps = []
        for b in coupling_masks(self.data_shape, couplings):
            kept, changed = split_by_mask(b)
            net = theta_net(len(kept), hidden, len(changed) * (3 * bins - 1), self.rng, dtype)
            steps.append(RQSplineCoupling(net, kept, changed, bins, bound))
        self.flow = FlowSequence(steps)
