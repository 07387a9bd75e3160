"""The binary-binary restricted Boltzmann machine [1, 2], trained by CD-k or persistent CD [3],
with its log-likelihood estimated by annealed importance sampling [4, 5].

The model is (``boltzmann.py`` has the arithmetic and the references' equations)

    E(v, h) = -b.v - c.h - v^T W h,       F(v) = -b.v - sum_j softplus(c_j + v.W_:j)

and F is this model's ``energy``: p(v) = exp(-F(v)) / Z. The log-likelihood gradient is
([1] eq. (5); [2] §2)

    d log p(v) / dW = v sigmoid(c + v.W)^T - E_model[ v' sigmoid(c + v'.W)^T ]
                    = -dF(v)/dW + E_model[ dF(v')/dW ]

which is exactly the gradient of ``EnergyModel``'s surrogate mean F(data) - mean F(negatives).
The negatives come from a Gibbs chain (``boltzmann.py`` eq. (2)):

* **CD-k** [1]: k sweeps v -> h -> v started at the data batch;
* **PCD** [3]: k sweeps continuing ``num_chains`` persistent "fantasy particles", kept
  in a buffer (``chains``), so a checkpoint holds them and a resumed run is exact.

**The recipe of Hinton's practical guide** [2]: SGD on the mean gradient of a mini-batch,
with momentum 0.5 for the first ``momentum_switch`` steps and 0.9 after (§9: the large
early gradients settle first), an L2 weight cost lambda = ``weight_cost`` on W only, not
the biases (§10; lambda = 1e-4 there; the update is dW = momentum * dW - lr (grad + lambda
W)), and initial weights N(0, 0.01^2) (§8). The guide sets the visible biases to
log(p_i / (1 - p_i)) of the training data; here they start at 0 and learn it within a
few epochs, because the model never sees the data before its first step.

**Which chain for the digits.** With a constant learning rate, PCD scored worse than CD-1
on the binarised digits (AIS validation NLL 23-26 nats after 80 epochs for lr 0.002-0.05,
fluctuating from epoch to epoch, against 19-20 for CD-1 at lr 0.05): the persistent
chains and the fast-moving weights chase each other, and Tieleman [3] decays the rate to
zero. ``digits-reference`` therefore uses CD-1; ``digits-pcd`` keeps the PCD recipe.

**Likelihood.** ``log_prob(x) = -F(x) - log Z``, with log Z exact (enumerating the 2^H
hidden states) when H <= 20 and by AIS otherwise. AIS starts from the base-rate model of
the training data: the buffer ``data_sum`` counts the visible units of every training
batch, so b_A = logit((sum + 1) / (n + 2)) (``boltzmann.py``). **The validation metric**
is the same NLL, mean F(x) + log Z, with log Z from a small AIS run (``eval_chains`` x
``eval_betas``, its generator seeded by ``eval_seed`` so every validation sees the same
noise and log Z moves only with the parameters; it is computed once per parameter value
and cached). The test report uses ``test_chains`` x ``test_betas`` and states log Z, its
standard error and both counts.

References:
    [1] G. E. Hinton, "Training products of experts by minimizing contrastive divergence",
        Neural Computation 14(8), 2002.
    [2] G. E. Hinton, "A practical guide to training restricted Boltzmann machines",
        UTML TR 2010-003 (version 1), 2010.
    [3] T. Tieleman, "Training restricted Boltzmann machines using approximations to the
        likelihood gradient", ICML 2008.
    [4] R. M. Neal, "Annealed importance sampling", Statistics and Computing 11, 2001.
    [5] R. Salakhutdinov, I. Murray, "On the quantitative analysis of deep belief
        networks", ICML 2008.
"""
import os
import zlib

import numpy as np

from autograd import as_numpy
from autograd.functional import softplus

from ...nn import Parameter
from ...optim import SGD
from ...schedules import EMA
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from . import boltzmann as bm
from .base import EnergyModel

__all__ = ["RBM"]

_DIGITS = dict(data_shape=(1, 8, 8), num_hidden=100, cd_k=1, persistent=False, num_chains=100,
               weight_cost=1e-4, momentum_switch=80, eval_chains=100, eval_betas=1000,
               test_chains=1000, test_betas=10000)
_MNIST = dict(data_shape=(1, 28, 28), num_hidden=500, cd_k=1, persistent=False, num_chains=100, weight_cost=1e-4,
              momentum_switch=2500, eval_chains=100, eval_betas=1000, test_chains=100, test_betas=14500)


@register("rbm")
class RBM(EnergyModel):
    """Binary-binary RBM with CD-k / PCD, Hinton's momentum and weight cost, AIS log Z.

    Args:
        data_shape: shape of one binary example (V values).
        num_hidden: H.
        cd_k: Gibbs sweeps per negative phase.
        persistent: PCD (persistent chains) if True, else CD-k from the data.
        num_chains: persistent chains (PCD).
        weight_cost: L2 coefficient lambda on W ([2] §10).
        momentum: momentum after ``momentum_switch`` steps (0.5 before) ([2] §9).
        momentum_switch: steps with momentum 0.5.
        init_std: standard deviation of the initial weights ([2] §8).
        eval_chains, eval_betas: AIS runs and intermediate distributions of the validation NLL.
        test_chains, test_betas: the same for the test report.
        sample_steps: Gibbs sweeps of ``sample`` from the base rates.
        eval_seed: seed of the validation AIS.
        rng: generator or seed (weights, chains, training noise).
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    dataset_view = "binary"
    best_metric = ("val/nll", "min")
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="binarised digits: 100 hidden units, CD-1, SGD 0.05 with momentum 0.5 -> 0.9, "
                                 "weight cost 1e-4; validation AIS 100 x 1000, test AIS 1000 x 10000",
            train=TrainConfig(data="digits", epochs=200, batch_size=64, lr=0.05, seed=0,
                              early_stopping=("val/nll", 20))),
        "digits-pcd": Preset(
            model=dict(_DIGITS, persistent=True), about="the same with PCD-1 (100 persistent chains), lr 0.01",
            train=TrainConfig(data="digits", epochs=200, batch_size=64, lr=0.01, seed=0,
                              early_stopping=("val/nll", 20))),
        "digits-tiny": Preset(
            model=dict(_DIGITS, num_hidden=16, eval_chains=50, eval_betas=200, test_chains=100, test_betas=500),
            train=TrainConfig(data="digits", epochs=5, batch_size=64, lr=0.1, seed=0)),
        "mnist": Preset(model=_MNIST, about="binarised MNIST: the fashion-mnist recipe",
                        train=TrainConfig(data="mnist", epochs=30, batch_size=100, lr=0.05, seed=0,
                                          early_stopping=("val/nll", 5))),
        "fashion-mnist": Preset(
            model=_MNIST, about="binarised Fashion-MNIST (x >= 128): 784-500, CD-1, SGD 0.05 with momentum "
                                "0.5 -> 0.9 after 5 epochs, weight cost 1e-4; validation AIS 100 x 1000, test "
                                "AIS 100 x 14500 (Salakhutdinov & Murray's counts)",
            train=TrainConfig(data="fashion-mnist", epochs=30, batch_size=100, lr=0.05, seed=0,
                              early_stopping=("val/nll", 5))),
    }

    def __init__(self, data_shape=(1, 8, 8), num_hidden=100, cd_k=1, persistent=True, num_chains=100,
                 weight_cost=1e-4, momentum=0.9, momentum_switch=80, init_std=0.01, eval_chains=100,
                 eval_betas=1000, test_chains=1000, test_betas=10000, sample_steps=1000, eval_seed=1234,
                 rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, num_hidden=num_hidden, cd_k=cd_k, num_chains=num_chains,
                       eval_chains=eval_chains, eval_betas=eval_betas, test_chains=test_chains,
                       test_betas=test_betas, sample_steps=sample_steps)
        if not weight_cost >= 0 or not 0 <= momentum < 1 or not init_std > 0:
            raise ValueError(f"weight_cost={weight_cost!r}, momentum={momentum!r}, init_std={init_std!r}: "
                             "need weight_cost >= 0, 0 <= momentum < 1, init_std > 0")
        self.data_shape, self.num_levels = tuple(data_shape), 2
        self.D = V = int(np.prod(self.data_shape))
        self.num_hidden, self.cd_k, self.persistent = num_hidden, cd_k, bool(persistent)
        self.weight_cost, self.momentum, self.momentum_switch = weight_cost, momentum, momentum_switch
        self.eval_chains, self.eval_betas, self.eval_seed = eval_chains, eval_betas, eval_seed
        self.test_chains, self.test_betas, self.sample_steps = test_chains, test_betas, sample_steps
        self.W = Parameter((init_std * self.rng.standard_normal((V, num_hidden))).astype(dtype))
        self.b = Parameter(np.zeros(V, dtype))                     # visible biases
        self.c = Parameter(np.zeros(num_hidden, dtype))            # hidden biases
        self.register_buffer("chains", (self.rng.random((num_chains, V)) < 0.5).astype(dtype))   # PCD
        self.register_buffer("data_sum", np.zeros(V, np.float64))  # sum of the training v's ...
        self.register_buffer("data_count", np.zeros((), np.float64))   # ... and how many
        self.register_buffer("steps", np.zeros((), np.int64))
        self._log_z_cache = (None, None)

    # -- the energy and the chain ---------------------------------------------------------
    def flat(self, x):
        """(N, V) view of a batch: an array or a Tensor."""
        return x.reshape(len(x), self.D)

    def energy(self, x):
        """F(v) = -b.v - sum_j softplus(c_j + v.W_:j): Tensor (N,)."""
        v = self.flat(self.as_input(x))                            # (N, V)
        return -(v @ self.b) - softplus(v @ self.W + self.c).sum(axis=1)

    def arrays(self):
        """(W, b, c) as float64 NumPy arrays."""
        return tuple(np.asarray(as_numpy(p.data), np.float64) for p in (self.W, self.b, self.c))

    def gibbs(self, v, k, rng):
        """k sweeps v -> h -> v of ``boltzmann.py`` eq. (2); returns the binary v (N, V)."""
        W, b, c = self.arrays()
        for _ in range(k):
            _, h = bm.sample_hidden(v, W, c, rng)
            _, v = bm.sample_visible(h, W, b, rng)
        return v

    def negative_samples(self, x, rng):
        """CD-k: k sweeps from the batch; PCD: k sweeps of the persistent chains (buffer updated)."""
        dtype = self.W.data.dtype
        if not self.persistent:
            return self.gibbs(np.asarray(as_numpy(self.flat(x)), np.float64), self.cd_k, rng).astype(dtype)
        v = self.gibbs(np.asarray(as_numpy(self.chains.data), np.float64), self.cd_k, rng).astype(dtype)
        self._moved_chains = v                       # train_step keeps them (loss() stays pure)
        return v

    # -- training: Hinton's recipe ----------------------------------------------------------
    def configure_optimizers(self, config, total_steps=None):
        """SGD with momentum; the L2 weight cost on W only ([2] §9-10). The run's
        ``weight_decay`` (AdamW's) must stay 0: the weight cost is the model's ``weight_cost``."""
        if config.weight_decay or config.schedule != "constant":
            raise ValueError("rbm: use the model's weight_cost and a constant learning rate "
                             f"(got weight_decay={config.weight_decay}, schedule={config.schedule!r})")
        self.optimizers = {"main": SGD([{"params": [self.W], "weight_decay": self.weight_cost},
                                        {"params": [self.b, self.c], "weight_decay": 0.0}],
                                       lr=config.lr, momentum=0.5)}
        self.schedules = {}
        self.ema = EMA(self, decay=config.ema_decay, warmup=True) if config.ema_decay else None
        return self.optimizers

    def train_step(self, batch):
        """Count the batch's pixels (base rates), set the momentum of this step, one SGD step,
        and keep the persistent chains where the negative phase left them."""
        x = np.asarray(as_numpy(self.flat(self.split_batch(batch)[0])), np.float64)
        self.data_sum = as_numpy(self.data_sum.data) + x.sum(axis=0)
        self.data_count = float(self.data_count.data) + len(x)
        step = int(self.steps.data)
        for group in self.optimizers["main"].param_groups:
            group["momentum"] = 0.5 if step < self.momentum_switch else self.momentum
        metrics = super().train_step(batch)
        self.steps = np.asarray(step + 1, np.int64)
        if self.persistent:
            self.chains = self._moved_chains
        return metrics

    # -- likelihood -----------------------------------------------------------------------
    def base_rates(self):
        """b_A = logit of the smoothed pixel means of the training data seen so far (V,)."""
        n, s = float(self.data_count.data), np.asarray(as_numpy(self.data_sum.data))
        return bm.logit((s + 1.0) / (n + 2.0))

    def log_z(self, chains=None, betas=None, rng=None):
        """``(log Z, standard error)``: exact (se 0) when H <= 20, else AIS with ``chains`` runs
        of ``betas`` intermediate distributions (default: the validation's), seeded ``eval_seed``."""
        W, b, c = self.arrays()
        if self.num_hidden <= 20:
            return bm.exact_log_z(W, b, c), 0.0
        chains, betas = chains or self.eval_chains, betas or self.eval_betas
        rng = np.random.default_rng(self.eval_seed) if rng is None else rng
        log_z, se, _ = bm.ais_log_z(W, b, c, self.base_rates(), betas, chains, rng)
        return log_z, se

    def _cached_log_z(self):
        key = zlib.crc32(b"".join(a.tobytes() for a in self.arrays()) + self.data_count.data.tobytes())
        if self._log_z_cache[0] != key:
            self._log_z_cache = (key, self.log_z()[0])
        return self._log_z_cache[1]

    def free_energy(self, x):
        """F(x) in float64 NumPy, (N,)."""
        return bm.free_energy(np.asarray(as_numpy(self.flat(x)), np.float64), *self.arrays())

    def log_prob(self, x, log_z=None):
        """log p(x) = -F(x) - log Z in nats, float64 (N,) (log Z exact for H <= 20, else AIS)."""
        return -self.free_energy(x) - (self.log_z()[0] if log_z is None else log_z)

    def eval_step(self, batch):
        """NLL = mean F(x) + log Z (validation AIS, cached), bits/dim, and the mean free energy."""
        x = self.split_batch(batch)[0]
        F = self.free_energy(x)
        return {**self.nats_metrics(F + self._cached_log_z()), "free_energy": float(F.mean())}

    def report(self, split, rng, chains=None, betas=None, batch_size=256):
        """Test NLL with log Z from ``chains`` x ``betas`` AIS (default test_chains x test_betas),
        drawn with ``rng``; for H <= 20 the exact log Z."""
        chains, betas = chains or self.test_chains, betas or self.test_betas
        log_z, se = self.log_z(chains, betas, rng)
        nll = -self.log_prob(split.x, log_z).mean()
        out = {"examples": len(split), "nll": nll, "bpd": self.bits_per_dim(nll), "log_Z": log_z,
               "log_Z_se": se, "free_energy": float(self.free_energy(split.x).mean())}
        if self.num_hidden > 20:
            out.update(chains=chains, betas=betas)
        return out

    # -- samples and pictures -------------------------------------------------------------
    def sample(self, n, rng, steps=None):
        """``n`` binary images (uint8): ``steps`` Gibbs sweeps from the base rates."""
        v = (rng.random((n, self.D)) < bm.sigmoid(self.base_rates())).astype(np.float64)
        v = self.gibbs(v, steps or self.sample_steps, rng)
        return v.reshape((n,) + self.data_shape).astype(np.uint8)

    def chain_snapshots(self, v0, rng, at=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)):
        """Gibbs chains from ``v0`` (N, ...): p(v | h) after each number of sweeps in ``at``;
        returns (N, len(at), *data_shape), the start first."""
        v = np.asarray(v0, np.float64).reshape(len(v0), self.D)
        W, b, c = self.arrays()
        out, done = [v.copy()], 0
        for t in at[1:]:
            v = self.gibbs(v, t - done - 1, rng) if t - done > 1 else v
            _, h = bm.sample_hidden(v, W, c, rng)
            p, v = bm.sample_visible(h, W, b, rng)
            out.append(p)
            done = t
        return np.stack(out, axis=1).reshape((len(v0), len(at)) + self.data_shape)

    def figures(self, run_dir, rng, split=None):
        """filters.png (the columns of W as images) and chains.png (Gibbs chains from test digits)."""
        from ... import plots
        W = self.arrays()[0].T.reshape((self.num_hidden,) + self.data_shape)[:100]
        lim = np.abs(W).max() or 1.0
        paths = [plots.image_grid(W, os.path.join(run_dir, "filters.png"), nrow=10, value_range=(-lim, lim),
                                  title=f"{self.title} filters W (grey = 0)")]
        if split is not None and len(self.data_shape) > 1:
            snaps = self.chain_snapshots(split.x[:8], rng)
            paths.append(plots.image_grid(snaps.reshape((-1,) + self.data_shape),
                                          os.path.join(run_dir, "chains.png"), nrow=snaps.shape[1],
                                          title="Gibbs chains from test examples: sweeps 0 1 2 5 10 20 50 ... 1000"))
        return paths
