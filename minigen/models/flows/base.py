"""``FlowModel``: a normalizing flow with a N(0, I) prior as a model of discrete or continuous data.

A normalizing flow [1, 2] models data x by an invertible map f onto a latent z with a
simple prior p_Z (here N(0, I)); the change-of-variables formula ([1] §3.1, eqs. (1)-(2))
gives the exact log-density

    log p_X(x) = log p_Z(f(x)) + log |det df(x)/dx^T|

The bijections, with the direction every flow in minigen follows (``forward`` = data ->
latent, ``inverse`` = latent -> data), are in ``minigen/nn/flows.py``. This file holds
the likelihood bookkeeping every flow model shares (dequantisation, the logit, bits per
dimension) and the family's contract (tested for every model of the family,
``tests/minigen/models``): ``self.flow`` maps x -> z -> x back to 1e-5, and its log-det
equals a numerical log|det J|.

References:
    [1] L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP",
        ICLR 2017. https://arxiv.org/abs/1605.08803
    [2] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed, B. Lakshminarayanan,
        "Normalizing Flows for Probabilistic Modeling and Inference", JMLR 2021, §2.
        https://arxiv.org/abs/1912.02762
    [3] L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative
        models", ICLR 2016, §3.1 (uniform dequantisation). https://arxiv.org/abs/1511.01844
"""
import math
import os

import numpy as np

from autograd import Tensor, as_numpy, no_grad, to_device

from ...nn.flows import LogitTransform
from ...nn.losses import standard_normal_log_prob
from ..base import CRC, GenerativeModel

__all__ = ["FlowModel"]


class FlowModel(GenerativeModel):
    """A flow ``self.flow`` with a N(0, I) prior, as a model of discrete or continuous data.

    **Discrete data** (``num_levels`` L, D values per example, integers 0..L-1). A
    density cannot be fitted to integers directly (it would pile infinite density on
    them), so we fit a density p_cont on [0, 1)^D to *dequantised* data [3]:

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
    from a generator seeded by the batch's content (``eval_rng``), so every epoch's
    validation NLL is measured on the same dequantisation and results are reproducible.

    At the end of a run the run layer asks ``report`` for the test split's NLL with
    ``test_draws`` dequantisations per image (and writes it to ``test_metrics.json``).

    Subclasses set ``self.flow`` (a ``Flow``), and call ``_setup_data``.
    """

    best_metric = ("val/nll", "min")
    eval_key = (1234, CRC)

    def _setup_data(self, data_shape, num_levels, alpha, eval_draws=1, test_draws=0, flat=False):
        """``flat``: the flow works on vectors, each example flattened to (D,) before it."""
        self.data_shape, self.num_levels, self.flat = tuple(data_shape), num_levels, flat
        self.D = int(np.prod(self.data_shape))
        self.logit = LogitTransform(alpha) if num_levels else None
        self.eval_draws, self.test_draws = eval_draws, test_draws

    # -- the bookkeeping of the docstring -------------------------------------------------
    def dequantize(self, x, rng, u=None):
        """x' = (x + u) / L with u ~ U[0, 1) from ``rng`` (or the given ``u``), as a Tensor of
        the parameters' dtype."""
        dtype = np.dtype(self.parameters()[0].dtype)
        if u is None:
            u = rng.random(x.shape, dtype=np.float32 if dtype == np.float32 else np.float64)
        x, u = to_device(x, self.device), to_device(np.asarray(as_numpy(u), dtype), self.device)
        return Tensor((x.astype(dtype) + u) / dtype.type(self.num_levels))

    def log_p_cont(self, x):
        """log p of continuous inputs (x' in [0, 1)^D for discrete data), Tensor (N,)."""
        log_det_logit = 0.0
        if self.flat:
            x = x.reshape(len(x), -1)                            # (N, D)
        if self.logit is not None:
            x, log_det_logit = self.logit(x)                    # y, log|det dy/dx'|
        z, log_det_flow = self.flow(x)                           # z, log|det dz/dy|
        return self.log_prior(z) + log_det_flow + log_det_logit

    def nll(self, x, rng=None, draws=1, u=None):
        """The NLL of the docstring in nats, per example, averaged over ``draws``.

        Args:
            x: a batch as the data set holds it (integers for discrete data).
            rng: generator of the dequantisation noise (default ``self.rng``).
            draws: number of noise samples u.
            u: the noise itself instead, (draws, *x.shape) in [0, 1): with given u a
                float64 model gives the figure to the last digit.

        Returns:
            Tensor (N,).
        """
        if not self.num_levels:
            x = to_device(x, self.device)                        # on the parameters' device
            return -self.log_p_cont(Tensor(x.astype(self.parameters()[0].dtype, copy=False)))
        rng = self.rng if rng is None else rng
        draws = draws if u is None else len(u)
        total = 0.0
        for d in range(draws):
            total = total + self.log_p_cont(self.dequantize(x, rng, None if u is None else u[d]))
        return -total * (1.0 / draws) + self.D * math.log(self.num_levels)

    # -- the protocol (models/base.py) ----------------------------------------------------
    def loss(self, batch):
        """The mean NLL of a batch with fresh dequantisation noise; metrics nll (nats) and bpd."""
        nll = self.nll(self.split_batch(batch)[0], self.rng)
        return nll.mean(), self.nats_metrics(nll)

    def eval_step(self, batch, draws=None):
        """NLL (nats) and bits/dim of a batch, averaged over ``draws`` (default
        ``eval_draws``) dequantisations drawn from ``eval_rng`` (common random numbers)."""
        x = self.split_batch(batch)[0]
        with no_grad():
            return self.nats_metrics(self.nll(x, self.eval_rng(x), draws or self.eval_draws))

    def log_prob(self, x, draws=1):
        """log p(x) in nats per example (float64 array): exact for continuous data; for
        discrete data the dequantisation lower bound -NLL, with noise from ``self.rng``."""
        with no_grad():
            return -as_numpy(self.nll(x, self.rng, draws).data).astype(np.float64)

    def log_prior(self, z):
        """log p_Z(z) per example, Tensor (N,): N(0, I) (a subclass may change the prior)."""
        return standard_normal_log_prob(z)

    def sample_prior(self, n, rng):
        """``n`` draws z ~ p_Z from ``rng``, an array (n, *latent shape)."""
        return rng.standard_normal((n,) + self.flow_latent_shape())

    def sample(self, n, rng, temperature=1.0):
        """``n`` samples shaped like the data: integers 0..L-1 (uint8 when L <= 256) for
        discrete data, float32 otherwise. z ~ p_Z from ``rng``, scaled by ``temperature``
        T (Glow [Kingma & Dhariwal 2018] §5: T < 1 trades diversity for quality), then every inverse."""
        device = self.device
        with no_grad():
            z = (temperature * self.sample_prior(n, rng)).astype(self.parameters()[0].dtype)
            x = self.flow.inverse(Tensor(to_device(z, device)))
            if self.logit is None:
                return as_numpy(x.data).reshape((n,) + self.data_shape)
            x = as_numpy(self.logit.inverse(x).data).reshape((n,) + self.data_shape)
        levels = np.clip(np.floor(x * self.num_levels), 0, self.num_levels - 1)
        return levels.astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def flow_latent_shape(self):
        """Shape of one latent z (default: the data shape; (D,) for a flat flow)."""
        return (self.D,) if self.flat else self.data_shape

    def report(self, split, rng=None, draws=None, batch_size=256):
        """Test NLL of a split, ``draws`` dequantisations per example (default ``test_draws``),
        drawn batch by batch from ``eval_rng`` (so ``eval`` reproduces the end-of-run figure).

        Returns:
            ``{"examples", "draws", "nll", "bpd"}`` (nats per example, bits/dim).
        """
        if not self.num_levels:                           # continuous data: exact, no noise
            return super().report(split, rng, batch_size)
        draws = draws or self.test_draws or self.eval_draws
        x = split.x
        nll = [self.eval_step(x[i:i + batch_size], draws)["nll"] * len(x[i:i + batch_size])
               for i in range(0, len(x), batch_size)]
        value = sum(nll) / len(x)
        return {"examples": len(x), "draws": draws, "nll": value, "bpd": self.bits_per_dim(value)}

    def figures(self, run_dir, rng, split=None):
        """samples.png (images) or density.png (2-D: the learned density with samples on top)."""
        from ... import plots
        if len(self.data_shape) > 1:
            return [plots.image_grid(self.sample(64, rng), os.path.join(run_dir, "samples.png"), nrow=8,
                                     title=f"{self.title} samples", levels=self.num_levels)]
        if self.data_shape == (2,):
            return [plots.density_2d(self.log_prob, os.path.join(run_dir, "density.png"), samples=self.sample(1000, rng),
                                     title=f"{self.title}: learned density and samples")]
        return []
