"""Step 08: the three simplest autoregressive models of the digits: FVSBN, NADE and MADE.

All three write p(x) = prod_i p(x_i | x_<i) with a 17-way softmax per pixel, and differ
only in how the logits of pixel i are computed from the pixels before it:

* FVSBN (minigen/models/autoregressive/fvsbn.py): an affine function of the earlier
  pixels, a strictly lower-triangular weight W[i, j, l]; no hidden units.
* NADE (nade.py): one hidden layer of 256 sigmoid units whose weights are *shared* by
  every conditional, h_i = sigm(c + W[:, <i] x_<i), so a running sum gives all 64
  hidden layers in O(HD) instead of O(HD^2).
* MADE (made.py): an ordinary MLP 64 -> 512 -> 512 -> 64 x 17 whose weights are
  multiplied by 0/1 masks built from connectivity numbers m(k); with 8 masks trained
  in turn (random orderings) it is an ensemble of 8 autoregressive models whose
  probabilities are averaged at test time.

This example trains each of them with the run layer (``minigen.run.train``: Adam,
validation NLL after every epoch, the best epoch's weights kept), prints their test
NLLs next to the independent-pixel baseline (106.47 nats), PixelCNN's 82.32 and the
uniform model (181.33), and saves

* samples.png: one row of samples per model, drawn pixel by pixel;
* made_masks.png: MADE's masks M^W1, M^W2, M^V (units sorted by m(k): staircases) and
  the pixels each output depends on, their product.

The full protocol (cap 200 epochs, patience 20) is
``python -m minigen train fvsbn|nade|made --config digits-reference`` (and
``made --config digits-ensemble``); this example stops earlier to finish in minutes.

Run:  python examples/08_fvsbn_nade_made.py            (a few minutes on a laptop CPU)
      python examples/08_fvsbn_nade_made.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os

import numpy as np
from matplotlib.figure import Figure

from minigen.data import get_dataset
from minigen.models import build_model
from minigen.models.autoregressive.made import made_masks
from minigen.plots import labelled_rows
from minigen.run import train

PIXELCNN = 82.32       # README: python -m minigen train pixelcnn --config digits-reference
INDEPENDENT = 106.47   # README: the independent-pixel baseline


def models(tiny):
    """(label, registered name, preset, constructor overrides) of each model trained here."""
    if tiny:
        return [("FVSBN", "fvsbn", "digits-tiny", {}), ("NADE", "nade", "digits-tiny", {}),
                ("MADE", "made", "digits-tiny", {}),
                ("MADE, 2 masks", "made", "digits-tiny", dict(num_masks=2, ordering="random"))]
    return [("FVSBN", "fvsbn", "digits-reference", {}), ("NADE", "nade", "digits-reference", {}),
            ("MADE", "made", "digits-reference", {}), ("MADE, 8 masks", "made", "digits-ensemble", {})]


def mask_picture(made, path):
    """MADE's masks of the mask set in use, units sorted by their numbers m(k), and the product:
    which input pixels each output pixel depends on (white = connected)."""
    m = made.numbers()
    order = [np.argsort(mk, kind="stable") for mk in m]                  # units sorted by m(k)
    (MW1, MW2), MV = made_masks(m)
    panels = [("M^W1 (hidden 1 x inputs)", MW1[order[1]][:, order[0]]),
              ("M^W2 (hidden 2 x hidden 1)", MW2[order[2]][:, order[1]]),
              ("M^V (outputs x hidden 2)", MV[order[0]][:, order[2]]),
              ("output depends on input", made.dependency_mask()[order[0]][:, order[0]])]
    fig = Figure(figsize=(13, 3.6))
    for i, (name, M) in enumerate(panels):
        ax = fig.add_subplot(1, 4, i + 1)
        ax.imshow(M, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle("MADE masks, eqs. (12)-(13), rows and columns sorted by connectivity number m(k)",
                 fontsize=10)
    fig.savefig(path, dpi=100)
    return path


def main(tiny=False, out_dir="runs/08_fvsbn_nade_made", epochs=None):
    os.makedirs(out_dir, exist_ok=True)
    train_split, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    L, D = train_split.num_levels, int(np.prod(train_split.shape))
    epochs = epochs or (1 if tiny else 40)
    independent = -build_model("independent", rng=0).fit(train_split).log_prob(test.x).mean()

    results, rows, trained, rng = [], [], {}, np.random.default_rng(1)
    for label, name, preset, kwargs in models(tiny):
        print(f"== {label}: {name} --config {preset} {kwargs or ''}(at most {epochs} epochs)")
        result = train(name, preset, model_kwargs=kwargs, progress=False, figures=False, epochs=epochs)
        model, report = result.model.eval(), result.report
        trained[label] = model
        results.append((label, model.num_parameters(), report, result.best["step"] / math.ceil(
            len(train_split) / 64), result.seconds))
        rows.append((label, model.sample(8 if tiny else 16, rng)))

    print(f"\ntest NLL, nats per image (bits/dim); uniform {D * math.log(L):.2f}, "
          f"independent pixels {independent:.2f} (README {INDEPENDENT}), PixelCNN {PIXELCNN}")
    for label, params, report, best_epoch, seconds in results:
        line = f"  {label:14s} {params:9,d} parameters  {report['nll']:7.2f} ({report['bpd']:.4f})"
        if "nll_ensemble" in report:
            line += f"  ensemble {report['nll_ensemble']:7.2f} ({report['bpd_ensemble']:.4f})"
        print(line + f"  best epoch {best_epoch:.0f}, {seconds:.0f} s")

    paths = [labelled_rows(rows, os.path.join(out_dir, "samples.png"), levels=L, title=
                         "samples, drawn pixel by pixel: " + ", ".join(r[0] for r in rows)),
             mask_picture(trained["MADE"], os.path.join(out_dir, "made_masks.png"))]
    for path in paths:
        print(f"saved {path}")
    return {label: report for label, _, report, _, _ in results}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--epochs", type=int, default=None, help="at most this many epochs per model (default 40)")
    p.add_argument("--out", default="runs/08_fvsbn_nade_made", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out, epochs=args.epochs)
