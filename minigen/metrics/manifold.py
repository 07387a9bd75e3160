"""Nearest-neighbour metrics: precision and recall, memorisation, modes covered.

**Precision and recall** (Kynkäänniemi et al. 2019 [1], §2, eqs. 1-2). FID mixes two
failures into one number: samples that look wrong (low *precision*) and parts of the
data the model never produces (low *recall*). Each set of features is turned into an
estimate of its manifold: the union of balls around each point, of radius its distance
to its k-th nearest neighbour in the same set (k = 3 in [1])::

    f(phi, Phi) = 1  if  |phi - phi'| <= |phi' - NN_k(phi', Phi)|  for some phi' in Phi
    precision   = 1/|Phi_g| sum_{phi_g} f(phi_g, Phi_r)      samples inside the data's manifold
    recall      = 1/|Phi_r| sum_{phi_r} f(phi_r, Phi_g)      data inside the samples' manifold

**Memorisation.** A model that copies its training images scores well on every metric
above. So for each sample, the distance to its nearest *training* image; for
comparison, the same distance for each *test* image (held-out data drawn from the same
distribution). A sample closer to a training image than almost any test image is (the
``q`` quantile of the test images' distances, 5 % by default) is suspicious: an honest
model has about ``q`` of its samples below that threshold, a copying one all of them.
(The threshold and the comparison with held-out data are our choices; Meehan et al.
2020, "A non-parametric test to detect data-copying", make the test rigorous.)

**Modes covered** on a mixture of Gaussians (the GAN mode-collapse test on a ring of 8
Gaussians): a sample is *high quality* if it lies within 3 standard deviations of its
nearest mode (Srivastava et al. 2017 [2], §5.1); a mode counts as covered when at
least ``min_fraction`` of the samples are high-quality samples of that mode (1 % by
default: our choice, so a few stray points do not count as a mode).

References:
    [1] T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen and T. Aila, "Improved Precision and
        Recall Metric for Assessing Generative Models", NeurIPS 2019. https://arxiv.org/abs/1904.06991
    [2] A. Srivastava, L. Valkov, C. Russell, M. Gutmann and C. Sutton, "VEEGAN: Reducing Mode
        Collapse in GANs using Implicit Variational Learning", NeurIPS 2017.
        https://arxiv.org/abs/1705.07761
"""
import numpy as np

from .distances import _features, _sq_distances

__all__ = ["pairwise_distances", "knn_radii", "precision_recall", "nearest_distances", "memorisation",
           "modes_covered"]


def pairwise_distances(x, y, chunk=2048):
    """Euclidean distances (m, n) between the rows of x (m, d) and y (n, d), in chunks of rows."""
    x, y = _features(x), _features(y)
    return np.concatenate([np.sqrt(_sq_distances(x[i:i + chunk], y)) for i in range(0, len(x), chunk)])


def knn_radii(x, k=3):
    """Distance of each row of x to its k-th nearest neighbour in x, itself excluded (N,)."""
    d = pairwise_distances(x, x)
    if not 1 <= k < len(d):
        raise ValueError(f"k={k} is not allowed: k must be in [1, {len(d) - 1}] for {len(d)} points")
    return np.partition(d, k, axis=1)[:, k]                # column 0 is the point itself (distance 0)


def _inside(points, centres, radii):
    """1 where a point lies in at least one ball (centre, radius), else 0 (as floats)."""
    return (pairwise_distances(points, centres) <= radii[None, :]).any(axis=1).astype(np.float64)


def precision_recall(real, fake, k=3):
    """Improved precision and recall of [1] (module docstring).

    Args:
        real: features of data (m, d); fake: features of samples (n, d).
        k: the neighbour that sets each ball's radius.

    Returns:
        ``(precision, recall)`` as floats in [0, 1].
    """
    real, fake = _features(real), _features(fake)
    precision = _inside(fake, real, knn_radii(real, k)).mean()
    recall = _inside(real, fake, knn_radii(fake, k)).mean()
    return float(precision), float(recall)


def nearest_distances(x, reference):
    """Distance of each row of x to its nearest row of ``reference`` (N,)."""
    return pairwise_distances(x, reference).min(axis=1)


def memorisation(samples, train, test, q=0.05):
    """How close samples come to the training images, against held-out test images.

    Args:
        samples: generated examples (n, ...); train, test: data (m, ...), (t, ...) in the
            same scale (pixels or features).
        q: the quantile of the test images' nearest-training distances used as threshold.

    Returns:
        ``{"threshold", "fraction_close" (samples below the threshold; about q for an honest
        model), "expected" (= q), "median_sample", "median_test" (median nearest-training
        distances), "flagged" (fraction_close > 2 q + 0.05)}``.
    """
    d_sample, d_test = nearest_distances(samples, train), nearest_distances(test, train)
    threshold = float(np.quantile(d_test, q))
    fraction = float((d_sample < threshold).mean()) if threshold > 0 else float((d_sample == 0).mean())
    return {"threshold": threshold, "fraction_close": fraction, "expected": q,
            "median_sample": float(np.median(d_sample)), "median_test": float(np.median(d_test)),
            "flagged": bool(fraction > 2 * q + 0.05)}


def modes_covered(samples, means, std, n_sigma=3.0, min_fraction=0.01):
    """Modes of a Gaussian mixture that the samples cover (module docstring).

    Args:
        samples: (n, d) points; means: (K, d) mode centres; std: each mode's standard deviation.
        n_sigma: a sample is high quality within ``n_sigma * std`` of its nearest mode.
        min_fraction: fraction of all samples a mode needs to count as covered.

    Returns:
        ``{"modes": covered count, "of": K, "high_quality": fraction of high-quality samples,
        "counts": high-quality samples per mode (list)}``.
    """
    d = pairwise_distances(samples, means)                  # (n, K)
    nearest, good = d.argmin(axis=1), d.min(axis=1) <= n_sigma * std
    counts = np.bincount(nearest[good], minlength=len(means))
    return {"modes": int((counts >= min_fraction * len(d)).sum()), "of": len(means),
            "high_quality": float(good.mean()), "counts": counts.tolist()}
