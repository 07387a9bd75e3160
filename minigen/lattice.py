"""Scalar phi^4 theory on a periodic L x L lattice: the action, its gradient, the observables
and their autocorrelation-corrected errors, and the two samplers that the flow is judged by.

**The action** (Albergo, Kanwar, Shanahan 2019 [1] eq. (8); Albergo et al. 2021 [2] §2),
with mu = the two lattice directions and phi(x + mu) wrapping around (a torus)::

    S(phi) = sum_x [ sum_mu phi(x) (2 phi(x) - phi(x + mu) - phi(x - mu)) + m^2 phi(x)^2 + lam phi(x)^4 ]
           = sum_x [ (4 + m^2) phi(x)^2 + lam phi(x)^4 - 2 sum_mu phi(x) phi(x + mu) ]

(the two hops of each link counted once each), and its gradient, which HMC needs::

    dS/dphi(x) = 2 (4 + m^2) phi(x) + 4 lam phi(x)^3 - 2 sum_mu (phi(x + mu) + phi(x - mu))

The target is p(phi) = exp(-S(phi)) / Z. With m^2 < 0 the single-site potential has two
wells; the reference point of [2] is L = 8, m^2 = -4, lam = 8.

**Observables** ([1] §IV), on V = L^2 sites, M = (1/V) sum_x phi(x)::

    <|M|>                    the absolute magnetisation
    G_c(x) = (1/V) sum_y <phi(y) phi(y + x)> - <phi(y)><phi(y + x)>      connected 2-point function
    chi_2  = sum_x G_c(x) = V (<M^2> - <M>^2)                           the two-point susceptibility

**Errors.** States of a Markov chain are correlated: the variance of a mean of T states is
var(O) tau_int / T, with tau_int = 1 + 2 sum_t rho(t) from Sokal's windowing
(``mcmc.integrated_autocorr_time``). ``estimate`` returns mean, error and tau_int.

**Free field** (lam = 0, m^2 > 0): S = phi^T A phi is Gaussian with covariance (2A)^-1, and
in momentum space (p = 2 pi n / L) the propagator is exactly ([3] eq. (3.29) with our factor 2)::

    G(x) = (1 / V) sum_p exp(i p.x) / (2 (p_hat^2 + m^2)),    p_hat^2 = sum_mu 4 sin^2(p_mu / 2)

References:
    [1] M. S. Albergo, G. Kanwar, P. E. Shanahan, "Flow-based generative models for Markov chain
        Monte Carlo in lattice field theory", Phys. Rev. D 100, 034515 (2019). arXiv:1904.12072
    [2] M. S. Albergo, D. Boyda, D. C. Hackett, G. Kanwar, K. Cranmer, S. Racaniere, D. J. Rezende,
        P. E. Shanahan, "Introduction to normalizing flows for lattice field theory", arXiv:2101.08176
    [3] H. J. Rothe, "Lattice Gauge Theories: An Introduction", World Scientific, ch. 3.
"""
import os

import numpy as np

from . import mcmc

__all__ = ["Phi4Theory", "roll", "magnetisation", "two_point", "estimate", "importance_ess",
           "free_propagator", "measure", "hmc_chains", "plot_autocorrelation"]


def roll(t, shift, axis):
    """``numpy.roll`` for Tensors (slices and a concatenation): out[i] = t[i - shift] along ``axis``."""
    from autograd import ops
    n = t.shape[axis]
    s = shift % n
    if s == 0:
        return t
    lo = [slice(None)] * t.ndim
    hi = [slice(None)] * t.ndim
    lo[axis], hi[axis] = slice(n - s, None), slice(0, n - s)
    return ops.concatenate([t[tuple(lo)], t[tuple(hi)]], axis=axis)


class Phi4Theory:
    """S(phi) and dS/dphi of the module docstring on (N, L, L) or (N, 1, L, L) configurations.

    Args:
        L: lattice size (L x L sites).
        m2: the mass term m^2.
        lam: the quartic coupling lambda (>= 0).
    """

    def __init__(self, L, m2, lam):
        if not isinstance(L, (int, np.integer)) or L < 2:
            raise ValueError(f"L={L!r} is not allowed: an integer >= 2")
        if not lam >= 0:
            raise ValueError(f"lam={lam!r} is not allowed: lambda >= 0 (else S is unbounded below)")
        if lam == 0 and not m2 > 0:
            raise ValueError(f"a free field (lam = 0) needs m2 > 0, got m2={m2!r}")
        self.L, self.m2, self.lam = int(L), float(m2), float(lam)

    def _sites(self, phi):
        phi = np.asarray(phi, np.float64)
        if phi.shape[-2:] != (self.L, self.L):
            raise ValueError(f"configurations must end in (L, L) = ({self.L}, {self.L}), got {phi.shape}")
        return phi.reshape((-1, self.L, self.L))

    def action(self, phi):
        """S (N,) of NumPy configurations (N, [1,] L, L)."""
        p = self._sites(phi)
        hop = p * (np.roll(p, -1, 1) + np.roll(p, -1, 2))                # phi(x) sum_mu phi(x + mu)
        s = (4 + self.m2) * p * p + self.lam * p ** 4 - 2 * hop
        return s.sum(axis=(1, 2))

    def grad(self, phi):
        """dS/dphi, shaped like ``phi``."""
        p = self._sites(phi)
        nb = np.roll(p, -1, 1) + np.roll(p, 1, 1) + np.roll(p, -1, 2) + np.roll(p, 1, 2)
        g = 2 * (4 + self.m2) * p + 4 * self.lam * p ** 3 - 2 * nb
        return g.reshape(np.shape(phi))

    def action_tensor(self, phi):
        """S (N,) of a Tensor (N, 1, L, L), differentiable (the reverse-KL loss)."""
        a, b = phi.ndim - 2, phi.ndim - 1
        hop = phi * (roll(phi, -1, a) + roll(phi, -1, b))
        p2 = phi * phi
        s = (4 + self.m2) * p2 + self.lam * p2 * p2 - 2 * hop
        return s.reshape(len(phi), -1).sum(axis=1)

    def __repr__(self):
        return f"Phi4Theory(L={self.L}, m2={self.m2}, lam={self.lam})"


# -- observables ---------------------------------------------------------------------------------
def magnetisation(phi):
    """M = (1/V) sum_x phi(x) per configuration: (T, ..., L, L) -> (T, ...)."""
    return np.asarray(phi).mean(axis=(-2, -1))


def two_point(phi):
    """C(x) = (1/V) sum_y phi(y) phi(y + x) per configuration, by FFT: (..., L, L) -> (..., L, L)."""
    f = np.fft.fft2(np.asarray(phi, np.float64))
    return np.fft.ifft2(f * np.conj(f)).real / (phi.shape[-1] * phi.shape[-2])


def estimate(samples, axis_chains=True):
    """Mean, error and tau_int of a chain observable (T,) or (T, C) (or (T, C, ...)).

    error = sqrt(var / (T C) * tau_int): the variance of a mean of correlated states (docstring).
    """
    s = np.asarray(samples, np.float64)
    if s.ndim == 1:
        s = s[:, None]
    tau = mcmc.integrated_autocorr_time(s)
    n = s.shape[0] * s.shape[1]
    var = s.reshape(n, -1).var(axis=0).reshape(s.shape[2:]) if s.ndim > 2 else s.var()
    return s.mean(axis=(0, 1)), np.sqrt(var / n * np.maximum(tau, 1.0 / np.log10(max(n, 10)))), tau


def measure(phi):
    """The observables of a chain of configurations (T, C, L, L) with errors (``estimate``).

    Returns:
        dict: abs_m, chi2 (each (value, error)), tau_abs_m (tau_int of |M|), G_c (L, L) and its error.
    """
    phi = np.asarray(phi, np.float64)
    T, C, L = phi.shape[0], phi.shape[1], phi.shape[-1]
    V = L * L
    M = magnetisation(phi)                                                  # (T, C)
    abs_m, abs_m_err, tau = estimate(np.abs(M))
    chi_cfg = V * M * M                                                     # V M^2 per state
    chi, chi_err, _ = estimate(chi_cfg)
    chi = chi - V * M.mean() ** 2                                           # V (<M^2> - <M>^2)
    C2, C2_err, _ = estimate(two_point(phi))                                # (L, L)
    mean_phi = phi.mean(axis=(0, 1))                                        # <phi(y)>
    G = C2 - two_point(mean_phi[None])[0]
    return {"abs_m": (float(abs_m), float(abs_m_err)), "chi2": (float(chi), float(chi_err)),
            "tau_abs_m": float(tau), "G_c": G, "G_c_err": C2_err, "n": T * C}


def importance_ess(log_w):
    """ESS / N = (sum w)^2 / (N sum w^2) of importance weights w = p / q (1: q = p), in [1/N, 1]."""
    lw = np.asarray(log_w, np.float64)
    w = np.exp(lw - lw.max())
    return float(w.sum() ** 2 / (len(w) * (w * w).sum()))


def free_propagator(L, m2):
    """The exact G(x) (L, L) of the free field (lam = 0), module docstring."""
    p = 2 * np.pi * np.arange(L) / L
    p_hat2 = 4 * np.sin(p[:, None] / 2) ** 2 + 4 * np.sin(p[None, :] / 2) ** 2
    return np.fft.ifft2(1.0 / (2 * (p_hat2 + m2))).real                     # (1/V) sum_p e^{ipx} ...


def hmc_chains(theory, n_steps, rng, step_size=0.1, n_leapfrog=10, chains=4, burn_in=100, thin=1):
    """HMC (``mcmc.hmc``, leapfrog written out there) on exp(-S): ``chains`` chains from phi = 0
    jittered, ``burn_in`` trajectories dropped. Returns ``(phi (T, C, L, L), acceptance)``."""
    L = theory.L
    x0 = 0.1 * rng.standard_normal((chains, L, L))
    chain = mcmc.hmc(lambda x: -theory.action(x), lambda x: -theory.grad(x), x0, n_steps + burn_in, rng,
                     step_size=step_size, n_leapfrog=n_leapfrog, jitter=0.1, thin=thin)
    return chain.samples[burn_in // thin:], chain.acceptance


def plot_autocorrelation(series, path, max_lag=50, title=None):
    """rho(t) (``mcmc.autocorrelation``) of each named chain observable (T,) or (T, C), in one plot."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, s in series.items():
        rho = mcmc.autocorrelation(np.asarray(s, np.float64).reshape(len(s), -1))
        ax.plot(np.arange(min(max_lag, len(rho))), rho[:max_lag], marker=".", label=name)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("lag t (states)")
    ax.set_ylabel("rho(t)")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    return path
