"""Step 17: neural spline flows on a 2-D toy, and a flow that samples a lattice field theory.

Part 1, **neural spline flows** (Durkan et al. 2019; minigen/models/flows/spline_flow.py).
Each coupling sends every changed value through its own monotone rational-quadratic
spline with K bins on [-B, B] (identity outside), whose widths, heights and knot slopes
an MLP computes from the kept values. The spline and its exact inverse (a quadratic
formula) are one fused kernel (kernels/reference/spline.py is the readable NumPy twin,
kernels/cpu/spline.py the Numba one). The example draws one spline with its knots and
its inverse, then trains the ``checkerboard`` preset through the run layer and saves the
learned density with samples on top.

Part 2, **flows for lattice phi^4** (Albergo, Kanwar & Shanahan 2019; minigen/lattice.py and
minigen/models/flows/phi4.py). There is no data: the flow is trained by the reverse KL to
exp(-S(phi)) / Z, its proposals are made exact by independence Metropolis-Hastings, and
Hybrid Monte Carlo on the same action (minigen/mcmc.py) is the baseline. The run's report
prints acceptance, the effective sample size of the importance weights, <|M|> and chi_2
with autocorrelation-corrected errors, and tau_int of |M| for both samplers; the pictures
are field configurations from both chains and the autocorrelation of |M|.

Run:  python examples/17_splines_and_lattice.py          (several minutes on a laptop CPU)
      python examples/17_splines_and_lattice.py --tiny   (seconds: the smoke test's settings)
The full lattice experiment:  python -m minigen train phi4 --config L8-reference
"""
import argparse
import os

import numpy as np
from matplotlib.figure import Figure

import kernels
from minigen.plots import density_2d
from minigen.run import free_run_dir, train


def one_spline(out_dir):
    """g(x) for random parameters (K = 6, B = 3): monotone, identity tails, the inverse undoes it."""
    rng = np.random.default_rng(0)
    K, B = 6, 3.0
    x = np.linspace(-4, 4, 801)
    w, h, d = (np.broadcast_to(rng.standard_normal(k) * 1.5, (len(x), k)).copy() for k in (K, K, K - 1))
    y, log_det = kernels.rq_spline_forward(x, w, h, d, B)
    x_back, _ = kernels.rq_spline_inverse(y, w, h, d, B)
    print(f"one RQ spline (K={K}, B={B}): monotone {bool(np.all(np.diff(y) > 0))}, "
          f"inverse error {np.abs(x_back - x).max():.1e}")
    fig = Figure(figsize=(8, 3.4))
    ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax.plot(x, y, lw=2, label="g(x)")
    ax.plot(x, x, color="0.7", lw=1, ls="--", label="identity (the tails)")
    ax.axvspan(-B, B, color="0.95")
    ax.set_xlabel("x")
    ax.legend(frameon=False)
    ax.set_title("a rational-quadratic spline")
    bx.plot(x, np.exp(log_det), lw=2)
    bx.set_xlabel("x")
    bx.set_title("g'(x) = exp(log-det), eq. (5)")
    fig.tight_layout()
    path = os.path.join(out_dir, "spline.png")
    fig.savefig(path, dpi=100)
    print(f"  saved {path}")


def spline_toy(out_dir, tiny):
    result = train("spline-flow", "checkerboard", out=free_run_dir(os.path.join(out_dir, "checkerboard_run")),
                   progress=False, figures=False, **({"steps": 20} if tiny else {}))
    model = result.model
    print(f"spline flow on the 2-D checkerboard ({model.num_parameters():,} parameters): best validation "
          f"NLL {result.best['value']:.3f} nats at step {result.best['step']} ({result.seconds:.0f} s)")
    path = density_2d(model.log_prob, os.path.join(out_dir, "checkerboard_density.png"),
                      samples=model.sample(1000, np.random.default_rng(2)), grid=60 if tiny else 200,
                      title=f"spline flow: density and samples (val NLL {result.best['value']:.2f})")
    print(f"  saved {path}")
    return result.best["value"]


def lattice(out_dir, tiny):
    preset = "L4-tiny" if tiny else "L8-reference"
    print(f"phi^4 ({preset}): flow + independence Metropolis-Hastings against HMC")
    # the run's report (printed) runs both samplers; figures: configurations.png, autocorrelation.png
    result = train("phi4", preset, out=free_run_dir(os.path.join(out_dir, "phi4_run")), progress=False,
                   **({"steps": 20} if tiny else {"steps": 1000}))
    r = result.report
    print(f"  trained in {result.seconds:.0f} s; pictures in {result.run_dir}")
    return {k: r[k] for k in ("flow/acceptance", "flow/ess", "flow/abs_m", "hmc/abs_m", "flow/chi2", "hmc/chi2")}


def main(tiny=False, out_dir="runs/17_splines_and_lattice"):
    os.makedirs(out_dir, exist_ok=True)
    one_spline(out_dir)
    return {"checkerboard_val_nll": spline_toy(out_dir, tiny), "phi4": lattice(out_dir, tiny)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/17_splines_and_lattice", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
