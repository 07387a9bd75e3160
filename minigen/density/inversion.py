"""Inversion sampling: X = F^-1(U), U ~ U(0, 1), has CDF F (Devroye 1986 [1], §2.1, Theorem 2.1).

If F is continuous and increasing, P(F^-1(U) <= x) = P(U <= F(x)) = F(x). Three uses:

* **The exponential** (rate lam): F(x) = 1 - exp(-lam x), so F^-1(u) = -log(1 - u) / lam.
* **Any 1-D density on a grid** (``TabulatedInverse``): p is tabulated at grid points
  x_0 < ... < x_m (unnormalised is fine), F is its integral by the trapezoid rule,
  normalised to F(x_m) = 1, and F^-1 is the linear interpolation of the table (x_j, F_j)
  read the other way: np.interp(u, F, x).
* **Several dimensions by successive conditionals** (``GridSampler``): p(x_1, ..., x_d) =
  p(x_1) p(x_2 | x_1) ... p(x_d | x_1..x_{d-1}). For a density constant on the cells of a
  grid each factor is a discrete distribution over one axis' cells: draw the cell of axis
  1 from its marginal masses by a discrete inverse CDF, then the cell of axis 2 from the
  masses of that slice, ..., and finally a uniform point inside the chosen cell.

The test (``ks_statistic``): the Kolmogorov-Smirnov statistic D_n = sup_x |F_n(x) - F(x)|
([2] §15.2 / Kolmogorov 1933) of n samples against the target CDF; under the target,
sqrt(n) D_n has Kolmogorov's distribution, whose 95% quantile is 1.358.

References:
    [1] L. Devroye, "Non-Uniform Random Variate Generation", Springer 1986, §2.1-2.2.
    [2] L. Wasserman, "All of Statistics", Springer 2004.
"""
import numpy as np

__all__ = ["exponential_inverse_cdf", "sample_exponential", "TabulatedInverse", "GridSampler",
           "ks_statistic"]


def exponential_inverse_cdf(u, lam=1.0):
    """F^-1(u) = -log(1 - u) / lam for the exponential of rate lam."""
    return -np.log1p(-np.asarray(u, np.float64)) / lam


def sample_exponential(n, rng, lam=1.0):
    """n draws of Exp(lam) by inversion."""
    return exponential_inverse_cdf(rng.random(n), lam)


class TabulatedInverse:
    """Inversion sampling of a 1-D density given on a grid (module docstring).

    Args:
        x: increasing grid points (m + 1,).
        p: density values at the grid points (unnormalised is fine, >= 0).
    """

    def __init__(self, x, p):
        x, p = np.asarray(x, np.float64), np.asarray(p, np.float64)
        if x.ndim != 1 or x.shape != p.shape or len(x) < 2 or np.any(np.diff(x) <= 0) or np.any(p < 0):
            raise ValueError("x must be increasing (m + 1,) and p >= 0 of the same shape")
        F = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(x))])   # trapezoid
        if F[-1] <= 0:
            raise ValueError("the density integrates to zero on the grid")
        self.x, self.Z, self.F = x, F[-1], F / F[-1]

    def cdf(self, t):
        """F(t), the piecewise-linear CDF of the table."""
        return np.interp(t, self.x, self.F)

    def inverse_cdf(self, u):
        """F^-1(u) by reading the table the other way."""
        return np.interp(u, self.F, self.x)

    def sample(self, n, rng):
        """n draws X = F^-1(U)."""
        return self.inverse_cdf(rng.random(n))


def _discrete_inverse(masses, u):
    """Index j with C_{j-1} <= u < C_j, C the cumulative sums of masses (last axis), normalised."""
    C = np.cumsum(masses, axis=-1)
    C = C / C[..., -1:]
    return np.minimum((u[..., None] >= C).sum(-1), masses.shape[-1] - 1)


class GridSampler:
    """Exact sampling of a density constant on the cells of a d-dimensional grid, by successive
    conditionals (module docstring).

    Args:
        edges: a list of d increasing arrays, the cell edges of each axis (n_a + 1,).
        masses: (n_1, ..., n_d) probabilities (or unnormalised masses) of the cells.
    """

    def __init__(self, edges, masses):
        self.edges = [np.asarray(e, np.float64) for e in edges]
        self.masses = np.asarray(masses, np.float64)
        if self.masses.shape != tuple(len(e) - 1 for e in self.edges) or np.any(self.masses < 0):
            raise ValueError("masses must be >= 0 with one entry per grid cell")

    def sample(self, n, rng):
        """n points (n, d): axis 1's cell from its marginal, then each next axis' cell from the
        conditional masses of the slice chosen so far, then uniform inside the cell."""
        d = len(self.edges)
        cells = np.zeros((n, d), np.int64)
        for a in range(d):
            marginal = self.masses.sum(axis=tuple(range(a + 1, d)))            # (n_1, ..., n_{a+1})
            rows = marginal[tuple(cells[:, b] for b in range(a))]               # (n, n_{a+1}) given cells
            cells[:, a] = _discrete_inverse(rows, rng.random(n))
        lo = np.stack([e[cells[:, a]] for a, e in enumerate(self.edges)], 1)
        hi = np.stack([e[cells[:, a] + 1] for a, e in enumerate(self.edges)], 1)
        return lo + (hi - lo) * rng.random((n, d))


def ks_statistic(samples, cdf):
    """D_n = sup_x |F_n(x) - F(x)| = max_i max(i/n - F(x_(i)), F(x_(i)) - (i-1)/n)."""
    x = np.sort(np.asarray(samples, np.float64).ravel())
    n = len(x)
    F = np.asarray(cdf(x), np.float64)
    i = np.arange(1, n + 1)
    return float(max((i / n - F).max(), (F - (i - 1) / n).max()))
