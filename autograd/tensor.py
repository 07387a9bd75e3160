"""``Tensor``: an array (NumPy or CuPy) plus what reverse-mode autodiff needs.

    data           the array
    grad           the accumulated gradient (a Tensor), filled by ``backward`` on leaves
    requires_grad  whether gradients flow to / through this tensor
    creator        the Function that produced it (None for leaves)
    output_nr      which output of ``creator`` it is (0 for a leaf and the usual one output)

Every operator and method lives in this class body and calls an op from
``autograd.ops`` or ``autograd.functional``, so ``x @ w + b`` records the same
graph as ``ops.add(ops.matmul(x, w), b)``.

Dtype rule (documented and tested): Python scalars take the tensor's dtype;
integer arrays take the float dtype of the other operands; mixing float32 and
float64 tensors in one op is a TypeError (cast explicitly with ``astype``).
Python lists and floats become float32 by default, like PyTorch.
"""
import numpy as np

from kernels.backend import device_of, get_array_module, is_cupy, to_device


class Tensor:
    """A node of the computation graph. See the module docstring."""

    __array_priority__ = 1000  # make ``ndarray + Tensor`` call Tensor.__radd__
    __slots__ = ("data", "grad", "requires_grad", "creator", "output_nr", "name", "retains_grad",
                 "_hooks", "__weakref__")

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if type(data) is np.ndarray:          # the common case, checked first
            if dtype is not None:
                data = data.astype(dtype, copy=False)
        elif isinstance(data, Tensor):
            data = data.data if dtype is None else data.data.astype(dtype, copy=False)
        elif isinstance(data, np.ndarray) or is_cupy(data):
            if dtype is not None:
                data = data.astype(dtype, copy=False)
        else:
            arr = np.asarray(data, dtype=dtype)
            if dtype is None and arr.dtype == np.float64 and not isinstance(data, np.generic):
                arr = arr.astype(np.float32)  # Python floats/lists default to float32
            data = arr
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = None
        self.output_nr = 0  # which output of its creator this is (PyTorch's output_nr)
        self.name = name
        self.retains_grad = False
        self._hooks = []

    # -- array-like attributes ----------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    device = property(lambda self: device_of(self.data))
    xp = property(lambda self: get_array_module(self.data))
    is_leaf = property(lambda self: self.creator is None)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(np.asarray(self.numpy()), precision=4, threshold=20, prefix="Tensor(")
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        if self.creator is not None:
            extra += f", creator={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    # -- conversion ------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        """``np.asarray(tensor)`` gives the data (a constant: no graph is recorded)."""
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if needed)."""
        return to_device(self.data, "cpu")

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def detach(self):
        """A new leaf sharing this data, cut from the graph."""
        return Tensor(self.data)

    def to(self, device):
        """This tensor on ``device`` ('cpu' or 'cuda'): itself if already there, else a new
        leaf (same ``requires_grad``). An unknown device, or 'cuda' without CuPy and a
        GPU, is an error (``autograd.device.check_device``)."""
        from .device import check_device
        device = check_device(device)
        if device_of(self.data) == device:
            return self
        return Tensor(to_device(self.data, device), requires_grad=self.requires_grad)

    def astype(self, dtype):
        return ops.cast(self, dtype)

    float = lambda self: self.astype(np.float32)     # noqa: E731
    double = lambda self: self.astype(np.float64)    # noqa: E731

    # -- autograd ----------------------------------------------------------------
    def backward(self, gy=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            gy: upstream gradient, same shape as self; required unless self has one element.
            retain_graph: keep saved arrays so backward can run through this graph again.
            create_graph: record backward itself, so gradients can be differentiated again.
        """
        from .engine import backward
        backward(self, gy, retain_graph=retain_graph, create_graph=create_graph)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; if it returns a
        Tensor, that replaces the gradient. Returns a handle with ``remove()``."""
        if not self._hooks and self.creator is not None:
            self.creator.keep_output(self)
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def retain_grad(self):
        """Also store ``.grad`` on this non-leaf tensor during backward."""
        if not self.retains_grad and self.creator is not None:
            self.creator.keep_output(self)
        self.retains_grad = True

    def zero_grad(self):
        self.grad = None

    # -- operators ---------------------------------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __neg__(self): return ops.neg(self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)

    # Comparisons are elementwise and not differentiable, so they leave the graph: each
    # returns the boolean array of the data (NumPy or CuPy), as ``x.data < y`` would, and
    # np.mean(pred == y) is an accuracy. ``==`` with anything not array-like (None, a
    # string) is NotImplemented, hence identity. Hashing stays by identity (graph nodes
    # in sets and dicts); the engine and optimizers compare tensors with ``is``/id().
    def __lt__(self, other): return self.data < _raw(other)
    def __le__(self, other): return self.data <= _raw(other)
    def __gt__(self, other): return self.data > _raw(other)
    def __ge__(self, other): return self.data >= _raw(other)
    def __eq__(self, other): return self.data == _raw(other) if _comparable(other) else NotImplemented
    def __ne__(self, other): return self.data != _raw(other) if _comparable(other) else NotImplemented
    __hash__ = object.__hash__

    # -- elementwise methods -------------------------------------------------------
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def clip(self, lo=None, hi=None): return ops.clip(self, lo, hi)

    # -- reductions ------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return functional.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return functional.std(self, axis, keepdims, ddof)
    def logsumexp(self, axis=None, keepdims=False): return functional.logsumexp(self, axis, keepdims)

    # -- shape -------------------------------------------------------------------------
    def reshape(self, *shape): return ops.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes): return ops.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def permute(self, *axes): return ops.transpose(self, axes[0] if len(axes) == 1 else axes)
    def swapaxes(self, a, b): return ops.swapaxes(self, a, b)
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def expand_dims(self, axis): return ops.expand_dims(self, axis)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def flatten(self, start_axis=0): return ops.flatten(self, start_axis)
    def flip(self, axis=None): return ops.flip(self, axis)
    T = property(lambda self: ops.transpose(self))


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _comparable(x):
    """Tensors, arrays, numbers and lists compare elementwise; anything else by identity."""
    return isinstance(x, (Tensor, int, float, complex, np.generic, np.ndarray, list, tuple)) or is_cupy(x)


def as_tensor(x, like=None):
    """Wrap ``x`` as a constant Tensor. Python scalars take ``like``'s dtype and device."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (float, int, bool, np.number)):
        data = like.data
        xp = np if type(data) is np.ndarray else get_array_module(data)
        dtype = data.dtype
        return Tensor(xp.asarray(x, dtype=dtype if dtype.kind == "f" else None))
    if like is not None and is_cupy(like.data) and isinstance(x, np.ndarray) and not is_cupy(x):
        raise RuntimeError(f"a NumPy array of shape {x.shape} was mixed with a tensor on cuda; "
                           "move it with Tensor(x).to('cuda') first")
    return Tensor(x)


def tensor(data, requires_grad=False, dtype=None):
    """Create a Tensor (lowercase constructor, like ``torch.tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


from . import functional, ops  # noqa: E402  (ops import Tensor from this module)
