"""Step 10: PixelRNN: the Row LSTM and the Diagonal BiLSTM, and what each pixel gets to see.

PixelRNN (minigen/models/autoregressive/pixelrnn.py; van den Oord et al. 2016, "Pixel
Recurrent Neural Networks") keeps PixelCNN's product of conditionals in raster order and
replaces the stacked masked convolutions by two-dimensional LSTMs:

* the **Row LSTM** (§3.1) runs down the image one row at a time: a masked 1x3
  input-to-state convolution along the row and a 1x3 state-to-state convolution of the
  row above. Each row up, the context widens by one column on each side: a *triangle*.
* the **Diagonal BiLSTM** (§3.2) *skews* the map (row r shifted right by r) so that
  diagonals become columns, runs a column LSTM whose 2x1 state-to-state convolution
  reads the pixel above and the pixel to the left, once from the left and once from the
  right, and shifts the right-to-left output down one row so that nothing from the
  pixel's own row to its right leaks in. Its context is every earlier pixel, but one:
  on 8x8 digits, for j < 4, the last pixel of the row above (the 7x7 mask-A first
  layer never places it inside a feature that reaches (i, j); see ``dependency_mask``).

This example

1. prints a skewed 4x5 image, the index map of §3.2;
2. saves receptive_fields.png: for one output pixel, the input pixels whose values
   change its logits (measured by backprop), for PixelCNN (the blind spot), the Gated
   PixelCNN (step 09), the Row LSTM (a triangle) and the Diagonal BiLSTM;
3. trains both PixelRNNs with the run layer, prints their test NLLs next to PixelCNN's
   82.32, and saves samples.png, one row per model, drawn pixel by pixel.

The full protocol (cap 200 epochs, patience 20) is
``python -m minigen train row-lstm|diagonal-bilstm --config digits-reference``; this
example stops earlier to finish in a few minutes.

Run:  python examples/10_pixelrnn.py            (a few minutes on a laptop CPU)
      python examples/10_pixelrnn.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os

import numpy as np
from matplotlib.figure import Figure

from autograd import Tensor
from minigen.data import get_dataset
from minigen.models import build_model
from minigen.models.autoregressive.pixelrnn import skew
from minigen.plots import labelled_rows
from minigen.run import train

PIXELCNN = 82.32       # README: python -m minigen train pixelcnn --config digits-reference
FIELDS = (((1, 8, 8), (6, 2)), ((1, 16, 16), (12, 8)))   # (image shape, output pixel) of each row of panels

COLOURS = {"pixel": (0.85, 0.1, 0.1), "seen": (1.0, 1.0, 1.0), "missed": (1.0, 0.6, 0.0),
           "later": (0.15, 0.15, 0.2)}


def show_skew():
    """A 4x5 image with pixels numbered 1..20, skewed to 4x8: each diagonal becomes a column."""
    x = np.arange(1, 21, dtype=float).reshape(1, 1, 4, 5)
    print("image:            skewed (row r shifted right by r):")
    s = skew(Tensor(x)).data[0, 0]
    for r in range(4):
        print("  " + " ".join(f"{v:2.0f}" for v in x[0, 0, r]) + "      "
              + " ".join(" ." if v == 0 else f"{v:2.0f}" for v in s[r]))


def receptive_field(model, i, j):
    """(H, W) bool: the input pixels that feed the logits of pixel (i, j), by backprop of a
    gradient on that pixel's logits alone."""
    _, H, W = model.data_shape
    x = Tensor(np.random.default_rng(0).integers(0, model.num_levels, (1, 1, H, W)).astype(np.float64),
               requires_grad=True)
    logits = model.logits(x)                                           # (1, 1, L, H, W)
    gy = np.zeros(logits.shape)
    gy[0, 0, :, i, j] = 1.0
    logits.backward(Tensor(gy))
    return x.grad.numpy()[0, 0] != 0


def field_picture(fields, path):
    """One panel per model and image size: the pixel (red), earlier pixels it sees (white),
    earlier pixels it never sees (orange) and later pixels (dark).

    Args:
        fields: rows of ``(label, (i, j), seen (H, W) bool)``, one row per image size.
    """
    rows, cols = len(fields), len(fields[0])
    fig = Figure(figsize=(2.6 * cols, 2.9 * rows + 0.3))
    for k, (label, (i, j), seen) in enumerate(f for row in fields for f in row):
        H, W = seen.shape
        rank = np.arange(H * W).reshape(H, W)
        picture = np.empty((H, W, 3))
        picture[rank > i * W + j] = COLOURS["later"]
        picture[rank < i * W + j] = COLOURS["missed"]
        picture[seen] = COLOURS["seen"]
        picture[i, j] = COLOURS["pixel"]
        missed = int((rank < i * W + j).sum() - seen.sum())
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(picture, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, W), minor=True), ax.set_yticks(np.arange(-0.5, H), minor=True)
        ax.grid(which="minor", color=(0.5, 0.5, 0.5), linewidth=0.5)
        ax.set_xticks([]), ax.set_yticks([])
        ax.tick_params(which="both", length=0)
        ax.set_title(f"{label}\n{H}x{W}, pixel {(i, j)}: {missed} unseen", fontsize=9)
    fig.suptitle("the digits networks' receptive fields: seen (white), never seen (orange), the pixel (red), "
                 "later pixels (dark)", fontsize=10)
    fig.savefig(path, dpi=100)
    return path


def main(tiny=False, out_dir="runs/10_pixelrnn", epochs=None):
    os.makedirs(out_dir, exist_ok=True)
    test = get_dataset("digits", "test")
    L, D = test.num_levels, int(np.prod(test.shape))
    show_skew()

    preset = "digits-tiny" if tiny else "digits-reference"
    # the digits-reference kernels and layers (8 channels: the field does not depend on them),
    # on the 8x8 digits and on a 16x16 canvas where the shapes have room to show
    nets = (("PixelCNN", "pixelcnn"), ("Gated PixelCNN", "gated-pixelcnn"), ("Row LSTM", "row-lstm"),
            ("Diagonal BiLSTM", "diagonal-bilstm"))
    fields = [[(label, pixel, receptive_field(build_model(name, "digits-reference", rng=0, dtype=np.float64,
                                                          data_shape=shape, hidden=8, head=8), *pixel))
               for label, name in nets] for shape, pixel in FIELDS]
    paths = [field_picture(fields, os.path.join(out_dir, "receptive_fields.png"))]

    epochs = epochs or (1 if tiny else 60)
    rows, results, rng = [], {}, np.random.default_rng(1)
    for label, name in (("Row LSTM", "row-lstm"), ("Diagonal BiLSTM", "diagonal-bilstm")):
        print(f"== {name} --config {preset} (at most {epochs} epochs)")
        result = train(name, preset, progress=False, figures=False, epochs=epochs)
        model, report = result.model.eval(), result.report
        best_epoch = result.best["step"] / math.ceil(1000 / 64)
        print(f"{label}: {model.num_parameters():,} parameters, test NLL {report['nll']:.2f} nats "
              f"({report['bpd']:.4f} bits/dim), best epoch {best_epoch:.0f}, {result.seconds:.0f} s")
        results[name] = report
        rows.append((f"{label}: test NLL {report['nll']:.2f} nats", model.sample(8 if tiny else 16, rng)))
    print(f"PixelCNN {PIXELCNN}, uniform {D * math.log(L):.2f}")
    paths.append(labelled_rows(rows, os.path.join(out_dir, "samples.png"), levels=L, title=
                             f"PixelRNN samples, drawn pixel by pixel ({epochs} epochs at most)"))
    for path in paths:
        print(f"saved {path}")
    return results


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--epochs", type=int, default=None, help="at most this many epochs per model (default 60)")
    p.add_argument("--out", default="runs/10_pixelrnn", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out, epochs=args.epochs)
