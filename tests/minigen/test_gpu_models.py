"""On a GPU (``-m gpu``): the flagship models trained, saved, sampled and evaluated on cuda.

Skipped cleanly without CuPy and a CUDA device. What a GPU adds to the CPU-side device
tests (``test_device_flow.py``, a pretend GPU whose arrays refuse NumPy): the real CuPy
arrays, the CUDA kernels of ``kernels/gpu`` and the GPU's float32 arithmetic.

* every row of the model table: train_step / eval_step / report / sample / figures
  with its parameters and batches on the GPU (the CPU-side test, on real CuPy);
* pixelcnn, vae and realnvp ``digits-tiny`` trained on cuda through
  ``minigen.run.train(..., device="cuda")`` reach the CPU run's test figure within
  float32 noise (``RTOL``: a few epochs of Adam amplify rounding differences of the
  kernels, so the runs agree to about 1e-4 relative, not to the last digit);
* their checkpoints are NumPy ``.npz`` files that load on the CPU, and the CPU
  evaluates the GPU-trained parameters to the GPU's figure;
* ``python -m minigen sample/eval --device cuda`` on the GPU run.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from kernels.backend import HAS_CUPY

from .test_device_flow import rows

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_CUPY, reason="needs CuPy and a CUDA device")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGSHIPS = ["pixelcnn", "vae", "realnvp"]
RTOL = 2e-3          # test figure after digits-tiny: GPU against CPU (float32 noise, amplified by training)
EVAL_RTOL = 1e-5     # the same parameters evaluated on both devices (float32 noise only)


def _figure(report):
    return report["nll_iwae"] if "nll_iwae" in report else report["nll"]


@pytest.mark.parametrize("row", rows())
def test_every_model_runs_on_the_gpu(row, tmp_path):
    from .test_device_flow import test_every_model_runs_on_the_device
    test_every_model_runs_on_the_device(row, "cuda", tmp_path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """digits-tiny of each flagship trained on the CPU and on the GPU: {name: {device: (dir, result)}}."""
    from minigen.run import train
    out = {}
    base = tmp_path_factory.mktemp("gpu-runs")
    for name in FLAGSHIPS:
        out[name] = {}
        for device in ("cpu", "cuda"):
            run = str(base / f"{name}-{device}")
            out[name][device] = (run, train(name, "digits-tiny", out=run, device=device, progress=False))
    return out


@pytest.mark.parametrize("name", FLAGSHIPS)
def test_digits_tiny_on_the_gpu_reaches_the_cpu_figure(name, runs):
    cpu, gpu = (runs[name][d][1] for d in ("cpu", "cuda"))
    assert gpu.model.device == "cuda" and gpu.step == cpu.step
    assert _figure(gpu.report) == pytest.approx(_figure(cpu.report), rel=RTOL), (cpu.report, gpu.report)
    assert gpu.best["value"] == pytest.approx(cpu.best["value"], rel=RTOL)


@pytest.mark.parametrize("name", FLAGSHIPS)
def test_gpu_checkpoints_are_numpy_and_load_on_the_cpu(name, runs):
    from minigen.checkpoint import load_checkpoint
    from minigen.run import evaluate_run
    run = runs[name]["cuda"][0]
    for file in ("checkpoint.npz", "best.npz"):
        path = os.path.join(run, file)
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as z:         # plain arrays, no pickled CuPy
                assert all(z[k].dtype != object for k in z.files)
            load_checkpoint(path)
    on_cpu, model, _ = evaluate_run(run, device="cpu")
    assert all(type(p.data) is np.ndarray for p in model.parameters())
    on_gpu, model, _ = evaluate_run(run, device="cuda")
    assert model.device == "cuda"
    assert _figure(on_gpu) == pytest.approx(_figure(on_cpu), rel=EVAL_RTOL)
    assert _figure(on_gpu) == pytest.approx(_figure(runs[name]["cuda"][1].report), rel=EVAL_RTOL)


@pytest.mark.parametrize("command", [["sample", "--n", "4"], ["eval"]], ids=["sample", "eval"])
def test_the_cli_on_the_gpu(command, runs):
    run = runs["vae"]["cuda"][0]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "minigen", command[0], run, *command[1:], "--device", "cuda"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if command[0] == "sample":
        assert np.load(os.path.join(run, "sample_seed0.npy")).shape[0] == 4
