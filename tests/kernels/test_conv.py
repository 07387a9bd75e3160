"""Convolution family: reference vs hand-computed and brute-force cases, Numba vs reference,
adjoint identities, clear errors, and an optional PyTorch oracle."""
import os
import subprocess
import sys

import numpy as np
import pytest

import kernels
from kernels import config
from kernels.cpu import conv as C
from kernels.reference import conv as R

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _close(a, b, dtype):
    """allclose with the absolute tolerance scaled to the magnitude of the expected values."""
    assert a.shape == b.shape and a.dtype == b.dtype == dtype
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a / scale, b / scale, **TOL[dtype])


def _problem(rng, n, cin, cout, h, w, kh, kw, dtype):
    x = rng.standard_normal((n, cin, h, w)).astype(dtype)
    wt = rng.standard_normal((cout, cin, kh, kw)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    return x, wt, b


# ------------------------------------------------------------------------------------------
# The reference against hand-computed cases and a brute-force 7-loop definition
# ------------------------------------------------------------------------------------------

def test_reference_hand_computed_conv():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)            # [[1 2 3] [4 5 6] [7 8 9]]
    w = np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(R.conv2d_forward(x, w)[0, 0], [[12, 16], [24, 28]])
    # padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1) of the padded image
    np.testing.assert_array_equal(R.conv2d_forward(x, w, stride=2, padding=1)[0, 0],
                                  [[1, 5], [11, 28]])
    # dilation 2 on a 3x3 image: the four corners
    np.testing.assert_array_equal(R.conv2d_forward(x, w, dilation=2)[0, 0], [[1 + 3 + 7 + 9]])
    # bias and two output channels
    w2 = np.stack([np.ones((1, 2, 2)), -np.ones((1, 2, 2))])
    y = R.conv2d_forward(x, w2, np.array([0.5, 1.0]))
    np.testing.assert_array_equal(y[0, 1], [[-11, -15], [-23, -27]])
    # gradients: gy = ones -> gx counts how many windows cover each pixel
    gy = np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(R.conv2d_grad_input(gy, w, x.shape)[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(R.conv2d_grad_weight(x, gy, w.shape)[0, 0], [[12, 16], [24, 28]])
    np.testing.assert_array_equal(R.conv2d_grad_bias(gy), [4.0])


def test_reference_hand_computed_transpose_pool_upsample():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    # stride-2 2x2 transposed conv of ones: each pixel becomes a constant 2x2 block
    y = R.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), stride=2)
    np.testing.assert_array_equal(y[0, 0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))))
    # stride 1: overlapping blocks add up
    np.testing.assert_array_equal(R.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)))[0, 0],
                                  [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    z = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(R.avg_pool2d_forward(z, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    ymax, idx = R.max_pool2d_forward(z, 2)
    np.testing.assert_array_equal(ymax[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(idx[0, 0], [[5, 7], [13, 15]])
    gx = R.max_pool2d_grad_input(np.ones((1, 1, 2, 2)), idx, z.shape)
    assert gx.sum() == 4 and gx[0, 0, 1, 1] == 1 and gx[0, 0, 0, 0] == 0
    np.testing.assert_array_equal(R.avg_pool2d_grad_input(np.ones((1, 1, 2, 2)), z.shape, 2),
                                  np.full((1, 1, 4, 4), 0.25))
    np.testing.assert_array_equal(R.upsample_nearest2d_forward(x, 2)[0, 0],
                                  np.kron([[1, 2], [3, 4]], np.ones((2, 2))))
    np.testing.assert_array_equal(R.upsample_nearest2d_grad_input(np.ones((1, 1, 4, 6)), (2, 3)),
                                  np.full((1, 1, 2, 2), 6.0))


def _brute_conv(x, w, b, s, p, d):
    """The definition, one multiply-add at a time (7 loops)."""
    N, Cin, H, W = x.shape
    Cout, _, KH, KW = w.shape
    OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    y = np.zeros((N, Cout, OH, OW))
    for n in range(N):
        for o in range(Cout):
            for i in range(OH):
                for j in range(OW):
                    acc = 0.0 if b is None else b[o]
                    for c in range(Cin):
                        for kh in range(KH):
                            for kw in range(KW):
                                h = i * s[0] - p[0] + kh * d[0]
                                v = j * s[1] - p[1] + kw * d[1]
                                if 0 <= h < H and 0 <= v < W:
                                    acc += w[o, c, kh, kw] * x[n, c, h, v]
                    y[n, o, i, j] = acc
    return y


def _brute_grads(x, w, gy, s, p, d):
    """gx and gw by the chain rule applied to each term of the brute-force sum."""
    N, Cin, H, W = x.shape
    Cout, _, KH, KW = w.shape
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for n, o, i, j in np.ndindex(*gy.shape):
        for c, kh, kw in np.ndindex(Cin, KH, KW):
            h, v = i * s[0] - p[0] + kh * d[0], j * s[1] - p[1] + kw * d[1]
            if 0 <= h < H and 0 <= v < W:
                gx[n, c, h, v] += w[o, c, kh, kw] * gy[n, o, i, j]
                gw[o, c, kh, kw] += x[n, c, h, v] * gy[n, o, i, j]
    return gx, gw


BRUTE = [  # (n, cin, cout, h, w, kh, kw, stride, padding, dilation)
    (2, 2, 3, 5, 4, 3, 2, (1, 1), (1, 0), (1, 1)),
    (1, 3, 2, 6, 7, 3, 3, (2, 3), (1, 2), (2, 1)),
    (1, 1, 1, 2, 2, 4, 4, (1, 1), (2, 2), (1, 1)),       # kernel larger than the input
]


@pytest.mark.parametrize("cfg", BRUTE, ids=range(len(BRUTE)))
def test_reference_matches_brute_force(cfg):
    n, cin, cout, h, w, kh, kw, s, p, d = cfg
    rng = np.random.default_rng(0)
    x, wt, b = _problem(rng, n, cin, cout, h, w, kh, kw, np.float64)
    y = R.conv2d_forward(x, wt, b, s, p, d)
    np.testing.assert_allclose(y, _brute_conv(x, wt, b, s, p, d), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gx, gw = _brute_grads(x, wt, gy, s, p, d)
    np.testing.assert_allclose(R.conv2d_grad_input(gy, wt, x.shape, s, p, d), gx, atol=1e-12)
    np.testing.assert_allclose(R.conv2d_grad_weight(x, gy, wt.shape, s, p, d), gw, atol=1e-12)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_adjoint_identities(impl):
    """<conv(x), gy> = <x, grad_input(gy)> = <w, grad_weight(x, gy)>; transposed conv = adjoint."""
    rng = np.random.default_rng(3)
    x, w, _ = _problem(rng, 2, 3, 4, 7, 6, 3, 2, np.float64)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    y = impl.conv2d_forward(x, w, **kw)
    gy = rng.standard_normal(y.shape)
    dot = np.vdot(y, gy)
    assert np.isclose(dot, np.vdot(x, impl.conv2d_grad_input(gy, w, x.shape, **kw)), rtol=1e-12)
    assert np.isclose(dot, np.vdot(w, impl.conv2d_grad_weight(x, gy, w.shape, **kw)), rtol=1e-12)
    # conv_transpose2d with weight w maps y-sized images back to x-sized ones
    xt = impl.conv_transpose2d_forward(gy, w, None, output_padding=0, **kw)
    assert xt.shape == x.shape
    assert np.isclose(np.vdot(xt, x), dot, rtol=1e-12)


# ------------------------------------------------------------------------------------------
# Numba vs reference
# ------------------------------------------------------------------------------------------

CONFIGS = [  # (n, cin, cout, h, w, kh, kw, stride, padding, dilation)   path exercised
    (2, 3, 5, 7, 6, 3, 3, 1, 1, 1),                  # im2col (few channels)
    (3, 3, 4, 9, 8, 3, 3, 2, 1, 2),                  # im2col, stride and dilation
    (1, 2, 3, 1, 1, 3, 3, 1, 1, 1),                  # 1x1 image, batch 1
    (2, 1, 3, 2, 3, 5, 5, 1, 3, 1),                  # kernel larger than input, big padding
    (2, 5, 3, 6, 6, 1, 1, 1, 0, 1),                  # 1x1 conv: plain GEMM, no im2col
    (5, 3, 4, 6, 7, 1, 1, 2, 0, 1),                  # strided 1x1: im2col
    (2, 7, 2, 3, 4, 5, 4, 1, (2, 3), 1),             # non-square kernel and padding
    (17, 3, 5, 4, 4, 3, 3, 1, 1, 1),                 # many tiny images: batched GEMMs
    (3, 16, 17, 9, 7, 3, 3, 1, 1, 1),                # shifted-window path, odd Cout
    (5, 17, 16, 6, 6, 3, 3, 1, 1, 2),                # shifted-window path with dilation
    (1, 20, 18, 11, 9, 3, 5, 1, (1, 2), 1),          # batch 1: channels split across threads
    (9, 24, 16, 5, 6, 3, 3, 1, 2, (2, 1)),           # batched padded images, odd count
    (2, 16, 16, 8, 8, 3, 3, 1, 0, 1),                # 'valid' padding (garbage columns)
    (1, 16, 16, 1, 1, 3, 3, 1, 1, 1),                # 1x1 image on the shifted-window path
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
def test_numba_matches_reference(cfg, dtype):
    n, cin, cout, h, w, kh, kw, s, p, d = cfg
    rng = np.random.default_rng(1)
    x, wt, b = _problem(rng, n, cin, cout, h, w, kh, kw, dtype)
    y = R.conv2d_forward(x, wt, b, s, p, d)
    _close(C.conv2d_forward(x, wt, b, s, p, d), y, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    _close(C.conv2d_grad_input(gy, wt, x.shape, s, p, d), R.conv2d_grad_input(gy, wt, x.shape, s, p, d),
           dtype)
    _close(C.conv2d_grad_weight(x, gy, wt.shape, s, p, d),
           R.conv2d_grad_weight(x, gy, wt.shape, s, p, d), dtype)


@pytest.mark.parametrize("cfg", [CONFIGS[i] for i in (1, 2, 4, 7, 8, 10, 11)])
def test_numba_parallel_paths_match_reference(cfg, monkeypatch):
    """PARALLEL_MIN_ELEMENTS = 0 forces the prange drivers (and thread partials) on tiny inputs."""
    monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    test_numba_matches_reference(cfg, np.float32)


TRANSPOSED = [  # (n, cin, cout, h, w, k, stride, padding, output_padding, dilation)
    (2, 3, 4, 4, 5, 3, 2, 1, 1, 1),
    (1, 16, 17, 5, 5, 3, 1, 1, 0, 1),                # conv2d's shifted-window path
    (2, 2, 3, 3, 3, 2, 2, 0, 0, 1),                  # DCGAN-style upsampling
    (1, 2, 2, 3, 4, 3, 1, 0, 1, 2),                  # output_padding >= stride (allowed < dilation)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", TRANSPOSED, ids=range(len(TRANSPOSED)))
def test_conv_transpose_numba_matches_reference(cfg, dtype):
    n, cin, cout, h, w, k, s, p, op, d = cfg
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, cin, h, w)).astype(dtype)
    wt = rng.standard_normal((cin, cout, k, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    y = R.conv_transpose2d_forward(x, wt, b, s, p, op, d)
    assert y.shape == R.conv_transpose2d_output_shape(x.shape, wt.shape, s, p, op, d)
    _close(C.conv_transpose2d_forward(x, wt, b, s, p, op, d), y, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    _close(C.conv_transpose2d_grad_input(gy, wt, x.shape, s, p, op, d),
           R.conv_transpose2d_grad_input(gy, wt, x.shape, s, p, op, d), dtype)
    _close(C.conv_transpose2d_grad_weight(x, gy, wt.shape, s, p, op, d),
           R.conv_transpose2d_grad_weight(x, gy, wt.shape, s, p, op, d), dtype)


WINOGRAD = [  # (n, cin, cout, h, w, padding): 3x3 stride-1 convs that take Winograd F(2x2, 3x3)
    (2, 64, 64, 8, 8, 1),                            # the diffusion U-Net's 8x8
    (3, 64, 72, 4, 4, 1),                            # 4x4, Cout not a multiple of the SIMD width
    (2, 65, 64, 5, 7, 1),                            # odd sizes: half tiles at the right and bottom
    (1, 64, 64, 6, 5, 0),                            # 'valid' padding
    (2, 64, 64, 3, 3, 2),                            # padding 2
    (1, 64, 64, 1, 1, 1),                            # a 1x1 image: one tile, mostly padding
    (2, 32, 40, 28, 28, 1),                          # 28x28: blocks of 8 then 6 rows of tiles
    (5, 32, 32, 8, 8, 1),                            # 5 small images in one block
    (2, 256, 32, 4, 4, 1),                           # 256 channels: 1 KiB per tile row of a plane
]


def test_winograd_plane_strides_avoid_4k_multiples():
    """Plane strides of the 16 transform planes are kept off 4 KiB multiples when the channel
    count allows it, and the search always ends (1024 float32 channels: no tile count helps)."""
    from kernels.cpu._winograd import _plane_tiles
    for tiles in (1, 8, 16, 64, 127, 128, 256):
        for chans in [(32, 32), (64, 64), (64, 128), (256, 128), (512, 64)]:
            t = _plane_tiles(tiles, chans, 4)
            assert tiles <= t <= tiles + 3 and all(t * c * 4 % 4096 for c in chans)
        assert _plane_tiles(tiles, (1024,), 4) == tiles


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", WINOGRAD, ids=range(len(WINOGRAD)))
def test_winograd_path_matches_reference(cfg, dtype):
    n, cin, cout, h, w, p = cfg
    x, wt, b = _problem(np.random.default_rng(5), n, cin, cout, h, w, 3, 3, dtype)
    assert C._use_winograd(R.checked_geometry("conv2d", dict(x=x, w=wt), 1, p, 1, x.shape, wt.shape))
    test_numba_matches_reference((n, cin, cout, h, w, 3, 3, 1, p, 1), dtype)
    gy = np.random.default_rng(6).standard_normal((n, cin, h, w)).astype(dtype)   # transposed conv: roles swapped
    wt_t = np.ascontiguousarray(wt.transpose(1, 0, 2, 3))
    if p <= 1:
        _close(C.conv_transpose2d_forward(gy, wt_t, b, 1, p), R.conv_transpose2d_forward(gy, wt_t, b, 1, p), dtype)


@pytest.mark.parametrize("cfg", [CONFIGS[i] for i in (0, 2, 6, 8, 12, 13)] + [(17, 3, 5, 4, 4, 3, 3, 1, 1, 1)])
def test_winograd_transforms_on_any_channel_count(cfg, monkeypatch):
    """With the channel threshold at 1, every 3x3 stride-1 case of the table runs through Winograd."""
    monkeypatch.setattr(C, "CONV_WINOGRAD_MIN_CHANNELS", 1)
    n, cin, cout, h, w, kh, kw, s, p, d = cfg
    x = np.zeros((n, cin, h, w))
    g = R.checked_geometry("conv2d", dict(x=x, w=np.zeros((cout, cin, kh, kw))), s, p, d, x.shape, (cout, cin, kh, kw))
    assert C._use_winograd(g) == (kh == kw == 3 and s == 1 and d == 1)
    for dtype in (np.float32, np.float64):
        test_numba_matches_reference(cfg, dtype)


@pytest.mark.parametrize("tiles, parallel", [(1, False), (3, True), (8, True), (10 ** 6, True)])
def test_winograd_blocks_and_threads(tiles, parallel, monkeypatch):
    """Blocks of one tile, of rows of tiles with a remainder, of several images with a remainder
    (5 images, 2 per block), and the whole batch: on one thread and split over the threads."""
    if parallel:
        monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)
    n, cin, cout, itemsize = 5, 64, 48, 8
    monkeypatch.setattr(config, "CONV_WINOGRAD_BLOCK_BYTES", tiles * 16 * (cin + cout) * itemsize)
    rng = np.random.default_rng(8)
    for h, w in [(4, 4), (7, 6)]:
        x, wt, b = _problem(rng, n, cin, cout, h, w, 3, 3, np.float64)
        g = R.checked_geometry("conv2d", dict(x=x, w=wt), 1, 1, 1, x.shape, wt.shape)
        assert C._use_winograd(g)
        y = R.conv2d_forward(x, wt, b, 1, 1)
        gy = rng.standard_normal(y.shape)
        _close(C.conv2d_forward(x, wt, b, 1, 1), y, np.float64)
        _close(C.conv2d_grad_input(gy, wt, x.shape, 1, 1), R.conv2d_grad_input(gy, wt, x.shape, 1, 1), np.float64)
        _close(C.conv2d_grad_weight(x, gy, wt.shape, 1, 1), R.conv2d_grad_weight(x, gy, wt.shape, 1, 1), np.float64)


def test_winograd_results_do_not_alias_its_scratch_buffers():
    """Outputs are fresh arrays: a second call (same shapes, other values) leaves the first intact."""
    rng = np.random.default_rng(7)
    for shape in [(1, 64, 1, 1), (2, 64, 4, 4)]:
        w = rng.standard_normal((64, 64, 3, 3))
        x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
        y1 = C.conv2d_forward(x1, w, None, 1, 1)
        g1 = C.conv2d_grad_input(x1, w, shape, 1, 1)
        keep_y, keep_g = y1.copy(), g1.copy()
        C.conv2d_forward(x2, w, None, 1, 1), C.conv2d_grad_input(x2, w, shape, 1, 1)
        C.conv2d_grad_weight(x2, x2, w.shape, 1, 1)
        np.testing.assert_array_equal(y1, keep_y)
        np.testing.assert_array_equal(g1, keep_g)


@pytest.mark.parametrize("k, stride, cin", [(3, 2, 8), (1, 1, 8), (3, 1, 16)])  # im2col / 1x1 / wide
def test_grad_weight_is_not_a_view_of_the_workspace(k, stride, cin):
    """The per-thread partials live in the workspace: a second call leaves the first result intact."""
    rng = np.random.default_rng(9)
    x1, x2 = rng.standard_normal((2, cin, 6, 6)), rng.standard_normal((2, cin, 6, 6))
    w_shape = (16, cin, k, k)
    gy = rng.standard_normal(R.conv2d_output_shape(x1.shape, w_shape, stride, k // 2))
    g1 = C.conv2d_grad_weight(x1, gy, w_shape, stride, k // 2)
    keep = g1.copy()
    C.conv2d_grad_weight(x2, gy, w_shape, stride, k // 2)
    np.testing.assert_array_equal(g1, keep)


def test_non_contiguous_inputs_and_workspace_reuse():
    """Non-contiguous inputs are copied once; a cached workspace of another size/dtype is safe."""
    rng = np.random.default_rng(4)
    for dtype, (n, cin, h) in [(np.float64, (3, 16, 9)), (np.float32, (2, 3, 5)), (np.float64, (2, 4, 12))]:
        x = rng.standard_normal((n, h, h, cin)).astype(dtype).transpose(0, 3, 1, 2)   # NHWC view
        w = rng.standard_normal((cin, 3, 3, 16)).astype(dtype).transpose(3, 0, 1, 2)
        assert not x.flags.c_contiguous
        _close(C.conv2d_forward(x, w, None, 1, 1), R.conv2d_forward(x, w, None, 1, 1), dtype)


def test_pooling_and_upsampling_are_the_reference():
    """cpu re-exports these NumPy kernels (one memory pass each; see kernels/cpu/conv.py)."""
    for name in ("avg_pool2d_forward", "max_pool2d_grad_input", "upsample_nearest2d_forward"):
        assert getattr(C, name) is getattr(R, name)
    assert set(C.__all__) == set(R.__all__)


def test_dispatcher_and_forced_reference(monkeypatch):
    rng = np.random.default_rng(5)
    x, w, b = _problem(rng, 2, 3, 4, 5, 5, 3, 3, np.float64)
    y = kernels.conv2d_forward(x, w, b, padding="same")
    monkeypatch.setattr(config, "KERNELS", "reference")
    _close(kernels.conv2d_forward(x, w, b, padding=1), y, np.float64)


def test_runs_as_plain_python_with_jit_disabled():
    """NUMBA_DISABLE_JIT=1 (stepping through with pdb) runs the same kernels, GEMM via ctypes."""
    code = ("import numpy as np; from kernels.cpu import conv as C; from kernels.reference import conv as R\n"
            "rng = np.random.default_rng(0)\n"
            "for cin, s in [(3, 2), (16, 1)]:\n"
            "    x = rng.standard_normal((2, cin, 5, 4)); w = rng.standard_normal((16, cin, 3, 3))\n"
            "    y = C.conv2d_forward(x, w, None, s, 1); gy = rng.standard_normal(y.shape)\n"
            "    assert np.allclose(y, R.conv2d_forward(x, w, None, s, 1))\n"
            "    for f in ('conv2d_grad_input', 'conv2d_grad_weight'):\n"
            "        a, b = (gy, x) if f == 'conv2d_grad_input' else (x, gy)\n"
            "        shape = x.shape if f == 'conv2d_grad_input' else w.shape\n"
            "        args = (a, w, shape) if f == 'conv2d_grad_input' else (a, b, shape)\n"
            "        assert np.allclose(getattr(C, f)(*args, s, 1), getattr(R, f)(*args, s, 1))\n"
            "x = rng.standard_normal((1, 64, 3, 2)); w = rng.standard_normal((64, 64, 3, 3))\n"   # Winograd
            "assert np.allclose(C.conv2d_forward(x, w, None, 1, 1), R.conv2d_forward(x, w, None, 1, 1))\n"
            "gy = rng.standard_normal((1, 64, 3, 2))\n"
            "assert np.allclose(C.conv2d_grad_weight(x, gy, w.shape, 1, 1), R.conv2d_grad_weight(x, gy, w.shape, 1, 1))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, timeout=120)


# ------------------------------------------------------------------------------------------
# Padding helpers and errors
# ------------------------------------------------------------------------------------------

def test_same_padding():
    assert R.same_padding(3) == (1, 1)
    assert R.same_padding((5, 3), dilation=(2, 1)) == (4, 1)
    assert R.same_padding(2, dilation=2) == (1, 1)              # effective kernel 3
    with pytest.raises(ValueError, match="even"):
        R.same_padding(4)
    x = np.ones((1, 2, 7, 5))
    for impl in (R, C):
        assert impl.conv2d_forward(x, np.ones((3, 2, 5, 3)), padding="same").shape == (1, 3, 7, 5)
        assert impl.conv2d_forward(x, np.ones((3, 2, 5, 3)), padding="valid").shape == (1, 3, 3, 3)


@pytest.mark.parametrize("impl", [R, C], ids=["reference", "cpu"])
def test_clear_errors(impl):
    x, w = np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"Cin=2 .*C=3"):
        impl.conv2d_forward(x, np.ones((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="4-D"):
        impl.conv2d_forward(np.ones((3, 5, 5)), w)
    with pytest.raises(TypeError, match="float32"):
        impl.conv2d_forward(x.astype(np.float32), w)
    with pytest.raises(TypeError, match="float32 or float64"):
        impl.conv2d_forward(x.astype(np.int64), w)
    with pytest.raises(ValueError, match="larger than the padded input"):
        impl.conv2d_forward(x, np.ones((4, 3, 7, 7)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        impl.conv2d_forward(x, w, stride=0)
    with pytest.raises(TypeError, match="pair of ints"):
        impl.conv2d_forward(x, w, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        impl.conv2d_forward(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="bias must have shape"):
        impl.conv2d_forward(x, w, np.ones(3))
    with pytest.raises(ValueError, match=r"gy must have shape \(2, 4, 3, 3\)"):
        impl.conv2d_grad_input(np.ones((2, 4, 5, 5)), w, x.shape)
    with pytest.raises(ValueError, match="output_padding"):
        impl.conv_transpose2d_forward(x, np.ones((3, 4, 3, 3)), stride=2, output_padding=2)


# ------------------------------------------------------------------------------------------
# Optional oracle
# ------------------------------------------------------------------------------------------

def test_torch_oracle():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    x, w, b = _problem(rng, 2, 16, 16, 9, 8, 3, 3, np.float64)
    kw = dict(stride=1, padding=(1, 2), dilation=(2, 1))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv2d(tx, tw, torch.tensor(b), **kw)
    gy = rng.standard_normal(ty.shape)
    ty.backward(torch.tensor(gy))
    _close(C.conv2d_forward(x, w, b, **kw), ty.detach().numpy(), np.float64)
    _close(C.conv2d_grad_input(gy, w, x.shape, **kw), tx.grad.numpy(), np.float64)
    _close(C.conv2d_grad_weight(x, gy, w.shape, **kw), tw.grad.numpy(), np.float64)
    wt = rng.standard_normal((16, 5, 4, 4))
    yt = F.conv_transpose2d(torch.tensor(x), torch.tensor(wt), None, 2, 1, 1).numpy()
    _close(C.conv_transpose2d_forward(x, wt, None, 2, 1, 1), yt, np.float64)
    ym, im = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    y, idx = C.max_pool2d_forward(x, 3, 2, 1)
    np.testing.assert_array_equal(y, ym.numpy())
    np.testing.assert_array_equal(idx, im.numpy())
    _close(C.avg_pool2d_forward(x, 3, 2, 1), F.avg_pool2d(torch.tensor(x), 3, 2, 1).numpy(), np.float64)
