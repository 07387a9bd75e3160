"""Gaussian mixtures fitted by EM (Dempster, Laird & Rubin 1977), with k-means++ and BIC.

The model ([2] §9.2, eq. 9.7): p(x) = sum_k pi_k N(x; mu_k, Sigma_k), k = 1..K.

Expectation-maximisation ([1]; the equations as in [2] §9.2.2) alternates

    E step   r_nk  = pi_k N(x_n; mu_k, Sigma_k) / sum_j pi_j N(x_n; mu_j, Sigma_j)    (9.23)
    M step   N_k   = sum_n r_nk                                                      (9.27)
             mu_k  = (1/N_k) sum_n r_nk x_n                                          (9.24)
             S_k   = (1/N_k) sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T                   (9.25)
             pi_k  = N_k / N                                                         (9.26)

and the log-likelihood l(theta) = sum_n log sum_k pi_k N(x_n; mu_k, Sigma_k) never
decreases from one iteration to the next ([1] Theorem 1; tested). Three covariance types:

    "full"       Sigma_k = S_k                    D(D+1)/2 numbers per component
    "diag"       Sigma_k = diag(S_k)              D
    "spherical"  Sigma_k = (tr S_k / D) I         1

**Covariance floor.** A component that collapses onto one point (or onto a pixel that is
always 0) has Sigma_k -> 0 and l -> infinity. We maximise over covariances whose
eigenvalues are >= ``floor``: the M step's maximiser in that set is S_k with its eigenvalues
clipped at ``floor`` (the objective separates over S_k's eigenvalues and -log s - lam / s
peaks at s = lam), so the iteration stays an exact (constrained) EM and stays monotone.
(Adding floor * I instead, as scikit-learn's ``reg_covar`` does, loses that guarantee.)

**Initialisation** by k-means++ (Arthur & Vassilvitskii 2007 [3]): the first mean is a
point drawn uniformly, each next one a point drawn with probability proportional to its
squared distance to the nearest mean so far; pi_k = 1/K, Sigma_k = the data covariance.

**Model order** by the Bayesian information criterion (Schwarz 1978 [4]):
BIC = -2 l(theta) + P log N, P = (K - 1) + K D + K * (covariance numbers); the K with the
smallest BIC is chosen (``select_order``).

How the run layer fits it: ``train_step(batch)`` is one EM iteration on the batch (the
first one initialises by k-means++ from it). The presets' batch is the whole training
split, so a step is one EM iteration of [1] over the training data and ``epochs`` counts
iterations; every step logs the training log-likelihood per example (``log_lik``, that of
the parameters before the step's M step). Discrete images are dequantised with noise seeded
by each image (``fixed_dequantize``, ``copies`` draws per image), so every iteration sees
the same points. The parameters, a flag and the model's generator are buffers and
checkpoint state: a resumed run is exact.

References:
    [1] A. P. Dempster, N. M. Laird, D. B. Rubin, "Maximum likelihood from incomplete data
        via the EM algorithm", JRSS B 39(1), 1977.
    [2] C. M. Bishop, "Pattern Recognition and Machine Learning", Springer 2006, §9.2.
    [3] D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007.
    [4] G. Schwarz, "Estimating the dimension of a model", Annals of Statistics 6(2), 1978.
"""
import math

import numpy as np

from autograd import as_numpy

from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from ._continuous import DequantizedDensity, fixed_dequantize
from .base import ClassicalModel

__all__ = ["GaussianMixture", "kmeans_plus_plus", "select_order"]

COVARIANCES = ("full", "diag", "spherical")


def kmeans_plus_plus(x, K, rng):
    """K means chosen by k-means++ [3] from points x (N, D): (K, D)."""
    means = [x[rng.integers(len(x))]]
    d2 = ((x - means[0]) ** 2).sum(1)                                    # squared distance to nearest
    for _ in range(1, K):
        i = rng.choice(len(x), p=d2 / d2.sum()) if d2.sum() > 0 else rng.integers(len(x))
        means.append(x[i])
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(1))
    return np.stack(means)


@register("gmm")
class GaussianMixture(DequantizedDensity, ClassicalModel):
    """A mixture of K Gaussians fitted by EM (module docstring).

    Args:
        data_shape: shape of one example.
        num_levels: L for discrete data (dequantised), None for continuous data.
        components: K.
        covariance: "full", "diag" or "spherical".
        floor: the smallest eigenvalue a covariance may have.
        copies: dequantisations per training image (discrete data).
        eval_draws, test_draws: dequantisations per image in validation / the test report.
        rng: generator of the k-means++ initialisation.
        dtype: accepted for the protocol; EM runs in float64.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, components=60, covariance="diag",
                       floor=1e-3, copies=1, eval_draws=10, test_draws=10),
            train=TrainConfig(data="digits", epochs=200, batch_size=1000, seed=0,
                              early_stopping=("val/nll", 20)),
            about="60 diagonal components, floor 1e-3, chosen on the validation NLL (10 draws) among "
                  "full K = 1, 3, 5, 10, 20 (floors 1e-4..1e-2; best 136.36 at K = 5) and diagonal "
                  "K = 10, 30, 60 (128.65 at K = 60); one EM iteration per step over all 1000 "
                  "training digits, early stopping on the validation NLL"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, components=3, covariance="diag", floor=1e-3),
            train=TrainConfig(data="digits", epochs=5, batch_size=1000, seed=0),
            about="seconds: 3 diagonal components, 5 EM iterations"),
        "moons": Preset(
            model=dict(data_shape=(2,), num_levels=None, components=12, covariance="full", floor=1e-4),
            train=TrainConfig(data="moons", epochs=60, batch_size=10000, seed=0),
            about="2-D two moons: 12 full-covariance components, 60 EM iterations"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, components=10, covariance="full", floor=1e-4,
                 copies=1, eval_draws=1, test_draws=10, rng=None, dtype=np.float64):
        super().__init__(rng)
        self._setup_data(data_shape, num_levels, eval_draws, test_draws)
        check_positive(components=components, copies=copies)
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance={covariance!r} is not allowed: one of {', '.join(COVARIANCES)}")
        if not (isinstance(floor, (int, float)) and floor > 0):
            raise ValueError(f"floor={floor!r} is not allowed: floor must be a number > 0")
        self.K, self.covariance, self.floor, self.copies = components, covariance, float(floor), copies
        K, D = components, self.D
        m0, var0 = (0.5, 1 / 12) if num_levels else (0.0, 1.0)             # N(1/2, I/12) until fitted
        self.register_buffer("log_pi", np.full(K, -math.log(K)))           # log pi_k
        self.register_buffer("mu", np.full((K, D), m0))                     # mu_k
        self.register_buffer("Sigma", np.broadcast_to(var0 * np.eye(D), (K, D, D)).copy())
        self.register_buffer("initialised", np.zeros(()))

    @property
    def title(self):
        return f"GMM (K={self.K}, {self.covariance})"

    def params(self):
        """(log pi (K,), mu (K, D), Sigma (K, D, D)) as float64 arrays."""
        return tuple(as_numpy(t.data) for t in (self.log_pi, self.mu, self.Sigma))

    def train_points(self, x):
        """The points EM fits: ``copies`` fixed dequantisations of each image, or x itself."""
        if not self.num_levels:
            return self.to_points(x)
        return fixed_dequantize(x, self.num_levels, self.copies)

    # -- the Gaussians ---------------------------------------------------------------------
    def log_joint(self, y):
        """log pi_k + log N(y_n; mu_k, Sigma_k), (N, K), through the Cholesky factors
        Sigma_k = L_k L_k^T: log N = -|L_k^-1 (y - mu_k)|^2 / 2 - sum log diag L_k - D/2 log 2 pi."""
        log_pi, mu, Sigma = self.params()
        out = np.empty((len(y), self.K))
        for k in range(self.K):
            if self.covariance == "full":
                L = np.linalg.cholesky(Sigma[k])
                z = np.linalg.solve(L, (y - mu[k]).T).T                        # (N, D)
                half_log_det = np.log(np.diag(L)).sum()
            else:                                                              # diagonal Sigma_k:
                sd = np.sqrt(np.diag(Sigma[k]))                                # L_k = diag(sd)
                z, half_log_det = (y - mu[k]) / sd, np.log(sd).sum()
            out[:, k] = log_pi[k] - 0.5 * (z ** 2).sum(1) - half_log_det - 0.5 * self.D * math.log(2 * math.pi)
        return out

    def log_density(self, y):
        """log p(y) = logsumexp_k [log pi_k + log N(y; mu_k, Sigma_k)], (N,)."""
        a = self.log_joint(np.asarray(y, np.float64).reshape(len(y), -1))
        m = a.max(1, keepdims=True)
        return (np.log(np.exp(a - m).sum(1, keepdims=True)) + m)[:, 0]

    # -- EM --------------------------------------------------------------------------------
    def initialise(self, y):
        """k-means++ means, pi_k = 1/K, Sigma_k = the data covariance (floored)."""
        self.mu = kmeans_plus_plus(y, self.K, self.rng)
        S = np.cov(y, rowvar=False, bias=True).reshape(self.D, self.D)
        self.Sigma = np.broadcast_to(self.constrain(S), (self.K, self.D, self.D)).copy()
        self.log_pi = np.full(self.K, -math.log(self.K))
        self.initialised = np.ones(())

    def constrain(self, S):
        """The covariance type's Sigma from S, eigenvalues clipped at ``floor`` (module docstring)."""
        if self.covariance == "spherical":
            return max(np.trace(S) / self.D, self.floor) * np.eye(self.D)
        if self.covariance == "diag":
            return np.diag(np.maximum(np.diag(S), self.floor))
        lam, V = np.linalg.eigh(0.5 * (S + S.T))
        return (V * np.maximum(lam, self.floor)) @ V.T

    def em_step(self, y):
        """One EM iteration on points y (N, D); returns l(theta_old) / N, the mean log-likelihood
        of the parameters the iteration started from."""
        a = self.log_joint(y)                                                  # (N, K)
        log_p = np.log(np.exp(a - a.max(1, keepdims=True)).sum(1)) + a.max(1)  # log p(y_n)
        r = np.exp(a - log_p[:, None])                                         # E step (9.23)
        Nk = r.sum(0)                                                          # (9.27)
        _, mu, Sigma = self.params()
        mu, Sigma = mu.copy(), Sigma.copy()
        for k in np.flatnonzero(Nk > 0):                                       # an empty component
            mu[k] = r[:, k] @ y / Nk[k]                                        # keeps its Gaussian
            d = y - mu[k]                                                      # (9.24)
            Sigma[k] = self.constrain((r[:, k, None] * d).T @ d / Nk[k])       # (9.25), floored
        with np.errstate(divide="ignore"):
            self.log_pi = np.log(Nk / len(y))                                  # (9.26)
        self.mu, self.Sigma = mu, Sigma
        return float(log_p.mean())

    def train_step(self, batch):
        """One EM iteration on the batch (k-means++ first); ``log_lik``: l(theta_old) / N."""
        y = self.train_points(self.split_batch(batch)[0])
        if not float(as_numpy(self.initialised.data)):
            self.initialise(y)
        log_lik = self.em_step(y)
        shift = self.D * math.log(self.num_levels) if self.num_levels else 0.0
        return {"log_lik": log_lik, "nll": shift - log_lik, "bpd": self.bits_per_dim(shift - log_lik)}

    def fit(self, split, iterations=100, tol=1e-8, verbose=False):
        """EM on a whole ``Dataset`` (or array) until the log-likelihood gains less than ``tol``
        per example; returns the list of per-iteration log-likelihoods (printed if ``verbose``)."""
        y = self.train_points(getattr(split, "x", split))
        if not float(as_numpy(self.initialised.data)):
            self.initialise(y)
        history = []
        for it in range(iterations):
            history.append(self.em_step(y))
            if verbose:
                print(f"EM iteration {it + 1:3d}: log-likelihood per example {history[-1]:.6f}")
            if it > 0 and history[-1] - history[-2] < tol:
                break
        return history

    def num_free_parameters(self):
        """P of the BIC: (K - 1) mixing weights, K D means and the covariance numbers."""
        per = {"full": self.D * (self.D + 1) // 2, "diag": self.D, "spherical": 1}[self.covariance]
        return (self.K - 1) + self.K * self.D + self.K * per

    def bic(self, y):
        """BIC = -2 l(theta) + P log N on points y (N, D)."""
        y = np.asarray(y, np.float64).reshape(len(y), -1)
        return -2.0 * self.log_density(y).sum() + self.num_free_parameters() * math.log(len(y))

    def sample_points(self, n, rng):
        """k ~ Categorical(pi), then y = mu_k + L_k eps, eps ~ N(0, I): (n, D)."""
        log_pi, mu, Sigma = self.params()
        k = rng.choice(self.K, size=n, p=np.exp(log_pi) / np.exp(log_pi).sum())
        eps = rng.standard_normal((n, self.D))
        L = np.linalg.cholesky(Sigma)                                          # (K, D, D)
        return mu[k] + np.einsum("nij,nj->ni", L[k], eps)


def select_order(y, orders, covariance="full", floor=1e-4, iterations=200, seed=0):
    """Fit a mixture for every K of ``orders`` to points y (N, D) by EM; returns (BICs, models).

    The K of the smallest BIC is the chosen order (Schwarz 1978 [4])."""
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    models = [GaussianMixture(data_shape=(y.shape[1],), num_levels=None, components=K, covariance=covariance,
                              floor=floor, rng=np.random.default_rng([seed, K])) for K in orders]
    for m in models:
        m.fit(y, iterations)
    return np.array([m.bic(y) for m in models]), models
