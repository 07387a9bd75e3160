"""Softmax cross-entropy: Numba vs reference (both loop orders, serial and parallel), the
equations, extreme logits, clear errors."""
import numpy as np
import pytest

from kernels import config
from kernels.cpu import cross_entropy as C
from kernels.reference import cross_entropy as R

TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-13)}

CASES = [  # (logits shape, class axis)
    ((7, 5), 1),            # (N, K) rows, classes last
    ((3, 11), -1),          # rows, negative axis
    ((3, 4, 5, 7), 1),      # NCHW: classes on axis 1, odd spatial sizes
    ((2, 3, 2, 5, 3), 2),   # (N, C, K, H, W) as the autoregressive models call it
    ((6, 3, 4), 0),         # classes first
    ((5, 1), 1),            # one class: loss 0, gradient 0
    ((1, 2, 1), 1),         # K = 2 (binary PixelCNN), single position
]


def _inputs(rng, shape, axis, dtype, scale=3.0):
    z = (rng.standard_normal(shape) * scale).astype(dtype)
    ax = axis % len(shape)
    t_shape = shape[:ax] + shape[ax + 1:]
    return z, rng.integers(0, shape[ax], t_shape), rng.standard_normal(t_shape).astype(dtype)


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, **TOL[dtype])


PARITY = [(i, dt, par) for i in range(len(CASES)) for dt in (np.float32, np.float64) for par in (False, True)]


@pytest.mark.parametrize("i, dtype, parallel", PARITY,
                         ids=[f"{i}-{dt.__name__}-{'par' if p else 'ser'}" for i, dt, p in PARITY])
def test_numba_matches_reference(i, dtype, parallel, monkeypatch):
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    shape, axis = CASES[i]
    z, t, gy = _inputs(np.random.default_rng(i), shape, axis, dtype)
    got, ref = C.softmax_cross_entropy_forward(z, t, axis), R.softmax_cross_entropy_forward(z, t, axis)
    for a, r in zip(got, ref):
        assert a.dtype == dtype and a.shape == t.shape
        _close(a, r, dtype)
    ga = C.softmax_cross_entropy_backward(gy, z, t, ref[1], axis)
    gr = R.softmax_cross_entropy_backward(gy, z, t, ref[1], axis)
    assert ga.dtype == dtype and ga.shape == z.shape
    _close(ga, gr, dtype)


def test_reference_is_minus_log_softmax_at_the_target():
    rng = np.random.default_rng(1)
    z, t, gy = _inputs(rng, (4, 6, 3), 1, np.float64)
    loss, lse = R.softmax_cross_entropy_forward(z, t, 1)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(lse, np.log(np.exp(z).sum(axis=1)), rtol=1e-14)
    np.testing.assert_allclose(loss, -np.log(np.take_along_axis(p, t[:, None], 1)[:, 0]), rtol=1e-13)
    onehot = np.eye(6)[t].transpose(0, 2, 1)                       # (4, 6, 3)
    np.testing.assert_allclose(R.softmax_cross_entropy_backward(gy, z, t, lse, 1), gy[:, None] * (p - onehot),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((3, 5), 1), ((2, 5, 4), 1)], ids=["rows", "planes"])
def test_extreme_logits_stay_finite(dtype, shape, axis):
    """Logits of +-1e4 (exp overflows without the max shift); a -inf logit is a zero probability."""
    rng = np.random.default_rng(2)
    z, t, gy = _inputs(rng, shape, axis, dtype, scale=1e4)
    z[(0,) * len(shape)] = -np.inf
    t[(0,) * t.ndim] = 1
    for K in (C, R):
        loss, lse = K.softmax_cross_entropy_forward(z, t, axis)
        gz = K.softmax_cross_entropy_backward(gy, z, t, lse, axis)
        assert np.isfinite(loss).all() and np.isfinite(gz).all() and (loss >= 0).all()


@pytest.mark.parametrize("K", [C, R], ids=["cpu", "reference"])
def test_clear_errors(K):
    z = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"need integer targets of shape \(2, 4\), got int64 \(2, 3\)"):
        K.softmax_cross_entropy_forward(z, np.zeros((2, 3), np.int64), 1)
    with pytest.raises(ValueError, match="need integer targets"):
        K.softmax_cross_entropy_forward(z, np.zeros((2, 4), np.float32), 1)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\), got values in \[-1, 3\]"):
        K.softmax_cross_entropy_forward(z, np.array([[0, 1, 2, 3], [-1, 0, 0, 0]]), 1)
    with pytest.raises(ValueError, match="axis=3 is out of range"):
        K.softmax_cross_entropy_forward(z, np.zeros((2, 3), np.int64), 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.softmax_cross_entropy_forward(z.astype(np.int32), np.zeros((2, 4), np.int64), 1)
    t = np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="gy must be float32"):
        K.softmax_cross_entropy_backward(np.zeros((2, 4)), z, t, np.zeros((2, 4), np.float32), 1)
