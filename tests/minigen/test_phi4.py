"""phi4 and minigen.lattice: the action's gradient, HMC's limits, the independence sampler on the free
field, the flow's symmetry on the torus, its two directions, the report and bad arguments."""
import numpy as np
import pytest

from autograd import Tensor, functional, no_grad
from minigen import lattice, mcmc
from minigen.models.flows.phi4 import Phi4


def test_action_gradient_matches_finite_differences_and_tensor_action():
    rng = np.random.default_rng(0)
    th = lattice.Phi4Theory(5, -2.5, 1.3)                 # odd L: every wrap-around pair distinct
    phi = rng.standard_normal((2, 5, 5))
    g, e = th.grad(phi), 1e-6
    num = np.zeros_like(phi)
    for idx in np.ndindex(phi.shape):
        d = np.zeros_like(phi)
        d[idx] = e
        num[idx] = (th.action(phi + d) - th.action(phi - d))[idx[0]] / (2 * e)
    np.testing.assert_allclose(g, num, atol=1e-6)
    np.testing.assert_allclose(th.action_tensor(Tensor(phi[:, None])).numpy(), th.action(phi), rtol=1e-12)
    # the action as written in the issue, term by term, on one configuration
    p = phi[0]
    direct = sum(p[x, y] * (2 * p[x, y] - p[(x + 1) % 5, y] - p[x - 1, y]) +
                 p[x, y] * (2 * p[x, y] - p[x, (y + 1) % 5] - p[x, y - 1]) - 2.5 * p[x, y] ** 2 + 1.3 * p[x, y] ** 4
                 for x in range(5) for y in range(5))
    np.testing.assert_allclose(th.action(p[None])[0], direct, rtol=1e-12)


def test_hmc_acceptance_tends_to_one_and_leapfrog_is_reversible():
    th = lattice.Phi4Theory(4, -4.0, 8.0)
    rng = np.random.default_rng(1)
    rates = [lattice.hmc_chains(th, 60, np.random.default_rng(2), step, 4, chains=4, burn_in=20)[1]
             for step in (0.2, 0.05, 0.005)]
    assert rates[0] < rates[1] < rates[2] and rates[2] > 0.99, rates
    x, p = 0.5 * rng.standard_normal((3, 4, 4)), rng.standard_normal((3, 4, 4))
    grad = lambda v: -th.grad(v)                                             # noqa: E731  grad log pi
    y, q = mcmc.leapfrog(x, p, grad, 0.05, 20)
    xb, pb = mcmc.leapfrog(y, -q, grad, 0.05, 20)                           # flip the momentum, go back
    np.testing.assert_allclose(xb, x, atol=1e-10)
    np.testing.assert_allclose(-pb, p, atol=1e-10)


def test_independence_sampler_reproduces_the_free_field_propagator():
    L, m2 = 4, 1.0
    th = lattice.Phi4Theory(L, m2, 0.0)
    exact = lattice.free_propagator(L, m2)
    V = L * L
    e = np.eye(V).reshape(V, L, L)
    single = th.action(e)                                                    # S(e_i) = A_ii
    A = (th.action((e[:, None] + e[None, :]).reshape(-1, L, L)).reshape(V, V)
         - single[:, None] - single[None, :]) / 2                             # S(phi) = phi^T A phi
    A = (A + A.T) / 2
    cov = np.linalg.inv(2 * A)
    np.testing.assert_allclose(cov[0].reshape(L, L), exact, atol=1e-12)      # the formula
    rng = np.random.default_rng(3)
    qcov = 1.3 * cov                                                         # q is not p
    phi = rng.standard_normal((40000, V)) @ np.linalg.cholesky(qcov).T
    log_q = -0.5 * np.einsum("ni,ij,nj->n", phi, np.linalg.inv(qcov), phi)
    log_w = -th.action(phi.reshape(-1, L, L)) - log_q
    chain = mcmc.independence_metropolis(phi.reshape(-1, L, L), log_w, rng)
    assert 0.3 < chain.acceptance < 0.95
    r = lattice.measure(chain.samples)
    assert np.all(np.abs(r["G_c"] - exact) < 4 * r["G_c_err"] + 1e-3), (r["G_c"], exact)


def _tiny(**kw):
    return Phi4(**{**dict(L=4, couplings=4, hidden=4, proposals=256, hmc_chains=2, rng=0, dtype=np.float64), **kw})


def test_flow_density_is_invariant_under_even_shifts_and_draw_matches_log_q():
    m = _tiny()
    for p in m.parameters():                                                 # not the identity
        p.data = p.data + 0.2 * np.random.default_rng(4).standard_normal(p.shape)
    with no_grad():
        phi, log_q = m.draw(5, np.random.default_rng(5))
        np.testing.assert_allclose(m.log_q(phi).numpy(), log_q.numpy(), atol=1e-10)
        x = phi.numpy()
        base = m.log_prob(x)
        for shift in [(1, 1), (2, 0), (0, 2), (3, 1)]:                       # a + b even: masks map to themselves
            np.testing.assert_allclose(m.log_prob(np.roll(x, shift, axis=(2, 3))), base, atol=1e-10)
        odd = m.log_prob(np.roll(x, (1, 0), axis=(2, 3)))                    # swaps the checkerboards
        assert np.abs(odd - base).max() > 1e-6                               # only training makes it equal


def test_circular_padding_wraps_the_torus():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    y = functional.pad_circular(Tensor(x), 1).numpy()[0, 0]
    np.testing.assert_array_equal(y[0, 1:-1], x[0, 0, -1])                   # row above row 0 is row H-1
    np.testing.assert_array_equal(y[1:-1, 0], x[0, 0, :, -1])
    assert y[0, 0] == x[0, 0, -1, -1]


def test_reverse_kl_training_lowers_kl_and_report_prints_both_samplers(tmp_path, capsys):
    from minigen.models.registry import TrainConfig
    m = _tiny(dtype=np.float32)
    m.configure_optimizers(TrainConfig(lr=1e-2), 40)
    x = np.zeros((64, 1, 4, 4), np.float32)
    first = np.mean([m.eval_step(x)["kl"]])
    for _ in range(40):
        m.train_step(x)
    assert m.eval_step(x)["kl"] < first
    r = m.report(None, np.random.default_rng(0))
    out = capsys.readouterr().out
    assert "flow" in out and "hmc" in out and "tau_int" in out
    for k in ("flow/acceptance", "flow/ess", "flow/abs_m", "flow/chi2", "hmc/acceptance", "hmc/abs_m",
              "hmc/chi2", "hmc/tau_abs_m"):
        assert np.isfinite(r[k]), k
    paths = m.figures(str(tmp_path), np.random.default_rng(0))
    assert len(paths) == 2


@pytest.mark.parametrize("kwargs, match", [(dict(L=5), "even"), (dict(lam=-1.0), "lam"),
                                           (dict(kernel=4), "kernel"), (dict(hmc_step=0.0), "hmc_step")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kwargs)
