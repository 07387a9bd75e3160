"""Masked conv2d over live taps: Numba vs reference, reference vs brute force, masks hold."""
import numpy as np
import pytest

import kernels
from kernels import config
from kernels import taps as T
from kernels.cpu import masked_conv as C
from kernels.reference import masked_conv as R

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _problem(rng, n, cin, cout, h, w, k, dtype):
    kh, kw = T.kernel_size_2d(k)
    x = rng.standard_normal((n, cin, h, w)).astype(dtype)
    wt = rng.standard_normal((cout, cin, kh, kw)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    return x, wt, b


def _close(a, b, dtype):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a / scale, b / scale, **TOL[dtype])


CONFIGS = [
    # (n, cin, cout, h, w, kernel, taps, padding, channel-group mask)
    (2, 3, 5, 6, 7, 3, T.pixelcnn_taps(3, "B"), None, None),
    (3, 1, 4, 5, 5, 7, T.pixelcnn_taps(7, "A"), None, None),                 # im2col path, big kernel
    (2, 20, 6, 4, 9, 5, T.pixelcnn_taps(5, "B"), None, ("A", 3)),           # shift path + groups
    (1, 17, 3, 1, 1, 3, T.full_taps(3), None, None),                          # 1x1 image, batch 1
    (2, 18, 3, 3, 4, (3, 1), T.full_taps((3, 1)), (2, 0), None),             # non-square, big padding
    (2, 3, 6, 5, 4, 3, T.pixelcnn_taps(3, "B"), None, ("B", 3)),             # RGB input, groups
    (2, 16, 5, 6, 6, 3, T.vertical_stack_taps(3, "A"), None, None),
    (2, 5, 7, 3, 8, (1, 5), T.horizontal_stack_taps((1, 5), "B"), None, None),
]


# Every config serially in both dtypes; the parallel drivers (slow to compile) on a
# subset in float32, with PARALLEL_MIN_ELEMENTS patched to 0 so tiny inputs take them.
PARITY = ([(i, dt, False) for i in range(len(CONFIGS)) for dt in (np.float32, np.float64)]
          + [(i, np.float32, True) for i in (0, 1, 2, 5)])


@pytest.mark.parametrize("i, dtype, parallel", PARITY,
                         ids=[f"{i}-{dt.__name__}-{'par' if p else 'ser'}" for i, dt, p in PARITY])
def test_numba_matches_reference(i, dtype, parallel, monkeypatch):
    cfg = CONFIGS[i]
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    n, cin, cout, h, w, k, taps, pad, groups = cfg
    rng = np.random.default_rng(1)
    x, wt, b = _problem(rng, n, cin, cout, h, w, k, dtype)
    cm = None if groups is None else T.channel_group_mask(cout, cin, *groups)
    y0 = R.masked_conv2d_forward(x, wt, taps, b, pad, cm)
    y1 = C.masked_conv2d_forward(x, wt, taps, b, pad, cm)
    assert y1.dtype == dtype and y1.shape == y0.shape
    _close(y1, y0, dtype)
    gy = rng.standard_normal(y0.shape).astype(dtype)
    ref = R.masked_conv2d_backward(gy, x, wt, taps, pad, cm, bias=True)
    got = C.masked_conv2d_backward(gy, x, wt, taps, pad, cm, bias=True)
    for a, r in zip(got, ref):
        assert a.dtype == dtype
        _close(a, r, dtype)
    _close(C.masked_conv2d_grad_input(gy, wt, taps, x.shape, pad, cm), ref[0], dtype)
    gw, gb = C.masked_conv2d_grad_weight(x, gy, taps, wt.shape[2:], pad, cm, bias=True)
    _close(gw, ref[1], dtype)
    _close(gb, ref[2], dtype)
    gx, gw2, gb2 = C.masked_conv2d_backward(gy, x, wt, taps, pad, cm, input_grad=False)
    assert gx is None and gb2 is None
    _close(gw2, ref[1], dtype)


# The fused residual block y = x + conv(ReLU(x)): Cout == Cin, "same" size; shift and im2col
# paths, channel groups, both dtypes, serial and parallel drivers.
BLOCK = [(2, 6, 3, "B", None), (3, 1, 5, "A", None), (2, 3, 3, "B", ("B", 3)), (2, 20, 3, "B", None)]


@pytest.mark.parametrize("parallel", [False, True], ids=["ser", "par"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("i", range(len(BLOCK)))
@pytest.mark.parametrize("relu, residual", [(True, True), (True, False), (False, True)])
def test_fused_block_matches_reference(i, dtype, parallel, relu, residual, monkeypatch):
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    n, c, k, mask, groups = BLOCK[i]
    taps = T.pixelcnn_taps(k, mask)
    cm = None if groups is None else T.channel_group_mask(c, c, *groups)
    rng = np.random.default_rng(2)
    x, wt, b = _problem(rng, n, c, c, 5, 7, k, dtype)
    opts = dict(relu_input=relu, residual=residual)
    y0 = R.masked_conv2d_forward(x, wt, taps, b, None, cm, **opts)
    # the twin itself: the block written out with the plain conv
    a = np.maximum(x, 0) if relu else x
    _close(y0, R.masked_conv2d_forward(a, wt, taps, b, None, cm) + (x if residual else 0), dtype)
    _close(C.masked_conv2d_forward(x, wt, taps, b, None, cm, **opts), y0, dtype)
    gy = rng.standard_normal(y0.shape).astype(dtype)
    ref = R.masked_conv2d_backward(gy, x, wt, taps, None, cm, bias=True, **opts)
    plain = R.masked_conv2d_backward(gy, a, wt, taps, None, cm, bias=True)
    _close(ref[0], plain[0] * (x > 0 if relu else 1) + (gy if residual else 0), dtype)
    for got, want in zip(C.masked_conv2d_backward(gy, x, wt, taps, None, cm, bias=True, **opts), ref):
        _close(got, want, dtype)
    gx, gw, _ = C.masked_conv2d_backward(gy, x, wt, taps, None, cm, input_grad=False, **opts)
    assert gx is None
    _close(gw, ref[1], dtype)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_residual_needs_matching_shapes(impl):
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="residual=True adds the input"):
        impl.masked_conv2d_forward(x, np.ones((3, 2, 3, 3), np.float32), T.pixelcnn_taps(3, "B"),
                                   residual=True)


def _dense_conv_bruteforce(x, w, b, ph, pw):
    """Plain loops: y = b + sum over ALL taps of w * x (the caller passes w*mask)."""
    n, cin, h, wd = x.shape
    cout, _, kh, kw = w.shape
    oh, ow = h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1
    y = np.zeros((n, cout, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for ky in range(kh):
                for kx in range(kw):
                    r, c = i + ky - ph, j + kx - pw
                    if 0 <= r < h and 0 <= c < wd:
                        y[:, :, i, j] += x[:, :, r, c] @ w[:, :, ky, kx].T
    return y + b[None, :, None, None]


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_reference_equals_dense_conv_of_masked_weight(mask_type):
    rng = np.random.default_rng(2)
    x, w, b = _problem(rng, 2, 3, 6, 5, 4, 5, np.float64)
    taps = T.pixelcnn_taps(5, "B")
    cm = T.channel_group_mask(6, 3, mask_type)
    w_masked = w * T.taps_to_mask(taps, 5)
    w_masked[:, :, 2, 2] *= cm
    expect = _dense_conv_bruteforce(x, w_masked, b, 2, 2)
    np.testing.assert_allclose(R.masked_conv2d_forward(x, w, taps, b, center_mask=cm), expect, atol=1e-12)
    np.testing.assert_allclose(C.masked_conv2d_forward(x, w, taps, b, center_mask=cm), expect, atol=1e-12)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_dead_taps_get_exactly_zero_weight_gradient(impl):
    rng = np.random.default_rng(3)
    x, w, _ = _problem(rng, 2, 4, 5, 6, 6, 7, np.float64)
    taps = T.pixelcnn_taps(7, "A")
    gy = rng.standard_normal((2, 5, 6, 6))
    gw = impl.masked_conv2d_grad_weight(x, gy, taps, (7, 7))
    dead = T.taps_to_mask(taps, 7) == 0
    assert np.all(gw[:, :, dead] == 0.0)
    assert np.all(gw[:, :, ~dead] != 0.0)
    # centre tap of a mask-B layer with mask-A channel groups: forbidden pairs are exactly 0
    taps_b, cm = T.pixelcnn_taps(3, "B"), T.channel_group_mask(5, 4, "A", groups=2)
    gw = impl.masked_conv2d_grad_weight(x, gy, taps_b, (3, 3), center_mask=cm)
    assert np.all(gw[:, :, 1, 1][cm == 0] == 0.0)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_autoregressive_jacobian(impl, mask_type):
    """One-hot gy at output pixel j (channel o) -> gx is zero wherever the mask forbids.

    Raster order: pixel (i, j) may depend on pixels before it; at the pixel itself,
    output group g sees input groups < g (A) or <= g (B).
    """
    n, c, h, w, k = 1, 3, 5, 5, 5
    rng = np.random.default_rng(4)
    wt = rng.standard_normal((c, c, k, k)) + 3.0       # no accidental zeros
    taps = T.pixelcnn_taps(k, "B")                       # centre live; groups decide it
    cm = T.channel_group_mask(c, c, mask_type)
    raster = np.arange(h * w).reshape(h, w)
    for oi, oj, o in [(2, 2, 0), (2, 2, 1), (2, 2, 2), (0, 0, 2), (4, 4, 1), (1, 3, 0)]:
        gy = np.zeros((n, c, h, w))
        gy[0, o, oi, oj] = 1.0
        gx = impl.masked_conv2d_grad_input(gy, wt, taps, (n, c, h, w), center_mask=cm)[0]
        before = raster < raster[oi, oj]
        at = raster == raster[oi, oj]
        allowed = np.zeros((c, h, w), bool)
        allowed[:, before] = True
        allowed[:, at] = (cm[o] != 0)[:, None]
        assert np.all(gx[~allowed] == 0.0), (oi, oj, o)
        # and every allowed pixel inside the kernel's reach does receive gradient
        reach = (np.abs(np.arange(h)[:, None] - oi) <= k // 2) & (np.abs(np.arange(w)[None] - oj) <= k // 2)
        assert np.all(gx[allowed & reach[None]] != 0.0), (oi, oj, o)


def test_workspace_is_reused_across_shapes():
    rng = np.random.default_rng(5)
    taps = T.pixelcnn_taps(3, "B")
    for shape in [(2, 20, 9, 9), (1, 20, 3, 4), (2, 20, 9, 9), (3, 2, 6, 5)]:
        x = rng.standard_normal(shape)
        w = rng.standard_normal((4, shape[1], 3, 3))
        np.testing.assert_allclose(C.masked_conv2d_forward(x, w, taps),
                                   R.masked_conv2d_forward(x, w, taps), atol=1e-12)


def test_dispatcher_routes_numpy_to_cpu_and_can_force_reference(monkeypatch):
    x = np.ones((1, 2, 4, 4), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    taps = T.pixelcnn_taps(3, "A")
    assert kernels.backend_for(x).__name__ == "kernels.cpu"
    y_cpu = kernels.masked_conv2d_forward(x, w, taps)
    monkeypatch.setattr(config, "KERNELS", "reference")
    assert kernels.backend_for(x).__name__ == "kernels.reference"
    np.testing.assert_allclose(kernels.masked_conv2d_forward(x, w, taps), y_cpu, rtol=1e-6)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_clear_errors(impl):
    x = np.zeros((2, 3, 5, 5), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    taps = T.pixelcnn_taps(3, "B")
    with pytest.raises(ValueError, match="3 channels but the weight expects Cin=2"):
        impl.masked_conv2d_forward(x, w[:, :2], taps)
    with pytest.raises(TypeError, match="float32 or float64"):
        impl.masked_conv2d_forward(x.astype(np.int32), w, taps)
    with pytest.raises(TypeError, match="dtype float32"):
        impl.masked_conv2d_forward(x, w.astype(np.float64), taps)
    with pytest.raises(ValueError, match="4-D"):
        impl.masked_conv2d_forward(x[0], w, taps)
    with pytest.raises(ValueError, match="inside the 3x3 kernel"):
        impl.masked_conv2d_forward(x, w, [[3, 0]])
    with pytest.raises(ValueError, match=r"center_mask must have shape \(Cout, Cin\) = \(4, 3\)"):
        impl.masked_conv2d_forward(x, w, taps, center_mask=np.ones((3, 4)))
    with pytest.raises(ValueError, match="centre tap"):
        impl.masked_conv2d_forward(x, w, T.pixelcnn_taps(3, "A"), center_mask=np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(Cout,\)"):
        impl.masked_conv2d_forward(x, w, taps, b=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="output would be empty"):
        impl.masked_conv2d_forward(x[:, :, :1, :1], np.zeros((4, 3, 5, 5), np.float32),
                                   T.pixelcnn_taps(5, "A"), padding=0)
    with pytest.raises(ValueError, match=r"gy must have shape \(N, Cout, OH, OW\)"):
        impl.masked_conv2d_grad_input(np.zeros((2, 4, 4, 5), np.float32), w, taps, x.shape)
