"""Kernel density estimation (Parzen 1962; Rosenblatt 1956), with Silverman's bandwidth rules.

Given points x_1..x_n in R^D, the kernel density estimate with bandwidth h is
(Silverman 1986 [1], eq. 4.2; Wasserman 2004 [2], §20.3, eq. 20.21)

    p_h(y) = (1/n) sum_i K_h(y - x_i),      K_h(t) = h^-D K(t / h)

with one of two kernels ([1] eqs. 4.3, 4.4; V_D = pi^(D/2) / Gamma(D/2 + 1) the volume
of the unit ball):

    Gaussian      K(t) = (2 pi)^(-D/2) exp(-|t|^2 / 2)
    Epanechnikov  K(t) = (D + 2) / (2 V_D) (1 - |t|^2)    for |t| < 1, else 0

Computed in logs, stably: log p_h(y) = logsumexp_i log K_h(y - x_i) - log n, where
|y - x_i|^2 = |y|^2 + |x_i|^2 - 2 y.x_i is one matrix product per block of queries, so a
(queries, n) block is all that is ever held (never (queries, n, D)): the 64-D digits with
n = 1000 points and 10 dequantisations of 447 test images fit in a few MB.

The bandwidth (``bandwidth=``) is a number, or chosen from the points:

    "scott"      h = sigma n^(-1/(D+4))                             Scott 1992 [3], eq. 6.42
    "silverman"  h = (4 / ((D + 2) n))^(1/(D+4)) sigma              [1] eq. 4.14 (1.06 sigma
                                                                    n^(-1/5) in 1-D)
    "loo-cv"     the h of a grid that maximises the leave-one-out log-likelihood
                 CV(h) = (1/n) sum_i log p_{h,-i}(x_i),  p_{h,-i} without x_i   [1] §3.4.4

sigma^2 is the mean of the D marginal variances. Both rules are normal-reference rules for
the Gaussian kernel; for the Epanechnikov kernel they are multiplied by the ratio of the
kernels' AMISE-optimal bandwidths, [R(K_E) mu_2(K_G)^2 / (R(K_G) mu_2(K_E)^2)]^(1/(D+4))
= [2 (D+2)(D+4)(4 pi)^(D/2) / V_D]^(1/(D+4)) (2.214 in 1-D; R(K) = int K^2, mu_2 the
kernel's variance; [1] §3.3.2, §4.3.2).

**Sphering** (``sphere=True``; Fukunaga 1972 [4], [1] §4.2.1): with very unequal spreads
(an 8x8 digit's corner pixels hardly vary, its centre pixels span [0, 1]) one h cannot
suit every direction. Sphere the points by their sample covariance S = V diag(lam) V^T,
z = W^T x with W = V diag(lam)^(-1/2), smooth the z with the radially symmetric kernel,
and transform back: p(y) = |det W| p_h,z(W^T y), i.e. the bandwidth matrix H = h^2 S. On
the digits this takes the validation NLL from 157 to 137 nats.

Sampling is exact: pick a point uniformly, add h times a draw of K. A draw of the
D-dimensional Epanechnikov kernel is the first D coordinates of a uniform point of the
(D + 2)-dimensional unit ball.

How the run layer fits it: ``train_step(batch)`` appends the batch's points (dequantised
with fresh noise from ``self.rng`` for discrete data) to the buffer ``points``; one epoch
stores the training set, and each further epoch another dequantised copy of it. The points
and the model's generator are in the checkpoint, so a resumed run is exact.

References:
    [1] B. W. Silverman, "Density Estimation for Statistics and Data Analysis", 1986.
    [2] L. Wasserman, "All of Statistics", Springer 2004, ch. 20.
    [3] D. W. Scott, "Multivariate Density Estimation", Wiley 1992.
    [4] K. Fukunaga, "Introduction to Statistical Pattern Recognition", 1972 (sphering).
"""
import math

import numpy as np

from autograd import as_numpy

from ..registry import Preset, TrainConfig, register
from ._continuous import DequantizedDensity, prior_log_density
from .base import ClassicalModel

__all__ = ["KDE", "unit_ball_log_volume", "kde_log_density", "bandwidth_rule", "loo_log_likelihood"]

KERNELS = ("gaussian", "epanechnikov")
RULES = ("scott", "silverman", "loo-cv")


def unit_ball_log_volume(D):
    """log V_D, V_D = pi^(D/2) / Gamma(D/2 + 1): the volume of the unit ball of R^D."""
    return 0.5 * D * math.log(math.pi) - math.lgamma(0.5 * D + 1)


def _log_kernel(sq_dist, h, D, kernel):
    """log K_h(t) from |t|^2 (any shape): the two kernels of the module docstring."""
    if kernel == "gaussian":
        return -0.5 * sq_dist / h ** 2 - 0.5 * D * math.log(2 * math.pi * h ** 2)
    log_c = math.log(0.5 * (D + 2)) - unit_ball_log_volume(D) - D * math.log(h)
    with np.errstate(divide="ignore"):
        return log_c + np.log(np.maximum(1.0 - sq_dist / h ** 2, 0.0))            # -inf outside


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return (np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


def _sq_distances(y, x, x_sq):
    """|y_q - x_i|^2 for a block of queries, (Q, n), by one matrix product."""
    return np.maximum((y ** 2).sum(1)[:, None] + x_sq[None, :] - 2.0 * y @ x.T, 0.0)


def kde_log_density(y, x, h, kernel="gaussian", block_bytes=2 ** 26):
    """log p_h(y) = logsumexp_i log K_h(y - x_i) - log n, in blocks of queries.

    Args:
        y: queries (Q, D); x: the points (n, D); h: bandwidth > 0; kernel: one of KERNELS.
        block_bytes: the most memory one (block, n) array of distances may take.

    Returns:
        float64 (Q,).
    """
    y, x = np.asarray(y, np.float64), np.asarray(x, np.float64)
    n, D = x.shape
    x_sq = (x ** 2).sum(1)
    block = max(1, block_bytes // (8 * n))
    out = np.empty(len(y))
    for s in range(0, len(y), block):
        log_k = _log_kernel(_sq_distances(y[s:s + block], x, x_sq), h, D, kernel)   # (B, n)
        out[s:s + block] = _logsumexp(log_k, axis=1) - math.log(n)
    return out


def bandwidth_rule(x, rule, kernel="gaussian"):
    """Scott's or Silverman's normal-reference bandwidth of points x (n, D) (module docstring)."""
    n, D = x.shape
    sigma = math.sqrt(np.var(x, axis=0, ddof=1).mean())
    h = sigma * n ** (-1.0 / (D + 4))
    if rule == "silverman":
        h *= (4.0 / (D + 2)) ** (1.0 / (D + 4))
    if kernel == "epanechnikov":
        h *= math.exp((math.log(2 * (D + 2) * (D + 4)) + 0.5 * D * math.log(4 * math.pi)
                       - unit_ball_log_volume(D)) / (D + 4))
    return h


def loo_log_likelihood(x, grid, kernel="gaussian", block_bytes=2 ** 26):
    """CV(h) = (1/n) sum_i log p_{h,-i}(x_i) for every h of ``grid``: (len(grid),) float64."""
    x = np.asarray(x, np.float64)
    n, D = x.shape
    x_sq = (x ** 2).sum(1)
    block = max(1, block_bytes // (8 * n))
    total = np.zeros(len(grid))
    for s in range(0, n, block):
        sq = _sq_distances(x[s:s + block], x, x_sq)                               # (B, n)
        self_pair = (np.arange(len(sq)), np.arange(s, s + len(sq)))
        for g, h in enumerate(grid):
            log_k = _log_kernel(sq, h, D, kernel)
            log_k[self_pair] = -np.inf                                            # leave x_i out
            total[g] += (_logsumexp(log_k, axis=1) - math.log(n - 1)).sum()
    return total / n


@register("kde")
class KDE(DequantizedDensity, ClassicalModel):
    """Kernel density estimate of the training points (module docstring).

    Args:
        data_shape: shape of one example.
        num_levels: L for discrete data (dequantised, module ``_continuous``), None otherwise.
        kernel: "gaussian" or "epanechnikov".
        bandwidth: h > 0 (in the units of the points: [0, 1) for dequantised images), or
            "scott", "silverman", "loo-cv" (chosen from the stored points).
        sphere: smooth in the sphered coordinates (bandwidth matrix h^2 S; module docstring).
        grid: the loo-cv grid as factors of Silverman's h.
        eval_draws, test_draws: dequantisations per image in validation / the test report.
        rng: generator of the dequantisation noise and of nothing else.
        dtype: accepted for the protocol; the estimate is computed in float64.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, kernel="gaussian", bandwidth=1.04, sphere=True,
                       eval_draws=10, test_draws=10),
            train=TrainConfig(data="digits", epochs=1, batch_size=64, seed=0),
            about="sphered Gaussian KDE of the 1000 dequantised training digits; h = 1.04 minimised "
                  "the validation NLL (10 draws) over h = 0.90..1.30 in steps of 0.02 (136.98 nats; "
                  "without sphering the best, h = 0.15, gives 156.99)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, kernel="gaussian", bandwidth=0.05),
            train=TrainConfig(data="digits", epochs=1, steps=3, batch_size=64, seed=0),
            about="seconds: 192 training digits"),
        "moons": Preset(
            model=dict(data_shape=(2,), num_levels=None, kernel="gaussian", bandwidth="loo-cv"),
            train=TrainConfig(data="moons", epochs=1, steps=8, batch_size=250, seed=0),
            about="2-D two moons, 2000 points, bandwidth by leave-one-out likelihood"),
        "moons-epanechnikov": Preset(
            model=dict(data_shape=(2,), num_levels=None, kernel="epanechnikov", bandwidth="loo-cv"),
            train=TrainConfig(data="moons", epochs=1, steps=8, batch_size=250, seed=0),
            about="the same with the Epanechnikov kernel (zero density far from every point)"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, kernel="gaussian", bandwidth="silverman",
                 sphere=False, grid=tuple(np.round(2.0 ** np.linspace(-3, 1, 17), 4)), eval_draws=1, test_draws=10,
                 rng=None, dtype=np.float64):
        super().__init__(rng)
        self._setup_data(data_shape, num_levels, eval_draws, test_draws)
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r} is not allowed: choose one of {', '.join(KERNELS)}")
        if isinstance(bandwidth, str) and bandwidth not in RULES or \
                not isinstance(bandwidth, str) and not (isinstance(bandwidth, (int, float)) and bandwidth > 0):
            raise ValueError(f"bandwidth={bandwidth!r} is not allowed: a number > 0 or one of {', '.join(RULES)}")
        if len(grid) < 1 or min(grid) <= 0:
            raise ValueError(f"grid={grid!r} is not allowed: factors > 0")
        self.kernel, self.bandwidth, self.sphere = kernel, bandwidth, bool(sphere)
        self.grid = tuple(float(g) for g in grid)
        self.register_buffer("points", np.zeros((0, self.D), np.float64))          # x_1..x_n
        self._cache = (None, None)

    @property
    def title(self):
        return f"KDE ({self.kernel})"

    def stored(self):
        """The points x_1..x_n, float64 (n, D)."""
        return as_numpy(self.points.data)

    def fitted(self):
        """``(z, W, log|det W|, h)`` of the stored points, computed once per fit: z = x W the
        (sphered) points, W the sphering matrix (identity without sphering), h the bandwidth."""
        x = self.stored()
        if self._cache[0] != len(x):
            W, log_det = np.eye(self.D), 0.0
            if self.sphere and len(x) > 1:          # eigenvalues floored: S is singular for n <= D
                lam, V = np.linalg.eigh(np.cov(x, rowvar=False).reshape(self.D, self.D))
                lam = np.maximum(lam, 1e-6 * max(lam.mean(), 1e-300))
                W, log_det = V / np.sqrt(lam), -0.5 * float(np.log(lam).sum())     # S^(-1/2)
            z = x @ W                                                              # (n, D)
            h = self.bandwidth
            if isinstance(h, str):
                h = bandwidth_rule(z, "silverman" if h == "loo-cv" else h, self.kernel)
                if self.bandwidth == "loo-cv":
                    grid = h * np.asarray(self.grid)
                    h = grid[np.argmax(loo_log_likelihood(z, grid, self.kernel))]
            self._cache = (len(x), (z, W, log_det, float(h)))
        return self._cache[1]

    def h(self):
        """The bandwidth in use (in sphered units when ``sphere``)."""
        return self.fitted()[3]

    # -- the protocol ----------------------------------------------------------------------
    def train_step(self, batch):
        """Append the batch's points; returns its NLL under the estimate before they were added."""
        x = self.split_batch(batch)[0]
        metrics = self.nats_metrics(self.nll(x, self.eval_rng(x)))
        self.points = np.concatenate([self.stored(), self.points_of(x)])
        return metrics

    def points_of(self, x):
        """The points a batch adds: (x + u) / L with fresh u from ``self.rng``, or x."""
        return self.to_points(x, self.rng)

    def log_density(self, y):
        """log p_h(y) of points y (N, D), float64 (N,); N(1/2, I/12) before any data."""
        y = np.asarray(y, np.float64).reshape(len(y), -1)
        x = self.stored()
        if len(x) == 0:
            return prior_log_density(y, bool(self.num_levels))
        z, W, log_det, h = self.fitted()
        return kde_log_density(y @ W, z, h, self.kernel) + log_det

    def sample_points(self, n, rng):
        """y = x_I + h t with I uniform on 1..n and t a draw of the kernel, (n, D)."""
        x = self.stored()
        if len(x) == 0:
            m0, s0 = (0.5, math.sqrt(1 / 12)) if self.num_levels else (0.0, 1.0)
            return m0 + s0 * rng.standard_normal((n, self.D))
        z, W, _, h = self.fitted()
        centres = z[rng.integers(0, len(z), n)]
        if self.kernel == "gaussian":
            t = rng.standard_normal((n, self.D))
        else:
            g = rng.standard_normal((n, self.D + 2))                              # uniform in the
            t = (g / np.linalg.norm(g, axis=1, keepdims=True)                     # (D+2)-ball, cut
                 * rng.random((n, 1)) ** (1 / (self.D + 2)))[:, :self.D]
        return np.linalg.solve(W.T, (centres + h * t).T).T                        # x = z W^-1

    def load_state_dict(self, state, strict=True):
        """As ``Module.load_state_dict``; the number of stored points is the state's."""
        if "points" in state:
            self.points = np.zeros(np.shape(state["points"]), np.float64)
        self._cache = (None, None)
        return super().load_state_dict(state, strict)
