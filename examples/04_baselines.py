"""Baselines every likelihood in the README is measured against: uniform and independent pixels.

Before any network, two models of the 8x8 digits (64 pixels, 17 grey levels) that a
student can compute by hand:

* the **uniform** model gives every image probability 17^-64, so its NLL is
  64 log 17 = 181.33 nats per image, whatever the image;
* the **independent-pixel** model (``minigen.models.classical.independent``, registered as
  ``independent``) fits one 17-way categorical per pixel by counting the training images,
  with add-one smoothing: p_i(l) = (n_il + 1) / (n + 17). Its test NLL, 106.47 nats, is
  what a model gains by knowing *where* ink tends to be, and nothing more.

Every deep model's figure is read against these two: PixelCNN's 82.32 nats is 24 nats per
image below the independent model, and those 24 nats are what modelling the dependences
between pixels buys. The picture shows why: samples of the independent model are ink in
the right places with no strokes, next to real test digits.

This example trains ``independent`` through the run layer (``minigen.train``), exactly as
``python -m minigen train independent`` does, and draws the comparison.

Run:  python examples/04_baselines.py            (a second)
      python examples/04_baselines.py --tiny     (the smoke test's settings: the same)
"""
import argparse
import math
import os

import numpy as np

import minigen
from minigen.data import get_dataset
from minigen.plots import image_grid
from minigen.run import free_run_dir


def main(tiny=False, out_dir="runs/04_baselines"):
    """Fit the independent-pixel model, print both baselines' test NLL, save samples.png."""
    os.makedirs(out_dir, exist_ok=True)
    run = free_run_dir(os.path.join(out_dir, "independent"))
    result = minigen.train("independent", "digits-reference", out=run, progress=False)
    uniform = 64 * math.log(17)
    independent = result.report["nll"]
    print(f"uniform model:         {uniform:8.2f} nats per image  ({uniform / (64 * math.log(2)):.4f} bits/dim)")
    print(f"independent pixels:    {independent:8.2f} nats per image  ({result.report['bpd']:.4f} bits/dim)")
    model = result.model
    p = np.exp(model.log_probs()).reshape(8, 8, 17)                     # p_i(l) per pixel
    mean_image = (p * np.arange(17)).sum(axis=-1) / 16                  # E[x_i] / 16
    samples = model.sample(24, np.random.default_rng(0)) / 16.0         # (24, 1, 8, 8)
    real = get_dataset("digits", "test").x[:24] / 16.0
    grid = np.concatenate([real, samples, np.broadcast_to(mean_image, (8, 1, 8, 8))])
    path = image_grid(grid, os.path.join(out_dir, "samples.png"), nrow=8,
                      title="test digits (3 rows), independent-pixel samples (3 rows), its mean image")
    print(f"picture: {path}")
    return independent


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="the smoke test's settings (the same here)")
    p.add_argument("--out", default="runs/04_baselines", help="output folder")
    args = p.parse_args()
    main(args.tiny, args.out)
