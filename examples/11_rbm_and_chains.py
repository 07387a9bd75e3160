"""Markov chains and energy-based models: four MCMC samplers, an RBM, and a Langevin-trained EBM.

1. **Samplers** (``minigen/mcmc.py``) on two 2-D targets known up to a constant: a
   correlated Gaussian and a "banana" (x2 bends with x1^2). Random-walk Metropolis-
   Hastings, Gibbs (Gaussian only: the banana's conditionals are not standard), MALA and
   HMC each run 8 chains of the same number of steps; the picture shows each sampler's
   points on the target's contours, the trace of x1 of one chain, and the effective sample
   size (Sokal's windowed autocorrelation time). Read it as: the random walk diffuses, the
   gradient-guided proposals travel.
2. **RBM** (``minigen/models/energy/rbm.py``) trained by contrastive divergence (CD-1)
   on the binarised digits: its filters (columns of W) and Gibbs chains started at test
   digits; the test NLL by annealed importance sampling, against independent pixels.
3. **EBM** (``minigen/models/energy/ebm.py``) on the ring of 8 Gaussians: an MLP energy
   trained with short-run SGLD and a replay buffer; exp(-E) normalised on a grid, with
   SGLD samples.

Run:  python examples/11_rbm_and_chains.py            (about 2 minutes on 2 cores)
      python examples/11_rbm_and_chains.py --tiny     (the smoke test's settings, ~15 s)
"""
import argparse
import os

import numpy as np
from matplotlib.figure import Figure

import minigen
from minigen import mcmc
from minigen.data import get_dataset
from minigen.models.energy import boltzmann as bm
from minigen.run import free_run_dir

MEAN, COV = np.zeros(2), np.array([[1.0, 0.9], [0.9, 1.0]])


def banana():
    """log pi(x) = -x1^2 / 8 - (x2 - b (x1^2 - 4))^2 / 2 with b = 0.25, and its gradient."""
    b = 0.25

    def log_prob(x):
        r = x[:, 1] - b * (x[:, 0] ** 2 - 4)
        return -x[:, 0] ** 2 / 8 - 0.5 * r ** 2

    def grad(x):
        r = x[:, 1] - b * (x[:, 0] ** 2 - 4)
        return np.stack([-x[:, 0] / 4 + 2 * b * x[:, 0] * r, -r], axis=1)
    return log_prob, grad


def run_samplers(steps, rng):
    """{target: {sampler: Chain}} for the Gaussian and the banana."""
    out = {}
    for name, (log_prob, grad) in (("Gaussian, corr 0.9", mcmc.gaussian_target(MEAN, COV)), ("banana", banana())):
        x0 = rng.standard_normal((8, 2))
        chains = {"random-walk MH": mcmc.metropolis_hastings(log_prob, x0, steps, rng, step_size=0.8),
                  "MALA": mcmc.mala(log_prob, grad, x0, steps, rng, step_size=0.5),
                  "HMC (L=10)": mcmc.hmc(log_prob, grad, x0, steps, rng, step_size=0.15, n_leapfrog=10,
                                         jitter=0.2)}
        if name.startswith("Gaussian"):
            chains["Gibbs"] = mcmc.gibbs(mcmc.gaussian_conditionals(MEAN, COV), x0, steps, rng, blocks=[[0], [1]])
        out[name] = (log_prob, chains)
    return out


def draw_samplers(results, path):
    fig = Figure(figsize=(16, 7.5), layout="constrained")
    axes = fig.subplots(2, 8)
    for row, (target, (log_prob, chains)) in enumerate(results.items()):
        t = np.linspace(-4.5, 4.5, 120)
        xx, yy = np.meshgrid(t, t)
        z = np.exp(log_prob(np.stack([xx.ravel(), yy.ravel()], 1))).reshape(xx.shape)
        for col, (name, chain) in enumerate(chains.items()):
            ax, tr = axes[row, 2 * col], axes[row, 2 * col + 1]
            x = chain.flat(len(chain.samples) // 10)
            ax.contour(xx, yy, z, levels=6, colors="0.6", linewidths=0.7)
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3)
            ess = chain.ess(len(chain.samples) // 10)
            ax.set(title=f"{name}\nacc {chain.acceptance:.2f}, ESS {ess.min():.0f}", xlim=(-4.5, 4.5),
                   ylim=(-4.5, 4.5), xticks=[], yticks=[])
            tr.plot(chain.samples[:300, 0, 0], lw=0.8)
            tr.set(title=f"{target}: x1 trace", xticks=[], yticks=[])
        for col in range(len(chains), 4):
            axes[row, 2 * col].axis("off")
            axes[row, 2 * col + 1].axis("off")
    fig.savefig(path, dpi=80)
    return path


def main(tiny=False, out_dir="runs/11_rbm_and_chains"):
    """Samplers, an RBM and an EBM; pictures under ``out_dir``. Returns the RBM's test NLL."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    results = run_samplers(300 if tiny else 3000, rng)
    for target, (_, chains) in results.items():
        for name, chain in chains.items():
            print(f"{target:20s} {name:15s} acceptance {chain.acceptance:.2f}  "
                  f"ESS per 1000 steps {1000 * chain.ess(len(chain.samples) // 10).min() / len(chain.samples):7.1f}")
    print("picture:", draw_samplers(results, os.path.join(out_dir, "samplers.png")))

    settings = dict(epochs=3) if tiny else dict(epochs=100)
    model_kwargs = dict(num_hidden=16, eval_betas=200, test_chains=100, test_betas=500) if tiny else {}
    rbm = minigen.train("rbm", "digits-reference", out=free_run_dir(os.path.join(out_dir, "rbm")), progress=False,
                        model_kwargs=model_kwargs, **settings)
    train, test = (get_dataset("digits", s, view="binary") for s in ("train", "test"))
    baseline = bm.bernoulli_baseline(train.x, test.x)[0]
    print(f"RBM test NLL {rbm.report['nll']:.2f} nats (log Z {rbm.report['log_Z']:.2f} +- "
          f"{rbm.report['log_Z_se']:.2f}); independent Bernoulli pixels {baseline:.2f} nats")

    ebm_settings = dict(steps=40, eval_every=40) if tiny else dict(epochs=3)
    ebm_kwargs = dict(sgld_steps=10, eval_steps=5, hidden=32) if tiny else {}
    ebm = minigen.train("ebm", "8gaussians", out=free_run_dir(os.path.join(out_dir, "ebm")), progress=False,
                        model_kwargs=ebm_kwargs, **ebm_settings)
    print("pictures:", os.path.join(rbm.run_dir, "filters.png"), os.path.join(rbm.run_dir, "chains.png"),
          os.path.join(ebm.run_dir, "landscape.png"))
    return rbm.report["nll"]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="the smoke test's settings")
    p.add_argument("--out", default="runs/11_rbm_and_chains", help="output folder")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
