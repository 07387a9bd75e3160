"""The generative stochastic network (Bengio et al. 2014): a denoising chain with a latent state,
trained by walkback.

A denoising autoencoder's chain (``denoising.py``; Bengio et al. 2013) forgets everything
but the current sample: X_t ~ P(X | X~_{t-1}). A **GSN** [1] carries a latent state H
from step to step, and injects its noise inside the network, not only at the input
([1] §3.2, Theorem 2: the chain over (X, H) is ergodic with a stationary distribution
whose X-marginal estimates the data distribution when P(X|H) is consistent)::

    H_t ~ P_theta1(H | H_{t-1}, X_{t-1}):
        X~_{t-1} ~ C(X~ | X_{t-1})                               (masking, probability nu)
        H_t = tanh(W X~_{t-1} + V H_{t-1} + b + sigma_pre eps) + sigma_post eps'   (eps, eps' ~ N(0, I))
    X_t ~ P_theta2(X | H_t) = prod_i Categorical(x_i; softmax(g(H_t)_i))   (the decoder g)

from H_0 = 0 and X_0 = a training example (training) or noise (sampling). This is the
single-hidden-layer GSN of [1] §3.4 and Fig. 3 (the deep one stacks several such H);
V is the recurrence that makes H a state.

**Walkback training** ([1] §3.4, "the training criterion ... reconstruct the original X_0
from every step of the chain"): the chain is unrolled for T steps from the data, the
reconstructed draws X_t are sampled (no gradient through them), and every step's
distribution is asked to put its mass on the clean example::

    loss = 1/T sum_{t=1}^{T} -log P_theta2(X_0 | H_t)

The gradient flows back through the whole H chain (W, V, b at every step): the GSN is
"trainable by backprop" [1], the noise being inputs of the computation like a VAE's
eps. The evaluation figures use the eval generator (common random numbers) and the
same T-step criterion; ``mse`` is the clean one-step reconstruction, H_1 from H_0 = 0
without noise. ``chain`` runs the model from noise and ``sample`` returns X after
``sample_steps`` steps.

References:
    [1] Y. Bengio, E. Thibodeau-Laufer, G. Alain and J. Yosinski, "Deep generative stochastic
        networks trainable by backprop", ICML 2014. https://arxiv.org/abs/1306.1091
    [2] Y. Bengio, L. Yao, G. Alain and P. Vincent, "Generalized denoising auto-encoders as
        generative models", NeurIPS 2013.
"""
import numpy as np

from autograd import Tensor, as_numpy, device_of, get_array_module, no_grad, ops, to_device

from ...nn.layers import Linear
from ..registry import Preset, TrainConfig, register
from .autoencoder import DIGITS_RECIPE
from .denoising import DenoisingAutoencoder

__all__ = ["GSN"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, code_dim=256, noise=0.4, walkback_steps=4, pre_noise=1.0,
               post_noise=0.5)


@register("gsn")
class GSN(DenoisingAutoencoder):
    """Generative stochastic network (Bengio et al. 2014): latent state H, noise inside, walkback by backprop.

    Args:
        data_shape, num_levels: the data's (categorical reconstruction over L levels).
        code_dim: size of H.
        noise: nu, the input masking probability.
        walkback_steps: T, steps unrolled in training (each reconstructs X_0).
        pre_noise, post_noise: sigma_pre and sigma_post of the hidden units' Gaussian noise.
        sample_steps: steps of the chain behind ``sample``.
        rng: generator (or seed) of the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="64 -> H 256 tanh (recurrent V), masking 0.4, noise 1.0 / 0.5, "
                                         "walkback over 4 steps"),
        "digits-tiny": Preset(model=dict(_DIGITS, code_dim=32, walkback_steps=2),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, code_dim=256, noise=0.4, walkback_steps=4,
                 pre_noise=1.0, post_noise=0.5, sample_steps=50, rng=None, dtype=np.float32):
        if not isinstance(walkback_steps, int) or walkback_steps < 1:
            raise ValueError(f"walkback_steps={walkback_steps!r} is not allowed: an integer >= 1")
        if not pre_noise >= 0 or not post_noise >= 0:
            raise ValueError(f"pre_noise={pre_noise!r}, post_noise={post_noise!r}: standard deviations >= 0")
        super().__init__(data_shape, num_levels, code_dim, (), "mlp", "tanh", "linear", "categorical", "mask",
                         noise, 0.0, 1, sample_steps, rng=rng, dtype=dtype)
        self.recurrent = Linear(code_dim, code_dim, bias=False, rng=self.rng, dtype=dtype)    # V
        self.walkback_steps, self.pre_noise, self.post_noise = walkback_steps, pre_noise, post_noise

    # -- the two conditionals ------------------------------------------------------------------
    def hidden_step(self, x_tilde, h, rng):
        """H_t = tanh(W x~ + V H_{t-1} + b + sigma_pre eps) + sigma_post eps' (module docstring).

        Args:
            x_tilde: corrupted inputs, an array (N, *data_shape).
            h: H_{t-1}, a Tensor (N, J), or None for H_0 = 0.
            rng: generator of the noise (None: no noise).
        """
        a = self.encoder(Tensor(x_tilde) if not isinstance(x_tilde, Tensor) else x_tilde)   # W x~ + b
        if h is not None:
            a = a + self.recurrent(h)
        if rng is not None and self.pre_noise:
            a = a + self._gaussian(a, rng, self.pre_noise)
        h = ops.tanh(a)
        if rng is not None and self.post_noise:
            h = h + self._gaussian(h, rng, self.post_noise)
        return h

    def _gaussian(self, like, rng, sigma):
        eps = (sigma * rng.standard_normal(like.shape)).astype(self.dtype)
        return Tensor(to_device(eps, device_of(like.data)))

    def encode(self, x_in):
        """H_1 from H_0 = 0 without noise: the GSN's code of a clean example (N, J)."""
        x_in = x_in if x_in.device == self.device else x_in.to(self.device)
        return self.hidden_step(x_in, None, None)

    # -- walkback by backprop -------------------------------------------------------------------
    def objective(self, x, rng, train=True):
        """1/T sum_t -log P(X_0 | H_t) along a T-step chain from the data: ``(loss, metrics, H_1)``."""
        x_in, target = self.data_view(x)
        xt, h, total, first = x_in.data, None, 0.0, None
        for t in range(self.walkback_steps):
            h = self.hidden_step(self.corrupt(xt, rng), h, rng)                  # H_t (N, J)
            out = self.decode(h)                                                 # (N, D, L)
            total = total + self.reconstruction_loss(out, target).mean()
            first = h if first is None else first
            if t + 1 < self.walkback_steps:
                xt = self.sample_reconstruction(out.detach(), rng).reshape(x_in.shape)   # X_t, no gradient
                xt = to_device(xt, device_of(x_in.data))
        loss = total * (1.0 / self.walkback_steps)
        return loss, {"rec": float(as_numpy(loss.data))}, first

    def loss(self, batch):
        """The walkback criterion of the batch (module docstring)."""
        x = self.split_batch(batch)[0]
        loss, metrics, _ = self.objective(x, self.rng)
        return loss, metrics

    # -- the chain --------------------------------------------------------------------------------
    def chain(self, n, steps, rng, x0=None, h0=None):
        """Run (H_t, X_t) for ``steps`` steps from X_0 (default: uniform noise) and H_0 = 0.

        Returns:
            ``(states, means)`` as ``DenoisingAutoencoder.chain``: X_0..X_T (T + 1, n, *data_shape)
            and E[X | H_t] (T, n, *data_shape), in x_in's units.
        """
        x = self.random_start(n, rng) if x0 is None else np.asarray(x0, self.dtype)
        h, states, means = h0, [x], []
        xp = get_array_module(self.parameters()[0].data)
        with no_grad():
            for _ in range(steps):
                h = self.hidden_step(xp.asarray(self.corrupt(x, rng)), h, rng)
                out = self.decode(h)
                means.append(self.mean_of(out).reshape(x.shape))
                x = self.sample_reconstruction(out, rng).reshape(x.shape)
                states.append(x)
        return np.stack(states), np.stack(means)
