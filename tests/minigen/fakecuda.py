"""A pretend GPU for CPU-only machines: arrays that refuse to mix with NumPy, registered as "cuda".

CuPy arrays live in GPU memory, so CuPy refuses to combine them with NumPy arrays
(``cupy_array + numpy_array`` is a TypeError): a model that builds noise, masks or
targets with NumPy while its parameters are on the GPU fails there, and only there.
This module reproduces that failure on the CPU, so the device flow of every model and
of the run layer is tested without a GPU:

* ``DeviceArray`` is a NumPy array subclass standing for a CuPy array. Any ufunc or
  NumPy function that receives a DeviceArray together with a plain ``np.ndarray``
  raises ``TypeError`` naming the function, as CuPy would; results stay DeviceArrays.
* ``FAKE_CUPY`` is a stand-in for the ``cupy`` module: ``ndarray`` is DeviceArray,
  ``asarray`` "uploads", ``asnumpy`` "downloads", every other name is NumPy's with
  its array results turned into DeviceArrays (``xp.zeros(...)`` is on the device).
* ``install(monkeypatch)`` registers it under ``kernels.backend`` (and a ``cupyx``
  with ``scatter_add``), so ``to_device(x, "cuda")``, ``Module.to("cuda")``,
  ``get_array_module``, ``device_of`` and ``as_numpy`` behave as with CuPy; the
  kernels run their reference twins (written with ``xp``) on the DeviceArrays.

What it cannot catch: ``np.asarray(device_array)`` silently gives a host copy here,
where CuPy raises; the tests therefore also check that what a model returns to the
host (samples, pictures' arrays, checkpoints) is a plain ``np.ndarray``. Speed, the
CUDA kernels themselves and CuPy's own numerics are the GPU tests' (``-m gpu``).
"""
import sys
import types

import numpy as np

__all__ = ["DeviceArray", "FAKE_CUPY", "install", "on_device", "MixedDeviceError"]


class MixedDeviceError(TypeError):
    """A NumPy (host) array met a device array in one operation."""


def _mixed(args):
    """True when ``args`` (nested lists/tuples) hold a DeviceArray and a plain ndarray."""
    kinds = set()

    def walk(a):
        if isinstance(a, (list, tuple)):
            for b in a:
                walk(b)
        elif isinstance(a, DeviceArray):
            kinds.add("device")
        elif type(a) is np.ndarray:
            kinds.add("host")
    walk(args)
    return kinds == {"device", "host"}


def _host(a):
    """DeviceArrays (also inside lists/tuples) as plain ndarray views."""
    if isinstance(a, DeviceArray):
        return a.view(np.ndarray)
    if isinstance(a, (list, tuple)):
        return type(a)(_host(b) for b in a)
    return a


def _device(a):
    """ndarray results (also inside tuples) as DeviceArray views."""
    if type(a) is np.ndarray:
        return a.view(DeviceArray)
    if isinstance(a, tuple):
        return tuple(_device(b) for b in a)
    if isinstance(a, list):
        return [_device(b) for b in a]
    return a


class DeviceArray(np.ndarray):
    """A NumPy array that stands for a CuPy array (module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if _mixed(inputs + tuple(kwargs.get("out", ()))):
            raise MixedDeviceError(f"{ufunc.__name__}.{method}: a NumPy array from the CPU mixed with "
                                   "arrays on the device (CuPy refuses this)")
        if "out" in kwargs:
            kwargs["out"] = _host(kwargs["out"])
        return _device(getattr(ufunc, method)(*_host(inputs), **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        if _mixed(args) or _mixed(tuple(kwargs.values())):
            raise MixedDeviceError(f"numpy.{func.__name__}: a NumPy array from the CPU mixed with "
                                   "arrays on the device (CuPy refuses this)")
        return _device(func(*_host(args), **{k: _host(v) for k, v in kwargs.items()}))

    def get(self):
        """A host copy, as ``cupy.ndarray.get()``."""
        return np.array(self.view(np.ndarray), copy=True)


class _FakeCupy(types.ModuleType):
    """The ``cupy`` stand-in: NumPy's names, with array results on the "device"."""

    ndarray = DeviceArray

    def __init__(self):
        super().__init__("fakecupy")

    @staticmethod
    def asarray(a, dtype=None):
        """Upload: a DeviceArray copy of ``a`` (a device array of the right dtype is kept)."""
        if isinstance(a, DeviceArray) and (dtype is None or a.dtype == dtype):
            return a
        return np.array(_host(a), dtype=dtype, copy=True).view(DeviceArray)

    array = asarray

    @staticmethod
    def asnumpy(a):
        """Download: a plain ndarray copy."""
        return np.array(_host(a), copy=True)

    def __getattr__(self, name):
        value = getattr(np, name)
        if isinstance(value, (type, np.ufunc)) or not callable(value):
            return value                  # dtypes, ufuncs (they dispatch by themselves), constants

        def on_the_device(*args, **kwargs):
            return _device(value(*args, **kwargs))
        on_the_device.__name__ = name
        return on_the_device


FAKE_CUPY = _FakeCupy()
_FAKE_CUPYX = types.ModuleType("fakecupyx")
_FAKE_CUPYX.scatter_add = lambda y, index, x: np.add.at(y.view(np.ndarray), _host(index), _host(x))


def install(monkeypatch):
    """Register the pretend GPU for one test: "cuda" is available, CuPy is ``FAKE_CUPY``,
    and every kernel runs its reference twin (``MINIGEN_KERNELS=reference``)."""
    import autograd.device
    import kernels.backend
    import kernels.config
    monkeypatch.setattr(kernels.backend, "cupy", FAKE_CUPY)
    monkeypatch.setattr(kernels.backend, "HAS_CUPY", True)
    monkeypatch.setattr(autograd.device, "HAS_CUPY", True)
    monkeypatch.setattr(kernels.config, "KERNELS", "reference")
    monkeypatch.setitem(sys.modules, "cupyx", _FAKE_CUPYX)


def on_device(a):
    """True for an array (or a Tensor) on the device: a DeviceArray here, a CuPy array on a GPU."""
    from autograd import is_cupy
    return is_cupy(a)
