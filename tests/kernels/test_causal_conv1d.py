"""Causal dilated conv1d (WaveNet): Numba vs reference, causality, edges, errors."""
import numpy as np
import pytest

from kernels import config
from kernels.cpu import causal_conv1d as C
from kernels.reference import causal_conv1d as R

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}

CONFIGS = [  # (n, cin, cout, t, k, dilation)
    (2, 3, 4, 10, 2, 1),
    (1, 5, 3, 7, 3, 4),
    (2, 3, 2, 5, 4, 3),        # kernel reach 9 > T = 5
    (3, 2, 2, 300, 2, 128),    # large dilation
    (1, 1, 1, 1, 1, 1),        # everything size one
    (2, 4, 3, 6, 3, 7),        # every tap but the last reads only padding
]


def _close(a, b, dtype):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a / scale, b / scale, **TOL[dtype])


# Every config serially in both dtypes; the parallel drivers (slow to compile) on a
# subset in float32, with PARALLEL_MIN_ELEMENTS patched to 0 so tiny inputs take them.
PARITY = ([(i, dt, False) for i in range(len(CONFIGS)) for dt in (np.float32, np.float64)]
          + [(i, np.float32, True) for i in (0, 2, 3)])


@pytest.mark.parametrize("i, dtype, parallel", PARITY,
                         ids=[f"{i}-{dt.__name__}-{'par' if p else 'ser'}" for i, dt, p in PARITY])
def test_numba_matches_reference(i, dtype, parallel, monkeypatch):
    cfg = CONFIGS[i]
    if parallel:  # tiny time blocks so even N=1 is split across threads
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
        monkeypatch.setattr(C, "BLOCK_T", 4)
    n, cin, cout, t, k, d = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, t)).astype(dtype)
    w = rng.standard_normal((cout, cin, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    gy = rng.standard_normal((n, cout, t)).astype(dtype)
    y = C.causal_conv1d_forward(x, w, b, d)
    assert y.dtype == dtype
    _close(y, R.causal_conv1d_forward(x, w, b, d), dtype)
    ref = R.causal_conv1d_backward(gy, x, w, d, bias=True)
    got = C.causal_conv1d_backward(gy, x, w, d, bias=True)
    for a, r in zip(got, ref):
        _close(a, r, dtype)
    _close(C.causal_conv1d_grad_input(gy, w, d), ref[0], dtype)
    _close(C.causal_conv1d_grad_weight(x, gy, k, d), ref[1], dtype)


def test_reference_against_loops():
    rng = np.random.default_rng(1)
    x, w, d = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3)), 2
    y = np.zeros((2, 4, 9))
    for t in range(9):
        for k in range(3):
            src = t - d * (2 - k)
            if src >= 0:
                y[:, :, t] += x[:, :, src] @ w[:, :, k].T
    np.testing.assert_allclose(R.causal_conv1d_forward(x, w, dilation=d), y, atol=1e-12)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_output_t_has_no_gradient_from_future_inputs(impl):
    rng = np.random.default_rng(2)
    n, c, t, k, d = 1, 3, 12, 3, 2
    w = rng.standard_normal((c, c, k)) + 3.0
    for t_out in [0, 3, 7, 11]:
        gy = np.zeros((n, c, t))
        gy[0, 1, t_out] = 1.0
        gx = impl.causal_conv1d_grad_input(gy, w, d)
        assert np.all(gx[:, :, t_out + 1:] == 0.0)
        reads = [t_out - d * (k - 1 - j) for j in range(k)]
        for s in range(t):
            assert np.all((gx[0, :, s] != 0) == (s in reads)), (t_out, s)


def test_future_perturbation_does_not_change_past_outputs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 20))
    w = rng.standard_normal((5, 4, 2))
    y = C.causal_conv1d_forward(x, w, dilation=4)
    x2 = x.copy()
    x2[:, :, 10:] += 1.0
    y2 = C.causal_conv1d_forward(x2, w, dilation=4)
    np.testing.assert_array_equal(y[:, :, :10], y2[:, :, :10])
    assert np.all(y[:, :, 10:] != y2[:, :, 10:])


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_clear_errors(impl):
    x = np.zeros((2, 3, 8), np.float32)
    w = np.zeros((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match="3 channels but the weight expects Cin=2"):
        impl.causal_conv1d_forward(x, w[:, :2])
    with pytest.raises(ValueError, match="3-D"):
        impl.causal_conv1d_forward(x[0], w)
    with pytest.raises(TypeError, match="dtype float32"):
        impl.causal_conv1d_forward(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="dilation"):
        impl.causal_conv1d_forward(x, w, dilation=0)
    with pytest.raises(ValueError, match=r"b must have shape \(Cout,\)"):
        impl.causal_conv1d_forward(x, w, b=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="Cout=4"):
        impl.causal_conv1d_grad_input(np.zeros((2, 5, 8), np.float32), w)
