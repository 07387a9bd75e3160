"""Step 16: the flow family side by side: planar, NICE, RealNVP, MAF, IAF and Glow.

Every flow here maps data x to a latent z with an exact log-density (minigen/nn/flows.py
states the direction once: ``forward(x) -> (z, log_det_J)``, ``inverse(z) -> x``)::

    log p(x) = log p_Z(f(x)) + log|det df/dx|

and they differ only in how f keeps its Jacobian determinant cheap: one hidden unit per
layer (planar / radial, minigen/nn/flows_planar.py), couplings that leave half the
values alone (NICE: additive, minigen/nn/flows_nice.py; RealNVP and Glow: affine, with
Glow's learned 1x1 mixing, minigen/nn/flows_glow.py), or an autoregressive triangle
(MAF / IAF, minigen/nn/flows_autoregressive.py). This example

1. fits each of them to the two moons and draws the learned densities in one figure
   (``toy_densities.png``, validation NLL in each title);
2. uses flows the way Rezende & Mohamed introduced them, as a variational posterior:
   planar, radial and IAF flows fitted by reverse KL to an unnormalised 2-D density
   (their Table 1's ring U_1), samples over the target (``reverse_kl.png``);
3. trains NICE, MAF and Glow on the 8x8 digits (the digits-reference architectures,
   fewer epochs) and draws samples, Glow's at temperatures T = 0.7 and 1.0
   (``digits_samples.png``);
4. times MAF against IAF at the digits' size (D = 64, 5 layers of MADE 64-256-256-128):
   density of a batch in one pass per layer vs 64, sampling the reverse.

Run:  python examples/16_flows.py            (a few minutes on a laptop CPU)
      python examples/16_flows.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import math
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from autograd import Tensor, no_grad  # noqa: E402
from minigen.data import get_dataset  # noqa: E402
from minigen.models.flows.maf import autoregressive_stack  # noqa: E402
from minigen.models.flows.planar import fit_reverse_kl, planar_stack, reverse_kl, ring_energy  # noqa: E402
from minigen.plots import labelled_rows  # noqa: E402
from minigen.run import train  # noqa: E402

TOYS = ["planar", "nice", "realnvp", "maf", "iaf", "glow"]


def heatmap(ax, log_prob, bound, grid, title, points=None):
    """exp(log_prob) on [-bound, bound]^2 (grid x grid), optional points on top."""
    g = np.linspace(-bound, bound, grid)
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2).astype(np.float32)
    ax.imshow(np.exp(log_prob(xy)).reshape(grid, grid), origin="lower", extent=(-bound, bound, -bound, bound),
              cmap="viridis")
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=1, c="orange", alpha=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def toy_densities(out_dir, tiny):
    """Each flow's 'moons' preset (batch 128), 8 epochs instead of its 30 (tiny: 20 steps), one panel each."""
    fig, axes = plt.subplots(1, len(TOYS), figsize=(3 * len(TOYS), 3.2))
    val = get_dataset("moons", "val")
    scores = {}
    for ax, name in zip(axes, TOYS):
        start = time.time()
        result = train(name, "moons", progress=False, figures=False, **({"steps": 20} if tiny else {"epochs": 8}))
        model = result.model.eval()
        scores[name] = model.eval_step(val.x)["nll"]
        print(f"  {name:8s} {model.num_parameters():7,} parameters  val NLL {scores[name]:.3f} nats "
              f"({time.time() - start:.0f} s)")
        heatmap(ax, model.log_prob, 2.5, 40 if tiny else 150, f"{name}: val NLL {scores[name]:.2f}")
    fig.suptitle("Flows fitted to the two moons by maximum likelihood: learned densities")
    path = os.path.join(out_dir, "toy_densities.png")
    fig.savefig(path, dpi=100, bbox_inches="tight"), plt.close(fig)
    print(f"  saved {path}")
    return scores


def variational(out_dir, tiny):
    """Reverse KL to the ring U_1: planar / radial stacks, and IAF (MAF layers run from noise to
    sample: one pass each), 16 layers (IAF: 4), fresh noise every step."""
    steps = 10 if tiny else 1000
    flows = {"planar (16)": planar_stack(2, 16, "planar", np.random.default_rng(0)),
             "radial (16)": planar_stack(2, 16, "radial", np.random.default_rng(0)),
             "IAF (4 x MADE 2-32-32-4)": autoregressive_stack(2, 4, (32, 32), False, np.random.default_rng(0),
                                                              np.float32)}
    g = np.linspace(-6, 6, 601)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    log_Z = math.log(np.exp(-ring_energy(Tensor(grid)).data).sum() * (g[1] - g[0]) ** 2)   # by quadrature
    fig, axes = plt.subplots(1, len(flows) + 1, figsize=(12, 3.2))
    heatmap(axes[0], lambda x: -ring_energy(Tensor(x)).data - log_Z, 4, 150, "target exp(-U_1) / Z")
    kls = {}
    for ax, (name, flow) in zip(axes[1:], flows.items()):
        fit_reverse_kl(flow, ring_energy, 2, steps=steps, batch=256, lr=1e-2)
        eps = np.random.default_rng(1).standard_normal((4000, 2)).astype(np.float32)
        with no_grad():
            loss, x = reverse_kl(flow, ring_energy, eps)
        kls[name] = float(loss.item()) + log_Z                    # KL(q || p) = loss + log Z
        print(f"  {name:26s} KL(q || p) = {kls[name]:.3f} nats")
        heatmap(ax, lambda v: -ring_energy(Tensor(v)).data - log_Z, 4, 150, f"{name}: KL {kls[name]:.2f}",
                points=x.data[:1500])
    fig.suptitle("Flows as variational posteriors: samples of q (orange) fitted by reverse KL to U_1")
    path = os.path.join(out_dir, "reverse_kl.png")
    fig.savefig(path, dpi=100, bbox_inches="tight"), plt.close(fig)
    print(f"  saved {path}")
    return kls


def digits(out_dir, tiny):
    """NICE, MAF, Glow on the digits (reference architectures; tiny: the digits-tiny presets, 5 steps)."""
    preset = "digits-tiny" if tiny else "digits-reference"
    settings = {"steps": 5} if tiny else {"epochs": 40, "early_stopping": ("val/nll", 10)}
    rows, reports = [], {}
    for name in ("nice", "maf", "glow"):
        result = train(name, preset, progress=False, figures=False, model_kwargs={"test_draws": 1}, **settings)
        model = result.model.eval()
        reports[name] = result.report["nll"]
        print(f"  {name:5s} test NLL {reports[name]:.2f} nats per image ({result.report['bpd']:.3f} bits/dim, one "
              f"dequantisation; {result.seconds:.0f} s)")
        for T in ((0.7, 1.0) if name == "glow" else (1.0,)):
            rows.append((f"{name} T={T}", model.sample(12, np.random.default_rng(0), temperature=T)))
    rows.append(("data", get_dataset("digits", "test").x[:12]))
    path = labelled_rows(rows, os.path.join(out_dir, "digits_samples.png"), levels=17,
                         title="Flow samples on the digits (Glow at two temperatures, the same noise)")
    print(f"  saved {path}")
    return reports


def maf_vs_iaf(tiny, batch=256):
    """Seconds for the density of a batch (forward) and for sampling a batch (inverse)."""
    D, layers, hidden = (64, 5, (256, 256)) if not tiny else (16, 2, (32,))
    x = Tensor(np.random.default_rng(0).standard_normal((batch, D)).astype(np.float32))
    times = {}
    for name, inverted in (("MAF", False), ("IAF", True)):
        flow = autoregressive_stack(D, layers, hidden, inverted, np.random.default_rng(0), np.float32)
        with no_grad():
            t0 = time.perf_counter(); flow(x); t1 = time.perf_counter(); flow.inverse(x); t2 = time.perf_counter()
        times[name] = (t1 - t0, t2 - t1)
        print(f"  {name}: density {1e3 * (t1 - t0):8.1f} ms, sampling {1e3 * (t2 - t1):8.1f} ms "
              f"(batch {batch}, D = {D}, {layers} layers)")
    return times


def main(tiny=False, out_dir="runs/16_flows"):
    os.makedirs(out_dir, exist_ok=True)
    print("1. flows on the two moons")
    toys = toy_densities(out_dir, tiny)
    print("2. flows as variational posteriors (reverse KL)")
    kls = variational(out_dir, tiny)
    print("3. flows on the digits")
    reports = digits(out_dir, tiny)
    print("4. MAF vs IAF: one pass or D passes")
    times = maf_vs_iaf(tiny)
    return {"moons_val_nll": toys, "reverse_kl": kls, "digits_test_nll": reports, "maf_iaf_seconds": times}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/16_flows", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
