"""Every sample metric of one model in one call: what ``python -m minigen eval --metrics`` runs.

::

    from minigen.metrics import sample_metrics
    x = model.sample(1000, np.random.default_rng(0))           # raw levels or a [0, 1] view
    sample_metrics(x, test, names=["fid", "kid", "precision", "recall", "c2st"], num_levels=17)

Where each metric looks (the digits; ``features`` = the cached classifier's hidden layer):

    fid, kid, precision, recall   features   (distances.py, manifold.py)
    mmd                           pixels     Gaussian kernel, median bandwidth
    c2st                          pixels     an MLP tells data from samples; held-out ROC AUC
    parzen                        pixels     needs the validation split (bandwidth)
    memorisation                  pixels     needs the training split

All pixels are on [0, 1] (``features.to_unit``). The reference rows of the sample-quality
table are the same call with data in place of samples: the training images against the
test images (what a perfect model that does not copy would score, up to the size of the
sets) and samples of the independent-pixel baseline.
"""
import numpy as np

from .c2st import c2st
from .distances import fid, kid, mmd
from .features import digits_features, to_unit
from .manifold import memorisation, precision_recall
from .parzen import parzen

__all__ = ["METRICS", "DEFAULT_METRICS", "sample_metrics", "parse_metrics"]

METRICS = ("fid", "kid", "precision", "recall", "mmd", "c2st", "parzen", "memorisation")
DEFAULT_METRICS = ("fid", "kid", "precision", "recall", "c2st")


def parse_metrics(text):
    """``"fid,kid"`` -> ``["fid", "kid"]``; ``"all"`` -> every metric; unknown names are an error."""
    names = list(METRICS) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(f"--metrics {text!r}: unknown metric(s) {unknown}; choose from "
                         f"{', '.join(METRICS)} or 'all'")
    return names


def _arrays(data, num_levels):
    """A split (``Dataset``) or an array -> ([0, 1] float64 images, num_levels)."""
    if hasattr(data, "x"):
        return to_unit(data.x, data.num_levels), data.num_levels
    return to_unit(data, num_levels), num_levels


def sample_metrics(samples, real, names=DEFAULT_METRICS, *, train=None, val=None, num_levels=None,
                   rng=None, classifier=None):
    """The named metrics of ``samples`` against the ``real`` images.

    Args:
        samples: generated images (n, 1, 8, 8): raw integers (``num_levels`` given) or [0, 1].
        real: the reference split, a ``Dataset`` (any view) or an array like ``samples``.
        names: metrics among ``METRICS``.
        train: training images (``memorisation``); val: validation images (``parzen``).
        num_levels: levels of integer ``samples`` / arrays (17 for the digits).
        rng: ``numpy.random.Generator`` of KID's subsets and the C2ST (default seed 0).
        classifier: the feature network (default: the cached ``digits_classifier``).

    Returns:
        ``{name: float}``: fid, kid (and kid_std), precision, recall, mmd, c2st_auc (and
        c2st_accuracy), parzen (test nats, with parzen_sigma), memorised (fraction of
        samples closer to a training image than 95 % of test images are).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    x = to_unit(samples, num_levels if np.issubdtype(np.asarray(samples).dtype, np.integer) else None)
    r, levels = _arrays(real, num_levels)
    out = {}
    if {"fid", "kid", "precision", "recall"} & set(names):
        fx, fr = digits_features(x, classifier=classifier), digits_features(r, classifier=classifier)
        if "fid" in names:
            out["fid"] = fid(fr, fx)
        if "kid" in names:
            out["kid"], out["kid_std"] = kid(fr, fx, rng=rng)
        if "precision" in names or "recall" in names:
            out["precision"], out["recall"] = precision_recall(fr, fx)
    if "mmd" in names:
        out["mmd"] = mmd(r, x)
    if "c2st" in names:
        result = c2st(r, x, rng=rng)
        out["c2st_auc"], out["c2st_accuracy"] = result["auc"], result["accuracy"]
    if "parzen" in names:
        if val is None:
            raise ValueError("the Parzen estimate needs the validation split (val=) to choose its bandwidth")
        result = parzen(x, _arrays(val, levels)[0], r)
        out["parzen"], out["parzen_sigma"] = result["test"], result["sigma"]
    if "memorisation" in names:
        if train is None:
            raise ValueError("the memorisation check needs the training split (train=)")
        out["memorised"] = memorisation(x, _arrays(train, levels)[0], r)["fraction_close"]
    return out


def run_sample_metrics(run_dir, names=DEFAULT_METRICS, split="test", which=None, n=1000, device="cpu"):
    """The sample metrics of a trained run: ``model.sample(n, rng)`` against ``split``.

    The samples are drawn with ``default_rng([seed, 4])`` and the metrics' own randomness
    with ``default_rng([seed, 5])`` (``seed``: the run's), so the figures are reproducible.
    n = 1000 by default: the size of the training split, so the reference row "training
    images against test images" compares sets of the same sizes.

    Returns:
        ``{"split", "which", "samples": n, metric: value, ...}``.
    """
    from autograd import no_grad
    from ..data import get_dataset
    from ..run import load_run
    model, config = load_run(run_dir, which, device)
    data = config["train"]["data"]
    if data != "digits":
        raise ValueError(f"the sample metrics compare features of minigen's digit classifier; this run "
                         f"was trained on {data!r}, not on the digits")
    if not model.is_generative:
        raise ValueError(f"{config['model']} is not a generative model: it has no samples to judge")
    seed = config["train"]["seed"]
    with no_grad():
        x = model.sample(n, np.random.default_rng([seed, 4]))
    splits = {s: get_dataset(data, s) for s in ("train", "val", split)}
    values = sample_metrics(x, splits[split], names, train=splits["train"], val=splits["val"],
                            num_levels=getattr(model, "num_levels", None) or splits[split].num_levels,
                            rng=np.random.default_rng([seed, 5]))
    return {"split": split, "which": which, "samples": n, **values}
