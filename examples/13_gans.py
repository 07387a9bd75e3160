"""GANs: the two-player game on a ring of 8 Gaussians, the saturating loss, and DCGAN digits.

Three pictures in ``runs/13_gans``:

* ``game.png`` - a GAN (``minigen.models.adversarial.gan``, MLP players, the non-saturating
  loss) learning the ring of 8 Gaussians, in the style of GAN Lab: the discriminator's
  D(x) as a heat map (blue: "real", red: "fake"), data (green) and samples G(z)
  (purple), and the generator's gradient field (arrows: where a sample at that point is
  pushed). Watch the samples flow out of the centre along the arrows, D flatten to 1/2
  where data and samples meet, and the modes get covered (printed: ``modes_covered``).
* ``saturation.png`` - Goodfellow et al. 2014 §3: against a discriminator that rejects the
  samples with confidence, the minimax loss log(1 - D(G(z))) gives the generator almost
  no gradient; the non-saturating -log D(G(z)) gives a strong one. Same D, same samples,
  the two gradient fields on one scale.
* ``dcgan_samples.png`` - DCGAN (strided convolutions, batch norm, Adam 2e-4 / beta1 0.5)
  samples of the 8x8 digits next to real test digits, and straight lines in z.

The loops are written out (``train_step`` is one discriminator step and, every k-th call,
one generator step: ``minigen/models/adversarial/base.py``) so the snapshots can be taken
mid-game. ``python -m minigen train gan --config 8gaussians`` and ``python -m minigen train
dcgan --config digits-reference`` run the same models through the run layer.

Run:  python examples/13_gans.py            (about 5 minutes on two shared cores)
      python examples/13_gans.py --tiny     (the smoke test's settings, seconds)
"""
import argparse
import itertools
import math
import os

import numpy as np

from minigen.data import BatchLoader, get_dataset
from minigen.data.toy import eight_gaussians_means
from minigen.metrics import modes_covered
from minigen.models import build_model, get_preset
from minigen.models.adversarial._game import game_figure, game_state
from minigen.plots import image_grid


def train(model, data, steps, config, seed=0, every=None, on_snapshot=None):
    """``steps`` calls of ``model.train_step`` on shuffled batches of ``data`` (x array)."""
    model.configure_optimizers(config)
    loader = BatchLoader(data, batch_size=config.batch_size, rng=np.random.default_rng([seed, 1]))
    model.train()
    for step, batch in zip(range(1, steps + 1), itertools.cycle(loader)):
        model.train_step(batch)
        if on_snapshot is not None and every and step % every == 0:
            on_snapshot(step)
    model.eval()
    return model


def the_game(out_dir, tiny):
    """game.png: snapshots of the GAN on the ring; returns the trained model."""
    preset = get_preset("gan", "8gaussians")
    data = get_dataset("8gaussians", "train").x
    model = build_model("gan", "8gaussians", rng=np.random.default_rng([0, 0]))
    rng = np.random.default_rng(2)
    steps, every = (120, 40) if tiny else (3000, 500)
    snaps = [(game_state(model, rng), "step 0")]
    train(model, data, steps, preset.train, every=every,
          on_snapshot=lambda s: snaps.append((game_state(model, rng), f"step {s}")))
    chosen = snaps if tiny else [snaps[i] for i in (0, 1, 2, 4, len(snaps) - 1)]
    path = game_figure(chosen, data[:1500], os.path.join(out_dir, "game.png"))
    covered = modes_covered(model.sample(2000, rng), eight_gaussians_means(), 0.5 / math.sqrt(2))
    print(f"ring: {covered['modes']} of 8 modes covered, {covered['high_quality']:.1%} of samples within "
          f"3 std of a mode -> {path}")
    return model


def saturation(out_dir, tiny):
    """saturation.png: one confident discriminator, the two generator losses' gradient fields."""
    preset = get_preset("gan", "8gaussians")
    data = get_dataset("8gaussians", "train").x
    model = build_model("gan", "8gaussians", rng=np.random.default_rng([0, 0]))
    model.n_critic = 10 ** 9                       # train D alone: the generator never moves
    train(model, data, 30 if tiny else 300, preset.train)
    rng = np.random.default_rng(3)
    panels = []
    for objective in ("minimax", "non-saturating"):
        model.objective = objective
        state = game_state(model, np.random.default_rng(3))
        panels.append((state, f"{objective}: mean |push| at G(z) {state['push_at_fake']:.2g}"))
        print(f"{objective:15s} loss: mean gradient norm at the samples {state['push_at_fake']:.3g}")
    return game_figure(panels, data[:1500], os.path.join(out_dir, "saturation.png"), rng)


def dcgan_digits(out_dir, tiny):
    """dcgan_samples.png: DCGAN samples next to test digits, and lines in z."""
    name = "digits-tiny" if tiny else "digits-reference"
    preset = get_preset("dcgan", name)
    model = build_model("dcgan", name, rng=np.random.default_rng([0, 0]))
    train(model, get_dataset("digits", "train").x, 40 if tiny else 2000, preset.train)
    rng = np.random.default_rng(4)
    real = get_dataset("digits", "test").x[:16]
    grid = np.concatenate([real, model.sample(48, rng), model.interpolate(rng, rows=4, steps=16)])
    path = image_grid(grid, os.path.join(out_dir, "dcgan_samples.png"), nrow=16, levels=17,
                      title="DCGAN: test digits (row 1), samples (rows 2-4), straight lines in z (rows 5-8)")
    print(f"DCGAN samples -> {path}")
    return path


def main(tiny=False, out_dir="runs/13_gans"):
    """Write game.png, saturation.png and dcgan_samples.png into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    the_game(out_dir, tiny)
    saturation(out_dir, tiny)
    dcgan_digits(out_dir, tiny)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="seconds: the smoke test's settings")
    parser.add_argument("--out-dir", default="runs/13_gans")
    args = parser.parse_args()
    main(tiny=args.tiny, out_dir=args.out_dir)
