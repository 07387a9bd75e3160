"""The op table: every public differentiable op, listed once (docs/architecture.md).

``test_op_table.py`` gradchecks (and gradgradchecks) every case of every entry,
compares the forward with the NumPy reference, and fails if a public op, a
composite or a primitive Function is missing from this table.
"""
import numpy as np

from autograd import functional as F
from autograd import ops
from autograd.testing import OpInfo, away_from


def _cases(shapes):
    """Each case is a tuple of input shapes; a bare shape like (3, 4) is a one-input case."""
    return [(c,) if all(isinstance(n, int) for n in c) else c for c in shapes]


def normal(*shapes):
    return lambda rng: [tuple(rng.standard_normal(s) for s in case) for case in _cases(shapes)]


def positive(*shapes, lo=0.5, hi=2.0):
    return lambda rng: [tuple(rng.uniform(lo, hi, s) for s in case) for case in _cases(shapes)]


def nonzero(*shapes, margin=0.3):
    return lambda rng: [tuple(away_from(rng.standard_normal(s), [0.0], margin, rng) for s in case)
                        for case in _cases(shapes)]


UNARY = [((3, 4),), ((5,),), ((),), ((2, 1, 3),), ((0, 3),)]
BINARY = [((3, 4), (3, 4)), ((2, 3, 4), (3, 1)), ((1,), (5,)), ((), (2, 3)), ((0, 3), (3,))]


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    y = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return y if keepdims else (np.squeeze(y, axis=axis) if axis is not None else y.reshape(()))


def _np_gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _maximum_inputs(rng):
    cases = []
    for sa, sb in [((3, 4), (3, 4)), ((2, 3), (3,)), ((4,), ())]:
        a = rng.standard_normal(sa)
        b = rng.standard_normal(sb)
        d = away_from(np.broadcast_to(a, np.broadcast_shapes(sa, sb)) - b, [0.0], 0.2, rng)
        cases.append((np.ascontiguousarray(np.broadcast_to(b, d.shape)) + d, b))
    return cases


def _where_inputs(rng):
    return [(rng.random((3, 4)) < 0.5, rng.standard_normal((3, 4)), rng.standard_normal((3, 4))),
            (rng.random((2, 3)) < 0.5, rng.standard_normal((3,)), rng.standard_normal((2, 1)))]


def _clip_inputs(rng):
    return [(away_from(rng.standard_normal(s), [-0.5, 0.5], 0.1, rng),) for s in [(4, 5), (7,)]]


def _pow_tensor_inputs(rng):
    return [(rng.uniform(0.5, 2.0, (3, 4)), rng.standard_normal((3, 4))),
            (rng.uniform(0.5, 2.0, (2, 3)), rng.standard_normal((3,)))]


def _getitem_cases(rng):
    x = rng.standard_normal((4, 5))
    return [(x,)]


MATMUL = [((3, 4), (4, 2)), ((5, 3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 2)),
          ((3, 4), (4,)), ((4,), (4,)), ((0, 4), (4, 2))]

TABLE = [
    # -- elementwise ---------------------------------------------------------------
    OpInfo("add", ops.add, normal(*BINARY), np.add),
    OpInfo("sub", ops.sub, normal(*BINARY), np.subtract),
    OpInfo("mul", ops.mul, normal(*BINARY), np.multiply),
    OpInfo("div", ops.div, lambda rng: [(rng.standard_normal(a), away_from(rng.standard_normal(b), [0], 0.5, rng))
                                        for a, b in BINARY], np.divide),
    OpInfo("add_scalar", lambda x: ops.add(x, 0.5), normal(*UNARY), lambda x: x + 0.5),
    OpInfo("radd_scalar", lambda x: ops.add(-2, x), normal(*UNARY), lambda x: -2 + x),
    OpInfo("sub_scalar", lambda x: ops.sub(x, 1.25), normal(*UNARY), lambda x: x - 1.25),
    OpInfo("mul_scalar", lambda x: ops.mul(x, -1.5), normal(*UNARY), lambda x: x * -1.5),
    OpInfo("rmul_scalar", lambda x: ops.mul(3, x), normal(*UNARY), lambda x: 3 * x),
    OpInfo("neg", ops.neg, normal(*UNARY), np.negative),
    OpInfo("pow", lambda x: ops.pow(x, 3), normal(*UNARY), lambda x: x ** 3),
    OpInfo("pow_fractional", lambda x: ops.pow(x, -1.5), positive(*UNARY), lambda x: x ** -1.5),
    OpInfo("pow_tensor", ops.pow, _pow_tensor_inputs, np.power),
    OpInfo("exp", ops.exp, normal(*UNARY), np.exp),
    OpInfo("log", ops.log, positive(*UNARY), np.log),
    OpInfo("sqrt", ops.sqrt, positive(*UNARY), np.sqrt),
    OpInfo("abs", ops.abs, nonzero(*UNARY), np.abs),
    OpInfo("tanh", ops.tanh, normal(*UNARY), np.tanh),
    OpInfo("sigmoid", ops.sigmoid, normal(*UNARY), lambda x: 1 / (1 + np.exp(-x))),
    OpInfo("relu", ops.relu, nonzero(*UNARY, margin=0.1), lambda x: np.maximum(x, 0)),
    OpInfo("leaky_relu", lambda x: ops.leaky_relu(x, 0.2), nonzero(*UNARY, margin=0.1),
           lambda x: np.where(x > 0, x, 0.2 * x)),
    OpInfo("maximum", ops.maximum, _maximum_inputs, np.maximum),
    OpInfo("minimum", ops.minimum, _maximum_inputs, np.minimum),
    OpInfo("where", ops.where, _where_inputs, np.where),
    OpInfo("clip", lambda x: ops.clip(x, -0.5, 0.5), _clip_inputs, lambda x: np.clip(x, -0.5, 0.5)),
    # float32 round-off makes small steps meaningless; the op is linear, so a big step is exact
    OpInfo("cast", lambda x: ops.cast(x, np.float32), normal((3, 4), (5,)),
           lambda x: x.astype(np.float32), eps=1e-2, atol=1e-4, rtol=1e-4),
    # -- reductions ------------------------------------------------------------------
    OpInfo("sum", lambda x: ops.sum(x), normal((3, 4), (5,), (), (0, 3)), np.sum),
    OpInfo("sum_axis", lambda x: ops.sum(x, axis=(0, 2), keepdims=True), normal((2, 3, 4), (1, 1, 5)),
           lambda x: np.sum(x, axis=(0, 2), keepdims=True)),
    OpInfo("sum_negative_axis", lambda x: ops.sum(x, axis=-1), normal((2, 3, 4), (0, 2)),
           lambda x: np.sum(x, axis=-1)),
    OpInfo("mean", lambda x: ops.mean(x, axis=1), normal((3, 4), (2, 5, 3)), lambda x: np.mean(x, axis=1)),
    OpInfo("max", lambda x: ops.max(x, axis=1), normal((3, 4), (2, 5, 3)), lambda x: np.max(x, axis=1)),
    OpInfo("max_all", lambda x: ops.max(x, keepdims=True), normal((3, 4), (1,)),
           lambda x: np.max(x, keepdims=True)),
    OpInfo("min", lambda x: ops.min(x, axis=0), normal((3, 4), (6,)), lambda x: np.min(x, axis=0)),
    OpInfo("cumsum", lambda x: ops.cumsum(x, axis=1), normal((3, 4), (2, 5, 3), (2, 0)),
           lambda x: np.cumsum(x, axis=1)),
    OpInfo("cumsum_negative_axis", lambda x: ops.cumsum(x, axis=-1), normal((2, 3, 4), (1,)),
           lambda x: np.cumsum(x, axis=-1)),
    OpInfo("matmul", ops.matmul, normal(*MATMUL), np.matmul),
    # -- shape -------------------------------------------------------------------------
    OpInfo("reshape", lambda x: ops.reshape(x, (-1, 2)), normal((3, 4), (2, 3, 2), (0, 2)),
           lambda x: x.reshape(-1, 2)),
    OpInfo("transpose", lambda x: ops.transpose(x, (1, 2, 0)), normal((2, 3, 4), (1, 1, 3)),
           lambda x: x.transpose(1, 2, 0)),
    OpInfo("transpose_default", lambda x: ops.transpose(x), normal((3, 4), (5,)), lambda x: x.T),
    OpInfo("swapaxes", lambda x: ops.swapaxes(x, 0, -1), normal((2, 3, 4)), lambda x: np.swapaxes(x, 0, -1)),
    OpInfo("broadcast_to", lambda x: ops.broadcast_to(x, (2, 3, 4)), normal((3, 1), (4,), (1, 3, 4)),
           lambda x: np.broadcast_to(x, (2, 3, 4))),
    OpInfo("sum_to", lambda x: ops.sum_to(x, (3, 1)), normal((2, 3, 4), (3, 5)),
           lambda x: x.reshape(-1, *x.shape[-2:]).sum(0).sum(-1, keepdims=True) if x.ndim == 3
           else x.sum(-1, keepdims=True)),
    OpInfo("expand_dims", lambda x: ops.expand_dims(x, 1), normal((3, 4), (5,)), lambda x: np.expand_dims(x, 1)),
    OpInfo("squeeze", lambda x: ops.squeeze(x), normal((3, 1, 4), (1, 1)), np.squeeze),
    OpInfo("flatten", lambda x: ops.flatten(x, 1), normal((2, 3, 4), (5, 1)),
           lambda x: x.reshape(x.shape[0], -1)),
    OpInfo("getitem", lambda x: ops.getitem(x, (slice(1, 3), slice(None, None, -2))), _getitem_cases,
           lambda x: x[1:3, ::-2]),
    OpInfo("getitem_int_array", lambda x: ops.getitem(x, np.array([0, 2, 2, 3])), _getitem_cases,
           lambda x: x[np.array([0, 2, 2, 3])]),
    OpInfo("getitem_bool_mask", lambda x: ops.getitem(x, x.data > 0), _getitem_cases, lambda x: x[x > 0]),
    OpInfo("getitem_mixed", lambda x: ops.getitem(x, (Ellipsis, None, np.array([4, 0]))), _getitem_cases,
           lambda x: x[..., None, np.array([4, 0])]),
    OpInfo("concatenate", lambda a, b: ops.concatenate([a, b], axis=1), normal(((2, 3), (2, 5)), ((1, 0), (1, 2))),
           lambda a, b: np.concatenate([a, b], axis=1)),
    OpInfo("stack", lambda a, b: ops.stack([a, b], axis=-1), normal(((2, 3), (2, 3)), ((4,), (4,))),
           lambda a, b: np.stack([a, b], axis=-1)),
    OpInfo("split", lambda x: tuple(ops.split(x, [1, 3], axis=1)), normal((2, 5), (3, 4, 2)),
           lambda x: tuple(np.split(x, [1, 3], axis=1))),
    OpInfo("split_sections", lambda x: tuple(ops.split(x, 2, axis=-1)), normal((3, 4), (2, 2, 6)),
           lambda x: tuple(np.split(x, 2, axis=-1))),
    OpInfo("pad", lambda x: ops.pad(x, ((1, 0), (2, 3))), normal((3, 4), (1, 1)),
           lambda x: np.pad(x, ((1, 0), (2, 3)))),
    OpInfo("flip", lambda x: ops.flip(x, axis=1), normal((3, 4), (2, 3, 1)), lambda x: np.flip(x, axis=1)),
    # -- composites (no backward code) ---------------------------------------------------
    OpInfo("logsumexp", lambda x: F.logsumexp(x, axis=1), normal((3, 4), (2, 5, 3)),
           lambda x: _np_logsumexp(x, axis=1)),
    OpInfo("logsumexp_all", lambda x: F.logsumexp(x * 100), normal((3, 4), (1,)),
           lambda x: _np_logsumexp(x * 100)),
    OpInfo("softplus", F.softplus, lambda rng: [(rng.standard_normal((3, 4)) * 5,), (np.array([-60., -1., 0., 1., 60.]),)],
           lambda x: np.logaddexp(x, 0)),
    OpInfo("log_sigmoid", F.log_sigmoid, lambda rng: [(rng.standard_normal((3, 4)) * 5,), (np.array([-60., 0., 60.]),)],
           lambda x: -np.logaddexp(-x, 0)),
    OpInfo("log_softmax", lambda x: F.log_softmax(x, axis=-1), normal((3, 4), (2, 3, 5)),
           lambda x: x - _np_logsumexp(x, axis=-1, keepdims=True)),
    OpInfo("softmax", lambda x: F.softmax(x, axis=0), normal((3, 4), (6,)),
           lambda x: np.exp(x - _np_logsumexp(x, axis=0, keepdims=True))),
    OpInfo("elu", F.elu, nonzero((3, 4), (5,), margin=0.1), lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    OpInfo("gelu", F.gelu, normal((3, 4), (5,)), _np_gelu),
    OpInfo("var", lambda x: F.var(x, axis=0), normal((4, 3), (5,)), lambda x: np.var(x, axis=0)),
    OpInfo("std", lambda x: F.std(x, axis=1, ddof=1), normal((3, 4), (2, 5)), lambda x: np.std(x, axis=1, ddof=1)),
    OpInfo("pad_circular", lambda x: F.pad_circular(x, 2), normal((2, 1, 3, 4), (3, 5)),
           lambda x: np.pad(x, [(0, 0)] * (x.ndim - 2) + [(2, 2), (2, 2)], mode="wrap")),
]

# Fused and kernel-backed ops list their entries beside their own tests.
from .test_conv_ops import CONV_TABLE  # noqa: E402

TABLE += CONV_TABLE
from .test_fused_ops import FUSED_TABLE  # noqa: E402

TABLE += FUSED_TABLE
