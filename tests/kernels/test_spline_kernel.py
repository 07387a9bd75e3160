"""Rational-quadratic spline (neural spline flows): Numba vs reference, monotone, inverse, log-det, op."""
import numpy as np
import pytest

from autograd import Tensor, gradgradcheck
from autograd.ops.spline import rq_spline, rq_spline_composite, rq_spline_inverse, rq_spline_inverse_composite
from kernels import config
from kernels.cpu import spline as C
from kernels.reference import spline as R

TOL = {np.float32: 1e-4, np.float64: 1e-10}
B = 3.0


def _params(rng, shape, K, dtype, scale=1.0):
    return [(scale * rng.standard_normal(shape + (k,))).astype(dtype) for k in (K, K, K - 1)]


def _points(rng, shape, params, dtype, on_knots=False):
    """Uniform points in [-4, 4] (tails included), some exactly on -B and B; with ``on_knots``
    also on inner knots of the element's own spline (there the one-sided derivatives in the
    parameters differ, so only values and log-dets are compared)."""
    x = rng.uniform(-4, 4, shape).astype(dtype)
    flat = x.reshape(-1)
    if on_knots:
        _, knots = R._knots(params[0].reshape(-1, params[0].shape[-1]), B, R.MIN_WIDTH, np)
        flat[::3] = knots[::3, 1]
    flat[1::7] = -B
    flat[2::11] = B
    return flat.reshape(shape)


def _close(a, b, dtype):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a / scale, b / scale, rtol=TOL[dtype], atol=TOL[dtype])


CASES = [((5,), 2), ((3, 7), 8), ((2, 3, 5), 5), ((1, 1), 3)]
PARITY = [(i, dt, False) for i in range(len(CASES)) for dt in (np.float32, np.float64)] + \
    [(1, np.float32, True), (2, np.float64, True)]


@pytest.mark.parametrize("i, dtype, parallel", PARITY,
                         ids=[f"{i}-{dt.__name__}-{'par' if p else 'ser'}" for i, dt, p in PARITY])
def test_numba_matches_reference(i, dtype, parallel, monkeypatch):
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    shape, K = CASES[i]
    rng = np.random.default_rng(i)
    p = _params(rng, shape, K, dtype)
    x = _points(rng, shape, p, dtype)
    g, gl = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    y = R.rq_spline_forward(x, *p, B)[0]
    pairs = [(C.rq_spline_forward(x, *p, B), R.rq_spline_forward(x, *p, B)),
             (C.rq_spline_inverse(y, *p, B), R.rq_spline_inverse(y, *p, B)),
             (C.rq_spline_backward(g, gl, x, *p, B), R.rq_spline_backward(g, gl, x, *p, B)),
             (C.rq_spline_inverse_backward(g, gl, y, *p, B), R.rq_spline_inverse_backward(g, gl, y, *p, B))]
    for got, ref in pairs:
        for a, r in zip(got, ref):
            assert a.dtype == dtype and a.shape == r.shape
            _close(a, r, dtype)
    if dtype == np.float64:      # on the knots (in float32 a rounding of x moves xi by ~ulp / bin width)
        x = _points(rng, shape, p, dtype, on_knots=True)
        for got, ref in zip(C.rq_spline_forward(x, *p, B), R.rq_spline_forward(x, *p, B)):
            _close(got, ref, dtype)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_monotone_inverse_logdet_and_tails(impl):
    rng = np.random.default_rng(5)
    K, n = 8, 4001
    p = [np.broadcast_to(a, (n,) + a.shape[1:]).copy() for a in _params(rng, (1,), K, np.float64, 2.0)]
    x = np.linspace(-4, 4, n)
    y, ld = impl.rq_spline_forward(x, *p, B)
    assert np.all(np.diff(y) > 0)                                         # monotone
    tails = np.abs(x) >= B
    np.testing.assert_array_equal(y[tails], x[tails])                     # identity tails
    np.testing.assert_array_equal(ld[tails], 0)
    xb, ldb = impl.rq_spline_inverse(y, *p, B)
    np.testing.assert_allclose(xb, x, atol=1e-6 * 1e-3)                   # inverse to 1e-6 (and better)
    np.testing.assert_allclose(ldb, -ld, atol=1e-9)
    e = 1e-6                                                              # log-det = log of numerical dy/dx
    num = (impl.rq_spline_forward(x + e, *p, B)[0] - impl.rq_spline_forward(x - e, *p, B)[0]) / (2 * e)
    near_knot = np.abs(np.abs(x) - B) < 2 * e
    np.testing.assert_allclose(ld[~near_knot], np.log(num[~near_knot]), atol=1e-6)


def test_continuous_at_the_knots_and_float32_inverse():
    rng = np.random.default_rng(6)
    p = _params(rng, (50,), 6, np.float32, 2.0)
    _, knots = R._knots(p[0], B, R.MIN_WIDTH, np)
    for j in range(7):                                   # y and log-det on both sides of every knot
        x = knots[:, j].astype(np.float64)
        p64 = [a.astype(np.float64) for a in p]
        lo, hi = (C.rq_spline_forward(x + s, *p64, B) for s in (-1e-12, 1e-12))
        np.testing.assert_allclose(lo[0], hi[0], atol=1e-7)
        np.testing.assert_allclose(lo[1], hi[1], atol=1e-5)
    x = rng.uniform(-3.5, 3.5, 50).astype(np.float32)
    y = C.rq_spline_forward(x, *p, B)[0]
    xb = C.rq_spline_inverse(y, *p, B)[0]          # where g' ~ 1e-3, float32 y pins x only to ulp / g':
    np.testing.assert_allclose(C.rq_spline_forward(xb, *p, B)[0], y, atol=2e-6)   # the backward error


def test_bad_arguments_name_what_was_expected():
    x, w, h, d = np.zeros(3), np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"derivatives must have shape .*\(3, 3\), got \(3, 4\)"):
        R.rq_spline_forward(x, w, h, np.zeros((3, 4)))
    with pytest.raises(TypeError, match="dtype float64"):
        C.rq_spline_forward(x, w.astype(np.float32), h, d)
    with pytest.raises(ValueError, match="bound must be > 0"):
        C.rq_spline_inverse(x, w, h, d, bound=0.0)
    with pytest.raises(ValueError, match="K >= 2"):
        R.rq_spline_forward(x, np.zeros((3, 1)), np.zeros((3, 1)), np.zeros((3, 0)))


@pytest.mark.parametrize("inverse", [False, True])
def test_fused_op_equals_composite_values_and_grads(inverse):
    rng = np.random.default_rng(7)
    shape, K = (3, 5), 6
    arrays = [rng.uniform(-3.5, 3.5, shape)] + _params(rng, shape, K, np.float64)
    fused, comp = (rq_spline_inverse, rq_spline_inverse_composite) if inverse else (rq_spline, rq_spline_composite)
    gy, gl = rng.standard_normal(shape), rng.standard_normal(shape)
    results = []
    for fn in (fused, comp):
        leaves = [Tensor(a, requires_grad=True) for a in arrays]
        y, ld = fn(*leaves, bound=B)
        ((y * Tensor(gy)).sum() + (ld * Tensor(gl)).sum()).backward()
        results.append([y.numpy(), ld.numpy()] + [t.grad.numpy() for t in leaves])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_composite_supports_double_backward_and_fused_names_it():
    rng = np.random.default_rng(8)
    arrays = [rng.uniform(-2.5, 2.5, (2, 2))] + _params(rng, (2, 2), 3, np.float64)
    gradgradcheck(lambda *a: rq_spline_composite(*a, bound=B), arrays)
    gradgradcheck(lambda *a: rq_spline_inverse_composite(*a, bound=B), arrays)
    with pytest.raises(NotImplementedError, match="RQSpline.*composite"):
        gradgradcheck(lambda *a: rq_spline(*a, bound=B)[0], [Tensor(a, requires_grad=True) for a in arrays])
