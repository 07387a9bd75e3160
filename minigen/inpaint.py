"""Inpainting: fill a hidden region of an image from the observed pixels, three ways.

An ``observed`` mask (True = the pixel is seen) splits an image into x_o and x_h; the
task is a draw of x_h given x_o. Three models, three ways to condition:

* **Autoregressive (exact)**: PixelCNN's ``complete`` draws the hidden values one at a
  time from p(x_i | x_<i) in raster order. When every hidden pixel comes after every
  observed one (the lower half hidden), this samples p(x_h | x_o) *exactly*; for a
  region in the middle, observed pixels after it are ignored (the model cannot look
  ahead), and the completion need not match the lower border.
* **A denoising autoencoder's or GSN's chain, projected** (Bengio et al. 2013, §3.3 and
  the GSN paper's §6, "clamping"): run the Markov chain X_t ~ P(X | X~_{t-1}) and after
  every step put the observed pixels back, X_t[o] <- x_o. The chain then samples
  (approximately) the conditional of its stationary distribution given x_o.
* **A VAE, by iterative conditional sampling** (Rezende, Mohamed & Wierstra 2014, §5.4,
  "pseudo-Gibbs"): from a random fill, repeat z ~ q(z | x), x' ~ p(x | z), x_h <- x'_h;
  a Markov chain that approximately targets p(x_h | x_o) (exactly when q is the true
  posterior).

Every function takes and returns raw levels (integers 0..L-1, shape (N, C, H, W)) and
leaves the observed pixels unchanged. ``hidden_error`` scores a fill: the squared error
on the hidden pixels only, per image, in [0, 1] units (a completion is a *sample*: it
need not match the truth, only be plausible; the error is a rough guide).

References:
    Y. Bengio, L. Yao, G. Alain and P. Vincent, "Generalized denoising auto-encoders as generative
    models", NeurIPS 2013.
    D. J. Rezende, S. Mohamed and D. Wierstra, "Stochastic backpropagation and approximate inference
    in deep generative models", ICML 2014, §5.4 and Appendix F.
    A. van den Oord, N. Kalchbrenner and K. Kavukcuoglu, "Pixel recurrent neural networks", ICML 2016.
"""
import numpy as np

from autograd import Tensor, as_numpy, no_grad, to_device

from .nn.distributions import Bernoulli, Categorical

__all__ = ["lower_half", "random_squares", "pixelcnn_inpaint", "chain_inpaint", "vae_inpaint", "hidden_error",
           "occluded"]


def lower_half(n, shape):
    """Observed masks (n, C, H, W): the upper half of the rows seen, the lower half hidden."""
    C, H, W = shape
    seen = np.zeros((n, C, H, W), bool)
    seen[:, :, :H // 2] = True
    return seen


def random_squares(n, shape, size, rng):
    """Observed masks (n, C, H, W), each with one size x size square hidden at a random place."""
    C, H, W = shape
    if not 1 <= size <= min(H, W):
        raise ValueError(f"size={size!r} is not allowed: a square side in 1..{min(H, W)}")
    seen = np.ones((n, C, H, W), bool)
    for i, (r, c) in enumerate(zip(rng.integers(0, H - size + 1, n), rng.integers(0, W - size + 1, n))):
        seen[i, :, r:r + size, c:c + size] = False
    return seen


def occluded(x, observed):
    """x as floats with NaN on the hidden pixels (what ``plots.completions`` draws as hidden)."""
    return np.where(observed, np.asarray(x, np.float32), np.nan)


def _check(x, observed):
    observed = np.broadcast_to(np.asarray(observed, bool), np.shape(x))
    return np.asarray(x), observed


def pixelcnn_inpaint(model, x, observed, rng):
    """Ancestral completion by an autoregressive model (its ``complete``): exact for a hidden
    region after every observed pixel in raster order."""
    x, observed = _check(x, observed)
    return np.asarray(model.complete(x, observed, rng), np.int64)


def chain_inpaint(model, x, observed, steps, rng, mean=False):
    """The DAE's (or GSN's) chain with the observed pixels clamped after every step.

    Args:
        model: a ``DenoisingAutoencoder`` or a ``GSN`` (its state H is carried along).
        x: raw levels (N, C, H, W); observed: bool mask like x.
        steps: steps of the chain.
        rng: generator of the corruption and the draws.
        mean: return the last step's mean E[X | .] rounded to levels instead of the draw.

    Returns:
        raw levels (N, C, H, W), observed pixels unchanged.
    """
    x, observed = _check(x, observed)
    L = model.num_levels
    clean = (x / (L - 1)).astype(model.dtype)
    state = np.where(observed, clean, model.random_start(len(x), rng))        # a random fill
    h = None
    model.eval()
    with no_grad():
        for _ in range(steps):
            corrupted = model.corrupt(state, rng)
            if hasattr(model, "hidden_step"):                                  # GSN: H_t from H_{t-1}
                h = model.hidden_step(corrupted, h, rng)
                out = model.decode(h)
            else:
                out = model.reconstruct_distribution(corrupted)
            m = model.mean_of(out).reshape(x.shape)
            state = np.where(observed, clean, model.sample_reconstruction(out, rng).reshape(x.shape))
    fill = m if mean else state
    levels = np.clip(np.rint(fill * (L - 1)), 0, L - 1).astype(np.int64)
    return np.where(observed, x, levels)


def vae_inpaint(model, x, observed, steps, rng, mean=False):
    """Iterative conditional sampling with a VAE (Rezende et al. 2014, §5.4).

    Args:
        model: a ``VAE`` with a categorical or Bernoulli likelihood.
        x: raw levels (N, C, H, W); observed: bool mask like x.
        steps: rounds of z ~ q(z|x), x' ~ p(x|z), x_h <- x'_h.
        rng: generator of the draws.
        mean: fill the last round with the decoder's mean (rounded) instead of a draw.

    Returns:
        raw levels (N, C, H, W) (0/1 for a Bernoulli VAE), observed pixels unchanged.
    """
    x, observed = _check(x, observed)
    L = model.num_levels
    kind = getattr(model.likelihood, "value", model.likelihood)
    if kind not in ("categorical", "bernoulli"):
        raise ValueError(f"vae_inpaint needs a categorical or Bernoulli VAE, got likelihood {kind!r}")
    bernoulli = kind == "bernoulli"
    if bernoulli:                                                              # the model sees x >= L/2
        x = (x >= L // 2).astype(np.int64)
    top = 1 if bernoulli else L - 1
    current = np.where(observed, x, rng.integers(0, top + 1, x.shape))
    model.eval()
    with no_grad():
        for step in range(steps):
            raw = current * (L - 1) if bernoulli else current                    # the model's raw view
            mu, log_var = model.encode(model.data_view(raw.astype(np.int64), rng)[0])
            eps = to_device(rng.standard_normal(mu.shape).astype(mu.dtype), mu.device)
            z = as_numpy((mu + (0.5 * log_var).exp() * Tensor(eps)).data)      # z ~ q(z|x)
            if mean and step == steps - 1:
                draw = np.rint(model.decode_mean(z) * top).astype(np.int64)
            else:
                out = model.decoder(Tensor(to_device(z, model.device), dtype=model.dtype))   # (N, D, K)
                draw = (Bernoulli(out[..., 0]) if bernoulli else Categorical(out, axis=-1)).sample(rng).data
                draw = np.asarray(as_numpy(draw)).reshape(x.shape)
            current = np.where(observed, x, draw.reshape(x.shape))
    return current.astype(np.int64)


def hidden_error(x, filled, observed, num_levels):
    """Squared error on the hidden pixels, per image, in [0, 1] units (sum over the hidden pixels)."""
    x, observed = _check(x, observed)
    diff = (np.asarray(filled, np.float64) - x) / (num_levels - 1)
    return ((diff ** 2) * ~observed).reshape(len(x), -1).sum(axis=1)
