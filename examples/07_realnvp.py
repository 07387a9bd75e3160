"""Step 07: RealNVP, a normalizing flow, on 8x8 digits and on a 2-D toy.

A flow maps data x to a latent z = f(x) with an exact log-density

    log p(x) = log N(f(x); 0, I) + log|det df/dx|

(minigen/models/flows.py states the direction once: ``forward(x) -> (z, log_det_J)``,
``inverse(z) -> x``). RealNVP builds f from affine coupling layers
(minigen/models/realnvp.py). This example

1. trains the digits RealNVP (the digits-reference architecture, fewer epochs) on
   dequantised, logit-transformed pixels, reports the test NLL in nats per image and
   bits/dim, and saves a grid of samples next to real digits;
2. trains an MLP RealNVP on the two-moons toy and saves the learned density as a
   heatmap with model samples on top.

Run:  python examples/07_realnvp.py            (a few minutes on a laptop CPU)
      python examples/07_realnvp.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os

import numpy as np

from minigen.data import get_dataset
from minigen.models import build_model
from minigen.plots import density_2d, image_grid
from minigen.train import train


def digits(out_dir, tiny):
    train_set, val, test = (get_dataset("digits", s) for s in ("train", "val", "test"))
    preset = "digits-tiny" if tiny else "digits-reference"
    model = build_model("realnvp", preset, rng=0)
    print(f"RealNVP on digits ({preset}, {model.num_parameters():,} parameters); "
          f"a uniform model scores {64 * math.log(17):.2f} nats per image")
    # validation NLL after every epoch, keep the best parameters, stop after 10 bad epochs
    result = train(model, train_set, val_data=val, epochs=1 if tiny else 40, batch_size=64,
                   optim={"lr": 1e-3}, early_stopping=("val/nll", 10), progress=False)
    epoch = result.best["step"] / math.ceil(len(train_set) / 64)
    print(f"  best validation NLL {result.best['value']:.2f} nats at epoch {epoch:.0f} "
          f"({result.seconds:.0f} s)")
    metrics = model.test_report(test.x, draws=1 if tiny else 10)   # 10 dequantisations per image
    print(f"  test NLL {metrics['nll']:.2f} nats per image, {metrics['bpd']:.4f} bits/dim")
    samples = model.sample(32, np.random.default_rng(1))           # (32, 1, 8, 8) integers 0..16
    path = image_grid(np.concatenate([samples, test.x[:16]]), os.path.join(out_dir, "digits_samples.png"),
                      nrow=8, title="RealNVP samples (rows 1-4) and test digits (rows 5-6)", levels=17)
    print(f"  saved {path}")
    return metrics


def moons(out_dir, tiny):
    n = 1000 if tiny else 10000
    train_set, val = get_dataset("moons", "train", n=n), get_dataset("moons", "val", n=n // 5)
    model = build_model("realnvp", "moons", rng=0)
    print(f"RealNVP on two moons ({model.num_parameters():,} parameters)")
    result = train(model, train_set, val_data=val, epochs=1 if tiny else 30, batch_size=128,
                   optim={"lr": 3e-3}, keep_best=True, progress=False)
    best = result.best["value"]
    print(f"  best validation NLL {best:.3f} nats per point ({result.seconds:.0f} s)")
    samples = model.sample(1000, np.random.default_rng(2))         # (1000, 2)
    path = density_2d(model.log_prob, os.path.join(out_dir, "moons_density.png"), samples=samples,
                      grid=60 if tiny else 200, title=f"RealNVP density and samples (val NLL {best:.2f})")
    print(f"  saved {path}")
    return best


def main(tiny=False, out_dir="runs/07_realnvp"):
    os.makedirs(out_dir, exist_ok=True)
    return {"digits": digits(out_dir, tiny), "moons_val_nll": moons(out_dir, tiny)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/07_realnvp", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
