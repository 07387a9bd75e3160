"""The pictures of a trained DDPM (called inside the EMA weights by ``DDPM.figures``).

    samples.png          ancestral samples with sigma_t^2 = beta~_t and with beta_t (Ho et al. §3.2)
    reverse_chain.png    x_t of a few samples (one per row) at several t, from x_T (noise) down to x_0
    ddim_samples.png     DDIM (eta = 0) from the same x_T with S = 5 .. 50 steps: one row per S
    ddim_steps.png       sample quality against S: FID in the digit classifier's features
                         (minigen.metrics) between samples and the given split (numbers: ddim_fid.json)
    guided.png           class-conditional models: one row per class at several guidance weights w

Every number a picture shows is also returned by ``ddim_quality`` for the notes.
"""
import json
import os

import numpy as np
from matplotlib.figure import Figure

from ... import plots
from . import _sampling

__all__ = ["ddpm_figures", "ddim_quality", "chain_steps"]

GUIDANCE_WEIGHTS = (0.0, 1.0, 3.0)


def chain_steps(T):
    """The steps shown in the reverse chain: T, then fractions of T down to 0."""
    fractions = (0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02)
    return sorted({T, *(int(round(f * T)) for f in fractions), 0}, reverse=True)


def fid_to(samples, split, num_levels):
    """FID between integer samples and a split in the digit classifier's features; None if impossible."""
    from ...metrics import digits_features, fid
    if split is None or tuple(split.shape) != (1, 8, 8) or len(samples) < 2:
        return None
    real = digits_features(split.arrays()[0], num_levels)
    return fid(digits_features(samples, num_levels), real)


def ddim_quality(model, rng, split, n, steps, eta=0.0):
    """{S: (levels (n, C, H, W), FID or None)} of DDIM from one shared x_T."""
    x_T = rng.standard_normal((n,) + model.data_shape)
    out = {}
    for S in steps:
        levels = model.to_levels(_sampling.ddim(model, n, rng, S, eta, x_T=x_T))
        out[S] = (levels, fid_to(levels, split, model.num_levels))
    return out


def _line_plot(points, path, title):
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    S, v = zip(*points)
    ax.plot(S, v, "o-")
    ax.set_xscale("log")
    ax.set_xticks(S, [str(s) for s in S])
    ax.minorticks_off()
    ax.set_xlabel("DDIM steps S (eta = 0)")
    ax.set_ylabel("FID (digit-classifier features)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return plots._save(fig, path)


def ddpm_figures(model, run_dir, rng, split=None):
    """Write the pictures of the module docstring into ``run_dir``; returns their paths."""
    n, L, paths = model.figure_samples, model.num_levels, []
    y = np.arange(n) % model.num_classes if model.num_classes else None
    rows, chain = [], None
    for variance, label in (("small", "beta~_t"), ("large", "beta_t")):
        record = chain_steps(model.T) if chain is None else ()
        x0, recorded = _sampling.ancestral(model, n, rng, y=y, variance=variance, record=record)
        chain = chain or recorded
        rows.append((label, model.to_levels(x0)))
    paths.append(plots.labelled_rows(rows, os.path.join(run_dir, "samples.png"), levels=L,
                                     title=f"{model.title}: ancestral samples, sigma_t^2 = beta~_t / beta_t, "
                                           f"T = {model.T}"))
    ts = sorted(chain, reverse=True)
    paths.append(plots.labelled_rows([(f"sample {i + 1}", np.stack([chain[t][i] for t in ts]))
                                      for i in range(min(6, n))],
                                     os.path.join(run_dir, "reverse_chain.png"), value_range=(-1, 1),
                                     title=f"Reverse chain: x_t at t = {', '.join(map(str, ts))}"))
    steps = [S for S in model.ddim_steps if S <= model.T]
    quality = ddim_quality(model, rng, split, model.fid_samples if split is not None else n, steps)
    paths.append(plots.labelled_rows([(f"S = {S}", q[0][:12]) for S, q in quality.items()],
                                     os.path.join(run_dir, "ddim_samples.png"), levels=L,
                                     title="DDIM (eta = 0) from the same x_T"))
    points = [(S, q[1]) for S, q in quality.items() if q[1] is not None]
    if points:
        with open(os.path.join(run_dir, "ddim_fid.json"), "w") as f:       # the plotted numbers
            json.dump({"samples": len(quality[steps[0]][0]), "fid": {str(S): v for S, v in points}}, f,
                      indent=2)
        paths.append(_line_plot(points, os.path.join(run_dir, "ddim_steps.png"),
                                f"{model.title}: quality vs DDIM steps "
                                f"({len(quality[steps[0]][0])} samples)"))
    if model.num_classes:
        paths.append(guided_rows(model, rng, os.path.join(run_dir, "guided.png"), max(steps)))
    return paths


def guided_rows(model, rng, path, steps, per_weight=3, weights=GUIDANCE_WEIGHTS):
    """One row per class: ``per_weight`` DDIM samples at each guidance weight w, side by side."""
    K = model.num_classes
    y = np.repeat(np.arange(K), per_weight)                                   # (K * per_weight,)
    x_T = rng.standard_normal((len(y),) + model.data_shape)                   # the same noise for every w
    by_w = [model.to_levels(_sampling.ddim(model, len(y), rng, steps, 0.0, y=y, w=w, x_T=x_T))
            for w in weights]
    rows = [(f"{c}", np.concatenate([s[c * per_weight:(c + 1) * per_weight] for s in by_w]))
            for c in range(K)]
    w_text = ", ".join(f"{w:g}" for w in weights)
    return plots.labelled_rows(rows, path, levels=model.num_levels,
                               title=f"Classifier-free guidance, w = {w_text} ({per_weight} each), "
                                     f"DDIM S={steps}")
