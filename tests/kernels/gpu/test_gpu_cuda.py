"""On a GPU (``-m gpu``): the CUDA kernels, every autograd op and a training step on CuPy arrays.

Skipped cleanly without CuPy and a CUDA device.  Run everything at once with
``python -m kernels.gpu.check`` (docs/gpu.md).

* parity of every GPU kernel with its reference twin on the configurations the Numba
  kernels are tested on, plus randomized ones (float32 1e-5, float64 1e-10);
* the dispatcher picks kernels/gpu for CuPy arrays, and outputs stay on the device;
* every op-table entry (primitives, composites, conv and fused ops): forward against
  its NumPy reference and gradcheck in float64 with the data on the GPU;
* one Adam step of a tiny PixelCNN-style and RealNVP-style stack on the GPU equals the
  same step on the CPU.
"""
import numpy as np
import pytest

from kernels.backend import HAS_CUPY

from . import cases

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_CUPY, reason="needs CuPy and a CUDA device")]

CASES = cases.all_cases()


@pytest.fixture(scope="module")
def cp():
    import cupy
    from kernels.gpu import _cupy
    _cupy.use_module(None)  # the real CuPy, even after a host-emulation test
    return cupy


@pytest.mark.parametrize("run", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_gpu_kernels_match_reference(run, cp):
    import kernels.gpu as G

    def host(a):
        assert isinstance(a, cp.ndarray), f"a GPU kernel returned {type(a).__name__}"
        return cp.asnumpy(a)
    cases.check(run, G, put=cp.asarray, host=host)


def _random_configs(seed, n=6):
    rng = np.random.default_rng(seed)
    conv, masked, causal, coupling = [], [], [], []
    from kernels import taps as T
    for _ in range(n):
        k = int(rng.integers(1, 6))
        conv.append((int(rng.integers(1, 5)), int(rng.integers(1, 20)), int(rng.integers(1, 20)),
                     int(rng.integers(k, 12)), int(rng.integers(k, 12)), k, k,
                     int(rng.integers(1, 3)), int(rng.integers(0, 3)), 1))
        km, kind = int(rng.choice([3, 5, 7])), str(rng.choice(["A", "B"]))
        groups = (str(rng.choice(["A", "B"])), 3) if kind == "B" and rng.random() < 0.7 else None
        masked.append((int(rng.integers(1, 4)), 3, 6, int(rng.integers(1, 10)), int(rng.integers(1, 10)),
                       km, T.pixelcnn_taps(km, kind), None, groups))
        causal.append((int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 9)),
                       int(rng.integers(1, 300)), int(rng.integers(1, 4)), int(rng.integers(1, 9))))
        coupling.append(((int(rng.integers(1, 300)), 2, 4, 4), (2, 1, 1) if rng.random() < 0.5 else None,
                         bool(rng.random() < 0.5)))
    return ([cases.conv_case(c, dt) for c in conv for dt in cases.DTYPES]
            + [cases.masked_case(c, dt) for c in masked for dt in cases.DTYPES]
            + [cases.causal_case(c, dt) for c in causal for dt in cases.DTYPES]
            + [cases.coupling_case(c, dt) for c in coupling for dt in cases.DTYPES])


@pytest.mark.parametrize("seed", range(3))
def test_gpu_kernels_match_reference_on_random_configurations(seed, cp):
    import kernels.gpu as G
    for run in _random_configs(seed):
        cases.check(run, G, put=cp.asarray, host=cp.asnumpy)


def test_dispatcher_sends_cupy_arrays_to_the_gpu_kernels(cp):
    import kernels
    import kernels.gpu as G
    x = cp.ones((2, 3, 5, 5), cp.float32)
    assert kernels.backend_for(x) is G
    y = kernels.conv2d_forward(x, cp.ones((4, 3, 3, 3), cp.float32), None, 1, 1)
    assert isinstance(y, cp.ndarray) and float(y[0, 0, 2, 2]) == 27.0


def _op_cases():
    from tests.autograd.op_table import TABLE
    return [(info, i) for info in TABLE for i in range(len(info.cases()))]


OP_CASES = _op_cases() if HAS_CUPY else []  # no op-table import where nothing runs


@pytest.mark.parametrize("info, i", OP_CASES, ids=[f"{info.name}-{i}" for info, i in OP_CASES])
def test_op_table_on_gpu(info, i, cp):
    """Every op runs on CuPy arrays, matches its NumPy reference and gradchecks on the GPU."""
    from autograd import Tensor, gradcheck
    arrays = info.cases()[i]
    dev = [cp.asarray(a) if isinstance(a, np.ndarray) else a for a in arrays]
    ts = [Tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, cp.ndarray) else a for a in dev]
    y = info.op(*ts)
    ys = y if isinstance(y, tuple) else (y,)
    for out in ys:
        assert isinstance(out.data, cp.ndarray), f"{info.name} left the GPU"
    if info.reference is not None:
        expected = info.reference(*arrays)
        es = expected if isinstance(expected, tuple) else (expected,)
        for a, e in zip(ys, es):
            np.testing.assert_allclose(cp.asnumpy(a.data), e, rtol=1e-10, atol=1e-12)

    def on_gpu(*xs):
        for x in xs:
            if isinstance(x, Tensor):
                assert isinstance(x.data, cp.ndarray), "gradcheck moved an input to the host"
        return info.op(*xs)
    gradcheck(on_gpu, dev, eps=info.eps, atol=info.atol, rtol=info.rtol, mode=info.mode)


def test_training_step_on_gpu_equals_cpu(cp):
    """One Adam step of a small masked-conv + coupling stack: same loss and parameters on both."""
    from autograd import Tensor
    from autograd.ops.coupling import affine_coupling
    from autograd.ops.masked_conv import masked_conv2d
    from minigen.optim import Adam

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 6, 6))
    w0, w1 = rng.standard_normal((4, 1, 5, 5)) * 0.2, rng.standard_normal((2, 4, 3, 3)) * 0.2
    results = []
    for put in (np.asarray, cp.asarray):
        params = [Tensor(put(w0.copy()), requires_grad=True), Tensor(put(w1.copy()), requires_grad=True)]
        opt = Adam(params, lr=1e-2)
        xt = Tensor(put(x))
        h = masked_conv2d(xt, params[0], None, "A").relu()
        st = masked_conv2d(h, params[1], None, "B")
        y, logdet = affine_coupling(xt, st[:, :1], st[:, 1:])
        loss = (y * y).mean() * 0.5 - logdet.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        results.append([float(loss.data)] + [np.asarray(cp.asnumpy(p.data) if put is cp.asarray else p.data)
                                              for p in params])
    cpu, gpu = results
    assert abs(cpu[0] - gpu[0]) <= 1e-10 * max(1.0, abs(cpu[0]))
    for a, b in zip(cpu[1:], gpu[1:]):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
