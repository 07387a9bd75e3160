"""The GPU kernels' parity cases, shared by the host emulation (CI) and the real GPU tests.

The configurations are the ones the Numba kernels are tested on (imported from
tests/kernels/test_*.py), in float32 and float64.  A case is ``run(K, put)``: it draws
its inputs from a host RNG with a fixed seed, moves them with ``put`` (identity, or
``cupy.asarray`` on a GPU), calls the kernels of module ``K`` and returns their outputs.
``check`` runs a case with the reference twins and with the implementation under test
and compares every output (float32 1e-5, float64 1e-10, relative to the largest value).
"""
import numpy as np

from kernels import reference as R
from kernels import taps as T
from tests.kernels import (test_causal_conv1d, test_conv, test_coupling, test_cross_entropy, test_masked_conv,
                           test_spline_kernel)

# Beyond the Numba kernels' configurations: different row/column strides and dilations, so a
# kernel that mixes up sh and sw (or dh and dw) fails (test_gpu_host's mutations found the gap).
EXTRA_CONV = [  # (n, cin, cout, h, w, kh, kw, stride, padding, dilation)
    (2, 3, 4, 9, 8, 3, 2, (1, 2), (1, 0), (2, 1)),
    (3, 2, 3, 7, 10, 2, 3, (3, 1), (0, 2), (1, 3)),
]
EXTRA_TRANSPOSED = [  # (n, cin, cout, h, w, k, stride, padding, output_padding, dilation)
    (2, 3, 2, 4, 3, 3, (2, 1), (1, 0), (1, 0), (1, 2)),
]

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
DTYPES = (np.float32, np.float64)


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def conv_case(cfg, dtype):
    n, cin, cout, h, w, kh, kw, s, p, d = cfg

    def run(K, put):
        rng = np.random.default_rng(1)
        x, wt, b = (put(_normal(rng, sh, dtype)) for sh in ((n, cin, h, w), (cout, cin, kh, kw), cout))
        y = K.conv2d_forward(x, wt, b, s, p, d)
        gy = put(_normal(rng, y.shape, dtype))
        return [y, K.conv2d_grad_input(gy, wt, x.shape, s, p, d),
                K.conv2d_grad_weight(x, gy, wt.shape, s, p, d)]
    return run


def transposed_case(cfg, dtype):
    n, cin, cout, h, w, k, s, p, op, d = cfg

    def run(K, put):
        rng = np.random.default_rng(2)
        x, wt, b = (put(_normal(rng, sh, dtype)) for sh in ((n, cin, h, w), (cin, cout, k, k), cout))
        y = K.conv_transpose2d_forward(x, wt, b, s, p, op, d)
        gy = put(_normal(rng, y.shape, dtype))
        return [y, K.conv_transpose2d_grad_input(gy, wt, x.shape, s, p, op, d),
                K.conv_transpose2d_grad_weight(x, gy, wt.shape, s, p, op, d)]
    return run


def masked_case(cfg, dtype):
    n, cin, cout, h, w, k, taps, pad, groups = cfg
    kh, kw = T.kernel_size_2d(k)
    cm = None if groups is None else T.channel_group_mask(cout, cin, *groups)

    def run(K, put):
        rng = np.random.default_rng(1)
        x, wt, b = (put(_normal(rng, sh, dtype)) for sh in ((n, cin, h, w), (cout, cin, kh, kw), cout))
        y = K.masked_conv2d_forward(x, wt, taps, b, pad, cm)
        gy = put(_normal(rng, y.shape, dtype))
        return [y, *K.masked_conv2d_backward(gy, x, wt, taps, pad, cm, bias=True),
                K.masked_conv2d_grad_input(gy, wt, taps, x.shape, pad, cm),
                *K.masked_conv2d_grad_weight(x, gy, taps, (kh, kw), pad, cm, bias=True),
                K.masked_conv2d_backward(gy, x, wt, taps, pad, cm, input_grad=False)[0]]
    return run


def block_case(cfg, dtype):
    """The fused residual block y = x + conv(ReLU(x)) (Cout == Cin)."""
    n, c, k, mask = cfg
    taps = T.pixelcnn_taps(k, mask)

    def run(K, put):
        rng = np.random.default_rng(1)
        x, wt, b = (put(_normal(rng, sh, dtype)) for sh in ((n, c, 5, 6), (c, c, k, k), c))
        y = K.masked_conv2d_forward(x, wt, taps, b, relu_input=True, residual=True)
        gy = put(_normal(rng, y.shape, dtype))
        return [y, *K.masked_conv2d_backward(gy, x, wt, taps, bias=True, relu_input=True, residual=True)]
    return run


def causal_case(cfg, dtype):
    n, cin, cout, t, k, d = cfg

    def run(K, put):
        rng = np.random.default_rng(0)
        x, w, b, gy = (put(_normal(rng, sh, dtype)) for sh in ((n, cin, t), (cout, cin, k), cout,
                                                                (n, cout, t)))
        return [K.causal_conv1d_forward(x, w, b, d), *K.causal_conv1d_backward(gy, x, w, d, bias=True),
                K.causal_conv1d_grad_input(gy, w, d), *K.causal_conv1d_grad_weight(x, gy, k, d, True)]
    return run


def coupling_case(cfg, dtype):
    shape, scale_shape, mask = cfg

    def run(K, put):
        rng = np.random.default_rng(0)
        x, s, t, scale, m = (None if a is None else put(a)
                             for a in test_coupling._inputs(rng, shape, dtype, scale_shape, mask))
        gy, gl = put(_normal(rng, shape, dtype)), put(_normal(rng, shape[0], dtype))
        return [*K.affine_coupling_forward(x, s, t, scale, m),
                *K.affine_coupling_inverse(x, s, t, scale, m),
                *K.affine_coupling_backward(gy, gl, x, s, scale, m),
                *K.affine_coupling_backward(gy, None, x, s, scale, m, need_gt=False),
                *K.affine_coupling_backward(None, gl, x, s, scale, m),
                *K.affine_coupling_inverse_backward(gy, gl, x, s, t, scale, m),
                *K.affine_coupling_inverse_backward(None, gl, x, s, t, scale, m)]
    return run


def spline_case(cfg, dtype):
    shape, K = cfg

    def run(K_, put):
        rng = np.random.default_rng(0)
        p = test_spline_kernel._params(rng, shape, K, dtype)
        x = test_spline_kernel._points(rng, shape, p, dtype)              # tails and +-B included
        y = R.rq_spline_forward(x, *p)[0]
        g, gl = _normal(rng, shape, dtype), _normal(rng, shape, dtype)
        x, y, g, gl, p = put(x), put(y), put(g), put(gl), [put(a) for a in p]
        return [*K_.rq_spline_forward(x, *p), *K_.rq_spline_inverse(y, *p),
                *K_.rq_spline_backward(g, gl, x, *p), *K_.rq_spline_backward(None, gl, x, *p),
                *K_.rq_spline_inverse_backward(g, gl, y, *p)]
    return run


def adam_case(cfg, dtype):
    shape, weight_decay, decoupled = cfg

    def run(K, put):
        rng = np.random.default_rng(0)
        p = put(_normal(rng, shape, dtype))
        m, v = put(np.zeros(shape, dtype)), put(np.zeros(shape, dtype))
        for t in range(1, 4):
            g = put(_normal(rng, shape, dtype))
            K.adam_step(p, g, m, v, lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=weight_decay,
                        decoupled=decoupled, step=t)
        return [p, m, v]
    return run


def cross_entropy_case(cfg, dtype):
    shape, axis = cfg

    def run(K, put):
        rng = np.random.default_rng(0)
        z, t, gy = test_cross_entropy._inputs(rng, shape, axis, dtype)
        z, t, gy = put(z), put(t), put(gy)
        loss, lse = K.softmax_cross_entropy_forward(z, t, axis)
        return [loss, lse, K.softmax_cross_entropy_backward(gy, z, t, lse, axis)]
    return run


ADAM = [((7, 5), 0.0, False), ((130,), 0.1, False), ((3, 67), 0.1, True)]   # (shape, wd, decoupled)


def all_cases():
    """``[(id, run)]`` for every family, configuration and dtype."""
    families = [("conv", conv_case, test_conv.CONFIGS + EXTRA_CONV),
                ("convT", transposed_case, test_conv.TRANSPOSED + EXTRA_TRANSPOSED),
                ("masked", masked_case, test_masked_conv.CONFIGS),
                ("block", block_case, [(2, 6, 3, "B"), (2, 1, 5, "A")]),
                ("causal", causal_case, test_causal_conv1d.CONFIGS),
                ("coupling", coupling_case, test_coupling.CONFIGS),
                ("spline", spline_case, test_spline_kernel.CASES),
                ("adam", adam_case, ADAM),
                ("xent", cross_entropy_case, test_cross_entropy.CASES)]
    return [(f"{name}{i}-{np.dtype(dt).name}", make(cfg, dt))
            for name, make, configs in families for i, cfg in enumerate(configs) for dt in DTYPES]


def check(run, K, put=lambda a: a, host=np.asarray):
    """Compare ``run(K, put)`` with ``run(reference)``; raises AssertionError on a mismatch."""
    expected = run(R, lambda a: a)
    got = run(K, put)
    assert len(got) == len(expected)
    for j, (a, e) in enumerate(zip(got, expected)):
        if e is None:
            assert a is None, f"output {j}: expected None"
            continue
        a = host(a)
        assert a.shape == e.shape and a.dtype == e.dtype, \
            f"output {j}: got {a.dtype}{a.shape}, expected {e.dtype}{e.shape}"
        scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
        np.testing.assert_allclose(a / scale, e / scale, rtol=TOL[e.dtype], atol=TOL[e.dtype],
                                   err_msg=f"output {j}")
