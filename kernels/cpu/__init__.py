"""Numba kernels, under the same module and function names as ``kernels/reference``."""
from .conv import *            # noqa: F401,F403
from .masked_conv import *     # noqa: F401,F403
from .causal_conv1d import *   # noqa: F401,F403
from .coupling import *        # noqa: F401,F403
from .spline import *          # noqa: F401,F403
from .norm import *            # noqa: F401,F403
from .optim import *           # noqa: F401,F403
from .cross_entropy import *   # noqa: F401,F403
from .linalg import *          # noqa: F401,F403
from . import conv, masked_conv, causal_conv1d, coupling, spline, norm, optim, cross_entropy, linalg

__all__ = [name for mod in (conv, masked_conv, causal_conv1d, coupling, spline, norm, optim, cross_entropy,
                            linalg)
           for name in mod.__all__]
