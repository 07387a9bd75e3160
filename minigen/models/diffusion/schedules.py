"""Noise schedules of a diffusion model and the Gaussians they define (Ho et al. 2020 [1] §2).

The forward process adds Gaussian noise in T steps with variances beta_1 .. beta_T
([1] eq. 2)::

    q(x_t | x_{t-1}) = N(x_t; sqrt(1 - beta_t) x_{t-1}, beta_t I)

With alpha_t = 1 - beta_t and alpha_bar_t = prod_{s<=t} alpha_s it jumps to any t in one
draw ([1] eq. 4)::

    q(x_t | x_0) = N(x_t; sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)

and the forward step reversed, given x_0, is Gaussian too ([1] eqs. 6-7)::

    q(x_{t-1} | x_t, x_0) = N(x_{t-1}; mu~_t(x_t, x_0), beta~_t I)
    mu~_t    = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) * x_0
               + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * x_t
    beta~_t  = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t

Two schedules: ``linear`` ([1] §4: beta from 1e-4 to 0.02 over T = 1000) and ``cosine``
(Nichol & Dhariwal 2021 [2] eq. 17: alpha_bar_t = f(t) / f(0), f(t) = cos^2(((t/T + s) /
(1 + s)) pi/2), s = 0.008, beta_t clipped at 0.999).

Every table has T + 1 entries indexed by the paper's t (entry 0 is t = 0: beta_0 = 0,
alpha_bar_0 = 1), so ``s.alpha_bar[t]`` reads as the formula. Computed in float64 [2].

References:
    [1] J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        https://arxiv.org/abs/2006.11239
    [2] A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
        https://arxiv.org/abs/2102.09672
"""
import math

import numpy as np

__all__ = ["NoiseSchedule", "linear_betas", "cosine_betas", "SCHEDULES"]


def linear_betas(T, beta_1=1e-4, beta_T=0.02):
    """beta_1 .. beta_T evenly spaced ([1] §4); (T,) float64."""
    return np.linspace(beta_1, beta_T, T, dtype=np.float64)


def cosine_betas(T, s=0.008, max_beta=0.999):
    """beta_t = 1 - alpha_bar_t / alpha_bar_{t-1} of [2] eq. 17, clipped at ``max_beta``; (T,)."""
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * math.pi / 2) ** 2     # f(0) .. f(T)
    return np.clip(1.0 - f[1:] / f[:-1], 0.0, max_beta)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


class NoiseSchedule:
    """The tables of one schedule (module docstring), indexed by t = 0 .. T.

    Args:
        T: number of diffusion steps.
        kind: "linear" or "cosine".
        **kwargs: the schedule's own settings (``beta_1``, ``beta_T`` for "linear").

    Attributes (float64 arrays of length T + 1):
        beta, alpha, alpha_bar: beta_t, alpha_t = 1 - beta_t, alpha_bar_t (t = 0: 0, 1, 1).
        posterior_variance: beta~_t ([1] eq. 7); 0 at t = 1 (x_0 is then known).
        posterior_log_variance: log beta~_t with t = 1 (and t = 0) clipped to beta~_2, as in
            [1]'s code, so that the decoder p(x_0 | x_1) has a finite variance.
        coef_x0, coef_xt: the two coefficients of mu~_t ([1] eq. 7).
    """

    def __init__(self, T=1000, kind="linear", **kwargs):
        if not isinstance(T, int) or T < 1:
            raise ValueError(f"T={T!r} is not allowed: the number of steps must be an integer >= 1")
        if kind not in SCHEDULES:
            raise ValueError(f"schedule {kind!r} is unknown; choose one of {', '.join(SCHEDULES)}")
        self.T, self.kind = T, kind
        beta = np.concatenate([[0.0], SCHEDULES[kind](T, **kwargs)])       # (T + 1,), beta_0 = 0
        if not (np.all(beta[1:] > 0) and np.all(beta[1:] < 1)):
            raise ValueError(f"every beta_t must lie in (0, 1); got {beta[1:].min()} .. {beta[1:].max()}")
        self.beta = beta
        self.alpha = 1.0 - beta
        self.alpha_bar = np.cumprod(self.alpha)                            # alpha_bar_0 = 1
        prev = np.concatenate([[1.0], self.alpha_bar[:-1]])                # alpha_bar_{t-1}
        self.alpha_bar_prev = prev
        with np.errstate(divide="ignore", invalid="ignore"):
            self.posterior_variance = np.where(np.arange(T + 1) > 0,
                                               (1 - prev) / (1 - self.alpha_bar) * beta, 0.0)
            self.coef_x0 = np.where(np.arange(T + 1) > 0, np.sqrt(prev) * beta / (1 - self.alpha_bar), 1.0)
            self.coef_xt = np.where(np.arange(T + 1) > 0,
                                    np.sqrt(self.alpha) * (1 - prev) / (1 - self.alpha_bar), 0.0)
        floor = self.posterior_variance[2] if T >= 2 else beta[1]
        self.posterior_log_variance = np.log(np.concatenate([[floor, floor], self.posterior_variance[2:]]))

    # -- the Gaussians, on arrays or Tensors (t: (N,) integers in 1 .. T) -------------------
    def at(self, table, t, ndim):
        """``table[t]`` shaped (N, 1, ..., 1) to broadcast against an (N, ...) batch of ``ndim`` axes."""
        t = np.asarray(t)
        if t.min() < 0 or t.max() > self.T:
            raise ValueError(f"t must lie in 0 .. {self.T}; got {t.min()} .. {t.max()}")
        return getattr(self, table)[t].reshape((-1,) + (1,) * (ndim - 1))

    def q_sample(self, x0, t, eps):
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, a draw of q(x_t | x_0) ([1] eq. 4)."""
        ab = self.at("alpha_bar", t, x0.ndim)
        return x0 * np.sqrt(ab).astype(_dtype(x0)) + eps * np.sqrt(1 - ab).astype(_dtype(x0))

    def q_mean_variance(self, x0, t):
        """Mean and variance of q(x_t | x_0) ([1] eq. 4)."""
        ab = self.at("alpha_bar", t, x0.ndim)
        return np.sqrt(ab) * x0, np.broadcast_to(1 - ab, np.shape(x0))

    def posterior(self, x0, xt, t):
        """(mu~_t, beta~_t, log beta~_t clipped) of q(x_{t-1} | x_t, x_0) ([1] eqs. 6-7)."""
        d = _dtype(x0)
        mean = x0 * self.at("coef_x0", t, x0.ndim).astype(d) + xt * self.at("coef_xt", t, x0.ndim).astype(d)
        return mean, self.at("posterior_variance", t, x0.ndim), self.at("posterior_log_variance", t, x0.ndim)

    def predict_x0(self, xt, t, eps):
        """x_0 from x_t and its noise, eq. 4 solved: (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
        ab = self.at("alpha_bar", t, xt.ndim)
        d = _dtype(xt)
        return xt * (1 / np.sqrt(ab)).astype(d) - eps * np.sqrt(1 / ab - 1).astype(d)

    def variance(self, kind, t, ndim):
        """log sigma_t^2 of the reverse step: "large" beta_t or "small" beta~_t ([1] §3.2; t = 1
        takes beta~_2 for both, as [1]'s code does, so the decoder's width does not depend on it)."""
        if kind == "large":
            log_var = np.log(np.concatenate([[1.0], [np.exp(self.posterior_log_variance[1])], self.beta[2:]]))
        elif kind == "small":
            log_var = self.posterior_log_variance
        else:
            raise ValueError(f"variance {kind!r} is unknown; choose 'large' (beta_t) or 'small' (beta~_t)")
        return log_var[np.asarray(t)].reshape((-1,) + (1,) * (ndim - 1))

    def __repr__(self):
        return f"NoiseSchedule(T={self.T}, kind={self.kind!r})"


def _dtype(x):
    """The float dtype of an array or Tensor (so the float64 tables do not upcast float32 data)."""
    return np.dtype(getattr(x, "dtype", np.float64))
