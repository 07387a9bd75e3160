"""The fused Adam step: Numba vs the NumPy twin (to the last bit), the textbook equations, errors."""
import numpy as np
import pytest

from kernels import config
from kernels.cpu import optim as C
from kernels.reference import optim as R

HYPER = dict(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-8)
DECAY = {"none": (0.0, False), "l2": (0.1, False), "decoupled": (0.05, True)}
SIZES = {"odd": (7, 5), "one": (1,), "empty": (0, 3), "large": (317, 331)}   # large: > 10^5 elements


def _state(rng, shape, dtype):
    p = rng.standard_normal(shape).astype(dtype)
    return p, np.zeros_like(p), np.zeros_like(p)


def _run(step_fn, shape, dtype, decay, steps=4):
    """``steps`` Adam steps from one seed; returns (p, m, v)."""
    rng = np.random.default_rng(0)
    p, m, v = _state(rng, shape, dtype)
    wd, decoupled = DECAY[decay]
    for t in range(1, steps + 1):
        g = rng.standard_normal(shape).astype(dtype)
        step_fn(p, g, m, v, weight_decay=wd, decoupled=decoupled, step=t, **HYPER)
    return p, m, v


PARITY = [(s, dt, d, par) for s in SIZES for dt in (np.float32, np.float64) for d in DECAY
          for par in (False, True) if not (par and s in ("one", "empty"))]


@pytest.mark.parametrize("size, dtype, decay, parallel", PARITY,
                         ids=[f"{s}-{dt.__name__}-{d}-{'par' if p else 'ser'}" for s, dt, d, p in PARITY])
def test_numba_equals_reference_bitwise(size, dtype, decay, parallel, monkeypatch):
    """Same operations in the same order without fastmath: identical bits, serial or parallel."""
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    got = _run(C.adam_step, SIZES[size], dtype, decay)
    want = _run(R.adam_step, SIZES[size], dtype, decay)
    for a, b in zip(got, want):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_large_tensor_takes_the_parallel_driver(monkeypatch):
    """At the default threshold a 10^5-element tensor is split across threads (when there are two)."""
    import numba
    calls = []
    monkeypatch.setattr(C._adam_driver, "parallel", lambda *a: calls.append("par"))
    monkeypatch.setattr(C._adam_driver, "serial", lambda *a: calls.append("ser"))
    for shape in ((10,), (config.PARALLEL_MIN_ELEMENTS,)):
        p = np.zeros(shape, np.float32)
        C.adam_step(p, p, p.copy(), p.copy(), weight_decay=0.0, decoupled=False, step=1, **HYPER)
    assert calls == ["ser", "par" if numba.get_num_threads() > 1 else "ser"]


def test_reference_is_algorithm_1():
    """The twin against Kingma & Ba's Algorithm 1 written with m_hat and v_hat (float64)."""
    rng = np.random.default_rng(3)
    p, m, v = _state(rng, (5, 4), np.float64)
    want, mw, vw = p.copy(), m.copy(), v.copy()
    lr, b1, b2, eps, wd = 1e-2, 0.9, 0.999, 1e-8, 0.1
    for t in range(1, 6):
        g = rng.standard_normal(p.shape)
        R.adam_step(p, g, m, v, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd, decoupled=False, step=t)
        g = g + wd * want
        mw = b1 * mw + (1 - b1) * g
        vw = b2 * vw + (1 - b2) * g * g
        want = want - lr * (mw / (1 - b1 ** t)) / (np.sqrt(vw / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(p, want, rtol=1e-13)
    np.testing.assert_allclose(m, mw, rtol=1e-14)


def test_gradient_is_read_not_written_and_may_be_strided():
    rng = np.random.default_rng(1)
    g_full = rng.standard_normal((6, 8))
    g = g_full.T                                          # a transposed (F-ordered) gradient
    before = g.copy()
    outs = []
    for fn in (C.adam_step, R.adam_step):
        p, m, v = _state(np.random.default_rng(2), (8, 6), np.float64)
        fn(p, g, m, v, weight_decay=0.1, decoupled=False, step=1, **HYPER)
        outs.append(p)
    np.testing.assert_array_equal(g, before)
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize("fn", [C.adam_step, R.adam_step], ids=["cpu", "reference"])
def test_clear_errors(fn):
    p = np.zeros((3, 4), np.float32)
    kw = dict(weight_decay=0.0, decoupled=False, step=1, **HYPER)
    with pytest.raises(ValueError, match=r"gradient must have the parameter's shape \(3, 4\), got \(4, 3\)"):
        fn(p, np.zeros((4, 3), np.float32), p.copy(), p.copy(), **kw)
    with pytest.raises(TypeError, match="exp_avg_sq v must have the parameter's dtype float32, got float64"):
        fn(p, p.copy(), p.copy(), np.zeros((3, 4)), **kw)
    with pytest.raises(TypeError, match="float32 or float64, got int64"):
        q = np.zeros(3, np.int64)
        fn(q, q, q, q, **kw)
    with pytest.raises(ValueError, match="step=0 must be >= 1"):
        fn(p, p.copy(), p.copy(), p.copy(), **{**kw, "step": 0})


def test_cpu_refuses_a_strided_state_it_would_have_to_copy():
    p = np.zeros((4, 3), np.float32)
    m = np.zeros((3, 4), np.float32).T                    # not C-contiguous: an update would be lost
    with pytest.raises(ValueError, match="exp_avg m must be C-contiguous"):
        C.adam_step(p, p.copy(), m, p.copy(), weight_decay=0.0, decoupled=False, step=1, **HYPER)
