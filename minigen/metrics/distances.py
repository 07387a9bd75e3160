"""Distances between two sets of feature vectors: FID, KID and MMD.

All three compare a set of real features X (m, d) with a set of generated features
Y (n, d); none needs a likelihood, so every sampler of minigen can be judged by them.

**FID** (Heusel et al. 2017 [1], §"FID", eq. 6): fit a Gaussian to each set and take
the squared Fréchet (Wasserstein-2) distance between the two Gaussians::

    FID = |mu_X - mu_Y|^2 + tr(S_X) + tr(S_Y) - 2 tr((S_X S_Y)^(1/2))

``S_X S_Y`` is not symmetric, and a general matrix square root (Schur / Newton) can
return complex parts on near-singular covariances. It is similar, however, to the
symmetric positive semi-definite ``M = S_X^(1/2) S_Y S_X^(1/2)`` (conjugate by
``S_X^(1/2)``), so the two have the same eigenvalues and ``tr (S_X S_Y)^(1/2) =
tr M^(1/2) = sum_i sqrt(lambda_i(M))``: two symmetric eigendecompositions, real by
construction, eigenvalues clipped at 0 against rounding (``trace_sqrt_product``).

**MMD** (Gretton et al. 2012 [2], Lemma 6, eq. 3): with a kernel k, the unbiased
estimator of the squared maximum mean discrepancy::

    MMD_u^2 = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i, j} k(x_i, y_j)

It can be slightly negative when the two distributions are equal. ``mmd`` uses the
Gaussian kernel ``k(x, y) = exp(-|x - y|^2 / (2 sigma^2))`` (sigma by the median
heuristic of [2], §8, unless given).

**KID** (Bińkowski et al. 2018 [3], §"KID", Appendix D): MMD_u^2 with the cubic
polynomial kernel ``k(x, y) = (x.y / d + 1)^3`` on the features, averaged over random
subsets of equal size (their code: 100 subsets of 1000). Unlike FID it is unbiased:
its expectation does not depend on the number of samples, so small sets can be
compared (FID of m samples overestimates the distance by O(1/m)).

References:
    [1] M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler and S. Hochreiter, "GANs Trained
        by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.
        https://arxiv.org/abs/1706.08500
    [2] A. Gretton, K. Borgwardt, M. Rasch, B. Schölkopf and A. Smola, "A Kernel Two-Sample
        Test", JMLR 13, 2012. https://jmlr.org/papers/v13/gretton12a.html
    [3] M. Bińkowski, D. Sutherland, M. Arbel and A. Gretton, "Demystifying MMD GANs",
        ICLR 2018. https://arxiv.org/abs/1801.01401
"""
import numpy as np

__all__ = ["sqrtm_psd", "trace_sqrt_product", "frechet_distance", "gaussian_stats", "fid",
           "mmd2_unbiased", "gaussian_kernel", "polynomial_kernel", "median_bandwidth", "mmd", "kid"]


def _features(x):
    """A float64 (N, d) array of feature vectors (images are flattened)."""
    x = np.asarray(x, np.float64)
    return x.reshape(len(x), -1)                                     # (N, d)


def sqrtm_psd(S):
    """The symmetric square root of a symmetric positive semi-definite matrix.

    ``S = V diag(lambda) V^T  ->  S^(1/2) = V diag(sqrt(max(lambda, 0))) V^T``.

    Args:
        S: (d, d) symmetric PSD (small negative eigenvalues from rounding are clipped).

    Returns:
        (d, d) float64.
    """
    S = np.asarray(S, np.float64)
    lam, V = np.linalg.eigh(0.5 * (S + S.T))
    return (V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T


def trace_sqrt_product(S1, S2):
    """``tr (S1 S2)^(1/2)`` for symmetric PSD S1, S2, through ``M = S1^(1/2) S2 S1^(1/2)``.

    ``S1 S2 = S1^(1/2) M S1^(-1/2)`` (where S1 is invertible; by continuity otherwise), so
    ``S1 S2`` and the symmetric PSD ``M`` share their eigenvalues, and the trace of the
    square root is ``sum_i sqrt(lambda_i(M))`` (module docstring).
    """
    root = sqrtm_psd(S1)
    M = root @ np.asarray(S2, np.float64) @ root
    lam = np.linalg.eigvalsh(0.5 * (M + M.T))
    return float(np.sqrt(np.clip(lam, 0.0, None)).sum())


def frechet_distance(mu1, S1, mu2, S2):
    """The squared Fréchet distance between N(mu1, S1) and N(mu2, S2) ([1] eq. 6).

    Returns:
        ``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^(1/2)`` as a float (>= 0 up to rounding).
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    value = diff @ diff + np.trace(S1) + np.trace(S2) - 2.0 * trace_sqrt_product(S1, S2)
    return float(max(value, 0.0))


def gaussian_stats(x):
    """Mean (d,) and covariance (d, d) (unbiased, ddof = 1) of features x (N, d)."""
    x = _features(x)
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def fid(x, y):
    """FID between two sets of features (or images, flattened): ``frechet_distance`` of
    the Gaussians fitted to each. Feed it classifier features (``features.digits_features``)."""
    return frechet_distance(*gaussian_stats(x), *gaussian_stats(y))


# -- kernels and MMD -------------------------------------------------------------------------
def _sq_distances(x, y):
    """Squared Euclidean distances (m, n), clipped at 0 against rounding."""
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.clip(d2, 0.0, None)


def gaussian_kernel(sigma):
    """``k(x, y) = exp(-|x - y|^2 / (2 sigma^2))`` as a function of two (., d) arrays."""
    return lambda x, y: np.exp(-_sq_distances(x, y) / (2.0 * sigma * sigma))


def polynomial_kernel(degree=3, gamma=None, coef0=1.0):
    """``k(x, y) = (gamma x.y + coef0)^degree``, gamma = 1/d by default (KID's kernel, [3])."""
    def k(x, y):
        g = 1.0 / x.shape[1] if gamma is None else gamma
        return (g * x @ y.T + coef0) ** degree
    return k


def mmd2_unbiased(x, y, kernel):
    """The unbiased estimator MMD_u^2 of [2] eq. 3 (module docstring).

    Args:
        x: (m, d) with m >= 2; y: (n, d) with n >= 2.
        kernel: ``kernel(a, b) -> (len(a), len(b))`` Gram matrix.
    """
    x, y = _features(x), _features(y)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 examples in each set, got {m} and {n}")
    Kxx, Kyy, Kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    xx = (Kxx.sum() - np.trace(Kxx)) / (m * (m - 1))                 # i != j
    yy = (Kyy.sum() - np.trace(Kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * Kxy.mean())


def median_bandwidth(x, y, max_points=1000):
    """The median heuristic ([2] §8): sigma = median pairwise distance of the pooled sets."""
    z = np.concatenate([_features(x), _features(y)])[:max_points]
    d2 = _sq_distances(z, z)[np.triu_indices(len(z), k=1)]
    return float(np.sqrt(np.median(d2)))


def mmd(x, y, sigma=None):
    """Unbiased squared MMD with a Gaussian kernel of bandwidth ``sigma`` (median heuristic
    when None). Returns a float (can be slightly below 0 for equal distributions)."""
    sigma = median_bandwidth(x, y) if sigma is None else sigma
    return mmd2_unbiased(x, y, gaussian_kernel(sigma))


def kid(x, y, subsets=100, subset_size=1000, rng=None):
    """Kernel Inception Distance ([3]): MMD_u^2, cubic polynomial kernel, subset average.

    Args:
        x, y: features (m, d), (n, d).
        subsets: number of random subsets.
        subset_size: examples per subset drawn from each set (capped at min(m, n)).
        rng: ``numpy.random.Generator`` choosing the subsets (default seed 0).

    Returns:
        ``(mean, std)`` over the subsets (std: the spread of one subset's estimate).
    """
    x, y = _features(x), _features(y)
    rng = np.random.default_rng(0) if rng is None else rng
    size = min(subset_size, len(x), len(y))
    k = polynomial_kernel(3)
    values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                            y[rng.choice(len(y), size, replace=False)], k) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
