"""Grad-recording mode: ``no_grad()`` and ``enable_grad()`` context managers.

While recording is off, a Function computes its forward and links nothing, so
no graph (and no saved arrays) are kept. ``backward(create_graph=True)`` turns
recording on inside backward, which is how second derivatives are built.
"""
import contextlib


class _Mode:
    grad_enabled = True


def is_grad_enabled():
    """True when new operations are recorded for backward."""
    return _Mode.grad_enabled


@contextlib.contextmanager
def set_grad_enabled(enabled):
    """Turn graph recording on or off inside a ``with`` block."""
    previous = _Mode.grad_enabled
    _Mode.grad_enabled = bool(enabled)
    try:
        yield
    finally:
        _Mode.grad_enabled = previous


def no_grad():
    """``with no_grad():`` runs operations without recording a graph (evaluation, sampling)."""
    return set_grad_enabled(False)


def enable_grad():
    """``with enable_grad():`` records even inside a ``no_grad`` block."""
    return set_grad_enabled(True)
