"""The GAN game on a 2-D toy, as a picture (after GAN Lab, Kahng et al. 2018).

One panel per snapshot of training::

    heat map   the discriminator's output D(x) = sigmoid(l(x)) over the plane (red: "fake",
               blue: "real")
    points     data (green) and generated samples G(z) (purple)
    arrows     the generator's gradient field: -d/dx of the generator's loss at x, the
               direction (and speed) in which a sample sitting at x would be pushed

``game_state`` takes the numbers of one snapshot (so a training loop can record several
and draw them at the end); ``game_figure`` draws them side by side.

Reference: M. Kahng, N. Thorat, D. H. Chau, F. Viégas and M. Wattenberg, "GAN Lab:
Understanding Complex Deep Generative Models using Interactive Visual Experimentation",
IEEE VIS 2018. https://arxiv.org/abs/1809.01587
"""
import os

import numpy as np

from autograd import Tensor, as_numpy, grad, no_grad

__all__ = ["game_state", "game_figure"]

BOUNDS = (-4.5, 4.5)


def game_state(model, rng, n=600, grid=100, arrows=15, bounds=BOUNDS):
    """The numbers of one panel: D on a grid, n samples, the generator's gradient field.

    Args:
        model: a 2-D ``GAN`` (``generator_objective`` gives the generator's loss per sample).
        rng: generator of the samples.
        grid: heat-map resolution; arrows: arrows per side.

    Returns:
        ``{"heat": (grid, grid), "fake": (n, 2), "at": (arrows^2, 2), "push": (arrows^2, 2),
        "push_at_fake": mean |gradient| at the samples}``.
    """
    dtype = model.parameters()[0].dtype
    axis = np.linspace(*bounds, grid)
    xx, yy = np.meshgrid(axis, axis)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(dtype)       # (grid^2, 2)
    with no_grad():
        logits = np.asarray(as_numpy(model.discriminator(Tensor(points)).data), np.float64)
    heat = (1.0 / (1.0 + np.exp(-logits))).reshape(grid, grid)             # (grid, grid)
    fake = model.sample(n, rng)

    def push(at):                                                           # -d loss_G / dx at points
        x = Tensor(at.astype(dtype), requires_grad=True)
        loss = model.generator_objective(model.discriminator(x).reshape(-1)).sum()
        return -np.asarray(as_numpy(grad(loss, x).data), np.float64)

    a = np.linspace(*bounds, arrows)
    ax, ay = np.meshgrid(a, a)
    at = np.stack([ax.ravel(), ay.ravel()], axis=1)                         # (arrows^2, 2)
    return {"heat": heat, "fake": fake, "at": at, "push": push(at),
            "push_at_fake": float(np.linalg.norm(push(fake), axis=1).mean())}


def game_figure(snapshots, real, path, rng=None, bounds=BOUNDS, arrow_scale=None):
    """Draw snapshots side by side into ``path`` (PNG) and return the path.

    Args:
        snapshots: list of ``(state, title)``, a state from ``game_state``, or of
            ``(model, title)`` (its state is taken now, with ``rng``).
        real: data points (n, 2) drawn in every panel.
        arrow_scale: data units per unit of gradient (None: one scale for all panels, so the
            lengths compare across panels: the largest arrow is 0.9).
    """
    from matplotlib.figure import Figure
    states = [(s if isinstance(s, dict) else game_state(s, rng), t) for s, t in snapshots]
    if arrow_scale is None:
        largest = max(np.linalg.norm(s["push"], axis=1).max() for s, _ in states)
        arrow_scale = 0.9 / max(largest, 1e-12)
    fig = Figure(figsize=(3.2 * len(states), 3.5))
    for i, (state, title) in enumerate(states):
        ax = fig.add_subplot(1, len(states), i + 1)
        ax.imshow(state["heat"], origin="lower", extent=(*bounds, *bounds), cmap="RdBu", vmin=0, vmax=1,
                  alpha=0.6)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="#2ca02c", alpha=0.5, label="data")
        ax.scatter(state["fake"][:, 0], state["fake"][:, 1], s=2, c="#7b2cbf", alpha=0.7, label="G(z)")
        ax.quiver(state["at"][:, 0], state["at"][:, 1], state["push"][:, 0] * arrow_scale,
                  state["push"][:, 1] * arrow_scale, angles="xy", scale_units="xy", scale=1, width=0.004,
                  color="k", alpha=0.7)
        ax.set_xlim(*bounds)
        ax.set_ylim(*bounds)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    fig.axes[0].legend(loc="lower left", fontsize=7, markerscale=4)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
