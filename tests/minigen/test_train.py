"""The training loop: checkpoints (atomic, exact), bit-identical resume, early stopping,
and the mlp classifier reaching 95 % test accuracy on digits."""
import json
import os
import time

import numpy as np
import pytest

from minigen.checkpoint import flatten_state, load_checkpoint, save_checkpoint
from minigen.data import Dataset, get_dataset
from minigen.models import GenerativeModel, build_model, get_model, get_preset, list_models, register
from minigen.nn import Parameter
from minigen.train import evaluate, load_run, train


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


def _tiny_mlp():
    # augmentation and dropout draw from the model's generator: resume must restore it
    return build_model("mlp", "digits-reference", rng=np.random.default_rng([0, 0]), hidden=32)


def _records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in f]


def test_resume_is_bit_identical(tmp_path):
    kw = dict(steps=40, eval_every=8, checkpoint_every=8, progress=False, figures=False, seed=5,
              optim={"lr": 3e-3, "schedule": "cosine", "ema_decay": 0.9})
    straight = _tiny_mlp()
    train(straight, "digits", out_dir=str(tmp_path / "a"), **kw)

    def kill_at_21(step, record):   # dies after the checkpoint of step 16, with 5 steps logged past it
        if step == 21:
            raise Killed

    with pytest.raises(Killed):
        train(_tiny_mlp(), "digits", out_dir=str(tmp_path / "b"), on_step=kill_at_21, **kw)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.npz")["step"] == 16
    resumed = _tiny_mlp()                                  # new objects, as in a new process
    result = train(resumed, "digits", out_dir=str(tmp_path / "b"), resume=True, **kw)
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
    kw = dict(steps=2, progress=False, figures=False, out_dir=str(tmp_path))
    train(_tiny_mlp(), "digits", **kw)
    with pytest.raises(FileExistsError, match="resume"):
        train(_tiny_mlp(), "digits", **kw)
    assert train(_tiny_mlp(), "digits", resume=True, **kw).step == 2      # already done: no-op


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
    result = train(model, ds, val_data=ds, steps=100, batch_size=4, eval_every=4,
                   early_stopping=("val/loss", 2), out_dir=str(tmp_path), progress=False, figures=False)
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
    assert model.config == {"model": "mlp", "preset": "digits-plain", "kwargs": {
        "hidden": 16, "dropout": 0.0, "label_smoothing": 0.0, "augment": False}}
    with pytest.raises(NotImplementedError, match="not a generative model"):
        model.sample(4, np.random.default_rng(0))


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
    preset = get_preset("mlp", "digits-reference")["train"]     # what `python -m minigen train mlp` runs
    model = build_model("mlp", "digits-reference", rng=np.random.default_rng([0, 0]))
    start = time.perf_counter()
    result = train(model, "digits", epochs=preset["epochs"], batch_size=preset["batch_size"],
                   optim={"lr": preset["lr"], "ema_decay": preset["ema_decay"]}, out_dir=str(tmp_path),
                   seed=0, progress=False)
    seconds = time.perf_counter() - start
    test = evaluate(model, get_dataset("digits", "test", view="scaled"))
    print(f"mlp digits: test accuracy {test['accuracy']:.4f}, {result.step} steps in {seconds:.1f} s")
    assert test["accuracy"] >= 0.95
    assert seconds < 60
    assert (tmp_path / "curves.png").stat().st_size > 0
    reloaded, config = load_run(str(tmp_path), which="last")
    assert config["data"] == "digits"
    assert evaluate(reloaded, get_dataset("digits", "test", view="scaled")) == test
