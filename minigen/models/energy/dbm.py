"""A two-hidden-layer deep Boltzmann machine [1]: mean-field inference, persistent chains,
greedy layer-wise pretraining.

    E(v, h1, h2) = -b.v - c1.h1 - c2.h2 - v^T W1 h1 - h1^T W2 h2                  ([1] eq. (9))

**Learning** ([1] §2.2, §3): the gradient of log p(v) is E_data[...] - E_model[...] of the
statistics v h1^T, h1 h2^T (and the units for the biases). The data term needs p(h | v),
which is not factorial in a DBM; [1] replaces it by the mean-field posterior
q(h1, h2) = prod Bernoulli(mu), found by iterating ([1] eq. (12) with a two-layer DBM)

    mu1 <- sigmoid(c1 + v W1 + W2 mu2),      mu2 <- sigmoid(c2 + mu1 W2)

``mf_steps`` times. The model term comes from ``num_chains`` persistent Gibbs chains
(h1 given v and h2; then v and h2 given h1: the graph is bipartite between {v, h2} and
h1), kept in buffers so a resumed run is exact. Because E is linear in the parameters,
the surrogate loss mean F_q(v) - mean E(chains) has exactly this gradient (F_q below: the
entropy of q does not depend on the parameters, and at the mean-field fixed point F_q is
stationary in mu, so mu's own dependence on the parameters adds nothing).

**Greedy pretraining** ([1] §3.1). Before joint training, the first ``pretrain_steps``
steps train the bottom RBM (v, h1) by CD-1 and the next ``pretrain_steps`` the top RBM
(h1, h2), with the doubling of [1]: the bottom RBM sees its visible units twice (h1 gets
2 v W1 from below: its doubled visible state s = v_a + v_b counts 0, 1 or 2), the top RBM
its hidden units twice (h1 gets 2 W2 h2 from above), so that after stacking each layer of
the DBM receives input from both neighbours at the right scale. The top RBM's data are
h1 ~ p(h1 | v) of the bottom one, whose hidden biases c1 the top RBM keeps fixed (training
them would move its own data). In this protocol pretraining is simply the first
2 * pretrain_steps steps of ``train_step`` (the step counter is a buffer); the loss
changes meaning at those boundaries, which ``metrics["phase"]`` records (0, 1: pretraining,
2: joint). When the joint phase begins, the persistent chains start at a training batch.

**The recipe** is the RBM's (Hinton's guide, ``rbm.py``): SGD with momentum 0.5 for the
first ``momentum_switch`` steps of each phase and 0.9 after, a weight cost on W1 and W2;
the run's ``lr`` for pretraining, and ``joint_lr`` for the joint phase, decayed linearly
to 0 at the run's last step (persistent chains need a rate that goes to 0: Tieleman 2008;
[1] §4 decreases it too). A constant joint rate of 0.005 or 0.01 drove the validation bound
from 25 up to 30-60 nats within 25 epochs on the digits; decayed from 0.001 over 150
epochs the test bound reached 21.48 nats, from 0.0005 over 400 epochs 20.83 and over 900
epochs 20.52 (the preset); 0.00025 over 900 epochs 20.82, and twice the pretraining 23.03.
The RBM's CD-1 scores 17.98 on the same data: like the RBM's PCD (23-26), the persistent
chains learn less well on 1000 training images, and the mean-field bound adds its gap.
The bound means little during pretraining (the doubled weights are not yet the DBM's),
so the digits preset trains a fixed number of epochs without early stopping and keeps the
evaluation with the best validation bound in best.npz.

**What we report.** Mean field gives a lower bound on log p(v) ([1] eq. (10)):

    log p(v) >= -E_q[E(v, h)] + H(q) - log Z,    so    NLL <= F_q(v) + log Z

with F_q(v) = E(v, mu1, mu2) - H(mu1) - H(mu2) (``energy``). log Z is the RBM's: {v, h2}
against h1 is a bipartite RBM with weights [W1; W2^T], so ``boltzmann.py`` gives it
exactly (H1 <= 20) or by AIS. The validation and test "nll" is this upper bound (AIS log
Z, ``eval_chains`` x ``eval_betas`` and ``test_chains`` x ``test_betas``).

References:
    [1] R. Salakhutdinov, G. Hinton, "Deep Boltzmann machines", AISTATS 2009.
    [2] R. Salakhutdinov, I. Murray, "On the quantitative analysis of deep belief
        networks", ICML 2008 (AIS).
"""
import os
import zlib

import numpy as np

from autograd import as_numpy
from autograd.functional import softplus

from ...nn import Parameter
from ...optim import SGD
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from . import boltzmann as bm
from .base import EnergyModel

__all__ = ["DBM"]

_DIGITS = dict(data_shape=(1, 8, 8), hidden=(100, 50), pretrain_steps=800, mf_steps=10, num_chains=100,
               chain_sweeps=1, chains_from_data=True, joint_lr=0.0005, weight_cost=1e-4, momentum=0.9,
               momentum_switch=80, init_std=0.01, eval_chains=100, eval_betas=1000, test_chains=500,
               test_betas=5000, sample_steps=1000)


def _entropy(mu):
    """Entropy of independent Bernoullis, summed per row: -(mu log mu + (1-mu) log(1-mu))."""
    mu = np.clip(mu, 1e-12, 1 - 1e-12)
    return -(mu * np.log(mu) + (1 - mu) * np.log1p(-mu)).sum(axis=1)


@register("dbm")
class DBM(EnergyModel):
    """Two-layer DBM: mean-field data phase, persistent chains, greedy pretraining.

    Args:
        data_shape: shape of one binary example.
        hidden: (H1, H2).
        pretrain_steps: steps of each greedy RBM (0: none).
        mf_steps: mean-field iterations.
        num_chains: persistent chains.
        chain_sweeps: Gibbs sweeps of the chains per step.
        chains_from_data: start the chains at a training batch when the joint phase begins
            (else they continue from their random initial states).
        joint_lr: SGD learning rate of the joint phase, decayed linearly to 0 at the run's
            last step (the run's ``lr`` is the pretraining's).
        weight_cost: L2 coefficient on W1 and W2 (Hinton's guide §10).
        momentum: momentum after the first ``momentum_switch`` steps of each phase (0.5 before).
        momentum_switch: steps of each phase with momentum 0.5.
        init_std: initial weight scale.
        eval_chains, eval_betas, test_chains, test_betas: AIS of the validation / test bound.
        sample_steps: Gibbs sweeps of ``sample``.
        eval_seed: seed of the validation AIS.
        rng: generator or seed.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    dataset_view = "binary"
    best_metric = ("val/nll", "min")
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="binarised digits: 64-100-50; greedy pretraining 800 + 800 steps (50 + 50 epochs) "
                                 "by CD-1, SGD 0.05, momentum 0.5 -> 0.9, weight cost 1e-4; then 900 epochs of mean "
                                 "field (10 iterations) against 100 persistent chains started at the data, SGD "
                                 "0.0005 decayed linearly to 0; validation every 10 epochs (AIS 100 x 1000), "
                                 "test AIS 500 x 5000",
            train=TrainConfig(data="digits", epochs=1000, batch_size=64, lr=0.05, eval_every=160, seed=0)),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=(16, 8), pretrain_steps=16, eval_betas=200),
                              train=TrainConfig(data="digits", epochs=4, batch_size=64, lr=0.05, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), hidden=(100, 50), pretrain_steps=800, mf_steps=10, num_chains=100,
                 chain_sweeps=1, chains_from_data=True, joint_lr=0.005, weight_cost=1e-4, momentum=0.9,
                 momentum_switch=80, init_std=0.01, eval_chains=100, eval_betas=1000, test_chains=500,
                 test_betas=5000, sample_steps=1000, eval_seed=1234, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, hidden=hidden, mf_steps=mf_steps, num_chains=num_chains,
                       chain_sweeps=chain_sweeps, eval_chains=eval_chains, eval_betas=eval_betas,
                       test_chains=test_chains, test_betas=test_betas, sample_steps=sample_steps)
        if len(hidden) != 2 or not (isinstance(pretrain_steps, int) and pretrain_steps >= 0) or not init_std > 0:
            raise ValueError(f"hidden={hidden!r} must be (H1, H2), pretrain_steps={pretrain_steps!r} an integer "
                             f">= 0, init_std={init_std!r} > 0")
        self.data_shape, self.num_levels = tuple(data_shape), 2
        self.D = V = int(np.prod(self.data_shape))
        H1, H2 = self.hidden = tuple(hidden)
        if not (joint_lr > 0 and weight_cost >= 0 and 0 <= momentum < 1 and momentum_switch >= 0):
            raise ValueError(f"need joint_lr > 0, weight_cost >= 0, 0 <= momentum < 1, momentum_switch >= 0; got "
                             f"{joint_lr!r}, {weight_cost!r}, {momentum!r}, {momentum_switch!r}")
        self.pretrain_steps, self.mf_steps, self.sample_steps = pretrain_steps, mf_steps, sample_steps
        self.chain_sweeps, self.chains_from_data = chain_sweeps, bool(chains_from_data)
        self.joint_lr, self.weight_cost, self.momentum, self.momentum_switch = (joint_lr, weight_cost, momentum,
                                                                               momentum_switch)
        self.eval_chains, self.eval_betas, self.eval_seed = eval_chains, eval_betas, eval_seed
        self.test_chains, self.test_betas = test_chains, test_betas
        self.W1 = Parameter((init_std * self.rng.standard_normal((V, H1))).astype(dtype))
        self.W2 = Parameter((init_std * self.rng.standard_normal((H1, H2))).astype(dtype))
        self.b, self.c1, self.c2 = (Parameter(np.zeros(n, dtype)) for n in (V, H1, H2))
        for name, n in (("chain_v", V), ("chain_h1", H1), ("chain_h2", H2)):
            self.register_buffer(name, (self.rng.random((num_chains, n)) < 0.5).astype(dtype))
        self.register_buffer("data_sum", np.zeros(V, np.float64))
        self.register_buffer("data_count", np.zeros((), np.float64))
        self.register_buffer("steps", np.zeros((), np.int64))
        self._cache = (None, None)

    # -- arrays, inference, chains ----------------------------------------------------------
    def arrays(self):
        """(W1, W2, b, c1, c2) as float64 NumPy arrays."""
        return tuple(np.asarray(as_numpy(p.data), np.float64) for p in (self.W1, self.W2, self.b, self.c1, self.c2))

    def flat(self, x):
        return np.asarray(as_numpy(getattr(x, "data", x)), np.float64).reshape(len(x), self.D)   # (N, V)

    def mean_field(self, v):
        """(mu1, mu2) after ``mf_steps`` fixed-point iterations, started from the doubled up-pass."""
        W1, W2, b, c1, c2 = self.arrays()
        mu1 = bm.sigmoid(c1 + 2 * v @ W1)
        mu2 = bm.sigmoid(c2 + mu1 @ W2)
        for _ in range(self.mf_steps):
            mu1 = bm.sigmoid(c1 + v @ W1 + mu2 @ W2.T)
            mu2 = bm.sigmoid(c2 + mu1 @ W2)
        return mu1, mu2

    def gibbs(self, v, h2, k, rng):
        """k sweeps: h1 | v, h2; then v | h1 and h2 | h1. Returns (v, h1, h2)."""
        W1, W2, b, c1, c2 = self.arrays()
        for _ in range(k):
            h1 = (rng.random((len(v), len(c1))) < bm.sigmoid(c1 + v @ W1 + h2 @ W2.T)).astype(np.float64)
            _, v = bm.sample_visible(h1, W1, b, rng)
            _, h2 = bm.sample_hidden(h1, W2, c2, rng)
        return v, h1, h2

    def joint_energy(self, v, h1, h2):
        """E(v, h1, h2) of [1] eq. (9) for arrays (states or means): Tensor (N,)."""
        v, h1, h2 = (self.as_input(a) for a in (v, h1, h2))
        return (-(v @ self.b) - (h1 @ self.c1) - (h2 @ self.c2) - ((v @ self.W1) * h1).sum(axis=1)
                - ((h1 @ self.W2) * h2).sum(axis=1))

    def energy(self, x):
        """F_q(v) = E(v, mu1, mu2) - H(mu1) - H(mu2): mean-field free energy, Tensor (N,)."""
        v = self.flat(x)
        mu1, mu2 = self.mean_field(v)
        return self.joint_energy(v, mu1, mu2) - self.as_input(_entropy(mu1) + _entropy(mu2))

    def negative_samples(self, x, rng):
        """``chain_sweeps`` Gibbs sweeps of the persistent chains; returns their visible states."""
        state = [np.asarray(as_numpy(t.data), np.float64) for t in (self.chain_v, self.chain_h1, self.chain_h2)]
        self._moved = self.gibbs(state[0], state[2], self.chain_sweeps, rng)
        return self._moved[0]

    # -- the three phases -------------------------------------------------------------------
    def phase(self):
        step = int(self.steps.data)
        return 0 if step < self.pretrain_steps else 1 if step < 2 * self.pretrain_steps else 2

    def loss(self, batch):
        v = self.flat(self.split_batch(batch)[0])
        phase, rng = self.phase(), self.rng
        W1, W2, b, c1, c2 = self.arrays()
        if phase == 0:     # bottom RBM, visibles doubled: s = v_a + v_b in {0, 1, 2}
            h = (rng.random((len(v), len(c1))) < bm.sigmoid(c1 + 2 * v @ W1)).astype(np.float64)
            p = bm.sigmoid(b + h @ W1.T)                           # each copy drawn on its own
            s = (rng.random(v.shape) < p).astype(np.float64) + (rng.random(v.shape) < p).astype(np.float64)
            F = lambda s: (-(self.as_input(s) @ self.b)                              # noqa: E731
                           - softplus(self.as_input(s) @ self.W1 + self.c1).sum(axis=1))
            gap = F(2 * v).mean() - F(s).mean()
        elif phase == 1:   # top RBM on h1 ~ p(h1 | v) of the bottom one, hiddens doubled; c1 stays the
            h1 = (rng.random((len(v), len(c1))) < bm.sigmoid(c1 + 2 * v @ W1)).astype(np.float64)  # bottom's
            _, h2a = bm.sample_hidden(h1, W2, c2, rng)
            _, h2b = bm.sample_hidden(h1, W2, c2, rng)
            h1n = (rng.random(h1.shape) < bm.sigmoid(c1 + (h2a + h2b) @ W2.T)).astype(np.float64)
            F = lambda h: -2 * softplus(self.as_input(h) @ self.W2 + self.c2).sum(axis=1)  # noqa: E731
            gap = F(h1).mean() - F(h1n).mean()
        else:              # joint: mean field against the persistent chains
            neg = self.negative_samples(v, rng)     # F_q: at the mean-field fixed point dF_q/dmu = 0
            gap = self.energy(v).mean() - self.joint_energy(neg, *self._moved[1:]).mean()
        return gap, {"energy_gap": gap.item(), "phase": float(phase)}

    def configure_optimizers(self, config, total_steps=None):
        """SGD with momentum and a weight cost on W1, W2, as the RBM's recipe (``rbm.py``); the
        run's ``lr`` pretrains, ``joint_lr`` (decayed to 0 over ``total_steps``) trains jointly."""
        if config.weight_decay or config.schedule != "constant":
            raise ValueError("dbm: use the model's weight_cost and joint_lr, a constant run schedule "
                             f"(got weight_decay={config.weight_decay}, schedule={config.schedule!r})")
        self.lr, self.total_steps, self.schedules, self.ema = config.lr, total_steps, {}, None
        self.optimizers = {"main": SGD([{"params": [self.W1, self.W2], "weight_decay": self.weight_cost},
                                        {"params": [self.b, self.c1, self.c2], "weight_decay": 0.0}],
                                       lr=config.lr, momentum=0.5)}
        return self.optimizers

    def set_rates(self, step):
        """lr and momentum of ``step``: momentum 0.5 for the first ``momentum_switch`` steps of each
        phase; joint lr = joint_lr * (T - step) / (T - 2P), T the run's length (constant if unknown)."""
        P, T = self.pretrain_steps, getattr(self, "total_steps", None)
        decay = 1.0 if not T or T <= 2 * P else max(0.0, (T - step) / (T - 2 * P))
        lr = self.lr if step < 2 * P else self.joint_lr * decay
        start = min(step // P, 2) * P if P else 0
        for group in self.optimizers["main"].param_groups:
            group["lr"], group["momentum"] = lr, 0.5 if step - start < self.momentum_switch else self.momentum

    def train_step(self, batch):
        phase = self.phase()
        self.set_rates(int(self.steps.data))
        v = self.flat(self.split_batch(batch)[0])
        self.data_sum = as_numpy(self.data_sum.data) + v.sum(axis=0)
        self.data_count = float(self.data_count.data) + len(v)
        if int(self.steps.data) == 2 * self.pretrain_steps and self.chains_from_data:
            idx = np.arange(len(self.chain_v.data)) % len(v)        # the joint phase starts its chains
            mu1, mu2 = self.mean_field(v[idx])                      # at the data, h2 ~ q(h2 | v)
            self.chain_v, self.chain_h1 = v[idx], (self.rng.random(mu1.shape) < mu1).astype(np.float64)
            self.chain_h2 = (self.rng.random(mu2.shape) < mu2).astype(np.float64)
        metrics = super().train_step(batch)
        if phase == 2:
            self.chain_v, self.chain_h1, self.chain_h2 = (a.astype(self.b.data.dtype) for a in self._moved)
        self.steps = np.asarray(int(self.steps.data) + 1, np.int64)
        return metrics

    # -- the bound --------------------------------------------------------------------------
    def log_z(self, chains=None, betas=None, rng=None):
        """``(log Z, se)`` of the bipartite RBM {v, h2} x h1: exact for H1 <= 20, else AIS."""
        W1, W2, b, c1, c2 = self.arrays()
        A, bA = np.concatenate([W1, W2.T]), np.concatenate([b, c2])                 # (V + H2, H1)
        if self.hidden[0] <= 20:
            return bm.exact_log_z(A, bA, c1), 0.0
        n, s = float(self.data_count.data), np.asarray(as_numpy(self.data_sum.data))
        base = np.concatenate([bm.logit((s + 1.0) / (n + 2.0)), np.zeros(len(c2))])
        rng = np.random.default_rng(self.eval_seed) if rng is None else rng
        log_z, se, _ = bm.ais_log_z(A, bA, c1, base, betas or self.eval_betas, chains or self.eval_chains, rng)
        return log_z, se

    def eval_step(self, batch):
        """The NLL upper bound F_q(v) + log Z (validation AIS, cached per parameter value)."""
        key = zlib.crc32(b"".join(a.tobytes() for a in self.arrays()) + self.data_count.data.tobytes())
        if self._cache[0] != key:
            self._cache = (key, self.log_z()[0])
        F = as_numpy(self.energy(self.split_batch(batch)[0]).data).astype(np.float64)
        return {**self.nats_metrics(F + self._cache[1]), "free_energy": float(F.mean())}

    def report(self, split, rng, chains=None, betas=None):
        chains, betas = chains or self.test_chains, betas or self.test_betas
        log_z, se = self.log_z(chains, betas, rng)
        nll = float(as_numpy(self.energy(split.x).data).astype(np.float64).mean() + log_z)
        return {"examples": len(split), "nll": nll, "bpd": self.bits_per_dim(nll), "log_Z": log_z,
                "log_Z_se": se, "chains": chains, "betas": betas, "bound": "mean-field upper bound on the NLL"}

    def sample(self, n, rng, steps=None):
        """``n`` binary images (uint8) after ``steps`` Gibbs sweeps from random states."""
        v = (rng.random((n, self.D)) < 0.5).astype(np.float64)
        h2 = (rng.random((n, self.hidden[1])) < 0.5).astype(np.float64)
        v, _, _ = self.gibbs(v, h2, steps or self.sample_steps, rng)
        return v.reshape((n,) + self.data_shape).astype(np.uint8)

    def figures(self, run_dir, rng, split=None):
        """samples.png: p(v | h1) of 64 chains after ``sample_steps`` sweeps."""
        from ... import plots
        v = self.sample(64, rng).reshape(64, self.D).astype(np.float64)
        W1, W2, b, c1, c2 = self.arrays()
        mu1, _ = self.mean_field(v)
        p = bm.sigmoid(b + mu1 @ W1.T).reshape((64,) + self.data_shape)
        return [plots.image_grid(p, os.path.join(run_dir, "samples.png"), nrow=8,
                                 title=f"{self.title} samples (p(v | h1) after {self.sample_steps} sweeps)")]
