"""Devices and random constructors: everything ``minigen`` needs to place arrays.

``minigen`` never imports ``kernels``; what it needs of ``kernels.backend`` comes
through here (``autograd`` may import ``kernels``, the layering of docs/architecture.md):

    HAS_CUPY                 True when CuPy and a CUDA device are usable
    get_array_module(*a)     ``cupy`` if any argument is on the GPU, else ``numpy`` ("xp")
    is_cupy(a)               True for a CuPy array
    device_of(a)             'cuda' or 'cpu'
    as_numpy(a)              a NumPy array (copied from the GPU if needed)
    check_device(device)     'cpu' or 'cuda', or a clear error
    to_device(a, device)     an array (or a Tensor) on ``device``

Each takes arrays (NumPy or CuPy) or Tensors alike; ``Tensor.to(device)`` and
``Module.to(device)`` move tensors and models.

The constructors return **Tensors** (constants unless ``requires_grad``), on the
device and in the dtype of ``like`` (a Tensor or an array) when it is given::

    eps = autograd.randn(mu.shape, rng, like=mu)         # N(0, 1) noise next to mu
    u = autograd.rand(x.shape, rng, like=x)              # U[0, 1), x's dtype and device
    h = autograd.zeros((n, 256), like=w)

Random numbers are always drawn on the host, in float64, from an explicit
``numpy.random.Generator``, then cast and moved: the CPU and the GPU see the very
same numbers, and a float32 and a float64 run draw the same noise.
"""
import numpy as np

from kernels import backend as _backend
from kernels.backend import HAS_CUPY

from .tensor import Tensor

__all__ = ["DEVICES", "HAS_CUPY", "get_array_module", "is_cupy", "device_of", "as_numpy",
           "check_device", "to_device", "zeros", "ones", "randn", "rand", "rng"]

DEVICES = ("cpu", "cuda")
GPU_INSTALL = 'pip install -e ".[gpu]"'


def check_device(device):
    """The canonical name of ``device``: 'cpu' or 'cuda' ('cuda:0' is 'cuda').

    Raises:
        ValueError: for any other name (the message lists the choices).
        RuntimeError: for 'cuda' when CuPy or a CUDA device is missing (the message
            names the install command).
    """
    name = str(device).strip().lower()
    if name.startswith("cuda:") and name[5:].isdigit():
        name = "cuda"
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(map(repr, DEVICES))}")
    if name == "cuda" and not HAS_CUPY:
        raise RuntimeError(f"device 'cuda' needs CuPy and an NVIDIA GPU, and this machine has "
                           f"{'no usable GPU' if getattr(_backend, 'cupy', None) is not None else 'no CuPy'}; install the gpu "
                           f"extra ({GPU_INSTALL}) on a machine with a CUDA device, or use device='cpu'")
    return name


def _raw(x):
    """The array of a Tensor; anything else unchanged."""
    return x.data if isinstance(x, Tensor) else x


def get_array_module(*xs):
    """``cupy`` if any argument is a CuPy array (or a Tensor holding one), else ``numpy``."""
    return _backend.get_array_module(*(_raw(x) for x in xs))


def is_cupy(x):
    """True for a CuPy array or a Tensor holding one."""
    return _backend.is_cupy(_raw(x))


def as_numpy(x):
    """A NumPy array of an array, Tensor or scalar (copied from the GPU if needed)."""
    return _backend.as_numpy(_raw(x))


def device_of(x):
    """'cuda' or 'cpu': where the array, or the Tensor's data, lives."""
    return _backend.device_of(_raw(x))


def to_device(x, device):
    """``x`` on ``device`` ('cpu' or 'cuda', checked by ``check_device``).

    Args:
        x: an array (NumPy or CuPy) or a Tensor.
        device: the target device.

    Returns:
        An array for an array (the same object when it is already there), or for a
        Tensor, ``x.to(device)`` (the same Tensor, or a new leaf when it moved).
    """
    device = check_device(device)
    if isinstance(x, Tensor):
        return x.to(device)
    return _backend.to_device(x, device)


def _placed(host, dtype, like, requires_grad):
    """A Tensor of the float64 host array ``host``, cast to the dtype and moved to ``like``'s device."""
    like = _raw(like)
    arr = host.astype(_dtype(dtype, like), copy=False)
    if like is not None and is_cupy(like):
        arr = _backend.to_device(arr, "cuda")
    return Tensor(arr, requires_grad=requires_grad)


def _dtype(dtype, like):
    """``dtype`` if given, else ``like``'s float dtype, else float32."""
    if dtype is not None:
        return dtype
    return like.dtype if like is not None and like.dtype.kind == "f" else np.float32


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (e.g. autograd.rng(0)), got "
                        f"{type(rng).__name__}; minigen has no global random state")
    return rng


def randn(shape, rng, dtype=None, requires_grad=False, like=None):
    """Standard-normal Tensor, drawn on the host from ``rng`` (float64), then cast and moved.

    Args:
        shape: the shape.
        rng: a ``numpy.random.Generator`` (no global random state).
        dtype: the dtype; default ``like``'s float dtype, else float32.
        requires_grad: make it a trainable leaf.
        like: a Tensor or array whose device (and default dtype) the result takes.
    """
    return _placed(_check_rng(rng).standard_normal(shape), dtype, like, requires_grad)


def rand(shape, rng, dtype=None, requires_grad=False, like=None):
    """Uniform [0, 1) Tensor, drawn on the host from ``rng`` (float64): arguments as ``randn``."""
    return _placed(_check_rng(rng).random(shape), dtype, like, requires_grad)


def zeros(shape, dtype=None, requires_grad=False, like=None):
    """Tensor of zeros, in ``dtype`` (default ``like``'s float dtype, else float32), on ``like``'s device."""
    return _filled(0, shape, dtype, requires_grad, like)


def ones(shape, dtype=None, requires_grad=False, like=None):
    """Tensor of ones: arguments as ``zeros``."""
    return _filled(1, shape, dtype, requires_grad, like)


def _filled(value, shape, dtype, requires_grad, like):
    like = _raw(like)
    xp = get_array_module(like) if like is not None else np
    return Tensor(xp.full(shape, value, dtype=_dtype(dtype, like)), requires_grad=requires_grad)


def rng(seed=None):
    """The project's random generator: ``numpy.random.default_rng(seed)``, passed explicitly."""
    return np.random.default_rng(seed)
