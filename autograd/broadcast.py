"""The one place where gradients of broadcast inputs are reduced (HIPS ``unbroadcast``).

If ``x`` of shape (3, 1) was broadcast against (2, 3, 4), the gradient arriving for
``x`` has shape (2, 3, 4); it must be summed over the broadcast axes back to (3, 1).
The engine calls ``reduce_to_shape`` on every input gradient, so no op does this itself.
"""


def sum_to_axes(shape_from, shape_to):
    """Axes of ``shape_from`` to sum (keepdims) so the result has ``shape_to``.

    Leading axes that broadcasting added are summed, as are axes where ``shape_to``
    has size 1 and ``shape_from`` does not.
    """
    lead = len(shape_from) - len(shape_to)
    axes = tuple(range(lead))
    axes += tuple(lead + i for i, n in enumerate(shape_to) if n == 1 and shape_from[lead + i] != 1)
    return axes, lead


def reduce_to_shape(gx, shape):
    """Sum the gradient ``gx`` (a Tensor) down to ``shape`` (differentiably)."""
    if gx.shape == tuple(shape):
        return gx
    from .ops import sum_to
    return sum_to(gx, tuple(shape))
