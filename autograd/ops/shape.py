"""Shape primitives: values move, nothing is computed, so each backward moves gy back."""
import numpy as np

from kernels.backend import get_array_module

from ..broadcast import sum_to_axes
from ..function import Function


class Reshape(Function):
    """y = x viewed with a new shape;  gx = gy reshaped to x's shape"""
    def forward(self, x, shape):
        self.x_shape = x.shape
        return x.reshape(shape)

    def backward(self, gy):
        return reshape(gy, self.x_shape)


class Transpose(Function):
    """y = x with axes permuted;  gx = gy permuted by the inverse permutation"""
    def forward(self, x, axes=None):
        self.axes = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % x.ndim for a in axes)
        return x.transpose(self.axes)

    def backward(self, gy):
        return transpose(gy, tuple(np.argsort(self.axes)))


class BroadcastTo(Function):
    """y = x repeated along broadcast axes;  gx = gy, which the engine sums back to x's shape"""
    def forward(self, x, shape):
        return get_array_module(x).broadcast_to(x, shape)

    def backward(self, gy):
        return gy


class SumTo(Function):
    """y = x summed down to ``shape`` (the inverse of broadcasting);  gx = gy broadcast back"""
    def forward(self, x, shape):
        self.x_shape = x.shape
        axes, lead = sum_to_axes(x.shape, shape)
        y = x.sum(axis=axes, keepdims=True)
        return y.reshape(shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)


class GetItem(Function):
    """y = x[index];  gx = zeros like x with gy scattered (added) at ``index``"""
    def forward(self, x, index):
        self.index, self.x_shape = index, x.shape
        return x[index]

    def backward(self, gy):
        return ScatterAdd()(gy, index=self.index, shape=self.x_shape)


class ScatterAdd(Function):
    """y = zeros(shape) with y[index] += x (repeated indices accumulate);  gx = gy[index]"""
    def forward(self, x, index, shape):
        xp = get_array_module(x)
        self.index = index
        y = xp.zeros(shape, dtype=x.dtype)
        if _is_basic(index):
            y[index] = x  # basic slicing never repeats an element
        elif xp is np:
            np.add.at(y, index, x)
        else:  # pragma: no cover - GPU
            import cupyx
            cupyx.scatter_add(y, index, x)
        return y

    def backward(self, gy):
        return getitem(gy, self.index)


class Concatenate(Function):
    """y = [x0, x1, ...] joined along ``axis``;  each gx_i = the matching slice of gy"""
    def forward(self, *xs, axis=0):
        self.axis = axis % xs[0].ndim
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        gxs, start = [], 0
        for n in self.sizes:
            index = (slice(None),) * self.axis + (slice(start, start + n),)
            gxs.append(getitem(gy, index))
            start += n
        return tuple(gxs)


class Split(Function):
    """ys = x cut along ``axis`` at ``bounds``;  gx = the gys joined again (one concatenate).
    (As a composite of getitems, backward would scatter every piece into a full-size zero
    array and add them: O(pieces x size). This is why split is a primitive.)"""
    def forward(self, x, bounds, axis=0):
        self.axis = axis % x.ndim
        lead = (slice(None),) * self.axis
        return tuple(x[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:]))

    def backward(self, *gys):
        return concatenate(list(gys), axis=self.axis)


class Pad(Function):
    """y = x surrounded by ``value`` (pad_width per axis, NumPy style);  gx = the interior of gy"""
    def forward(self, x, pad_width, value=0.0):
        self.pad_width = pad_width
        return get_array_module(x).pad(x, pad_width, mode="constant", constant_values=value)

    def backward(self, gy):
        index = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(self.pad_width))
        return getitem(gy, index)


class Flip(Function):
    """y = x reversed along ``axis``;  gx = gy reversed along the same axes"""
    def forward(self, x, axis=None):
        self.axis = axis
        return get_array_module(x).flip(x, axis=axis)

    def backward(self, gy):
        return flip(gy, self.axis)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def _normalize_index(index):
    from ..tensor import Tensor
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    if isinstance(index, tuple):
        return tuple(_normalize_index(i) for i in index)
    return index


# -- lowercase functions ---------------------------------------------------------
def reshape(x, shape):
    """View ``x`` with ``shape`` (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if tuple(x.shape) == shape:
        return x
    return Reshape()(x, shape=shape)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    return Transpose()(x, axes=axes)


def swapaxes(x, a, b):
    """Exchange two axes, composed from ``transpose``."""
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def broadcast_to(x, shape):
    """Repeat ``x`` along size-1 / missing leading axes to ``shape``."""
    if tuple(x.shape) == tuple(shape):
        return x
    np.broadcast_shapes(tuple(x.shape), tuple(shape))  # raises a clear error early
    return BroadcastTo()(x, shape=tuple(shape))


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``: the adjoint of ``broadcast_to``."""
    if tuple(x.shape) == tuple(shape):
        return x
    return SumTo()(x, shape=tuple(shape))


def expand_dims(x, axis):
    """Insert a size-1 axis at ``axis`` (composed from reshape)."""
    return reshape(x, np.expand_dims(np.empty(x.shape, dtype=bool), axis).shape)


def squeeze(x, axis=None):
    """Remove size-1 axes (composed from reshape)."""
    return reshape(x, np.squeeze(np.empty(x.shape, dtype=bool), axis).shape)


def flatten(x, start_axis=0):
    """Merge axes ``start_axis..`` into one (composed from reshape)."""
    return reshape(x, tuple(x.shape[:start_axis]) + (-1,))


def getitem(x, index):
    """``x[index]``: basic slices, integer arrays and boolean masks."""
    return GetItem()(x, index=_normalize_index(index))


def concatenate(xs, axis=0):
    """Join tensors along an existing axis."""
    return Concatenate()(*xs, axis=axis)


def stack(xs, axis=0):
    """Join tensors along a new axis (composed: expand_dims + concatenate)."""
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


def split(x, indices_or_sections, axis=0):
    """Split into pieces along ``axis`` like ``numpy.split`` (a list of Tensors)."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into "
                             f"{indices_or_sections} equal sections")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0] + [min(int(i), n) for i in indices_or_sections] + [n]
    ys = Split()(x, bounds=bounds, axis=axis)
    return list(ys) if isinstance(ys, tuple) else [ys]


def pad(x, pad_width, value=0.0):
    """Constant padding; ``pad_width`` is an int or NumPy-style ((lo, hi), ...) per axis."""
    pw = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2) if np.ndim(pad_width) else
                         np.full((1, 2), pad_width), (x.ndim, 2))
    return Pad()(x, pad_width=tuple((int(a), int(b)) for a, b in pw), value=value)


def flip(x, axis=None):
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    return Flip()(x, axis=axis)
