"""Markov chain Monte Carlo: four samplers and the statistics that say how well they mix.

Every sampler here builds a Markov chain x_0, x_1, ... whose stationary distribution is
a target pi(x) known up to its normalising constant, through ``log_prob(x) = log pi(x) +
const``. Chains run side by side: ``x`` is an array (C, ...) of C independent chains,
``log_prob`` maps it to (C,), ``grad_log_prob`` to an array like ``x``. Each sampler
returns a ``Chain``: the states (T, C, ...) and the acceptance rate.

**Metropolis-Hastings** (Metropolis et al. 1953; Hastings 1970). Propose y ~ q(y | x) and
accept it with probability

    alpha(x, y) = min(1, pi(y) q(x | y) / (pi(x) q(y | x)))                          (1)

else stay at x. Then pi(x) P(x -> y) = pi(y) P(y -> x) for every pair (*detailed
balance*), so pi is stationary. ``transition_matrix`` builds P for a finite state space
from the same acceptance rule (1), which the tests use to check detailed balance. The
random-walk proposal y = x + step_size * N(0, I) is symmetric, and (1) becomes
min(1, pi(y) / pi(x)).

**Independence Metropolis-Hastings** (Tierney 1994, "Markov chains for exploring posterior
distributions", §2.3.3). The proposal ignores the current state, y ~ q(y), so (1) becomes

    alpha(x, y) = min(1, w(y) / w(x)),     w = pi / q  (the importance weights)

A sampler q that is close to pi (a trained normalizing flow, Albergo et al. 2019) makes
every w nearly equal and almost every proposal accepted; the proposals can be drawn in
one batch beforehand (``independence_metropolis``).

**Gibbs sampling** (Geman & Geman 1984). Replace one block of coordinates at a time by a
draw from its conditional pi(x_b | x_rest): a Metropolis-Hastings step whose proposal is
the conditional itself, accepted with probability 1. The model provides the
conditionals (``gaussian_conditionals`` for a Gaussian; an RBM's are in
``minigen/models/energy/rbm.py``).

**Metropolis-adjusted Langevin** (MALA; Roberts & Tweedie 1996). The proposal follows
the gradient, a discretised Langevin diffusion with step size eps:

    y = x + (eps^2 / 2) grad log pi(x) + eps * z,    z ~ N(0, I)                      (2)

q is Gaussian and not symmetric, so both q(y | x) and q(x | y) enter (1).

**Hamiltonian Monte Carlo** (Duane et al. 1987; Neal 2011, "MCMC using Hamiltonian
dynamics", §5.2-5.3). Add a momentum p ~ N(0, M) and simulate the dynamics of
H(x, p) = -log pi(x) + p^T M^-1 p / 2 with L leapfrog steps of size eps (Neal eqs.
(2.28)-(2.30)):

    p <- p + (eps / 2) grad log pi(x)
    x <- x + eps M^-1 p                        } L times, with a full momentum step
    p <- p + eps grad log pi(x)                } between two position steps
    p <- p + (eps / 2) grad log pi(x)          (the last half step)

Leapfrog is reversible and preserves volume, so accepting with probability
min(1, exp(H(x, p) - H(x', p'))) leaves pi invariant (Neal §3.2).

**How well a chain mixes.** The autocorrelation rho(t) of a scalar function of the chain
decides how many independent draws its T states are worth (Sokal 1997, "Monte Carlo
methods in statistical mechanics", §3):

    tau_int = 1 + 2 sum_{t >= 1} rho(t),     ESS = T / tau_int                        (3)

The sum of estimated rho(t) over all t is noise, so Sokal's automatic windowing stops at
the smallest M with M >= c * tau_int(M), tau_int(M) = 1 + 2 sum_{t=1}^{M} rho(t), c = 5.
(Antithetic chains, rho(1) < 0, can have tau_int < 1 and ESS > T; the estimate is floored
at 1 / log10(T), Stan's cap of ESS at T log10(T).)
For an AR(1) chain x_t = phi x_{t-1} + noise, rho(t) = phi^t and tau_int = (1 + phi) /
(1 - phi) (tested).
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Chain", "metropolis_hastings", "random_walk_proposal", "independence_metropolis", "gibbs", "gaussian_conditionals",
           "mala", "hmc", "leapfrog", "mh_log_accept", "transition_matrix", "autocorrelation",
           "integrated_autocorr_time", "effective_sample_size", "gaussian_target"]


@dataclass
class Chain:
    """The result of a sampler.

    Attributes:
        samples: the states after each step, (T, C, ...) for C chains (the start excluded).
        acceptance: fraction of proposals accepted, over all steps and chains.
        accepted: accepted proposals per chain, (C,).
    """
    samples: np.ndarray
    acceptance: float
    accepted: np.ndarray

    def flat(self, burn_in=0):
        """The states after ``burn_in`` steps of every chain, stacked: (T' * C, ...)."""
        s = self.samples[burn_in:]
        return s.reshape((-1,) + s.shape[2:])                        # (T' * C, ...)

    def ess(self, burn_in=0):
        """Effective sample size of every coordinate (3), summed over the chains."""
        return effective_sample_size(self.samples[burn_in:])

    def iat(self, burn_in=0):
        """Integrated autocorrelation time of every coordinate (3)."""
        return integrated_autocorr_time(self.samples[burn_in:])


def _sum_event(a):
    """Sum over every axis but the first (the chain axis): (C, ...) -> (C,)."""
    return a.reshape(len(a), -1).sum(axis=1)


def _where(accept, new, old):
    """Per chain: ``new`` where ``accept`` else ``old``."""
    return np.where(accept.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)


def mh_log_accept(log_pi_x, log_pi_y, log_q_y_given_x=0.0, log_q_x_given_y=0.0):
    """log alpha(x, y) of (1): min(0, log pi(y) + log q(x|y) - log pi(x) - log q(y|x))."""
    return np.minimum(0.0, log_pi_y + log_q_x_given_y - log_pi_x - log_q_y_given_x)


def _run(step, x0, n_steps, rng, thin=1):
    """Apply ``step(x, rng) -> (x, accepted (C,))`` n_steps times; keep every ``thin``-th state."""
    x = np.array(x0, dtype=np.float64, copy=True)
    kept, accepted = [], np.zeros(len(x))
    for t in range(n_steps):
        x, acc = step(x, rng)
        accepted += acc
        if (t + 1) % thin == 0:
            kept.append(x.copy())
    return Chain(np.stack(kept), float(accepted.sum() / (n_steps * len(x))), accepted)


# ----------------------------------------------------------------------------- Metropolis-Hastings
def random_walk_proposal(step_size):
    """The symmetric proposal y = x + step_size * z, z ~ N(0, I): returns ``propose(x, rng)
    -> (y, log q(y|x) - log q(x|y) = 0)``."""
    def propose(x, rng):
        return x + step_size * rng.standard_normal(x.shape), np.zeros(len(x))
    return propose


def metropolis_hastings(log_prob, x0, n_steps, rng, step_size=1.0, propose=None, thin=1):
    """Metropolis-Hastings with acceptance rule (1).

    Args:
        log_prob: log pi up to a constant, (C, ...) -> (C,).
        x0: starting states, (C, ...).
        n_steps: proposals per chain.
        rng: ``numpy.random.Generator``.
        step_size: of the default random-walk proposal.
        propose: ``propose(x, rng) -> (y, log q(y|x) - log q(x|y))`` (default: random walk).
        thin: keep every ``thin``-th state.

    Returns:
        ``Chain``.
    """
    propose = propose or random_walk_proposal(step_size)

    def step(x, rng):
        y, log_q_ratio = propose(x, rng)
        log_alpha = mh_log_accept(log_prob(x), log_prob(y), log_q_ratio, 0.0)
        accept = np.log(rng.random(len(x))) < log_alpha
        return _where(accept, y, x), accept
    return _run(step, x0, n_steps, rng, thin)


def independence_metropolis(proposals, log_weights, rng):
    """Independence Metropolis-Hastings over proposals drawn beforehand, one chain.

    The chain starts at the first proposal; each next proposal y replaces the current x with
    probability min(1, w(y) / w(x)) (module docstring), else x is repeated.

    Args:
        proposals: (T, ...) independent draws of q.
        log_weights: (T,) log w = log pi - log q of each (pi up to a constant).
        rng: ``numpy.random.Generator``.

    Returns:
        ``Chain`` with samples (T, 1, ...) and ``accepted`` (1,); ``Chain.index`` (T,) says
        which proposal each state is (to look up observables already computed).
    """
    log_w = np.asarray(log_weights, np.float64)
    if len(log_w) != len(proposals) or len(log_w) < 1:
        raise ValueError(f"independence_metropolis needs one log weight per proposal, got {len(log_w)} "
                         f"weights for {len(proposals)} proposals")
    index = np.zeros(len(log_w), np.int64)
    log_u = np.log(rng.random(len(log_w)))
    accepted = 0
    for t in range(1, len(log_w)):
        cur = index[t - 1]
        take = log_u[t] < log_w[t] - log_w[cur]              # u < w(y) / w(x)
        index[t] = t if take else cur
        accepted += bool(take)
    chain = Chain(np.asarray(proposals)[index][:, None], accepted / max(len(log_w) - 1, 1),
                  np.array([accepted]))
    chain.index = index
    return chain


def transition_matrix(pi, Q):
    """The Metropolis-Hastings transition matrix on S states: P_ij = Q_ij alpha(i, j) for
    j != i by (1), and P_ii = 1 - sum_{j != i} P_ij (rejected proposals stay).

    Args:
        pi: target probabilities (S,) (unnormalised is fine).
        Q: proposal matrix (S, S), rows summing to 1.

    Returns:
        P (S, S), rows summing to 1, with pi_i P_ij = pi_j P_ji.
    """
    log_pi = np.log(np.asarray(pi, np.float64))
    with np.errstate(divide="ignore"):
        log_Q = np.log(np.asarray(Q, np.float64))
    alpha = np.exp(mh_log_accept(log_pi[:, None], log_pi[None, :], log_Q, log_Q.T))   # (S, S)
    P = np.where(np.asarray(Q) > 0, Q * alpha, 0.0)
    np.fill_diagonal(P, 0.0)
    np.fill_diagonal(P, 1.0 - P.sum(axis=1))
    return P


# ----------------------------------------------------------------------------- Gibbs
def gibbs(sample_block, x0, n_steps, rng, blocks, thin=1):
    """Gibbs sampling: each step replaces every block in turn by a draw of its conditional.

    Args:
        sample_block: ``sample_block(x, block, rng) -> x[:, block]`` drawn from
            pi(x_block | x_rest), for (C, D) states.
        x0: starting states (C, D).
        n_steps: sweeps over all blocks.
        rng: ``numpy.random.Generator``.
        blocks: list of index arrays (a systematic scan).
        thin: keep every ``thin``-th sweep.

    Returns:
        ``Chain`` (acceptance 1: a conditional draw is always accepted).
    """
    def step(x, rng):
        for b in blocks:
            x[:, b] = sample_block(x, b, rng)
        return x, np.ones(len(x))
    return _run(step, x0, n_steps, rng, thin)


def gaussian_conditionals(mean, cov):
    """The conditionals of N(mean, cov) for ``gibbs``. With the precision Lambda = cov^-1
    (Bishop, PRML eqs. (2.75), (2.81)-(2.82)), for a block a and the rest b:

        x_a | x_b ~ N(mu_a - Lambda_aa^-1 Lambda_ab (x_b - mu_b), Lambda_aa^-1)
    """
    mean = np.asarray(mean, np.float64)
    Lam = np.linalg.inv(np.asarray(cov, np.float64))

    def sample_block(x, block, rng):
        a = np.atleast_1d(block)
        b = np.setdiff1d(np.arange(len(mean)), a)
        S = np.linalg.inv(Lam[np.ix_(a, a)])                               # Lambda_aa^-1
        m = mean[a] - (x[:, b] - mean[b]) @ (S @ Lam[np.ix_(a, b)]).T      # (C, |a|)
        return m + rng.standard_normal(m.shape) @ np.linalg.cholesky(S).T
    return sample_block


# ----------------------------------------------------------------------------- Langevin, Hamiltonian
def mala(log_prob, grad_log_prob, x0, n_steps, rng, step_size=0.5, thin=1):
    """Metropolis-adjusted Langevin: proposal (2), accepted by (1) with both q's.

    Args:
        log_prob, grad_log_prob: log pi (C, ...) -> (C,) and its gradient (C, ...) -> (C, ...).
        x0, n_steps, rng, thin: as for ``metropolis_hastings``.
        step_size: eps of (2).

    Returns:
        ``Chain``.
    """
    eps = step_size

    def log_q(to, frm, g_frm):                                        # log N(to; frm + eps^2/2 g, eps^2 I)
        d = to - frm - 0.5 * eps ** 2 * g_frm
        return -_sum_event(d * d) / (2 * eps ** 2)

    def step(x, rng):
        gx = grad_log_prob(x)
        y = x + 0.5 * eps ** 2 * gx + eps * rng.standard_normal(x.shape)     # (2)
        gy = grad_log_prob(y)
        log_alpha = mh_log_accept(log_prob(x), log_prob(y), log_q(y, x, gx), log_q(x, y, gy))
        accept = np.log(rng.random(len(x))) < log_alpha
        return _where(accept, y, x), accept
    return _run(step, x0, n_steps, rng, thin)


def leapfrog(x, p, grad_log_prob, step_size, n_leapfrog, inv_mass=1.0):
    """L leapfrog steps of Hamiltonian dynamics (Neal 2011, eqs. (2.28)-(2.30)), written out.

    Args:
        x, p: positions and momenta (C, ...).
        grad_log_prob: gradient of log pi.
        step_size: eps.
        n_leapfrog: L.
        inv_mass: M^-1 (a number or an array broadcasting against x).

    Returns:
        ``(x', p')`` after the L steps.
    """
    eps = step_size
    p = p + 0.5 * eps * grad_log_prob(x)                       # half step of the momentum
    for l in range(n_leapfrog):
        x = x + eps * inv_mass * p                             # full step of the position
        if l < n_leapfrog - 1:
            p = p + eps * grad_log_prob(x)                     # full step of the momentum
    p = p + 0.5 * eps * grad_log_prob(x)                       # the last half step
    return x, p


def hmc(log_prob, grad_log_prob, x0, n_steps, rng, step_size=0.1, n_leapfrog=10, mass=1.0, jitter=0.0,
        thin=1):
    """Hamiltonian Monte Carlo: p ~ N(0, M), L leapfrog steps, accept by exp(-Delta H).

    A fixed trajectory length eps * L can resonate with a period of the target (a
    Gaussian's trajectories are ellipses) and return near the start, or to its mirror
    image, every time; drawing eps from [eps (1 - jitter), eps (1 + jitter)] at every
    proposal breaks that (Neal 2011, §5.4.2.2).

    Args:
        log_prob, grad_log_prob: log pi (C, ...) -> (C,) and its gradient.
        x0, n_steps, rng, thin: as for ``metropolis_hastings``.
        step_size: eps of the leapfrog.
        n_leapfrog: L, leapfrog steps per proposal.
        mass: the diagonal of M (a number or an array like one state).
        jitter: relative half-width of the random step size (0: fixed eps).

    Returns:
        ``Chain``.
    """
    mass = np.asarray(mass, np.float64)
    if not step_size > 0 or n_leapfrog < 1 or not 0 <= jitter < 1:
        raise ValueError(f"hmc needs step_size > 0, n_leapfrog >= 1 and 0 <= jitter < 1; got "
                         f"{step_size}, {n_leapfrog}, {jitter}")

    def H(x, p):                                               # -log pi(x) + p^T M^-1 p / 2
        return -log_prob(x) + 0.5 * _sum_event(p * p / mass)

    def step(x, rng):
        p = rng.standard_normal(x.shape) * np.sqrt(mass)
        eps = step_size * (1.0 + jitter * rng.uniform(-1.0, 1.0)) if jitter else step_size
        y, q = leapfrog(x, p, grad_log_prob, eps, n_leapfrog, 1.0 / mass)
        log_alpha = np.minimum(0.0, H(x, p) - H(y, q))
        accept = np.log(rng.random(len(x))) < np.nan_to_num(log_alpha, nan=-np.inf)
        return _where(accept, y, x), accept
    return _run(step, x0, n_steps, rng, thin)


def gaussian_target(mean, cov):
    """``(log_prob, grad_log_prob)`` of N(mean, cov) up to a constant: -(x-mu)^T Lambda (x-mu) / 2."""
    mean = np.asarray(mean, np.float64)
    Lam = np.linalg.inv(np.asarray(cov, np.float64))

    def log_prob(x):
        d = x - mean
        return -0.5 * np.einsum("ci,ij,cj->c", d, Lam, d)

    def grad_log_prob(x):
        return -(x - mean) @ Lam
    return log_prob, grad_log_prob


# ----------------------------------------------------------------------------- mixing statistics
def autocorrelation(x):
    """Normalised autocorrelation rho(t) of chains x (T, C): the autocovariance of each chain
    about its own mean, computed by FFT (zero-padded to 2T, so it is not circular), averaged
    over the chains, divided by its value at t = 0. Returns (T,)."""
    x = np.asarray(x, np.float64)
    x = x.reshape(len(x), -1)                                   # (T, C)
    T = len(x)
    d = x - x.mean(axis=0)
    f = np.fft.rfft(d, n=2 * T, axis=0)
    acov = np.fft.irfft(f * np.conj(f), axis=0)[:T].mean(axis=1)     # (T,), sum over s of d_s d_{s+t}
    return acov / acov[0]


def integrated_autocorr_time(samples, c=5.0):
    """tau_int of (3) with Sokal's automatic window, per coordinate.

    Args:
        samples: (T,) one chain, (T, C) chains of a scalar, or (T, C, ...) chains of arrays.
        c: the window constant: M is the smallest lag with M >= c * tau_int(M).

    Returns:
        A float for scalar chains, else an array of the coordinates' shape.
    """
    s = np.asarray(samples, np.float64)
    if s.ndim == 1:
        s = s[:, None]
    event = s.shape[2:]
    s = s.reshape(s.shape[0], s.shape[1], -1)                   # (T, C, K)
    taus = np.empty(s.shape[2])
    for k in range(s.shape[2]):
        rho = autocorrelation(s[:, :, k])
        tau = 1.0 + 2.0 * np.cumsum(rho[1:])                    # tau_int(M), M = 1 .. T-1
        ok = np.arange(1, len(rho)) >= c * tau
        taus[k] = tau[np.argmax(ok)] if ok.any() else tau[-1]
    taus = np.maximum(taus, 1.0 / np.log10(max(s.shape[0] * s.shape[1], 10)))
    return float(taus[0]) if not event else taus.reshape(event)


def effective_sample_size(samples, c=5.0):
    """ESS = (T * C) / tau_int (3): how many independent draws the chains are worth."""
    s = np.asarray(samples)
    n = s.shape[0] * (s.shape[1] if s.ndim > 1 else 1)
    return n / integrated_autocorr_time(s, c)
