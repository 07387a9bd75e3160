"""Toy data sets you can draw on paper: 2-D point clouds, 1-D mixtures, 1-D signals.

Every generator takes the number of points ``n`` and an explicit ``rng``
(a ``numpy.random.Generator``); minigen has no global random state, so the same
generator state always gives the same points. Each returns ``(x, y)``: ``x`` is
float32, ``y`` an int64 label per point (which moon, which Gaussian, ...) that
colours plots and conditions class-conditional models, or None where a set has
no natural classes.

The 2-D sets follow the FFJORD toy data [1] (``toy_data.py``), so pictures can be
compared with papers; they fit in the square [-4, 4]^2. The 1-D signals are for
WaveNet [2]: sums of sinusoids, quantised with the mu-law companding of [2], §2.2.

References:
    [1] Grathwohl et al., "FFJORD: Free-form Continuous Dynamics for Scalable
        Reversible Generative Models", ICLR 2019. https://arxiv.org/abs/1810.01367
    [2] van den Oord et al., "WaveNet: A Generative Model for Raw Audio", 2016.
        https://arxiv.org/abs/1609.03499
"""
import numpy as np


def _finish(x, y):
    """Cast to the dtypes every generator returns: float32 points, int64 labels."""
    return np.asarray(x, dtype=np.float32), (None if y is None else np.asarray(y, dtype=np.int64))


# ----------------------------------------------------------------------------- 2-D


def make_moons(n, rng, noise=0.1):
    """Two interleaving half circles (scikit-learn's ``make_moons``, scaled as in FFJORD).

    Args:
        n: number of points; the first moon gets ``n - n // 2``, the second ``n // 2``.
        rng: ``numpy.random.Generator``.
        noise: standard deviation of Gaussian noise added before scaling.

    Returns:
        ``(x, y)``: points (n, 2) and the moon index (n,) in {0, 1}.
    """
    y = (np.arange(n) >= n - n // 2).astype(np.int64)
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)              # (n, 2)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)  # (n, 2)
    x = np.where(y[:, None] == 0, upper, lower) + noise * rng.standard_normal((n, 2))
    return _finish(2.0 * x + np.array([-1.0, -0.2]), y)


def make_circles(n, rng, factor=0.5, noise=0.08):
    """Two concentric circles of radius 3 and ``3 * factor``.

    Args:
        n: number of points; the outer circle gets ``n - n // 2``.
        rng: ``numpy.random.Generator``.
        factor: inner radius relative to the outer one.
        noise: standard deviation of Gaussian noise (before the scale of 3).

    Returns:
        ``(x, y)``: points (n, 2) and 0 for the outer, 1 for the inner circle.
    """
    y = (np.arange(n) >= n - n // 2).astype(np.int64)
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = np.where(y == 0, 1.0, factor)
    x = radius[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    return _finish(3.0 * (x + noise * rng.standard_normal((n, 2))), y)


def eight_gaussians_means(radius=2.0 * np.sqrt(2.0)):
    """The 8 centres of ``make_8gaussians``: evenly spaced on a circle, first on +x.

    Args:
        radius: distance of each centre from the origin.

    Returns:
        Array (8, 2).
    """
    angles = np.arange(8) * (np.pi / 4)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def make_8gaussians(n, rng, radius=2.0 * np.sqrt(2.0), std=0.5 / np.sqrt(2.0)):
    """A ring of 8 equally weighted isotropic Gaussians (the GAN mode-collapse test).

    The exact density is ``gaussian_mixture_log_prob(x, eight_gaussians_means(radius),
    std, np.full(8, 1/8))``, so a model's log-likelihood can be compared with the truth.

    Args:
        n: number of points.
        rng: ``numpy.random.Generator``.
        radius: distance of each centre from the origin.
        std: standard deviation of each component.

    Returns:
        ``(x, y)``: points (n, 2) and the component index (n,) in 0..7.
    """
    y = rng.integers(0, 8, size=n)
    x = eight_gaussians_means(radius)[y] + std * rng.standard_normal((n, 2))
    return _finish(x, y)


def make_checkerboard(n, rng):
    """Uniform density on the 8 dark squares of a 4x4 checkerboard covering [-4, 4]^2.

    Args:
        n: number of points.
        rng: ``numpy.random.Generator``.

    Returns:
        ``(x, y)``: points (n, 2) and the index (n,) in 0..7 of the square hit.
    """
    column = rng.integers(0, 4, size=n)                 # which of the 4 columns
    row = 2 * rng.integers(0, 2, size=n) + column % 2   # a dark square in that column
    x = np.stack([column, row], axis=1) + rng.uniform(0.0, 1.0, size=(n, 2))
    return _finish(2.0 * x - 4.0, 2 * column + row // 2)


def make_swissroll(n, rng, noise=1.0):
    """A 2-D Swiss roll: the spiral ``(t cos t, t sin t)`` for t in [1.5 pi, 4.5 pi], / 5.

    Args:
        n: number of points.
        rng: ``numpy.random.Generator``.
        noise: standard deviation of Gaussian noise (before dividing by 5).

    Returns:
        ``(x, y)``: points (n, 2) and which third of the roll each point lies on (0..2).
    """
    u = rng.uniform(0.0, 1.0, size=n)
    t = 1.5 * np.pi * (1.0 + 2.0 * u)
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))
    return _finish(x / 5.0, np.minimum((3 * u).astype(np.int64), 2))


def make_pinwheel(n, rng, num_arms=5, radial_std=0.3, tangential_std=0.1, rate=0.25):
    """Curved arms spiralling out of the origin (Johnson et al.'s pinwheel, as in FFJORD).

    Args:
        n: number of points; arm of point i is ``i % num_arms``.
        rng: ``numpy.random.Generator``.
        num_arms: number of arms.
        radial_std: spread along an arm.
        tangential_std: spread across an arm.
        rate: how strongly the arms bend with distance.

    Returns:
        ``(x, y)``: points (n, 2) and the arm index (n,).
    """
    y = np.arange(n) % num_arms
    features = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    features[:, 0] += 1.0
    angle = 2.0 * np.pi * y / num_arms + rate * np.exp(features[:, 0])
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # (n, 2, 2)
    x = 2.0 * np.einsum("nij,nj->ni", rotation, features)
    return _finish(x, y)


# ----------------------------------------------------------------------------- 1-D


def make_gaussian_mixture_1d(n, rng, means=(-2.0, 0.5, 3.0), stds=(0.5, 0.3, 1.0),
                             weights=(0.3, 0.3, 0.4)):
    """Points from a 1-D mixture of Gaussians, for KDE, EM and 1-D flows.

    Its exact log density is ``gaussian_mixture_log_prob(x, np.reshape(means, (-1, 1)),
    stds, weights)``.

    Args:
        n: number of points.
        rng: ``numpy.random.Generator``.
        means: component means (K,).
        stds: component standard deviations (K,).
        weights: mixing weights (K,), summing to 1.

    Returns:
        ``(x, y)``: points (n, 1) and the component index (n,).
    """
    means, stds = np.asarray(means, float), np.asarray(stds, float)
    y = rng.choice(len(means), size=n, p=np.asarray(weights, float))
    x = means[y] + stds[y] * rng.standard_normal(n)
    return _finish(x[:, None], y)  # (n, 1)


def gaussian_mixture_log_prob(x, means, stds, weights):
    """Exact log density of a mixture of isotropic Gaussians, in float64.

    ``log p(x) = logsumexp_k [log w_k + log N(x; mu_k, sigma_k^2 I)]``.

    Args:
        x: points (N, D).
        means: component means (K, D).
        stds: per-component standard deviations (K,).
        weights: mixing weights (K,).

    Returns:
        Log densities (N,) in nats.
    """
    x, means = np.asarray(x, np.float64), np.asarray(means, np.float64)
    stds, weights = np.asarray(stds, np.float64), np.asarray(weights, np.float64)
    d = x.shape[1]
    sq = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)  # (N, K)
    log_n = -0.5 * sq / stds**2 - d * np.log(stds) - 0.5 * d * np.log(2.0 * np.pi)
    a = np.log(weights) + log_n
    a_max = a.max(axis=1, keepdims=True)
    return (a_max + np.log(np.exp(a - a_max).sum(axis=1, keepdims=True)))[:, 0]


def make_sinusoids(n, rng, length=256, num_components=3, min_period=4.0, max_period=64.0,
                   noise=0.01):
    """Synthetic 1-D signals in [-1, 1]: sums of sinusoids with random periods and phases.

    Each signal has ``num_components`` sinusoids with periods drawn log-uniformly in
    [min_period, max_period] samples, random amplitudes and phases, scaled so its peak
    is 0.9, plus a little white noise. Long periods need a large receptive field, which
    is what WaveNet's dilated convolutions are for. Quantise with ``mu_law_encode``.

    Args:
        n: number of signals.
        rng: ``numpy.random.Generator``.
        length: samples per signal.
        num_components: sinusoids per signal.
        min_period: shortest period, in samples.
        max_period: longest period, in samples.
        noise: standard deviation of the added white noise.

    Returns:
        ``(x, None)``: signals (n, length).
    """
    k = num_components
    period = np.exp(rng.uniform(np.log(min_period), np.log(max_period), size=(n, k, 1)))
    amplitude = rng.uniform(0.2, 1.0, size=(n, k, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, k, 1))
    t = np.arange(length)[None, None, :]
    x = (amplitude * np.sin(2.0 * np.pi * t / period + phase)).sum(axis=1)  # (n, length)
    x = 0.9 * x / np.abs(x).max(axis=1, keepdims=True)
    x = np.clip(x + noise * rng.standard_normal(x.shape), -1.0, 1.0)
    return _finish(x, None)


def mu_law_encode(x, num_levels=256):
    """Quantise a signal in [-1, 1] to integers 0..num_levels-1 with mu-law companding.

    ``f(x) = sign(x) * ln(1 + mu |x|) / ln(1 + mu)`` with ``mu = num_levels - 1``
    (WaveNet [2], eq. 2), then ``q = round((f + 1) / 2 * mu)``. Small amplitudes get
    finer steps than large ones, as the ear hears them.

    Args:
        x: array of values in [-1, 1] (clipped).
        num_levels: number of quantisation levels (256 in WaveNet).

    Returns:
        int64 array of the same shape with values in 0..num_levels-1.
    """
    mu = num_levels - 1
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    f = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.floor((f + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def mu_law_decode(q, num_levels=256):
    """Invert ``mu_law_encode``: ``x = sign(f) * ((1 + mu)^|f| - 1) / mu``, ``f = 2q/mu - 1``.

    Args:
        q: integer levels in 0..num_levels-1.
        num_levels: number of quantisation levels used to encode.

    Returns:
        float64 array in [-1, 1].
    """
    mu = num_levels - 1
    f = 2.0 * np.asarray(q, np.float64) / mu - 1.0
    return np.sign(f) * np.expm1(np.abs(f) * np.log1p(mu)) / mu


TOY_2D = {
    "moons": make_moons,
    "circles": make_circles,
    "8gaussians": make_8gaussians,
    "checkerboard": make_checkerboard,
    "swissroll": make_swissroll,
    "pinwheel": make_pinwheel,
}
