"""``Function``: one differentiable operation (DeZero / Chainer style).

A subclass writes two methods::

    class Mul(Function):
        '''y = x0 * x1;  dy/dx0 = x1, dy/dx1 = x0'''
        def forward(self, x0, x1):          # raw arrays in, raw arrays out
            self.save_for_backward(x0, x1)
            return x0 * x1
        def backward(self, gy):             # Tensors in, Tensors out
            x0, x1 = self.saved_tensors
            return gy * x1, gy * x0

``forward`` computes with the array module of its inputs (NumPy or CuPy).
``backward`` is written with Tensor operations, so with ``create_graph=True`` it is
itself recorded and can be differentiated again (second derivatives for free).

Calling a Function (``Mul()(a, b)``) does four things, in ``__call__``:
  1. unwrap Tensors to arrays (scalars and NumPy arrays become constants),
     checking devices and dtypes;
  2. run ``forward`` on the arrays;
  3. wrap the results as Tensors;
  4. if recording and any input requires grad: remember where each input's gradient
     goes (``Edge``), the outputs' shapes and dtypes, and the recording order (``seq``);
     make self each output's ``creator`` and tell it which output it is (``output_nr``).
     That link is the whole graph: it holds no output Tensor (a Tensor with a hook or
     ``retain_grad`` asks to be kept, ``keep_output``).

The graph holds what backward needs and nothing more: a Function keeps the arrays
it saved, and for every input only an ``Edge`` (the leaf Tensor itself, or "output k
of Function f" for an intermediate result).  So an intermediate array nobody saved,
e.g. the sum in ``h = h + conv(relu(h))``, is freed as soon as the user's code drops
it, as in PyTorch, instead of living until backward.

Gradients of broadcast inputs are NOT reduced here or in any op: the engine
reduces each input gradient to its input's shape, in one place
(``autograd.broadcast.reduce_to_shape``).
"""
import itertools

import numpy as np

from kernels.backend import device_of, get_array_module

from .mode import _Mode


class Function:
    """Base class of every differentiable operation. See the module docstring."""

    #: Set to False on a fused Function whose backward is not itself differentiable;
    #: double backward through it then raises NotImplementedError naming ``composite``.
    differentiable_backward = True
    composite = None  # name of the composite path that supports double backward
    #: The scope (e.g. the minigen Module) whose call recorded this op (``autograd.mode``).
    scope = None
    #: When recorded, a number larger than every earlier recorded Function's (the
    #: engine runs backward newest first: ``engine.toposort``).
    seq = None
    _saved = None             # what ``save_for_backward`` was given, until it is linked
    #: Outputs held for the engine: those with a hook or ``retain_grad`` (``keep_output``).
    kept = ()

    def __call__(self, *inputs, **params):
        Tensor = (_TENSOR_API or _tensor_api())[0]
        # 1) unwrap (the loops below are written out: a list comprehension costs a call)
        tensors = inputs
        for x in inputs:
            if not isinstance(x, Tensor):
                tensors = _constants_as_tensors(inputs, Tensor)
                break
        if len(tensors) == 1:
            arrays = (tensors[0].data,)
        else:
            self._check_inputs(tensors)
            arrays = [t.data for t in tensors]
        # 2) forward on arrays
        try:
            ys = self.forward(*arrays, **params)
        except (ValueError, IndexError) as e:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise type(e)(f"{self.name}: cannot apply to inputs of shapes {shapes}: {e}") from e
        single = type(ys) is not tuple
        ys = (ys,) if single else ys
        for y in ys:
            if type(y) is not np.ndarray:
                ys = self._as_arrays(ys, arrays)
                break
        # 3) wrap; 4) record
        record = False
        if _Mode.grad_enabled:
            for t in tensors:
                if t.requires_grad:
                    record = True
                    break
        if not record:
            self._saved = None
            return Tensor(ys[0]) if single else tuple([Tensor(y) for y in ys])
        self.inputs = edges = []  # a leaf Tensor itself, an intermediate as an Edge
        for t in tensors:
            edges.append(t if t.creator is None else Edge(t))
        outputs, self.output_meta = [], []
        for k, y in enumerate(ys):
            o = Tensor(y)
            o.requires_grad = True
            o.creator, o.output_nr = self, k
            outputs.append(o)
            self.output_meta.append((y.shape, y.dtype))
        self.scope = _Mode.scope
        self.seq = next(_RECORDED)
        if self._saved is not None:
            self._link_saved(arrays, tensors, outputs)
        return outputs[0] if single else tuple(outputs)

    @property
    def needs_input_grad(self):
        """Which inputs require grad, a tuple of bools (a backward may skip the others,
        e.g. MatMul never computes the gradient of a data batch)."""
        return tuple([x.requires_grad for x in getattr(self, "inputs", ())])

    # -- subclass API --------------------------------------------------------
    def forward(self, *arrays, **params):
        raise NotImplementedError(f"{self.name}.forward")

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{self.name}.backward")

    def save_for_backward(self, *arrays):
        """Keep ``arrays`` for backward. Inputs and outputs among them come back
        as the graph's own Tensors (so double backward flows through them);
        anything else (masks, indices, intermediates) comes back as a constant."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The Tensors saved by ``save_for_backward``, in order."""
        if getattr(self, "_saved_tensors", None) is None:
            raise RuntimeError(
                f"{self.name}: saved tensors were already freed by a previous backward; "
                "call backward(retain_graph=True) the first time to backward twice")
        return self._saved_tensors

    # -- plumbing ------------------------------------------------------------
    @property
    def name(self):
        return type(self).__name__

    def _link_saved(self, arrays, tensors, outputs):
        Tensor = _TENSOR_API[0]
        out = []
        for s in self._saved:
            match = None
            for a, t in zip(arrays, tensors):
                if a is s:
                    match = t
                    break
            else:
                for o in outputs:
                    if o.data is s:
                        match = o
                        break
            if match is None:  # not an input or output: a constant (mask, indices, ...)
                match = s if s is None or isinstance(s, Tensor) else Tensor(s)
            out.append(match)
        self._saved_tensors = tuple(out)
        self._saved = None

    def _as_arrays(self, ys, arrays):
        """NumPy turns 0-d results into scalars (np.exp(array(1.0)) is a float64): make
        them arrays again, and keep save_for_backward's identity with the outputs."""
        out = []
        for y in ys:
            if type(y) is not np.ndarray and (isinstance(y, np.generic) or not hasattr(y, "shape")):
                a = get_array_module(*arrays).asarray(y)
                saved = getattr(self, "_saved", None)
                if saved:
                    self._saved = tuple(a if s is y else s for s in saved)
                y = a
            out.append(y)
        return tuple(out)

    def release(self):
        """Free what backward held (called by the engine unless retain_graph)."""
        self._saved_tensors = None

    def keep_output(self, t):
        """Hold output ``t`` for as long as this Function lives: the engine gives a tensor
        with a hook or ``retain_grad`` its gradient, even if the user's code dropped it."""
        if not any(k is t for k in self.kept):
            self.kept = self.kept + (t,)

    def _check_inputs(self, tensors):
        """One device; one float dtype (integer constants take it: the documented promotion rule)."""
        d0 = tensors[0].data
        for t in tensors:
            d = t.data
            if type(d) is not type(d0) or (d.dtype is not d0.dtype and d.dtype != d0.dtype):
                break
        else:
            return  # the common case: same array type, same dtype
        on_host = [type(t.data) is np.ndarray for t in tensors]
        if not all(on_host) and any(on_host):
            desc = ", ".join(f"{tuple(t.shape)} on {device_of(t.data)}" for t in tensors)
            raise RuntimeError(f"{self.name}: inputs are on different devices ({desc}); "
                               "move them with .to('cpu') or .to('cuda') first")
        floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
        if floats and any(d != floats[0] for d in floats):
            raise TypeError(
                f"{self.name}: mixed float dtypes {sorted({str(d) for d in floats})}; minigen does not "
                "promote silently - cast one side explicitly with .astype(...)")
        if floats:
            for t in tensors:
                if t.dtype.kind in "iu":
                    t.data = t.data.astype(floats[0])

    def __repr__(self):
        return f"<{self.name}>"


class Edge:
    """Where the gradient of one intermediate input goes: output ``index`` of ``creator``.

    A recorded Function keeps leaf inputs themselves (``.grad`` is filled in on them) and,
    for an input another Function produced, this Edge instead of the Tensor, so the
    Tensor's array is not held by the graph (PyTorch's ``next_functions``).  It carries
    what the engine and ``print_tape`` read: ``creator``, ``index``, ``requires_grad``,
    ``shape`` and ``dtype``. The engine's table names its gradient ``(creator, index)``.
    """
    __slots__ = ("creator", "index", "shape", "dtype")
    requires_grad = True  # an intermediate result always requires grad

    def __init__(self, t):
        self.creator = f = t.creator
        self.index = k = t.output_nr
        self.shape, self.dtype = f.output_meta[k]


def grad_key(t):
    """The engine's name for the gradient of Tensor ``t``: the leaf itself, or (creator, index)."""
    return t if t.creator is None else (t.creator, t.output_nr)


def _constants_as_tensors(inputs, Tensor):
    """Inputs as Tensors: numbers and arrays become constants of the first Tensor's dtype."""
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    as_tensor = _TENSOR_API[1]
    return [x if isinstance(x, Tensor) else as_tensor(x, like) for x in inputs]


_TENSOR_API = []
_RECORDED = itertools.count()  # Function.seq: the order Functions were recorded (engine.toposort)


def _tensor_api():
    """(Tensor, as_tensor), imported once (tensor.py imports the ops, which import this module)."""
    if not _TENSOR_API:
        from .tensor import Tensor, as_tensor
        _TENSOR_API.extend([Tensor, as_tensor])
    return _TENSOR_API
