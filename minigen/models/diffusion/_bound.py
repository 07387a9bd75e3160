"""The pieces of DDPM's variational bound (Ho et al. 2020 [1] eq. 5) in closed form.

    L = L_T + sum_{t=2}^{T} L_{t-1} + L_0                       (nats per image)
    L_T     = KL(q(x_T | x_0) || N(0, I))                        no parameters
    L_{t-1} = E_q KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))  two Gaussians: ``normal_kl``
    L_0     = E_q -log p(x_0 | x_1)                              the discretised decoder

The decoder ([1] §3.3, eq. 13) gives each of the L levels of a pixel the mass of a
Gaussian N(mu, sigma^2) over its bin. [1] scales 256 levels to [-1, 1] with bins of
width 2/255; here the same rule is written for L levels (L = 17 for the digits): level
k sits at c_k = -1 + 2k / (L - 1) and its bin is [c_k - 1/(L-1), c_k + 1/(L-1)], the
outermost bins stretched to -inf and +inf, so the L masses sum to 1 exactly::

    p(x_0 = c_k | x_1) = Phi((c_k + 1/(L-1) - mu) / sigma) - Phi((c_k - 1/(L-1) - mu) / sigma)

Two versions of Phi: the exact one (erfc, float64, for the reported bound) and the tanh
approximation of [1]'s and Nichol & Dhariwal's code on Tensors, for the learned-variance
(hybrid) loss that needs gradients (Phi has no primitive in minigen).
"""
import math

import numpy as np

from autograd import Tensor, ops

__all__ = ["normal_kl", "prior_kl", "discretized_gaussian_log_likelihood", "std_normal_cdf"]

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _exp(x):
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def normal_kl(mean1, log_var1, mean2, log_var2):
    """KL(N(mean1, e^log_var1) || N(mean2, e^log_var2)) per element, arrays or Tensors:
    0.5 (log_var2 - log_var1 - 1 + e^(log_var1 - log_var2) + (mean1 - mean2)^2 e^-log_var2)."""
    d = mean1 - mean2
    return 0.5 * (-1.0 + log_var2 - log_var1 + _exp(log_var1 - log_var2) + d * d * _exp(-log_var2))


def prior_kl(schedule, x0):
    """L_T = KL(q(x_T | x_0) || N(0, I)) summed over the pixels of each image: (N,) float64."""
    x0 = np.asarray(x0, np.float64)
    T = np.full(len(x0), schedule.T)
    mean, var = schedule.q_mean_variance(x0, T)
    return normal_kl(mean, np.log(var), 0.0, 0.0).reshape(len(x0), -1).sum(axis=1)


def std_normal_cdf(z):
    """Phi(z) = erfc(-z / sqrt 2) / 2, exact in float64 (also in the far tails)."""
    return 0.5 * _erfc(-np.asarray(z, np.float64) / math.sqrt(2.0)).astype(np.float64)


def _log_bin_mass(lo, hi):
    """log(Phi(hi) - Phi(lo)) for lo < hi, from the upper tail when lo > 0 (no cancellation)."""
    upper = lo > 0                                   # Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi)
    a = np.where(upper, std_normal_cdf(-hi), std_normal_cdf(lo))
    b = np.where(upper, std_normal_cdf(-lo), std_normal_cdf(hi))
    return np.log(np.maximum(b - a, 1e-300))


def _approx_cdf(z):
    """Phi(z) ~ 0.5 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) (Tensors; [1]'s code)."""
    return 0.5 * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z * z * z)))


def discretized_gaussian_log_likelihood(levels, mean, log_var, num_levels):
    """log p(x_0 | x_1) per pixel of the discretised decoder (module docstring).

    Args:
        levels: integer pixel values 0 .. L-1, any shape S.
        mean: mu of the Gaussian on [-1, 1], shape S (array: exact; Tensor: tanh approximation).
        log_var: log sigma^2, broadcastable to S.
        num_levels: L.

    Returns:
        log-probabilities, shape S (float64 array, or a Tensor when ``mean`` is one).
    """
    levels = np.asarray(levels)
    if levels.min() < 0 or levels.max() >= num_levels:
        raise ValueError(f"levels must lie in 0 .. {num_levels - 1}; got {levels.min()} .. {levels.max()}")
    c = -1.0 + 2.0 * levels / (num_levels - 1)                       # the level on [-1, 1]
    half = 1.0 / (num_levels - 1)                                    # half a bin
    first, last = levels == 0, levels == num_levels - 1
    if not isinstance(mean, Tensor):
        inv_sigma = np.exp(-0.5 * np.asarray(log_var, np.float64))
        lo = np.where(first, -np.inf, (c - half - mean) * inv_sigma)
        hi = np.where(last, np.inf, (c + half - mean) * inv_sigma)
        return _log_bin_mass(lo, hi)
    inv_sigma = _exp(-0.5 * log_var)
    cdf_hi = _approx_cdf((Tensor(c + half).astype(mean.dtype) - mean) * inv_sigma)
    cdf_lo = _approx_cdf((Tensor(c - half).astype(mean.dtype) - mean) * inv_sigma)
    tiny = 1e-12
    log_hi = ops.log(ops.maximum(cdf_hi, tiny))                      # first level: Phi(hi)
    log_lo = ops.log(ops.maximum(1.0 - cdf_lo, tiny))                # last level: 1 - Phi(lo)
    mid = ops.log(ops.maximum(cdf_hi - cdf_lo, tiny))
    return ops.where(first, log_hi, ops.where(last, log_lo, mid))
