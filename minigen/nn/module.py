"""``Module``, ``Parameter`` and the containers ``Sequential``, ``ModuleList``, ``ModuleDict``.

A ``Module`` is a piece of a model: it holds ``Parameter``s (tensors the optimiser
updates), *buffers* (state saved with the model but not trained, such as BatchNorm's
running statistics) and child modules, and computes ``forward(...)``. Assigning an
attribute registers it, as in PyTorch::

    class MLP(Module):
        def __init__(self, rng):
            super().__init__()                          # must come first
            self.fc1 = Linear(2, 64, rng=rng)           # a child module
            self.fc2 = Linear(64, 1, rng=rng)
            self.scale = Parameter(np.ones(1, np.float32))
            self.register_buffer("steps", np.zeros((), np.float32))

        def forward(self, x):
            return self.fc2(self.fc1(x).relu()) * self.scale

    mlp.named_parameters()  ->  scale, fc1.weight, fc1.bias, fc2.weight, fc2.bias

Names are dotted paths; a module's own parameters come before its children's, each
group in assignment order. ``state_dict()`` adds the buffers and holds NumPy copies.

Conventions every layer in ``minigen.nn`` follows:

* **Random numbers.** A constructor that draws random initial weights takes a
  keyword-only ``rng``: a ``numpy.random.Generator`` (``autograd.rng(seed)``). There is
  no default and no global generator, so passing the same generator state always builds
  the same model. Layers with a fixed initialisation (norms, activations) take no
  ``rng``. ``Dropout`` takes its generator at construction or at call.
* **Dtype.** Constructors take ``dtype`` (default ``np.float32``). Inputs must have the
  same float dtype as the parameters (autograd never promotes silently); convert a whole
  model in place with ``astype(np.float64)`` / ``double()`` / ``float()``.
* **In place.** ``to``, ``astype`` and ``load_state_dict`` replace each Parameter's
  ``.data``, never the Parameter itself, so an optimiser built earlier keeps working.
* **Weight layout** is PyTorch's (``Linear.weight`` is ``(out_features, in_features)``),
  so a PyTorch state dict loads after ``.detach().numpy()`` of each tensor.
"""
import numpy as np

from autograd import Tensor, enter_scope, exit_scope, is_cupy, to_device

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict"]


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (``requires_grad`` is True).

    Args:
        data: array (its dtype is kept) or a Tensor (its data is used).
        requires_grad: set False to freeze it.
    """

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


class Module:
    """Base class of every layer and model. See the module docstring."""

    def __init__(self):
        # Registries hold names in assignment order; the objects live in __dict__ as
        # ordinary attributes, so ``self.fc1`` is a plain attribute lookup.
        object.__setattr__(self, "_param_names", [])
        object.__setattr__(self, "_buffer_names", [])
        object.__setattr__(self, "_module_names", [])
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        """``forward``, with this module as the autograd scope: ``print_tape(loss, names=model)``
        then names the layer behind each op."""
        previous = enter_scope(self)
        try:
            return self.forward(*args, **kwargs)
        finally:
            exit_scope(previous)

    # -- registration ---------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_param_names" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning "
                                 f"attribute {name!r}")
        if name in self._buffer_names and not isinstance(value, (Parameter, Module)):
            value = _as_buffer(value, like=getattr(self, name))  # still a buffer, on the same device
        else:
            self._unregister(name)
            if isinstance(value, Parameter):
                self._param_names.append(name)
            elif isinstance(value, Module):
                self._module_names.append(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._unregister(name)
        object.__delattr__(self, name)

    def _unregister(self, name):
        for names in (self._param_names, self._buffer_names, self._module_names):
            if name in names:
                names.remove(name)

    def register_buffer(self, name, value):
        """Register non-trained state saved in ``state_dict`` and converted by ``to``/``astype``.

        Args:
            name: attribute name.
            value: an array or Tensor (stored as a Tensor that does not require grad), or None.
        """
        self._unregister(name)
        self._buffer_names.append(name)
        object.__setattr__(self, name, _as_buffer(value))

    # -- traversal ------------------------------------------------------------------
    def children(self):
        """The direct child modules, in assignment order."""
        return [getattr(self, n) for n in self._module_names]

    def named_modules(self, prefix=""):
        """``(dotted name, module)`` for this module ('' names it) and every descendant."""
        out, seen, stack = [], set(), [(prefix, self)]
        while stack:  # depth-first, children in order
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append((name, m))
            stack.extend(reversed([(f"{name}.{n}" if name else n, getattr(m, n))
                                   for n in m._module_names]))
        return out

    def modules(self):
        """This module and every descendant (each once)."""
        return [m for _, m in self.named_modules()]

    def _named_tensors(self, kinds):
        out, seen = [], set()
        for prefix, m in self.named_modules():
            for kind in kinds:
                for n in getattr(m, kind):
                    t = getattr(m, n)
                    if t is not None and id(t) not in seen:  # shared (tied) tensors once
                        seen.add(id(t))
                        out.append((f"{prefix}.{n}" if prefix else n, t))
        return out

    def named_parameters(self):
        """``(dotted name, Parameter)`` pairs: own parameters first, then each child's."""
        return self._named_tensors(["_param_names"])

    def parameters(self):
        """All Parameters (each once, even when shared between submodules)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        """``(dotted name, Tensor)`` pairs of every registered buffer."""
        return self._named_tensors(["_buffer_names"])

    def num_parameters(self):
        """Total number of scalar parameters."""
        return sum(p.size for p in self.parameters())

    # -- modes and gradients ----------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and all below.

        Returns:
            self.
        """
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: Dropout is the identity, BatchNorm uses running statistics."""
        return self.train(False)

    def zero_grad(self):
        """Drop every parameter's ``.grad`` (set to None)."""
        for p in self.parameters():
            p.grad = None

    # -- state --------------------------------------------------------------------------
    def state_dict(self):
        """Parameters and buffers as ``{dotted name: NumPy array}`` (copies, on the CPU)."""
        return {name: np.array(t.numpy(), copy=True)
                for name, t in self._named_tensors(["_param_names", "_buffer_names"])}

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into the parameters and buffers, in place.

        Args:
            state: ``{dotted name: array}``, as ``state_dict`` returns.
            strict: if True, a key missing from ``state`` or one the module does not have
                is an error; if False those keys are skipped and returned.

        Returns:
            ``(missing_keys, unexpected_keys)``.

        Raises:
            RuntimeError: strict and keys differ (the message lists both sides), or a shape
                or float dtype differs (convert the module with ``astype`` first).
        """
        own = dict(self._named_tensors(["_param_names", "_buffer_names"]))
        state = {k: _to_numpy(v) for k, v in state.items()}
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        where = f"load_state_dict into {type(self).__name__}"
        if strict and (missing or unexpected):
            raise RuntimeError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")
        problems = []
        for name, t in own.items():
            if name not in state:
                continue
            if state[name].shape != t.shape:
                problems.append(f"{name}: shape {state[name].shape} in state, {t.shape} in the module")
            elif state[name].dtype != t.dtype and np.issubdtype(t.dtype, np.floating):
                problems.append(f"{name}: dtype {state[name].dtype} in state, {t.dtype} in the module")
        if problems:
            raise RuntimeError(f"{where}: " + "; ".join(problems))
        for name, t in own.items():
            if name in state:
                t.data = to_device(np.array(state[name], dtype=t.dtype, copy=True), t.device)
        return missing, unexpected

    # -- conversion (in place) ------------------------------------------------------------
    def _convert(self, fn):
        for _, t in self._named_tensors(["_param_names", "_buffer_names"]):
            t.data = fn(t.data)
            if t.grad is not None:
                t.grad = Tensor(fn(t.grad.data))
        return self

    def to(self, device):
        """Move every parameter and buffer to ``device`` ('cpu' or 'cuda'), in place.

        Returns:
            self.
        """
        return self._convert(lambda a: to_device(a, device))

    def astype(self, dtype):
        """Cast every floating parameter and buffer to ``dtype``, in place.

        Returns:
            self.
        """
        return self._convert(lambda a: a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a)

    def double(self):
        """``astype(np.float64)`` (gradchecks run in float64)."""
        return self.astype(np.float64)

    def float(self):
        """``astype(np.float32)``."""
        return self.astype(np.float32)

    # -- printing -------------------------------------------------------------------------
    def extra_repr(self):
        """The text between the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self):
        n = self.num_parameters()
        count = f"  # {n:,} parameter{'s' if n != 1 else ''}" if n else ""
        if not self._module_names:
            return f"{type(self).__name__}({self.extra_repr()}){count}"
        lines = [f"{type(self).__name__}({count}"] + ([f"  {self.extra_repr()}"] if self.extra_repr() else [])
        for name in self._module_names:
            child = repr(getattr(self, name)).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return "\n".join(lines) + "\n)"


def _as_buffer(value, like=None):
    """A buffer is a Tensor that does not require grad (or None); on ``like``'s device if given."""
    if value is None:
        return None
    if not (isinstance(value, Tensor) and not value.requires_grad):
        value = value.data if isinstance(value, Tensor) else value
        value = Tensor(value if is_cupy(value) else np.asarray(value))
    return value if like is None else value.to(like.device)


def _to_numpy(value):
    return np.asarray(value.numpy() if isinstance(value, Tensor) else value)


class ModuleList(Module):
    """A list of modules, registered under the names '0', '1', ...

    Args:
        modules: an iterable of Modules.
    """

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        """Add ``module`` at the end. Returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__} holds Modules, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def extend(self, modules):
        """Append each of ``modules``. Returns self."""
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(self.children()[i])
        return self.children()[i]

    def __len__(self):
        return len(self._module_names)

    def __iter__(self):
        return iter(self.children())


class Sequential(ModuleList):
    """Modules applied in order: ``forward(x) = m_n(... m_2(m_1(x)))``.

    Args:
        *modules: the Modules, first applied first.
    """

    def __init__(self, *modules):
        super().__init__(modules)

    def __getitem__(self, i):
        return Sequential(*self.children()[i]) if isinstance(i, slice) else self.children()[i]

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


class ModuleDict(Module):
    """Modules under string keys (each key becomes an attribute name).

    Args:
        modules: a dict ``{name: Module}`` (its order is kept).
    """

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict holds Modules, got {type(module).__name__} for {key!r}")
        setattr(self, key, module)

    def __getitem__(self, key):
        if key not in self._module_names:
            raise KeyError(f"{key!r} is not in this ModuleDict (keys: {self._module_names})")
        return getattr(self, key)

    def __contains__(self, key):
        return key in self._module_names

    def __len__(self):
        return len(self._module_names)

    def __iter__(self):
        return iter(list(self._module_names))

    def keys(self):
        return list(self._module_names)

    def values(self):
        return self.children()

    def items(self):
        return [(k, getattr(self, k)) for k in self._module_names]
