"""kernels.matmul: the Numba-split product equals NumPy's, in every layout, and leaves BLAS's threads alone."""
import numpy as np
import pytest

import kernels
from kernels import config
from kernels.cpu import _blas
from kernels.cpu import linalg as C
from kernels.reference import linalg as R

# (m, k, n): split by rows (m >= n), by columns (m < n), odd sizes, one row, one column
SHAPES = [(129, 77, 65), (3, 50, 301), (257, 9, 1), (1, 300, 257), (64, 1, 64)]


def _layouts(x):
    """x as a C-ordered array, a transposed (Fortran-ordered) view, and a strided slice's copy source."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), x.dtype)
    wide[:, ::2] = x
    return {"C": x, "F": np.asfortranarray(x), "strided": wide[:, ::2]}


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matches_reference_in_every_layout(m, k, n, dtype, parallel, monkeypatch):
    monkeypatch.setattr(config, "MATMUL_SPLIT_MIN_WORK", 0)          # take the split path at any size
    monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0 if parallel else 10 ** 12)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    want = R.matmul(a, b)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for la, A in _layouts(a).items():
        for lb, B in _layouts(b).items():
            got = C.matmul(A, B)
            assert got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous, (la, lb)
            np.testing.assert_allclose(got, want, **tol, err_msg=f"{la} @ {lb}")


def test_other_cases_follow_numpy():
    rng = np.random.default_rng(1)
    cases = [(rng.standard_normal((4, 3, 5)), rng.standard_normal((5, 2))),      # batched
             (rng.standard_normal(5), rng.standard_normal((5, 3))),              # 1-D
             (rng.standard_normal((2, 3)), rng.standard_normal(3)),
             (rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4, 2))),  # mixed
             (np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)),           # integers
             (np.zeros((0, 3)), np.zeros((3, 4)))]                               # empty
    for a, b in cases:
        got, want = C.matmul(a, b), np.matmul(a, b)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError):
        C.matmul(np.ones((2, 3)), np.ones((4, 2)))


def test_dispatcher_and_blas_threads_left_as_they_were(monkeypatch):
    monkeypatch.setattr(config, "MATMUL_SPLIT_MIN_WORK", 0)
    a = np.ones((300, 200), np.float32)
    before = _blas.CBLAS.get_threads() if _blas.CBLAS is not None and _blas.CBLAS.get_threads else None
    np.testing.assert_array_equal(kernels.matmul(a, a.T), np.full((300, 300), 200, np.float32))
    if before is not None:
        assert _blas.CBLAS.get_threads() == before
