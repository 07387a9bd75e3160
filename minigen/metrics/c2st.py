"""The classifier two-sample test (C2ST) and the ROC AUC it reports.

Lopez-Paz & Oquab 2017 [1], §2-3: if samples and data come from the same distribution,
no classifier can tell them apart better than chance on examples it has not seen. Pool
the data (label 1) and the samples (label 0), train a small classifier on one half,
score the other half. [1] reports the held-out accuracy (its test statistic, eq. 2);
here also the ROC AUC of the held-out scores, which does not depend on a decision
threshold::

    AUC = P(score(real) > score(fake)) + 1/2 P(equal)     (Mann-Whitney U / (n_1 n_0))

AUC 0.5: indistinguishable (the goal); 1.0: every sample is recognised as generated.
The classifier is an MLP (``d -> hidden -> 1``, ReLU) on standardised inputs trained
with Adam on the binary cross-entropy; its data, initial weights and batches are all
drawn from ``rng``, so the figure is reproducible. A classifier can only show a
difference, never prove equality: a weak classifier gives 0.5 too. The two sets are
cut to the same size, so the chance level is exactly 0.5.

References:
    [1] D. Lopez-Paz and M. Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017.
        https://arxiv.org/abs/1610.06545
"""
import numpy as np

from autograd import Tensor, enable_grad, no_grad

from ..nn import Linear, Sequential, ReLU
from ..nn.losses import binary_cross_entropy_with_logits
from ..optim import Adam
from .distances import _features

__all__ = ["roc_auc", "c2st"]


def roc_auc(scores, labels):
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = positive), by ranks
    (ties get their average rank)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):                                   # average ranks over tied runs
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    n1, n0 = labels.sum(), (~labels).sum()
    if n1 == 0 or n0 == 0:
        raise ValueError("roc_auc needs both classes among the labels")
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def c2st(real, fake, hidden=64, steps=400, batch_size=64, lr=1e-3, rng=None):
    """Train a classifier to tell ``real`` from ``fake`` and score it on held-out halves.

    Args:
        real: data (m, ...); fake: samples (n, ...), in the same scale.
        hidden: width of the classifier's hidden layer.
        steps: Adam steps on mini-batches of the training half.
        batch_size: examples per step.
        lr: Adam's step size.
        rng: ``numpy.random.Generator`` (default seed 0).

    Returns:
        ``{"auc": held-out ROC AUC, "accuracy": held-out accuracy, "examples": per set}``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    real, fake = _features(real), _features(fake)
    n = min(len(real), len(fake))
    real, fake = real[rng.permutation(len(real))[:n]], fake[rng.permutation(len(fake))[:n]]
    half = n // 2
    train_x = np.concatenate([real[:half], fake[:half]])                    # (2 half, d)
    train_y = np.concatenate([np.ones(half), np.zeros(half)])
    test_x = np.concatenate([real[half:], fake[half:]])
    test_y = np.concatenate([np.ones(n - half), np.zeros(n - half)])
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6                      # standardise on train
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    net = Sequential(Linear(train_x.shape[1], hidden, rng=rng, dtype=np.float64), ReLU(),
                     Linear(hidden, 1, rng=rng, dtype=np.float64))
    opt = Adam(net.parameters(), lr=lr)
    with enable_grad():                           # also when called under no_grad (a model's report)
        for _ in range(steps):
            idx = rng.choice(len(train_x), min(batch_size, len(train_x)), replace=False)
            opt.zero_grad()
            logits = net(Tensor(train_x[idx])).reshape(-1)
            binary_cross_entropy_with_logits(logits, Tensor(train_y[idx])).backward()
            opt.step()
    with no_grad():
        scores = net(Tensor(test_x)).data.reshape(-1)
    return {"auc": roc_auc(scores, test_y), "accuracy": float(((scores > 0) == test_y).mean()),
            "examples": int(n)}
