"""Continuous densities of discrete images: the dequantisation bookkeeping KDE and EM share.

A kernel density estimate or a Gaussian mixture is a density p on R^D. To put its number
on the digits in the README's table beside RealNVP's, we model the 8x8 digits exactly as
the flows do (``minigen/models/flows/base.py``, after Theis et al. 2016, §3.1 [1]):

    y = (x + u) / L,    u ~ U[0, 1)^D       x in {0..L-1}^D, y in [0, 1)^D
    log P(x) >= E_u[ log p((x + u) / L) ] - D log L                         (Jensen)

so the figure reported is the upper bound on the negative log-likelihood

    NLL(x) = -(1/S) sum_s log p((x + u_s) / L) + D log L        nats per image

with S dequantisation draws (``eval_draws`` during training, ``test_draws`` = 10 in the
test report), drawn from ``eval_rng(x)`` (common random numbers: every evaluation of the
same batch sees the same noise). The -D log L term is the Jacobian of y = v / L. For
continuous data (the 2-D toys, ``num_levels`` None) the NLL is plainly -log p(x).

Before it has seen any data a model is the Gaussian with the uniform's moments on the
unit cube, N(1/2, I/12) (N(0, I) for continuous data): a proper density, so the first
validation has a finite figure. Sampling maps y back to levels by x = floor(L y), clipped.

This file is a mixin (``DequantizedDensity``), used beside ``ClassicalModel``; the model
provides ``log_density(y)`` on (N, D) float64 points and ``sample_points(n, rng)``.

References:
    [1] L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative
        models", ICLR 2016, §3.1. https://arxiv.org/abs/1511.01844
"""
import math
import os
import zlib

import numpy as np

from autograd import as_numpy

from ..base import CRC, check_positive

__all__ = ["DequantizedDensity", "fixed_dequantize", "prior_log_density"]


def fixed_dequantize(x, num_levels, copies=1, key=0):
    """``copies`` dequantisations (x + u) / L of every image, with u seeded by the image itself.

    The noise of image i, copy c comes from ``default_rng([key, crc32(x_i), c])``, so the same
    image always gets the same noise whatever the batch order: EM then climbs one fixed
    objective (its log-likelihood never decreases), and a resumed run sees the same data.

    Args:
        x: integers (N, ...) in 0..L-1.
        num_levels: L.
        copies: draws per image.
        key: a seed separating this use of the noise from others.

    Returns:
        float64 (copies * N, D): copy c of all images, then copy c + 1.
    """
    x = np.asarray(as_numpy(x)).reshape(len(x), -1)                     # (N, D)
    u = np.empty((copies,) + x.shape)                                   # (C, N, D)
    for i, row in enumerate(x):
        crc = zlib.crc32(np.ascontiguousarray(row).tobytes())
        for c in range(copies):
            u[c, i] = np.random.default_rng([key, crc, c]).random(x.shape[1])
    return ((x[None] + u) / num_levels).reshape(-1, x.shape[1])        # (C * N, D)


def prior_log_density(y, discrete):
    """log N(y; m0, s0^2 I): m0 = 1/2, s0^2 = 1/12 on the unit cube, else N(0, I). (N,)"""
    m0, var0 = (0.5, 1.0 / 12.0) if discrete else (0.0, 1.0)
    D = y.shape[1]
    return -0.5 * ((y - m0) ** 2).sum(axis=1) / var0 - 0.5 * D * math.log(2 * math.pi * var0)


class DequantizedDensity:
    """Mixin: NLL, eval_step, report, sample and figures of a density on (dequantised) data."""

    eval_key = (4321, CRC)

    def _setup_data(self, data_shape, num_levels, eval_draws, test_draws):
        check_positive(data_shape=data_shape, eval_draws=eval_draws, test_draws=test_draws)
        if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 2):
            raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2, or None "
                             "for continuous data")
        self.data_shape, self.num_levels = tuple(data_shape), num_levels
        self.D = int(np.prod(self.data_shape))
        self.eval_draws, self.test_draws = eval_draws, test_draws

    def to_points(self, x, rng=None, u=None):
        """Data -> points of R^D, float64 (N, D): (x + u) / L for discrete data (u from ``rng``
        or given, shaped like x), x itself for continuous data."""
        x = np.asarray(as_numpy(getattr(x, "data", x)))
        if not self.num_levels:
            return x.reshape(len(x), -1).astype(np.float64)
        if u is None:
            u = rng.random(x.shape)
        return ((x.astype(np.float64) + np.asarray(u, np.float64)) / self.num_levels).reshape(len(x), -1)

    def nll(self, x, rng=None, draws=1, u=None):
        """The NLL of the module docstring, nats per example, float64 (N,).

        Args:
            x: a batch as the data set holds it.
            rng: generator of the dequantisation noise (default ``self.rng``).
            draws: number of noise draws S.
            u: the noise itself, (S, *x.shape) in [0, 1), instead of ``rng``.
        """
        if not self.num_levels:
            return -self.log_density(self.to_points(x))
        rng = self.rng if rng is None else rng
        draws = draws if u is None else len(u)
        total = sum(self.log_density(self.to_points(x, rng, None if u is None else u[s])) for s in range(draws))
        return -total / draws + self.D * math.log(self.num_levels)

    def log_prob(self, x, draws=1):
        """log p(x) (continuous data), or the dequantisation lower bound on log P(x) (discrete)."""
        return -self.nll(x, self.rng, draws)

    def eval_step(self, batch, draws=None):
        """NLL (nats) and bits/dim of a batch, ``draws`` (default ``eval_draws``) dequantisations
        from ``eval_rng`` (common random numbers)."""
        x = self.split_batch(batch)[0]
        return self.nats_metrics(self.nll(x, self.eval_rng(x), draws or self.eval_draws))

    def report(self, split, rng=None, draws=None, batch_size=256):
        """Test NLL with ``draws`` (default ``test_draws``) dequantisations per example."""
        draws = draws or self.test_draws
        x = split.x
        total = sum(self.eval_step(x[i:i + batch_size], draws)["nll"] * len(x[i:i + batch_size])
                    for i in range(0, len(x), batch_size))
        value = total / len(x)
        out = {"examples": len(x), "nll": value, "bpd": self.bits_per_dim(value)}
        return {"examples": len(x), "draws": draws, **out} if self.num_levels else out

    def sample(self, n, rng):
        """``n`` samples shaped like the data: levels floor(L y) clipped (discrete), else y."""
        y = self.sample_points(n, rng)                                      # (n, D)
        if not self.num_levels:
            return y.reshape((n,) + self.data_shape).astype(np.float32)
        x = np.clip(np.floor(y * self.num_levels), 0, self.num_levels - 1)
        return x.reshape((n,) + self.data_shape).astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def figures(self, run_dir, rng, split=None):
        """samples.png (images), density.png (2-D: density, data and samples) or a 1-D curve."""
        from ... import plots
        path = os.path.join(run_dir, "samples.png" if len(self.data_shape) > 1 else "density.png")
        if len(self.data_shape) > 1:
            return [plots.image_grid(self.sample(64, rng), path, nrow=8, title=f"{self.title} samples",
                                     levels=self.num_levels)]
        data = None if split is None else split.x[:2000]
        fn = lambda p: self.log_density(np.asarray(p, np.float64))  # noqa: E731
        if self.data_shape == (2,):
            return [plots.density_2d(fn, path, samples=self.sample(1000, rng), data=data,
                                     title=f"{self.title}: density, data (white), samples")]
        if self.data_shape == (1,):
            return [plots.density_1d(fn, path, samples=self.sample(2000, rng), data=data, title=self.title)]
        return []
