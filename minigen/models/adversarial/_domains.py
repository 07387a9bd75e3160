"""Two unpaired image domains available offline, and the classifier that tells them apart.

CycleGAN (``cyclegan.py``) learns to translate between two domains X and Y from images of
each, never from pairs. Two ways to get such domains from the data sets minigen has:

    "dilate"      X: the digits as they are; Y: their strokes thickened by a grey-level
                  morphological dilation with the structuring element {(0, 0), (0, -1)}:
                  thick[i, j] = max(x[i, j], x[i, j - 1]) (one pixel wider to the right;
                  readable on 8x8 images, where a 3x3 element fills the digit). A batch is
                  split in halves, X = the first half, Y = the second half dilated, so the
                  two never show the same digit (unpaired). The true translation of x is
                  known, dilate(x), which gives a third figure beside the two below.
    (a, b)        X: the examples of class a, Y: those of class b (Fashion-MNIST's sneakers
                  (7) and ankle boots (9)).

Judging a translator without pairs (Zhu et al. 2017 §5.1 used a segmentation network
for the same purpose): ``domain_classifier`` is a logistic regression on the pixels,
trained on the real training images of X (label 0) and Y (label 1); the fraction of
translations G(x) it puts in Y (and F(y) in X) says whether a translation looks like the
target domain, and its accuracy on real test images says how well it tells them apart.
"""
import numpy as np

__all__ = ["dilate", "domain_split", "domain_classifier"]


def dilate(x):
    """Grey-level dilation with the element {(0, 0), (0, -1)}: max(x[..., j], x[..., j - 1]).

    Args:
        x: images (N, C, H, W), any numeric dtype (raw levels or a [0, 1] view).
    """
    x = np.asarray(x)
    left = np.concatenate([np.full_like(x[..., :1], x.min() if x.size else 0), x[..., :-1]], axis=-1)
    return np.maximum(x, left)


def domain_split(x, y, domains):
    """The images of domain X and of domain Y in a batch (raw arrays).

    Args:
        x: images (N, C, H, W); y: labels (N,) or None.
        domains: "dilate" or a pair of classes (a, b) (module docstring).

    Returns:
        ``(x_X, x_Y)``, each (n, C, H, W); ValueError when one of them is empty.
    """
    if domains == "dilate":
        half = len(x) // 2
        xa, xb = x[:half], dilate(x[half:])
    else:
        if y is None:
            raise ValueError(f"domains={domains!r} are classes: the batches need labels (x, y)")
        y = np.asarray(y)
        xa, xb = x[y == domains[0]], x[y == domains[1]]
    if len(xa) == 0 or len(xb) == 0:
        raise ValueError(f"a batch of {len(x)} examples holds {len(xa)} of domain X and {len(xb)} of "
                         f"domain Y (domains={domains!r}); both need at least one: use larger batches")
    return xa, xb


def domain_classifier(xa, xb, steps=300, lr=0.5, l2=1e-3):
    """A logistic regression telling X (0) from Y (1), by full-batch gradient descent on
    standardised pixels (deterministic: starts at zero).

    Args:
        xa, xb: [0, 1] images (n, C, H, W) of the two domains.

    Returns:
        ``predict(x) -> (N,) bool`` (True: domain Y).
    """
    X = np.concatenate([xa, xb]).reshape(len(xa) + len(xb), -1).astype(np.float64)
    t = np.concatenate([np.zeros(len(xa)), np.ones(len(xb))])
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-3
    X = (X - mean) / std
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(X @ w + b)))                            # (N,) P(Y | x)
        w -= lr * (X.T @ (p - t) / len(t) + l2 * w)
        b -= lr * float(np.mean(p - t))

    def predict(x):
        z = (np.asarray(x, np.float64).reshape(len(x), -1) - mean) / std
        return z @ w + b > 0
    return predict
