"""The feature space of the sample metrics: minigen's own digit classifier, trained once, cached.

FID, KID and precision/recall compare *features*, not pixels: distances between the
penultimate activations of a classifier are closer to what makes two images look
alike than pixel distances are. Papers use an ImageNet Inception network; minigen
has none and needs no download, so the classifier is the ``mlp`` of
``minigen/models/classifier.py`` trained on the digits' training split with its
``digits-reference`` preset (about 96 % test accuracy, seed 0), and the features are
its hidden layer, ``relu(W1 x + b1)`` (512 numbers per image, ``MLPClassifier.features``).

The classifier is trained deterministically the first time it is needed and cached as
an ordinary run folder under ``$MINIGEN_CACHE`` (default ``~/.cache/minigen``)::

    ~/.cache/minigen/classifier-digits-mlp-digits-reference/   config.json, best.npz, ...
                                                               classifier.json (accuracies)

It is trained into a temporary folder and renamed, so two processes never see a
half-written cache. Delete the folder to retrain. FIDs are comparable only between
numbers computed with the same classifier: its accuracy is reported with every table.

Images are compared in the classifier's view, ``x / (L - 1)`` in [0, 1] (``to_unit``).
"""
import json
import os
import shutil

import numpy as np

from autograd import as_numpy

__all__ = ["cache_dir", "digits_classifier", "digits_features", "to_unit"]

_LOADED = {}


def cache_dir():
    """``$MINIGEN_CACHE``, else ``~/.cache/minigen`` (created)."""
    path = os.environ.get("MINIGEN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "minigen")
    os.makedirs(path, exist_ok=True)
    return path


def to_unit(x, num_levels=None):
    """Images on [0, 1] as float64: integer data (or ``num_levels`` given) divided by
    ``num_levels - 1``; float data (already a scaled view) clipped to [0, 1]."""
    x = np.asarray(as_numpy(getattr(x, "data", x)))
    if num_levels is not None or np.issubdtype(x.dtype, np.integer):
        if num_levels is None:
            raise ValueError("integer images need num_levels (17 for the digits) to be put on [0, 1]")
        return x.astype(np.float64) / (num_levels - 1)
    return np.clip(x.astype(np.float64), 0.0, 1.0)


def digits_classifier(preset="digits-reference", progress=False, **settings):
    """The cached digit classifier (trained on first use) and its accuracies.

    Args:
        preset: the ``mlp`` preset to train with.
        progress: show the training's progress bar.
        **settings: ``TrainConfig`` overrides (e.g. ``epochs=3`` for a quick test); they
            name a separate cache folder.

    Returns:
        ``(model, info)``: the ``MLPClassifier`` in eval mode (best validation parameters,
        EMA weights) and ``{"val_accuracy", "test_accuracy", "path"}``.
    """
    from ..data import get_dataset
    from ..run import load_run, train
    tag = "-".join([preset] + [f"{k}{v}" for k, v in sorted(settings.items())])
    path = os.path.join(cache_dir(), f"classifier-digits-mlp-{tag}")
    if path in _LOADED:
        return _LOADED[path]
    info_path = os.path.join(path, "classifier.json")
    if not os.path.exists(info_path):
        tmp = f"{path}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        train("mlp", preset, out=tmp, progress=progress, figures=False, **settings)
        model, _ = load_run(tmp)
        accuracy = {split: float(model.evaluate(get_dataset("digits", split, view="scaled"))["accuracy"])
                    for split in ("val", "test")}
        with open(os.path.join(tmp, "classifier.json"), "w") as f:
            json.dump({"val_accuracy": accuracy["val"], "test_accuracy": accuracy["test"]}, f, indent=2)
        try:
            os.rename(tmp, path)                      # atomic; fails if another process won the race
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    model, _ = load_run(path)
    with open(info_path) as f:
        info = {**json.load(f), "path": path}
    _LOADED[path] = (model, info)
    return model, info


def digits_features(x, num_levels=None, classifier=None, batch_size=512):
    """The classifier's hidden-layer features (N, 512) of 8x8 digit images (N, 1, 8, 8).

    Args:
        x: images, raw integers (give ``num_levels``) or a [0, 1] float view.
        num_levels: levels of integer images (17 for the digits).
        classifier: an ``MLPClassifier`` (default: ``digits_classifier()``'s).
    """
    model = classifier if classifier is not None else digits_classifier()[0]
    x = to_unit(x, num_levels).astype(model.fc1.weight.dtype)
    return np.concatenate([np.asarray(as_numpy(model.features(x[i:i + batch_size])), np.float64)
                           for i in range(0, len(x), batch_size)])
