"""Data sets as NumPy arrays, and a seeded batch iterator.

::

    from minigen.data import get_dataset, BatchLoader
    train = get_dataset("digits", "train")         # x (1000, 1, 8, 8) uint8 in 0..16
    binary = train.binarized()                     # x >= 8, float32
    loader = BatchLoader(*train.arrays(), batch_size=64, rng=np.random.default_rng(0))

    name            what                                                 num_levels
    --------------  ---------------------------------------------------  ----------
    digits          scikit-learn 8x8 digits, embedded; 1000 / 350 / 447  17
    mnist           IDX files (see idx.py); 50000 / 10000 / 10000        256
    fashion-mnist   IDX files, or Debian's dataset-fashion-mnist         256
    moons, circles, 8gaussians, checkerboard, swissroll, pinwheel
                    2-D toy point clouds (toy.py), x (n, 2), labels      None
    mixture-1d      1-D mixture of three Gaussians, x (n, 1)             None
    sinusoids       sums of sinusoids, mu-law quantised, x (n, 1, T)     256
    speech          spoken digits by espeak-ng, 8 kHz mu-law (speech.py) 256
                    segments x (n, 1, 1024); make the cache once with ``python -m minigen.data speech``

Toy sets are generated, not stored: split ``s`` of ``name`` with ``seed`` is drawn
from ``np.random.default_rng([seed, crc32(name), index of s])``, so the train, val
and test points differ, and the same arguments always give the same points.

Module map: ``datasets.py`` (the Dataset container, digits, binarize / dequantize /
scale), ``idx.py`` (the IDX format, MNIST and Fashion-MNIST), ``fetch.py``
(checksummed downloads: ``download``, ``download_dataset``), ``toy.py`` (generators),
``loader.py`` (BatchLoader), ``__main__.py`` (``python -m minigen.data list|download``).
"""
import zlib

import numpy as np

from . import toy
from .datasets import (SPLITS, Dataset, bernoulli_binarize, binarize, canonical_split,
                       dequantize, load_digits, scale)
from .fetch import ChecksumError, download, download_dataset, sha256_of
from .idx import DatasetNotFoundError, IDXFormatError, load_mnist, read_idx, write_idx
from .loader import BatchLoader
from .toy import gaussian_mixture_log_prob, mu_law_decode, mu_law_encode

__all__ = ["Dataset", "BatchLoader", "get_dataset", "list_datasets", "describe_dataset",
           "binarize", "bernoulli_binarize", "dequantize", "scale", "load_digits", "load_mnist",
           "read_idx", "write_idx", "download", "download_dataset", "sha256_of", "toy",
           "gaussian_mixture_log_prob", "mu_law_encode", "mu_law_decode", "SPLITS",
           "DatasetNotFoundError", "IDXFormatError", "ChecksumError"]

TOY_SIZES = {"train": 10000, "val": 2000, "test": 2000}
SIGNAL_SIZES = {"train": 2000, "val": 250, "test": 250}

_DESCRIPTIONS = {
    "digits": "scikit-learn 8x8 digits (embedded), 17 levels, 1000/350/447",
    "mnist": "MNIST 28x28 from IDX files, 256 levels, 50000/10000/10000",
    "fashion-mnist": "Fashion-MNIST 28x28 from IDX files, 256 levels, 50000/10000/10000",
    "moons": "2-D two moons", "circles": "2-D concentric circles",
    "8gaussians": "2-D ring of 8 Gaussians", "checkerboard": "2-D checkerboard",
    "swissroll": "2-D Swiss roll", "pinwheel": "2-D pinwheel with 5 arms",
    "mixture-1d": "1-D mixture of 3 Gaussians",
    "sinusoids": "1-D sums of sinusoids, mu-law quantised to 256 levels (WaveNet)",
    "speech": "spoken digits synthesised by espeak-ng, 8 kHz, mu-law 256 levels (python -m minigen.data speech)",
}


def list_datasets():
    """Names accepted by ``get_dataset``, in the order of the table above.

    Returns:
        List of str.
    """
    return list(_DESCRIPTIONS)


def describe_dataset(name):
    """One line saying what ``name`` is.

    Args:
        name: a registry name.

    Returns:
        str.
    """
    _check_name(name)
    return _DESCRIPTIONS[name]


def _check_name(name):
    if name not in _DESCRIPTIONS:
        raise KeyError(f"unknown data set {name!r}; choose one of {list_datasets()}")


def _split_rng(name, split, seed):
    """The generator of one split of a generated data set (see the module docstring)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), SPLITS.index(split)])


def get_dataset(name, split="train", root=None, *, n=None, seed=0, view="raw", **kwargs):
    """Load or generate one split of a data set by name.

    Args:
        name: one of ``list_datasets()``.
        split: ``"train"``, ``"val"`` (or ``"validation"``) or ``"test"``.
        root: folder to look in first for IDX files (mnist, fashion-mnist).
        n: number of examples of a generated set (default: 10000 / 2000 / 2000 points
            for toy sets, 2000 / 250 / 250 signals for sinusoids).
        seed: seed of a generated set.
        view: ``"raw"`` (integers as stored), ``"binary"`` (``x >= num_levels // 2``)
            or ``"scaled"`` (``x / (num_levels - 1)``); the last two give float32.
        **kwargs: passed to the toy generator (e.g. ``noise=0.05``), or for
            ``sinusoids`` ``length``, ``num_levels`` and those of ``toy.make_sinusoids``.

    Returns:
        A ``Dataset``.

    Raises:
        KeyError: unknown name.
        TypeError: ``n`` or generator arguments given for a stored data set.
        DatasetNotFoundError: IDX files not found (the message says how to get them).
    """
    _check_name(name)
    split = canonical_split(split)
    if name in ("digits", "mnist", "fashion-mnist") and (n is not None or kwargs):
        raise TypeError(f"{name} is stored, not generated: n and {sorted(kwargs)} do not apply")
    if name == "digits":
        ds = load_digits(split)
    elif name in ("mnist", "fashion-mnist"):
        ds = load_mnist(name, split, root)
    elif name == "speech":
        from .speech import load_speech
        if n is not None or set(kwargs) - {"length"}:
            raise TypeError(f"speech takes length=, not n or {sorted(set(kwargs) - {'length'})}")
        ds = load_speech(split, root, **kwargs)
    elif name == "sinusoids":
        num_levels = kwargs.pop("num_levels", 256)
        signals, _ = toy.make_sinusoids(n or SIGNAL_SIZES[split], _split_rng(name, split, seed), **kwargs)
        x = mu_law_encode(signals, num_levels)[:, None, :]  # (N, 1, T)
        ds = Dataset(x.astype(np.uint8 if num_levels <= 256 else np.int64), None, name, split,
                     num_levels=num_levels)
    else:
        make = toy.make_gaussian_mixture_1d if name == "mixture-1d" else toy.TOY_2D[name]
        x, y = make(n or TOY_SIZES[split], _split_rng(name, split, seed), **kwargs)
        ds = Dataset(x, y, name, split)
    if view == "binary":
        return ds.binarized()
    if view == "scaled":
        return ds.scaled()
    if view != "raw":
        raise ValueError(f"unknown view {view!r}; choose 'raw', 'binary' or 'scaled'")
    return ds
