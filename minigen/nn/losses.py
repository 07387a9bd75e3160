"""Losses and log-densities, each with its formula, composed from autograd ops.

Naming: ``*_log_prob`` / ``log_*_pdf`` functions return elementwise log-densities (no
reduction); losses return the *negative* log-likelihood (or a divergence) reduced by
``reduction``:

    'mean'       average over every element               (the default, as in PyTorch)
    'sum'        sum over every element
    'batchmean'  sum over every element / size of axis 0  (per-example totals, averaged:
                 what a VAE's ELBO terms want)
    'none'       elementwise, the shape of the broadcast inputs

Every function is written in a form that stays finite, with finite gradients, for
logits of +-1000 and log-variances / log-scales of +-50 (the tests check this):
``softplus`` and ``log_sigmoid`` instead of ``log(sigmoid(.))``, ``log_softmax`` instead
of ``log(softmax(.))``, ``exp(-log_var)`` instead of dividing by a variance, and for the
discretised logistic the identity

    sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(-(a - b)))
    log(1 - exp(-d)) = log(tanh(d / 2)) + log(1 + exp(-d))     (no cancellation for small d)
"""
import math

import numpy as np

from autograd import Tensor, as_tensor, ops
from autograd import functional as F

__all__ = ["mse", "binary_cross_entropy_with_logits", "cross_entropy", "take_along_axis",
           "log_normal_pdf", "standard_normal_log_prob", "gaussian_nll", "kl_normal", "kl_standard_normal",
           "discretized_logistic_log_prob", "discretized_logistic_nll",
           "discretized_mix_logistic_log_prob", "discretized_mix_logistic_nll"]

LOG_2PI = math.log(2 * math.pi)


def _reduce(loss, reduction):
    """Apply 'mean', 'sum', 'batchmean' or 'none' (see the module docstring)."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "batchmean":
        return loss.sum() * (1.0 / loss.shape[0])
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum', 'batchmean' or 'none', got {reduction!r}")


def _same_shape(loss, a_name, a, b_name, b):
    """ValueError unless ``a`` and ``b`` have one shape (a Python number ``b`` is allowed).

    A loss of a prediction and its target never broadcasts them: mse of (3,) and (3, 1)
    would quietly average a (3, 3) matrix of every prediction against every target.
    """
    if not hasattr(b, "shape") or not hasattr(a, "shape"):
        return
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{loss}: {a_name} has shape {tuple(a.shape)} but {b_name} has shape "
                         f"{tuple(b.shape)}; they must be equal (reshape one explicitly: "
                         f"broadcasting them would give {_broadcast(a.shape, b.shape)})")


def _broadcast(*shapes):
    try:
        return f"shape {np.broadcast_shapes(*map(tuple, shapes))} silently"
    except ValueError:
        return "an error"


def mse(pred, target, reduction="mean"):
    """Squared error ``(pred - target)^2``.

    Args:
        pred: Tensor.
        target: Tensor or array of ``pred``'s shape (or a Python number).
        reduction: 'mean', 'sum', 'batchmean' or 'none'.

    Returns:
        The reduced loss.

    Raises:
        ValueError: when the shapes differ (no silent broadcasting).
    """
    _same_shape("mse", "pred", pred, "target", target)
    d = pred - target
    return _reduce(d * d, reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """Bernoulli negative log-likelihood from logits z, for targets t in [0, 1]:

        -[t log sigmoid(z) + (1 - t) log sigmoid(-z)] = softplus(z) - t z

    Args:
        logits: Tensor z.
        target: Tensor or array t (probabilities or 0/1 labels) of z's shape.
        reduction: 'mean', 'sum', 'batchmean' or 'none'.

    Returns:
        The reduced loss.

    Raises:
        ValueError: when the shapes differ.
    """
    _same_shape("binary_cross_entropy_with_logits", "logits", logits, "target", target)
    return _reduce(F.softplus(logits) - target * logits, reduction)


def take_along_axis(x, index, axis):
    """``y[..] = x[.., index[..], ..]``: one entry of ``axis`` per position (like
    ``numpy.take_along_axis`` with the axis squeezed), composed from ``getitem``.

    Args:
        x: Tensor of shape (..., K, ...) with K at ``axis``.
        index: integer array (or Tensor) of x's shape without ``axis``.
        axis: the axis to pick along.

    Returns:
        Tensor of ``index``'s shape.
    """
    index = index.data if isinstance(index, Tensor) else index
    index = x.xp.asarray(index)
    axis = axis % x.ndim
    expected = tuple(x.shape[:axis] + x.shape[axis + 1:])
    if tuple(index.shape) != expected or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"take_along_axis: index must be an integer array of shape {expected} "
                         f"(x's shape {x.shape} without axis {axis}), got {index.dtype} {index.shape}")
    ndim = index.ndim
    grid = [x.xp.arange(n).reshape((1,) * i + (n,) + (1,) * (ndim - i - 1))   # broadcastable
            for i, n in enumerate(index.shape)]                                # aranges, one per axis
    grid.insert(axis, index)
    return x[tuple(grid)]


def cross_entropy(logits, target, axis=1, reduction="mean"):
    """Categorical negative log-likelihood of integer targets from logits:

        -log softmax(z)[t] = -(z_t - logsumexp(z))

    One fused op (``autograd.ops.softmax_cross_entropy``): a pass over the logits
    forward, one backward (``gz = gy * (softmax(z) - onehot(t))``), and one logsumexp
    per position kept in between. Its composite twin, ``-take_along_axis(log_softmax(z),
    t)``, is ``autograd.ops.cross_entropy.softmax_cross_entropy_composite``; use that one
    for second derivatives.

    Args:
        logits: Tensor with the classes along ``axis``, e.g. (N, K) or (N, K, H, W).
        target: integer array or Tensor with the shape of logits without ``axis``.
        axis: the class axis (1 as in PyTorch; use -1 for (N, T, K) logits).
        reduction: 'mean', 'sum', 'batchmean' or 'none'.

    Returns:
        The reduced loss.

    Raises:
        ValueError: when target's shape is not logits' shape without ``axis`` (e.g. a
            batch of 8 labels for 10 rows of logits, or (N, 1) labels for (N, K) logits),
            or a target is not a class index in [0, K).
    """
    t_shape = tuple(getattr(target, "shape", ()))
    expected = tuple(logits.shape[:axis % logits.ndim] + logits.shape[axis % logits.ndim + 1:])
    if t_shape != expected:
        raise ValueError(f"cross_entropy: logits of shape {tuple(logits.shape)} (classes on axis {axis}) "
                         f"need integer targets of shape {expected}, got shape {t_shape}")
    return _reduce(ops.softmax_cross_entropy(logits, target, axis), reduction)


def log_normal_pdf(x, mean, log_var):
    """Log-density of a diagonal Gaussian, elementwise:

        log N(x; mu, sigma^2) = -0.5 (log(2 pi) + log sigma^2 + (x - mu)^2 exp(-log sigma^2))

    Args:
        x: Tensor or array.
        mean: mu, broadcastable with x.
        log_var: log sigma^2, broadcastable with x (a Python number is allowed).

    Returns:
        Tensor of the broadcast shape.
    """
    like = next((t for t in (mean, log_var, x) if isinstance(t, Tensor)), None)
    log_var = as_tensor(log_var, like=like)
    d = x - mean
    return -0.5 * (LOG_2PI + log_var + d * d * ops.exp(-log_var))


def standard_normal_log_prob(z):
    """``log_normal_pdf(z, 0, 0)`` summed over all but the batch axis, with the constant
    hoisted out of the sum (the prior of a flow)::

        log N(z; 0, I) = -0.5 sum_i z_i^2 - 0.5 D log(2 pi)

    Args:
        z: Tensor (N, ...).

    Returns:
        Tensor (N,).
    """
    z = z.reshape(len(z), -1)                                    # (N, D)
    return -0.5 * (z * z).sum(axis=1) - 0.5 * z.shape[1] * LOG_2PI


def gaussian_nll(x, mean, log_var=None, std=None, reduction="mean"):
    """Gaussian negative log-likelihood ``-log N(x; mu, sigma^2)``, constant included.

    Give exactly one of ``log_var`` (preferred: stable for any value) or ``std`` (then
    log sigma^2 = 2 log std).

    Args:
        x: Tensor or array.
        mean: mu, of x's shape (ValueError otherwise).
        log_var: log sigma^2, broadcastable with x (a shared or per-feature variance).
        std: sigma > 0, broadcastable with x.
        reduction: 'mean', 'sum', 'batchmean' or 'none'.

    Returns:
        The reduced loss.
    """
    if (log_var is None) == (std is None):
        raise ValueError("gaussian_nll: give exactly one of log_var and std")
    _same_shape("gaussian_nll", "x", x, "mean", mean)
    if log_var is None:
        std = as_tensor(std, like=mean if isinstance(mean, Tensor) else x)
        log_var = 2 * ops.log(std)
    return _reduce(-log_normal_pdf(x, mean, log_var), reduction)


def kl_normal(mu_q, log_var_q, mu_p=0.0, log_var_p=0.0, reduction="mean"):
    """KL(q || p) between diagonal Gaussians q = N(mu_q, exp(log_var_q)), p = N(mu_p, exp(log_var_p)):

        0.5 (log_var_p - log_var_q + exp(log_var_q - log_var_p)
             + (mu_q - mu_p)^2 exp(-log_var_p) - 1)

    Args:
        mu_q, log_var_q: Tensors of one shape, q's mean and log-variance.
        mu_p, log_var_p: p's, broadcastable with them (default the standard normal).
        reduction: 'mean', 'sum', 'batchmean' or 'none'.

    Returns:
        The reduced KL, elementwise over the broadcast shape before reduction.
    """
    _same_shape("kl_normal", "mu_q", mu_q, "log_var_q", log_var_q)
    log_var_p = as_tensor(log_var_p, like=log_var_q)
    d = mu_q - mu_p
    kl = 0.5 * (log_var_p - log_var_q + ops.exp(log_var_q - log_var_p) + d * d * ops.exp(-log_var_p) - 1)
    return _reduce(kl, reduction)


def kl_standard_normal(mu, log_var, reduction="mean"):
    """KL(N(mu, exp(log_var)) || N(0, 1)) = 0.5 (exp(log_var) + mu^2 - 1 - log_var), the VAE
    regulariser (Kingma & Welling 2014, Appendix B).

    Args:
        mu: Tensor.
        log_var: Tensor of the same shape.
        reduction: 'mean', 'sum', 'batchmean' or 'none'.

    Returns:
        The reduced KL.
    """
    _same_shape("kl_standard_normal", "mu", mu, "log_var", log_var)
    return _reduce(0.5 * (ops.exp(log_var) + mu * mu - 1 - log_var), reduction)


def discretized_logistic_log_prob(x, mean, log_scale, num_levels=256):
    """Log-probability of K-level data under a logistic discretised into bins (Salimans et
    al. 2017, PixelCNN++, eq. 2), elementwise.

    The data are levels k = 0..K-1 rescaled to ``x = 2k / (K-1) - 1`` in [-1, 1]; level k
    owns the bin [x - h, x + h] with h = 1/(K-1), the two end bins extend to -inf and
    +inf, so the probabilities of all K levels sum to 1. With s = exp(log_scale),
    a = (x + h - mu) / s, b = (x - h - mu) / s and d = a - b = 2h / s:

        x = -1 (k = 0):       log P = log sigmoid(a)
        x = +1 (k = K-1):     log P = log(1 - sigmoid(b)) = log sigmoid(-b)
        otherwise:            log P = log(sigmoid(a) - sigmoid(b))
                                    = log sigmoid(a) + log sigmoid(-b) + log(1 - exp(-d))

    and log(1 - exp(-d)) = log tanh(d/2) + softplus(-d) is exact and finite for any scale.

    Args:
        x: data in [-1, 1] on the K-level grid (array or Tensor; treated as data).
        mean: mu, broadcastable with x.
        log_scale: log s, broadcastable with x.
        num_levels: K (256 for 8-bit data).

    Returns:
        Tensor of the broadcast shape.
    """
    h = 1.0 / (num_levels - 1)
    x = as_tensor(x, like=mean)
    inv_s = ops.exp(-log_scale)
    a = (x + h - mean) * inv_s                                 # upper bin edge, standardised
    b = (x - h - mean) * inv_s                                 # lower bin edge, standardised
    d = (2 * h) * inv_s                                        # a - b, without cancellation
    log_mid = (F.log_sigmoid(a) + F.log_sigmoid(-b)
               + ops.log(ops.tanh(0.5 * d)) + F.softplus(-d))
    log_low, log_high = F.log_sigmoid(a), F.log_sigmoid(-b)
    shape = np.broadcast_shapes(x.shape, log_mid.shape)
    x_data = x.xp.broadcast_to(x.data, shape)
    return ops.where(x_data < -1 + h, log_low, ops.where(x_data > 1 - h, log_high, log_mid))


def discretized_logistic_nll(x, mean, log_scale, num_levels=256, reduction="mean"):
    """``-discretized_logistic_log_prob`` reduced (arguments as there, plus ``reduction``)."""
    return _reduce(-discretized_logistic_log_prob(x, mean, log_scale, num_levels), reduction)


def discretized_mix_logistic_log_prob(x, logit_probs, means, log_scales, num_levels=256,
                                      channel_axis=None):
    """Log-probability under a mixture of M discretised logistics (PixelCNN++, eq. 2):

        log p(x) = logsumexp_m [ log_softmax(logit_probs)_m + log P(x | mu_m, s_m) ]

    With ``channel_axis`` set, one mixture indicator is shared by all channels of a
    position, as in PixelCNN++ for the R, G, B of a pixel (eq. 3):

        log p(x) = logsumexp_m [ log pi_m + sum_c log P(x_c | mu_cm, s_cm) ]

    PixelCNN++ makes G's and B's means depend on R (and G) linearly; the model computes
    those conditioned means and passes them here as ``means``.

    Args:
        x: data in [-1, 1] on the K-level grid, shape S (e.g. (N, C, H, W)).
        logit_probs: mixture logits (*S, M), or (*S without channel_axis, M) with channel_axis.
        means: (*S, M).
        log_scales: (*S, M).
        num_levels: K.
        channel_axis: axis of x whose entries share the mixture indicator, or None.

    Returns:
        Tensor of shape S (without ``channel_axis`` when it is given).
    """
    x = as_tensor(x, like=means)
    lp = discretized_logistic_log_prob(x.expand_dims(-1), means, log_scales, num_levels)  # (*S, M)
    if channel_axis is not None:
        lp = lp.sum(axis=channel_axis % x.ndim)                # (*S without channel, M)
    return F.logsumexp(F.log_softmax(logit_probs, axis=-1) + lp, axis=-1)


def discretized_mix_logistic_nll(x, logit_probs, means, log_scales, num_levels=256, channel_axis=None,
                                 reduction="mean"):
    """``-discretized_mix_logistic_log_prob`` reduced (arguments as there, plus ``reduction``)."""
    lp = discretized_mix_logistic_log_prob(x, logit_probs, means, log_scales, num_levels, channel_axis)
    return _reduce(-lp, reduction)
