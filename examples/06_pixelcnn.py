"""Step 06: PixelCNN on 8x8 digits: masked convolutions, an exact likelihood, sampling pixel by pixel.

PixelCNN (minigen/models/autoregressive/pixelcnn.py) models an image as a product of conditionals in
raster order, p(x) = prod_i p(x_i | x_<i), each a 17-way categorical over the digits'
levels 0..16. Masked convolutions (minigen/nn/masked.py, kernels/taps.py) make the
network's output at pixel i depend on pixels before i only. This example

1. prints the masks and, measured with backward, which input pixels feed one output
   pixel: on 8x8 digits the 7x7 first layer sees everything before the pixel; a
   smaller PixelCNN on 9x9 images shows the "blind spot" up and to the right that
   stacked masked convolutions leave ([2] in the PixelCNN docstring);
2. trains the digits-reference architecture with Adam, evaluating the validation NLL
   after every epoch and keeping the best weights, and reports the test NLL in nats per
   image and bits/dim next to two baselines: the uniform model and independent
   per-pixel categoricals with add-one smoothing (counted here by hand, and checked
   against the registered ``independent`` model, minigen/models/classical/independent.py);
3. saves a grid of samples (drawn one pixel at a time) and the completion of test
   digits whose lower half is hidden: originals, occluded inputs, completions.

The model file holds only the paper (``logits`` and the masks); the likelihood, the
loss, sampling and completion are the autoregressive family's
(minigen/models/autoregressive/base.py), and ``train_step`` is the base class's
zero_grad / backward / step on ``loss(batch)`` (minigen/models/base.py).

The full reference protocol (100-epoch cap, patience 20) is
``python -m minigen train pixelcnn --config digits-reference``; this example trains
for fewer epochs so that it finishes in a few minutes on a CPU.

Run:  python examples/06_pixelcnn.py            (a few minutes on a laptop CPU)
      python examples/06_pixelcnn.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os
import time

import numpy as np

from autograd import Tensor
from autograd.ops import taps
from minigen.data import BatchLoader, get_dataset
from minigen.models import build_model
from minigen.models.autoregressive.pixelcnn import PixelCNN
from minigen.models.registry import TrainConfig
from minigen.plots import completions, image_grid


def show_masks():
    """Print 7x7 mask A and 3x3 mask B as the layers use them (1 = live tap)."""
    for k, kind in ((7, "A"), (3, "B")):
        mask = taps.taps_to_mask(taps.pixelcnn_taps(k, kind), k).astype(int)   # kernels/taps.py
        print(f"{k}x{k} mask {kind} ({mask.sum()} of {k * k} taps live):")
        print("\n".join("    " + " ".join(map(str, row)) for row in mask))


def receptive_field(model, i, j):
    """Which input pixels feed output pixel (i, j): backprop a one-hot gradient at it.

    Returns:
        An ASCII picture: ``X`` the output pixel, ``#`` a pixel that feeds it, ``.`` one that
        does not (every pixel after (i, j) must be ``.``; some before it are too: the blind spot).
    """
    _, H, W = model.data_shape
    x = Tensor(np.random.default_rng(0).integers(0, model.num_levels, (1, 1, H, W)).astype(np.float32),
               requires_grad=True)
    logits = model.logits(x)                                           # (1, 1, L, H, W)
    gy = np.zeros(logits.shape, np.float32)
    gy[0, 0, :, i, j] = 1.0
    logits.backward(Tensor(gy))
    feeds = x.grad.numpy()[0, 0] != 0                                  # (H, W)
    rows = ["".join("X" if (r, c) == (i, j) else "#" if feeds[r, c] else "." for c in range(W))
            for r in range(H)]
    return "\n".join("    " + row for row in rows)


def independent_baseline(train_x, test_x, levels):
    """NLL (nats per image) of independent per-pixel categoricals, add-one smoothed counts."""
    tr = train_x.reshape(len(train_x), -1).astype(np.int64)           # (N, D)
    te = test_x.reshape(len(test_x), -1).astype(np.int64)              # (M, D)
    counts = np.stack([np.bincount(tr[:, d], minlength=levels) for d in range(tr.shape[1])]) + 1
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))         # (D, L)
    return float(-log_p[np.arange(te.shape[1]), te].sum(axis=1).mean())


def fit(model, train_x, val_x, epochs, batch_size, lr, seed=0):
    """Adam on the mean NLL; the validation NLL after every epoch, keeping the best weights.

    Returns:
        ``(best validation NLL, best epoch)``; the model holds the best weights on return.
    """
    loader = BatchLoader(train_x, batch_size=batch_size, rng=np.random.default_rng(seed))
    model.configure_optimizers(TrainConfig(lr=lr, batch_size=batch_size), total_steps=epochs * len(loader))
    best, best_epoch, best_state = math.inf, 0, None
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for xb in loader:
            model.train_step(xb)                       # loss(xb) -> zero_grad, backward, Adam step
        val = model.eval().eval_step(val_x)
        if val["nll"] < best:
            best, best_epoch, best_state = val["nll"], epoch, model.state_dict()
        print(f"  epoch {epoch:3d}  val NLL {val['nll']:8.3f} nats  ({val['bpd']:.4f} bits/dim)"
              f"  {time.perf_counter() - t0:6.1f} s")
    model.load_state_dict(best_state)
    return best, best_epoch


def main(tiny=False, out_dir="runs/06_pixelcnn", epochs=None):
    os.makedirs(out_dir, exist_ok=True)
    train, val, test = (get_dataset("digits", s) for s in ("train", "val", "test"))
    L, D = train.num_levels, int(np.prod(train.shape))
    model = build_model("pixelcnn", "digits-tiny" if tiny else "digits-reference", rng=0)

    show_masks()
    print("input pixels feeding output pixel (4, 4) of the digits model:")
    print(receptive_field(model, 4, 4))
    small = PixelCNN((1, 9, 9), L, hidden=8, num_blocks=3, head=8, first_kernel=3, rng=0)
    print("... and pixel (6, 4) of a PixelCNN with a 3x3 first layer and 3 blocks (blind spot):")
    print(receptive_field(small, 6, 4))

    print(f"PixelCNN on digits ({model.num_parameters():,} parameters)")
    epochs = epochs or (1 if tiny else 30)
    best, best_epoch = fit(model, train.x, val.x, epochs=epochs, batch_size=64, lr=1e-3)
    model.eval()
    m = model.eval_step(test.x)
    uniform = D * math.log(L)
    independent = independent_baseline(train.x, test.x, L)
    counted = build_model("independent", rng=0).fit(train)          # the same baseline, registered
    assert abs(-counted.log_prob(test.x).mean() - independent) < 1e-6
    print(f"best epoch {best_epoch} (val NLL {best:.3f})")
    print(f"test NLL {m['nll']:.2f} nats per image ({m['bpd']:.4f} bits/dim); baselines: "
          f"uniform {uniform:.2f}, independent pixels {independent:.2f}")

    rng = np.random.default_rng(1)
    samples = model.sample(16 if tiny else 64, rng)
    paths = [image_grid(samples, os.path.join(out_dir, "samples.png"), nrow=8, levels=L,
                        title="PixelCNN samples, drawn pixel by pixel")]
    originals = test.x[:4 if tiny else 16]
    occluded, completed = model.complete_lower_half(originals, rng)
    paths.append(completions(originals, occluded, completed, os.path.join(out_dir, "completions.png"),
                             title="PixelCNN: lower halves hidden, then sampled", levels=L))
    for path in paths:
        print(f"saved {path}")
    return {"test_nll": m["nll"], "test_bpd": m["bpd"], "best_epoch": best_epoch,
            "uniform": uniform, "independent": independent}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 30)")
    p.add_argument("--out", default="runs/06_pixelcnn", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out, epochs=args.epochs)
