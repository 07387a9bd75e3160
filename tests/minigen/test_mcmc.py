"""minigen.mcmc: each sampler's moments on a Gaussian of known covariance, detailed balance
on a 5-state chain, and Sokal's integrated autocorrelation time against the AR(1) closed form."""
import numpy as np
import pytest

from minigen import mcmc

MEAN = np.array([1.0, -2.0])
COV = np.array([[1.0, 0.8], [0.8, 2.0]])


def check_moments(chain, burn_in, tol_mean=0.12, tol_cov=0.2):
    x = chain.flat(burn_in)
    np.testing.assert_allclose(x.mean(axis=0), MEAN, atol=tol_mean)
    np.testing.assert_allclose(np.cov(x.T), COV, atol=tol_cov)


@pytest.mark.parametrize("sampler", ["mh", "gibbs", "mala", "hmc"])
def test_sampler_moments_on_a_correlated_gaussian(sampler):
    rng = np.random.default_rng(0)
    log_prob, grad = mcmc.gaussian_target(MEAN, COV)
    x0 = rng.standard_normal((20, 2))
    if sampler == "mh":
        chain = mcmc.metropolis_hastings(log_prob, x0, 1500, rng, step_size=1.2)
        assert 0.2 < chain.acceptance < 0.7
    elif sampler == "gibbs":
        chain = mcmc.gibbs(mcmc.gaussian_conditionals(MEAN, COV), x0, 800, rng, blocks=[[0], [1]])
        assert chain.acceptance == 1.0
    elif sampler == "mala":
        chain = mcmc.mala(log_prob, grad, x0, 1000, rng, step_size=0.8)
        assert 0.4 < chain.acceptance < 1.0
    else:
        chain = mcmc.hmc(log_prob, grad, x0, 400, rng, step_size=0.3, n_leapfrog=8, jitter=0.2)
        assert chain.acceptance > 0.8
    check_moments(chain, burn_in=100)
    assert np.all(chain.ess(100) > 100)


def test_gibbs_conditional_is_the_gaussian_conditional():
    """One block draw of x_0 | x_1 has mean mu_0 + S01/S11 (x_1 - mu_1), var S00 - S01^2/S11."""
    sample = mcmc.gaussian_conditionals(MEAN, COV)
    x = np.tile([0.0, 1.0], (200000, 1))
    d = sample(x, [0], np.random.default_rng(0))[:, 0]
    assert abs(d.mean() - (1.0 + 0.8 / 2.0 * 3.0)) < 0.01
    assert abs(d.var() - (1.0 - 0.64 / 2.0)) < 0.01


def test_leapfrog_is_reversible_and_nearly_conserves_energy():
    log_prob, grad = mcmc.gaussian_target(MEAN, COV)
    rng = np.random.default_rng(1)
    x, p = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    y, q = mcmc.leapfrog(x, p, grad, 0.1, 20)
    x2, p2 = mcmc.leapfrog(y, -q, grad, 0.1, 20)                     # flip the momentum, go back
    np.testing.assert_allclose(x2, x, atol=1e-10)
    np.testing.assert_allclose(-p2, p, atol=1e-10)
    H = lambda x, p: -log_prob(x) + 0.5 * (p * p).sum(axis=1)        # noqa: E731
    assert np.all(np.abs(H(y, q) - H(x, p)) < 0.02)


def test_detailed_balance_on_five_states():
    """pi_i P_ij = pi_j P_ji for the MH matrix of a non-symmetric proposal, and pi P = pi;
    an MH chain run with the same proposal visits the states with frequencies pi."""
    rng = np.random.default_rng(0)
    pi = np.array([0.1, 0.3, 0.05, 0.4, 0.15])
    Q = rng.random((5, 5)) + 0.1
    Q /= Q.sum(axis=1, keepdims=True)
    P = mcmc.transition_matrix(pi, Q)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(P >= 0)
    flow = pi[:, None] * P
    np.testing.assert_allclose(flow, flow.T, atol=1e-15)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-15)

    def propose(x, rng):                                              # y ~ Q(x, .), with log q ratio
        i = x[:, 0].astype(int)
        j = (rng.random(len(i))[:, None] > np.cumsum(Q[i], axis=1)).sum(axis=1)
        return j[:, None].astype(float), np.log(Q[i, j]) - np.log(Q[j, i])
    log_pi = lambda x: np.log(pi[x[:, 0].astype(int)])                # noqa: E731
    chain = mcmc.metropolis_hastings(log_pi, np.zeros((50, 1)), 2000, rng, propose=propose)
    freq = np.bincount(chain.flat(100)[:, 0].astype(int), minlength=5) / chain.flat(100).shape[0]
    np.testing.assert_allclose(freq, pi, atol=0.01)


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_iat_of_ar1_matches_its_closed_form(phi):
    """x_t = phi x_{t-1} + e_t: rho(t) = phi^t, tau_int = (1 + phi) / (1 - phi)."""
    rng = np.random.default_rng(0)
    T, C = 20000, 8
    x = np.zeros((T, C))
    x[0] = rng.standard_normal(C) / np.sqrt(1 - phi ** 2)
    e = rng.standard_normal((T, C))
    for t in range(1, T):
        x[t] = phi * x[t - 1] + e[t]
    tau = mcmc.integrated_autocorr_time(x)
    exact = (1 + phi) / (1 - phi)
    assert abs(tau - exact) < 0.05 * exact + 0.05, (tau, exact)
    np.testing.assert_allclose(mcmc.autocorrelation(x)[:4], phi ** np.arange(4), atol=0.02)
    assert abs(mcmc.effective_sample_size(x) - T * C / tau) < 1e-6
