"""Normalizing flows: the base class, the bijections RealNVP is built from, and the
likelihood bookkeeping of a flow on discrete data.

A normalizing flow [1, 2] models data x by an invertible map f onto a latent z with a
simple prior p_Z (here N(0, I)); the change-of-variables formula ([1] §3.1, eqs. (1)-(2))
gives the exact log-density

    log p_X(x) = log p_Z(f(x)) + log |det df(x)/dx^T|

**Direction, stated once for every flow in minigen** (``Flow`` below):

    forward(x) -> (z, log_det_J)     data -> latent; log_det_J = log|det df/dx^T| (N,)
    inverse(z) -> x                  latent -> data; sampling is inverse(z), z ~ p_Z

A composition f = f_K o ... o f_1 (``FlowSequence``) adds the log-dets of its steps and
inverts them in reverse order. The bijections here (a shape comment on every reshape):

    Squeeze          (N, C, H, W) -> (N, 4C, H/2, W/2), each 2x2 block to 4 channels
                     ([1] §3.6, Figure 3); a permutation: log_det_J = 0
    ActNorm          z = x * exp(log_s) + b per channel, initialised from the first batch
                     so z has zero mean and unit variance ([3] §3.1); log_det_J = HW sum log_s
    LogitTransform   y = logit(alpha + (1 - 2 alpha) x) from [0, 1) onto R ([1] §4.1)

``FlowModel`` turns a flow into a ``GenerativeModel`` of discrete data (images with L
levels) or of continuous data (2-D toys). Its docstring writes the dequantisation
bound out term by term. RealNVP itself (coupling layers, multi-scale) is in
``realnvp.py``.

References:
    [1] L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP",
        ICLR 2017. https://arxiv.org/abs/1605.08803
    [2] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed, B. Lakshminarayanan,
        "Normalizing Flows for Probabilistic Modeling and Inference", JMLR 2021, §2.
        https://arxiv.org/abs/1912.02762
    [3] D. P. Kingma, P. Dhariwal, "Glow: Generative Flow with Invertible 1x1
        Convolutions", NeurIPS 2018, §3.1 and Table 1. https://arxiv.org/abs/1807.03039
    [4] L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative
        models", ICLR 2016, §3.1 (uniform dequantisation). https://arxiv.org/abs/1511.01844
"""
import json
import math
import os
import zlib

import numpy as np

from autograd import Tensor, no_grad
from kernels.backend import as_numpy, device_of, to_device

from ..nn.init import zeros
from ..nn.module import Module, ModuleList, Parameter
from .base import GenerativeModel

__all__ = ["Flow", "FlowSequence", "Squeeze", "ActNorm", "LogitTransform", "FlowModel",
           "standard_normal_log_prob"]

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z):
    """log N(z; 0, I) summed over all but the batch axis: -0.5 sum(z^2 + log 2 pi).

    Args:
        z: Tensor (N, ...).

    Returns:
        Tensor (N,).
    """
    z = z.reshape(len(z), -1)                                    # (N, D)
    return -0.5 * (z * z).sum(axis=1) - 0.5 * z.shape[1] * LOG_2PI


class Flow(Module):
    """An invertible map from data to latent. ``forward(x) -> (z, log_det_J)`` maps data
    to latent with ``log_det_J = log|det dz/dx^T|`` per example, shape (N,);
    ``inverse(z) -> x`` maps back. Every flow in minigen follows this direction."""

    def forward(self, x):
        """Args: x (N, ...) data side. Returns: (z, log_det_J (N,))."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x) -> (z, log_det_J)")

    def inverse(self, z):
        """Args: z (N, ...) latent side. Returns: x."""
        raise NotImplementedError(f"{type(self).__name__} must define inverse(z) -> x")


class FlowSequence(Flow):
    """f = f_K o ... o f_1: log-dets add (chain rule), the inverse runs in reverse order.

    Args:
        flows: the steps, f_1 (applied first to data) first.
    """

    def __init__(self, flows):
        super().__init__()
        self.steps = ModuleList(flows)

    def forward(self, x):
        log_det_J = 0.0
        for f in self.steps:
            x, ld = f(x)
            log_det_J = log_det_J + ld                           # log|det J_f2 J_f1| = sum
        return x, log_det_J

    def inverse(self, z):
        for f in reversed(self.steps.children()):
            z = f.inverse(z)
        return z


class Squeeze(Flow):
    """Space-to-channel ([1] §3.6): each 2x2 block of every channel becomes 4 channels::

        channel k, block  p q     ->   channels 4k, 4k+1, 4k+2, 4k+3  hold  p, q, r, s
                          r s

    so channels 4k, 4k+1 hold a block's top row and 4k+2, 4k+3 its bottom row. It only
    moves values: log_det_J = 0.
    """

    def forward(self, x):
        N, C, H, W = x.shape
        x = x.reshape(N, C, H // 2, 2, W // 2, 2)               # (N, C, H/2, 2, W/2, 2)
        x = x.transpose(0, 1, 3, 5, 2, 4)                        # (N, C, 2, 2, H/2, W/2)
        z = x.reshape(N, 4 * C, H // 2, W // 2)                  # (N, 4C, H/2, W/2)
        return z, Tensor(x.xp.zeros(N, dtype=x.dtype))

    def inverse(self, z):
        N, C4, H2, W2 = z.shape
        z = z.reshape(N, C4 // 4, 2, 2, H2, W2)                  # (N, C, 2, 2, H/2, W/2)
        z = z.transpose(0, 1, 4, 2, 5, 3)                        # (N, C, H/2, 2, W/2, 2)
        return z.reshape(N, C4 // 4, 2 * H2, 2 * W2)             # (N, C, H, W)


class ActNorm(Flow):
    """Activation normalisation ([3] §3.1): a per-channel affine map

        z = x * exp(log_s) + b,     log_det_J = (H W) * sum_c log_s_c

    on (N, C, H, W) or (N, C) inputs. The first forward in training mode sets
    ``log_s = -log std(x)`` and ``b = -mean(x) exp(log_s)`` from that batch, so z starts
    with zero mean and unit variance per channel (data-dependent initialisation);
    after that both are ordinary trained parameters.

    Args:
        num_channels: C.
        dtype: float dtype of the parameters.
    """

    def __init__(self, num_channels, *, dtype=np.float32):
        super().__init__()
        self.log_s = Parameter(zeros((num_channels,), dtype))
        self.b = Parameter(zeros((num_channels,), dtype))
        self.register_buffer("initialized", np.zeros((), dtype))

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)                     # (1, C, 1, 1) or (1, C)

    def forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))                    # all but the channel axis
        if self.training and not self.initialized.item():
            mean, std = x.data.mean(axis=axes), x.data.std(axis=axes)
            self.log_s.data = (-np.log(std + 1e-6)).astype(self.log_s.dtype)
            self.b.data = (-mean / (std + 1e-6)).astype(self.b.dtype)
            self.initialized = np.ones((), self.initialized.dtype)
        shape = self._shape(x)
        z = x * self.log_s.reshape(shape).exp() + self.b.reshape(shape)
        hw = x.size // (x.shape[0] * x.shape[1])                 # H*W (1 for (N, C))
        log_det_J = (hw * self.log_s.sum()).broadcast_to((len(x),))
        return z, log_det_J

    def inverse(self, z):
        shape = self._shape(z)
        return (z - self.b.reshape(shape)) * (-self.log_s.reshape(shape)).exp()


class LogitTransform(Flow):
    """Map [0, 1) onto R so the flow never sees a bounded domain ([1] §4.1):

        p = alpha + (1 - 2 alpha) x          squeeze [0, 1] into [alpha, 1 - alpha]
        y = logit(p) = log p - log(1 - p)

    Its Jacobian is diagonal, dy_i/dx_i = (1 - 2 alpha) / (p_i (1 - p_i)), so

        log_det_J = sum_i [ log(1 - 2 alpha) - log p_i - log(1 - p_i) ]

    [1] writes ``logit(alpha + (1 - alpha) x)``; we keep both ends away from 0 and 1
    (the symmetric form used by most implementations), so y is bounded by
    ``+-logit(1 - alpha)`` (+-2.94 for alpha = 0.05).

    Args:
        alpha: the margin (0.05 in [1]).
    """

    def __init__(self, alpha=0.05):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        p = self.alpha + (1 - 2 * self.alpha) * x
        log_p, log_1mp = p.log(), (1 - p).log()
        y = log_p - log_1mp
        log_det_J = (math.log(1 - 2 * self.alpha) - log_p - log_1mp).reshape(len(x), -1).sum(axis=1)
        return y, log_det_J

    def inverse(self, y):
        return (y.sigmoid() - self.alpha) * (1.0 / (1 - 2 * self.alpha))

    def extra_repr(self):
        return f"alpha={self.alpha}"


class FlowModel(GenerativeModel):
    """A flow ``self.flow`` with a N(0, I) prior, as a model of discrete or continuous data.

    **Discrete data** (``num_levels`` L, D values per example, integers 0..L-1). A
    density cannot be fitted to integers directly (it would pile infinite density on
    them), so we fit a density p_cont on [0, 1)^D to *dequantised* data [4]:

        x' = (x + u) / L,    u ~ U[0, 1)^D      fresh noise every batch
        y  = logit(alpha + (1 - 2 alpha) x')   ``LogitTransform``
        z  = f(y)                              the flow

        log p_cont(x') = log N(z; 0, I) + log|det dz/dy^T| + log|det dy/dx'^T|
                         (prior)          (flow log-det)      (logit log-det)

    p_cont defines a model of the integers: P(x) = int_[0,1)^D p_v(x + u) du with
    p_v(v) = L^-D p_cont(v / L), the density of v = L x'. By Jensen's inequality

        log P(x) >= E_u[ log p_cont((x + u) / L) ] - D log L

    so we report and train the upper bound on the negative log-likelihood

        NLL(x) = -E_u[ log p_cont((x + u) / L) ] + D log L        nats per example
        bits/dim = NLL(x) / (D log 2)

    estimated with ``draws`` noise samples (one per batch in training). For 8x8 digits
    (D = 64, L = 17) a uniform model scores D log 17 = 181.33 nats. The logit's margin
    lets p_cont put a little mass outside [0, 1)^D; P then sums to less than 1, which
    only makes the bound more conservative. Sampling inverts every step and rounds
    down, x = floor(L x'), clipped to 0..L-1 (the outside mass lands on the end levels).

    **Continuous data** (``num_levels`` None, e.g. 2-D toys): no dequantisation and no
    logit; NLL(x) = -log p_X(x) = -(log N(f(x); 0, I) + log|det df/dx^T|).

    Evaluation uses common random numbers: the noise for an evaluation batch is drawn
    from a generator seeded by the batch's content (``eval_seed``), so every epoch's
    validation NLL is measured on the same dequantisation and results are reproducible.

    At the end of a run (``figures``) the test split is scored with ``test_draws``
    dequantisations per image and written to ``test_metrics.json``.

    Subclasses set ``self.flow`` (a ``Flow``), and call ``_setup_data``.
    """

    best_metric = ("val/nll", "min")
    eval_seed = 1234

    def _setup_data(self, data_shape, num_levels, alpha, eval_draws=1, test_draws=0):
        self.data_shape, self.num_levels = tuple(data_shape), num_levels
        self.D = int(np.prod(self.data_shape))
        self.logit = LogitTransform(alpha) if num_levels else None
        self.eval_draws, self.test_draws = eval_draws, test_draws

    # -- the bookkeeping of the docstring -------------------------------------------------
    def dequantize(self, x, rng):
        """x' = (x + u) / L with u ~ U[0, 1) from ``rng``, as a float32 Tensor."""
        u = to_device(rng.random(x.shape, dtype=np.float32), device_of(x))
        return Tensor((x.astype(np.float32) + u) / np.float32(self.num_levels))

    def log_p_cont(self, x):
        """log p of continuous inputs (x' in [0, 1)^D for discrete data), Tensor (N,)."""
        log_det_logit = 0.0
        if self.logit is not None:
            x, log_det_logit = self.logit(x)                    # y, log|det dy/dx'|
        z, log_det_flow = self.flow(x)                           # z, log|det dz/dy|
        return standard_normal_log_prob(z) + log_det_flow + log_det_logit

    def nll(self, x, rng, draws=1):
        """The NLL of the docstring in nats, per example, averaged over ``draws``.

        Args:
            x: a batch as the data set holds it (integers for discrete data).
            rng: generator of the dequantisation noise.
            draws: number of noise samples u.

        Returns:
            Tensor (N,).
        """
        if not self.num_levels:
            return -self.log_p_cont(Tensor(x.astype(np.float32, copy=False)))
        total = 0.0
        for _ in range(draws):
            total = total + self.log_p_cont(self.dequantize(x, rng))
        return -total * (1.0 / draws) + self.D * math.log(self.num_levels)

    def _metrics(self, nll):
        value = float(nll.data.mean())
        return {"nll": value, "bpd": value / (self.D * math.log(2))}

    # -- the protocol (models/base.py) ----------------------------------------------------
    def train_step(self, batch):
        """One Adam step on the mean NLL of a batch; returns its nll (nats) and bpd."""
        x, _ = self.split_batch(batch)
        opt = self.optimizers["main"]
        opt.zero_grad()
        nll = self.nll(x, self.rng)
        loss = nll.mean()
        loss.backward()
        opt.step()
        return self._metrics(nll)

    def eval_rng(self, x):
        """The generator of an evaluation of batch ``x``, seeded by its bytes (common
        random numbers: every epoch's validation sees the same noise)."""
        x = np.ascontiguousarray(as_numpy(x))
        return np.random.default_rng([self.eval_seed, zlib.crc32(x.tobytes())])

    def eval_step(self, batch, draws=None):
        """NLL (nats) and bits/dim of a batch, averaged over ``draws`` (default
        ``eval_draws``) dequantisations drawn from ``eval_rng``."""
        x, _ = self.split_batch(batch)
        with no_grad():
            return self._metrics(self.nll(x, self.eval_rng(x), draws or self.eval_draws))

    def log_prob(self, x, draws=1):
        """log p(x) in nats per example (float64 array): exact for continuous data; for
        discrete data the dequantisation lower bound -NLL, with noise from ``self.rng``."""
        with no_grad():
            return -as_numpy(self.nll(x, self.rng, draws).data).astype(np.float64)

    def sample(self, n, rng):
        """``n`` samples shaped like the data: integers 0..L-1 (uint8 when L <= 256) for
        discrete data, float32 otherwise. z ~ N(0, I) from ``rng``, then every inverse."""
        device = self.parameters()[0].device
        with no_grad():
            z = rng.standard_normal((n,) + self.flow_latent_shape()).astype(np.float32)
            x = self.flow.inverse(Tensor(to_device(z, device)))
            if self.logit is None:
                return as_numpy(x.data).reshape((n,) + self.data_shape)
            x = as_numpy(self.logit.inverse(x).data).reshape((n,) + self.data_shape)
        levels = np.clip(np.floor(x * self.num_levels), 0, self.num_levels - 1)
        return levels.astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def flow_latent_shape(self):
        """Shape of one latent z (default: the data shape)."""
        return self.data_shape

    def test_report(self, x, draws, batch_size=256):
        """Test NLL of ``x`` averaged over ``draws`` dequantisations per example.

        Returns:
            ``{"examples", "draws", "nll", "bpd"}`` (nats per example, bits/dim).
        """
        nll = [self.eval_step(x[i:i + batch_size], draws)["nll"] * len(x[i:i + batch_size])
               for i in range(0, len(x), batch_size)]
        value = sum(nll) / len(x)
        return {"examples": len(x), "draws": draws, "nll": value, "bpd": value / (self.D * math.log(2))}

    def figures(self, run_dir, rng):
        """samples.png (images) or density.png (2-D: heatmap with samples on top), and,
        with ``test_draws``, test_metrics.json: the test split's NLL of these parameters."""
        from .. import plots
        from ..data import get_dataset
        path = os.path.join(run_dir, "samples.png" if len(self.data_shape) > 1 else "density.png")
        if len(self.data_shape) > 1:
            paths = [plots.image_grid(self.sample(64, rng), path, nrow=8, title="RealNVP samples",
                                      levels=self.num_levels)]
        elif self.data_shape == (2,):
            paths = [plots.density_2d(self.log_prob, path, samples=self.sample(1000, rng),
                                      title="learned density and samples")]
        else:
            paths = []
        try:
            with open(os.path.join(run_dir, "config.json")) as f:
                test = get_dataset(json.load(f)["data"], "test")
        except (OSError, KeyError, ValueError, TypeError):
            return paths
        if self.test_draws and tuple(test.shape) == self.data_shape:
            report = {"split": "test", **self.test_report(test.x, self.test_draws)}
            with open(os.path.join(run_dir, "test_metrics.json"), "w") as f:
                json.dump(report, f, indent=2)
            print(f"test ({report['examples']} examples, {report['draws']} dequantisations each): "
                  f"NLL {report['nll']:.4f} nats, {report['bpd']:.4f} bits/dim")
            paths.append(os.path.join(run_dir, "test_metrics.json"))
        return paths
