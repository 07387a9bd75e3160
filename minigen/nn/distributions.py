"""Probability distributions with differentiable parameters: Normal, Bernoulli, Categorical.

Each one is built from Tensors (e.g. a network's outputs) and offers

    log_prob(x)       elementwise log-density / log-mass, differentiable in the parameters
    sample(rng)       a draw, as a constant Tensor (no gradient flows into it)
    rsample(rng)      a *reparameterised* draw x = g(params, noise), through which gradients
                      flow (Kingma & Welling 2014, §2.4); only Normal has one
    entropy()         elementwise entropy
    mean, mode        properties

``sample`` and ``rsample`` take an explicit ``numpy.random.Generator`` and an optional
``sample_shape`` that is prepended to the distribution's ``batch_shape`` (the broadcast
shape of its parameters). Discrete distributions are parameterised by logits, and their
``log_prob`` and ``entropy`` are computed from logits with ``log_sigmoid`` /
``log_softmax``, so they are finite even for logits of +-1000.
"""
import numpy as np

from autograd import Tensor, as_tensor, no_grad, ops, rand, randn, to_device
from autograd import functional as F

from .losses import LOG_2PI, log_normal_pdf, take_along_axis

__all__ = ["Normal", "Bernoulli", "Categorical"]


class Normal:
    """Diagonal Gaussian N(mu, sigma^2), from ``sigma`` or (preferred) ``log_sigma``.

        log p(x) = -0.5 log(2 pi) - log sigma - 0.5 (x - mu)^2 exp(-2 log sigma)
        H        = 0.5 + 0.5 log(2 pi) + log sigma
        x        = mu + sigma * eps,  eps ~ N(0, 1)      (rsample)

    Args:
        mu: Tensor (or array / number) of means.
        sigma: standard deviations > 0; give this or ``log_sigma``.
        log_sigma: log standard deviations.
    """

    def __init__(self, mu, sigma=None, *, log_sigma=None):
        if (sigma is None) == (log_sigma is None):
            raise ValueError("Normal: give exactly one of sigma and log_sigma")
        self.mu = as_tensor(mu)
        if log_sigma is None:
            self.log_sigma = ops.log(as_tensor(sigma, like=self.mu))
        else:
            self.log_sigma = as_tensor(log_sigma, like=self.mu)

    sigma = property(lambda self: ops.exp(self.log_sigma))
    variance = property(lambda self: ops.exp(2 * self.log_sigma))
    mean = property(lambda self: self.mu)
    mode = property(lambda self: self.mu)
    batch_shape = property(lambda self: np.broadcast_shapes(self.mu.shape, self.log_sigma.shape))

    def log_prob(self, x):
        """Elementwise log-density of ``x`` (broadcast against the parameters): minigen's one
        Gaussian density, ``losses.log_normal_pdf``, with log sigma^2 = 2 log sigma."""
        x = as_tensor(x, like=self.mu)
        shape = np.broadcast_shapes(x.shape, self.batch_shape)
        return log_normal_pdf(x.broadcast_to(shape), self.mu.broadcast_to(shape),
                              (2 * self.log_sigma).broadcast_to(shape))

    def rsample(self, rng, sample_shape=()):
        """Reparameterised draw ``mu + sigma * eps``: differentiable in mu and sigma.

        Args:
            rng: ``numpy.random.Generator``.
            sample_shape: shape prepended to ``batch_shape``.

        Returns:
            Tensor of shape ``sample_shape + batch_shape``.
        """
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        eps = randn(shape, rng, like=self.mu)     # drawn on the host, on mu's device
        return self.mu + ops.exp(self.log_sigma) * eps

    def sample(self, rng, sample_shape=()):
        """A draw with no gradient (``rsample`` under ``no_grad``). Arguments as ``rsample``."""
        with no_grad():
            return self.rsample(rng, sample_shape)

    def entropy(self):
        """Elementwise differential entropy ``0.5 + 0.5 log(2 pi) + log sigma``."""
        return self.log_sigma + 0.5 * (1 + LOG_2PI)

    def __repr__(self):
        return f"Normal(batch_shape={self.batch_shape})"


class Bernoulli:
    """Bernoulli over {0, 1} with P(x = 1) = sigmoid(z), from logits z.

        log p(x) = x log sigmoid(z) + (1 - x) log sigmoid(-z) = x z - softplus(z)
        H        = softplus(z) - z sigmoid(z)

    Args:
        logits: Tensor z.
    """

    def __init__(self, logits):
        self.logits = as_tensor(logits)

    probs = property(lambda self: ops.sigmoid(self.logits))
    mean = probs
    mode = property(lambda self: Tensor((self.logits.data > 0).astype(self.logits.dtype)))
    batch_shape = property(lambda self: tuple(self.logits.shape))

    def log_prob(self, x):
        """Elementwise log-mass of ``x`` in {0, 1} (values in [0, 1] give the cross-entropy)."""
        return x * self.logits - F.softplus(self.logits)

    def sample(self, rng, sample_shape=()):
        """Draws in {0, 1} as a constant Tensor of shape ``sample_shape + batch_shape``.

        Args:
            rng: ``numpy.random.Generator``.
            sample_shape: shape prepended to ``batch_shape``.
        """
        shape = tuple(sample_shape) + self.batch_shape
        u = rand(shape, rng, like=self.logits)
        return Tensor((u.data < self.probs.data).astype(self.logits.dtype))

    def rsample(self, rng, sample_shape=()):
        raise NotImplementedError(
            "Bernoulli has no reparameterised sample (it is discrete): use sample() with a "
            "score-function (REINFORCE) estimator, or a relaxed (Concrete / Gumbel-sigmoid) "
            "distribution for a differentiable approximation")

    def entropy(self):
        """Elementwise entropy in nats, ``softplus(z) - z sigmoid(z)``."""
        return F.softplus(self.logits) - self.logits * ops.sigmoid(self.logits)

    def __repr__(self):
        return f"Bernoulli(batch_shape={self.batch_shape})"


class Categorical:
    """Categorical over {0, ..., K-1} with probabilities softmax(logits) along ``axis``.

        log p(k) = log_softmax(z)_k = z_k - logsumexp(z)
        H        = -sum_k softmax(z)_k log_softmax(z)_k
        sample   = argmax_k (z_k + g_k),  g_k ~ Gumbel(0, 1)    (the Gumbel-max trick)

    Args:
        logits: Tensor with the K classes along ``axis``.
        axis: the class axis.
    """

    def __init__(self, logits, axis=-1):
        self.logits = as_tensor(logits)
        self.axis = axis % self.logits.ndim
        self.num_classes = self.logits.shape[self.axis]

    log_probs = property(lambda self: F.log_softmax(self.logits, self.axis))
    probs = property(lambda self: F.softmax(self.logits, self.axis))
    batch_shape = property(lambda self: tuple(n for i, n in enumerate(self.logits.shape) if i != self.axis))

    @property
    def mode(self):
        """The most probable class (an integer Tensor of ``batch_shape``)."""
        return Tensor(self.logits.data.argmax(axis=self.axis))

    @property
    def mean(self):
        raise NotImplementedError("Categorical has no mean: its classes are labels, not numbers; "
                                  "use probs or mode")

    def log_prob(self, k):
        """Log-mass of integer classes ``k``, whose shape is ``batch_shape`` or broadcasts to
        it with extra leading (sample) axes.

        Args:
            k: integer array or Tensor.

        Returns:
            Tensor of k's (broadcast) shape.
        """
        k = to_device(k.data if isinstance(k, Tensor) else k, self.logits.device)   # beside the logits
        lp = self.log_probs
        shape = np.broadcast_shapes(k.shape, self.batch_shape)
        axis = self.axis - self.logits.ndim + len(shape) + 1   # class axis after extra leading axes
        full = shape[:axis] + (self.num_classes,) + shape[axis:]
        return take_along_axis(lp.broadcast_to(full), self.logits.xp.broadcast_to(k, shape), axis)

    def sample(self, rng, sample_shape=()):
        """Integer draws (Gumbel-max), a constant Tensor of shape ``sample_shape + batch_shape``.

        Args:
            rng: ``numpy.random.Generator``.
            sample_shape: shape prepended to ``batch_shape``.
        """
        shape = tuple(sample_shape) + tuple(self.logits.shape)
        u = rand(shape, rng, like=self.logits).data
        tiny = np.finfo(u.dtype).tiny
        gumbel = -self.logits.xp.log(-self.logits.xp.log(u + tiny) + tiny)
        return Tensor((self.logits.data + gumbel).argmax(axis=len(sample_shape) + self.axis))

    def rsample(self, rng, sample_shape=()):
        raise NotImplementedError(
            "Categorical has no reparameterised sample (it is discrete): use sample() with a "
            "score-function (REINFORCE) estimator, or the Gumbel-softmax (Concrete) relaxation "
            "softmax((logits + g) / tau) for a differentiable approximation")

    def entropy(self):
        """Entropy in nats, ``-sum_k p_k log p_k`` over the class axis."""
        lp = self.log_probs
        return -(ops.exp(lp) * lp).sum(axis=self.axis)

    def __repr__(self):
        return f"Categorical(batch_shape={self.batch_shape}, num_classes={self.num_classes})"
