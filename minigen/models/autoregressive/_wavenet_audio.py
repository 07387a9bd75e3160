"""WaveNet on audio: a picture of real and generated waveforms, and a WAV file of samples.

The levels are μ-law codes (``minigen.data.mu_law_encode``); both outputs decode them back
to amplitudes in [-1, 1] (``mu_law_decode``) at the speech data's rate, 8 kHz
(``minigen.data.speech``).
"""
import os

import numpy as np
from matplotlib.figure import Figure

from ...data import mu_law_decode
from ...data.speech import RATE, write_wav

__all__ = ["waveforms", "write_samples", "audio_figures"]


def waveforms(rows, path, rate=RATE, title=None):
    """One waveform per row, amplitude against milliseconds.

    Args:
        rows: list of ``(label, amplitudes (T,), colour)``.
        path: PNG path.
        rate: samples per second.
        title: figure title.
    """
    fig = Figure(figsize=(9.0, 0.9 + 1.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, x, colour) in zip(axes, rows):
        ax.plot(1000.0 * np.arange(len(x)) / rate, x, color=colour, linewidth=0.6)
        ax.set_ylim(-1, 1)
        ax.set_yticks([-1, 0, 1])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (ms)")
    if title:
        fig.suptitle(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    return path


def write_samples(levels, path, num_levels, rate=RATE, gap=0.25):
    """μ-law levels (n, T) -> one WAV file, the n sounds separated by ``gap`` seconds of silence."""
    silence = np.zeros(int(gap * rate))
    sounds = [np.concatenate([mu_law_decode(x, num_levels), silence]) for x in np.asarray(levels)]
    return write_wav(path, np.concatenate(sounds), rate)


def audio_figures(model, run_dir, rng, split=None, n=4, seconds=0.5):
    """waveforms.png (n real segments of the split above, n generated below) and samples.wav
    (n sounds of ``seconds`` each, drawn with the fast generator)."""
    L, T = model.num_levels, model.data_shape[-1]
    long = model.generate(rng.random((n, int(seconds * RATE))), fast=True)        # (n, seconds * RATE)
    rows = []
    if split is not None:
        for i in np.linspace(0, len(split) - 1, n).astype(int):
            label = "real" if split.classes is None else f"real '{split.classes[split.y[i]]}'"
            rows.append((label, mu_law_decode(split.x[i, 0], L), "0.35"))
    rows += [("generated", mu_law_decode(x[:T], L), "tab:orange") for x in long]
    return [waveforms(rows, os.path.join(run_dir, "waveforms.png"),
                      title=f"WaveNet: real (grey) and generated (orange) waveforms, {1000 * T // RATE} ms each"),
            write_samples(long, os.path.join(run_dir, "samples.wav"), L)]
