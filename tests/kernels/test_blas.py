"""The one BLAS bridge of the CPU kernels (kernels/cpu/_blas.py): gemm's contract, thread
pinning that restores BLAS's thread count, and the per-thread workspace cache."""
import threading

import numba
import numpy as np
import pytest

from kernels import config
from kernels import taps as T
from kernels.cpu import _blas, conv, masked_conv
from kernels.cpu._numba import njit


@njit
def _gemm_in_numba(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta, ta, tb):
    _blas.gemm(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta=beta, ta=ta, tb=tb)


@njit
def _loop_gemm_in_numba(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta, ta, tb):
    _blas.loop_gemm(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta=beta, ta=ta, tb=tb)


@pytest.mark.parametrize("impl", [_gemm_in_numba, _loop_gemm_in_numba], ids=["gemm", "loop_gemm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_on_flat_arrays_at_offsets(impl, dtype, ta, tb, beta, rng):
    """C[ic:] (m x n, ldc) = op(A[ia:]) @ op(B[ib:]) + beta*C, leading dimensions wider than rows;
    the same for the no-CBLAS fallback."""
    m, n, k, ia, ib, ic = 3, 5, 4, 2, 3, 1
    lda, ldb, ldc = (m if ta else k) + 2, (k if tb else n) + 1, n + 3
    a = rng.standard_normal(ia + lda * (k if ta else m)).astype(dtype)
    b = rng.standard_normal(ib + ldb * (n if tb else k)).astype(dtype)
    c = rng.standard_normal(ic + ldc * m).astype(dtype)
    A = a[ia:ia + lda * (k if ta else m)].reshape(-1, lda)[:, :m if ta else k]
    B = b[ib:ib + ldb * (n if tb else k)].reshape(-1, ldb)[:, :k if tb else n]
    C = c[ic:ic + ldc * m].reshape(m, ldc)[:, :n]
    want = (A.T if ta else A).astype(np.float64) @ (B.T if tb else B) + beta * C
    untouched = c[ic:ic + ldc * m].reshape(m, ldc)[:, n:].copy()
    impl(m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc, beta, ta, tb)
    got = c[ic:ic + ldc * m].reshape(m, ldc)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[:, :n], want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got[:, n:], untouched)   # columns past n are not written


def test_each_discovery_route_finds_the_same_blas():
    """NumPy's extension module first, the wheel's libscipy_openblas64_ second: where both
    exist (pip wheels) they must name the same GEMM, with the same integer width."""
    libs = list(_blas._libraries())
    found = [_blas._find_cblas([lib]) for lib in libs]
    found = [f for f in found if f is not None]
    if len(found) < 2:
        pytest.skip("only one discovery route finds a CBLAS here")
    assert len({(f.sgemm, f.dgemm, f.ilp64) for f in found}) == 1


needs_pinning = pytest.mark.skipif(
    _blas.CBLAS is None or _blas.CBLAS.set_threads is None or numba.get_num_threads() < 2,
    reason="needs OpenBLAS's thread setter and two Numba threads")


@needs_pinning
def test_parallel_kernels_leave_blas_thread_count_as_they_found_it(monkeypatch, rng):
    """openblas_set_num_threads_local is process-wide in OpenBLAS, so pinning inside the
    workers left NumPy's BLAS on one thread after a parallel conv: pinning is done once,
    around the region, and undone after it."""
    monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    before = _blas.CBLAS.get_threads()
    _blas.CBLAS.set_threads(2)
    try:
        x, w = rng.standard_normal((4, 8, 6, 6)).astype(np.float32), rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
        taps = T.pixelcnn_taps(3, "B")
        for _ in range(3):
            y = conv.conv2d_forward(x, w, None, 1, 1)
            conv.conv2d_grad_weight(x, y, w.shape, 1, 1)
            masked_conv.masked_conv2d_backward(masked_conv.masked_conv2d_forward(x, w, taps), x, w, taps)
            assert _blas.CBLAS.get_threads() == 2
        with _blas.single_threaded():
            assert _blas.CBLAS.get_threads() == 1
            with _blas.single_threaded():          # nested or overlapping regions
                assert _blas.CBLAS.get_threads() == 1
            assert _blas.CBLAS.get_threads() == 1
        assert _blas.CBLAS.get_threads() == 2
    finally:
        _blas.CBLAS.set_threads(before)


def test_workspace_is_reused_per_name_dtype_and_thread():
    a = _blas.workspace("test_ws", (4, 5), np.float32)
    b = _blas.workspace("test_ws", (2, 3), np.float32)       # smaller: the same memory
    assert a.shape == (4, 5) and b.shape == (2, 3) and np.shares_memory(a, b)
    assert not np.shares_memory(a, _blas.workspace("test_ws", (4, 5), np.float64))
    assert not np.shares_memory(a, _blas.workspace("other", (4, 5), np.float32))
    other_thread = []
    t = threading.Thread(target=lambda: other_thread.append(_blas.workspace("test_ws", (4, 5), np.float32)))
    t.start()
    t.join()
    assert not np.shares_memory(a, other_thread[0])
    big = _blas.workspace("test_ws", (10, 10), np.float32)    # larger: grows
    assert big.shape == (10, 10)


def test_without_a_blas_dense_conv_uses_the_reference(monkeypatch, rng):
    """HAS_BLAS False (no CBLAS found: gemm would be the slow loop): the NumPy reference runs."""
    from kernels.reference import conv as ref
    calls = []
    monkeypatch.setattr(conv, "HAS_BLAS", False)
    monkeypatch.setattr(conv, "_forward", lambda *a: calls.append("numba"))
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(conv.conv2d_forward(x, w, None, 1, 1), ref.conv2d_forward(x, w, None, 1, 1))
    assert calls == []


@pytest.mark.skipif(_blas.CBLAS is None or _blas.CBLAS.set_threads is None, reason="needs OpenBLAS's thread setter")
@pytest.mark.parametrize("pin, expected", [("1", 1), ("0", 2)])
def test_loading_the_cpu_kernels_pins_blas_to_one_thread(pin, expected):
    """One thread pool: NumPy's BLAS on one thread once kernels.cpu is loaded (MINIGEN_PIN_BLAS=0 keeps it)."""
    import os
    import subprocess
    import sys
    code = "import kernels.cpu._blas as b; print(b.CBLAS.get_threads())"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", MINIGEN_PIN_BLAS=pin)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert int(out) == expected
