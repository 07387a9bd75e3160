"""``NUMBA_DISABLE_JIT=1`` runs every CPU kernel as plain Python (pdb, coverage).

The README promises this mode for stepping into kernels, so each public function of
``kernels.cpu`` runs here in a subprocess with the JIT off, on tiny inputs, in its
serial and parallel drivers and on each of its code paths (im2col / shifted-GEMM),
and is compared with its NumPy twin in ``kernels.reference``.  A kernel added to
``kernels.cpu.__all__`` without a case below fails ``test_every_cpu_kernel_has_a_case``.
"""
import os
import subprocess
import sys

import numpy as np

import kernels.cpu


def _cases(rng, dtype):
    """(kernel name, args, kwargs) for every public CPU kernel, on tiny inputs."""
    from kernels import taps as T
    from kernels.reference.conv import conv2d_output_shape

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    out = []
    for cin, cout, stride in [(3, 16, 2), (16, 16, 1), (32, 32, 1)]:  # im2col / shifted-window / Winograd
        x, w, b = r(2, cin, 5, 4), r(cout, cin, 3, 3), r(cout)
        y_shape = conv2d_output_shape(x.shape, w.shape, stride, 1)
        gy = r(*y_shape)
        out += [("conv2d_forward", (x, w, b, stride, 1), {}),
                ("conv2d_grad_input", (gy, w, x.shape, stride, 1), {}),
                ("conv2d_grad_weight", (x, gy, w.shape, stride, 1), {}),
                ("conv2d_grad_bias", (gy,), {})]
    xt, wt = r(2, 3, 3, 4), r(3, 5, 3, 3)
    gyt = r(2, 5, 7, 9)
    out += [("conv_transpose2d_forward", (xt, wt, r(5), 2, 0, 0), {}),
            ("conv_transpose2d_grad_input", (gyt, wt, xt.shape, 2, 0, 0), {}),
            ("conv_transpose2d_grad_weight", (xt, gyt, wt.shape, 2, 0, 0), {})]
    xp = r(2, 3, 4, 6)
    out += [("avg_pool2d_forward", (xp, 2), {}),
            ("avg_pool2d_grad_input", (r(2, 3, 2, 3), xp.shape, 2), {}),
            ("max_pool2d_forward", (xp, 2), {}),
            ("upsample_nearest2d_forward", (xp, 2), {}),
            ("upsample_nearest2d_grad_input", (r(2, 3, 8, 12), 2), {})]
    ymax, idx = kernels.reference.max_pool2d_forward(xp, 2)
    out.append(("max_pool2d_grad_input", (r(*ymax.shape), idx, xp.shape), {}))
    for cin, k, mask in [(1, 5, "A"), (18, 3, "B")]:  # im2col path / one GEMM per live tap
        taps = T.pixelcnn_taps(k, mask)
        x, w, b, gy = r(2, cin, 4, 5), r(6, cin, k, k), r(6), r(2, 6, 4, 5)
        out += [("masked_conv2d_forward", (x, w, taps, b), {}),
                ("masked_conv2d_grad_input", (gy, w, taps, x.shape), {}),
                ("masked_conv2d_grad_weight", (x, gy, taps, (k, k)), {"bias": True}),
                ("masked_conv2d_backward", (gy, x, w, taps), {"bias": True})]
    for c, k, mask in [(1, 5, "A"), (6, 3, "B")]:  # the fused residual block x + conv(ReLU(x))
        taps, x, w, b = T.pixelcnn_taps(k, mask), r(2, c, 4, 5), r(c, c, k, k), r(c)
        block = {"relu_input": True, "residual": True}
        out += [("masked_conv2d_forward", (x, w, taps, b), block),
                ("masked_conv2d_backward", (r(2, c, 4, 5), x, w, taps), dict(block, bias=True))]
    x, w, b, gy = r(2, 3, 9), r(4, 3, 2), r(4), r(2, 4, 9)
    out += [("causal_conv1d_forward", (x, w, b, 2), {}),
            ("causal_conv1d_grad_input", (gy, w, 2), {}),
            ("causal_conv1d_grad_weight", (x, gy, 2, 2), {"bias": True}),
            ("causal_conv1d_backward", (gy, x, w, 2), {"bias": True})]
    shape = (3, 2, 3, 3)
    x, s, t, gy, gl = r(*shape), r(*shape), r(*shape), r(*shape), r(3)
    scale = rng.uniform(0.5, 2.0, (2, 1, 1)).astype(dtype)
    m = (np.indices(shape[1:]).sum(0) % 2).astype(dtype)
    out += [("affine_coupling_forward", (x, s, t, scale, m), {}),
            ("affine_coupling_inverse", (x, s, t, scale, m), {}),
            ("affine_coupling_backward", (gy, gl, x, s, scale, m), {}),
            ("affine_coupling_inverse_backward", (gy, gl, x, s, t, scale, m), {})]
    v, g2, gl2 = rng.uniform(-3.5, 3.5, (2, 5)).astype(dtype), r(2, 5), r(2, 5)   # RQ spline, K = 4
    sw, sh, sd = r(2, 5, 4), r(2, 5, 4), r(2, 5, 3)
    out += [("rq_spline_forward", (v, sw, sh, sd, 3.0), {}),
            ("rq_spline_inverse", (v, sw, sh, sd, 3.0), {}),
            ("rq_spline_backward", (g2, gl2, v, sw, sh, sd, 3.0), {}),
            ("rq_spline_inverse_backward", (g2, gl2, v, sw, sh, sd, 3.0), {})]
    x, g, b = r(2, 6, 3, 2), r(6), r(6)                                            # group norm, G = 3
    _, mean, rstd = kernels.reference.group_norm_forward(x, g, b, 3)
    out += [("group_norm_forward", (x, g, b, 3, 1e-5, "silu"), {}),
            ("group_norm_backward", (r(2, 6, 3, 2), x, g, b, mean, rstd, 3, "silu"), {})]
    for cin in (1, 64):                          # the Winograd path at 64 channels and a 3x3 image
        x, w = r(1, cin, 3, 3), r(64, cin, 3, 3)
        out += [("conv2d_forward", (x, w, None, 1, 1), {}),
                ("conv2d_grad_input", (r(1, 64, 3, 3), w, x.shape, 1, 1), {}),
                ("conv2d_grad_weight", (x, r(1, 64, 3, 3), w.shape, 1, 1), {})]
    for shape, axis in [((4, 5), 1), ((2, 3, 4, 3), 1)]:      # softmax cross-entropy: rows / planes
        z = r(*shape)
        t = rng.integers(0, shape[axis], shape[:axis] + shape[axis + 1:])
        _, lse = kernels.reference.softmax_cross_entropy_forward(z, t, axis)
        out += [("softmax_cross_entropy_forward", (z, t, axis), {}),
                ("softmax_cross_entropy_backward", (r(*t.shape), z, t, lse, axis), {})]
    p, g = r(3, 5), r(3, 5)                          # Adam: p, m, v are updated in place (compared)
    for wd, decoupled in [(0.0, False), (0.1, False), (0.1, True)]:
        out.append(("adam_step", (p, g, r(3, 5), np.abs(r(3, 5))),
                    dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=wd, decoupled=decoupled,
                         step=3)))
    a = r(120, 90)                                   # matmul: split by rows and by columns, a^T read in place
    out += [("matmul", (a, r(90, 100)), {}), ("matmul", (a.T, r(120, 130)), {}), ("matmul", (r(2, 3), a[:3]), {})]
    return out


def run_all():
    """Every case, serial and parallel, float32 and float64, against the reference twin."""
    import numba

    from kernels import config
    from kernels import reference as R
    from kernels.cpu import causal_conv1d

    assert numba.config.DISABLE_JIT, "run with NUMBA_DISABLE_JIT=1"
    tol = {np.float32: 2e-5, np.float64: 1e-10}
    for parallel in (False, True):
        config.PARALLEL_MIN_ELEMENTS = 0 if parallel else 10 ** 12
        causal_conv1d.BLOCK_T = 4 if parallel else config.CAUSAL_CONV_BLOCK_T
        for dtype in (np.float32, np.float64):
            for name, args, kwargs in _cases(np.random.default_rng(0), dtype):
                cargs, rargs = ([a.copy() if isinstance(a, np.ndarray) else a for a in args] for _ in "cr")
                got = getattr(kernels.cpu, name)(*cargs, **kwargs)
                want = getattr(R, name)(*rargs, **kwargs)
                got, want = (v if isinstance(v, tuple) else (v,) for v in (got, want))
                # the outputs, and the inputs a kernel updates in place
                changed = [(a, b) for a, b in zip(cargs, rargs) if isinstance(a, np.ndarray)]
                for g, w in list(zip(got, want)) + changed:
                    if g is None or w is None:
                        assert g is None and w is None, name
                        continue
                    g, w = np.asarray(g), np.asarray(w)
                    scale = max(1.0, float(np.abs(w).max()))
                    np.testing.assert_allclose(g / scale, w / scale, rtol=tol[dtype], atol=tol[dtype],
                                               err_msg=f"{name} ({np.dtype(dtype)}, parallel={parallel})")
    print("ok")


def test_every_cpu_kernel_has_a_case():
    named = {name for name, _, _ in _cases(np.random.default_rng(0), np.float64)}
    helpers = {"same_padding", "conv2d_output_shape", "conv_transpose2d_output_shape"}
    assert set(kernels.cpu.__all__) - helpers <= named, set(kernels.cpu.__all__) - helpers - named


def test_every_kernel_family_runs_with_numba_disable_jit():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", "from tests.kernels.test_no_jit import run_all; run_all()"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-3000:]
