"""Implementation of the variational autoencoder (VAE) [1], with the importance-weighted bound [2].

A VAE is a latent-variable model ``p(x, z) = p(z) p_theta(x|z)``: a standard normal
prior ``p(z) = N(0, I)`` over J latent dimensions and a *decoder* network that gives
the parameters of ``p_theta(x|z)``. Its likelihood ``p(x) = int p(z) p(x|z) dz`` is
intractable, so an *encoder* network ``q_phi(z|x) = N(mu(x), diag sigma^2(x))``
(eq. 9) is trained together with the decoder to maximise the evidence lower bound
(ELBO, eqs. 2-3)::

    log p(x) >= L(x) = E_q[log p(x, z) - log q(z|x)] = -KL(q(z|x) || p(z)) + E_q[log p(x|z)]

The expectation is estimated by the *reparameterisation trick* (§2.4, eq. 10):
``z = mu + sigma * eps`` with ``eps ~ N(0, I)``, so the sample is a differentiable
function of phi and plain backprop trains both networks. Two SGVB estimators of L
(§2.3), chosen with ``estimator``::

    A (eq. 6)   1/S sum_s [log p(x, z_s) - log q(z_s|x)]           everything by Monte Carlo
    B (eq. 7)   -KL(q(z|x) || p(z)) + 1/S sum_s log p(x|z_s)       the KL in closed form (Appendix B)

B usually has the lower variance (§2.3), and it trains the reference configuration.
To *evaluate* a trained model, the IWAE bound [2] (eq. 8) with k samples
``z_1..z_k ~ q(z|x)``::

    L_k(x) = E[log 1/k sum_i p(x, z_i) / q(z_i|x)],   L = L_1 <= L_k <= L_{k+1} <= log p(x)

is tighter (Theorem 1), so ``-L_1000`` is reported as the NLL estimate.

Data and decoders (``likelihood``). Raw data are integers with ``num_levels`` = L
levels (17 for the 8x8 digits); every bound is in nats per example *of those data*::

    "categorical"   each pixel an L-way categorical from L logits; the encoder sees x / (L-1)
    "bernoulli"     pixels binarised (x >= L // 2): a Bernoulli logit each (Appendix C.1);
                    the bound is then on the binarised data
    "gaussian"      a Gaussian density (Appendix C.2) on dequantised y = (x + u) / L,
                    u ~ U[0, 1)^D; since log P(x) >= E_u log p(y) - D log L [3],
                    the bound is shifted by -D log L into nats of x

Bits per dimension are nats / (D log 2). Index conventions: ``eps`` and ``z`` are
(S, N, J) for S samples of N examples; a decoder's output is (N, D, K) with K numbers
per pixel (1, 2 or L).

References:
    [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
        https://arxiv.org/abs/1312.6114 (§2.3 eqs. 6-7, §2.4, eqs. 9-10, Appendices B, C)
    [2] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted Autoencoders",
        ICLR 2016. https://arxiv.org/abs/1509.00519 (§3 eq. 8, Theorem 1, §5)
    [3] L. Theis, A. van den Oord and M. Bethge, "A note on the evaluation of generative
        models", ICLR 2016, §3.1. https://arxiv.org/abs/1511.01844
"""
import enum
import math

import numpy as np

from autograd import Tensor, as_numpy, device_of, no_grad, ops, to_device
from autograd import functional as F

from ...nn import losses
from ...nn.distributions import Bernoulli, Categorical
from ..base import CRC, check_positive
from ..registry import Preset, TrainConfig, register
from ._vae_nets import build_networks
from .base import LatentVariableModel

__all__ = ["VAE", "Likelihood", "Estimator"]


class Likelihood(enum.Enum):
    """The decoder's distribution p_theta(x|z) (module docstring)."""
    BERNOULLI = "bernoulli"
    GAUSSIAN = "gaussian"
    CATEGORICAL = "categorical"


class Estimator(enum.Enum):
    """Which SGVB estimator of the ELBO trains the model ([1] §2.3)."""
    A = "A"   # eq. 6: Monte Carlo log p(x, z) - log q(z|x)
    B = "B"   # eq. 7: analytic KL plus Monte Carlo reconstruction term


_REFERENCE = dict(data_shape=(1, 8, 8), num_levels=17, latent_dim=16, hidden=(256, 256), architecture="mlp",
                  likelihood="categorical", estimator="B", num_samples=1)
_DIGITS_RECIPE = TrainConfig(data="digits", epochs=200, early_stopping=("val/nelbo", 20), batch_size=64,
                             lr=1e-3, seed=0)
_MNIST = dict(data_shape=(1, 28, 28), num_levels=256, latent_dim=20, hidden=(400,), test_samples=100)
_MNIST_RECIPE = TrainConfig(epochs=50, early_stopping=("val/nelbo", 5), batch_size=128, lr=1e-3, seed=0)


@register("vae")
class VAE(LatentVariableModel):
    """VAE (Kingma & Welling 2014): MLP or conv encoder/decoder, three decoder likelihoods, IWAE bound.

    Args:
        data_shape: shape of one example, e.g. (1, 8, 8).
        num_levels: L, the number of discrete levels of the raw data (None: continuous
            data, used as they are; not for "categorical").
        latent_dim: J.
        hidden: hidden widths of the MLP encoder (the decoder mirrors them), or the two
            channel counts of the conv networks.
        architecture: "mlp" or "conv".
        likelihood: "categorical", "bernoulli" or "gaussian" (``Likelihood``).
        estimator: "A" or "B" (``Estimator``), used by ``loss``.
        num_samples: S, latent samples per example in ``loss``.
        eval_samples: k, latent samples per example in ``eval_step``.
        eval_iwae: whether ``eval_step`` also reports -L_k, the IWAE bound with those k.
        test_samples: k of the end-of-run report (``report``; 0: the eval_step figures).
        rng: generator (or seed) for the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    dataset_view = "raw"
    best_metric = ("val/nelbo", "min")
    default_preset = "digits-reference"
    eval_key = (CRC, 6)
    presets = {
        "digits-reference": Preset(model=dict(_REFERENCE, test_samples=1000), train=_DIGITS_RECIPE,
                                   about="the README's VAE: -ELBO 97.17, IWAE-1000 94.91 nats"),
        "digits-tiny": Preset(model=dict(_REFERENCE, latent_dim=4, hidden=(32,), test_samples=10),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
        "digits-conv": Preset(model=dict(_REFERENCE, architecture="conv", hidden=(32, 64), test_samples=1000),
                              train=_DIGITS_RECIPE),
        "mnist-bernoulli": Preset(model=dict(_MNIST, likelihood="bernoulli"),
                                  train=_MNIST_RECIPE.replace(data="mnist")),
        "fashion-mnist-gaussian": Preset(model=dict(_MNIST, likelihood="gaussian"),
                                         train=_MNIST_RECIPE.replace(data="fashion-mnist")),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, latent_dim=16, hidden=(256, 256),
                 architecture="mlp", likelihood="categorical", estimator="B", num_samples=1,
                 eval_samples=1, eval_iwae=False, test_samples=0, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, latent_dim=latent_dim, hidden=hidden, num_samples=num_samples,
                       eval_samples=eval_samples)
        if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 2):
            raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2, or None")
        if not isinstance(test_samples, int) or test_samples < 0:
            raise ValueError(f"test_samples={test_samples!r} is not allowed: an integer >= 0")
        self.data_shape, self.num_levels = tuple(data_shape), num_levels
        self.D, self.latent_dim = math.prod(self.data_shape), latent_dim
        self.likelihood, self.estimator = Likelihood(likelihood), Estimator(estimator)
        self.num_samples, self.eval_samples, self.eval_iwae = num_samples, eval_samples, eval_iwae
        self.test_samples = test_samples
        if self.likelihood is Likelihood.CATEGORICAL and not num_levels:
            raise ValueError("likelihood='categorical' needs discrete data: give num_levels")
        K = {Likelihood.BERNOULLI: 1, Likelihood.GAUSSIAN: 2, Likelihood.CATEGORICAL: num_levels}
        self.encoder, self.decoder = build_networks(architecture, self.data_shape, latent_dim, hidden,
                                                    K[self.likelihood], rng=self.rng, dtype=dtype)
        # log of the bin volume (1/L)^D that turns a density of y = (x + u)/L into a bound on P(x)
        gaussian_bins = self.likelihood is Likelihood.GAUSSIAN and num_levels
        self.log_bin_volume = -self.D * math.log(num_levels) if gaussian_bins else 0.0

    @property
    def dtype(self):
        return self.encoder.head.weight.dtype

    # -- data --------------------------------------------------------------------------
    def data_view(self, x, rng=None):
        """Raw data -> (encoder input, likelihood target), as the module docstring says.

        Args:
            x: raw examples (N, *data_shape), integers in 0..L-1 (or floats if L is None).
            rng: generator of the dequantisation noise ("gaussian" only).

        Returns:
            ``(x_in, target)``: x_in a Tensor (N, *data_shape) of the model's dtype; target
            (N, D), integers for "categorical", else floats.
        """
        x = to_device(x.data if isinstance(x, Tensor) else x, self.device)   # the parameters' device
        L, n = self.num_levels, x.shape[0]
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"this VAE models examples of shape {self.data_shape}, got "
                             f"{tuple(x.shape[1:])}; build it for the data (e.g. --config "
                             "mnist-bernoulli, or --set data_shape=[1,28,28] --set num_levels=256)")
        if self.likelihood is Likelihood.CATEGORICAL:
            x_in, target = x / (L - 1), x.reshape(n, self.D).astype(np.int64)
        elif self.likelihood is Likelihood.BERNOULLI:
            x_in = (x >= L // 2) if L else x                   # binarised
            target = x_in.reshape(n, self.D)
        else:
            x_in = (x + to_device(rng.random(x.shape), device_of(x))) / L if L else x   # y in [0, 1)
            target = x_in.reshape(n, self.D)
        dtype = self.dtype
        target = target if self.likelihood is Likelihood.CATEGORICAL else Tensor(target.astype(dtype))
        return Tensor(x_in.astype(dtype)), target

    # -- the model's distributions ---------------------------------------------------------
    def encode(self, x_in):
        """q_phi(z|x) = N(mu, diag exp(log_var)) (eq. 9). Returns mu, log_var (N, J)."""
        return self.encoder(x_in)

    @staticmethod
    def reparameterize(mu, log_var, eps):
        """z = mu + sigma * eps, sigma = exp(log_var / 2) (§2.4): (N, J) and (S, N, J) -> (S, N, J)."""
        return mu + ops.exp(0.5 * log_var) * eps

    def log_p_x_given_z(self, target, z):
        """log p_theta(x|z) summed over the D pixels (Appendix C), in nats of the raw data.

        For "gaussian" on L-level data this is ``log p(y|z) - D log L``, y = (x + u) / L:
        its expectation over u is a lower bound on log P(x|z) (Jensen), as in [3].

        Args:
            target: (N, D) from ``data_view``.
            z: (S, N, J) latent samples.

        Returns:
            Tensor (S, N).
        """
        S, N, J = z.shape
        out = self.decoder(z.reshape(S * N, J))                             # (S*N, D, K)
        if self.likelihood is Likelihood.CATEGORICAL:
            logits = out.reshape(S, N, self.D, self.num_levels)              # (S, N, D, L)
            return Categorical(logits, axis=-1).log_prob(target).sum(axis=-1)
        if self.likelihood is Likelihood.BERNOULLI:
            logits = out.reshape(S, N, self.D)                               # (S, N, D): K = 1
            return Bernoulli(logits).log_prob(target).sum(axis=-1)
        out = out.reshape(S, N, self.D, 2)                                   # (S, N, D, 2)
        log_p = losses.log_normal_pdf(target, out[..., 0], out[..., 1])       # mean, log variance
        return log_p.sum(axis=-1) + self.log_bin_volume

    @staticmethod
    def log_p_z(z):
        """log p(z) = log N(z; 0, I), summed over J: (S, N, J) -> (S, N)."""
        return losses.log_normal_pdf(z, 0.0, 0.0).sum(axis=-1)

    @staticmethod
    def log_q_z_given_x(z, mu, log_var):
        """log q_phi(z|x) = log N(z; mu, diag exp(log_var)) (eq. 9), summed over J -> (S, N)."""
        return losses.log_normal_pdf(z, mu, log_var).sum(axis=-1)

    @staticmethod
    def kl_divergence(mu, log_var):
        """KL(q(z|x) || p(z)) = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2) (Appendix B) -> (N,)."""
        return losses.kl_standard_normal(mu, log_var, reduction="none").sum(axis=-1)

    # -- bounds ----------------------------------------------------------------------------
    def _noise(self, eps, rng, num_samples, mu):
        """eps (S, N, J) as a Tensor of mu's dtype: the given one, or drawn from ``rng``."""
        if eps is None:
            eps = rng.standard_normal((num_samples,) + tuple(mu.shape))
        eps = eps.data if isinstance(eps, Tensor) and not eps.requires_grad else eps
        return eps if isinstance(eps, Tensor) else Tensor(to_device(eps, mu.device), dtype=mu.dtype)

    def elbo_terms(self, x, estimator=None, num_samples=None, rng=None, eps=None):
        """The ELBO of each example and its two parts, by estimator A (eq. 6) or B (eq. 7).

        Args:
            x: raw examples (N, *data_shape).
            estimator: "A" or "B" (default: the model's).
            num_samples: S (default: the model's ``num_samples``).
            rng: generator of eps (and of the dequantisation noise); default ``self.rng``.
            eps: fixed noise (S, N, J) instead of drawing it (e.g. for a gradient check).

        Returns:
            ``(elbo, log_px, kl)``, each a Tensor (N,): the ELBO in nats of the raw data,
            the reconstruction term E_q log p(x|z) and KL(q(z|x) || p(z)) (estimated as
            E_q[log q(z|x) - log p(z)] by estimator A).
        """
        rng = self.rng if rng is None else rng
        x_in, target = self.data_view(x, rng)
        mu, log_var = self.encode(x_in)                                   # (N, J) each
        z = self.reparameterize(mu, log_var, self._noise(eps, rng, num_samples or self.num_samples, mu))
        log_px = self.log_p_x_given_z(target, z)                          # (S, N)
        if Estimator(estimator or self.estimator) is Estimator.A:
            kl = (self.log_q_z_given_x(z, mu, log_var) - self.log_p_z(z)).mean(axis=0)
        else:
            kl = self.kl_divergence(mu, log_var)
        log_px = log_px.mean(axis=0)                                      # (N,)
        return log_px - kl, log_px, kl

    def elbo(self, x, estimator=None, num_samples=None, rng=None, eps=None):
        """The ELBO estimate of each example, a Tensor (N,) in nats (arguments: ``elbo_terms``)."""
        return self.elbo_terms(x, estimator, num_samples, rng, eps)[0]

    def log_weights(self, x, k, rng=None, max_rows=8192, eps=None):
        """k samples z_i ~ q(z|x) per example and what the bounds need from them.

        The samples are decoded ``max_rows // N`` at a time; under ``no_grad`` only the
        (k, N) results are kept, so k = 1000 fits in memory.

        Args:
            x: raw examples (N, *data_shape).
            k: number of samples.
            rng: generator of the samples (default ``self.rng``).
            max_rows: most latent samples decoded at once.
            eps: fixed noise (k, N, J) instead of drawing it (z_i = mu + sigma * eps_i).

        Returns:
            ``(log_px, log_w, kl)``: log p(x|z_i) and the log importance weights
            ``log w_i = log p(x, z_i) - log q(z_i|x)``, Tensors (k, N) in nats of the raw
            data, and KL(q(z|x) || p(z)) (N,).
        """
        rng = self.rng if rng is None else rng
        x_in, target = self.data_view(x, rng)
        mu, log_var = self.encode(x_in)                                   # (N, J) each
        chunk, log_px, log_w = max(1, max_rows // x_in.shape[0]), [], []
        for start in range(0, k, chunk):
            s = min(chunk, k - start)
            noise = None if eps is None else eps[start:start + s]
            z = self.reparameterize(mu, log_var, self._noise(noise, rng, s, mu))       # (s, N, J)
            log_px.append(self.log_p_x_given_z(target, z))                    # (s, N)
            log_w.append(log_px[-1] + self.log_p_z(z) - self.log_q_z_given_x(z, mu, log_var))
        kl = self.kl_divergence(mu, log_var)                              # (N,)
        return ops.concatenate(log_px, axis=0), ops.concatenate(log_w, axis=0), kl

    def iwae_bound(self, x, k, rng=None, max_rows=8192, eps=None):
        """The importance-weighted bound ([2] eq. 8) ``L_k = logsumexp_i log w_i - log k``.

        Arguments as ``log_weights``. Returns: Tensor (N,), float64, in nats.
        """
        log_w = self.log_weights(x, k, rng, max_rows, eps)[1].astype(np.float64)   # (k, N)
        return F.logsumexp(log_w, axis=0) - math.log(k)

    def bounds(self, x, k, rng=None, max_rows=8192, eps=None):
        """-ELBO (estimator B) and -L_k of each example from the same k samples, no gradient.

        Arguments as ``log_weights``.

        Returns:
            ``{"nelbo", "rec", "kl", "nll_iwae"}``: float64 arrays (N,) in nats, where
            ``rec = -1/k sum_i log p(x|z_i)`` and ``nelbo = rec + kl``.
        """
        with no_grad():
            log_px, log_w, kl = (as_numpy(t.data).astype(np.float64)
                                 for t in self.log_weights(x, k, rng, max_rows, eps))
            rec = -log_px.mean(axis=0)
            nll = -F.logsumexp(Tensor(log_w), axis=0).data + math.log(k)
        return {"nelbo": rec + kl, "rec": rec, "kl": kl, "nll_iwae": nll}

    # -- the protocol (models/base.py) ------------------------------------------------------
    def loss(self, batch):
        """-ELBO of a batch ([1] Algorithm 1: AEVB ascends the minibatch ELBO).

        Returns:
            ``(-mean ELBO, {"nelbo", "bpd", "rec": -E log p(x|z), "kl"})``, nats per example.
        """
        elbo, log_px, kl = self.elbo_terms(self.split_batch(batch)[0])
        loss = -elbo.mean()                                    # eq. 8 divided by N: per-example
        nelbo = float(as_numpy(loss.data))
        return loss, {"nelbo": nelbo, "bpd": self.bits_per_dim(nelbo),
                      "rec": -float(as_numpy(log_px.data).mean()), "kl": float(as_numpy(kl.data).mean())}

    def eval_step(self, batch):
        """-ELBO (estimator B) and, if ``eval_iwae``, -L_k, with k = ``eval_samples``, on the
        batch's common random numbers (``eval_rng``).

        Returns:
            ``{"nelbo", "bpd", "rec", "kl"}`` and ``{"nll_iwae", "bpd_iwae"}``: nats per
            example (bits per dimension), averaged over the batch.
        """
        x = self.split_batch(batch)[0]
        r = {name: float(v.mean()) for name, v in self.bounds(x, self.eval_samples, self.eval_rng(x)).items()}
        out = {"nelbo": r["nelbo"], "bpd": self.bits_per_dim(r["nelbo"]), "rec": r["rec"], "kl": r["kl"]}
        if self.eval_iwae:
            out.update(nll_iwae=r["nll_iwae"], bpd_iwae=self.bits_per_dim(r["nll_iwae"]))
        return out

    def report(self, split, rng=None, k=None):
        """-ELBO and the IWAE-k NLL bound of a whole split, from the same k samples per example.

        The samples come from ``default_rng([k, 7])`` (common random numbers: the same k
        always draws the same noise, so ``python -m minigen eval`` reproduces the figure
        printed at the end of training); ``rng`` is not used.

        Args:
            split: a ``Dataset``.
            rng: unused (see above).
            k: importance samples (default ``test_samples``; 0: the eval_step averages).

        Returns:
            ``{"examples", "k", "nelbo", "bpd", "nll_iwae", "bpd_iwae"}``, nats per example.
        """
        k = self.test_samples if k is None else k
        if not k:
            return super().report(split, rng)
        check_positive(k=k)
        r = self.bounds(split.x, k, np.random.default_rng([k, 7]))
        nelbo, nll = float(r["nelbo"].mean()), float(r["nll_iwae"].mean())
        return {"examples": len(split), "k": k, "nelbo": nelbo, "bpd": self.bits_per_dim(nelbo),
                "nll_iwae": nll, "bpd_iwae": self.bits_per_dim(nll)}

    # -- pictures (the family base draws them: latent/base.py) -------------------------------
    def sample_unit(self):
        """Raw levels per unit of [0, 1]: L - 1 (1 for binarised or continuous data)."""
        return 1 if self.likelihood is Likelihood.BERNOULLI or not self.num_levels else self.num_levels - 1

    def decode_mean(self, z):
        """The mean of p(x|z) in [0, 1] for latent codes z (N, J): images (N, *data_shape)."""
        with no_grad():
            z = Tensor(to_device(z, self.device), dtype=self.dtype)
            out = to_device(self.decoder(z).data, "cpu")       # (N, D, K)
            if self.likelihood is Likelihood.BERNOULLI:
                mean = 1.0 / (1.0 + np.exp(-out[..., 0]))
            elif self.likelihood is Likelihood.GAUSSIAN:
                mean = np.clip(out[..., 0], 0.0, 1.0)
            else:
                p = np.exp(out - out.max(axis=-1, keepdims=True))
                levels = np.linspace(0.0, 1.0, self.num_levels, dtype=p.dtype)    # x / (L-1)
                mean = (p / p.sum(axis=-1, keepdims=True)) @ levels
        return mean.reshape((len(mean),) + self.data_shape)   # (N, C, H, W)

    def sample(self, n, rng, mean=False):
        """Ancestral samples: z ~ p(z), x ~ p_theta(x|z).

        Args:
            n: number of samples.
            rng: ``numpy.random.Generator``.
            mean: return the decoder's mean in [0, 1] instead of a draw (smoother pictures).

        Returns:
            (n, *data_shape): raw-data units (integers 0..L-1; 0/1 for "bernoulli"), or means.
        """
        z = rng.standard_normal((n, self.latent_dim))
        if mean:
            return self.decode_mean(z)
        with no_grad():
            out = self.decoder(Tensor(to_device(z, self.device), dtype=self.dtype))   # (n, D, K)
            if self.likelihood is Likelihood.CATEGORICAL:
                x = Categorical(out, axis=-1).sample(rng).data
            elif self.likelihood is Likelihood.BERNOULLI:
                x = Bernoulli(out[..., 0]).sample(rng).data
            else:
                out = as_numpy(out.data)                                    # the draw is made on the host
                y = out[..., 0] + np.exp(0.5 * out[..., 1]) * rng.standard_normal((n, self.D))
                x = np.clip(np.floor(y * self.num_levels), 0, self.num_levels - 1).astype(np.int64) \
                    if self.num_levels else y
        return as_numpy(x).reshape((n,) + self.data_shape)

    def posterior_mean(self, x):
        """mu(x), the mean of q(z|x), as an array (N, J): the code of each example."""
        with no_grad():
            return as_numpy(self.encode(self.data_view(x, self.eval_rng(x))[0])[0].data)
