"""Shared fixtures: an autouse seed, the backend list, and GPU / PyTorch skips."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from kernels.backend import HAS_CUPY  # noqa: E402

BACKENDS = ["cpu"] + (["cuda"] if HAS_CUPY else [])


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread in tests: two OpenBLAS threads fighting Numba's (or another process)
    on a 2-core machine made small matmuls 10-100x slower (docs/performance.md, threading)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(autouse=True)
def _seed():
    """Tests draw from explicit generators; this only pins legacy np.random users."""
    np.random.seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=BACKENDS)
def device(request):
    """Run a test once per available backend ('cuda' only where CuPy sees a GPU)."""
    return request.param


requires_gpu = pytest.mark.skipif(not HAS_CUPY, reason="needs CuPy and a CUDA device")
