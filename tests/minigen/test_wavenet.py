"""WaveNet (minigen/models/autoregressive/wavenet.py, fast_wavenet.py): receptive field, the
fast generator, μ-law companding, learning on a tiny setting.

The family contracts (Jacobian against ``dependency_mask``, normalisation by enumeration of
a 4-step sequence, gradcheck, learning on digits) run on the model table's row; here: the
digits-reference sees exactly 64 earlier values, a short stack's receptive field is a band,
the fast generator of Paine et al. gives the naive sampler's samples bit for bit from the
same noise, and the μ-law round trip.
"""
import numpy as np
import pytest

from autograd import Tensor, backward
from minigen.data import mu_law_decode, mu_law_encode
from minigen.models import TrainConfig, build_model
from minigen.models.autoregressive.fast_wavenet import draw, time_generation
from minigen.models.autoregressive.wavenet import WaveNet

from .models.test_contracts import check_jacobian


def small(dtype=np.float64, **kw):
    args = dict(residual=4, gate_channels=4, skip=4, head=4)
    args.update(kw)
    return WaveNet(rng=0, dtype=dtype, **args)


def feeds(model, t, T):
    """Which input steps feed the logits of step t, on one random sequence of length T."""
    x = Tensor(np.random.default_rng(0).uniform(0, model.num_levels - 1, (2, 1, T)), requires_grad=True)
    logits = model.sequence_logits(x)                                   # (2, L, T)
    gy = np.zeros(logits.shape)
    gy[:, :, t] = np.random.default_rng(1).standard_normal(gy[:, :, t].shape)
    backward(logits, Tensor(gy))
    return np.flatnonzero(np.abs(x.grad.data).sum(axis=(0, 1)) > 0)


def test_digits_reference_receptive_field_is_exactly_64():
    """1 (the shifted input) + 1 + 2 + 4 + 8 + 16 + 32 = 64: on a sequence of 200 steps the
    logits of step 150 see steps 86..149, nothing else, and step 30 sees 0..29."""
    ref = build_model("wavenet", "digits-reference", rng=0)
    assert ref.receptive_field == 64 and ref.dilations == (1, 2, 4, 8, 16, 32)
    model = small(data_shape=(1, 200))                              # same dilations, fewer channels
    assert model.receptive_field == 64
    np.testing.assert_array_equal(feeds(model, 150, 200), np.arange(86, 150))
    np.testing.assert_array_equal(feeds(model, 30, 200), np.arange(0, 30))
    assert ref.dependency_mask().sum() == 64 * 63 // 2               # every earlier pixel of a digit


def test_short_stack_sees_a_band_and_the_network_agrees():
    """Dilations (1, 2) on digits: each pixel sees the 4 values before it in raster order."""
    model = small(dilations=(1, 2))
    assert model.receptive_field == 4
    check_jacobian(model)
    dep = model.dependency_mask()
    assert dep[10].nonzero()[0].tolist() == [6, 7, 8, 9]


@pytest.mark.parametrize("dtype,kernel,dilations,shape", [
    (np.float64, 2, (1, 2, 4, 8), (1, 8, 8)),
    (np.float32, 2, (1, 2, 4, 1, 2, 4), (1, 40)),
    (np.float64, 3, (1, 3), (1, 30)),
])
def test_fast_generation_equals_naive_generation(dtype, kernel, dilations, shape):
    """Paine et al.'s queues give the naive sampler's samples bit for bit from the same noise
    (several cycles of dilations, kernel 3, float32); the model's sample() uses them."""
    model = small(dtype=dtype, kernel=kernel, dilations=dilations, data_shape=shape, num_levels=7)
    for p in model.parameters():                                     # sharper conditionals than at init
        p.data = p.data * 3
    u = np.random.default_rng(0).random((5, model.D))
    fast, naive = model.generate(u, fast=True), model.generate(u, fast=False)
    assert fast.dtype == naive.dtype == np.int64
    np.testing.assert_array_equal(fast, naive)
    assert len(np.unique(fast)) > 2                                  # not a constant sequence
    x = model.sample(5, np.random.default_rng(3))
    assert x.shape == (5,) + shape and x.dtype == np.uint8


def test_fast_generation_is_faster():
    model = small(data_shape=(1, 256), dilations=(1, 2, 4, 8, 16, 32, 64), dtype=np.float32)
    timing = time_generation(model, 2, 256, np.random.default_rng(0))
    assert timing["identical"] and timing["speedup"] > 2, timing


def test_draw_is_the_inverse_cdf():
    logits = np.log(np.array([[0.2, 0.3, 0.5]] * 5))
    u = np.array([0.0, 0.19, 0.2, 0.49, 0.999])
    np.testing.assert_array_equal(draw(logits, u), [0, 0, 1, 1, 2])


def test_mu_law_round_trip_and_monotone():
    """[1] eq. (2) with μ = 255: decode(encode(x)) within half a step of the companded grid,
    finer near 0; encode is non-decreasing and decode strictly increasing."""
    x = np.linspace(-1, 1, 20001)
    q = mu_law_encode(x, 256)
    assert q.min() == 0 and q.max() == 255 and np.all(np.diff(q) >= 0)
    levels = mu_law_decode(np.arange(256), 256)
    assert np.all(np.diff(levels) > 0)
    np.testing.assert_allclose(levels[[0, -1]], [-1, 1], atol=1e-12)
    np.testing.assert_array_equal(mu_law_encode(levels, 256), np.arange(256))   # levels are fixed points
    error = np.abs(mu_law_decode(q, 256) - x)
    small_x = np.abs(x) < 0.01
    assert error.max() < 0.03 and error[small_x].max() < 3e-4


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="data_shape"):
        WaveNet(data_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="dilations"):
        WaveNet(dilations=(1, 0))
    with pytest.raises(ValueError, match="u must be"):
        small().generate(np.zeros(5))
    with pytest.raises(ValueError, match="shape"):
        small().nll(np.zeros((2, 1, 10), np.int64))


def test_a_tiny_wavenet_learns_the_digits():
    from minigen.data import get_dataset
    model = small(dtype=np.float32, residual=8, gate_channels=8, skip=8, head=8)
    x = get_dataset("digits", "train").x
    val = get_dataset("digits", "val").subset(np.arange(128))
    before = model.evaluate(val)["nll"]
    model.configure_optimizers(TrainConfig(lr=1e-2), 30)
    rng = np.random.default_rng(0)
    for _ in range(30):
        model.train_step((x[rng.integers(0, len(x), 32)],))
    after = model.evaluate(val)["nll"]
    assert after < 0.75 * before, (before, after)


# -- the speech data (minigen/data/speech.py): no espeak-ng needed -------------------------------------
def sine(freq, rate, seconds=0.1):
    return np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def test_resample_keeps_what_the_new_rate_holds_and_removes_the_rest():
    """22050 -> 8000 Hz: a 1 kHz tone stays the same tone; a 6 kHz tone (above the new
    Nyquist frequency, 4 kHz) is filtered out instead of aliasing to 2 kHz."""
    from minigen.data.speech import resample
    low = resample(sine(1000, 22050), 22050, 8000)
    assert len(low) == 800
    np.testing.assert_allclose(low[50:-50], sine(1000, 8000)[50:-50], atol=2e-3)
    high = resample(sine(6000, 22050), 22050, 8000)
    assert np.abs(high[50:-50]).max() < 0.01
    np.testing.assert_allclose(resample(np.full(500, 0.3), 22050, 8000), 0.3)   # a constant stays


def test_speech_cache_splits_and_segments(tmp_path, monkeypatch):
    """The data command's pipeline with a pretend espeak-ng (tones instead of words): clips
    end up in exactly one split, cut into segments of the asked length, μ-law uint8."""
    from minigen.data import get_dataset, speech
    monkeypatch.setattr(speech, "VOICES", ("a", "b"))
    monkeypatch.setattr(speech, "SPEEDS", (1,))
    monkeypatch.setattr(speech, "PITCHES", (1, 2))
    monkeypatch.setattr(speech.shutil, "which", lambda name: "/pretend/" + name)
    monkeypatch.setattr(speech, "_synthesise", lambda word, voice, s, p, folder:
                        (0.5 * sine(200 + 50 * len(word) + 100 * p, 22050, 0.05 + 0.01 * len(voice)), 22050))
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    speech.build_speech()
    splits = {s: get_dataset("speech", s, length=64) for s in ("train", "val", "test")}
    clips = speech.split_of_clips(40)
    assert [len(clips[s]) for s in ("train", "val", "test")] == [32, 4, 4]
    assert not set(clips["train"]) & set(clips["test"])
    for ds in splits.values():
        assert ds.x.shape[1:] == (1, 64) and ds.x.dtype == np.uint8 and ds.num_levels == 256
        assert set(np.unique(ds.y)) <= set(range(10)) and len(ds.y) == len(ds.x)
    assert splits["train"].x.max() > 200 and splits["train"].x.min() < 55      # the peak is 0.9


def test_missing_speech_cache_or_espeak_names_the_command(tmp_path, monkeypatch):
    from minigen.data import DatasetNotFoundError, get_dataset, speech
    from minigen.data.__main__ import main
    with pytest.raises(DatasetNotFoundError, match="python -m minigen.data speech"):
        get_dataset("speech", "train", root=str(tmp_path))
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="espeak-ng was not found.*python -m minigen.data speech"):
        speech.build_speech(str(tmp_path))
    assert main(["speech", "--root", str(tmp_path)]) == 1


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_ng_speaks_a_word(tmp_path):
    from minigen.data import speech
    x, rate = speech._synthesise("seven", "en-us", 165, 50, str(tmp_path))
    assert rate == 22050 and len(x) > 0.2 * rate and 0.05 < np.abs(x).max() <= 1


def test_a_sequence_model_draws_waveforms_and_writes_a_wav(tmp_path):
    from minigen.data import get_dataset
    from minigen.data.speech import read_wav
    from minigen.models.autoregressive._wavenet_audio import audio_figures
    model = small(dtype=np.float32, data_shape=(1, 32), num_levels=256, dilations=(1, 2))
    split = get_dataset("sinusoids", "test", n=3, length=32)
    paths = audio_figures(model, str(tmp_path), np.random.default_rng(0), split, n=2, seconds=0.01)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["waveforms.png", "samples.wav"]
    x, rate = read_wav(paths[1])
    assert rate == 8000 and len(x) == 2 * (80 + 2000) and np.abs(x).max() <= 1    # 2 x (10 ms + 0.25 s gap)
