"""Samplers of a trained DDPM: ancestral (Ho et al. 2020), DDIM (Song et al. 2021), guidance.

All work in float64 on the host, one U-Net pass per step (two with guidance), on
``model`` = a ``DDPM`` (its ``schedule``, ``network`` and ``data_shape``), or any model with
those and a ``diffusion_shape`` (the latent diffusion model diffuses codes, not images) and
``clip_x0`` (False where x^_0 is not on [-1, 1]).

Guidance (Ho & Salimans 2022, eq. 6): eps~ = (1 + w) eps(x_t, y) - w eps(x_t, none).

Ancestral step (Ho et al. 2020, Algorithm 2), with x^_0 clipped to [-1, 1] as in their code::

    x^_0 = (x_t - sqrt(1 - alpha_bar_t) eps~) / sqrt(alpha_bar_t)
    x_{t-1} = mu~_t(x^_0, x_t) + sigma_t z,   z ~ N(0, I) (z = 0 at t = 1)

DDIM step from t to s < t (Song et al. 2021, eq. 12 with sigma of eq. 16)::

    sigma = eta sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_s)
    x_s = sqrt(alpha_bar_s) x^_0 + sqrt(1 - alpha_bar_s - sigma^2) eps~ + sigma z

over S steps tau_S = T > ... > tau_1 >= 1, then to s = 0 (alpha_bar_0 = 1: x_0 = x^_0).
eta = 0 is deterministic given x_T; with S = T and eta = 1, sigma^2 = beta~_t and the
step is the ancestral step with sigma_t^2 = beta~_t (tests/minigen/test_ddpm.py).
"""
import numpy as np

from autograd import as_numpy, no_grad

__all__ = ["guided_eps", "ancestral_step", "ancestral", "ddim_step", "ddim", "ddim_times"]


def _host(t):
    return np.asarray(as_numpy(getattr(t, "data", t)), np.float64)


def guided_eps(model, x, t, y=None, w=0.0):
    """(eps~, log sigma^2) at x (N, C, H, W), steps t (N,), labels y (N,) or None, weight w."""
    x = x.astype(model.dtype)
    with no_grad():
        if y is None or not w:
            eps, log_var = model.network(x, t, y)
            return _host(eps), _host(log_var)
        none = np.full(len(x), model.num_classes)
        eps, log_var = model.network(np.concatenate([x, x]), np.concatenate([t, t]),
                                     np.concatenate([np.asarray(y), none]))
        eps, log_var = _host(eps), _host(log_var)
        n = len(x)
        return (1 + w) * eps[:n] - w * eps[n:], log_var[:n]


def x0_from_eps(model, x, t, eps, clip=True):
    x0 = model.schedule.predict_x0(x, t, eps)
    return np.clip(x0, -1.0, 1.0) if clip and getattr(model, "clip_x0", True) else x0


def _shape(model):
    return getattr(model, "diffusion_shape", model.data_shape)


def ancestral_step(model, x, t, z, y=None, w=0.0, variance=None, clip=True):
    """x_{t-1} from x_t (all images at the same step t >= 1), noise z; returns (x_{t-1}, x^_0)."""
    tv = np.full(len(x), t)
    eps, log_var = guided_eps(model, x, tv, y, w)
    if variance is not None and variance != "learned":
        log_var = model.schedule.variance(variance, tv, x.ndim)
    x0 = x0_from_eps(model, x, tv, eps, clip)
    mean = model.schedule.posterior(x0, x, tv)[0]
    return (mean + np.exp(0.5 * log_var) * z if t > 1 else mean), x0


def ancestral(model, n, rng, y=None, w=0.0, variance=None, record=(), x_T=None):
    """Ancestral sampling x_T -> x_0 (float64 on [-1, 1]).

    Args:
        variance: "small", "large" (override the model's) or None (the model's own).
        record: steps t at which to keep x_t (the reverse chain).

    Returns:
        ``(x_0, {t: x_t})``.
    """
    x = rng.standard_normal((n,) + _shape(model)) if x_T is None else np.asarray(x_T, np.float64)
    chain = {model.T: x} if model.T in record else {}
    for t in range(model.T, 0, -1):
        x, _ = ancestral_step(model, x, t, rng.standard_normal(x.shape), y, w, variance)
        if t - 1 in record:
            chain[t - 1] = x
    return x, chain


def ddim_times(T, S):
    """tau_1 < ... < tau_S: S steps spread evenly over 1 .. T (Song et al. 2021, §4.2 "linear")."""
    if not 1 <= S <= T:
        raise ValueError(f"DDIM needs 1 <= S <= T; got S={S}, T={T}")
    return np.unique(np.rint(np.linspace(1, T, S)).astype(np.int64))


def ddim_step(model, x, t, s, eta, z, y=None, w=0.0, clip=True):
    """x_s from x_t (s < t), DDIM eq. 12; returns (x_s, x^_0)."""
    tv = np.full(len(x), t)
    eps, _ = guided_eps(model, x, tv, y, w)
    x0 = x0_from_eps(model, x, tv, eps, clip)
    ab_t, ab_s = model.schedule.alpha_bar[t], model.schedule.alpha_bar[s]
    eps = (x - np.sqrt(ab_t) * x0) / np.sqrt(1 - ab_t)                   # the noise the clipped x^_0 implies
    sigma = eta * np.sqrt((1 - ab_s) / (1 - ab_t)) * np.sqrt(1 - ab_t / ab_s)
    return np.sqrt(ab_s) * x0 + np.sqrt(max(1 - ab_s - sigma ** 2, 0.0)) * eps + sigma * z, x0


def ddim(model, n, rng, steps, eta=0.0, y=None, w=0.0, x_T=None):
    """DDIM sampling with ``steps`` U-Net passes (float64 on [-1, 1])."""
    x = rng.standard_normal((n,) + _shape(model)) if x_T is None else np.asarray(x_T, np.float64)
    taus = ddim_times(model.T, steps)
    for i in range(len(taus) - 1, -1, -1):
        s = taus[i - 1] if i > 0 else 0
        x, _ = ddim_step(model, x, taus[i], s, eta, rng.standard_normal(x.shape) if eta else 0.0, y, w)
    return x
