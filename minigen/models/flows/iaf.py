"""Implementation of IAF [1] as a density model: Inverse Autoregressive Flow.

IAF uses MAF's layer with the two sides swapped (``nn.MaskedAutoregressiveAffine`` with
``inverted=True``, forward = data -> latent): the MADE network reads the *latent* side.
Sampling is one pass per layer ([1] §4, eq. (10), with sigma = exp(alpha))::

    x_d = z_d exp(alpha_d(z_<d)) + mu_d(z_<d)

while the density of a given x must recover z value by value, D passes per layer::

    z_d = (x_d - mu_d(z_<d)) exp(-alpha_d(z_<d)),     log p(x) = log N(z; 0, I) - sum alpha

That is why [1] uses IAF as a variational posterior, where the flow only ever scores
its own samples (z is known, one pass: ``MaskedAutoregressiveAffine.inverse_and_log_det``),
and why MAF ([2], ``maf.py``) is the choice for density estimation. This registered model
fits IAF by maximum likelihood all the same, on 2-D toys, where D = 2 passes cost nothing.
**No digits preset**: its density needs 64 sequential MADE passes per layer with the
graph recorded (320 passes per step for 5 layers); the timings in the README
(``examples/16_flows.py``) show the factor against MAF.

Layers as in ``maf.py``: K layers, the order reversed between them, each MADE
D -> hidden -> ... -> 2D (ReLU), PyTorch's default initialisation, a N(0, I) prior.

References:
    [1] D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling,
        "Improved Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016.
        https://arxiv.org/abs/1606.04934
    [2] G. Papamakarios, T. Pavlakou, I. Murray, "Masked Autoregressive Flow for Density
        Estimation", NeurIPS 2017, §3.2 (IAF as MAF with its sides swapped).
        https://arxiv.org/abs/1705.07057
"""
import numpy as np

from ..registry import Preset, TrainConfig, register
from .base import FlowModel
from .maf import autoregressive_stack, check_arguments

__all__ = ["IAF"]

_TOY = dict(data_shape=(2,), num_levels=None, layers=5, hidden=(64, 64))


@register("iaf")
class IAF(FlowModel):
    """IAF (Kingma et al. 2016) fitted by maximum likelihood: MAF's layers with the sides swapped.

    Args:
        data_shape: shape of one example (flattened to D values).
        num_levels: L for discrete data, None for continuous data.
        layers: K, the autoregressive layers.
        hidden: sizes of each MADE's hidden layers.
        alpha: logit margin for discrete data.
        eval_draws: dequantisation draws per validation batch.
        test_draws: draws per test image of the end-of-run report (0: none).
        rng: generator or seed for the weights, the MADE connectivity and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "moons"
    presets = {
        "moons": Preset(model=_TOY, about="IAF by maximum likelihood on the two moons (D = 2 passes)",
                        train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
        "checkerboard": Preset(model=dict(_TOY, layers=8, hidden=(128, 128)),
                               train=TrainConfig(data="checkerboard", epochs=30, batch_size=128, lr=1e-3, seed=0)),
    }

    def __init__(self, data_shape=(2,), num_levels=None, layers=5, hidden=(64, 64), alpha=0.05,
                 eval_draws=1, test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        hidden = check_arguments("IAF", data_shape, num_levels, layers, hidden, eval_draws)
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws, flat=True)
        self.flow = autoregressive_stack(self.D, layers, hidden, True, self.rng, dtype)
