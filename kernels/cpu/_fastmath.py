"""Vectorisable ``exp`` and ``tanh`` for Numba kernels (Cephes-style, branch-free).

``np.exp`` inside ``@njit`` is a scalar libm call in pip Numba (no SVML), 2.2 ns per
element against about 0.4 for a polynomial written in Numba (docs/performance.md), and a
loop that calls it does not vectorise.  These functions are plain arithmetic plus one
bit cast, so LLVM vectorises the loops that use them.

Inside ``@njit`` code call ``fast_exp(v)`` / ``fast_tanh(v)`` on float32 or float64
scalars; the precision follows the argument's type:

    float32: Cephes ``expf`` (degree-6 polynomial after the range reduction
             exp(x) = 2^n * exp(r), |r| <= ln2/2), relative error ~2e-7 (a few ulp);
    float64: Cephes ``exp`` (rational P/Q in r^2), relative error ~2e-16.

Special values: exp(+large) = inf (x > ~88.72 / ~709.78), exp(-large) = 0 (results
below the smallest normal number flush to 0: x < ~-87.33 / ~-708.39), exp(-inf) = 0,
exp(nan) = nan.  tanh saturates to +-1 and keeps nan.

Outside Numba (``NUMBA_DISABLE_JIT=1``) they fall back to ``math.exp``/``math.tanh``.

Reference: S. L. Moshier, Cephes Math Library (expf.c, exp.c, tanhf.c, tanh.c).
"""
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._numba import njit

__all__ = ["fast_exp", "fast_tanh", "exp_array", "tanh_array", "zero_of"]

# These scalar functions get their own fastmath flags: without 'reassoc', which would
# fold the two-constant range reduction x - n*C1 - n*C2 into x - n*(C1+C2) and lose
# accuracy.  LLVM flags are per instruction, so inlining into a kernel keeps them.
_FLAGS = {"nsz", "contract"}

LOG2E = 1.44269504088896341
# float32 constants (expf.c)
_MAXLOGF = 88.72283905206835
_MINLOGF = -87.33654475055310898657   # log(smallest normal float32)
_C1F, _C2F = 0.693359375, -2.12194440e-4
# float64 constants (exp.c)
_MAXLOG = 7.09782712893383996843e2
_MINLOG = -7.08396418532264106224e2   # log(smallest normal float64)
_C1, _C2 = 6.93145751953125e-1, 1.42860682030941723212e-6


def fast_exp(x):
    """exp(x), vectorisable inside Numba (module docstring: accuracy, special values)."""
    return math.exp(x)


def fast_tanh(x):
    """tanh(x), vectorisable inside Numba (polynomial near 0, exp-based elsewhere)."""
    return math.tanh(x)


def zero_of(a):
    """A zero of ``a``'s element type, for accumulators inside Numba kernels.

    ``acc = 0.0`` is a float64: summing float32 data into it converts every element
    and halves the SIMD width of the loop (measured: 4 instead of 8 lanes).
    """
    return a.dtype.type(0)


@overload(zero_of)
def _ol_zero_of(a):
    dt = a.dtype
    return lambda a: dt(0)


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret an int32 as a float32 (free: no instruction after vectorisation)."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _bits_from_f32(typingctx, x):
    """Reinterpret a float32 as an int32."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _bits_from_f64(typingctx, x):
    """Reinterpret a float64 as an int64."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret an int64 as a float64."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@njit(fastmath=_FLAGS)
def _exp32(x):
    # exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n*ln2 (ln2 split in two for accuracy)
    xc = min(max(x, np.float32(_MINLOGF)), np.float32(_MAXLOGF))
    n = np.floor(xc * np.float32(LOG2E) + np.float32(0.5))
    r = xc - n * np.float32(_C1F) - n * np.float32(_C2F)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    # p * 2^n by adding n to p's exponent bits: exact whenever the result is a normal number
    y = _f32_from_bits(_bits_from_f32(p) + (np.int32(n) << np.int32(23)))
    y = np.float32(np.inf) if x > np.float32(_MAXLOGF) else y
    y = np.float32(0.0) if x < np.float32(_MINLOGF) else y
    return x if x != x else y  # nan stays nan


@njit(fastmath=_FLAGS)
def _exp64(x):
    xc = min(max(x, _MINLOG), _MAXLOG)
    n = np.floor(xc * LOG2E + 0.5)
    r = xc - n * _C1 - n * _C2
    rr = r * r
    # Pade form: exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2))
    px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
              + 9.99999999999999999910e-1)
    qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
          + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0
    e = 1.0 + 2.0 * (px / (qx - px))
    y = _f64_from_bits(_bits_from_f64(e) + (np.int64(n) << np.int64(52)))
    y = np.inf if x > _MAXLOG else y
    y = 0.0 if x < _MINLOG else y
    return x if x != x else y


@njit(fastmath=_FLAGS)
def _tanh32(x):
    a = abs(x)
    z = x * x
    small = ((((np.float32(-5.70498872745e-3) * z + np.float32(2.06390887954e-2)) * z
               - np.float32(5.37397155531e-2)) * z + np.float32(1.33314422036e-1)) * z
             - np.float32(3.33332819422e-1)) * z * x + x
    e = _exp32(min(np.float32(2.0) * a, np.float32(40.0)))
    big = np.float32(1.0) - np.float32(2.0) / (e + np.float32(1.0))
    big = -big if x < 0 else big
    y = small if a < np.float32(0.625) else big
    return x if x != x else y


@njit(fastmath=_FLAGS)
def _tanh64(x):
    a = abs(x)
    z = x * x
    p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    small = x + x * z * (p / q)
    e = _exp64(min(2.0 * a, 80.0))
    big = 1.0 - 2.0 / (e + 1.0)
    big = -big if x < 0 else big
    y = small if a < 0.625 else big
    return x if x != x else y


@overload(fast_exp)
def _ol_fast_exp(x):
    if isinstance(x, types.Float):
        return (lambda x: _exp32(x)) if x.bitwidth == 32 else (lambda x: _exp64(x))


@overload(fast_tanh)
def _ol_fast_tanh(x):
    if isinstance(x, types.Float):
        return (lambda x: _tanh32(x)) if x.bitwidth == 32 else (lambda x: _tanh64(x))


@njit
def exp_array(x):
    """``fast_exp`` over a 1-D array (for tests and for NumPy-level callers)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])
    return out


@njit
def tanh_array(x):
    """``fast_tanh`` over a 1-D array."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_tanh(x[i])
    return out
