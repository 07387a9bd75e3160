"""Affine coupling (RealNVP): Numba vs reference, round trip, log-det vs numerical Jacobian, fast exp."""
import numpy as np
import pytest

from kernels import config
from kernels.cpu import coupling as C
from kernels.cpu._fastmath import exp_array, tanh_array
from kernels.reference import coupling as R

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}

CONFIGS = [  # (shape, scale shape or None, checkerboard mask?)
    ((4, 6), None, False),
    ((3, 2, 3, 3), (2, 1, 1), False),     # per-channel scale
    ((3, 2, 3, 3), (2, 1, 1), True),      # checkerboard mask + scale
    ((5, 7), (1,), True),
    ((1, 3), None, False),                # batch 1
    ((2, 5), (5,), False),                # per-feature scale
]


def _inputs(rng, shape, dtype, scale_shape, mask):
    x, s, t = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    scale = None if scale_shape is None else rng.uniform(0.5, 2.0, scale_shape).astype(dtype)
    m = (np.indices(shape[1:]).sum(0) % 2).astype(dtype) if mask else None
    return x, s, t, scale, m


def _close(a, b, dtype):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a / scale, b / scale, **TOL[dtype])


# Every config serially in both dtypes; the parallel drivers (slow to compile) on a
# subset in float32, with PARALLEL_MIN_ELEMENTS patched to 0 so tiny inputs take them.
PARITY = ([(i, dt, False) for i in range(len(CONFIGS)) for dt in (np.float32, np.float64)]
          + [(i, np.float32, True) for i in (0, 2)])


@pytest.mark.parametrize("i, dtype, parallel", PARITY,
                         ids=[f"{i}-{dt.__name__}-{'par' if p else 'ser'}" for i, dt, p in PARITY])
def test_numba_matches_reference(i, dtype, parallel, monkeypatch):
    cfg = CONFIGS[i]
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    shape, scale_shape, mask = cfg
    rng = np.random.default_rng(0)
    x, s, t, scale, m = _inputs(rng, shape, dtype, scale_shape, mask)
    gy = rng.standard_normal(shape).astype(dtype)
    gl = rng.standard_normal(shape[0]).astype(dtype)
    pairs = [
        (C.affine_coupling_forward(x, s, t, scale, m), R.affine_coupling_forward(x, s, t, scale, m)),
        (C.affine_coupling_inverse(x, s, t, scale, m), R.affine_coupling_inverse(x, s, t, scale, m)),
        (C.affine_coupling_backward(gy, gl, x, s, scale, m),
         R.affine_coupling_backward(gy, gl, x, s, scale, m)),
        (C.affine_coupling_inverse_backward(gy, gl, x, s, t, scale, m),
         R.affine_coupling_inverse_backward(gy, gl, x, s, t, scale, m)),
    ]
    for got, ref in pairs:
        for a, r in zip(got, ref):
            if r is None:
                assert a is None
                continue
            assert a.dtype == dtype and a.shape == r.shape
            _close(a, r, dtype)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_need_gt_false_skips_only_gt(impl):
    rng = np.random.default_rng(5)
    x, s, _, scale, _ = _inputs(rng, (3, 4), np.float64, (4,), False)
    gy, gl = rng.standard_normal((3, 4)), rng.standard_normal(3)
    full = impl.affine_coupling_backward(gy, gl, x, s, scale)
    part = impl.affine_coupling_backward(gy, gl, x, s, scale, need_gt=False)
    assert part[2] is None
    np.testing.assert_array_equal(full[2], gy)
    for a, b in zip(full[:2] + full[3:], part[:2] + part[3:]):
        np.testing.assert_allclose(a, b, rtol=1e-15)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_none_gradients_mean_zero(impl):
    rng = np.random.default_rng(1)
    x, s, _, scale, m = _inputs(rng, (3, 4), np.float64, (4,), True)
    gx, gs, gt, gsc = impl.affine_coupling_backward(None, None, x, s, scale, m)
    for a in (gx, gs, gt, gsc):
        assert np.all(a == 0)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_inverse_round_trip(impl, dtype):
    rng = np.random.default_rng(2)
    x, s, t, scale, m = _inputs(rng, (4, 2, 3, 3), dtype, (2, 1, 1), True)
    y, ld = impl.affine_coupling_forward(x, s, t, scale, m)
    x2, ld_inv = impl.affine_coupling_inverse(y, s, t, scale, m)
    _close(x2, x, dtype)
    _close(ld_inv, -ld, dtype)
    # masked entries pass through unchanged
    assert np.array_equal(y[:, m.astype(bool)], x[:, m.astype(bool)])


def _numerical_logdet(f, x, eps=1e-6):
    d = x.size
    jac = np.zeros((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = eps
        jac[:, i] = (f(x + e) - f(x - e)) / (2 * eps)
    return np.linalg.slogdet(jac)[1]


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
@pytest.mark.parametrize("use_mask", [False, True])
def test_logdet_matches_numerical_log_abs_det_jacobian(impl, use_mask):
    """A whole coupling layer on a 6-d input: s, t are (tanh-bounded) functions of the fixed half."""
    rng = np.random.default_rng(3)
    d = 6
    A, B = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    scale = np.full(d, 1.5)
    if use_mask:
        m = (np.arange(d) % 2).astype(np.float64)  # checkerboard on a line

        def layer(x):
            h = (m * x)[None]
            y, ld = impl.affine_coupling_forward(x[None], h @ A.T, h @ B.T, scale, m)
            return y[0], ld[0]
    else:
        def layer(x):
            x1, x2 = x[:3], x[3:]
            s_raw, t = (x1 @ A[:3, :3].T)[None], (x1 @ B[:3, :3].T)[None]
            y2, ld = impl.affine_coupling_forward(x2[None], s_raw, t, scale[:3])
            return np.concatenate([x1, y2[0]]), ld[0]
    x = rng.standard_normal(d)
    _, ld = layer(x)
    np.testing.assert_allclose(ld, _numerical_logdet(lambda v: layer(v)[0], x), atol=1e-7)


def test_backward_matches_finite_differences():
    """Directional check of the fused backward on all inputs (float64, random upstream)."""
    rng = np.random.default_rng(4)
    x, s, t, scale, m = _inputs(rng, (3, 2, 2, 2), np.float64, (2, 1, 1), True)
    gy, gl = rng.standard_normal(x.shape), rng.standard_normal(3)

    def loss(x, s, t, scale):
        y, ld = C.affine_coupling_forward(x, s, t, scale, m)
        return float((y * gy).sum() + (ld * gl).sum())

    grads = C.affine_coupling_backward(gy, gl, x, s, scale, m)
    args = [x, s, t, scale]
    for i, g in enumerate((grads[0], grads[1], grads[2], grads[3])):
        v = rng.standard_normal(args[i].shape)
        plus = [a + 1e-6 * v if j == i else a for j, a in enumerate(args)]
        minus = [a - 1e-6 * v if j == i else a for j, a in enumerate(args)]
        numeric = (loss(*plus) - loss(*minus)) / 2e-6
        np.testing.assert_allclose((g * v).sum(), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_clear_errors(impl):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"t must have the shape of x \(2, 3\)"):
        impl.affine_coupling_forward(x, x, np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="s_raw must have dtype float32"):
        impl.affine_coupling_forward(x, x.astype(np.float64), x)
    with pytest.raises(TypeError, match="float32 or float64"):
        impl.affine_coupling_forward(x.astype(np.int64), x.astype(np.int64), x.astype(np.int64))
    with pytest.raises(ValueError, match="scale must broadcast to one sample"):
        impl.affine_coupling_forward(x, x, x, scale=np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"glogdet must have shape \(N,\)"):
        impl.affine_coupling_backward(x, np.zeros(3, np.float32), x, x)


# ---- the polynomial exp / tanh used by the fused kernel -------------------------------

@pytest.mark.parametrize("dtype, lo, hi, rtol", [
    (np.float32, -87.3, 88.7, 3e-7), (np.float64, -708.3, 709.7, 1e-15)])
def test_fast_exp_accuracy_over_its_range(dtype, lo, hi, rtol):
    x = np.concatenate([np.linspace(lo, hi, 200_001), np.linspace(-1, 1, 10_001)]).astype(dtype)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(exp_array(x) - ref) / ref) < rtol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_exp_and_tanh_special_values(dtype):
    big = 1e4
    e = exp_array(np.array([np.inf, -np.inf, np.nan, big, -big, 0.0], dtype))
    assert e[0] == np.inf and e[1] == 0.0 and np.isnan(e[2]) and e[3] == np.inf and e[4] == 0.0
    assert e[5] == 1.0
    th = tanh_array(np.array([np.inf, -np.inf, np.nan, big, -big, 0.0, 1e-30], dtype))
    assert th[0] == 1.0 and th[1] == -1.0 and np.isnan(th[2]) and th[3] == 1.0 and th[4] == -1.0
    assert th[5] == 0.0 and th[6] == dtype(1e-30)


@pytest.mark.parametrize("dtype, atol", [(np.float32, 2e-7), (np.float64, 1e-15)])
def test_fast_tanh_accuracy(dtype, atol):
    x = np.linspace(-20, 20, 200_001).astype(dtype)
    ref = np.tanh(x.astype(np.float64))
    err = np.abs(tanh_array(x) - ref)
    assert err.max() < atol
    assert np.max(err / np.maximum(np.abs(ref), 1e-30)) < 5 * atol  # relative, also near 0
