"""Grad-recording mode: ``no_grad()`` and ``enable_grad()`` context managers.

While recording is off, a Function computes its forward and links nothing, so
no graph (and no saved arrays) are kept. ``backward(create_graph=True)`` turns
recording on inside backward, which is how second derivatives are built.

The *scope* is the innermost object (in minigen, the Module) whose call is running:
each recorded Function keeps it as ``f.scope``, so ``print_tape`` can say which
layer produced each op. ``Module.__call__`` brackets ``forward`` with
``prev = enter_scope(self)`` ... ``exit_scope(prev)``; autograd itself knows
nothing of modules.
"""
import contextlib


class _Mode:
    grad_enabled = True
    scope = None


def enter_scope(owner):
    """Make ``owner`` the current scope (recorded on every new op); returns the previous one."""
    previous = _Mode.scope
    _Mode.scope = owner
    return previous


def exit_scope(previous):
    """Restore the scope that ``enter_scope`` returned (call it in a ``finally``)."""
    _Mode.scope = previous


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
