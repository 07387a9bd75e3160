"""The Parzen-window log-likelihood: how the first GAN papers reported a number, and why not to.

A GAN has no likelihood. Goodfellow et al. 2014 [1] (§5, Table 1, after Breuleux et al.)
estimated one by fitting a Gaussian kernel density to n generated samples s_i::

    log p_hat(x) = log 1/n sum_i N(x; s_i, sigma^2 I)
                 = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log n - (d/2) log(2 pi sigma^2)

with the bandwidth sigma chosen to maximise the mean log p_hat of a validation set,
then reported the mean over the test set (nats per example of the continuous [0, 1]
data; not comparable with the discrete NLLs of minigen's likelihood models).

Its known flaws (Theis et al. 2016 [2], §3.2): in 64 or 784 dimensions a kernel density
needs far more samples than anyone draws, so the estimate is far below the true
log-likelihood even for samples of the true distribution; it rewards blurry and
memorised samples (a model that returns its training images scores very well); and it
ranks models differently from their true likelihoods ([2] Table 1: k-means centroids
beat a real model). Read it as a historical figure, never as a likelihood.

References:
    [1] I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, §5.
        https://arxiv.org/abs/1406.2661
    [2] L. Theis, A. van den Oord and M. Bethge, "A note on the evaluation of generative
        models", ICLR 2016, §3.2. https://arxiv.org/abs/1511.01844
"""
import math

import numpy as np

from .distances import _features, _sq_distances

__all__ = ["parzen_log_prob", "parzen"]

SIGMAS = tuple(np.logspace(-2, 0, 21))                     # bandwidths tried on the validation set


def parzen_log_prob(x, samples, sigma, chunk=512):
    """log p_hat(x) (N,) of the Gaussian kernel density on ``samples`` (module docstring)."""
    x, s = _features(x), _features(samples)
    n, d = s.shape
    out = []
    for i in range(0, len(x), chunk):
        a = -_sq_distances(x[i:i + chunk], s) / (2.0 * sigma * sigma)       # (chunk, n)
        top = a.max(axis=1, keepdims=True)
        out.append(top[:, 0] + np.log(np.exp(a - top).sum(axis=1)))
    return np.concatenate(out) - math.log(n) - 0.5 * d * math.log(2.0 * math.pi * sigma * sigma)


def parzen(samples, val, test, sigmas=SIGMAS):
    """The bandwidth that maximises the validation log-likelihood, and the test figure.

    Returns:
        ``{"sigma", "val": mean log p_hat of val, "test": mean log p_hat of test}`` in nats.
    """
    scores = [parzen_log_prob(val, samples, s).mean() for s in sigmas]
    best = int(np.argmax(scores))
    return {"sigma": float(sigmas[best]), "val": float(scores[best]),
            "test": float(parzen_log_prob(test, samples, sigmas[best]).mean())}
