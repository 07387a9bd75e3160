"""Energy-based models side by side: a Langevin-trained EBM on 2-D toys and on the digits, a deep
Boltzmann machine's samples, and an RBM's filters on Fashion-MNIST.

Every model here defines p(x) = exp(-E(x)) / Z and learns by contrasting the data with its own
samples (``minigen/models/energy/base.py``); they differ in E and in the chain that samples it.

1. **EBM on 2-D toys** (``minigen/models/energy/ebm.py``; Du & Mordatch 2019): an MLP energy,
   short-run Langevin dynamics (SGLD) from a replay buffer, loss = contrast + alpha E^2. In
   2-D, Z is a sum over a grid, so the picture shows the normalised density exp(-E) / Z with
   SGLD samples on top, and the run reports a test NLL by quadrature.
2. **EBM on the digits**: a convolutional energy; samples continue the training chains of
   the replay buffer (as Du & Mordatch's do), beside 60 SGLD steps from fresh noise, which
   give only blurred strokes: the sampler is part of the model.
3. **Deep Boltzmann machine** (``dbm.py``; Salakhutdinov & Hinton 2009) on the binarised
   digits: greedy pretraining of two RBMs, then mean-field against persistent chains; its
   samples are p(v | h1) after Gibbs sweeps from random states.
4. **RBM on binarised Fashion-MNIST** (``rbm.py``; Hinton's practical guide), when the data
   set is on the machine (Debian's ``dataset-fashion-mnist``): 784-500 filters after a few
   epochs (the ``fashion-mnist`` preset trains longer; this is a capped run).

Pictures under ``out_dir``: ``toys.png``, ``digits.png`` (data, EBM, EBM from noise, DBM), and each
run's own folder (``landscape.png``, ``samples.png``, ``filters.png``, ``chains.png``).

Run:  python examples/19_energy_models.py            (about 10 minutes on an idle 2-core CPU)
      python examples/19_energy_models.py --tiny     (the smoke test's settings, seconds)
"""
import argparse
import os

import numpy as np
from matplotlib.figure import Figure

import minigen
from minigen import plots
from minigen.data import get_dataset
from minigen.run import free_run_dir

TOYS = ("8gaussians", "moons")


def train(name, preset, out_dir, tiny_settings, tiny, model_kwargs=None, **settings):
    """One ``minigen.train`` run into ``out_dir/<name>-<preset>`` (the tiny settings when ``tiny``)."""
    folder = free_run_dir(os.path.join(out_dir, f"{name}-{preset}"))
    return minigen.train(name, preset, out=folder, progress=False, model_kwargs=model_kwargs,
                         **(tiny_settings if tiny else settings))


def draw_toys(runs, path):
    """exp(-E) / Z on the grid, with SGLD samples (orange) and data (white), one panel per toy."""
    fig = Figure(figsize=(5 * len(runs), 5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(runs)))
    for ax, (toy, result) in zip(axes, runs.items()):
        model = result.model
        log_prob, _ = model.grid_log_prob(grid=150)
        lo, hi = model.data_range
        t = np.linspace(lo, hi, 150)
        xx, yy = np.meshgrid(t, t)
        p = np.exp(log_prob(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))).reshape(xx.shape)
        ax.imshow(p, origin="lower", extent=(lo, hi, lo, hi), cmap="viridis")
        data = get_dataset(toy, "test").x[:500]
        x = model.sample(500, np.random.default_rng(0))
        ax.scatter(data[:, 0], data[:, 1], s=1, c="white", alpha=0.5)
        ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:orange", alpha=0.6)
        ax.set(title=f"{toy}: test NLL {result.report['nll']:.2f} nats (quadrature)", xticks=[], yticks=[])
    fig.savefig(path, dpi=80)
    return path


def main(tiny=False, out_dir="runs/19_energy_models"):
    """The four parts of the module docstring; returns ``{name: test report}``."""
    os.makedirs(out_dir, exist_ok=True)
    reports = {}

    toys = {toy: train("ebm", toy, out_dir, dict(steps=30, eval_every=30), tiny,
                       dict(sgld_steps=10, eval_steps=10) if tiny else None) for toy in TOYS}
    print("picture:", draw_toys(toys, os.path.join(out_dir, "toys.png")))
    reports.update({f"ebm {toy}": r.report for toy, r in toys.items()})

    ebm = train("ebm", "digits-tiny" if tiny else "digits-reference", out_dir, dict(steps=10, eval_every=10), tiny)
    dbm = train("dbm", "digits-tiny" if tiny else "digits-reference", out_dir, dict(epochs=3), tiny)
    reports.update({"ebm digits": ebm.report, "dbm digits": dbm.report})
    rng = np.random.default_rng(0)
    data = get_dataset("digits", "test", view="scaled").x[:10]
    rows = [("data", data),
            ("EBM", ebm.model.sample(10, rng)),
            ("EBM, noise", np.asarray(ebm.model.sgld(ebm.model.uniform(10, rng), 5 if tiny else 60, rng))),
            ("DBM", dbm.model.sample(10, rng).astype(np.float32))]
    title = "digits: data; EBM samples (from its replay buffer); 60 SGLD steps from noise; DBM samples"
    print("picture:", plots.labelled_rows(rows, os.path.join(out_dir, "digits.png"), value_range=(0, 1), title=title))
    print(f"DBM bound on the test NLL {dbm.report['nll']:.2f} nats (binarised digits; log Z by AIS, "
          "exact when H1 <= 20)")

    try:
        get_dataset("fashion-mnist", "test")
    except (FileNotFoundError, OSError) as e:
        print(f"Fashion-MNIST not found ({e}); skipping the RBM on it")
    else:
        if not tiny:
            rbm = minigen.train("rbm", "fashion-mnist", out=free_run_dir(os.path.join(out_dir, "rbm-fashion-mnist")),
                                progress=False, epochs=3,
                                model_kwargs=dict(eval_betas=100, test_betas=1000))
            reports["rbm fashion-mnist (3 epochs)"] = rbm.report
            print("pictures:", os.path.join(rbm.run_dir, "filters.png"), os.path.join(rbm.run_dir, "chains.png"))
    for name, report in reports.items():
        print(f"{name:30s} " + "  ".join(f"{k} {v:.3f}" for k, v in report.items() if isinstance(v, float)))
    return reports


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="the smoke test's settings")
    p.add_argument("--out", default="runs/19_energy_models", help="output folder")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
