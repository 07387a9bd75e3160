"""Step 07: RealNVP, a normalizing flow, on 8x8 digits and on a 2-D toy.

A flow maps data x to a latent z = f(x) with an exact log-density

    log p(x) = log N(f(x); 0, I) + log|det df/dx|

(minigen/nn/flows.py states the direction once, for every bijection:
``forward(x) -> (z, log_det_J)``, ``inverse(z) -> x``). RealNVP builds f from affine
coupling layers (``AffineCoupling`` in minigen/nn/flows.py; the model is
minigen/models/flows/realnvp.py, the dequantisation and logit bookkeeping of every flow
model minigen/models/flows/base.py). This example trains through the run layer,
``minigen.run.train`` (the Python twin of ``python -m minigen train``): it resolves the
preset's settings, loads the splits, runs the loop, and writes a run folder
(config.json, metrics.jsonl, checkpoints, the test report). It

1. trains the digits RealNVP (the digits-reference architecture, fewer epochs and a
   shorter patience) on dequantised, logit-transformed pixels, prints the test NLL in
   nats per image and bits/dim (the run's end-of-run report, 10 dequantisations per
   image), and saves a grid of samples next to real digits;
2. trains an MLP RealNVP on the two-moons toy (preset "moons") and saves the learned
   density as a heatmap with model samples on top;
3. checks the trained digits flow on a few test digits: x -> z -> x comes back, and
   log p(x) with given dequantisation noise ``u`` is the same number twice.

Run:  python examples/07_realnvp.py            (a few minutes on a laptop CPU)
      python examples/07_realnvp.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os

import numpy as np

from autograd import no_grad
from minigen.data import get_dataset
from minigen.plots import density_2d, image_grid
from minigen.run import free_run_dir, load_run, train


def fresh(path):
    """``path``, or ``path-2``, ... if it already holds a run (train() refuses to overwrite one)."""
    return free_run_dir(path)


def digits(out_dir, tiny):
    test = get_dataset("digits", "test")
    preset = "digits-tiny" if tiny else "digits-reference"
    print(f"RealNVP on digits ({preset}); a uniform model scores {64 * math.log(17):.2f} nats per image")
    # validation NLL after every epoch, keep the best parameters, stop after 10 bad epochs;
    # at the end the run reports the test NLL (test_draws dequantisations per image)
    result = train("realnvp", preset, out=fresh(os.path.join(out_dir, "digits_run")), epochs=1 if tiny else 40,
                   early_stopping=("val/nll", 10), progress=False, figures=not tiny)
    model, report = result.model, result.report
    epoch = result.best["step"] / math.ceil(len(get_dataset("digits", "train")) / 64)
    print(f"  {model.num_parameters():,} parameters; best validation NLL {result.best['value']:.2f} nats "
          f"at epoch {epoch:.0f} ({result.seconds:.0f} s)")
    print(f"  test NLL {report['nll']:.2f} nats per image, {report['bpd']:.4f} bits/dim "
          f"({report['draws']} dequantisations per image)")
    round_trip(model, test.x[:8])
    samples = model.sample(32, np.random.default_rng(1))           # (32, 1, 8, 8) integers 0..16
    path = image_grid(np.concatenate([samples, test.x[:16]]), os.path.join(out_dir, "digits_samples.png"),
                      nrow=8, title="RealNVP samples (rows 1-4) and test digits (rows 5-6)", levels=17)
    print(f"  saved {path} (the run folder: {result.run_dir})")
    return report


def round_trip(model, x):
    """x -> z -> x through the flow, and log p(x) with the dequantisation noise u given."""
    u = np.random.default_rng(3).random((1,) + x.shape)            # one draw of u ~ U[0, 1)^D
    model.eval()
    with no_grad():
        y, _ = model.logit(model.dequantize(x, None, u=u[0]))      # x' = (x + u) / L, then the logit
        z, log_det = model.flow(y)                                  # data -> latent
        back = model.flow.inverse(z)                                # latent -> data
        nll_1, nll_2 = (model.nll(x, u=u).numpy() for _ in range(2))
    err = float(np.abs(back.numpy() - y.numpy()).max())
    print(f"  round trip x -> z -> x: max error {err:.1e}; NLL with given u: {nll_1[0]:.4f} = {nll_2[0]:.4f}")
    assert err < 1e-3 and np.array_equal(nll_1, nll_2)


def moons(out_dir, tiny):
    # the "moons" preset: 8 MLP couplings, 30 epochs of batch 128, lr 3e-3; tiny: 20 steps
    result = train("realnvp", "moons", out=fresh(os.path.join(out_dir, "moons_run")), progress=False,
                   figures=False, **({"steps": 20} if tiny else {}))
    model, _ = load_run(result.run_dir, which="best")              # best.npz: the best validation
    best = result.best["value"]
    print(f"RealNVP on two moons ({model.num_parameters():,} parameters)")
    print(f"  best validation NLL {best:.3f} nats per point at step {result.best['step']}; test NLL of "
          f"the last parameters {result.report['nll']:.3f} ({result.seconds:.0f} s)")
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
