"""autograd: a small reverse-mode automatic differentiation engine.

    Tensor, Function       autograd/tensor.py, autograd/function.py
    backward, grad         autograd/engine.py (iterative toposort)
    ops                    the primitives, each with its derivative in its docstring
    functional             composites with no backward code (softplus, logsumexp, ...)
    gradcheck              finite-difference checks, first and second order
    print_tape             what backward will do, op by op
    device                 devices and random constructors (randn(..., like=x)) for minigen
"""
from . import device, functional, ops
from .engine import backward, grad, toposort
from .function import Function
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .mode import enable_grad, enter_scope, exit_scope, is_grad_enabled, no_grad, set_grad_enabled
from .tape import print_tape, tape
from .device import (HAS_CUPY, as_numpy, check_device, device_of, get_array_module, is_cupy, ones, rand,
                     randn, rng, to_device, zeros)
from .tensor import Tensor, as_tensor, tensor

__all__ = ["Tensor", "Function", "tensor", "as_tensor", "zeros", "ones", "randn", "rand", "rng",
           "backward", "grad", "toposort", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "gradcheck", "gradgradcheck", "GradcheckError", "print_tape", "tape",
           "ops", "functional", "device", "HAS_CUPY", "as_numpy", "check_device", "device_of",
           "get_array_module", "is_cupy", "to_device", "enter_scope", "exit_scope"]
