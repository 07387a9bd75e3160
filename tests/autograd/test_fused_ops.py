"""Fused Functions (masked conv, causal conv1d, affine coupling): gradcheck, and equal to their composites.

``FUSED_TABLE`` holds op-table entries for these ops (first order only: their backward
is fused and not differentiable); ``tests/autograd/op_table.py`` can add them with
``TABLE += FUSED_TABLE``.
"""
import numpy as np
import pytest

from autograd import Tensor, gradcheck, gradgradcheck, ops
from autograd.ops.causal_conv1d import causal_conv1d, causal_conv1d_composite
from autograd.ops.cross_entropy import softmax_cross_entropy, softmax_cross_entropy_composite
from autograd.ops.coupling import (affine_coupling, affine_coupling_composite, affine_coupling_inverse,
                                   affine_coupling_inverse_composite)
from autograd.ops.masked_conv import masked_conv2d, masked_conv2d_composite
from autograd.ops.norm import group_norm, group_norm_composite
from autograd.ops.spline import rq_spline, rq_spline_inverse
from autograd.testing import OpInfo
from kernels import taps as T
from kernels.reference import causal_conv1d as RC
from kernels.reference import coupling as RP
from kernels.reference import cross_entropy as RX
from kernels.reference import masked_conv as RM
from kernels.reference import norm as RN
from kernels.reference import spline as RS

CHECKER = np.array([[[0, 1, 0], [1, 0, 1], [0, 1, 0]]], np.float64)  # (1, 3, 3) checkerboard


def _ref_masked(x, w, b, mask_type, groups):
    taps, cm = T.pixelcnn_mask(w.shape[2:], mask_type, w.shape[0], w.shape[1], groups)
    return RM.masked_conv2d_forward(x, w, taps, b, center_mask=cm)


FUSED_TABLE = [
    OpInfo("masked_conv2d", lambda x, w, b: masked_conv2d(x, w, b, "A", groups=3),
           lambda rng: [(rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((6, 3, 3, 3)),
                         rng.standard_normal(6))],
           lambda x, w, b: _ref_masked(x, w, b, "A", 3), second_order=False),
    OpInfo("masked_conv2d_relu_residual",
           lambda x, w, b: masked_conv2d(x, w, b, "B", relu_input=True, residual=True),
           lambda rng: [(rng.standard_normal((2, 4, 4, 5)), rng.standard_normal((4, 4, 3, 3)),
                         rng.standard_normal(4)),
                        (rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 5, 5)),
                         rng.standard_normal(1))],
           lambda x, w, b: x + _ref_masked(np.maximum(x, 0), w, b, "B", 1), second_order=False),
    OpInfo("causal_conv1d", lambda x, w, b: causal_conv1d(x, w, b, dilation=2),
           lambda rng: [(rng.standard_normal((2, 3, 7)), rng.standard_normal((4, 3, 3)),
                         rng.standard_normal(4))],
           lambda x, w, b: RC.causal_conv1d_forward(x, w, b, 2), second_order=False),
    OpInfo("affine_coupling", lambda x, s, t, c: affine_coupling(x, s, t, c, CHECKER),
           lambda rng: [tuple(rng.standard_normal(sh) for sh in [(2, 1, 3, 3)] * 3 + [(1, 1, 1)])],
           lambda x, s, t, c: RP.affine_coupling_forward(x, s, t, c, CHECKER), second_order=False),
    OpInfo("affine_coupling_inverse", lambda y, s, t, c: affine_coupling_inverse(y, s, t, c, CHECKER),
           lambda rng: [tuple(rng.standard_normal(sh) for sh in [(2, 1, 3, 3)] * 3 + [(1, 1, 1)])],
           lambda y, s, t, c: RP.affine_coupling_inverse(y, s, t, c, CHECKER), second_order=False),
]


def _spline_cases(rng):
    """RQ spline inputs (x in [-3.5, 3.5]: tails and bins; B = 3) on three shapes, K = 2, 5, 8."""
    return [(rng.uniform(-3.5, 3.5, s),) + tuple(rng.standard_normal(s + (k,)) for k in (K, K, K - 1))
            for s, K in [((2, 3), 5), ((7,), 2), ((2, 1, 2, 2), 8)]]


FUSED_TABLE += [
    OpInfo("rq_spline", lambda x, w, h, d: rq_spline(x, w, h, d, bound=3.0), _spline_cases,
           lambda x, w, h, d: RS.rq_spline_forward(x, w, h, d, 3.0), second_order=False),
    OpInfo("rq_spline_inverse", lambda y, w, h, d: rq_spline_inverse(y, w, h, d, bound=3.0), _spline_cases,
           lambda y, w, h, d: RS.rq_spline_inverse(y, w, h, d, 3.0), second_order=False),
]


def _group_norm_cases(rng):
    """x (N, C, *) with (C,) gamma and beta: spatial and flat inputs, G = 2 and 3."""
    return [(rng.standard_normal(s) * 2 + 1, rng.standard_normal(s[1]), rng.standard_normal(s[1]))
            for s in [(2, 6, 3, 2), (3, 4), (2, 6, 5)]]


FUSED_TABLE += [
    OpInfo("group_norm", lambda x, g, b: group_norm(x, 2, g, b), _group_norm_cases,
           lambda x, g, b: RN.group_norm_forward(x, g, b, 2)[0], second_order=False),
    OpInfo("group_norm_silu", lambda x, g, b: group_norm(x, 2, g, b, act="silu"), _group_norm_cases,
           lambda x, g, b: RN.group_norm_forward(x, g, b, 2, act="silu")[0], second_order=False),
]


def _cross_entropy_cases(rng):
    """(logits, integer targets): classes last (N, K), on axis 1 of (N, K, H, W), K = 2 and 5."""
    shapes = [(4, 5), (2, 5, 3, 2), (3, 2, 4)]
    return [(rng.standard_normal(s) * 2, rng.integers(0, s[1], s[:1] + s[2:])) for s in shapes]


FUSED_TABLE += [
    OpInfo("softmax_cross_entropy", lambda z, t: softmax_cross_entropy(z, t, axis=1), _cross_entropy_cases,
           lambda z, t: RX.softmax_cross_entropy_forward(z, t, 1)[0], second_order=False),
]


def test_fused_ops_are_registered():
    assert {"masked_conv2d", "causal_conv1d", "affine_coupling", "affine_coupling_inverse"} <= set(ops.FUSED)


@pytest.mark.parametrize("info", FUSED_TABLE, ids=[i.name for i in FUSED_TABLE])
def test_table_entries_gradcheck_and_match_reference(info):
    arrays = info.cases()[0]
    gradcheck(info.op, list(arrays))
    y = info.op(*[Tensor(a) for a in arrays])
    ys = y if isinstance(y, tuple) else (y,)
    es = info.reference(*arrays)
    for a, e in zip(ys, es if isinstance(es, tuple) else (es,)):
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-12, atol=1e-12)


def _leaves(rng, shapes, dtype=np.float64):
    return [Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _assert_same_values_and_grads(fused, composite, leaves, rng, rtol=1e-10):
    """Run both with the same random upstream gradients; compare outputs and every leaf gradient."""
    results = []
    for fn in (fused, composite):
        for t in leaves:
            t.grad = None
        outs = fn(*leaves)
        outs = outs if isinstance(outs, tuple) else (outs,)
        gys = [np.random.default_rng(7 + i).standard_normal(o.shape) for i, o in enumerate(outs)]
        loss = sum((o * Tensor(g)).sum() for o, g in zip(outs, gys))
        loss.backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in leaves]
        results.append(([o.numpy() for o in outs], grads))
    (ya, ga), (yb, gb) = results
    for a, b in zip(ya, yb):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)
    for a, b in zip(ga, gb):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("act", [None, "silu"])
@pytest.mark.parametrize("shape, groups", [((2, 6, 3, 4), 3), ((3, 4), 1), ((2, 4, 5), 4)])
def test_group_norm_equals_composite(shape, groups, act):
    rng = np.random.default_rng(8)
    leaves = _leaves(rng, [shape, shape[1:2], shape[1:2]])
    _assert_same_values_and_grads(lambda x, g, b: group_norm(x, groups, g, b, act=act),
                                  lambda x, g, b: group_norm_composite(x, groups, g, b, act=act), leaves, rng)
    x = leaves[0]                                                 # without affine parameters
    _assert_same_values_and_grads(lambda x: group_norm(x, groups, act=act),
                                  lambda x: group_norm_composite(x, groups, act=act), [x], rng)


@pytest.mark.parametrize("shape, axis", [((5, 7), 1), ((5, 7), -1), ((2, 4, 3, 5), 1), ((2, 3, 2, 4, 3), 2),
                                         ((6, 3, 2), 0)])
def test_softmax_cross_entropy_equals_composite(shape, axis):
    rng = np.random.default_rng(9)
    (z,) = _leaves(rng, [shape])
    ax = axis % len(shape)
    t = rng.integers(0, shape[ax], shape[:ax] + shape[ax + 1:])
    _assert_same_values_and_grads(lambda z: softmax_cross_entropy(z, t, axis),
                                  lambda z: softmax_cross_entropy_composite(z, t, axis), [z], rng)
    z32 = Tensor(z.numpy().astype(np.float32), requires_grad=True)       # float32 stays float32
    y = softmax_cross_entropy(z32, Tensor(t), axis)
    y.sum().backward()
    assert y.dtype == np.float32 and z32.grad.dtype == np.float32


@pytest.mark.parametrize("mask_type, groups, k", [("A", 1, 5), ("B", 1, 3), ("A", 3, 3), ("B", 3, 1)])
def test_masked_conv_equals_dense_conv_of_masked_weight(mask_type, groups, k):
    rng = np.random.default_rng(0)
    leaves = _leaves(rng, [(2, 3, 5, 4), (6, 3, k, k), (6,)])
    _assert_same_values_and_grads(
        lambda x, w, b: masked_conv2d(x, w, b, mask_type, groups),
        lambda x, w, b: masked_conv2d_composite(x, w, b, mask_type, groups), leaves, rng)


@pytest.mark.parametrize("relu_input, residual", [(True, True), (True, False), (False, True)])
def test_masked_conv_residual_block_equals_composite(relu_input, residual):
    rng = np.random.default_rng(3)
    leaves = _leaves(rng, [(2, 4, 5, 4), (4, 4, 3, 3), (4,)])
    opts = dict(relu_input=relu_input, residual=residual)
    _assert_same_values_and_grads(lambda x, w, b: masked_conv2d(x, w, b, "B", **opts),
                                  lambda x, w, b: masked_conv2d_composite(x, w, b, "B", **opts), leaves, rng)


def test_masked_conv_gated_stack_taps_equal_composite():
    rng = np.random.default_rng(1)
    leaves = _leaves(rng, [(2, 2, 4, 5), (3, 2, 3, 3)])
    taps = T.vertical_stack_taps(3, "A")
    _assert_same_values_and_grads(lambda x, w: masked_conv2d(x, w, taps=taps),
                                  lambda x, w: masked_conv2d_composite(x, w, taps=taps), leaves, rng)


def test_causal_conv1d_equals_composite():
    rng = np.random.default_rng(2)
    leaves = _leaves(rng, [(2, 3, 9), (4, 3, 3), (4,)])
    _assert_same_values_and_grads(lambda x, w, b: causal_conv1d(x, w, b, 2),
                                  lambda x, w, b: causal_conv1d_composite(x, w, b, 2), leaves, rng)


@pytest.mark.parametrize("with_scale, with_mask", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("inverse", [False, True])
def test_coupling_equals_composite(with_scale, with_mask, inverse):
    rng = np.random.default_rng(3)
    shapes = [(3, 1, 3, 3)] * 3 + ([(1, 1, 1)] if with_scale else [])
    leaves = _leaves(rng, shapes)
    mask = CHECKER if with_mask else None
    fused, composite = ((affine_coupling_inverse, affine_coupling_inverse_composite) if inverse
                        else (affine_coupling, affine_coupling_composite))
    _assert_same_values_and_grads(lambda *a: fused(*a, mask=mask), lambda *a: composite(*a, mask=mask),
                                  leaves, rng)


def test_layer_sized_gradcheck_directional():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((4, 8, 8, 8)), rng.standard_normal((8, 8, 3, 3)) * 0.3, \
        rng.standard_normal(8)
    gradcheck(lambda x, w, b: masked_conv2d(x, w, b, "B", groups=2), [x, w, b], mode="directional")
    x, w = rng.standard_normal((2, 8, 64)), rng.standard_normal((8, 8, 2)) * 0.3
    gradcheck(lambda x, w: causal_conv1d(x, w, dilation=4), [x, w], mode="directional")
    args = [rng.standard_normal((16, 2, 6, 6)) for _ in range(3)] + [rng.uniform(0.5, 2, (2, 1, 1))]
    gradcheck(lambda x, s, t, c: affine_coupling(x, s, t, c), args, mode="directional")


def test_first_layer_input_without_grad_gets_no_gradient():
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((2, 1, 5, 5)))
    w = Tensor(rng.standard_normal((4, 1, 7, 7)), requires_grad=True)
    masked_conv2d(x, w, mask_type="A").sum().backward()
    assert x.grad is None
    assert np.all(w.grad.numpy()[:, :, 3, 3:] == 0) and np.all(w.grad.numpy()[:, :, 4:] == 0)


@pytest.mark.parametrize("name, fn, shapes", [
    ("MaskedConv2d", lambda x, w: masked_conv2d(x, w, mask_type="B"), [(1, 2, 3, 3), (2, 2, 3, 3)]),
    ("CausalConv1d", lambda x, w: causal_conv1d(x, w, dilation=1), [(1, 2, 4), (2, 2, 2)]),
    ("AffineCoupling", lambda x, s: affine_coupling(x, s, s)[0], [(2, 3), (2, 3)]),
    ("GroupNormAct", lambda x: group_norm(x, 2, act="silu"), [(2, 4, 3)]),
    ("SoftmaxCrossEntropy", lambda z: softmax_cross_entropy(z, np.array([[0, 2], [1, 1]])), [(2, 3, 2)]),
])
def test_double_backward_raises_and_names_the_composite(name, fn, shapes):
    rng = np.random.default_rng(6)
    leaves = _leaves(rng, shapes)
    with pytest.raises(NotImplementedError, match=f"{name}.*composite"):
        gradgradcheck(fn, leaves)


def test_composites_support_double_backward():
    rng = np.random.default_rng(7)
    gradgradcheck(lambda x, w: masked_conv2d_composite(x, w, mask_type="A", groups=2),
                  [rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 2, 3, 3))])
    gradgradcheck(lambda s: affine_coupling_composite(Tensor(np.ones((2, 3))), s, s)[0],
                  [rng.standard_normal((2, 3))])
    gradgradcheck(lambda x, g: group_norm_composite(x, 2, g, act="silu"),
                  [rng.standard_normal((2, 4, 3)), rng.standard_normal(4)])
    gradgradcheck(lambda z, t: softmax_cross_entropy_composite(z, t, axis=1),
                  [rng.standard_normal((2, 3, 2)), np.array([[0, 2], [1, 1]])])


# ---- the layers built on these ops (minigen.nn.masked) ----------------------------------

def test_masked_conv_layer_init_forward_and_dead_weights():
    from minigen.nn.masked import MaskedConv2d
    layer = MaskedConv2d(3, 6, 5, "A", groups=3, rng=np.random.default_rng(0), dtype=np.float64)
    bound = 1 / np.sqrt(3 * 25)                               # fan_in over the full kernel
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.weight.numpy()).max() > 0.8 * bound
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 6, 6)))
    y = layer(x)
    expect = masked_conv2d_composite(x, layer.weight, layer.bias, "A", groups=3)
    np.testing.assert_allclose(y.numpy(), expect.numpy(), atol=1e-12)
    y.sum().backward()
    assert np.all(layer.weight.grad.numpy()[layer.mask() == 0] == 0)
    assert "live_taps=13/25" in repr(layer)


def test_causal_conv_layer():
    from minigen.nn.masked import CausalConv1d
    layer = CausalConv1d(2, 3, 2, dilation=4, rng=np.random.default_rng(0), dtype=np.float64)
    assert layer.receptive_field == 5
    x = Tensor(np.random.default_rng(1).standard_normal((1, 2, 10)))
    expect = causal_conv1d_composite(x, layer.weight, layer.bias, 4)
    np.testing.assert_allclose(layer(x).numpy(), expect.numpy(), atol=1e-12)


@pytest.mark.parametrize("kind", ["checkerboard", "channel"])
def test_coupling_layer_inverts_and_its_logdet_is_log_abs_det_jacobian(kind):
    try:  # issue 9 moves the coupling layer from nn/masked.py to nn/flows.py (a bijection)
        from minigen.nn.flows import AffineCoupling, channel_mask, checkerboard_mask
    except ImportError:
        from minigen.nn.flows import AffineCoupling, channel_mask, checkerboard_mask
    from minigen.nn.module import Module
    rng = np.random.default_rng(2)
    C, H, W = 2, 2, 2
    D = C * H * W
    A, B = rng.standard_normal((D, D)) * 0.5, rng.standard_normal((D, D)) * 0.5

    class Net(Module):
        def forward(self, h):
            flat = h.reshape(h.shape[0], D)
            return (flat @ Tensor(A)).reshape(h.shape), (flat @ Tensor(B)).reshape(h.shape)

    mask = checkerboard_mask(H, W) if kind == "checkerboard" else channel_mask(C, parity=1)
    layer = AffineCoupling(Net(), np.broadcast_to(mask, (C, H, W)).copy(), C, dtype=np.float64)
    layer.scale.data[...] = 1.7
    x = rng.standard_normal((3, C, H, W))
    y, logdet = layer(Tensor(x))
    np.testing.assert_allclose(layer.inverse(y).numpy(), x, atol=1e-12)

    def f(v):
        return layer(Tensor(v.reshape(1, C, H, W)))[0].numpy().ravel()
    v0, eps = x[0].ravel(), 1e-6
    jac = np.stack([(f(v0 + eps * e) - f(v0 - eps * e)) / (2 * eps) for e in np.eye(D)], axis=1)
    np.testing.assert_allclose(logdet.numpy()[0], np.linalg.slogdet(jac)[1], atol=1e-7)
