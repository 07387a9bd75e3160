"""Every registered model, and the run layer, on ``device="cuda"`` without a GPU.

``fakecuda`` registers a pretend GPU whose arrays refuse to mix with NumPy arrays, as
CuPy's do. Each row of the model table then runs train_step, eval_step, evaluate,
sample, report and figures with its parameters and batches "on the device": a NumPy
array built on the CPU and mixed into the computation (noise, masks, targets) fails
here as it would on a GPU. What comes back to the host must be plain NumPy: samples,
state dicts, checkpoints. The same flow on a real GPU is ``test_gpu_models.py``.
"""
import os

import numpy as np
import pytest

import autograd
from minigen.data import BatchLoader, get_dataset
from minigen.models import TrainConfig, build_model

from . import fakecuda
from .models.model_table import ROWS


# Models checked on the device. A model of the table that is not listed runs too, as an
# expected failure until it passes (then add it here).
ON_DEVICE = {"rbm", "dbm", "ebm", "pixelcnn", "vae", "realnvp", "independent", "mlp", "fvsbn", "nade", "made", "kde", "gmm",
             "gated-pixelcnn", "row-lstm", "diagonal-bilstm", "gan", "wgan-gp", "dcgan",
             "autoencoder", "sparse-autoencoder", "denoising-autoencoder", "vq-vae",
             "nice", "maf", "iaf", "glow", "planar", "wavenet", "cgan", "wgan", "cyclegan", "vae-gan", "ddpm",
             "phi4", "spline-flow", "gsn", "seq2seq-autoencoder", "stacked-autoencoder", "vq-vae-prior",
             "latent-diffusion"}


def rows():
    return [pytest.param(r, id=r.name) if r.name in ON_DEVICE else
            pytest.param(r, id=r.name, marks=pytest.mark.xfail(reason="not yet checked on a device", strict=False))
            for r in ROWS]


@pytest.fixture
def cuda(monkeypatch):
    fakecuda.install(monkeypatch)
    return "cuda"


def test_the_fake_device_refuses_to_mix(cuda):
    x = autograd.to_device(np.ones(3, np.float32), cuda)
    assert fakecuda.on_device(x) and autograd.device_of(x) == "cuda"
    assert type(autograd.as_numpy(x)) is np.ndarray
    assert fakecuda.on_device(x + 1.0) and fakecuda.on_device(autograd.get_array_module(x).zeros(2))
    with pytest.raises(TypeError, match="CPU mixed"):
        x + np.ones(3, np.float32)
    with pytest.raises(TypeError, match="CPU mixed"):
        np.concatenate([x, np.ones(3, np.float32)])
    with pytest.raises(RuntimeError, match="different devices"):
        autograd.Tensor(x) * autograd.Tensor(np.ones(3, np.float32))


def _small(split, row, n=None):
    """The first examples of the digits split (a Dataset) in the row's model view."""
    model = build_model(row.name, rng=0, **row.tiny)
    data = get_dataset("digits", split, view=model.dataset_view)
    return data.subset(slice(0, n or row.batch))


def _host_array(a):
    return type(a) is np.ndarray


@pytest.mark.parametrize("row", rows())
def test_every_model_runs_on_the_device(row, cuda, tmp_path):
    model = build_model(row.name, rng=0, **row.tiny).to(cuda)
    model.configure_optimizers(TrainConfig(lr=row.lr), 10)
    train, val = _small("train", row), _small("val", row)
    loader = BatchLoader(*train.arrays(), batch_size=row.batch, shuffle=False)
    batch = model.to_device(next(iter(loader)))
    for _ in range(2):
        metrics = model.train_step(batch)
        assert all(isinstance(v, float) and np.isfinite(v) for v in metrics.values()), metrics
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        assert fakecuda.on_device(t), f"{row.name}: {name} left the device"
    model.eval()
    with autograd.no_grad():
        scores = model.eval_step(batch)
        assert all(np.isfinite(float(v)) for v in scores.values()), scores
        assert model.evaluate(val, batch_size=16).keys() == scores.keys()
        if model.is_generative:
            report = model.report(val, np.random.default_rng(3))
            assert all(np.isfinite(v) for v in report.values() if isinstance(v, float)), report
    if "sampler" in row.tags:
        x = model.sample(3, np.random.default_rng(1))
        assert _host_array(x) and x.shape == (3,) + tuple(model.data_shape), type(x)
    paths = model.figures(str(tmp_path), np.random.default_rng(2), val) if model.is_generative else []
    assert all(os.path.exists(p) for p in paths)
    state = model.state_dict()
    assert all(_host_array(v) for v in state.values())


@pytest.mark.parametrize("row", rows())
def test_the_device_gives_the_cpu_figures(row, cuda):
    """The pretend device computes with NumPy: one step and an evaluation give the CPU's numbers."""
    out = {}
    for device in ("cpu", cuda):
        model = build_model(row.name, rng=0, **row.tiny).to(device)
        model.configure_optimizers(TrainConfig(lr=row.lr), 10)
        x = _small("train", row)
        batch = model.to_device(x.arrays() if x.y is not None else x.x)
        out[device] = (model.train_step(batch), model.eval_step(batch))
    assert out["cpu"] == out[cuda]


@pytest.mark.parametrize("name", ["pixelcnn", "vae", "realnvp", "independent"])
def test_the_run_layer_on_the_device(name, cuda, tmp_path, capsys):
    """``train(..., device="cuda")`` gives the CPU run's figures (the pretend device computes
    with NumPy and the reference kernels, as the CPU run does here); its checkpoints load on
    the CPU; ``python -m minigen sample/eval --device cuda`` work on the run."""
    from minigen.checkpoint import load_checkpoint
    from minigen.cli import main
    from minigen.run import evaluate_run, load_run, train
    results = {}
    for device in ("cpu", cuda):
        out = str(tmp_path / device)
        result = train(name, "digits-tiny" if name != "independent" else None, out=out, device=device,
                       epochs=1, progress=False, figures=False)
        assert result.model.device == device
        results[device] = (result.report, result.best["value"])
    assert results["cpu"] == results[cuda]
    run = str(tmp_path / cuda)
    for file in ("checkpoint.npz", "best.npz"):
        if os.path.exists(os.path.join(run, file)):
            load_checkpoint(os.path.join(run, file))                  # plain .npz, no pickle
    model, _ = load_run(run, device="cpu")
    assert all(type(t.data) is np.ndarray for t in model.parameters())
    report, model, _ = evaluate_run(run, device=cuda)
    assert model.device == cuda and report["nll" if "nll" in report else "nelbo"] == \
        results[cuda][0]["nll" if "nll" in report else "nelbo"]
    assert main(["sample", run, "--n", "4", "--device", cuda]) == 0
    assert np.load(os.path.join(run, "sample_seed0.npy")).shape[0] == 4
    assert main(["eval", run, "--device", cuda]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("suite", ["models_pixelcnn", "models_vae", "models_realnvp"])
def test_the_model_benchmarks_run_on_the_device(suite, cuda, monkeypatch):
    """``python -m minigen.bench models --device cuda``: each case's state is on the device and
    every minigen pass runs there (at batch 2 instead of 256, to stay quick on a CPU)."""
    import importlib
    mod = importlib.import_module(f"minigen.bench.{suite}")
    monkeypatch.setattr(mod, "GPU_N", 2)
    monkeypatch.setattr("minigen.bench._timing.torch_or_none", lambda: None)
    monkeypatch.setattr(mod, "torch_or_none", lambda: None)
    (case,) = mod.cases(cuda)
    state = case["setup"]()
    assert fakecuda.on_device(state["x"]) and state["model"].device == cuda and "N=2" in case["name"]
    for run in case["minigen"].values():
        run(state)
    assert all(fakecuda.on_device(p) for p in state["model"].parameters())
