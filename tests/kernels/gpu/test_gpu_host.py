"""The CUDA kernels and their launchers, run on the CPU by the host emulation, against the twins.

``hostcupy`` compiles each CUDA source of ``kernels/gpu/_sources.py`` as C++ with a shim
that walks the grid serially, so these tests exercise the kernels' index arithmetic
*and* the Python launchers (argument order and types, grids, sample blocks, tap
tables) on every configuration the Numba kernels are tested on.  A wrong index fails
here: ``test_a_wrong_index_fails`` mutates the sources and expects failures.
"""
import re

import numpy as np
import pytest

from kernels import config
from kernels.gpu import _cupy, _sources, _tapgemm

from . import cases, hostcupy

pytestmark = pytest.mark.skipif(hostcupy.CXX is None, reason="needs g++ to emulate the CUDA kernels")

CASES = cases.all_cases()


@pytest.fixture
def host(monkeypatch):
    """kernels.gpu on the host emulation, with small blocks and grids so grid-stride loops wrap."""
    monkeypatch.setattr(config, "CUDA_BLOCK", 32)
    monkeypatch.setattr(config, "CUDA_MAX_BLOCKS", 3)
    monkeypatch.setattr(config, "CUDA_MAX_GRID_Y", 2)
    monkeypatch.setattr(config, "CUDA_ITEMS_PER_THREAD", 2)
    module = hostcupy.install()
    yield module
    hostcupy.uninstall()


@pytest.mark.parametrize("run", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_kernels_match_reference_on_host(run, host):
    import kernels.gpu as G
    cases.check(run, G)


def test_batch_is_split_into_sample_blocks(host, monkeypatch):
    """A tiny column budget forces one GEMM block per sample; results do not change."""
    monkeypatch.setattr(config, "CUDA_COLS_BYTES", 1)
    import kernels.gpu as G
    for name, run in CASES:
        if name.startswith(("conv7", "masked2", "causal3", "convT0")) and name.endswith("float64"):
            cases.check(run, G)


def test_kernels_are_memoized(host):
    import kernels.gpu as G
    x = np.ones((2, 3, 4, 4), np.float32)
    w = np.ones((2, 3, 3, 3), np.float32)
    G.conv2d_forward(x, w, padding=1)
    k = _cupy.kernel("im2col", np.float32)
    G.conv2d_forward(x, w, padding=1)
    assert _cupy.kernel("im2col", np.float32) is k and k.launches == 2
    assert _cupy.kernel("im2col", np.float64) is not k


def test_launch_rejects_python_ints_and_strided_arrays(host):
    """What CuPy would silently get wrong: a Python int for an ``int``, a non-contiguous view."""
    x = np.ones((1, 1, 2, 2), np.float32)
    g = _tapgemm.TapGeometry(1, 1, 2, 2, 1, 2, 2, _tapgemm.conv_offsets(1, 1, 1, 1, 0, 0))
    cols = np.empty((1, 1, 4), np.float32)
    k = _cupy.kernel("im2col", np.float32)
    offs = _cupy.device_constant(g.offsets)
    with pytest.raises(TypeError, match="int32"):
        k((1,), (32,), (x, offs, cols, 1, *g.scalars()[1:], np.int64(4)))
    with pytest.raises(ValueError, match="C-contiguous"):
        k((1,), (32,), (np.ones((1, 1, 2, 4), np.float32)[..., ::2], offs, cols, *g.scalars(), np.int64(4)))
    k((1,), (32,), (x, offs, cols, *g.scalars(), np.int64(4)))
    np.testing.assert_array_equal(cols.ravel(), 1)


def test_no_barriers_or_shared_memory():
    """The host emulation runs threads one after another: only valid without barriers."""
    for name, src in _sources.SOURCES.items():
        assert not re.search(r"__syncthreads|__shared__|__shfl|cooperative_groups", src), name


def test_gpu_package_imports_without_cupy():
    import subprocess
    import sys
    code = "import sys, kernels.gpu; assert 'cupy' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_calling_a_gpu_kernel_without_cupy_is_a_clear_error():
    _cupy.use_module(None)
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    import kernels.gpu as G
    with pytest.raises(RuntimeError, match="need CuPy"):
        G.affine_coupling_forward(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)))


MUTATIONS = [  # (kernel, original, wrong) — each must make some parity case fail
    ("im2col", "int v = j * sw + offs[2 * l + 1];", "int v = j * sw + offs[2 * l];"),
    ("im2col", "int c = (int)(r % C);", "int c = (int)(r % C) * 0;"),
    ("col2im", "int i = a / sh, j = b / sw;", "int i = a / sh, j = b / sh;"),
    ("col2im", "a % sh != 0 || b % sw != 0", "b % sw != 0"),
    ("coupling_fwd", "real m = has_mask ? mask[i] : (real)0;", "real m = has_mask ? mask[D - 1 - i] : (real)0;"),
    ("coupling_bwd", "gs_raw[k] = has_scale ? gs * scale[i]", "gs_raw[k] = has_scale ? gs * scale[0]"),
    ("coupling_inv", "atomicAdd(&logdet[n], -acc)", "atomicAdd(&logdet[0], -acc)"),
    ("coupling_inv_bwd", "real gs = -om * (g * xv + glogdet[n]);", "real gs = -om * (g * xv + glogdet[0]);"),
]


@pytest.mark.parametrize("kernel, original, wrong", MUTATIONS, ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_a_wrong_index_fails(kernel, original, wrong, host, monkeypatch):
    """Tests of the tests: a mutated index in a CUDA source fails at least one parity case."""
    import kernels.gpu as G
    src = _sources.SOURCES[kernel]
    assert original in src, f"mutation anchor missing from {kernel}: update MUTATIONS"
    monkeypatch.setitem(_sources.SOURCES, kernel, src.replace(original, wrong))
    family = "coupling" if kernel.startswith("coupling") else ("conv", "masked", "causal")
    failed = 0
    for name, run in CASES:
        if name.startswith(family) and name.endswith("float64"):
            try:
                cases.check(run, G)
            except AssertionError:
                failed += 1
    assert failed > 0, f"mutating {kernel} ({wrong!r}) went unnoticed"


def test_cross_entropy_gives_nan_for_a_target_outside_the_classes(host):
    """On the GPU targets are not range-checked (that would synchronise): the loss is NaN there."""
    import kernels.gpu as G
    z = np.zeros((2, 3), np.float32)
    loss, lse = G.softmax_cross_entropy_forward(z, np.array([1, 3]), 1)
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isfinite(lse).all()
