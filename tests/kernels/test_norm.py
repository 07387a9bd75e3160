"""Group norm (+ affine, + SiLU): Numba vs reference, the equations, extreme inputs, clear errors."""
import numpy as np
import pytest

from kernels import config
from kernels.cpu import norm as C
from kernels.reference import norm as R

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-11)}

CASES = [  # (shape, groups)
    ((3, 6, 5, 7), 3),      # odd spatial sizes
    ((2, 4), 2),            # no spatial axes
    ((4, 8, 3), 1),         # G = 1: LayerNorm over (C, *)
    ((2, 6, 2, 3), 6),      # G = C: instance norm
    ((1, 16, 4, 4), 8),     # batch 1
]


def _inputs(rng, shape, dtype):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma, beta = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    return x, gamma, beta, rng.standard_normal(shape).astype(dtype)


def _close(a, b, dtype):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a / scale, b / scale, **TOL[dtype])


PARITY = [(i, dt, act, False) for i in range(len(CASES)) for dt in (np.float32, np.float64)
          for act in (None, "silu")] + [(0, np.float32, "silu", True), (3, np.float64, None, True)]


@pytest.mark.parametrize("i, dtype, act, parallel", PARITY,
                         ids=[f"{i}-{dt.__name__}-{a}-{'par' if p else 'ser'}" for i, dt, a, p in PARITY])
def test_numba_matches_reference(i, dtype, act, parallel, monkeypatch):
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    shape, G = CASES[i]
    x, gamma, beta, gy = _inputs(np.random.default_rng(i), shape, dtype)
    got, ref = C.group_norm_forward(x, gamma, beta, G, 1e-5, act), R.group_norm_forward(x, gamma, beta, G, 1e-5, act)
    for a, r in zip(got, ref):
        assert a.dtype == dtype and a.shape == r.shape
        _close(a, r, dtype)
    stats = ref[1:]
    for a, r in zip(C.group_norm_backward(gy, x, gamma, beta, *stats, G, act),
                    R.group_norm_backward(gy, x, gamma, beta, *stats, G, act)):
        assert a.dtype == dtype and a.shape == r.shape
        _close(a, r, dtype)


def test_reference_is_the_textbook_definition():
    rng = np.random.default_rng(1)
    x, gamma, beta, _ = _inputs(rng, (2, 6, 3, 2), np.float64)
    y, mean, rstd = R.group_norm_forward(x, gamma, beta, 3, 1e-5, "silu")
    xg = x.reshape(2, 3, -1)
    m, v = xg.mean(2), xg.var(2)
    z = ((xg - m[..., None]) / np.sqrt(v[..., None] + 1e-5)).reshape(x.shape)
    z = z * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(y, z / (1 + np.exp(-z)), rtol=1e-13)
    np.testing.assert_allclose(mean, m, rtol=1e-13)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(v + 1e-5), rtol=1e-13)
    y0 = R.group_norm_forward(x, np.ones(6), np.zeros(6), 3)[0].reshape(2, 3, -1)
    np.testing.assert_allclose(y0.mean(2), 0, atol=1e-13)          # standardised groups
    np.testing.assert_allclose(y0.var(2), v / (v + 1e-5), rtol=1e-12)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_stay_finite(impl, dtype):
    x = np.array([[[1e15, -1e15, 0.0, 3.0]], [[0.0, 0.0, 0.0, 0.0]]], dtype=dtype)   # a zero-variance group
    gamma, beta = np.array([1e4], dtype), np.array([-1e4], dtype)   # SiLU far into both tails
    y, mean, rstd = impl.group_norm_forward(x, gamma, beta, 1, 1e-5, "silu")
    gx, gg, gb = impl.group_norm_backward(np.ones_like(x), x, gamma, beta, mean, rstd, 1, "silu")
    for a in (y, gx, gg, gb):
        assert np.all(np.isfinite(a)), a


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_bad_arguments_are_clear_errors(impl):
    x, g = np.zeros((2, 6, 3)), np.ones(6)
    with pytest.raises(ValueError, match="positive divisor of C=6"):
        impl.group_norm_forward(x, g, g, 4)
    with pytest.raises(ValueError, match=r"gamma must have shape \(6,\)"):
        impl.group_norm_forward(x, np.ones(5), g, 3)
    with pytest.raises(TypeError, match="gamma is float32 but x is float64"):
        impl.group_norm_forward(x, g.astype(np.float32), g, 3)
    with pytest.raises(ValueError, match="act='relu'"):
        impl.group_norm_forward(x, g, g, 3, act="relu")
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        impl.group_norm_forward(np.zeros(6), g, g, 3)
    y, m, r = impl.group_norm_forward(x, g, g, 3)
    with pytest.raises(ValueError, match="gy must match x"):
        impl.group_norm_backward(np.zeros((2, 6, 4)), x, g, g, m, r, 3)
