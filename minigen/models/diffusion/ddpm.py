"""DDPM (Ho et al. 2020 [1]): a denoising diffusion model with its variational bound in nats.

Forward process (``schedules.py``): x_0 -> x_1 -> ... -> x_T, Gaussian noise with a fixed
schedule beta_t, q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) ([1] eq. 4).

Reverse process: p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I) with the mean written
through a noise predictor eps_theta, a U-Net (``minigen/nn/unet.py``) ([1] eq. 11)::

    mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t)
                     = mu~_t(x^_0, x_t),   x^_0 = (x_t - sqrt(1 - alpha_bar_t) eps_theta) / sqrt(alpha_bar_t)

and sigma_t^2 fixed to beta_t ("large") or beta~_t ("small") ([1] §3.2), or learned
("learned": Nichol & Dhariwal 2021 [2] eq. 15, log sigma^2 = v log beta_t + (1 - v) log beta~_t
with v = (out + 1) / 2 read from C extra output channels).

Training: the simple loss ([1] eq. 14) L_simple = E_{t, x_0, eps} |eps - eps_theta(x_t, t)|^2
(t uniform on 1..T, here the mean over pixels); with a learned variance the hybrid loss
([2] §3.1) L_simple + lambda L_vlb, lambda = 0.001, L_vlb = T * (one uniformly drawn bound
term, nats per pixel) with the mean's gradient stopped, so L_vlb trains only sigma.

The **bound** (``_bound.py``, [1] eq. 5) in nats per image on the L-level data (x/(L-1) on
[-1, 1]; L_0 the discretised decoder of [1] eq. 13 generalised to L levels)::

    -log p(x_0) <= L_T + sum_{t=2}^{T} L_{t-1} + L_0

L_T is exact (no parameters); L_0 and the T - 1 middle terms cost one U-Net pass each. The
sum is estimated without bias by stratified sampling: 2..T is cut into H = K/2 strata of
sizes n_h, two steps drawn uniformly in each (with x_t ~ q), and sum_h n_h (a_h + b_h) / 2
estimates it, with the unbiased variance sum_h n_h^2 (a_h - b_h)^2 / 4; the report gives its
Monte Carlo standard error beside the bound (``timesteps="all"`` evaluates every term, for
small T). The strata are spaced geometrically (2, 3, 4, 6, 10, 16, ...): the terms fall
roughly like 1/t, so most of the sum sits at small t, which thin strata there resolve.
K = 20 costs 21 U-Net passes per image instead of T = 1000. Validation uses
``eval_timesteps`` with common random numbers; the end-of-run report uses ``test_timesteps``.

Classifier-free guidance (Ho & Salimans 2022 [4]): with ``num_classes`` the U-Net also sees a
label, replaced by "no label" with probability ``p_uncond`` in training; guided sampling uses
eps~ = (1 + w) eps(x_t, y) - w eps(x_t, none) ([4] eq. 6). Samplers (ancestral, DDIM [3])
and pictures: ``_sampling.py``, ``_figures.py``.

References:
    [1] J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        https://arxiv.org/abs/2006.11239
    [2] A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
        https://arxiv.org/abs/2102.09672
    [3] J. Song, C. Meng, S. Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
        https://arxiv.org/abs/2010.02502
    [4] J. Ho, T. Salimans, "Classifier-Free Diffusion Guidance", 2022. https://arxiv.org/abs/2207.12598
"""
import numpy as np

from autograd import Tensor, as_numpy, ops, to_device

from ...nn.unet import UNet
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from . import _bound, _figures, _sampling
from .base import DiffusionModel
from .schedules import NoiseSchedule

__all__ = ["DDPM"]

VARIANCES = ("small", "large", "learned")

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, T=1000, schedule="linear", beta_1=1e-4, beta_T=0.02,
               base=64, mults=(1, 2), num_res_blocks=2, attention=(4,), groups=8, dropout=0.1, num_heads=1,
               variance="small", eval_timesteps=4, test_timesteps=20, figure_samples=16,
               ddim_steps=(5, 10, 20, 50))
_REFERENCE_TRAIN = TrainConfig(data="digits", epochs=250, batch_size=64, lr=2e-4, ema_decay=0.999, seed=0,
                               eval_every=80, early_stopping=("val/nll", 20))


@register("ddpm")
class DDPM(DiffusionModel):
    """DDPM on images of L levels (module docstring).

    Args:
        data_shape: (C, H, W) of one image.
        num_levels: L (17 for the digits): x is scaled as x / (L - 1) to [-1, 1].
        T: diffusion steps.
        schedule: "linear" (from ``beta_1`` to ``beta_T``) or "cosine" ([2] eq. 17).
        beta_1, beta_T: ends of the linear schedule.
        base, mults, num_res_blocks, attention, groups, dropout, num_heads: the U-Net's
            (``minigen.nn.UNet``; ``attention`` lists resolutions).
        variance: sigma_t^2 of the reverse steps, one of "small" (beta~_t), "large" (beta_t),
            "learned" (hybrid loss of [2]).
        hybrid_weight: lambda of the hybrid loss.
        num_classes: None, or K for a class-conditional model (classifier-free guidance).
        p_uncond: probability of dropping the label in training.
        guidance: w used by ``sample`` (0: plain conditional sampling).
        eval_timesteps, test_timesteps: K of the bound's estimator at validation / in the report.
        figure_samples: samples per picture at the end of a run.
        fid_samples: samples per DDIM setting of the steps-vs-quality figure.
        ddim_steps: numbers of DDIM steps S of the steps-vs-quality figure.
        rng: generator for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    dataset_view = "raw"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, train=_REFERENCE_TRAIN,
            about="the README's DDPM: U-Net 64x(1,2), T=1000 linear, eps-prediction, test bound in nats; "
                  "cap 250 epochs = 4000 steps (50 minutes on one core; the bound is still falling there)"),
        "digits-guided": Preset(
            model=dict(_DIGITS, num_classes=10, p_uncond=0.1, guidance=1.0), train=_REFERENCE_TRAIN,
            about="the reference network with a class label and label dropout (classifier-free guidance)"),
        "digits-learned": Preset(
            model=dict(_DIGITS, variance="learned"), train=_REFERENCE_TRAIN,
            about="the reference network with learned variances (the hybrid loss of Nichol & Dhariwal)"),
        "digits-tiny": Preset(
            model=dict(_DIGITS, T=100, base=16, mults=(1, 2), num_res_blocks=1, groups=4, dropout=0.0,
                       beta_T=0.2, test_timesteps=8, figure_samples=16, ddim_steps=(5, 10)),
            train=TrainConfig(data="digits", epochs=20, batch_size=64, lr=1e-3, ema_decay=0.99, seed=0),
            about="a seconds-scale run: T=100, base 16"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, T=1000, schedule="linear", beta_1=1e-4,
                 beta_T=0.02, base=64, mults=(1, 2), num_res_blocks=2, attention=(4,), groups=8, dropout=0.1,
                 num_heads=1, variance="small", hybrid_weight=0.001, num_classes=None, p_uncond=0.1,
                 guidance=0.0, eval_timesteps=4, test_timesteps=20, figure_samples=36,
                 ddim_steps=(5, 10, 20, 50), fid_samples=100, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=tuple(data_shape), T=T, base=base, mults=tuple(mults),
                       num_res_blocks=num_res_blocks, eval_timesteps=eval_timesteps,
                       figure_samples=figure_samples, ddim_steps=tuple(ddim_steps), fid_samples=fid_samples)
        if len(data_shape) != 3:
            raise ValueError(f"data_shape={data_shape!r} is not allowed: DDPM models images (C, H, W)")
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2")
        if variance not in VARIANCES:
            raise ValueError(f"variance={variance!r} is not allowed: choose one of {', '.join(VARIANCES)}")
        if not 0 <= p_uncond < 1:
            raise ValueError(f"p_uncond={p_uncond!r} is not allowed: a probability in [0, 1)")
        self.data_shape, self.num_levels = tuple(data_shape), num_levels
        self.D = int(np.prod(self.data_shape))
        self.schedule = NoiseSchedule(T, schedule, **(dict(beta_1=beta_1, beta_T=beta_T)
                                                      if schedule == "linear" else {}))
        self.T, self.variance, self.hybrid_weight = T, variance, hybrid_weight
        self.num_classes, self.p_uncond, self.guidance = num_classes, p_uncond, guidance
        self.eval_timesteps, self.test_timesteps = eval_timesteps, test_timesteps
        self.figure_samples, self.ddim_steps = figure_samples, tuple(ddim_steps)
        self.fid_samples = fid_samples
        C = self.data_shape[0]
        self.unet = UNet(C, base, tuple(mults), num_res_blocks, tuple(attention), self.data_shape[1], groups,
                         dropout, num_heads, num_classes, out_channels=2 * C if variance == "learned" else C,
                         rng=self.rng, dtype=dtype)
        self.dtype = np.dtype(dtype)

    @property
    def title(self):
        return "DDPM" + (" (class-conditional)" if self.num_classes else "")

    # -- data and the network -----------------------------------------------------------------
    def to_signal(self, x):
        """Levels 0 .. L-1 -> x / (L - 1) scaled to [-1, 1] ([1] §4), in the model's dtype (host)."""
        x = np.asarray(as_numpy(x))
        if x.shape[1:] != self.data_shape:
            raise ValueError(f"DDPM expects images of shape (N, {', '.join(map(str, self.data_shape))}), "
                             f"got {x.shape}")
        return (2.0 * x / (self.num_levels - 1) - 1.0).astype(self.dtype)

    def to_levels(self, x):
        """[-1, 1] -> the nearest level 0 .. L-1 (the discretised decoder's most likely value)."""
        k = np.rint((np.asarray(x, np.float64) + 1.0) * 0.5 * (self.num_levels - 1))
        return np.clip(k, 0, self.num_levels - 1).astype(np.int64)

    def tensor(self, a):
        return Tensor(to_device(np.asarray(a, self.dtype), self.device))

    def network(self, xt, t, y=None):
        """(eps_theta, log sigma_t^2) at (x_t, t): Tensors, log sigma^2 broadcastable to x_t."""
        out = self.unet(xt if isinstance(xt, Tensor) else self.tensor(xt), t, y)
        if self.variance != "learned":
            return out, self.tensor(self.schedule.variance(self.variance, t, 4))
        eps, v = ops.split(out, 2, axis=1)
        frac = (v + 1.0) * 0.5                                               # [2] eq. 15
        log_large = self.tensor(np.log(self.schedule.at("beta", t, 4)))
        log_small = self.tensor(self.schedule.at("posterior_log_variance", t, 4))
        return eps, frac * log_large + (1.0 - frac) * log_small

    def drop_labels(self, y):
        """Labels for training: None without classes; else y with "no label" (K) at rate p_uncond."""
        if not self.num_classes:
            return None
        if y is None:
            raise ValueError("a class-conditional DDPM trains on (x, y) batches; got x alone")
        y = np.asarray(as_numpy(y)).astype(np.int64)
        return np.where(self.rng.random(len(y)) < self.p_uncond, self.num_classes, y)

    # -- the loss ---------------------------------------------------------------------------
    def loss(self, batch):
        x, y = self.split_batch(batch)
        x0 = self.to_signal(x)
        t = self.rng.integers(1, self.T + 1, len(x0))                        # uniform on 1 .. T
        eps = self.rng.standard_normal(x0.shape).astype(self.dtype)
        xt = self.tensor(self.schedule.q_sample(x0, t, eps))
        eps_hat, log_var = self.network(xt, t, self.drop_labels(y))
        d = eps_hat - self.tensor(eps)
        mse = (d * d).mean()                                                 # [1] eq. 14
        metrics = {"mse": mse.item()}
        if self.variance != "learned":
            return mse, metrics
        terms = self.bound_terms(x, xt, t, eps_hat.detach(), log_var)         # nats per image
        vlb = terms.mean() * (self.T / self.D)                               # L_vlb per pixel
        metrics["vlb_term"] = float(as_numpy(terms.data).mean())
        return mse + self.hybrid_weight * vlb, metrics

    # -- the bound -----------------------------------------------------------------------------
    def bound_terms(self, x, xt, t, eps_hat, log_var):
        """L_{t-1} (t >= 2) or L_0 (t = 1) of each image at a given x_t: (N,) nats.

        Arrays give float64 arrays (exact decoder); Tensors give Tensors (training).
        """
        s, x0 = self.schedule, self.to_signal(x)
        is_tensor = isinstance(eps_hat, Tensor)
        if not is_tensor:
            x0, xt = x0.astype(np.float64), np.asarray(xt, np.float64)
        x0_hat = s.predict_x0(xt, t, eps_hat)
        mean_p = s.posterior(x0_hat, xt, t)[0]                               # mu_theta ([1] eq. 11)
        mean_q, _, log_var_q = s.posterior(x0, xt if not is_tensor else as_numpy(xt.data), t)
        kl = _bound.normal_kl(self.tensor(mean_q) if is_tensor else mean_q,
                              self.tensor(log_var_q) if is_tensor else log_var_q, mean_p, log_var)
        decoder = -_bound.discretized_gaussian_log_likelihood(np.asarray(as_numpy(x)), mean_p, log_var,
                                                              self.num_levels)
        first = (np.asarray(t) == 1).reshape(-1, 1, 1, 1)
        term = ops.where(first, decoder, kl) if is_tensor else np.where(first, decoder, kl)
        return term.reshape(len(x0), -1).sum(axis=1)

    def terms_at(self, x, t, eps, y=None):
        """``bound_terms`` with the U-Net evaluated at x_t = q_sample(x_0, t, eps): (N,) float64."""
        xt = self.schedule.q_sample(self.to_signal(x).astype(np.float64), t, eps)
        eps_hat, log_var = self.network(xt.astype(self.dtype), t, y)
        return self.bound_terms(x, xt, t, _host(eps_hat), _host(log_var))

    def nll_bound(self, x, timesteps=None, rng=None, y=None):
        """The bound of module docstring per image, in nats.

        Args:
            x: integer images (N, C, H, W).
            timesteps: K, U-Net passes per image for the terms t = 2 .. T (K/2 strata, two
                draws each; module docstring), or "all" (every term).
            rng: generator of the steps and of x_t's noise (default ``eval_rng(x)``).
            y: labels of a class-conditional model (None: "no label").

        Returns:
            ``(bound (N,), terms)``: terms holds "L_T", "L_0", "L_mid" (the sum over t = 2..T)
            and "mc_var" (the variance of each image's estimate; 0 with "all").
        """
        rng = self.eval_rng(x) if rng is None else rng
        x = np.asarray(as_numpy(x))
        n = len(x)
        L_T = _bound.prior_kl(self.schedule, self.to_signal(x))
        L_0 = self.terms_at(x, np.ones(n, np.int64), rng.standard_normal(x.shape), y)
        if timesteps == "all":
            steps = [np.full(n, t) for t in range(2, self.T + 1)]
            mid = sum((self.terms_at(x, t, rng.standard_normal(x.shape), y) for t in steps), np.zeros(n))
            mc_var = np.zeros(n)
        else:                                  # stratified: <= H strata of 2 .. T, two draws in each
            H = min(max((timesteps or self.eval_timesteps) // 2, 1), max(self.T - 1, 1))
            edges = np.unique(np.rint(np.geomspace(2, self.T + 1, H + 1)).astype(np.int64))
            mid, mc_var = np.zeros(n), np.zeros(n)
            for lo, hi in zip(edges[:-1], edges[1:]) if self.T > 1 else ():
                a, b = (self.terms_at(x, rng.integers(lo, hi, n), rng.standard_normal(x.shape), y)
                        for _ in range(2))
                mid += (hi - lo) * (a + b) / 2                               # stratum size x its mean
                mc_var += (hi - lo) ** 2 * (a - b) ** 2 / 4                  # size^2 s^2 / 2
        bound = L_T + L_0 + mid
        return bound, {"L_T": L_T, "L_0": L_0, "L_mid": mid, "mc_var": mc_var}

    def eval_figures(self, batch):
        x, _ = self.split_batch(batch)
        rng = self.eval_rng(x)
        x0 = self.to_signal(x)
        t = rng.integers(1, self.T + 1, len(x0))
        eps = rng.standard_normal(x0.shape).astype(self.dtype)
        d = _host(self.network(self.schedule.q_sample(x0, t, eps), t)[0]) - eps
        bound, _ = self.nll_bound(x, self.eval_timesteps, rng)
        return {"loss": float(np.mean(d * d)), **self.nats_metrics(bound)}

    def report(self, split, rng, batch_size=256, timesteps=None):
        """The test bound (EMA weights): nats/image and bits/dim, its parts and its standard error."""
        from autograd import no_grad
        K = timesteps or self.test_timesteps
        x = split.arrays()[0]
        parts = {"L_T": [], "L_0": [], "L_mid": [], "mc_var": [], "nll": []}
        was_training = self.training
        self.eval()
        with no_grad(), self.averaged():
            for i in range(0, len(x), batch_size):
                bound, terms = self.nll_bound(x[i:i + batch_size], K, rng)
                for k, v in [("nll", bound)] + list(terms.items()):
                    parts[k].append(np.asarray(v))
        self.train(was_training)
        p = {k: np.concatenate(v) for k, v in parts.items()}
        nll = float(p["nll"].mean())
        return {"examples": len(x), "nll": nll, "bpd": self.bits_per_dim(nll), "timesteps_per_image": K,
                "nll_mc_se": float(np.sqrt(p["mc_var"].sum()) / len(x)),
                "nll_se": float(p["nll"].std(ddof=1) / np.sqrt(len(x))),
                **{f"{k}_mean": float(p[k].mean()) for k in ("L_T", "L_0", "L_mid")}}

    # -- sampling and pictures -------------------------------------------------------------
    def sample_raw(self, n, rng):
        y = np.arange(n) % self.num_classes if self.num_classes else None
        return self.to_levels(_sampling.ancestral(self, n, rng, y=y, w=self.guidance)[0])

    def figures(self, run_dir, rng, split=None):
        with self.averaged():
            return _figures.ddpm_figures(self, run_dir, rng, split)


def _host(t):
    """A Tensor's (or array's) values as a float64 NumPy array."""
    return np.asarray(as_numpy(getattr(t, "data", t)), np.float64)
