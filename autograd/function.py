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
  4. if recording and any input requires grad: remember inputs, outputs (weakly)
     and make self the outputs' ``creator``.  That link is the whole graph.

Gradients of broadcast inputs are NOT reduced here or in any op: the engine
reduces each input gradient to its input's shape, in one place
(``autograd.broadcast.reduce_to_shape``).
"""
import weakref

import numpy as np

from kernels.backend import device_of, get_array_module

from .mode import is_grad_enabled


class Function:
    """Base class of every differentiable operation. See the module docstring."""

    #: Set to False on a fused Function whose backward is not itself differentiable;
    #: double backward through it then raises NotImplementedError naming ``composite``.
    differentiable_backward = True
    composite = None  # name of the composite path that supports double backward

    def __call__(self, *inputs, **params):
        from .tensor import Tensor, as_tensor
        like = next((x for x in inputs if isinstance(x, Tensor)), None)
        tensors = [x if isinstance(x, Tensor) else as_tensor(x, like=like) for x in inputs]
        self._check_inputs(tensors)
        arrays = [t.data for t in tensors]
        try:
            ys = self.forward(*arrays, **params)
        except (ValueError, IndexError) as e:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise type(e)(f"{self.name}: cannot apply to inputs of shapes {shapes}: {e}") from e
        single = not isinstance(ys, tuple)
        ys = self._as_arrays((ys,) if single else ys, arrays)
        outputs = [Tensor(y) for y in ys]
        if is_grad_enabled() and any(t.requires_grad for t in tensors):
            self.inputs = tensors
            self.outputs = [weakref.ref(o) for o in outputs]
            self.output_meta = [(o.shape, o.dtype) for o in outputs]
            self._link_saved(arrays, outputs)
            for o in outputs:
                o.requires_grad = True
                o.creator = self
        else:
            self._saved = None
        return outputs[0] if single else tuple(outputs)

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

    def _link_saved(self, arrays, outputs):
        from .tensor import Tensor
        saved = getattr(self, "_saved", None) or ()
        links = [(a, t) for a, t in zip(arrays, self.inputs)] + [(o.data, o) for o in outputs]
        out = []
        for s in saved:
            match = next((t for a, t in links if a is s), None)
            out.append(match if match is not None else (s if isinstance(s, Tensor) or s is None
                                                        else Tensor(s)))
        self._saved_tensors = tuple(out)
        self._saved = None

    def _as_arrays(self, ys, arrays):
        """NumPy turns 0-d results into scalars (np.exp(array(1.0)) is a float64): make
        them arrays again, and keep save_for_backward's identity with the outputs."""
        out = []
        for y in ys:
            if not hasattr(y, "__array_interface__") and not hasattr(y, "__cuda_array_interface__") \
                    or isinstance(y, np.generic):
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

    def _check_inputs(self, tensors):
        devices = {device_of(t.data) for t in tensors}
        if len(devices) > 1:
            desc = ", ".join(f"{tuple(t.shape)} on {device_of(t.data)}" for t in tensors)
            raise RuntimeError(f"{self.name}: inputs are on different devices ({desc}); "
                               "move them with .to('cpu') or .to('cuda') first")
        floats = {t.dtype for t in tensors if np.issubdtype(t.dtype, np.floating)}
        if len(floats) > 1:
            raise TypeError(
                f"{self.name}: mixed float dtypes {sorted(str(d) for d in floats)}; minigen does not "
                "promote silently - cast one side explicitly with .astype(...)")
        if floats:  # integer constants take the float dtype (documented promotion rule)
            (dtype,) = floats
            for t in tensors:
                if np.issubdtype(t.dtype, np.integer):
                    t.data = t.data.astype(dtype)

    def __repr__(self):
        return f"<{self.name}>"
