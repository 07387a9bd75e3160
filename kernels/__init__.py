"""kernels: raw arrays in, raw arrays out. No Tensors, no autograd.

Every kernel exists three times under the same name:

    kernels/reference/<family>.py   plain NumPy, the readable specification and test oracle
    kernels/cpu/<family>.py         Numba (fused, parallel where it pays)
    kernels/gpu/<family>.py         CuPy

This module is the only place that chooses between them (``backend_for``): by the
array's type, or forced everywhere with ``MINIGEN_KERNELS=reference|cpu|gpu``:

    array, MINIGEN_KERNELS   ''/auto    reference   cpu         gpu
    NumPy                      cpu        reference   cpu         TypeError (move it to cuda)
    CuPy                       gpu        reference   reference   gpu

A misspelt value is a ValueError at import; ``gpu`` without CuPy and a CUDA device is
a RuntimeError at import.  A kernel missing from ``gpu`` runs its reference twin, which
is written with ``xp`` and so works on CuPy arrays.
``kernels.conv2d_forward(x, w, ...)`` etc. are thin dispatchers generated below from
the reference module's ``__all__``; their docstrings are the reference docstrings.
"""
from . import config, reference
from .backend import HAS_CUPY, HAS_NUMBA, get_array_module, is_cupy  # noqa: F401

if config.KERNELS == "gpu" and not HAS_CUPY:
    raise RuntimeError("MINIGEN_KERNELS=gpu forces the CUDA kernels, but CuPy with a CUDA device is "
                       "not available here; install the gpu extra (pip install -e .[gpu]) on a "
                       "machine with an NVIDIA GPU, or unset MINIGEN_KERNELS")


def backend_for(x):
    """The kernel module (reference, cpu or gpu) that should process array ``x``."""
    forced = config.KERNELS
    if forced not in config.KERNELS_CHOICES:
        config.kernels_choice(forced)  # raises, naming the choices
    if is_cupy(x):
        from . import gpu
        return gpu if forced in ("", "gpu") else reference
    if forced == "gpu":
        raise TypeError(f"MINIGEN_KERNELS=gpu forces the CUDA kernels, which take CuPy arrays, got "
                        f"{type(x).__module__}.{type(x).__name__}; move the data to the GPU "
                        f"(Tensor.to('cuda'), Module.to('cuda')) or unset MINIGEN_KERNELS")
    if forced == "reference" or not HAS_NUMBA:
        return reference
    from . import cpu
    return cpu


def _dispatcher(name):
    ref = getattr(reference, name)

    def dispatch(x, *args, **kwargs):
        impl = backend_for(x)
        fn = getattr(impl, name, None)
        if fn is None:  # a backend that lacks this kernel falls back to the twin
            fn = ref
        return fn(x, *args, **kwargs)

    dispatch.__name__ = name
    dispatch.__qualname__ = name
    dispatch.__doc__ = ref.__doc__
    return dispatch


for _name in reference.__all__:
    globals()[_name] = _dispatcher(_name)

__all__ = ["backend_for", "config"] + list(reference.__all__)
