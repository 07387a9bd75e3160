"""``python -m minigen``: list, train (and --resume), eval, sample, reproduce, bench, and clear errors.

Each command runs in a fresh interpreter, as a user would run it; OPENBLAS_NUM_THREADS=1
keeps the tiny matmuls from spin-waiting on a busy 2-core machine.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minigen.checkpoint import load_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def minigen(*args, cwd, **env_vars):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg", **env_vars}
    return subprocess.run([sys.executable, "-m", "minigen", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_list(tmp_path):
    r = minigen("list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mlp" in r.stdout and "--config digits-reference (default)" in r.stdout
    assert "digits" in r.stdout and "moons" in r.stdout
    assert "``" not in r.stdout                                   # plain text, not reST


def test_help_has_examples(tmp_path):
    for args in (["--help"], ["train", "--help"], ["sample", "--help"], ["eval", "--help"],
                 ["reproduce", "--help"]):
        r = minigen(*args, cwd=tmp_path)
        assert r.returncode == 0 and "python -m minigen" in r.stdout and "example" in r.stdout, args


@pytest.mark.parametrize("args,message", [
    (["train", "nope"], "unknown model 'nope'; registered models: "),
    (["train", "mlp", "--config", "nope"], "no preset 'nope'"),
    (["train", "mlp", "--data", "nope"], "unknown data set 'nope'"),
    (["train", "mlp", "--early-stopping", "val/loss"], "early_stopping='val/loss' is not allowed"),
    (["eval", "no-such-dir"], "not a run folder"),
    (["train", "mlp", "--epochs", "0"], "epochs=0 is not allowed: epochs must be an integer >= 1"),
    (["train", "mlp", "--epochs", "-3"], "epochs=-3 is not allowed"),
    (["train", "mlp", "--steps", "0"], "steps=0 is not allowed"),
    (["train", "mlp", "--eval-every", "0"], "eval_every=0 is not allowed"),
    (["train", "mlp", "--lr", "-1"], "lr=-1.0 is not allowed: lr must be a finite number > 0"),
    (["train", "mlp", "--threads", "0"], "--threads 0 is not allowed"),
    (["train", "vae", "--set", "latent_dim=-1"], "latent_dim=-1 is not allowed"),
    (["train", "vae", "--set", "nonsense=3"], "no setting 'nonsense'; valid settings: "),
    (["train", "vae", "--schedule", "cosin"], "schedule='cosin' is not allowed: schedule must be one of"),
    (["train", "mlp", "--resume", "--out", "no-such-run"], "holds no run"),
    (["sample", "x", "--n", "0"], "--n 0 is not allowed"),
    (["sample", "x", "--n", "-4"], "--n -4 is not allowed"),
    (["reproduce", "nope"], "no README figure for nope"),
])
def test_clear_errors(tmp_path, args, message):
    r = minigen(*args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["refrence", "gpu"])
def test_a_wrong_kernel_choice_is_a_clear_error(tmp_path, value):
    from autograd import HAS_CUPY
    if value == "gpu" and HAS_CUPY:
        pytest.skip("this machine has CuPy and a GPU")
    r = minigen("list", cwd=tmp_path, MINIGEN_KERNELS=value)
    assert r.returncode != 0 and "MINIGEN_KERNELS" in r.stderr, r.stderr
    assert ("reference" in r.stderr and "cpu" in r.stderr) if value == "refrence" else "CuPy" in r.stderr


def test_cuda_without_cupy_is_a_clear_error(tmp_path):
    from autograd import HAS_CUPY
    if HAS_CUPY:
        pytest.skip("this machine has CuPy and a GPU")
    r = minigen("train", "mlp", "--device", "cuda", "--steps", "1", cwd=tmp_path)
    assert r.returncode == 2 and "CuPy" in r.stderr and "Traceback" not in r.stderr


def test_train_resume_eval_sample(tmp_path):
    r = minigen("train", "mlp", "--data", "digits", "--epochs", "2", "--out", "tmp", "--no-progress",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "tmp"
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "best.npz", "curves.png"):
        assert (run / name).stat().st_size > 0, name
    assert "steps: 32 (2 epochs)" in r.stdout and "best val/accuracy" in r.stdout
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val/accuracy" in r] == [16, 32]
    assert json.loads((run / "config.json").read_text())["model"] == "mlp"

    again = minigen("train", "mlp", "--epochs", "2", "--out", "tmp", cwd=tmp_path)
    assert again.returncode == 2 and "--resume" in again.stderr

    # resume to 3 epochs in a new process == 3 epochs straight, bit for bit
    r = minigen("train", "mlp", "--out", "tmp", "--resume", "--epochs", "3", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = minigen("train", "mlp", "--epochs", "3", "--out", "straight", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a = load_checkpoint(run / "checkpoint.npz")
    b = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    assert a["step"] == b["step"] == 48
    assert all(np.array_equal(a["model"][k], b["model"][k]) for k in b["model"])

    r = minigen("eval", "tmp", "--split", "test", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mlp on digits, last parameters: test (447 examples): " in r.stdout   # no early stopping: the last and "accuracy" in r.stdout
    scores = json.loads((run / "eval_test.json").read_text())
    assert 0.5 < scores["accuracy"] <= 1.0

    r = minigen("sample", "tmp", cwd=tmp_path)
    assert r.returncode == 2 and "not a generative model" in r.stderr and "Traceback" not in r.stderr


def test_every_model_prints_its_test_figure_and_eval_reproduces_it(tmp_path):
    """The end-of-run report is printed and written by the run layer for every model; eval
    gives the same numbers (its --k / --draws default to the report's); sample never
    overwrites the training's samples.png."""
    for model in ("pixelcnn", "vae", "realnvp"):
        r = minigen("train", model, "--config", "digits-tiny", "--steps", "2", "--out", model,
                    "--no-progress", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "test (447 examples" in r.stdout, (model, r.stdout)
        report = json.loads((tmp_path / model / "test_metrics.json").read_text())
        r = minigen("eval", model, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        again = json.loads((tmp_path / model / "eval_test.json").read_text())
        assert {k: v for k, v in again.items() if k not in ("split", "which")} == \
            {k: v for k, v in report.items() if k != "split"}, model
    r = minigen("eval", "vae", "--k", "3", cwd=tmp_path)
    assert r.returncode == 0 and "k 3" in r.stdout, r.stderr
    r = minigen("eval", "realnvp", "--draws", "1", cwd=tmp_path)
    assert r.returncode == 0 and "draws 1" in r.stdout, r.stderr
    r = minigen("eval", "pixelcnn", "--k", "3", cwd=tmp_path)
    assert r.returncode == 2 and "no report option --k" in r.stderr, r.stderr
    before = (tmp_path / "vae" / "samples.png").read_bytes()
    r = minigen("sample", "vae", "--n", "4", "--seed", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "vae" / "samples.png").read_bytes() == before
    assert np.load(tmp_path / "vae" / "sample_seed3.npy").shape == (4, 1, 8, 8)


def test_bench_is_forwarded(tmp_path):
    r = minigen("bench", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "python -m minigen.bench" in r.stdout


def test_default_threads_leave_busy_cores_alone(monkeypatch, capsys):
    import os

    from minigen import cli
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    idle = cli.idle_cores(interval=0.05)
    assert idle is None or 0.0 <= idle <= n + 1e-9
    monkeypatch.setattr(cli, "idle_cores", lambda interval=0.2: float(n))      # an idle machine
    assert cli._default_threads() is None                                      # every core
    monkeypatch.setattr(cli, "idle_cores", lambda interval=0.2: max(0.0, n - 1.0))  # one core busy
    assert cli._default_threads() == max(1, n - 1)
    assert "--threads N" in capsys.readouterr().err
    monkeypatch.setattr(cli, "idle_cores", lambda interval=0.2: None)          # no /proc/stat
    assert cli._default_threads() is None
