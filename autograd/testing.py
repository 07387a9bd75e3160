"""Helpers for table-driven op tests (PyTorch's OpInfo, Chainer's FunctionTestCase).

An ``OpInfo`` lists one op once: how to call it, how to make inputs on a *host*
RNG (so CPU and GPU see identical data), a plain-NumPy reference forward, and
per-op tolerances and domain choices. One parametrised test then runs gradcheck
and gradgradcheck over every entry.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class OpInfo:
    """One row of the op table.

    Attributes:
        name: the public name (``ops.<name>``, ``functional.<name>`` or a fused op).
        op: callable on Tensors (and pass-through non-float arguments).
        make_inputs: ``rng -> list of cases``; each case is a tuple of NumPy arrays
            (float64 for checked inputs; other dtypes are passed through unchecked).
        reference: NumPy forward on the same arrays (None when the op has none).
        second_order: whether gradgradcheck applies (backward is differentiable).
        eps, atol, rtol: gradcheck settings for this op.
        mode: 'auto', 'elementwise' or 'directional'.
    """
    name: str
    op: Callable
    make_inputs: Callable
    reference: Optional[Callable] = None
    second_order: bool = True
    eps: float = 1e-6
    atol: float = 1e-6
    rtol: float = 1e-5
    mode: str = "auto"
    tags: tuple = field(default_factory=tuple)

    def cases(self, seed=0):
        return self.make_inputs(np.random.default_rng(seed))


def away_from(values, points, margin, rng):
    """Move ``values`` at least ``margin`` away from each of ``points`` (keeps gradchecks off kinks)."""
    values = np.array(values, dtype=np.float64)
    for p in points:
        close = np.abs(values - p) < margin
        values[close] = p + np.where(rng.random(close.sum()) < 0.5, -1, 1) * (margin + rng.random(close.sum()))
    return values


def assert_allclose(actual, expected, rtol=1e-7, atol=1e-10, what=""):
    """``numpy.testing.assert_allclose`` that accepts Tensors and CuPy arrays."""
    from kernels.backend import as_numpy
    a = as_numpy(getattr(actual, "data", actual))
    e = as_numpy(getattr(expected, "data", expected))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)
