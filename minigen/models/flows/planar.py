"""Planar and radial flows [1] as density models, and as variational posteriors fitted by reverse KL.

A stack of K planar (or radial) layers, ``nn.Planar`` / ``nn.Radial`` (``nn/flows_planar.py``,
with the invertibility constraint written out), after one elementwise affine layer
(``nn.ActNorm`` on vectors: the planar layers need not learn the data's scale).

**As a density** (``PlanarFlow``, the registered ``planar``): forward maps data -> latent
as every flow in minigen, and the change of variables reads ([1] eq. (13), in that
direction)::

    log p(x) = log N(f_K o ... o f_1(x); 0, I) + sum_k log|1 + u_hat_k^T psi_k(x_{k-1})|

Sampling inverts each layer by a one-dimensional solve (bisection for planar, a
quadratic for radial). Planar layers are weak one at a time (each bends space along
one direction): many are needed, which is what motivated the coupling flows.

**As a variational posterior** ([1] §4), the use [1] introduced them for: noise eps ~
N(0, I) is pushed through the *same* forward map, x = f(eps), so its density is known
on the spot, log q(x) = log N(eps) - log|det df/deps|. Fitting q to an unnormalised
target p~(x) = exp(-U(x)) minimises the reverse KL, the flow's free energy ([1] §4.2)::

    KL(q || p) - log Z = E_eps[ log N(eps) - log|det df/deps| + U(f(eps)) ]

(``reverse_kl``: no samples of p are needed, only U). An IAF posterior is used the same
way with ``MaskedAutoregressiveAffine(..., inverted=False)`` layers: their forward on the
noise is one pass (the IAF of [3] is a MAF run from noise to sample).

References:
    [1] D. J. Rezende, S. Mohamed, "Variational Inference with Normalizing Flows", ICML 2015.
        https://arxiv.org/abs/1505.05770 (Table 1: the test energies U_1 .. U_4)
    [2] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed, B. Lakshminarayanan,
        "Normalizing Flows for Probabilistic Modeling and Inference", JMLR 2021, §2.3 (reverse KL).
    [3] D. P. Kingma et al., "Improved Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016.
"""
import numpy as np

from autograd import Tensor, functional, ops

from ...nn import ActNorm, FlowSequence, Planar, Radial
from ...nn.losses import standard_normal_log_prob
from ...optim import Adam
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import FlowModel
from .nice import check_levels

__all__ = ["PlanarFlow", "planar_stack", "reverse_kl", "fit_reverse_kl", "ring_energy", "banana_energy"]

KINDS = {"planar": Planar, "radial": Radial}
_TOY = dict(data_shape=(2,), num_levels=None, flows=32, kind="planar")


def planar_stack(dim, flows, kind, rng, dtype=np.float32):
    """ActNorm(D), then ``flows`` planar or radial layers on D values."""
    return FlowSequence([ActNorm(dim, dtype=dtype)] + [KINDS[kind](dim, rng=rng, dtype=dtype) for _ in range(flows)])


# -- variational use: reverse KL to an unnormalised target -----------------------------------
def ring_energy(x):
    """U_1 of [1] Table 1, a ring of radius 2 cut into two modes along the first axis:
    U(x) = 0.5 ((||x|| - 2) / 0.4)^2 - log(exp(-0.5 ((x_1 - 2)/0.6)^2) + exp(-0.5 ((x_1 + 2)/0.6)^2))."""
    r = (x * x).sum(axis=1).sqrt()
    a = ops.stack([-0.5 * ((x[:, 0] - 2.0) * (1 / 0.6)) ** 2, -0.5 * ((x[:, 0] + 2.0) * (1 / 0.6)) ** 2], axis=1)
    return 0.5 * ((r - 2.0) * (1 / 0.4)) ** 2 - functional.logsumexp(a, axis=1)


def banana_energy(x):
    """A banana: x_1 ~ N(0, 1), x_2 | x_1 ~ N(x_1^2 / 2 - 1, 0.5^2); U = -log of that (up to a constant)."""
    return 0.5 * x[:, 0] ** 2 + 0.5 * ((x[:, 1] - 0.5 * x[:, 0] ** 2 + 1.0) * 2.0) ** 2


def reverse_kl(flow, energy, eps):
    """Monte-Carlo estimate of KL(q || p) - log Z = E[log q(x) + U(x)], x = flow(eps).

    Args:
        flow: a ``Flow`` used as a sampler: its forward maps noise to samples.
        energy: U, a function of a Tensor (N, D) returning (N,); p~ = exp(-U).
        eps: noise (N, D), N(0, I) draws.

    Returns:
        (loss Tensor (), samples Tensor (N, D)).
    """
    eps = eps if isinstance(eps, Tensor) else Tensor(eps)
    x, log_det = flow(eps)                                          # log|det dx/deps|
    log_q = standard_normal_log_prob(eps) - log_det                 # log q(x), change of variables
    return (log_q + energy(x)).mean(), x


def fit_reverse_kl(flow, energy, dim, steps=500, batch=256, lr=1e-2, rng=0):
    """Adam on ``reverse_kl`` with fresh noise (batch, dim) every step; returns the losses (floats)."""
    rng = np.random.default_rng(rng)
    dtype = flow.parameters()[0].dtype
    flow.train()
    optimizer, losses = Adam(flow.parameters(), lr=lr), []
    for _ in range(steps):
        loss, _ = reverse_kl(flow, energy, rng.standard_normal((batch, dim)).astype(dtype))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses


# -- density use: the registered model --------------------------------------------------------
@register("planar")
class PlanarFlow(FlowModel):
    """K planar (or radial) layers after an elementwise affine layer, a N(0, I) prior.

    Args:
        data_shape: shape of one example (flattened to D values); 2-D toys are its place.
        num_levels: L for discrete data, None for continuous data.
        flows: K, the planar or radial layers.
        kind: "planar" or "radial".
        alpha: logit margin for discrete data.
        eval_draws: dequantisation draws per validation batch.
        test_draws: draws per test image of the end-of-run report (0: none).
        rng: generator or seed for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "moons"
    presets = {
        "moons": Preset(model=_TOY, about="32 planar layers on the two moons",
                        train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
        "moons-radial": Preset(model=dict(_TOY, kind="radial"), about="32 radial layers on the two moons",
                               train=TrainConfig(data="moons", epochs=30, batch_size=128, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(2,), num_levels=None, flows=32, kind="planar", alpha=0.05, eval_draws=1,
                 test_draws=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, flows=flows, eval_draws=eval_draws)
        check_levels(num_levels)
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is not allowed: choose one of {tuple(KINDS)}")
        self._setup_data(data_shape, num_levels, alpha, eval_draws, test_draws, flat=True)
        self.flow = planar_stack(self.D, flows, kind, self.rng, dtype)
