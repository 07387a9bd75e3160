"""The backward engine: order the graph, then apply each Function's backward once.

    toposort(y)      the Functions from y back to the leaves, each after every
                     Function that uses its outputs (iterative: no recursion limit)
    backward(y, gy)  accumulate dy/dleaf into every leaf's ``.grad``
    grad(ys, xs)     return dy/dx without touching ``.grad`` (used by gradgradcheck,
                     gradient penalties)

Reading the loop in ``_run`` is reading reverse-mode autodiff: for each Function,
gather the gradients of its outputs (summed over every consumer), call its
backward, reduce each input gradient to the input's shape, pass it on.
"""
from operator import attrgetter

from .broadcast import reduce_to_shape
from .function import grad_key
from .mode import set_grad_enabled


def toposort(root):
    """Functions reachable from ``root`` (a Tensor or list of Tensors), in backward order.

    Every Function is recorded after the Functions that made its inputs (a Tensor exists
    before anything consumes it), so newest first -- descending ``Function.seq`` -- puts
    each Function after every Function that uses its outputs. This is PyTorch's order
    (its ``sequence_nr``). One iterative walk finds the reachable Functions; a sort
    orders them. Functions hash by identity, so a set holds them.
    """
    roots = root if isinstance(root, (list, tuple)) else [root]
    stack = [t.creator for t in roots if t.creator is not None]
    seen = set(stack)
    while stack:
        f = stack.pop()
        for x in f.inputs:
            p = x.creator
            if p is not None and p not in seen:
                seen.add(p)
                stack.append(p)
    return sorted(seen, key=attrgetter("seq"), reverse=True)


def backward(y, gy=None, retain_graph=False, create_graph=False):
    """Backpropagate from ``y``; gradients of leaves are *added* to their ``.grad``."""
    from .tensor import Tensor
    if not y.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                           "computation had requires_grad=True (or it ran under no_grad())")
    gy = _initial_grad(y, gy)
    grads = _run([y], [gy], retain_graph, create_graph, capture=None)
    # Each leaf must own its .grad array: Add's backward hands the same gy to both inputs,
    # Reshape returns views, and the root gradient may be the caller's array. An optimizer
    # or a student writing ``p.grad.data *= 0.5`` must not change another tensor's gradient.
    handed_out = {id(gy.data)}
    for t, g in grads.values():  # leaves (and tensors with retain_grad)
        if create_graph:
            t.grad = g if t.grad is None else t.grad + g
        elif t.grad is not None:
            t.grad = Tensor(t.grad.data + g.data)
        else:
            data = g.data
            base = getattr(data, "base", None)
            if id(data) in handed_out or (base is not None and id(base) in handed_out) \
                    or not data.flags.c_contiguous:
                data = data.copy()  # C order: optimizers stream over contiguous gradients
            handed_out.update((id(data), id(base)) if base is not None else (id(data),))
            t.grad = Tensor(data)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=True):
    """Return d(outputs)/d(inputs) as a list of Tensors, leaving every ``.grad`` untouched.

    Args:
        outputs: a Tensor or list of Tensors.
        inputs: a Tensor or list of Tensors (leaves or intermediate).
        grad_outputs: upstream gradients (default: ones for one-element outputs).
        retain_graph: defaults to ``create_graph``.
        create_graph: record the backward pass, for higher-order derivatives.
        allow_unused: inputs the outputs do not depend on get zeros (else an error).
    """
    from .tensor import Tensor
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    gys = [_initial_grad(o, g) for o, g in zip(outputs, grad_outputs)]
    retain = create_graph if retain_graph is None else retain_graph
    captured = _run(outputs, gys, retain, create_graph, capture={grad_key(x): x for x in inputs})
    result = []
    for x in inputs:
        if id(x) in captured:
            result.append(captured[id(x)][1])
        elif allow_unused:
            result.append(Tensor(x.xp.zeros_like(x.data)))
        else:
            raise RuntimeError(f"an input of shape {x.shape} is not used to compute the outputs")
    return result[0] if single else result


def _initial_grad(y, gy):
    from .tensor import Tensor, as_tensor
    if gy is None:
        if y.size != 1:
            raise RuntimeError(f"backward() without gy needs a one-element output, got shape {y.shape}; "
                               "pass gy (the upstream gradient, same shape as the output)")
        return Tensor(y.xp.ones_like(y.data))
    gy = as_tensor(gy, like=y)
    if gy.shape != y.shape:
        raise ValueError(f"gy has shape {gy.shape} but the output has shape {y.shape}")
    return gy


def _run(roots, root_grads, retain_graph, create_graph, capture):
    """The backward loop. Returns {id(t): (t, grad)} for the leaves and the tensors with
    ``retain_grad``, or, given ``capture`` ({grad_key: Tensor}), for those Tensors.

    Gradients are keyed by ``grad_key``: a leaf Tensor itself, or (creator, output index)
    for an intermediate result, whose Tensor the graph does not keep (``Edge``).
    """
    grads = {}  # grad_key -> accumulated gradient (Functions and Tensors hash by identity)
    for t, g in zip(roots, root_grads):
        key = grad_key(t)
        grads[key] = g if key not in grads else grads[key] + g
    result = {}
    with set_grad_enabled(create_graph):
        for f in toposort(list(roots)):
            # 1) the gradient of each output, summed over all its consumers
            gys, missing = [], False
            for k in range(len(f.output_meta)):
                g = grads.pop((f, k), None)
                if g is None:
                    missing = True
                elif f.kept or capture:  # hooks, retain_grad, grad()'s inputs
                    g = _output_grad_seen(f, k, g, capture, result)
                gys.append(g)
            if missing:  # outputs nobody used (e.g. one piece of a split) get zeros
                gys = [g if g is not None else _zeros_for(f, k, gys) for k, g in enumerate(gys)]
            if create_graph and f.differentiable_backward is False:
                raise NotImplementedError(
                    f"{f.name}: this fused op has no differentiable backward, so double backward "
                    f"(create_graph=True) through it is not supported; use {f.composite} instead")
            # 2) the op's own backward: vector-Jacobian products for its inputs
            gxs = f.backward(*gys)
            gxs = gxs if type(gxs) is tuple else (gxs,)
            if len(gxs) != len(f.inputs):
                raise RuntimeError(f"{f.name}.backward returned {len(gxs)} gradients for "
                                   f"{len(f.inputs)} inputs")
            # 3) reduce broadcast gradients to each input's shape and pass them on
            for x, gx in zip(f.inputs, gxs):  # x: a leaf Tensor or an Edge
                if gx is None or not x.requires_grad:
                    continue
                data = gx.data
                if data.shape != x.shape:
                    gx = reduce_to_shape(gx, x.shape)
                if data.dtype is not x.dtype and data.dtype != x.dtype:
                    gx = gx.astype(x.dtype)
                key = x if x.creator is None else (x.creator, x.index)
                prev = grads.get(key)
                grads[key] = gx if prev is None else prev + gx
            if not retain_graph:
                f.release()
    for t, g in grads.items():  # what is left are leaves
        if type(t) is not tuple and (capture is None or t in capture):
            result[id(t)] = (t, _apply_hooks(t, g))
    if capture is None:
        result = {k: v for k, v in result.items() if v[0].creator is None or v[0].retains_grad}
    return result


def _output_grad_seen(f, k, g, capture, result):
    """The gradient of output ``k`` of ``f`` passes the hooks of that output (a Tensor in
    ``f.kept``); it is recorded in ``result`` for ``retain_grad`` and for ``grad()``'s inputs."""
    for o in f.kept:
        if o.output_nr == k:
            g = _apply_hooks(o, g)
            if o.retains_grad:
                result[id(o)] = (o, g)
    o = capture.get((f, k)) if capture else None
    if o is not None:
        result[id(o)] = (o, g)
    return g


def _apply_hooks(t, g):
    if not t._hooks:
        return g
    for hook in list(t._hooks):
        new = hook(g)
        if new is not None:
            g = new
    return g


def _zeros_for(f, k, gys):
    """A zero gradient for output ``k`` of ``f`` that nobody used (e.g. one part of a split)."""
    from .tensor import Tensor
    shape, dtype = f.output_meta[k]
    like = next((g for g in gys if g is not None), None)
    xp = like.xp if like is not None else _input_module(f)
    return Tensor(xp.zeros(shape, dtype=dtype))


def _input_module(f):
    """The array module (NumPy or CuPy) of ``f``'s computation, from a leaf input or saved array."""
    from kernels.backend import get_array_module
    for x in list(f.inputs) + list(getattr(f, "_saved_tensors", None) or ()):
        if x is not None and hasattr(x, "data"):
            return get_array_module(x.data)
    return get_array_module(None)
