"""The denoising autoencoder (Vincent et al. 2008) as a generative model (Bengio et al. 2013), with walkback.

A denoising autoencoder [1] reconstructs a clean example X from a corrupted copy
X~ ~ C(X~|X); the corruption forbids the identity even with an over-complete code.
Two corruptions ([1] §2.3; [3] §4)::

    "mask"      each pixel is set to 0 with probability nu (masking noise)
    "gaussian"  X~ = X + nu * eps, eps ~ N(0, I) (additive isotropic Gaussian noise)

Bengio et al. [2] read the trained network as a *reconstruction distribution*
P_theta(X|X~) (the decoder's categorical for each pixel; for a squared error, a
Gaussian around r(X~) whose variance sigma_i^2 is the mean squared residual, the
maximum-likelihood variance, kept as a running average in the buffer ``residual_var``)
and train it by maximum likelihood on pairs (X, X~), X~ ~ C(X~|X). The pair of
conditionals defines a **Markov chain** ([2] §2, eq. 1)::

    X_t ~ P_theta(X | X~_{t-1}),   X~_t ~ C(X~ | X_t),   from a random start X_0

whose stationary distribution estimates the data distribution when P_theta is a
consistent estimator of the true P(X|X~) ([2] Theorem 1): ``chain`` runs it, ``sample``
returns its state after ``sample_steps`` steps.

**Walkback** ([2] Algorithm 2). Training pairs only show the network corruptions of
training examples, so far from the data the chain meets inputs it never learned to
pull back: spurious modes. Walkback follows the chain itself during training and adds
its corrupted states as extra inputs, each with the clean X as target::

    X* <- X;  X~* ~ C(X~|X*);  L <- [X~*]
    while u ~ U(0, 1) < p  (and |L| < max_walkback):
        X* ~ P_theta(X | X~*);  X~* ~ C(X~|X*);  L.append(X~*)
    loss = mean over (X, X~) in the pairs of -log P_theta(X | X~)

Here every example walks back with its own u; the extra states are sampled without
gradient (the algorithm makes *training pairs*; it does not differentiate through the
chain). ``p = 0`` is the plain DAE of [1]. The evaluation figures (``val/loss``) use
one corruption per example, without walkback, so runs with and without it compare.

References:
    [1] P. Vincent, H. Larochelle, Y. Bengio and P.-A. Manzagol, "Extracting and composing
        robust features with denoising autoencoders", ICML 2008.
    [2] Y. Bengio, L. Yao, G. Alain and P. Vincent, "Generalized denoising auto-encoders
        as generative models", NeurIPS 2013. https://arxiv.org/abs/1305.6663
    [3] P. Vincent et al., "Stacked denoising autoencoders", JMLR 11, 2010.
"""
import os

import numpy as np

from autograd import Tensor, as_numpy, device_of, get_array_module, is_grad_enabled, no_grad, to_device

from ...nn.distributions import Categorical
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .autoencoder import DIGITS_RECIPE, Autoencoder

__all__ = ["DenoisingAutoencoder", "CORRUPTIONS"]

CORRUPTIONS = ("mask", "gaussian")

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, code_dim=256, hidden=(), activation="tanh",
               code_activation="tanh", reconstruction="categorical", corruption="mask", noise=0.4,
               walkback=0.5, max_walkback=5)


@register("denoising-autoencoder")
class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder (Vincent et al. 2008) and its generative chain with walkback (Bengio et al. 2013).

    Args:
        data_shape, num_levels, code_dim, hidden, architecture, activation, code_activation,
            reconstruction: as ``Autoencoder``.
        corruption: "mask" or "gaussian" (module docstring).
        noise: nu, the masking probability in [0, 1) or the Gaussian's standard deviation > 0.
        walkback: p in [0, 1), the probability of one more walkback step (0: no walkback).
        max_walkback: at most this many corrupted inputs per example and step.
        sample_steps: steps of the chain behind ``sample``.
        rng: generator (or seed) of the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="64-256-64x17 tanh, masking 0.4, walkback p 0.5 (at most 5)"),
        "digits-no-walkback": Preset(model=dict(_DIGITS, walkback=0.0), train=DIGITS_RECIPE,
                                     about="the reference without walkback"),
        "digits-gaussian": Preset(model=dict(_DIGITS, corruption="gaussian", noise=0.3), train=DIGITS_RECIPE,
                                  about="the reference with Gaussian corruption, sigma 0.3"),
        "digits-tiny": Preset(model=dict(_DIGITS, code_dim=32, max_walkback=2),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, code_dim=256, hidden=(), architecture="mlp",
                 activation="tanh", code_activation="tanh", reconstruction="categorical", corruption="mask",
                 noise=0.4, walkback=0.5, max_walkback=5, sample_steps=50, rng=None, dtype=np.float32):
        if corruption not in CORRUPTIONS:
            raise ValueError(f"corruption={corruption!r} is not allowed: one of {', '.join(CORRUPTIONS)}")
        if not (0 <= noise < 1 if corruption == "mask" else noise > 0):
            raise ValueError(f"noise={noise!r} is not allowed: " + ("a masking probability in [0, 1)"
                             if corruption == "mask" else "a standard deviation > 0"))
        if not 0 <= walkback < 1:
            raise ValueError(f"walkback={walkback!r} is not allowed: a probability p in [0, 1)")
        super().__init__(data_shape, num_levels, code_dim, hidden, architecture, activation, code_activation,
                         reconstruction, rng=rng, dtype=dtype)
        check_positive(max_walkback=max_walkback, sample_steps=sample_steps)
        self.corruption, self.noise, self.walkback = corruption, noise, walkback
        self.max_walkback, self.sample_steps = max_walkback, sample_steps
        self.register_buffer("residual_var", np.full(self.D, 0.01, dtype))   # sigma_i^2 of a squared error

    # -- the two conditionals of the chain ----------------------------------------------------
    def corrupt(self, x, rng):
        """X~ ~ C(X~|X) for an array x (N, ...) in x_in's units: a new array."""
        dev = device_of(x)
        if self.corruption == "mask":
            keep = to_device(rng.random(x.shape) >= self.noise, dev)
            return x * keep.astype(x.dtype)
        return x + to_device((self.noise * rng.standard_normal(x.shape)).astype(x.dtype), dev)

    def reconstruct_distribution(self, x_tilde):
        """The decoder's output for corrupted inputs x~ (N, *data_shape): Tensor (N, D, K)."""
        return self.decode(self.encode(Tensor(x_tilde)))

    def sample_reconstruction(self, out, rng):
        """X ~ P_theta(X|X~) from the decoder's output (N, D, K), in x_in's units: array (N, D)."""
        if self.reconstruction == "categorical":
            levels = Categorical(Tensor(as_numpy(out.data)), axis=-1).sample(rng).data
            return (levels / (self.num_levels - 1)).astype(self.dtype)
        r = self.mean_of(out)                                                 # (N, D)
        if self.reconstruction == "bce":
            return (rng.random(r.shape) < r).astype(self.dtype)
        sigma = np.sqrt(as_numpy(self.residual_var.data))
        x = r + sigma * rng.standard_normal(r.shape)
        return (np.clip(x, 0.0, 1.0) if self.num_levels else x).astype(self.dtype)

    # -- training pairs: Algorithm 2 --------------------------------------------------------------
    def training_pairs(self, x_in, rng, train=True):
        """Corrupted inputs and the index of each one's clean target ([2] Algorithm 2 when training).

        Returns:
            ``(inputs Tensor (M, *data_shape), index (M,))``, M >= N.
        """
        x = x_in.data
        index = np.arange(x.shape[0])
        x_tilde = self.corrupt(x, rng)
        inputs, indices = [x_tilde], [index]
        steps = self.max_walkback if train and self.walkback > 0 else 1
        for _ in range(steps - 1):
            go_on = rng.random(len(index)) < self.walkback                    # u < p, per example
            if not go_on.any():
                break
            index, x_tilde = index[go_on], x_tilde[go_on]
            with no_grad():
                x_star = self.sample_reconstruction(self.reconstruct_distribution(x_tilde), rng)
            x_tilde = self.corrupt(to_device(x_star.reshape(x_tilde.shape), device_of(x)), rng)
            inputs.append(x_tilde)
            indices.append(index)
        return Tensor(get_array_module(x).concatenate(inputs)), np.concatenate(indices)

    def loss(self, batch):
        """The walkback loss ([2] Algorithm 2); updates sigma_i^2 of a squared-error P_theta."""
        loss, metrics = super().loss(batch)
        if self.reconstruction == "mse" and self.training and is_grad_enabled():
            x_in = self.data_view(self.split_batch(batch)[0])[0]
            with no_grad():
                out = self.reconstruct_distribution(self.corrupt(x_in.data, self.rng))
            residual = ((self.mean_of(out) - as_numpy(x_in.data).reshape(len(out.data), self.D)) ** 2).mean(0)
            var = 0.99 * as_numpy(self.residual_var.data) + 0.01 * residual    # running average
            self.residual_var.data = to_device(var.astype(self.residual_var.dtype), device_of(x_in.data))
        return loss, metrics

    # -- the generative chain -----------------------------------------------------------------------
    def random_start(self, n, rng):
        """X_0: uniform levels for discrete data, N(0, I) for continuous data: array (n, *data_shape)."""
        if self.num_levels:
            return (rng.integers(0, self.num_levels, (n,) + self.data_shape) / (self.num_levels - 1)).astype(
                self.dtype)
        return rng.standard_normal((n,) + self.data_shape).astype(self.dtype)

    def chain(self, n, steps, rng, x0=None):
        """Run X_t ~ P_theta(X | X~_{t-1}), X~_t ~ C(X~ | X_t) ([2] eq. 1) from X_0.

        Args:
            n: number of chains (ignored when ``x0`` is given).
            steps: T.
            rng: generator of the corruptions and draws.
            x0: starting states in x_in's units (n, *data_shape); default ``random_start``.

        Returns:
            ``(states, means)``: states (T + 1, n, *data_shape), X_0..X_T, and means (T, n,
            *data_shape), E[X | X~_{t-1}] for t = 1..T (smoother pictures).
        """
        x = self.random_start(n, rng) if x0 is None else np.asarray(x0, self.dtype)
        states, means = [x], []
        with no_grad():
            for _ in range(steps):
                out = self.reconstruct_distribution(self.corrupt(x, rng))
                means.append(self.mean_of(out).reshape(x.shape))
                x = self.sample_reconstruction(out, rng).reshape(x.shape)
                states.append(x)
        return np.stack(states), np.stack(means)

    def sample(self, n, rng, mean=False):
        """The chain's state after ``sample_steps`` steps from a random start: raw levels, or
        (``mean=True``) its last mean E[X | X~] in [0, 1]."""
        states, means = self.chain(n, self.sample_steps, rng)
        if mean:
            return np.clip(means[-1], 0.0, 1.0) if self.num_levels else means[-1]
        return self.to_levels(states[-1].reshape(n, self.D)).reshape((n,) + self.data_shape)

    def figures(self, run_dir, rng, split=None):
        """The autoencoder's pictures and chain.png: 8 chains from random starts, every 5th mean."""
        from ... import plots
        paths = super().figures(run_dir, rng, split)
        if len(self.data_shape) == 3:
            _, means = self.chain(8, 60, rng)                                  # (60, 8, C, H, W)
            picked = means[4::5].transpose(1, 0, 2, 3, 4)                     # (8, 12, C, H, W)
            paths.append(plots.image_grid(picked.reshape((-1,) + self.data_shape),
                                          os.path.join(run_dir, "chain.png"), nrow=picked.shape[1],
                                          title=f"{self.title}: E[X | X~_t], every 5th step, from noise"))
        return paths
