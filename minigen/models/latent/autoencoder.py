"""The (vanilla) autoencoder: a code h = f(x) and a reconstruction g(h), trained to copy its input.

An autoencoder (Goodfellow, Bengio & Courville, *Deep Learning* [1], §14.1) is trained to
minimise a reconstruction loss ``L(x, g(f(x)))`` over the training set::

    "mse"           L = sum_i (g(f(x))_i - x_i)^2        x scaled to [0, 1] (x / (L - 1))
    "bce"           L = sum_i -[x_i log r_i + (1 - x_i) log(1 - r_i)],  r = sigmoid(g(f(x)))
    "categorical"   L = -sum_i log softmax(g(f(x))_i)[x_i]   each pixel an L-way categorical

The code is *under-complete* when J < D (a bottleneck: the network must compress) and
*over-complete* when J >= D (nothing stops it from learning the identity: what it
learns then depends on regularisation, §14.2: sparsity, denoising). With linear layers
and the squared error, the optimal code spans the principal subspace (Baldi & Hornik
1989 [2]; ``minigen/pca.py`` measures the angle).

**Why this is not a likelihood model.** Nothing in the loss above is a density of x:
the decoder is deterministic, so the distribution it defines, ``x = g(z)`` for codes z,
lies on a J-dimensional surface of R^D and gives every test image a density of zero (or,
for a discrete x, a probability that is not computed anywhere). The codes f(x) of the
training set follow no known distribution either: nothing asks them to fill any region
of code space, so there is no prior to sample from. This class *fits* one after the
fact, a Gaussian ``N(m, S)`` to the codes of the training set ([1] §14.6 uses such
post-hoc models of the codes), and decodes its draws::

    z ~ N(m, S),  x = g(z)

Decoded draws look like digits where the Gaussian covers the codes, and like blends
where it puts mass between clusters that no training code occupies (holes). The VAE
(``vae.py``) fixes both problems by training the encoder, decoder and prior together on
a bound of log p(x). The fitted m and S are buffers (saved in checkpoints): during
training they are a running average of the training batches' codes (an exponential one
with ``code_decay`` after the first 1 / (1 - code_decay) steps), and
``fit_code_gaussian(x)`` fits them exactly to a data set.

There is no ``elbo``/``iwae_bound``/``log_prob``: the figures are the reconstruction
losses, per image, on the validation and test splits (``mse`` in units of [0, 1]
intensities, whatever the training loss).

References:
    [1] I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT Press 2016, ch. 14.
        https://www.deeplearningbook.org/contents/autoencoders.html
    [2] P. Baldi and K. Hornik, "Neural networks and principal component analysis: learning
        from examples without local minima", Neural Networks 2(1), 1989.
"""
import math

import numpy as np

from autograd import Tensor, as_numpy, device_of, is_grad_enabled, no_grad, to_device

from ...nn import losses
from ...nn.distributions import Categorical
from ..base import CRC, check_positive
from ..registry import Preset, TrainConfig, register
from ._ae_nets import build_autoencoder
from .base import LatentVariableModel

__all__ = ["Autoencoder", "RECONSTRUCTIONS"]

RECONSTRUCTIONS = ("mse", "bce", "categorical")

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, code_dim=16, hidden=(256, 256), architecture="mlp",
               activation="relu", reconstruction="mse")
DIGITS_RECIPE = TrainConfig(data="digits", epochs=200, early_stopping=("val/loss", 20), batch_size=64,
                            lr=1e-3, seed=0)
TINY_RECIPE = TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)


@register("autoencoder")
class Autoencoder(LatentVariableModel):
    """Autoencoder: MLP or conv, MSE / BCE / categorical reconstruction, a Gaussian fitted to the codes.

    Args:
        data_shape: shape of one example, e.g. (1, 8, 8), or (2,) for points.
        num_levels: L, levels of the raw data (None: continuous data, used as they are).
        code_dim: J, the code's size (under-complete when J < D, over-complete when J >= D).
        hidden: hidden widths of the MLP encoder (the decoder mirrors them), or the two
            channel counts of the conv networks.
        architecture: "mlp" or "conv".
        activation: hidden activation, "relu", "sigmoid", "tanh" or "linear".
        code_activation: the code's activation (default "linear").
        reconstruction: "mse", "bce" or "categorical" (module docstring).
        code_decay: decay of the running average of the codes' mean and second moment.
        rng: generator (or seed) of the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    best_metric = ("val/loss", "min")
    default_preset = "digits-reference"
    eval_key = (CRC, 12)
    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="MLP 64-256-256-16 ReLU, mirrored decoder, squared error"),
        "digits-tiny": Preset(model=dict(_DIGITS, code_dim=4, hidden=(32,)), train=TINY_RECIPE),
        "digits-conv": Preset(model=dict(_DIGITS, architecture="conv", hidden=(32, 64)), train=DIGITS_RECIPE,
                              about="conv 3x3/2 (32, 64) -> 16, the VAE's transposed-conv decoder"),
        "digits-categorical": Preset(model=dict(_DIGITS, reconstruction="categorical"), train=DIGITS_RECIPE,
                                     about="the reference network with 17 logits per pixel"),
        "digits-overcomplete": Preset(model=dict(_DIGITS, code_dim=128), train=DIGITS_RECIPE,
                                      about="a 128-number code for 64 pixels: nothing forbids the identity"),
        "digits-linear": Preset(model=dict(_DIGITS, hidden=(), activation="linear"), train=DIGITS_RECIPE,
                                about="Baldi & Hornik's linear autoencoder: the PCA subspace"),
        "mnist": Preset(model=dict(_DIGITS, data_shape=(1, 28, 28), num_levels=256, code_dim=32,
                                   hidden=(512, 256)),
                        train=TrainConfig(data="mnist", epochs=50, early_stopping=("val/loss", 5),
                                          batch_size=128, lr=1e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, code_dim=16, hidden=(256, 256), architecture="mlp",
                 activation="relu", code_activation="linear", reconstruction="mse", code_decay=0.99,
                 rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, code_dim=code_dim, hidden=tuple(hidden))
        if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 2):
            raise ValueError(f"num_levels={num_levels!r} is not allowed: an integer >= 2, or None")
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction={reconstruction!r} is not allowed: one of {', '.join(RECONSTRUCTIONS)}")
        if reconstruction == "categorical" and not num_levels:
            raise ValueError("reconstruction='categorical' needs discrete data: give num_levels")
        if not 0 <= code_decay < 1:
            raise ValueError(f"code_decay={code_decay!r} is not allowed: a number in [0, 1)")
        self.data_shape, self.num_levels = tuple(data_shape), num_levels
        self.D, self.latent_dim = math.prod(self.data_shape), code_dim
        self.reconstruction, self.code_decay = reconstruction, code_decay
        K = num_levels if reconstruction == "categorical" else 1
        self.encoder, self.decoder = self.build_networks(architecture, code_dim, hidden, activation,
                                                         code_activation, K, dtype)
        # the Gaussian fitted to the codes (module docstring): N(0, I) until the first step
        self.register_buffer("code_mean", np.zeros(code_dim, dtype))
        self.register_buffer("code_moment", np.eye(code_dim, dtype=dtype))     # E[h h^T]
        self.register_buffer("code_count", np.zeros((), np.int64))

    def build_networks(self, architecture, code_dim, hidden, activation, code_activation, K, dtype):
        """``(encoder f, decoder g)`` (``_ae_nets.build_autoencoder``; the VQ-VAE builds its own)."""
        return build_autoencoder(architecture, self.data_shape, code_dim, hidden, activation, code_activation, K,
                                 rng=self.rng, dtype=dtype)

    @property
    def dtype(self):
        return self.parameters()[0].dtype

    # -- data and the two maps -----------------------------------------------------------------
    def data_view(self, x):
        """Raw examples -> ``(x_in, target)``: x_in a Tensor (N, *data_shape) in [0, 1] (x / (L - 1);
        continuous data as they are), target (N, D): integers for "categorical", else x_in's values."""
        x = x.data if isinstance(x, Tensor) else x
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"this {self.title} models examples of shape {self.data_shape}, got "
                             f"{tuple(x.shape[1:])}; build it for the data (--set data_shape=...)")
        n, L = x.shape[0], self.num_levels
        x_in = (x / (L - 1) if L else x).astype(self.dtype)
        target = x.reshape(n, self.D).astype(np.int64) if self.reconstruction == "categorical" \
            else Tensor(x_in.reshape(n, self.D))
        return Tensor(x_in), target

    def encode(self, x_in):
        """The code h = f(x): Tensor (N, J) (host inputs move to the device)."""
        return self.encoder(x_in if x_in.device == self.device else x_in.to(self.device))

    def decode(self, h):
        """g(h): K numbers per pixel, Tensor (N, D, K) (codes drawn on the host move to the device)."""
        return self.decoder(h if h.device == self.device else h.to(self.device))

    def reconstruction_loss(self, out, target):
        """L(x, g(h)) summed over the D pixels (module docstring): Tensor (N,)."""
        if self.reconstruction == "mse":
            return losses.mse(out[..., 0], target, reduction="none").sum(axis=-1)
        if self.reconstruction == "bce":
            return losses.binary_cross_entropy_with_logits(out[..., 0], target, reduction="none").sum(axis=-1)
        return -Categorical(out, axis=-1).log_prob(target).sum(axis=-1)

    def mean_of(self, out):
        """The reconstruction r in x_in's units from the decoder's output: array (N, D)."""
        out = as_numpy(getattr(out, "data", out))
        if self.reconstruction == "mse":
            return out[..., 0]
        if self.reconstruction == "bce":
            return 1.0 / (1.0 + np.exp(-out[..., 0]))
        p = np.exp(out - out.max(axis=-1, keepdims=True))
        levels = np.linspace(0.0, 1.0, self.num_levels, dtype=p.dtype)           # x / (L - 1)
        return (p / p.sum(axis=-1, keepdims=True)) @ levels

    # -- the objective (hooks for the regularised autoencoders) --------------------------------
    def training_pairs(self, x_in, rng, train=True):
        """The (input, target index) pairs the loss reconstructs: here ``(x_in, 0..N-1)``;
        the denoising autoencoder corrupts the inputs (and walks back)."""
        return x_in, np.arange(x_in.shape[0])

    def penalty(self, h):
        """A regulariser Omega(h) of the codes added to the loss ([1] §14.2.1), or None."""
        return None

    def objective(self, x, rng, train=True):
        """The loss of raw examples ``x`` with noise from ``rng``: ``(loss Tensor, metrics, h)``."""
        x_in, target = self.data_view(x)
        inputs, index = self.training_pairs(x_in, rng, train)
        h = self.encode(inputs)                                              # (M, J)
        target = target[index] if isinstance(target, np.ndarray) else Tensor(target.data[index])
        rec = self.reconstruction_loss(self.decode(h), target).mean()
        penalty = self.penalty(h)
        loss = rec if penalty is None else rec + penalty
        metrics = {"rec": float(as_numpy(rec.data))}
        if penalty is not None:
            metrics["penalty"] = float(as_numpy(penalty.data))
        return loss, metrics, h

    def loss(self, batch):
        """The mean reconstruction loss (+ penalty) of a batch; updates the running code Gaussian.

        Returns:
            ``(loss, {"rec": reconstruction loss per example, ["penalty"]})``.
        """
        x = self.split_batch(batch)[0]
        loss, metrics, h = self.objective(x, self.rng)
        if self.training and is_grad_enabled():
            self._update_code_moments(as_numpy(h.data[:len(x)]).astype(np.float64))
        return loss, metrics

    def eval_step(self, batch):
        """The loss on the batch's common random numbers, and the squared error of the clean
        reconstruction per image (x scaled to [0, 1]): ``{"loss", "rec", "mse", ...}``."""
        x = self.split_batch(batch)[0]
        loss, metrics, _ = self.objective(x, self.eval_rng(x), train=False)
        return {"loss": float(as_numpy(loss.data)), **metrics, "mse": float(self.reconstruction_error(x).mean())}

    def reconstruction_error(self, x):
        """sum_i (r(x)_i - x_i)^2 of each example, x in [0, 1] units: array (N,) (an anomaly score)."""
        with no_grad():
            x_in = self.data_view(x)[0]
            r = self.mean_of(self.decode(self.encode(x_in)))                  # (N, D)
        return ((r - as_numpy(x_in.data).reshape(len(r), self.D)) ** 2).sum(axis=-1)

    # -- the Gaussian fitted to the codes --------------------------------------------------------
    def _update_code_moments(self, h):
        """Running average of the codes' mean and second moment over training batches."""
        t = int(self.code_count.data) + 1
        w = max(1.0 / t, 1.0 - self.code_decay)
        mean, moment = (as_numpy(b.data).astype(np.float64) for b in (self.code_mean, self.code_moment))
        mean = (1 - w) * mean + w * h.mean(axis=0)
        moment = (1 - w) * moment + w * (h.T @ h) / len(h)                   # (J, J)
        dev = device_of(self.code_mean.data)
        self.code_mean.data = to_device(mean.astype(self.code_mean.dtype), dev)
        self.code_moment.data = to_device(moment.astype(self.code_moment.dtype), dev)
        self.code_count.data = to_device(np.array(t, np.int64), dev)

    def fit_code_gaussian(self, x, batch_size=512):
        """Fit N(m, S) exactly to the codes f(x) of the examples ``x`` (e.g. the training set).

        Returns:
            ``(m (J,), S (J, J))`` as float64 arrays.
        """
        h = np.concatenate([self.posterior_mean(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        self.code_count.data = to_device(np.array(0, np.int64), device_of(self.code_count.data))
        self._update_code_moments(h.astype(np.float64))                     # t = 1, w = 1: exact moments
        return self.code_gaussian()

    def code_gaussian(self):
        """The fitted ``(m (J,), S (J, J))``: S = E[h h^T] - m m^T."""
        m = as_numpy(self.code_mean.data).astype(np.float64)
        return m, as_numpy(self.code_moment.data).astype(np.float64) - np.outer(m, m)

    def sample_codes(self, n, rng):
        """n codes z ~ N(m, S), the Gaussian fitted to the training codes: array (n, J)."""
        m, S = self.code_gaussian()
        lam, V = np.linalg.eigh((S + S.T) / 2)                                # S = V diag(lam) V^T
        eps = rng.standard_normal((n, self.latent_dim))
        return m + (eps * np.sqrt(np.clip(lam, 0.0, None))) @ V.T           # (n, J)

    # -- pictures and samples (latent/base.py draws reconstructions, interpolation, scatter) ----
    def posterior_mean(self, x):
        """The code f(x) of each example: array (N, J) (a point, not a distribution's mean)."""
        with no_grad():
            return as_numpy(self.encode(self.data_view(x)[0]).data)

    def decode_mean(self, z):
        """The reconstruction g(z) in [0, 1] for codes z (N, J): images (N, *data_shape)."""
        with no_grad():
            z = Tensor(to_device(np.asarray(z, self.dtype), self.parameters()[0].device))
            r = self.mean_of(self.decode(z))                                  # (N, D)
        r = np.clip(r, 0.0, 1.0) if self.num_levels else r
        return r.reshape((len(r),) + self.data_shape)

    def sample_unit(self):
        """Raw levels per unit of [0, 1]: L - 1 (1 for continuous data)."""
        return self.num_levels - 1 if self.num_levels else 1

    def to_levels(self, r, rng=None, out=None):
        """Reconstructions in [0, 1] (N, D) -> raw data: a categorical draw from ``out`` when the
        model has one, else the nearest level (an MSE/BCE decoder defines no distribution)."""
        if self.reconstruction == "categorical" and out is not None:
            return Categorical(Tensor(as_numpy(getattr(out, "data", out))), axis=-1).sample(rng).data
        if not self.num_levels:
            return r
        return np.clip(np.rint(r * (self.num_levels - 1)), 0, self.num_levels - 1).astype(np.int64)

    def sample(self, n, rng, mean=False):
        """Decoded draws of the Gaussian fitted to the codes (module docstring: not a likelihood model).

        Args:
            n: number of samples.
            rng: ``numpy.random.Generator``.
            mean: return g(z) in [0, 1] instead of raw levels.

        Returns:
            (n, *data_shape): raw levels (a categorical draw, or g(z) rounded), or g(z).
        """
        z = self.sample_codes(n, rng)
        if mean:
            return self.decode_mean(z)
        with no_grad():
            out = self.decode(Tensor(z.astype(self.dtype)))                   # (n, D, K)
            x = self.to_levels(self.mean_of(out), rng, out)
        return np.asarray(x).reshape((n,) + self.data_shape)

    def figures(self, run_dir, rng, split=None):
        """The family's pictures (latent/base.py), samples.png titled for a fitted code Gaussian."""
        from ... import plots
        paths = super().figures(run_dir, rng, split)
        grid = np.concatenate([self.sample(32, rng, mean=True), self.sample(32, rng) / self.sample_unit()])
        plots.image_grid(grid, paths[0], nrow=16, title=f"{self.title}: decoded draws of the Gaussian fitted "
                                                        "to the training codes (g(z), then levels)")
        return paths
