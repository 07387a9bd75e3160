"""Anomaly detection with generative models: train on the normal examples, flag what the model explains badly.

The recipe of the autoencoder lectures (and of Schlegl et al. 2017, An & Cho 2015): fit a
model to *normal* data only (here: every class but the held-out ones), then score a test
example by how badly the model accounts for it, and rank. Two scores::

    "reconstruction"   ||g(f(x)) - x||^2, pixels in [0, 1]       any autoencoder (reconstruction_error)
    "bound"            -ELBO(x) or -IWAE_k(x), nats              a VAE; a VQ-VAE + prior (nelbo);
                       -log p(x), nats                            a model with an exact log_prob

A score is judged by the **ROC AUC** of telling the held-out class (positives) from the
normal test examples (``minigen.metrics.roc_auc``): the probability that a random
anomaly scores above a random normal example; 0.5 is chance. Likelihood is not a safe
anomaly score (Nalisnick et al. 2019): a *simple* image can be likely under a model that
never saw its class, and then scores below chance.

References:
    J. An and S. Cho, "Variational autoencoder based anomaly detection using reconstruction
    probability", SNU Data Mining Center, 2015.
    E. Nalisnick, A. Matsukawa, Y. W. Teh, D. Gorur and B. Lakshminarayanan, "Do deep generative
    models know what they don't know?", ICLR 2019. https://arxiv.org/abs/1810.09136
"""
import numpy as np

from autograd import as_numpy, no_grad

from .metrics import roc_auc

__all__ = ["SCORES", "normal_split", "anomaly_scores", "held_out_auc", "extremes"]

SCORES = ("reconstruction", "bound")


def normal_split(x, y, held_out):
    """The examples whose label is not in ``held_out`` (the normal data to train on).

    Args:
        x: examples (N, ...); y: labels (N,); held_out: a label or a list of labels.

    Returns:
        ``(x_normal, y_normal)``.
    """
    if y is None:
        raise ValueError("normal_split needs labels (y) to hold a class out")
    keep = ~np.isin(y, np.atleast_1d(held_out))
    if keep.all() or not keep.any():
        raise ValueError(f"held_out={held_out!r} removes {'no' if keep.all() else 'every'} example; "
                         f"the labels present are {sorted(set(np.asarray(y).tolist()))}")
    return x[keep], y[keep]


def anomaly_scores(model, x, score="reconstruction", k=1, rng=None, batch_size=256):
    """The anomaly score of every example of ``x``: larger = more anomalous (float64 (N,)).

    Args:
        model: a trained model (eval mode is set here).
        x: examples (N, ...) in the model's raw data view.
        score: "reconstruction" or "bound" (module docstring).
        k: importance samples of a VAE's bound (1: -ELBO, k > 1: -IWAE_k).
        rng: generator of a stochastic bound's noise (default: seed 0).
    """
    if score not in SCORES:
        raise ValueError(f"score={score!r} is not allowed: one of {', '.join(SCORES)}")
    rng = np.random.default_rng(0) if rng is None else rng
    model.eval()
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            if score == "reconstruction":
                if not hasattr(model, "reconstruction_error"):
                    raise ValueError(f"{model.title} has no reconstruction_error: score it by 'bound'")
                s = model.reconstruction_error(xb)
            elif hasattr(model, "nelbo"):                                   # VQ-VAE + prior
                s = model.nelbo(xb)
            elif hasattr(model, "bounds"):                                 # VAE: -ELBO (k = 1) or -IWAE_k
                b = model.bounds(xb, k, rng=rng)
                s = b["nelbo"] if k == 1 else b["nll_iwae"]
            else:
                s = -model.log_prob(xb)
            out.append(np.asarray(as_numpy(getattr(s, "data", s)), np.float64).reshape(len(xb)))
    return np.concatenate(out)


def held_out_auc(model, x_test, y_test, held_out, score="reconstruction", **options):
    """ROC AUC of ``score`` for telling the ``held_out`` class(es) from the rest of (x_test, y_test).

    Returns:
        ``(auc, scores (N,))``.
    """
    s = anomaly_scores(model, x_test, score, **options)
    return roc_auc(s, np.isin(y_test, np.atleast_1d(held_out))), s


def extremes(scores, x, n=16):
    """``(most anomalous, least anomalous)``: the n examples of x with the highest and lowest scores."""
    order = np.argsort(scores, kind="mergesort")
    return x[order[::-1][:n]], x[order[:n]]
