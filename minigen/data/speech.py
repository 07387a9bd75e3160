"""Spoken digits synthesised locally with espeak-ng: a real 1-D signal for WaveNet, no internet.

``python -m minigen.data speech`` runs Debian's text-to-speech program ``espeak-ng`` on the
words "zero" .. "nine" in several voices, speeds and pitches (``WORDS``, ``VOICES``,
``SPEEDS``, ``PITCHES``: 540 clips), and for every clip

1. reads the WAV file espeak-ng writes (16-bit mono at 22050 Hz, the ``wave`` module);
2. resamples it to 8 kHz (``resample``: band-limited interpolation with a windowed sinc,
   which is also the low-pass filter that keeps frequencies above 4 kHz from aliasing);
3. trims the silence before and after the word, scales its peak to 0.9;
4. μ-law encodes it to 256 levels (WaveNet [1] §2.2, eq. (2); ``mu_law_encode``).

The clips go to one file, ``<root>/speech/speech-8k.npz`` (root: ``$MINIGEN_DATA``, else
``~/.cache/minigen``). ``get_dataset("speech", split)`` cuts them into segments of
``length`` steps (default 1024 = 128 ms), the last one padded with silence; the clips are
split 80 / 10 / 10 % into train / val / test by a fixed permutation (seed 0), so the
segments of one clip stay in one split. Labels are the spoken digit.

Reference:
    [1] A. van den Oord et al., "WaveNet: A Generative Model for Raw Audio", 2016.
        https://arxiv.org/abs/1609.03499 (§2.2, eq. (2); §3.1 speech at 16 kHz).
"""
import itertools
import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np

from .datasets import Dataset, canonical_split
from .idx import DatasetNotFoundError, default_root
from .toy import mu_law_encode

__all__ = ["WORDS", "VOICES", "SPEEDS", "PITCHES", "RATE", "build_speech", "load_speech", "resample",
           "read_wav", "write_wav", "speech_path"]

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-us", "en-us+f3", "en-gb", "en-gb+f2", "en-gb-scotland+m3", "en-029+f4")  # voice+variant
SPEEDS = (130, 165, 200)           # words per minute (espeak-ng -s)
PITCHES = (35, 50, 65)             # 0..99 (espeak-ng -p)
RATE = 8000                        # samples per second after resampling
LEVELS = 256
_COMMAND = "python -m minigen.data speech"


def speech_path(root=None):
    """Where the clips are cached: ``<root>/speech/speech-8k.npz``."""
    return os.path.join(root or default_root(), "speech", "speech-8k.npz")


def read_wav(path):
    """A 16-bit mono WAV file -> ``(float64 samples in [-1, 1), rate)``."""
    with wave.open(path, "rb") as f:
        if f.getsampwidth() != 2 or f.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono, got {8 * f.getsampwidth()}-bit, "
                             f"{f.getnchannels()} channels")
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        return data.astype(np.float64) / 32768.0, f.getframerate()


def write_wav(path, x, rate=RATE):
    """Write samples x in [-1, 1] as a 16-bit mono WAV file (``wave``, the standard library)."""
    data = np.round(np.clip(np.asarray(x, np.float64), -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(rate))
        f.writeframes(data.tobytes())
    return path


def resample(x, rate_in, rate_out, zero_crossings=16):
    """Band-limited resampling: y[m] = sum_n x[n] h(m / rate_out - n / rate_in).

    h is the ideal low-pass filter at the lower Nyquist frequency f_c = min(rates) / 2,
    ``h(τ) = 2 f_c sinc(2 f_c τ)``, cut to ``zero_crossings`` zero crossings on each side by
    a Hann window, and every output's weights are scaled to sum to 1 (a constant stays
    constant). Downsampling then removes what the new rate cannot hold instead of
    folding it back (aliasing).

    Args:
        x: samples (T,) at ``rate_in``.
        rate_in, rate_out: sampling rates in Hz.
        zero_crossings: half-width of the filter, in zero crossings of the sinc.

    Returns:
        float64 (floor(T rate_out / rate_in),) samples at ``rate_out``.
    """
    x = np.asarray(x, np.float64)
    cutoff = 0.5 * min(rate_in, rate_out)                             # Hz
    half = int(np.ceil(zero_crossings * rate_in / (2 * cutoff)))      # filter half-width, input samples
    times = np.arange(int(len(x) * rate_out / rate_in)) / rate_out    # output times (s)
    n = np.floor(times * rate_in).astype(np.int64)[:, None] + np.arange(-half, half + 1)  # (M, 2 half + 1)
    tau = times[:, None] - n / rate_in                                # seconds from each input sample
    window = 0.5 + 0.5 * np.cos(np.pi * np.clip(tau * rate_in / (half + 1), -1, 1))   # Hann
    h = np.sinc(2 * cutoff * tau) * window
    h = np.where((n >= 0) & (n < len(x)), h, 0.0)                     # zero outside the clip
    return (h * x[np.clip(n, 0, len(x) - 1)]).sum(axis=1) / h.sum(axis=1)


def _synthesise(word, voice, speed, pitch, folder):
    path = os.path.join(folder, "clip.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, word],
                   check=True, capture_output=True)
    return read_wav(path)


def _trim_and_scale(x, threshold=0.02):
    """Drop the silence before and after the word (|x| < threshold * peak), scale the peak to 0.9."""
    loud = np.flatnonzero(np.abs(x) >= threshold * np.abs(x).max())
    x = x[loud[0]:loud[-1] + 1]
    return 0.9 * x / np.abs(x).max()


def build_speech(root=None, progress=False):
    """Synthesise, resample, μ-law encode and cache every clip (the module docstring).

    Returns:
        The path of the cache file.

    Raises:
        RuntimeError: espeak-ng is not installed.
    """
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng was not found: install it (Debian: apt-get install espeak-ng), "
                           f"then run `{_COMMAND}`")
    clips, meta = [], []
    settings = list(itertools.product(range(len(WORDS)), range(len(VOICES)), SPEEDS, PITCHES))
    with tempfile.TemporaryDirectory() as folder:
        for i, (w, v, s, p) in enumerate(settings):
            x, rate = _synthesise(WORDS[w], VOICES[v], s, p, folder)
            clips.append(mu_law_encode(_trim_and_scale(resample(x, rate, RATE)), LEVELS).astype(np.uint8))
            meta.append((w, v, s, p))
            if progress and (i + 1) % 60 == 0:
                print(f"  {i + 1}/{len(settings)} clips")
    path = speech_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])])
    tmp = path + ".tmp.npz"
    np.savez(tmp, levels=np.concatenate(clips), offsets=offsets, meta=np.array(meta, np.int64),
             rate=RATE, num_levels=LEVELS)
    os.replace(tmp, path)                                             # never a half-written cache
    return path


def split_of_clips(n, seed=0):
    """The clips of each split: a fixed permutation, 80 / 10 / 10 %."""
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(0.8 * n), int(0.9 * n)
    return {"train": np.sort(order[:a]), "val": np.sort(order[a:b]), "test": np.sort(order[b:])}


def load_speech(split="train", root=None, length=1024):
    """Segments of ``length`` steps of the cached clips of one split.

    Returns:
        A ``Dataset``: x (N, 1, length) uint8 μ-law levels, y (N,) the spoken digit,
        num_levels 256, classes ``WORDS``.

    Raises:
        DatasetNotFoundError: no cache; the message names the command that makes it.
    """
    split = canonical_split(split)
    path = speech_path(root)
    if not os.path.exists(path):
        raise DatasetNotFoundError(f"the speech clips are not cached at {path}: run `{_COMMAND}` "
                                   "(needs espeak-ng; seconds) or set MINIGEN_DATA to the folder that holds them")
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"length={length!r} is not allowed: length must be an integer >= 1")
    with np.load(path) as f:
        levels, offsets, meta = f["levels"], f["offsets"], f["meta"]
    silence = mu_law_encode(0.0, LEVELS)
    xs, ys = [], []
    for c in split_of_clips(len(meta))[split]:
        clip = levels[offsets[c]:offsets[c + 1]]
        clip = np.concatenate([clip, np.full(-len(clip) % length, silence, np.uint8)])
        xs.append(clip.reshape(-1, 1, length))
        ys.append(np.full(len(xs[-1]), meta[c, 0], np.int64))
    return Dataset(np.concatenate(xs), np.concatenate(ys), "speech", split, num_levels=LEVELS, classes=WORDS)
