"""Elementwise primitives. Each class states its forward and local derivative.

``gy`` is the upstream gradient, ``gx`` (``gx0, gx1``) the input gradients, ``y``
the saved output. Backward returns gradients of the *broadcast* shape; the engine
sums them back to each input's shape.
"""
import numpy as np

from kernels.backend import get_array_module

from ..function import _TENSOR_API, Function, _tensor_api


class Add(Function):
    """y = x0 + x1;  dy/dx0 = 1, dy/dx1 = 1"""
    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    """y = x0 - x1;  dy/dx0 = 1, dy/dx1 = -1"""
    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    """y = x0 * x1;  dy/dx0 = x1, dy/dx1 = x0"""
    def forward(self, x0, x1):
        self.save_for_backward(x0, x1)
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.saved_tensors
        need0, need1 = self.needs_input_grad  # skip gradients nobody asked for
        return (gy * x1 if need0 else None), (gy * x0 if need1 else None)


class Div(Function):
    """y = x0 / x1;  dy/dx0 = 1/x1, dy/dx1 = -x0/x1**2 = -y/x1"""
    def forward(self, x0, x1):
        y = x0 / x1
        self.save_for_backward(x1, y)
        return y

    def backward(self, gy):
        x1, y = self.saved_tensors
        gx0 = gy / x1
        return (gx0 if self.needs_input_grad[0] else None), (-gx0 * y if self.needs_input_grad[1] else None)


class Neg(Function):
    """y = -x;  dy/dx = -1"""
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class AddScalar(Function):
    """y = x + c for a Python number c (a parameter of the op, not a graph input);  dy/dx = 1

    ``x + 0.5`` and ``x - 0.5`` (as ``x + (-0.5)``, the same IEEE result) on a float tensor:
    no constant Tensor, no second input to check or differentiate (``add``, ``sub``).
    """
    def forward(self, x, c):
        return x + _number_like(c, x)

    def backward(self, gy):
        return gy


class MulScalar(Function):
    """y = x * c for a Python number c (a parameter of the op, not a graph input);  dy/dx = c"""
    def forward(self, x, c):
        self.c = c
        return x * _number_like(c, x)

    def backward(self, gy):
        return MulScalar()(gy, c=self.c)


def _number_like(c, x):
    """c as a 0-d array of x's dtype: what the general ops do with a constant, so the results
    are the same bits (and a 0-d array is NumPy's fastest second operand)."""
    xp = np if type(x) is np.ndarray else get_array_module(x)
    return xp.asarray(c, dtype=x.dtype)


def _float_tensor(x):
    """A Tensor with a float dtype (the scalar ops' first operand); not an array or a number."""
    return isinstance(x, (_TENSOR_API or _tensor_api())[0]) and x.data.dtype.kind == "f"


_NUMBERS = (float, int)   # Python numbers (bool and NumPy scalars keep the general path)


class PowScalar(Function):
    """y = x ** c for a constant c;  dy/dx = c * x**(c-1)"""
    def forward(self, x, c):
        self.c = c
        self.save_for_backward(x)
        return x ** c

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy * self.c * pow(x, self.c - 1)


class Pow(Function):
    """y = x0 ** x1 (tensor exponent, x0 > 0);  dy/dx0 = x1 * x0**(x1-1), dy/dx1 = y * log(x0)"""
    def forward(self, x0, x1):
        y = x0 ** x1
        self.save_for_backward(x0, x1, y)
        return y

    def backward(self, gy):
        x0, x1, y = self.saved_tensors
        return gy * x1 * x0 ** (x1 - 1), gy * y * log(x0)


class Exp(Function):
    """y = exp(x);  dy/dx = y"""
    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * y


class Log(Function):
    """y = log(x);  dy/dx = 1/x"""
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy / x


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 y)"""
    def forward(self, x):
        y = get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy / (2 * y)


class Abs(Function):
    """y = |x|;  dy/dx = sign(x)  (0 at x = 0)"""
    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(xp.sign(x))
        return xp.abs(x)

    def backward(self, gy):
        (sign,) = self.saved_tensors
        return gy * sign


class Tanh(Function):
    """y = tanh(x);  dy/dx = 1 - y**2"""
    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dy/dx = y * (1 - y).
    Computed as 1/(1+e) or e/(1+e) with e = exp(-|x|), which never overflows."""
    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 if x > 0 else 0  (so gx = gy where y > 0, else 0)"""
    def forward(self, x):
        y = get_array_module(x).maximum(x, 0)      # one pass
        self.save_for_backward(y > 0)              # a boolean mask: 1 byte per element
        return y

    def backward(self, gy):
        (mask,) = self.saved_tensors
        return where(mask, gy, gy.xp.zeros((), dtype=gy.dtype))


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  dy/dx = 1 if x > 0 else slope"""
    def forward(self, x, slope=0.01):
        xp = get_array_module(x)
        d = xp.where(x > 0, 1, slope).astype(x.dtype)
        self.save_for_backward(d)
        return x * d

    def backward(self, gy):
        (d,) = self.saved_tensors
        return gy * d


class Maximum(Function):
    """y = max(x0, x1);  dy/dx0 = [x0 > x1] + 0.5 [x0 == x1], dy/dx1 = 1 - dy/dx0 (ties split evenly)"""
    def forward(self, x0, x1):
        xp = get_array_module(x0, x1)
        d0 = ((x0 > x1) + 0.5 * (x0 == x1)).astype(xp.result_type(x0, x1))
        self.save_for_backward(d0)
        return xp.maximum(x0, x1)

    def backward(self, gy):
        (d0,) = self.saved_tensors
        return gy * d0, gy * (1 - d0)


class Where(Function):
    """y = x0 where cond else x1;  dy/dx0 = cond, dy/dx1 = not cond (cond gets no gradient)"""
    def forward(self, cond, x0, x1):
        self.save_for_backward(cond)
        return get_array_module(x0, x1).where(cond, x0, x1)

    def backward(self, gy):
        (cond,) = self.saved_tensors
        zero = gy.xp.zeros((), dtype=gy.dtype)
        return None, where(cond, gy, zero), where(cond, zero, gy)


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0"""
    def forward(self, x, lo=None, hi=None):
        xp = get_array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        self.save_for_backward(inside.astype(x.dtype))
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, gy):
        (inside,) = self.saved_tensors
        return gy * inside


class Cast(Function):
    """y = x as another dtype;  dy/dx = 1 (the gradient is cast back)"""
    def forward(self, x, dtype):
        self.src = x.dtype
        return x.astype(dtype)

    def backward(self, gy):
        return cast(gy, self.src)


# -- lowercase functions (user-facing) ----------------------------------------------
def add(x0, x1):
    """Elementwise ``x0 + x1`` with broadcasting (a Python number on a float tensor: AddScalar)."""
    if type(x1) in _NUMBERS and _float_tensor(x0):
        return AddScalar()(x0, c=x1)
    if type(x0) in _NUMBERS and _float_tensor(x1):
        return AddScalar()(x1, c=x0)
    return Add()(x0, x1)


def sub(x0, x1):
    """Elementwise ``x0 - x1`` with broadcasting (``x - number`` is AddScalar of -number)."""
    if type(x1) in _NUMBERS and _float_tensor(x0):
        return AddScalar()(x0, c=-x1)
    return Sub()(x0, x1)


def mul(x0, x1):
    """Elementwise ``x0 * x1`` with broadcasting (a Python number on a float tensor: MulScalar)."""
    if type(x1) in _NUMBERS and _float_tensor(x0):
        return MulScalar()(x0, c=x1)
    if type(x0) in _NUMBERS and _float_tensor(x1):
        return MulScalar()(x1, c=x0)
    return Mul()(x0, x1)


def div(x0, x1):
    """Elementwise ``x0 / x1`` with broadcasting."""
    return Div()(x0, x1)


def neg(x):
    """``-x``."""
    return Neg()(x)


def pow(x, exponent):  # noqa: A001 - mirrors the operator's name
    """``x ** exponent``: a constant (Python number) or a tensor exponent (then x > 0)."""
    if isinstance(exponent, (int, float, np.number)):
        return PowScalar()(x, c=exponent)
    return Pow()(x, exponent)


def exp(x):
    """``e ** x``."""
    return Exp()(x)


def log(x):
    """Natural logarithm."""
    return Log()(x)


def sqrt(x):
    """Square root."""
    return Sqrt()(x)


def abs(x):  # noqa: A001
    """Absolute value; its derivative at 0 is taken as 0."""
    return Abs()(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, finite for any x."""
    return Sigmoid()(x)


def relu(x):
    """``max(x, 0)``."""
    return ReLU()(x)


def leaky_relu(x, slope=0.01):
    """``x`` for x > 0, ``slope * x`` otherwise."""
    return LeakyReLU()(x, slope=slope)


def maximum(x0, x1):
    """Elementwise maximum; at ties the gradient is split evenly."""
    return Maximum()(x0, x1)


def minimum(x0, x1):
    """Elementwise minimum, composed as ``-maximum(-x0, -x1)``."""
    return -maximum(-x0 if not isinstance(x0, (int, float)) else -x0,
                    -x1 if not isinstance(x1, (int, float)) else -x1)


def where(cond, x0, x1):
    """``x0`` where ``cond`` (a boolean array/tensor) is true, else ``x1``."""
    from ..tensor import Tensor
    cond = cond.data if isinstance(cond, Tensor) else cond
    return Where()(cond, x0, x1)


def clip(x, lo=None, hi=None):
    """Clamp to ``[lo, hi]``; the gradient passes where ``lo <= x <= hi``."""
    return Clip()(x, lo=lo, hi=hi)


def cast(x, dtype):
    """``x.astype(dtype)``, differentiable."""
    if x.dtype == np.dtype(dtype):
        return x
    return Cast()(x, dtype=np.dtype(dtype))
