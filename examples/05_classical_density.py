"""Classical density estimation, before any network: histograms, kernels, neighbours, mixtures.

The course's first chapter in pictures (``minigen/density/`` and the registered ``kde`` and
``gmm`` models of ``minigen/models/classical/``):

1-D, on a mixture of three Gaussians whose density we know (``density_1d.png``):
* the **histogram**'s cross-validation risk J(h) = 2/((n-1)h) - (n+1)/((n-1)h) sum_j p_j^2
  (Wasserman §20.2) against h, the bins it picks, and the MISE falling as n^(-2/3);
* **kernel density estimates** with too small, leave-one-out and too large bandwidths;
* the **k-nearest-neighbour** estimate k / (n V_1 R_k(x)), whose tails make its integral
  grow without bound (printed for growing ranges);
* **neural CDF regression** (Magdon-Ismail & Atiya 1998): an MLP fitted to the empirical
  CDF, whose derivative -- taken by minigen's autograd -- is the density.

2-D (``moons.png``): a KDE and a Gaussian mixture fitted by EM on two moons.
Digits (``digits.png``): samples of the KDE and the mixture of the dequantised digits, and
their test NLL beside the README's table (RealNVP 95.38 nats, independent pixels 106.47).

Run:  python examples/05_classical_density.py           (about a minute and a half)
      python examples/05_classical_density.py --tiny    (seconds: the smoke test's settings)
"""
import argparse
import os

import numpy as np
from matplotlib.figure import Figure

from minigen.data import gaussian_mixture_log_prob, get_dataset
from minigen.data.toy import make_gaussian_mixture_1d
from minigen.density import Histogram, NeuralCDF, choose_bin_width, knn_density, mise_rate
from minigen.models import build_model
from minigen.models.classical.kde import bandwidth_rule, kde_log_density, loo_log_likelihood
from minigen.plots import image_grid

MEANS, STDS, WEIGHTS = (-2.0, 0.5, 3.0), (0.5, 0.3, 1.0), (0.3, 0.3, 0.4)


def true_pdf(t):
    return np.exp(gaussian_mixture_log_prob(np.reshape(t, (-1, 1)), np.reshape(MEANS, (-1, 1)), STDS, WEIGHTS))


def one_d(out_dir, tiny, rng):
    """The six 1-D panels."""
    x = make_gaussian_mixture_1d(300 if tiny else 1000, rng)[0][:, 0].astype(np.float64)
    t = np.linspace(-5, 8, 1000)
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    ax = fig.subplots(2, 3)
    bounds = (-5.0, 8.0)
    m, h, bins, risks = choose_bin_width(x, 150, bounds)
    ax[0, 0].plot((bounds[1] - bounds[0]) / bins, risks, color="tab:blue")
    ax[0, 0].axvline(h, color="tab:red", ls="--", label=f"chosen h = {h:.3f} ({m} bins)")
    ax[0, 0].set(xscale="log", xlabel="bin width h", ylabel="J(h) (risk up to a constant)",
                 title="histogram: cross-validation risk")
    ax[0, 0].legend(frameon=False)
    for mm, colour in ((max(2, m // 6), "0.6"), (m, "tab:red"), (4 * m, "tab:green")):
        ax[0, 1].stairs(Histogram(x, mm, bounds).p * mm / (bounds[1] - bounds[0]), np.linspace(*bounds, mm + 1),
                        color=colour, label=f"{mm} bins" + (" (chosen)" if mm == m else ""))
    ax[0, 1].plot(t, true_pdf(t), "k", lw=1.5, label="truth")
    ax[0, 1].set(title="histograms", xlim=bounds)
    ax[0, 1].legend(frameon=False)
    ns = [100, 300, 1000] if tiny else [100, 300, 1000, 3000, 10000]
    sample = lambda n, r: (make_gaussian_mixture_1d(n, r)[0][:, 0] + 5) / 13           # onto [0, 1]
    mise, slope = mise_rate(sample, lambda u: 13 * true_pdf(13 * u - 5), ns, rng, reps=3 if tiny else 20,
                            max_bins=150)
    ax[0, 2].loglog(ns, mise, "o-", label=f"measured: slope {slope:.2f}")
    ax[0, 2].loglog(ns, mise[0] * (np.array(ns) / ns[0]) ** (-2 / 3), "k--", label="n^(-2/3)")
    ax[0, 2].set(xlabel="n", ylabel="MISE", title="histogram risk rate (CV-chosen bins)")
    ax[0, 2].legend(frameon=False)
    print(f"histogram: {m} bins (h = {h:.3f}); MISE ~ n^{slope:.2f} (theory -2/3)")

    h_silverman = bandwidth_rule(x[:, None], "silverman")
    grid = h_silverman * 2.0 ** np.linspace(-3, 1, 17)
    h_cv = grid[np.argmax(loo_log_likelihood(x[:, None], grid))]
    for hh, name, colour in ((h_cv / 6, "too small", "0.6"), (h_cv, "leave-one-out CV", "tab:red"),
                             (4 * h_cv, "too large", "tab:green")):
        ax[1, 0].plot(t, np.exp(kde_log_density(t[:, None], x[:, None], hh)), color=colour,
                      label=f"h = {hh:.3f} ({name})")
    ax[1, 0].plot(t, np.exp(kde_log_density(t[:, None], x[:, None], 2.214 * h_cv, "epanechnikov")), ":",
                  color="tab:purple", label="Epanechnikov, equivalent h")
    ax[1, 0].plot(t, true_pdf(t), "k", lw=1.5, label="truth")
    ax[1, 0].set(title=f"kernel density estimates (Silverman's h = {h_silverman:.3f})", xlim=bounds)
    ax[1, 0].legend(frameon=False, fontsize=8)

    for k, colour in ((10, "tab:orange"), (50, "tab:red")):
        ax[1, 1].plot(t, knn_density(t, x, k), color=colour, label=f"k = {k}")
    ax[1, 1].plot(t, true_pdf(t), "k", lw=1.5, label="truth")
    masses = []
    for T in (10, 100, 1000):
        tt = np.linspace(-T, T, 100001)
        masses.append(np.trapezoid(knn_density(tt, x, 10), tt))
    ax[1, 1].set(title="k-nearest neighbours: integral over [-T, T] = " +
                 ", ".join(f"{v:.2f}" for v in masses) + "\n(T = 10, 100, 1000; k = 10)", xlim=bounds)
    ax[1, 1].legend(frameon=False)
    print("kNN (k = 10) integral over [-T, T], T = 10, 100, 1000: " + ", ".join(f"{v:.3f}" for v in masses))

    net = NeuralCDF(16 if tiny else 32, rng=np.random.default_rng(0))
    xs = x[:200] if tiny else x[:500]
    net.fit(xs, steps=60 if tiny else 1000, lr=1e-2, grid=60 if tiny else 100)
    ax[1, 2].plot(t, net.density(t), color="tab:red", label="dF/dx (autograd)")
    ax[1, 2].plot(t, true_pdf(t), "k", lw=1.5, label="truth")
    ax2 = ax[1, 2].twinx()
    ax2.plot(np.sort(xs), np.arange(1, len(xs) + 1) / (len(xs) + 1), ".", ms=2, color="0.6", label="targets i/(n+1)")
    ax2.plot(t, net.cdf(t), color="tab:blue", lw=1, label="F(x)")
    ax2.set(ylabel="CDF", ylim=(0, 1.02))
    ax2.legend(frameon=False, loc="center right", fontsize=8)
    ax[1, 2].set(title="neural CDF regression: the density is F'(x)", xlim=bounds)
    ax[1, 2].legend(frameon=False, loc="upper left", fontsize=8)
    return _save(fig, os.path.join(out_dir, "density_1d.png"))


def two_d(out_dir, tiny):
    """KDE and a mixture by EM on two moons."""
    x = get_dataset("moons", "train", n=1000 if tiny else 2000).x.astype(np.float64)
    kde = build_model("kde", "moons", rng=0).fit(_Data(x))
    gmm = build_model("gmm", "moons", rng=0)
    history = gmm.fit(x, iterations=20 if tiny else 60)
    print(f"moons: KDE h = {kde.h():.3f} (leave-one-out); GMM log-likelihood per point "
          f"{history[0]:.3f} -> {history[-1]:.3f} in {len(history)} EM iterations")
    xx, yy = np.meshgrid(np.linspace(-4, 4, 150), np.linspace(-3, 3, 120))
    grid = np.stack([xx.ravel(), yy.ravel()], 1)
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    for a, (model, name) in zip(fig.subplots(1, 2), ((kde, f"KDE, h = {kde.h():.3f} (leave-one-out)"),
                                                     (gmm, f"Gaussian mixture, K = {gmm.K}, by EM"))):
        a.imshow(np.exp(model.log_density(grid)).reshape(xx.shape), origin="lower", extent=(-4, 4, -3, 3),
                 cmap="magma", aspect="auto")
        a.scatter(x[:500, 0], x[:500, 1], s=2, color="white", alpha=0.5)
        if model is gmm:
            _, mu, Sigma = gmm.params()
            for m, S in zip(mu, Sigma):                                 # 2-sigma ellipses
                lam, V = np.linalg.eigh(S)
                u = np.linspace(0, 2 * np.pi, 60)
                e = m[:, None] + 2 * (V * np.sqrt(lam)) @ np.stack([np.cos(u), np.sin(u)])
                a.plot(e[0], e[1], color="tab:cyan", lw=0.8)
        a.set(title=name, aspect="equal", xlim=(-4, 4), ylim=(-3, 3))
    return _save(fig, os.path.join(out_dir, "moons.png"))


def digits(out_dir, tiny):
    """KDE and GMM of the dequantised digits: test NLL and samples."""
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    kde = build_model("kde", "digits-reference", rng=0).fit(train, batch_size=1000)
    gmm = build_model("gmm", "digits-tiny" if tiny else "digits-reference", rng=0)
    gmm.fit(train, iterations=3 if tiny else 1)        # the reference run's early stopping keeps iteration 1
    rng = np.random.default_rng(0)
    for name, model in (("KDE", kde), ("GMM", gmm)):
        r = model.report(test, draws=1 if tiny else 10)
        print(f"{name} {model.title}: test NLL {r['nll']:.2f} nats ({r['bpd']:.4f} bits/dim); "
              f"independent pixels 106.47, RealNVP 95.38")
    grid = np.concatenate([test.x[:16], kde.sample(16, rng), gmm.sample(16, rng)])
    return image_grid(grid, os.path.join(out_dir, "digits.png"), nrow=16, levels=17,
                      title="test digits; sphered-KDE samples; Gaussian-mixture samples")


class _Data:
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)


def _save(fig, path):
    fig.savefig(path, dpi=90)
    return path


def main(tiny=False, out_dir="runs/05_classical_density"):
    """Draw the 1-D, 2-D and digits pictures into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [one_d(out_dir, tiny, np.random.default_rng(0)), two_d(out_dir, tiny), digits(out_dir, tiny)]
    print("pictures: " + ", ".join(paths))
    return paths


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds: the smoke test's settings")
    p.add_argument("--out", default="runs/05_classical_density", help="output folder")
    args = p.parse_args()
    main(args.tiny, args.out)
