"""Every differentiable operation of minigen.

``PRIMITIVES`` is the closed set of Functions with hand-written backward (about
30; docs/architecture.md). Everything else (``autograd.functional``, the nn losses) is
composed from these with no backward code. ``FUSED`` is the table of fused
kernel ops (conv, masked conv, causal conv1d, coupling, spline, group norm, softmax
cross-entropy: one Function over a ``kernels`` call each), built below from the
modules imported here, so it is complete as soon as ``autograd.ops`` is imported.
The tests check that every name in ``PUBLIC_OPS`` and ``FUSED`` has an entry in the
op table, so nothing escapes a gradient check.

Also re-exported for the layers above (``minigen`` never imports ``kernels``):
``taps`` (the live-tap lists of masked and causal convs, ``kernels.taps``),
``pair`` (an int-or-pair argument checker of the conv layers) and ``adam_step``
(``kernels.adam_step``: one fused Adam / AdamW update of raw arrays p, m, v in place,
what ``minigen.optim.Adam`` runs; not an op, nothing is recorded or differentiated).
"""
from kernels import adam_step  # noqa: F401  (re-exported: minigen.optim's fused update)
from kernels import taps  # noqa: F401  (re-exported: minigen.nn.masked builds its masks with it)

from .elementwise import (Abs, Add, AddScalar, Cast, Clip, Div, Exp, LeakyReLU, Log, Maximum, Mul,
                          MulScalar, Neg, Pow, PowScalar, ReLU, Sigmoid, Sqrt, Sub, Tanh, Where, abs,
                          add, cast, clip, div, exp, leaky_relu, log, maximum, minimum, mul, neg, pow,
                          relu, sigmoid, sqrt, sub, tanh, where)
from .linalg import MatMul, matmul
from .reduce import Max, Sum, max, mean, min, sum
from .scan import CumSum, cumsum
from .shape import (BroadcastTo, Concatenate, Flip, GetItem, Pad, Reshape, ScatterAdd, Split, SumTo,
                    Transpose, broadcast_to, concatenate, expand_dims, flatten, flip, getitem, pad,
                    reshape, split, squeeze, stack, sum_to, swapaxes, transpose)

PRIMITIVES = {cls.__name__: cls for cls in (
    Add, Sub, Mul, Div, Neg, PowScalar, Pow, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, ReLU, LeakyReLU,
    Maximum, Where, Clip, Cast,
    Sum, Max, CumSum, MatMul,
    Reshape, Transpose, BroadcastTo, SumTo, GetItem, ScatterAdd, Concatenate, Split, Pad, Flip,
)}

from .conv import (AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, UpsampleNearest2d, avg_pool2d,  # noqa: E402
                   conv2d, conv_transpose2d, max_pool2d, pair, upsample_nearest2d)
from .masked_conv import MaskedConv2d, masked_conv2d  # noqa: E402
from .causal_conv1d import CausalConv1d, causal_conv1d  # noqa: E402
from .coupling import AffineCoupling, AffineCouplingInverse, affine_coupling, affine_coupling_inverse  # noqa: E402
from .spline import RQSpline, RQSplineInverse, rq_spline, rq_spline_inverse  # noqa: E402
from .norm import GroupNormAct, group_norm  # noqa: E402
from .cross_entropy import SoftmaxCrossEntropy, softmax_cross_entropy  # noqa: E402

# The fused kernel ops, listed here once: public name -> Function.
FUSED = {
    "conv2d": Conv2d, "conv_transpose2d": ConvTranspose2d, "avg_pool2d": AvgPool2d,
    "max_pool2d": MaxPool2d, "upsample_nearest2d": UpsampleNearest2d,
    "masked_conv2d": MaskedConv2d, "causal_conv1d": CausalConv1d,
    "affine_coupling": AffineCoupling, "affine_coupling_inverse": AffineCouplingInverse,
    "rq_spline": RQSpline, "rq_spline_inverse": RQSplineInverse, "group_norm": GroupNormAct,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
}

PUBLIC_OPS = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "leaky_relu", "maximum", "minimum", "where", "clip", "cast",
    "sum", "mean", "max", "min", "cumsum", "matmul",
    "reshape", "transpose", "swapaxes", "broadcast_to", "sum_to", "expand_dims", "squeeze",
    "flatten", "getitem", "concatenate", "stack", "split", "pad", "flip",
]
