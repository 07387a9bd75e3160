"""Conv / transposed conv / pooling / upsampling Functions: gradcheck and gradgradcheck in float64,
equality with a composite twin built from primitives, and a gradient penalty through a conv critic.

``CONV_TABLE`` holds op-table entries for these ops (all differentiable twice);
``tests/autograd/op_table.py`` can add them with ``TABLE += CONV_TABLE``.
"""
import numpy as np
import pytest

from autograd import Tensor, enable_grad, grad, gradcheck, gradgradcheck, ops
from autograd.ops.conv import (avg_pool2d, conv2d, conv2d_grad_input, conv2d_grad_weight,
                               conv_transpose2d, max_pool2d, upsample_nearest2d)
from autograd.ops.elementwise import tanh
from autograd.ops.linalg import matmul
from autograd.ops.shape import getitem, pad, transpose
from autograd.testing import OpInfo
from kernels.reference import conv as R


def _normal(*shapes):
    return lambda rng: [tuple(rng.standard_normal(s) for s in shapes)]


def _distinct(shape):
    """Inputs whose values are well separated (max pooling stays away from ties)."""
    def make(rng):
        n = int(np.prod(shape))
        return [(rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape),)]
    return make


CONV_TABLE = [
    OpInfo("conv2d", lambda x, w, b: conv2d(x, w, b, stride=1, padding=1),
           _normal((2, 3, 5, 4), (4, 3, 3, 3), (4,)), lambda x, w, b: R.conv2d_forward(x, w, b, 1, 1)),
    OpInfo("conv2d_strided_dilated", lambda x, w: conv2d(x, w, None, (2, 1), (0, 2), (1, 2)),
           _normal((2, 2, 6, 5), (3, 2, 2, 3)),
           lambda x, w: R.conv2d_forward(x, w, None, (2, 1), (0, 2), (1, 2))),
    OpInfo("conv2d_grad_input", lambda gy, w: conv2d_grad_input(gy, w, (2, 3, 5, 5), stride=2, padding=1),
           _normal((2, 2, 3, 3), (2, 3, 3, 3)),
           lambda gy, w: R.conv2d_grad_input(gy, w, (2, 3, 5, 5), 2, 1)),
    OpInfo("conv2d_grad_weight", lambda x, gy: conv2d_grad_weight(x, gy, (2, 3, 3, 3), padding=1),
           _normal((2, 3, 4, 4), (2, 2, 4, 4)),
           lambda x, gy: R.conv2d_grad_weight(x, gy, (2, 3, 3, 3), 1, 1)),
    OpInfo("conv_transpose2d",
           lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
           _normal((2, 3, 3, 3), (3, 2, 3, 3), (2,)),
           lambda x, w, b: R.conv_transpose2d_forward(x, w, b, 2, 1, 1)),
    OpInfo("conv_transpose2d_big_output_padding",
           lambda x, w: conv_transpose2d(x, w, None, stride=1, output_padding=1, dilation=2),
           _normal((1, 2, 3, 3), (2, 2, 2, 2)),
           lambda x, w: R.conv_transpose2d_forward(x, w, None, 1, 0, 1, 2)),
    OpInfo("avg_pool2d", lambda x: avg_pool2d(x, 3, 2, 1), _normal((2, 3, 5, 6)),
           lambda x: R.avg_pool2d_forward(x, 3, 2, 1)),
    OpInfo("max_pool2d", lambda x: max_pool2d(x, 2), _distinct((2, 3, 4, 6)),
           lambda x: R.max_pool2d_forward(x, 2)[0]),
    OpInfo("max_pool2d_overlapping", lambda x: max_pool2d(x, 3, 1, 1), _distinct((1, 2, 4, 4)),
           lambda x: R.max_pool2d_forward(x, 3, 1, 1)[0]),
    OpInfo("upsample_nearest2d", lambda x: upsample_nearest2d(x, (2, 3)), _normal((2, 2, 3, 2)),
           lambda x: R.upsample_nearest2d_forward(x, (2, 3))),
]


@pytest.mark.parametrize("info", CONV_TABLE, ids=[i.name for i in CONV_TABLE])
def test_table_gradcheck_gradgradcheck_and_reference(info):
    arrays = info.cases()[0]
    y = info.op(*[Tensor(a) for a in arrays])
    np.testing.assert_allclose(y.numpy(), info.reference(*arrays), rtol=1e-12, atol=1e-12)
    gradcheck(info.op, list(arrays))
    gradgradcheck(info.op, list(arrays))


def test_ops_are_registered():
    assert {"conv2d", "conv_transpose2d", "avg_pool2d", "max_pool2d", "upsample_nearest2d"} <= set(ops.FUSED)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_layer_sized_directional(stride, padding, dilation, bias):
    """Layer-sized inputs (the Numba fast paths: 16+ channels) in directional mode, orders 1 and 2."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 16, 7, 6)), rng.standard_normal((16, 16, 3, 3)) / 12
    args = [x, w] + ([rng.standard_normal(16)] if bias else [])

    def f(x, w, b=None):
        return conv2d(x, w, b, stride, padding, dilation)
    gradcheck(f, args, mode="directional", n_directions=3)
    gradgradcheck(f, args, mode="directional")


def test_winograd_sized_directional(monkeypatch):
    """The Winograd F(2x2, 3x3) path (64+ channels, small image): gradients of orders 1 and 2."""
    from kernels.cpu import conv as C
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 64, 5, 4)), rng.standard_normal((64, 64, 3, 3)) / 24, rng.standard_normal(64)
    assert C._use_winograd(R.checked_geometry("conv2d", dict(x=x, w=w), 1, 1, 1, x.shape, w.shape))
    gradcheck(lambda x, w, b: conv2d(x, w, b, 1, 1), [x, w, b], mode="directional", n_directions=3)
    gradgradcheck(lambda x, w: conv2d(x, w, None, 1, 1), [x, w], mode="directional")


# ------------------------------------------------------------------------------------------
# The composite twin: the same conv from pad, strided slices, transposes and matmuls
# ------------------------------------------------------------------------------------------

def conv2d_composite(x, w, b=None, stride=1, padding=0, dilation=1):
    """``y = b + sum_{kh,kw} window(kh, kw) @ w[:, :, kh, kw]^T`` from primitives only."""
    g = R.conv_geometry(x.shape, w.shape, stride, padding, dilation)
    xt = transpose(pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw))), (0, 2, 3, 1))  # (N, Hp, Wp, C)
    y = None
    for kh in range(g.KH):
        for kw in range(g.KW):
            r0, c0 = kh * g.dh, kw * g.dw
            window = getitem(xt, (slice(None), slice(r0, r0 + g.sh * (g.OH - 1) + 1, g.sh),
                                  slice(c0, c0 + g.sw * (g.OW - 1) + 1, g.sw)))       # (N, OH, OW, C)
            term = matmul(window, transpose(getitem(w, (slice(None), slice(None), kh, kw)), (1, 0)))
            y = term if y is None else y + term                                        # (N, OH, OW, Cout)
    if b is not None:
        y = y + b
    return transpose(y, (0, 3, 1, 2))                                                  # (N, Cout, OH, OW)


def _critic(conv):
    """A two-layer conv critic D(x) = sum(conv(tanh(conv(x, w1, b1)), w2))."""
    def D(x, w1, b1, w2):
        h = tanh(conv(x, w1, b1, 2, 1, 1))
        return conv(h, w2, None, 1, 1, 1).sum()
    return D


def _gradient_penalty(conv):
    """WGAN-GP's term: || dD/dx ||^2, built with create_graph so it can be differentiated."""
    D = _critic(conv)

    def gp(x, w1, b1, w2):
        with enable_grad():   # gradcheck evaluates under no_grad; the inner graph is needed
            (gx,) = grad(D(x, w1, b1, w2), [x], create_graph=True)
            return (gx * gx).sum()
    return gp


def test_fused_equals_composite_values_grads_and_gradient_penalty():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in [(2, 3, 6, 5), (4, 3, 3, 3), (4,), (2, 4, 3, 3)]]
    results = []
    for conv in (conv2d, conv2d_composite):
        leaves = [Tensor(a, requires_grad=True) for a in arrays]
        gp = _gradient_penalty(conv)(*leaves)
        gp_grads = grad(gp, leaves)                       # second derivatives of D
        d_grads = grad(_critic(conv)(*leaves), leaves)    # first derivatives of D
        results.append((gp.numpy(), [g.numpy() for g in gp_grads], [g.numpy() for g in d_grads]))
    (gp_a, ga, da), (gp_b, gb, db) = results
    np.testing.assert_allclose(gp_a, gp_b, rtol=1e-10)
    for a, b in zip(ga + da, gb + db):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_gradient_penalty_gradcheck():
    """The penalty's gradient w.r.t. the critic weights (a second derivative) is right."""
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
    gp = _gradient_penalty(conv2d)
    gradcheck(lambda w1, b1, w2: gp(x, w1, b1, w2),
              [rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), rng.standard_normal((2, 4, 3, 3))])


def test_float32_stays_float32():
    x = Tensor(np.ones((1, 2, 4, 4), np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    y = conv2d(x, w, None, 1, "same")
    assert y.dtype == np.float32 and y.shape == (1, 3, 4, 4)
    y.sum().backward()
    assert x.grad.dtype == w.grad.dtype == np.float32
