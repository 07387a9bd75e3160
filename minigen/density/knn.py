"""The k-nearest-neighbour density estimate (Loftsgaarden & Quesenberry 1965 [1]).

Grow a ball around x until it holds k of the n data points; its radius is R_k(x), the
distance to the k-th nearest point. Setting the fraction of points inside, k / n, equal to
p(x) times the ball's volume V_d R_k(x)^d gives ([2] §2.5.2, eq. 2.246)

    p(x) = k / (n V_d R_k(x)^d),      V_d = pi^(d/2) / Gamma(d/2 + 1)  (V_1 = 2, V_2 = pi)

It is not a density: far from the data R_k(x) grows like |x|, so in 1-D p(x) ~ k / (2 n |x|)
and its integral over [-T, T] grows like (k/n) log T without bound ([3] §5.2;
``examples/05_classical_density.py`` shows it numerically, ``tests`` check it grows).

References:
    [1] D. O. Loftsgaarden, C. P. Quesenberry, "A nonparametric estimate of a multivariate
        density function", Annals of Mathematical Statistics 36(3), 1965.
    [2] C. M. Bishop, "Pattern Recognition and Machine Learning", Springer 2006, §2.5.2.
    [3] B. W. Silverman, "Density Estimation for Statistics and Data Analysis", 1986, §5.2.
"""
import math

import numpy as np

__all__ = ["unit_ball_volume", "knn_density"]


def unit_ball_volume(d):
    """V_d = pi^(d/2) / Gamma(d/2 + 1)."""
    return math.pi ** (d / 2) / math.gamma(d / 2 + 1)


def knn_density(query, data, k):
    """p(x) = k / (n V_d R_k(x)^d) at each query point.

    Args:
        query: (Q, d) or (Q,) points; data: (n, d) or (n,) points; k: 1 <= k <= n.

    Returns:
        float64 (Q,).
    """
    data = np.asarray(data, np.float64)
    data = data.reshape(len(data), -1)                                      # (n, d)
    query = np.asarray(query, np.float64).reshape(-1, data.shape[1])        # (Q, d)
    n, d = data.shape
    if not 1 <= k <= n:
        raise ValueError(f"k={k!r} is not allowed: 1 <= k <= n = {n}")
    out = np.empty(len(query))
    block = max(1, 2 ** 24 // n)
    for s in range(0, len(query), block):
        dist = np.sqrt(((query[s:s + block, None, :] - data[None]) ** 2).sum(-1))   # (B, n)
        R_k = np.partition(dist, k - 1, axis=1)[:, k - 1]                   # k-th smallest distance
        out[s:s + block] = k / (n * unit_ball_volume(d) * R_k ** d)
    return out
