"""The ``Dataset`` container, the embedded 8x8 digits, and views of discrete images.

A ``Dataset`` is plain NumPy arrays plus the facts a model needs: how many discrete
levels a value takes (17 for digits, 256 for MNIST, 2 once binarised) and the shape
of one example. Raw image data stay integers (uint8); the *views* below turn them
into float32 inputs for a model:

    binarize(x, t)              x >= t  (t = 8 for digits, 128 for MNIST)   static binary data
    bernoulli_binarize(x, rng)  u < x / (L - 1),  u ~ U[0, 1)               static (seeded once)
                                                                            or dynamic (per batch)
    dequantize(x, rng)          (x + u) / L,  u ~ U[0, 1)                   flows: a density on [0, 1)
    scale(x)                    x / (L - 1)                                 VAEs, GANs, diffusion

``L`` is ``num_levels``. Dequantisation [1] turns a discrete likelihood into a
continuous one: the log-density of ``(x + u) / L`` plus ``D log L`` lower-bounds the
log-probability of ``x`` (``D`` values per example), which is how bits/dim are compared.

The digits protocol (fixed, as in Tomczak's intro_dgm course [2]): scikit-learn's
1797 images in file order; train = the first 1000, val = the next 350, test = the
last 447. Values 0..16 (17 levels), images (N, 1, 8, 8) uint8, labels (N,) int64.

References:
    [1] Theis, van den Oord and Bethge, "A note on the evaluation of generative
        models", ICLR 2016, §3.1. https://arxiv.org/abs/1511.01844
    [2] J. M. Tomczak, "Deep Generative Modeling", 2022, and its code
        https://github.com/jmtomczak/intro_dgm (the ``Digits`` data set).
"""
import numpy as np

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"valid": "val", "validation": "val"}

DIGITS_SPLITS = {"train": slice(0, 1000), "val": slice(1000, 1350), "test": slice(1350, 1797)}


def canonical_split(split):
    """Return ``"train"``, ``"val"`` or ``"test"``; "valid"/"validation" mean "val".

    Args:
        split: a split name.

    Returns:
        The canonical split name.

    Raises:
        ValueError: for any other name.
    """
    split = _SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    return split


class Dataset:
    """Arrays of one split of a data set, with the metadata a model needs.

    Attributes:
        x: examples (N, ...): images (N, C, H, W), points (N, D) or signals (N, 1, T).
        y: labels (N,) int64, or None.
        name: registry name, e.g. ``"digits"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_levels: number of discrete values each entry of ``x`` takes
            (integers 0..num_levels-1), or None for continuous data.
        classes: names of the labels, or None.
    """

    def __init__(self, x, y, name, split, num_levels=None, classes=None):
        if y is not None and len(y) != len(x):
            raise ValueError(f"{name}: {len(x)} examples but {len(y)} labels")
        self.x, self.y = x, y
        self.name, self.split = name, split
        self.num_levels, self.classes = num_levels, classes

    def __len__(self):
        return len(self.x)

    @property
    def shape(self):
        """Shape of one example, e.g. ``(1, 8, 8)``."""
        return self.x.shape[1:]

    def arrays(self):
        """The arrays to hand to ``BatchLoader(*ds.arrays(), ...)``.

        Returns:
            ``(x,)``, or ``(x, y)`` when there are labels.
        """
        return (self.x,) if self.y is None else (self.x, self.y)

    def subset(self, index):
        """Some examples of this split, e.g. ``ds.subset(slice(0, 100))`` for a quick test.

        Args:
            index: a slice, an integer array or a boolean mask over the N examples.

        Returns:
            A new ``Dataset`` with the same metadata.
        """
        y = None if self.y is None else self.y[index]
        return Dataset(self.x[index], y, self.name, self.split, self.num_levels, self.classes)

    def _replace_x(self, x, num_levels):
        return Dataset(x, self.y, self.name, self.split, num_levels, self.classes)

    def binarized(self, threshold=None):
        """Static binarisation ``x >= threshold`` (see ``binarize``).

        Args:
            threshold: smallest value mapped to 1; default ``num_levels // 2``
                (8 for digits, 128 for MNIST).

        Returns:
            A new ``Dataset`` with float32 x in {0, 1} and num_levels 2.
        """
        self._require_levels("binarized")
        threshold = self.num_levels // 2 if threshold is None else threshold
        return self._replace_x(binarize(self.x, threshold), 2)

    def scaled(self):
        """Values mapped onto [0, 1] by ``x / (num_levels - 1)`` (see ``scale``).

        Returns:
            A new ``Dataset`` with float32 x and num_levels None (continuous).
        """
        self._require_levels("scaled")
        return self._replace_x(scale(self.x, self.num_levels), None)

    def dequantized(self, rng):
        """One fixed draw of ``(x + u) / num_levels``, u ~ U[0, 1) (see ``dequantize``).

        For training, draw fresh noise per batch instead (a ``BatchLoader`` transform).

        Args:
            rng: ``numpy.random.Generator``.

        Returns:
            A new ``Dataset`` with float32 x in [0, 1) and num_levels None.
        """
        self._require_levels("dequantized")
        return self._replace_x(dequantize(self.x, rng, self.num_levels), None)

    def _require_levels(self, what):
        if self.num_levels is None:
            raise ValueError(f"{self.name} is continuous (num_levels=None); it cannot be {what}")

    def __repr__(self):
        y = "None" if self.y is None else f"{self.y.shape} {self.y.dtype}"
        return (f"Dataset({self.name!r}, split={self.split!r}, x={self.x.shape} {self.x.dtype}, "
                f"num_levels={self.num_levels}, y={y})")


# ----------------------------------------------------------------------------- views


def binarize(x, threshold):
    """Static binarisation: 1.0 where ``x >= threshold``, else 0.0.

    Args:
        x: integer or float array.
        threshold: the smallest value mapped to 1 (8 for 0..16 digits, 128 for MNIST).

    Returns:
        float32 array of 0s and 1s, same shape.
    """
    return (np.asarray(x) >= threshold).astype(np.float32)


def bernoulli_binarize(x, rng, num_levels):
    """Stochastic binarisation: each value becomes 1 with probability ``x / (num_levels - 1)``.

    Call it once with a seeded ``rng`` for a *static* sampled binarisation (the fixed
    binarised MNIST of Salakhutdinov and Murray), or on every batch for *dynamic*
    binarisation: ``BatchLoader(x, ..., transform=lambda xb, rng:
    bernoulli_binarize(xb, rng, 256))``.

    Args:
        x: integer array with values in 0..num_levels-1.
        rng: ``numpy.random.Generator``.
        num_levels: number of levels of ``x``.

    Returns:
        float32 array of 0s and 1s, same shape.
    """
    p = np.asarray(x, np.float32) / (num_levels - 1)
    return (rng.random(p.shape, dtype=np.float32) < p).astype(np.float32)


def dequantize(x, rng, num_levels):
    """Uniform dequantisation ``(x + u) / num_levels`` with ``u ~ U[0, 1)``: values in [0, 1).

    Draw fresh noise every batch (pass it as a ``BatchLoader`` transform).

    Args:
        x: integer array with values in 0..num_levels-1.
        rng: ``numpy.random.Generator``.
        num_levels: number of levels of ``x``.

    Returns:
        float32 array, same shape.
    """
    x = np.asarray(x, np.float32)
    return (x + rng.random(x.shape, dtype=np.float32)) / np.float32(num_levels)


def scale(x, num_levels):
    """``x / (num_levels - 1)``: integers 0..num_levels-1 onto [0, 1], as float32.

    Args:
        x: integer array.
        num_levels: number of levels of ``x``.

    Returns:
        float32 array, same shape.
    """
    return np.asarray(x, np.float32) / np.float32(num_levels - 1)


# ----------------------------------------------------------------------------- digits


def load_digits(split):
    """scikit-learn's 8x8 handwritten digits, embedded (no network), by the fixed protocol.

    Args:
        split: ``"train"`` (1000 images), ``"val"`` (350) or ``"test"`` (447).

    Returns:
        A ``Dataset`` with x (N, 1, 8, 8) uint8 in 0..16, y (N,) int64, num_levels 17.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    split = canonical_split(split)
    bunch = sklearn_load_digits()
    index = DIGITS_SPLITS[split]
    x = bunch.images[index].astype(np.uint8)[:, None, :, :]  # (N, 1, 8, 8)
    y = bunch.target[index].astype(np.int64)
    return Dataset(x, y, "digits", split, num_levels=17, classes=tuple(str(d) for d in range(10)))
