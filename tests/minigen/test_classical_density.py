"""Classical density estimation against direct computation: KDE, EM, BIC, histograms, kNN,
inversion sampling and neural CDF regression (issue 14)."""
import math

import numpy as np
import pytest
from scipy import stats

from minigen.density import (GridSampler, Histogram, NeuralCDF, TabulatedInverse, choose_bin_width, cv_risk,
                             cv_risk_by_definition, knn_density, ks_statistic, mise_rate, sample_exponential)
from minigen.models import build_model
from minigen.models.classical.gmm import GaussianMixture, select_order
from minigen.models.classical.kde import kde_log_density, loo_log_likelihood


def explicit_kde(y, x, h, kernel):
    """p_h(y) = (1/n) sum_i h^-D K((y - x_i) / h), one pair at a time."""
    n, D = x.shape
    V = math.pi ** (D / 2) / math.gamma(D / 2 + 1)
    out = []
    for q in y:
        total = 0.0
        for xi in x:
            r2 = float(((q - xi) ** 2).sum()) / h ** 2
            K = (2 * math.pi) ** (-D / 2) * math.exp(-r2 / 2) if kernel == "gaussian" else \
                (D + 2) / (2 * V) * max(1 - r2, 0.0)
            total += K / h ** D
        out.append(total / n)
    return np.array(out)


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov"])
@pytest.mark.parametrize("D", [1, 3])
def test_kde_log_density_is_the_explicit_double_sum(kernel, D):
    rng = np.random.default_rng(D)
    x, y = rng.standard_normal((7, D)), rng.standard_normal((5, D)) * 0.5
    got = np.exp(kde_log_density(y, x, 0.9, kernel, block_bytes=8 * 7 * 2))    # blocks of 2 queries
    np.testing.assert_allclose(got, explicit_kde(y, x, 0.9, kernel), rtol=1e-12)


def test_leave_one_out_likelihood_by_definition():
    x = np.random.default_rng(0).standard_normal((9, 2))
    for h in (0.5, 1.3):
        direct = np.mean([np.log(explicit_kde(x[i:i + 1], np.delete(x, i, 0), h, "gaussian"))[0]
                          for i in range(9)])
        assert loo_log_likelihood(x, [h])[0] == pytest.approx(direct, rel=1e-12)


def test_kde_model_sphering_is_a_bandwidth_matrix_and_state_round_trips():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 2)) @ np.array([[2.0, 0.0], [1.5, 0.3]])
    model = build_model("kde", data_shape=(2,), num_levels=None, bandwidth=0.7, sphere=True)
    model.fit(_ds(x))
    y = rng.standard_normal((6, 2))
    S = np.cov(x, rowvar=False)
    H = 0.49 * S                                                        # H = h^2 S
    direct = np.mean([stats.multivariate_normal(xi, H).pdf(y) for xi in x], axis=0)
    np.testing.assert_allclose(np.exp(model.log_prob(y)), direct, rtol=1e-9)
    twin = build_model("kde", data_shape=(2,), num_levels=None, bandwidth=0.7, sphere=True)
    twin.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(twin.log_prob(y), model.log_prob(y))


class _ds:
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)


def three_clusters(n=600, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    k = rng.integers(0, 3, n)
    return means[k] + rng.standard_normal((n, 2)) * np.array([1.0, 0.5]), means


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_em_log_likelihood_never_decreases(covariance):
    x, _ = three_clusters()
    gmm = GaussianMixture(data_shape=(2,), num_levels=None, components=4, covariance=covariance, floor=1e-3,
                          rng=np.random.default_rng(0))
    history = gmm.fit(x, iterations=40, tol=-np.inf)
    assert len(history) == 40
    assert np.all(np.diff(history) >= -1e-10), np.diff(history).min()
    assert history[-1] > history[0]


def test_em_fixed_point_on_a_well_separated_mixture():
    x, means = three_clusters(3000)
    gmm = GaussianMixture(data_shape=(2,), num_levels=None, components=3, floor=1e-6, rng=np.random.default_rng(1))
    gmm.fit(x, iterations=200, tol=1e-12)
    log_pi, mu, Sigma = [a.copy() for a in gmm.params()]
    gmm.em_step(x)                                                      # one more step changes nothing
    for before, after in zip((log_pi, mu, Sigma), gmm.params()):
        np.testing.assert_allclose(after, before, atol=1e-8)
    order = np.argsort(mu[:, 0] + mu[:, 1] * 0.1)
    np.testing.assert_allclose(mu[order], means[[0, 1, 2]], atol=0.1)
    np.testing.assert_allclose(np.exp(log_pi), 1 / 3, atol=0.03)
    np.testing.assert_allclose(Sigma[:, 0, 0], 1.0, atol=0.15)
    np.testing.assert_allclose(Sigma[:, 1, 1], 0.25, atol=0.05)


def test_covariance_floor_clips_eigenvalues():
    gmm = GaussianMixture(data_shape=(2,), num_levels=None, components=1, floor=0.1)
    S = np.array([[1.0, 0.999], [0.999, 1.0]])                          # eigenvalues 1.999, 0.001
    lam = np.linalg.eigvalsh(gmm.constrain(S))
    np.testing.assert_allclose(lam, [0.1, 1.999])


def test_bic_picks_the_true_order():
    x, _ = three_clusters(600)
    bics, _ = select_order(x, [1, 2, 3, 4, 5], iterations=100)
    assert int(np.argmin(bics)) + 1 == 3, bics


def test_gmm_dequantised_training_data_is_fixed_per_image():
    model = build_model("gmm", "digits-tiny", rng=0)
    x = np.random.default_rng(0).integers(0, 17, (5, 1, 8, 8))
    np.testing.assert_array_equal(model.train_points(x)[::-1], model.train_points(x[::-1]))


def test_histogram_risk_estimate_is_its_definition():
    x = np.random.default_rng(0).beta(2, 5, 60)
    for m in (3, 7, 15):
        assert cv_risk(x, m, (0, 1)) == pytest.approx(cv_risk_by_definition(x, m, (0, 1)), rel=1e-12)


def test_histogram_integrates_to_one_and_the_mise_rate_is_near_two_thirds():
    x = np.random.default_rng(1).random(200)
    h = Histogram(x, 10, (0, 1))
    t = np.linspace(0, 1, 100001)
    assert np.trapezoid(h.density(t), t) == pytest.approx(1.0, abs=1e-3)
    m, width, _, _ = choose_bin_width(x, 50, (0, 1))
    assert width == pytest.approx(1 / m)
    sample = lambda n, rng: np.sqrt(rng.random(n))                      # p(x) = 2x by inversion
    _, slope = mise_rate(sample, lambda t: 2 * t, [100, 400, 1600, 6400], np.random.default_rng(0),
                         reps=10, max_bins=120)
    assert -0.85 < slope < -0.5, slope


def test_knn_density_by_hand_and_it_does_not_integrate_to_one():
    data = np.array([0.0, 1.0, 3.0])
    # at 0.4: distances 0.4, 0.6, 2.6; k=1 -> R = 0.4, p = 1 / (3 * 2 * 0.4); k=2 -> R = 0.6
    np.testing.assert_allclose(knn_density([0.4], data, 1), [1 / (3 * 2 * 0.4)])
    np.testing.assert_allclose(knn_density([0.4], data, 2), [2 / (3 * 2 * 0.6)])
    np.testing.assert_allclose(knn_density([[0.0, 0.0]], [[3.0, 4.0]], 1), [1 / (math.pi * 25)])
    x = np.random.default_rng(0).standard_normal(100)
    masses = []
    for T in (10, 100, 1000):
        t = np.linspace(-T, T, 200001)
        masses.append(np.trapezoid(knn_density(t, x, 5), t))
    assert masses[0] > 1.0 and masses[2] > masses[1] > masses[0], masses


def test_inversion_sampling_passes_kolmogorov_smirnov():
    rng = np.random.default_rng(0)
    n, crit = 4000, 1.358 / math.sqrt(4000)                             # the 5% critical value
    assert ks_statistic(sample_exponential(n, rng, 2.0), lambda t: 1 - np.exp(-2 * t)) < crit
    grid = np.linspace(-6, 6, 4001)
    mix = lambda t: 0.3 * stats.norm.pdf(t, -2, 0.5) + 0.7 * stats.norm.pdf(t, 1, 1)   # unnormalised ok
    cdf = lambda t: 0.3 * stats.norm.cdf(t, -2, 0.5) + 0.7 * stats.norm.cdf(t, 1, 1)
    tab = TabulatedInverse(grid, 5 * mix(grid))
    assert ks_statistic(tab.sample(n, rng), cdf) < crit
    assert ks_statistic(rng.standard_normal(n), cdf) > 5 * crit        # a wrong target is caught
    # two dimensions by successive conditionals: a correlated Gaussian tabulated on cells
    e = np.linspace(-5, 5, 401)
    c = 0.5 * (e[1:] + e[:-1])
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    masses = stats.multivariate_normal([0, 0], cov).pdf(np.stack(np.meshgrid(c, c, indexing="ij"), -1))
    y = GridSampler([e, e], masses).sample(n, np.random.default_rng(1))
    assert ks_statistic(y[:, 0], stats.norm.cdf) < crit
    assert ks_statistic(y[:, 1], stats.norm.cdf) < crit
    assert ks_statistic(y[:, 0] + y[:, 1], stats.norm(0, math.sqrt(3.6)).cdf) < crit
    assert np.corrcoef(y.T)[0, 1] == pytest.approx(0.8, abs=0.03)


def test_neural_cdf_density_is_the_derivative_and_fits():
    x = np.random.default_rng(0).standard_normal(200)
    model = NeuralCDF(8, rng=np.random.default_rng(0))
    t = np.linspace(-2, 2, 9)
    eps = 1e-6
    numeric = (model.cdf(t + eps) - model.cdf(t - eps)) / (2 * eps)
    np.testing.assert_allclose(model.density(t), numeric, rtol=1e-6, atol=1e-9)
    history = model.fit(x, steps=150, lr=2e-2, grid=50)
    assert history[-1] < 0.2 * history[0]
    assert np.all(model.density(np.linspace(-3, 3, 50)) > -1e-3)
