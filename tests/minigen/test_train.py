"""The run layer and the loop: checkpoints (atomic, exact, a previous one to fall back to),
bit-identical resume, early stopping, a non-finite loss, settings resolution, and the mlp
classifier reaching 95 % test accuracy on digits."""
import json
import os
import time

import numpy as np
import pytest

import minigen
from minigen.checkpoint import CheckpointError, flatten_state, load_checkpoint, save_checkpoint
from minigen.data import BatchLoader, Dataset, get_dataset
from minigen.loop import Loop, NonFiniteLossError
from minigen.models import (GenerativeModel, Preset, TrainConfig, build_model, get_model, get_preset,
                            list_models, register, resolve)
from minigen.nn import Parameter
from minigen.run import RunFolder, load_run, train


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny matmuls: a second OpenBLAS thread only adds spin-waiting on a busy 2-core machine."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


# ----------------------------------------------------------------------------- checkpoints


def _state():
    rng = np.random.default_rng(123)
    rng.standard_normal(5)
    return {"model": {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                      "steps": np.array(7, dtype=np.int64)},
            "optim": {"param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}],
                      "state": {"0": {"step": 3, "exp_avg": np.full(3, 1e-30)}}},
            "rng": rng.bit_generator.state, "step": 12, "best": None, "name": "x", "flag": True,
            "value": np.float64(0.1 + 0.2)}


def test_checkpoint_round_trip_is_exact(tmp_path):
    state = _state()
    path = tmp_path / "ck.npz"
    save_checkpoint(path, state)
    back = load_checkpoint(path)
    np.testing.assert_array_equal(back["model"]["fc.weight"], state["model"]["fc.weight"])
    assert back["model"]["fc.weight"].dtype == np.float32 and back["model"]["steps"].dtype == np.int64
    assert back["optim"]["state"]["0"]["exp_avg"][0] == 1e-30
    assert back["optim"]["param_groups"][0]["betas"] == [0.9, 0.999]      # tuples come back as lists
    assert back["rng"] == state["rng"]                                     # 128-bit ints exact
    assert back["value"] == 0.1 + 0.2 and back["best"] is None and back["flag"] is True
    rng = np.random.default_rng()
    rng.bit_generator.state = back["rng"]
    assert np.array_equal(rng.standard_normal(3), np.random.default_rng(123).standard_normal(8)[5:])
    assert "model/fc.weight" in np.load(path).files                        # readable with np.load


def test_checkpoint_rejects_what_it_cannot_store():
    with pytest.raises(TypeError, match="object"):
        flatten_state({"a": object()})


def test_crash_mid_write_leaves_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, {"step": 1, "w": np.ones(3)})
    before = path.read_bytes()

    def torn_savez(f, **arrays):          # writes half a file, then "the process dies"
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", torn_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "w": np.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]               # no temp file left


# ----------------------------------------------------------------------------- exact resume


class Killed(Exception):
    pass


MLP = dict(model_kwargs={"hidden": 32}, progress=False, figures=False)


def _records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in f]


def test_resume_is_bit_identical(tmp_path):
    """Augmentation and dropout draw from the model's generator, the schedule and the EMA
    have state: a run killed between checkpoints and resumed ends bit-identical."""
    kw = dict(steps=40, eval_every=8, checkpoint_every=8, seed=5, lr=3e-3, schedule="cosine",
              ema_decay=0.9, **MLP)
    straight = train("mlp", out=str(tmp_path / "a"), **kw).model

    def kill_at_21(step, record):   # dies after the checkpoint of step 16, with 5 steps logged past it
        if step == 21:
            raise Killed

    with pytest.raises(Killed):
        train("mlp", out=str(tmp_path / "b"), on_step=kill_at_21, **kw)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.npz")["step"] == 16
    assert load_checkpoint(tmp_path / "b" / "checkpoint.prev.npz")["step"] == 8
    result = train("mlp", out=str(tmp_path / "b"), resume=True, **MLP)   # settings from config.json
    resumed = result.model
    assert result.step == 40
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    sa = straight.optimizers["main"].state_dict()["state"]
    sb = resumed.optimizers["main"].state_dict()["state"]
    assert all(np.array_equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)
    assert straight.rng.bit_generator.state == resumed.rng.bit_generator.state
    assert straight.optimizers["main"].lr == resumed.optimizers["main"].lr        # the schedule
    assert all(np.array_equal(straight.ema.shadow[k], resumed.ema.shadow[k]) for k in straight.ema.shadow)
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    best_a, best_b = (load_checkpoint(tmp_path / r / "best.npz") for r in "ab")
    assert best_a["step"] == best_b["step"]
    assert all(np.array_equal(best_a["model"][k], best_b["model"][k]) for k in best_a["model"])
    reloaded, _ = load_run(str(tmp_path / "b"), which="last")                     # EMA comes back
    assert all(np.array_equal(reloaded.ema.shadow[k], resumed.ema.shadow[k]) for k in resumed.ema.shadow)


def test_existing_run_needs_resume(tmp_path):
    kw = dict(steps=2, out=str(tmp_path), **MLP)
    train("mlp", **kw)
    with pytest.raises(FileExistsError, match="resume"):
        train("mlp", **kw)
    assert train("mlp", resume=True, **kw).step == 2                  # already done: no-op


def test_resume_errors_instead_of_silently_changing_the_run(tmp_path):
    """--resume on a folder with no run, with another preset, or with another architecture."""
    with pytest.raises(FileNotFoundError, match="holds no run"):
        train("mlp", out=str(tmp_path / "nothing"), resume=True, **MLP)
    train("mlp", "digits-plain", out=str(tmp_path), steps=2, **MLP)
    with pytest.raises(ValueError, match="digits-plain.*not 'digits-reference'"):
        train("mlp", "digits-reference", out=str(tmp_path), resume=True, **MLP)
    with pytest.raises(ValueError, match="keeps its architecture"):
        train("mlp", out=str(tmp_path), resume=True, progress=False, model_kwargs={"hidden": 64})
    with pytest.raises(ValueError, match="holds a 'mlp' model"):
        train("vae", out=str(tmp_path), resume=True, progress=False)


def test_a_corrupted_checkpoint_is_named_and_resume_falls_back_to_the_previous(tmp_path):
    kw = dict(steps=8, eval_every=4, out=str(tmp_path), **MLP)
    train("mlp", **kw)
    run = RunFolder(tmp_path)
    with open(run.checkpoint, "r+b") as f:                        # truncate the latest checkpoint
        f.truncate(100)
    with pytest.raises(CheckpointError, match="checkpoint.npz is truncated or corrupted"):
        load_checkpoint(run.checkpoint)
    with pytest.warns(UserWarning, match="resuming from the previous checkpoint"):
        result = train("mlp", resume=True, **{**kw, "steps": 12})
    assert result.step == 12
    assert [r["step"] for r in _records(tmp_path) if "train/loss" in r] == list(range(1, 13))


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="lr=-1 is not allowed"):
        TrainConfig(lr=-1)
    kw = dict(out=str(tmp_path), eval_every=4, progress=False)
    train("vae", "digits-tiny", steps=4, **kw)                      # a good checkpoint at step 4
    with pytest.raises(NonFiniteLossError, match=r"step \d+: the .* not finite.*learning rate \(1e\+20\)"
                                                 r".*checkpoint.npz, step 4\) is kept"):
        train("vae", resume=True, steps=40, lr=1e20, **kw)          # resumed with an absurd rate
    state = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state["step"] == 4
    assert all(np.isfinite(v).all() for v in state["model"].values())


# ----------------------------------------------------------------------------- early stopping


class Scripted(GenerativeModel):
    """Its parameter counts the steps; its validation loss follows a script."""

    LOSSES = [5.0, 3.0, 4.0, 6.0, 2.0, 1.0]

    def __init__(self, rng=None):
        super().__init__(rng)
        self.w = Parameter(np.zeros(1, np.float32))

    def train_step(self, batch):
        self.w.data += 1
        return {"loss": 0.0}

    def eval_step(self, batch):
        return {"loss": self.LOSSES[int(self.w.data[0]) // 4 - 1]}


def test_early_stopping_keeps_best_parameters(tmp_path):
    ds = Dataset(np.zeros((16, 2), np.float32), None, "zeros", "train")
    model = Scripted()
    config = TrainConfig(steps=100, batch_size=4, eval_every=4, early_stopping="val/loss:2")
    run = RunFolder(tmp_path)
    run.open_metrics()
    loader = BatchLoader(ds.x, batch_size=4, rng=np.random.default_rng(0))
    result = Loop(model, loader, ds, config, run, progress=False)()
    run.close()
    assert result.stopped_early and result.step == 16          # evals: 5, 3 (best), 4, 6 -> stop
    assert result.best == {"metric": "val/loss", "mode": "min", "value": 3.0, "step": 8}
    assert model.w.data[0] == 8                                 # the best parameters are back
    assert load_checkpoint(tmp_path / "best.npz")["model"]["w"][0] == 8
    assert load_checkpoint(tmp_path / "checkpoint.npz")["model"]["w"][0] == 16


# ----------------------------------------------------------------------------- registry


def test_registry():
    assert "mlp" in list_models() and get_model("mlp").__name__ == "MLPClassifier"
    with pytest.raises(KeyError, match="registered models"):
        get_model("no-such-model")
    with pytest.raises(KeyError, match="digits-reference"):
        build_model("mlp", "no-such-preset")
    with pytest.raises(ValueError, match="already registered"):
        register("mlp")(Scripted)
    model = build_model("mlp", "digits-plain", rng=0, hidden=16)
    assert model.fc1.weight.shape == (16, 64)
    assert model.config == {"model": "mlp", "preset": "digits-plain", "model_kwargs": {
        "hidden": 16, "dropout": 0.0, "label_smoothing": 0.0, "augment": False}}


def test_unknown_settings_are_errors_listing_the_valid_ones():
    with pytest.raises(TypeError, match="no setting 'nonsense'; valid settings: .*augment.*hidden"):
        build_model("mlp", nonsense=3)
    with pytest.raises(TypeError, match="TrainConfig has no setting 'epoch'; valid settings: .*epochs"):
        TrainConfig().replace(epoch=3)

    class Misspelt(Scripted):
        presets = {"p": Preset(model={"widht": 3})}
    with pytest.raises(TypeError, match="preset 'p'.*'widht'"):
        register("misspelt")(Misspelt)
    with pytest.raises(TypeError, match="must be a Preset"):
        Misspelt.presets = {"p": {"model": {}}}
        register("misspelt")(Misspelt)
    assert "misspelt" not in list_models()


@pytest.mark.parametrize("setting,value", [("epochs", 0), ("epochs", -3), ("steps", 0), ("eval_every", 0),
                                           ("batch_size", 0), ("lr", 0.0), ("lr", float("nan")),
                                           ("schedule", "cosin"), ("device", "gpu"),
                                           ("early_stopping", "val/nll"), ("ema_decay", 1.5)])
def test_invalid_settings_name_the_setting_the_value_and_what_is_allowed(setting, value):
    with pytest.raises(ValueError, match=f"{setting}=.* is not allowed: {setting} must be"):
        TrainConfig(**{setting: value})


@pytest.mark.parametrize("name,kwargs,bad", [("vae", {"latent_dim": -1}, "latent_dim"),
                                             ("pixelcnn", {"hidden": 0}, "hidden"),
                                             ("realnvp", {"couplings": 0}, "couplings"),
                                             ("vae", {"hidden": [32, -4]}, "hidden")])
def test_invalid_model_arguments_are_errors(name, kwargs, bad):
    with pytest.raises(ValueError, match=f"{bad}=.* is not allowed"):
        build_model(name, **kwargs)


def test_settings_resolve_flag_then_resumed_run_then_preset_then_default():
    preset, kwargs, config = resolve("vae", "digits-tiny", {"lr": 0.5, "epochs": None})
    assert (preset, kwargs, config.lr, config.epochs, config.batch_size) == ("digits-tiny", {}, 0.5, 3, 64)
    saved = {"model": "vae", "preset": "digits-tiny", "model_kwargs": {"latent_dim": 4},
             "train": {**TrainConfig(epochs=7, lr=0.25).to_dict(), "early_stopping": ["val/nelbo", 3]}}
    preset, kwargs, config = resolve("vae", None, {"epochs": 9}, None, saved)
    assert (preset, kwargs, config.epochs, config.lr) == ("digits-tiny", {"latent_dim": 4}, 9, 0.25)
    assert config.early_stopping == ("val/nelbo", 3)
    assert resolve("vae")[0] == "digits-reference"                          # the default preset
    assert resolve("mlp", None)[2] == get_preset("mlp", "digits-reference").train


def test_python_and_command_line_share_the_presets_recipe(tmp_path):
    """minigen.train("mlp", preset=...) trains with the preset's recipe, like the CLI."""
    result = minigen.train("mlp", preset="digits-plain", out=str(tmp_path), steps=3, progress=False,
                           figures=False)
    config = json.load(open(tmp_path / "config.json"))
    assert config["train"]["lr"] == 3e-3 == result.model.optimizers["main"].lr
    assert config["preset"] == "digits-plain" and config["model_kwargs"]["hidden"] == 128


def test_random_affine_is_a_warp():
    from minigen.models.classifier import random_affine
    x = get_dataset("digits", "train", view="scaled").x[:32]
    rng = np.random.default_rng(0)
    same = random_affine(x, rng, rotate=0, scale=0, shear=0, translate=0)
    np.testing.assert_allclose(same, x, atol=1e-6)                     # the identity map
    warped = random_affine(x, rng)
    assert warped.shape == x.shape and warped.dtype == x.dtype
    assert warped.min() >= 0 and warped.max() <= 1 + 1e-6              # bilinear: a convex mix
    assert 0 < np.abs(warped - x).mean() < 0.2


# ----------------------------------------------------------------------------- the bar


def test_mlp_reaches_95_percent_on_digits_test_within_a_minute(tmp_path):
    start = time.perf_counter()
    result = train("mlp", "digits-reference", out=str(tmp_path), progress=False)   # = python -m minigen train mlp
    seconds = time.perf_counter() - start
    model = result.model
    test = model.evaluate(get_dataset("digits", "test", view="scaled"))
    assert result.report["accuracy"] == test["accuracy"]
    print(f"mlp digits: test accuracy {test['accuracy']:.4f}, {result.step} steps in {seconds:.1f} s")
    assert test["accuracy"] >= 0.95
    assert seconds < 60
    assert (tmp_path / "curves.png").stat().st_size > 0
    reloaded, config = load_run(str(tmp_path), which="last")
    assert config["train"]["data"] == "digits"
    assert reloaded.evaluate(get_dataset("digits", "test", view="scaled")) == test
