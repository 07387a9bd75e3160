"""Figures for a run folder: image grids, reconstructions, curves, 2-D densities, latents.

Every function takes NumPy arrays (CuPy arrays and minigen Tensors are converted)
and a file path, writes a PNG there (creating the folder), and returns the path.
Figures are ``matplotlib.figure.Figure`` objects rendered by Agg, never pyplot: no
window, no global state, fine on headless machines and inside training loops.

Images are (N, C, H, W) with C = 1 (grey) or 3 (RGB), or (N, H, W). Pixel values
are mapped to [0, 1] like this:

    integer data     x / (levels - 1); ``levels`` defaults to 2 when max <= 1,
                     17 when max <= 16 (8x8 digits), else 256
    float data       clipped to [0, 1], or mapped from ``value_range=(lo, hi)``
    NaN              drawn in a blue tint: marks hidden pixels in ``completions``

Small images are enlarged by repeating pixels (never blurred): 8x8 digits stay legible.
"""
import json
import math
import os
import re

import numpy as np
from matplotlib.figure import Figure

DPI = 100
PAD_COLOR = (1.0, 1.0, 1.0)        # between images in a grid
HIDDEN_COLOR = (0.30, 0.45, 0.75)  # NaN pixels
SPLIT_PREFIX = re.compile(r"^(train|val|valid|validation|test)[/_.]")


def _as_numpy(a):
    """A NumPy array from a NumPy/CuPy array, a Tensor (``.data``) or a list."""
    if hasattr(a, "requires_grad"):                                   # a minigen Tensor
        a = a.data
    if hasattr(a, "get") and not isinstance(a, (np.ndarray, dict)):   # a CuPy array
        a = a.get()
    return np.asarray(a)


def _save(fig, path):
    """Write ``fig`` as a PNG to ``path`` (folder created) and return ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


# ----------------------------------------------------------------------------- images


def _to_rgb(images, levels=None, value_range=None):
    """Images as float (N, H, W, 3) in [0, 1], NaN kept (see the module docstring)."""
    x = _as_numpy(images)
    x = x[:, None] if x.ndim == 3 else x            # (N, 1, H, W)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, C, H, W) with C in (1, 3) or (N, H, W), got {x.shape}")
    if value_range is not None:
        x = (x.astype(np.float64) - value_range[0]) / (value_range[1] - value_range[0])
    elif levels is not None or np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        if levels is None:
            top = x.max(initial=0)
            levels = 2 if top <= 1 else 17 if top <= 16 else 256
        x = x.astype(np.float64) / (levels - 1)
    x = np.clip(x.astype(np.float64), 0.0, 1.0)     # NaN stays NaN
    x = np.repeat(x, 3 // x.shape[1], axis=1)       # grey -> RGB
    return x.transpose(0, 2, 3, 1)                  # (N, H, W, 3)


def _mosaic(rows):
    """Tile ``rows`` (a list of (n_i, H, W, 3) arrays) into one (HM, WM, 3) picture.

    Returns ``(picture, cell)``, ``cell`` being the height of one row in pixels.
    """
    _, h, w, _ = rows[0].shape
    f = max(1, round(80 / max(h, w)))               # enlargement: 10 for 8x8, 3 for 28x28
    p = max(1, f // 2)                              # padding between images
    cols = max(len(r) for r in rows)
    ch, cw = h * f + p, w * f + p                   # one cell, padding on its top/left
    picture = np.empty((len(rows) * ch + p, cols * cw + p, 3))
    picture[:] = PAD_COLOR
    for i, row in enumerate(rows):
        big = row.repeat(f, axis=1).repeat(f, axis=2)  # (n, H*f, W*f, 3)
        hidden = np.isnan(big).any(axis=-1)
        big[hidden] = HIDDEN_COLOR
        for j, image in enumerate(big):
            picture[p + i * ch:p + i * ch + h * f, p + j * cw:p + j * cw + w * f] = image
    return picture, ch


def _show_picture(picture, path, title=None, row_labels=None, cell=None):
    """Draw a mosaic at exactly one screen pixel per picture pixel, with optional row labels."""
    hm, wm, _ = picture.shape
    margin, label_w, title_h = 0.05, (1.2 if row_labels else 0.0), (0.4 if title else 0.0)
    width = max(wm / DPI + label_w + 2 * margin, 3.0, 0.12 * len(title or ""))   # the title fits too
    height = hm / DPI + title_h + 2 * margin
    fig = Figure(figsize=(width, height))
    left = label_w + (width - label_w - wm / DPI) / 2   # centre the picture right of the labels
    ax = fig.add_axes([left / width, margin / height, wm / DPI / width, hm / DPI / height])
    ax.imshow(picture, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([cell * (i + 0.5) for i in range(len(row_labels or []))], row_labels or [])
    ax.tick_params(axis="y", length=0, labelsize=11)
    ax.set_frame_on(False)
    if title:
        fig.suptitle(title, fontsize=13, y=1.0 - 0.08 / height, va="top")
    return _save(fig, path)


def image_grid(images, path, nrow=None, title=None, levels=None, value_range=None):
    """A grid of images, ``nrow`` per row (torchvision's meaning of nrow).

    For interpolations, R paths of S steps (R, S, C, H, W): pass
    ``images.reshape(R * S, C, H, W)`` and ``nrow=S``, one path per row.

    Args:
        images: (N, C, H, W) or (N, H, W) array.
        path: PNG path to write.
        nrow: images per row (default: about sqrt(N)).
        title: figure title.
        levels: number of levels of integer data (default: inferred, module docstring).
        value_range: ``(lo, hi)`` of float data, e.g. ``(-1, 1)`` (default ``(0, 1)``).

    Returns:
        ``path``.
    """
    x = _to_rgb(images, levels, value_range)
    nrow = nrow or math.ceil(math.sqrt(len(x)))
    picture, _ = _mosaic([x[i:i + nrow] for i in range(0, len(x), nrow)])
    return _show_picture(picture, path, title)


def labelled_rows(named, path, title=None, levels=None, value_range=None, max_per_row=None):
    """Rows of images, one per ``(label, images)`` pair (e.g. one row of samples per model or per
    class), wrapped after ``max_per_row`` images (default: no wrapping); every row as long.

    Args:
        named: ``[(label, images (n, C, H, W) or (n, H, W)), ...]``.
        path: PNG path to write.
        title, levels, value_range: as in ``image_grid``.
        max_per_row: images per row before the rows wrap.

    Returns:
        ``path``.
    """
    return _labelled_rows(named, path, title, levels, value_range,
                          max_per_row or max(len(images) for _, images in named))


def _labelled_rows(named, path, title, levels, value_range, max_per_row):
    """Rows of images, one per ``(label, images)`` pair, wrapped after ``max_per_row``."""
    arrays = [_to_rgb(images, levels, value_range) for _, images in named]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"rows differ in length: {[len(a) for a in arrays]}")
    rows, labels = [], []
    for start in range(0, n, max_per_row):
        for (label, _), a in zip(named, arrays):
            rows.append(a[start:start + max_per_row])
            labels.append(label)
    picture, cell = _mosaic(rows)
    return _show_picture(picture, path, title, labels, cell)


def reconstructions(originals, recons, path, title="Reconstructions", levels=None, value_range=None,
                    max_per_row=16):
    """Originals above their reconstructions, pair by pair.

    Args:
        originals: images (N, C, H, W) or (N, H, W).
        recons: reconstructions, same shape.
        path: PNG path to write.
        title: figure title.
        levels, value_range: as in ``image_grid``.
        max_per_row: wrap into more row pairs after this many images.

    Returns:
        ``path``.
    """
    return _labelled_rows([("original", originals), ("reconstruction", recons)], path, title,
                          levels, value_range, max_per_row)


def completions(originals, occluded, completed, path, title="Completions", levels=None,
                value_range=None, max_per_row=16):
    """Three rows: originals, the occluded inputs (NaN = hidden, drawn blue), completions.

    Args:
        originals: images (N, C, H, W) or (N, H, W).
        occluded: the model's inputs, same shape; NaN marks hidden pixels.
        completed: the model's completions, same shape.
        path: PNG path to write.
        title: figure title.
        levels, value_range: as in ``image_grid``.
        max_per_row: wrap after this many images.

    Returns:
        ``path``.
    """
    named = [("original", originals), ("occluded", occluded), ("completed", completed)]
    return _labelled_rows(named, path, title, levels, value_range, max_per_row)


# ----------------------------------------------------------------------------- curves


def _ema(values, smooth):
    """Exponential moving average ``m_t = smooth * m_{t-1} + (1 - smooth) * v_t``, bias-corrected."""
    out, m = [], 0.0
    for t, v in enumerate(values, start=1):
        m = smooth * m + (1.0 - smooth) * v
        out.append(m / (1.0 - smooth**t))
    return out


def curves(metrics, path, keys=None, x=None, title=None, smooth=0.0):
    """Loss and metric curves from a run's metrics JSONL, one panel per quantity.

    Keys that differ only by a split prefix (``train/loss``, ``val/loss``, or
    ``train_loss``, ``val_loss``) share a panel, so over-fitting shows at a glance.

    Args:
        metrics: path of a JSONL file, or a list of dicts such as
            ``{"step": 100, "epoch": 1, "loss": 0.3}``; a key may be missing from a record.
        path: PNG path to write.
        keys: metric names to draw (default: every numeric key but ``step`` and ``epoch``).
        x: key for the x axis (default ``"step"`` if present, else ``"epoch"``, else index).
        title: figure title.
        smooth: EMA factor in [0, 1) for noisy curves with more than 30 points (the
            raw curve stays, faint).

    Returns:
        ``path``.
    """
    if isinstance(metrics, (str, os.PathLike)):
        with open(metrics) as f:
            records = [json.loads(line) for line in f if line.strip()]  # one JSON object per line
    else:
        records = list(metrics)
    if x is None:
        x = next((k for k in ("step", "epoch") if any(k in r for r in records)), None)
    if keys is None:
        keys = list(dict.fromkeys(k for r in records for k, v in r.items() if k not in (x, "step", "epoch")
                                  and isinstance(v, (int, float)) and not isinstance(v, bool)))
    groups = {}
    for key in keys:
        groups.setdefault(SPLIT_PREFIX.sub("", key), []).append(key)
    ncols = min(3, max(1, len(groups)))
    nrows = math.ceil(len(groups) / ncols) if groups else 1
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows + (0.4 if title else 0)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, group) in zip(axes, groups.items()):
        for i, key in enumerate(group):
            pts = [(r.get(x, n) if x else n, r[key]) for n, r in enumerate(records)
                   if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
            if not pts:
                continue
            xs, ys = zip(*pts)
            dense = len(xs) > 30  # sparse series (e.g. val every epoch) get markers, no smoothing
            if smooth > 0 and dense:
                ax.plot(xs, ys, color=f"C{i}", alpha=0.25, linewidth=1)
                ys = _ema(ys, smooth)
            ax.plot(xs, ys, color=f"C{i}", label=key, marker=None if dense else "o", markersize=3)
        ax.set(title=name if len(group) > 1 else group[0], xlabel=x or "record")
        ax.grid(alpha=0.3)
        if len(group) > 1:
            ax.legend(frameon=False)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# ----------------------------------------------------------------------------- points


def _bounds(bounds, *point_sets):
    """``(xmin, xmax, ymin, ymax)`` from a number b (the square [-b, b]^2), a 4-tuple, or the points."""
    points = [p for p in point_sets if p is not None]
    if bounds is None and points:
        lo, hi = np.concatenate(points).min(axis=0), np.concatenate(points).max(axis=0)
        m = 0.1 * (hi - lo) + 1e-6
        return (lo[0] - m[0], hi[0] + m[0], lo[1] - m[1], hi[1] + m[1])
    bounds = 4.0 if bounds is None else bounds
    return (-bounds, bounds, -bounds, bounds) if np.isscalar(bounds) else tuple(bounds)


def _evaluate(log_prob_fn, points, batch_size):
    """``log_prob_fn`` on (M, D) points in chunks of ``batch_size``, as a float64 (M,) array."""
    out = [np.asarray(_as_numpy(log_prob_fn(points[i:i + batch_size])), np.float64).reshape(-1)
           for i in range(0, len(points), batch_size)]
    return np.concatenate(out)


def density_2d(log_prob_fn, path, samples=None, data=None, bounds=None, grid=200, title=None,
               log_scale=False, batch_size=10000):
    """A heatmap of a 2-D density, with model samples and data points on top.

    Args:
        log_prob_fn: maps float32 points (M, 2) to log densities (M,); None draws only
            the points (models without a density, e.g. GANs).
        path: PNG path to write.
        samples: model samples (S, 2), drawn as orange dots, or None.
        data: data points (N, 2), drawn as small white dots (grey without heatmap), or None.
        bounds: a number b for [-b, b]^2, ``(xmin, xmax, ymin, ymax)``, or None
            (the points' extent plus 10%, else [-4, 4]^2).
        grid: grid points per axis.
        title: figure title.
        log_scale: colour by log p instead of p.
        batch_size: points per call of ``log_prob_fn``.

    Returns:
        ``path``.
    """
    samples, data = (None if a is None else _as_numpy(a) for a in (samples, data))
    xmin, xmax, ymin, ymax = _bounds(bounds, samples, data)
    fig = Figure(figsize=(5.6 if log_prob_fn is not None else 4.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    if log_prob_fn is not None:
        xx, yy = np.meshgrid(np.linspace(xmin, xmax, grid), np.linspace(ymin, ymax, grid))
        points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)  # (grid*grid, 2)
        logp = _evaluate(log_prob_fn, points, batch_size).reshape(grid, grid)
        z = np.maximum(logp, logp.max() - 20.0) if log_scale else np.exp(logp)
        image = ax.imshow(z, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="magma",
                          aspect="auto", interpolation="bilinear")
        fig.colorbar(image, ax=ax, shrink=0.85, label="log p(x)" if log_scale else "p(x)")
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], s=2, alpha=0.35, linewidths=0, label="data",
                   color="white" if log_prob_fn is not None else "0.45")
    if samples is not None:
        ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.6, linewidths=0, color="tab:orange",
                   label="samples")
    ax.set(xlim=(xmin, xmax), ylim=(ymin, ymax), aspect="equal",
           title=title or ("model density" if log_prob_fn is not None else "samples"))
    if data is not None and samples is not None:
        ax.legend(loc="upper right", markerscale=4, framealpha=0.8)
    return _save(fig, path)


def density_1d(log_prob_fn, path, samples=None, data=None, bounds=None, grid=400, title=None):
    """A 1-D density curve over histograms of data and samples.

    Args:
        log_prob_fn: maps float32 points (M, 1) to log densities (M,), or None.
        path: PNG path to write.
        samples: model samples (S,) or (S, 1), or None.
        data: data points (N,) or (N, 1), or None.
        bounds: ``(xmin, xmax)`` (default: the points' extent plus 10%, else (-4, 4)).
        grid: evaluation points.
        title: figure title.

    Returns:
        ``path``.
    """
    data, samples = (None if a is None else _as_numpy(a).reshape(-1) for a in (data, samples))
    if bounds is None:  # reuse the 2-D rule on the points (x, x)
        bounds = _bounds(None, *(None if a is None else np.stack([a, a], 1) for a in (data, samples)))[:2]
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    bins = np.linspace(bounds[0], bounds[1], 60)
    if data is not None:
        ax.hist(data, bins=bins, density=True, color="0.6", alpha=0.7, label="data")
    if samples is not None:
        ax.hist(samples, bins=bins, density=True, histtype="step", color="tab:orange", linewidth=1.5,
                label="samples")
    if log_prob_fn is not None:
        xs = np.linspace(bounds[0], bounds[1], grid).astype(np.float32)
        ax.plot(xs, np.exp(_evaluate(log_prob_fn, xs[:, None], 10000)), color="tab:blue", label="model")
    ax.set(xlim=bounds, ylabel="density", title=title or "1-D density")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _save(fig, path)


def latent_scatter(z, labels, path, title="Latent space", class_names=None):
    """Latent codes as points coloured by label; PCA to 2-D when they have more dimensions.

    Args:
        z: codes (N, D), D >= 2; D > 2 is projected on the first two principal components.
        labels: int labels (N,), or None for one colour.
        path: PNG path to write.
        title: figure title.
        class_names: names for the legend, indexed by label.

    Returns:
        ``path``.
    """
    z = _as_numpy(z).astype(np.float64).reshape(len(z), -1)
    if z.shape[1] < 2:
        raise ValueError(f"latent_scatter needs codes (N, D) with D >= 2, got {z.shape}")
    xlabel, ylabel = "z[0]", "z[1]"
    if z.shape[1] > 2:
        centred = z - z.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        z = centred @ vt[:2].T                       # (N, 2)
        xlabel, ylabel = "PC 1", "PC 2"
    fig = Figure(figsize=(5.6, 4.8), layout="constrained")
    ax = fig.add_subplot()
    size = 12 if len(z) <= 2000 else 4
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=size, alpha=0.7, linewidths=0)
    else:
        labels = _as_numpy(labels).reshape(-1)
        classes = np.unique(labels)
        if len(classes) <= 10:
            for k, c in enumerate(classes):  # colours C0..C9: matplotlib's tab10 cycle
                m = labels == c
                ax.scatter(z[m, 0], z[m, 1], s=size, alpha=0.7, linewidths=0, color=f"C{k}",
                           label=class_names[int(c)] if class_names is not None else str(c))
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, markerscale=2)
        else:
            points = ax.scatter(z[:, 0], z[:, 1], c=labels, s=size, cmap="viridis", linewidths=0)
            fig.colorbar(points, ax=ax, label="label")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)
