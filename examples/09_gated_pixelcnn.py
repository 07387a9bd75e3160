"""Step 09: the Gated PixelCNN: no blind spot, gated units, and digits drawn to order.

PixelCNN (step 06) stacks masked convolutions, and its receptive field misses a wedge
above and to the right of every pixel: the blind spot. The Gated PixelCNN
(minigen/models/autoregressive/gated_pixelcnn.py; van den Oord et al. 2016, "Conditional
Image Generation with PixelCNN Decoders") splits the network into two stacks:

* the *vertical stack* sees whole rows above the pixel (a k x (k//2+1) kernel), and is
  fed into the horizontal stack only after a *down-shift* of one row;
* the *horizontal stack* sees the pixels to the left in the pixel's own row (1 x (k//2+1));
* every layer uses the gated unit tanh(W_f * x) ⊙ sigmoid(W_g * x), a residual connection
  on the horizontal stack and a skip connection to the output head;
* with a class label h, every gate gets a learned bias V^T h: the model is p(x | h).

This example

1. prints the stacks' live taps and counts, for both networks of the digits presets, the
   (output, earlier input) pairs that never feed: 125 for PixelCNN, 0 here;
2. trains the class-conditional model (``digits-conditional``) with the run layer and
   reports its test NLL given the label, -log p(x | y), and the marginal
   -log (1/10 sum_y p(x | y)), which compares with unconditional models (PixelCNN 82.32);
3. saves class_rows.png: ten samples of every digit class, one row per class, each drawn
   pixel by pixel from p(x | y).

The full protocol (cap 200 epochs, patience 20) is
``python -m minigen train gated-pixelcnn --config digits-reference`` (or
``digits-conditional``); this example stops earlier to finish in a few minutes.

Run:  python examples/09_gated_pixelcnn.py            (a few minutes on a laptop CPU)
      python examples/09_gated_pixelcnn.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os

import numpy as np

from autograd.ops import taps
from minigen.data import get_dataset
from minigen.models import build_model
from minigen.plots import labelled_rows
from minigen.run import train

PIXELCNN = 82.32       # README: python -m minigen train pixelcnn --config digits-reference


def show_taps():
    """The first layer's and a later layer's stacks, as the layers use them (1 = live tap)."""
    for what, t, k in (("vertical stack, first layer (4x7 of 7x7)", taps.vertical_stack_taps(7, "B"), 7),
                       ("horizontal stack, first layer (1x4, centre excluded)",
                        taps.horizontal_stack_taps((1, 7), "A"), (1, 7)),
                       ("vertical stack, later layers (2x3 of 3x3)", taps.vertical_stack_taps(3, "B"), 3),
                       ("horizontal stack, later layers (1x2)", taps.horizontal_stack_taps((1, 3), "B"), (1, 3))):
        mask = taps.taps_to_mask(t, k).astype(int)
        print(f"{what}:")
        print("\n".join("    " + " ".join(map(str, row)) for row in mask))


def never_feed(model):
    """(output, earlier input) pairs the receptive field misses, from ``dependency_mask``."""
    rank = model.order()
    return int(((rank[None, :] < rank[:, None]) & ~model.dependency_mask()).sum())


def main(tiny=False, out_dir="runs/09_gated_pixelcnn", epochs=None):
    os.makedirs(out_dir, exist_ok=True)
    test = get_dataset("digits", "test")
    L, D = test.num_levels, int(np.prod(test.shape))

    show_taps()
    for name, preset in (("pixelcnn", "digits-reference"), ("gated-pixelcnn", "digits-reference")):
        print(f"{name} {preset}: {never_feed(build_model(name, preset, rng=0))} (output, earlier input) "
              "pairs never feed")

    preset = "digits-tiny" if tiny else "digits-conditional"
    epochs = epochs or (1 if tiny else 15)
    print(f"== gated-pixelcnn --config {preset} (at most {epochs} epochs)")
    result = train("gated-pixelcnn", preset, progress=False, figures=False, epochs=epochs)
    model, report = result.model.eval(), result.report
    print(f"{model.num_parameters():,} parameters; best epoch {result.best['step'] / math.ceil(1000 / 64):.0f}, "
          f"{result.seconds:.0f} s")
    print(f"test -log p(x | y) {report['nll']:.2f} nats ({report['bpd']:.4f} bits/dim); "
          f"marginal -log p(x) {report['marginal_nll']:.2f} ({report['marginal_bpd']:.4f}); "
          f"PixelCNN {PIXELCNN}, uniform {D * math.log(L):.2f}")

    per = 4 if tiny else 10
    labels = np.repeat(np.arange(10), per)
    samples = model.sample(len(labels), np.random.default_rng(1), labels)
    path = labelled_rows([(str(k), samples[labels == k]) for k in np.unique(labels)],
                         os.path.join(out_dir, "class_rows.png"), levels=L, title=
                         "Gated PixelCNN: samples of p(x | y), one row per class y")
    print(f"saved {path}")
    return {"test_nll": report["nll"], "marginal_nll": report["marginal_nll"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--epochs", type=int, default=None, help="at most this many epochs (default 15)")
    p.add_argument("--out", default="runs/09_gated_pixelcnn", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out, epochs=args.epochs)
