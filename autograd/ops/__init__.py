"""Every differentiable operation of minigen.

``PRIMITIVES`` is the closed set of Functions with hand-written backward (about
30; DESIGN.md §2). Everything else (``autograd.functional``, the nn losses) is
composed from these with no backward code. The tests check that every name in
``PUBLIC_OPS`` has an entry in the op table, so nothing escapes a gradient check.
"""
from .elementwise import (Abs, Add, Cast, Clip, Div, Exp, LeakyReLU, Log, Maximum, Mul, Neg, Pow,
                          PowScalar, ReLU, Sigmoid, Sqrt, Sub, Tanh, Where, abs, add, cast, clip, div,
                          exp, leaky_relu, log, maximum, minimum, mul, neg, pow, relu, sigmoid, sqrt,
                          sub, tanh, where)
from .linalg import MatMul, matmul
from .reduce import Max, Sum, max, mean, min, sum
from .shape import (BroadcastTo, Concatenate, Flip, GetItem, Pad, Reshape, ScatterAdd, Split, SumTo,
                    Transpose, broadcast_to, concatenate, expand_dims, flatten, flip, getitem, pad,
                    reshape, split, squeeze, stack, sum_to, swapaxes, transpose)

PRIMITIVES = {cls.__name__: cls for cls in (
    Add, Sub, Mul, Div, Neg, PowScalar, Pow, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, ReLU, LeakyReLU,
    Maximum, Where, Clip, Cast,
    Sum, Max, MatMul,
    Reshape, Transpose, BroadcastTo, SumTo, GetItem, ScatterAdd, Concatenate, Split, Pad, Flip,
)}

# Fused ops from the kernels (conv, masked conv, causal conv1d, coupling) register here too,
# from their own modules, so the op-table test sees them.
FUSED = {}

PUBLIC_OPS = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "leaky_relu", "maximum", "minimum", "where", "clip", "cast",
    "sum", "mean", "max", "min", "matmul",
    "reshape", "transpose", "swapaxes", "broadcast_to", "sum_to", "expand_dims", "squeeze",
    "flatten", "getitem", "concatenate", "stack", "split", "pad", "flip",
]
