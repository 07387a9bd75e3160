"""The NumPy / CuPy switch (DeZero's ``get_array_module`` idea).

Every op computes with the array module ``xp`` of its inputs, so one code path
serves the CPU (NumPy) and the GPU (CuPy).  CuPy is imported lazily and is
optional: without it everything runs on NumPy.
"""
import numpy as np

try:  # CuPy is optional (the ``gpu`` extra).
    import cupy
    try:
        HAS_CUPY = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy installed but no driver or no device
        HAS_CUPY = False
except ImportError:  # pragma: no cover - depends on the machine
    cupy = None
    HAS_CUPY = False

try:
    import numba  # noqa: F401
    HAS_NUMBA = True
except ImportError:  # pragma: no cover
    HAS_NUMBA = False


def is_cupy(x):
    """True when ``x`` is a CuPy array."""
    return cupy is not None and isinstance(x, cupy.ndarray)


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    for a in arrays:
        if is_cupy(a):
            return cupy
    return np


def device_of(x):
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    return "cuda" if is_cupy(x) else "cpu"


def as_numpy(x):
    """Copy a CuPy array to the host; NumPy arrays and scalars pass through."""
    if is_cupy(x):
        return cupy.asnumpy(x)
    return np.asarray(x)


def as_cupy(x):
    """Copy an array to the GPU, with a clear error when CuPy or a device is missing."""
    if not HAS_CUPY:
        raise RuntimeError(
            "device 'cuda' requested but CuPy with a CUDA device is not available; "
            "install the gpu extra (pip install -e .[gpu]) on a machine with an NVIDIA GPU")
    return cupy.asarray(x)


def to_device(x, device):
    """Move an array to ``device`` ('cpu' or 'cuda')."""
    if device == "cpu":
        return as_numpy(x)
    if device in ("cuda", "gpu") or str(device).startswith("cuda"):
        return as_cupy(x)
    raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")


FLOATS = (np.float32, np.float64)


def check_float(name, a, dtype=None, ndim=None, layout=""):
    """Raise a clear error unless ``a`` is a float32/float64 array (of ``dtype``, ``ndim``).

    Args:
        name: the argument's name, for the message (e.g. ``"x"``).
        a: the value to check.
        dtype: the dtype it must share with the other inputs, if any.
        ndim: the number of dimensions it must have, if any.
        layout: the expected layout, shown in the message (e.g. ``"(N, C, T)"``).
    """
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        raise TypeError(f"{name} must be an array, got {type(a).__name__}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} like the other inputs, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {tuple(a.shape)}")
