"""Implementation of NICE [1]: Non-linear Independent Components Estimation.

NICE is the first coupling flow: a stack of *additive* couplings, which preserve volume,
followed by one diagonal scaling layer that does not, and a factorised logistic prior.
The bijections are ``nn.AdditiveCoupling`` and ``nn.DiagonalScaling`` (``nn/flows_nice.py``:
forward = data -> latent). The change of variables, term by term::

    h_1 = x + couplings ...          log|det| = 0 each (unit triangular Jacobian, [1] §3.2)
    z   = exp(s) * h_4               log|det| = sum_d s_d                        ([1] §3.3)
    log p(x) = sum_d log p_L(z_d) + sum_d s_d                                    ([1] eq. (2))

with the standard logistic prior of [1] §3.4 (heavier tails than a Gaussian, so the
gradient does not vanish far out)::

    log p_L(z) = -log(1 + e^z) - log(1 + e^-z) = -softplus(z) - softplus(-z)
    sampling:  z = log u - log(1 - u),   u ~ U(0, 1)

Couplings alternate which half of the values they shift: layer k keeps the even
indices when k is even and the odd ones when k is odd ([1] §5.1), so after two layers
every value has been changed by a function of the others. Each shift network m is an
MLP |I1| -> hidden -> ... -> hidden -> |I2| with ReLU.

**digits-reference** (the README's protocol, images flattened to the 64 values)::

    x (64) -> dequantise (x + u)/17 -> logit (alpha 0.05) ->
    4 x additive coupling, m = MLP 32 -> 256 -> 256 -> 32 (ReLU), halves even / odd alternating
    -> diagonal scaling (64 log-scales) -> z ~ logistic(0, 1)^64

Adam 1e-3, batch 64, seed 0, early stopping on validation NLL (patience 20, cap 200 epochs),
test NLL over 10 dequantisation draws. PyTorch's default initialisation (s starts at 0).

Reference:
    [1] L. Dinh, D. Krueger, Y. Bengio, "NICE: Non-linear Independent Components
        Estimation", ICLR 2015 workshop. https://arxiv.org/abs/1410.8516
"""
import numpy as np

from autograd import functional

from ...nn import AdditiveCoupling, DiagonalScaling, FlowSequence, Linear, ReLU, Sequential
from ...nn.flows_nice import odd_even_split
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import FlowModel

__all__ = ["NICE", "mlp"]

PRIORS = ("logistic", "normal")
_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, couplings=4, hidden=256, depth=2, prior="logistic",
               alpha=0.05, test_draws=10)
_TOY = dict(data_shape=(2,), num_levels=None, couplings=4, hidden=64, depth=2, prior="normal")


def mlp(n_in, hidden, depth, n_out, rng, dtype):
    """n_in -> hidden (x depth, ReLU) -> n_out, PyTorch's default initialisation."""
    sizes = [n_in] + [hidden] * depth
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(a, b, rng=rng, dtype=dtype), ReLU()]
    return Sequential(*layers, Linear(sizes[-1], n_out, rng=rng, dtype=dtype))


def check_levels(num_levels):
    if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 2):
        raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2, or None")


@register("nice")
class NICE(FlowModel):
    """NICE (Dinh et al. 2015): additive couplings, a scaling layer and a logistic prior.

    Args:
        data_shape: shape of one example (flattened to D values).
        num_levels: L for discrete data (17 for digits), None for continuous data.
        couplings: additive coupling layers (4 in [1]).
        hidden: width of each shift network's hidden layers.
        depth: hidden layers of each shift network.
        prior: "logistic" ([1] §3.4) or "normal".
        alpha: logit margin for discrete data.
        eval_draws: dequantisation draws per validation batch.
        test_draws: draws per test image of the end-of-run report (0: none).
        rng: generator or seed for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="NICE on the digits protocol: 4 additive couplings, scaling, logistic prior",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=32, test_draws=2), about="seconds on a CPU",
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
        "moons": Preset(model=_TOY, train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, couplings=4, hidden=256, depth=2,
                 prior="logistic", alpha=0.05, eval_draws=1, test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, couplings=couplings, hidden=hidden, depth=depth,
                       eval_draws=eval_draws)
        check_levels(num_levels)
        if prior not in PRIORS:
            raise ValueError(f"prior={prior!r} is not allowed: choose one of {PRIORS}")
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws, flat=True)
        if self.D < 2:
            raise ValueError(f"data_shape={self.data_shape} is not allowed: a coupling needs D >= 2 values")
        self.prior = prior
        steps = []
        for k in range(couplings):
            kept, changed = odd_even_split(self.D, k % 2)                     # [1] §5.1: alternate halves
            steps.append(AdditiveCoupling(mlp(len(kept), hidden, depth, len(changed), self.rng, dtype),
                                          kept, changed))
        steps.append(DiagonalScaling(self.D, dtype=dtype))
        self.flow = FlowSequence(steps)

    def log_prior(self, z):
        """Sum over values of log p_L(z_d) = -softplus(z_d) - softplus(-z_d) (logistic), or N(0, I)."""
        if self.prior == "normal":
            return super().log_prior(z)
        return -(functional.softplus(z) + functional.softplus(-z)).sum(axis=1)

    def sample_prior(self, n, rng):
        """Logistic draws z = log u - log(1 - u), or standard normal ones."""
        if self.prior == "normal":
            return super().sample_prior(n, rng)
        u = rng.uniform(1e-7, 1 - 1e-7, size=(n, self.D))
        return np.log(u) - np.log1p(-u)
