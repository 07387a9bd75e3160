"""Step 14: WaveNet: dilated causal convolutions, on digits read as sequences and on speech.

WaveNet (minigen/models/autoregressive/wavenet.py; van den Oord et al. 2016, "WaveNet: A
Generative Model for Raw Audio") models a sequence one value at a time,
p(x) = prod_t p(x_t | x_<t), with a stack of *causal* convolutions whose dilation doubles
from layer to layer (1, 2, 4, ..., 32: six layers see 64 steps back), gated units
tanh ⊙ sigmoid, residual and skip connections, and a softmax over the levels.

This example

1. reads the 8x8 digits as sequences of 64 pixels in raster order and trains the
   ``digits-reference`` architecture (receptive field exactly 64: every earlier pixel), so
   its test NLL sits in the same table as PixelCNN's; saves digits_samples.png;
2. times sampling: the naive loop (a pass over the receptive field for every new value)
   against the fast algorithm of Paine et al. 2016 (a queue of past activations per layer,
   one step per layer per value; minigen/models/autoregressive/fast_wavenet.py), from the
   same noise: the samples are identical, the fast one is many times quicker;
3. trains the ``speech`` preset on spoken digits synthesised locally by espeak-ng, 8 kHz,
   μ-law 256 levels (make them once with ``python -m minigen.data speech``; without them it
   uses the synthetic sums of sinusoids), and saves waveforms.png (real above, generated
   below) and samples.wav.

The full protocol is ``python -m minigen train wavenet --config digits-reference`` (cap 200
epochs, patience 20) and ``python -m minigen train wavenet --config speech``; this example
stops earlier to finish in minutes.

Run:  python examples/14_wavenet.py            (about 10-15 minutes on a laptop CPU)
      python examples/14_wavenet.py --tiny     (seconds: the smoke test's settings, no espeak-ng)
"""
import argparse
import math
import os

import numpy as np

from minigen.data import get_dataset
from minigen.data.speech import speech_path
from minigen.models import build_model
from minigen.models.autoregressive._wavenet_audio import audio_figures
from minigen.models.autoregressive.fast_wavenet import time_generation
from minigen.plots import image_grid
from minigen.run import train

PIXELCNN = 82.32       # README: python -m minigen train pixelcnn --config digits-reference


def digits(tiny, out_dir, epochs):
    """Train on the digits as sequences, save samples, time naive against fast sampling."""
    ref = build_model("wavenet", "digits-reference", rng=0)
    print(f"digits-reference: dilations {ref.dilations}, kernel {ref.kernel}: receptive field "
          f"{ref.receptive_field} = 1 + sum of dilations; {ref.num_parameters():,} parameters")
    preset = "digits-tiny" if tiny else "digits-reference"
    epochs = epochs or (1 if tiny else 40)
    print(f"== wavenet --config {preset} (at most {epochs} epochs)")
    result = train("wavenet", preset, progress=False, figures=False, epochs=epochs)
    model, report = result.model.eval(), result.report
    print(f"best epoch {result.best['step'] / math.ceil(1000 / 64):.0f}, {result.seconds:.0f} s; test NLL "
          f"{report['nll']:.2f} nats ({report['bpd']:.4f} bits/dim); PixelCNN {PIXELCNN}")
    rng = np.random.default_rng(1)
    path = image_grid(model.sample(16 if tiny else 64, rng), os.path.join(out_dir, "digits_samples.png"),
                      title="WaveNet samples: 64 pixels drawn one after another", levels=model.num_levels)
    print(f"saved {path}")
    timing = time_generation(model, 16 if tiny else 64, 64, rng)
    print(f"sampling {16 if tiny else 64} digits: naive {timing['naive_s']:.2f} s, fast {timing['fast_s']:.2f} s "
          f"-> {timing['speedup']:.1f}x faster, identical samples: {timing['identical']}")
    return report["nll"], timing


def audio(tiny, out_dir, steps):
    """Train on speech (or the synthetic sinusoids) and save waveforms.png and samples.wav."""
    if not tiny and os.path.exists(speech_path()):
        data, preset, kwargs = "speech", "speech", {}
    else:
        if not tiny:
            print(f"no speech clips at {speech_path()}: run `python -m minigen.data speech` (needs espeak-ng); "
                  "using the synthetic sinusoids instead")
        data, preset = "sinusoids", "speech"
        kwargs = dict(data_shape=(1, 256), residual=8, gate_channels=8, skip=8, head=8,
                      dilations=(1, 2, 4, 8)) if tiny else dict(data_shape=(1, 256))
    steps = steps or (3 if tiny else 500)
    print(f"== wavenet --config {preset} on {data} ({steps} steps)")
    result = train("wavenet", preset, data=data, steps=steps, progress=False, figures=False, model_kwargs=kwargs,
                   early_stopping=None, eval_every=steps)
    model, report = result.model.eval(), result.report
    print(f"receptive field {model.receptive_field} steps; test NLL {report['bpd']:.3f} bits per step "
          f"(uniform: 8; one histogram of the levels: 7.36 on speech); {result.seconds:.0f} s")
    test = get_dataset(data, "test")
    paths = audio_figures(model, out_dir, np.random.default_rng(2), test, n=2 if tiny else 4,
                          seconds=0.02 if tiny else 1.0)
    print("saved " + ", ".join(paths))
    timing = time_generation(model, 1, 64 if tiny else 2000, np.random.default_rng(3))
    print(f"one sound of {64 if tiny else 2000} steps: naive {timing['naive_s']:.2f} s, fast "
          f"{timing['fast_s']:.2f} s -> {timing['speedup']:.1f}x faster, identical: {timing['identical']}")
    return report["bpd"], timing


def main(tiny=False, out_dir="runs/14_wavenet", epochs=None, steps=None):
    os.makedirs(out_dir, exist_ok=True)
    nll, digit_timing = digits(tiny, out_dir, epochs)
    bpd, audio_timing = audio(tiny, out_dir, steps)
    return {"test_nll": nll, "audio_bpd": bpd, "digits_speedup": digit_timing["speedup"],
            "audio_speedup": audio_timing["speedup"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--epochs", type=int, default=None, help="digits: at most this many epochs (default 40)")
    p.add_argument("--steps", type=int, default=None, help="audio: optimiser steps (default 500)")
    p.add_argument("--out", default="runs/14_wavenet", help="folder for the PNG and WAV files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out, epochs=args.epochs, steps=args.steps)
