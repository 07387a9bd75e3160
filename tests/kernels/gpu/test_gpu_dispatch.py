"""MINIGEN_KERNELS: misspelt values and 'gpu' without a GPU are clear errors (fresh processes)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import kernels
from kernels import config
from kernels.backend import HAS_CUPY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _import_kernels(value):
    env = dict(os.environ, MINIGEN_KERNELS=value, PYTHONPATH=ROOT)
    code = "import kernels, numpy; print(kernels.config.KERNELS or 'auto')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_misspelt_value_lists_the_choices():
    out = _import_kernels("refrence")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: MINIGEN_KERNELS='refrence'"), last
    for choice in ("reference", "cpu", "gpu", "empty"):
        assert choice in last


@pytest.mark.parametrize("value, expected", [("", "auto"), (" Reference ", "reference"), ("cpu", "cpu")])
def test_valid_values(value, expected):
    out = _import_kernels(value)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


@pytest.mark.skipif(HAS_CUPY, reason="CuPy and a GPU are present here")
def test_gpu_without_cupy_fails_at_import():
    out = _import_kernels("gpu")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: MINIGEN_KERNELS=gpu forces the CUDA kernels, but CuPy"), last
    assert "unset MINIGEN_KERNELS" in last


def test_forced_gpu_refuses_numpy_arrays(monkeypatch):
    monkeypatch.setattr(config, "KERNELS", "gpu")
    with pytest.raises(TypeError, match=r"MINIGEN_KERNELS=gpu .* CuPy arrays, got numpy.ndarray"):
        kernels.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)))


def test_a_bad_value_set_at_run_time_is_caught(monkeypatch):
    monkeypatch.setattr(config, "KERNELS", "cuda")
    with pytest.raises(ValueError, match="choose one of reference, cpu, gpu"):
        kernels.backend_for(np.ones(3))


def test_gpu_module_has_only_reference_names():
    import kernels.gpu as G
    from kernels import reference
    assert set(G.__all__) <= set(reference.__all__)
    for name in G.__all__:
        assert getattr(G, name).__doc__ == getattr(reference, name).__doc__
