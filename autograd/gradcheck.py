"""Gradient checking by central finite differences, in float64 (public API).

For a function ``y = fn(*inputs)`` we check the engine's vector-Jacobian product
against finite differences of the scalar objective

    L(inputs) = sum_i <u_i, y_i>        u_i random normal, never ones

(a ones seed would hide a backward that forgets ``* gy``). The numerical
derivative of L along a perturbation ``v`` of one input is

    dL/dv ~= (L(x + eps v) - L(x - eps v)) / (2 eps)

*Elementwise* mode takes ``v`` = each unit vector in turn (2 forwards per element:
the teachable version). *Directional* mode takes a few random ``v`` per input and
compares with ``<dL/dx, v>`` (2 forwards per direction: what makes conv layers
checkable). Every floating input and every tensor in ``params`` is checked, cast to
float64 for the duration of the check. A failure names what failed: ``input 0``, or
the parameter's dotted name when ``params`` carries names (``decoder.head.weight``).

``gradgradcheck`` checks second derivatives by running ``gradcheck`` on the
function ``(inputs, u) -> dL/dinputs`` built with ``create_graph=True``.
"""
import numpy as np

from .engine import grad
from .mode import enable_grad, no_grad
from .tensor import Tensor
from kernels.backend import device_of, to_device


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree."""


def gradcheck(fn, inputs, params=(), eps=1e-6, atol=1e-6, rtol=1e-5, mode="auto",
              n_directions=2, seed=0, raise_exception=True):
    """Compare ``fn``'s backward with finite differences on every input and parameter.

    Args:
        fn: callable taking ``*inputs`` and returning a Tensor or a tuple of Tensors.
        inputs: Tensors or arrays; floating ones are checked (cast to float64 copies),
            others (integer indices, boolean masks) are passed through unchanged.
        params: extra Tensors ``fn`` reads, cast to float64 during the check, checked too,
            and restored afterwards: a Module (its ``named_parameters()``), a dict
            name -> Tensor, an iterable of ``(name, Tensor)`` pairs, or of Tensors (named
            ``parameter k``). Generators are materialised first.
        eps: finite-difference step.
        atol, rtol: pass when ``|analytic - numeric| <= atol + rtol * |numeric|``.
        mode: 'elementwise', 'directional', or 'auto' (elementwise up to 2000 elements).
        n_directions: random directions per checked tensor in directional mode.
        seed: seed of the upstream gradients and directions.
        raise_exception: raise GradcheckError on failure (else return False).

    Returns:
        True when every checked tensor passes.
    """
    rng = np.random.default_rng(seed)
    named = _named_params(params)
    params = [p for _, p in named]
    args, checked = _float64_inputs(inputs)
    names = [f"input {i}" for i, a in enumerate(args) if any(a is c for c in checked)]
    names += [f"parameter {n}" for n, _ in named]
    saved_params = _params_to_float64(params)
    try:
        checked = checked + params
        if not checked:
            raise ValueError("gradcheck: no floating-point input or parameter to check")
        with no_grad():
            outs = _as_tuple(fn(*args))
        us = [Tensor(to_device(rng.standard_normal(o.shape).astype(o.dtype), device_of(o.data))) for o in outs]

        def objective():
            with no_grad():
                return float(sum(float((o.data * u.data).sum()) for o, u in zip(_as_tuple(fn(*args)), us)))

        outs = _as_tuple(fn(*args))
        L = None
        for o, u in zip(outs, us):
            if o.requires_grad:
                term = (o * u).sum()
                L = term if L is None else L + term
        if L is None:
            analytic = [np.zeros(t.shape) for t in checked]
        else:
            analytic = [g.numpy() for g in grad(L, checked)]
        n_total = sum(t.size for t in checked)
        if mode == "auto":
            mode = "elementwise" if n_total <= 2000 else "directional"
        for name, t, g in zip(names, checked, analytic):
            if mode == "elementwise":
                ok, report = _check_elementwise(objective, t, g, eps, atol, rtol)
            elif mode == "directional":
                ok, report = _check_directional(objective, t, g, eps, atol, rtol, n_directions, rng)
            else:
                raise ValueError(f"gradcheck: unknown mode {mode!r}")
            if not ok:
                msg = f"gradcheck FAILED for {name} (shape {t.shape}, {mode} mode): {report}"
                if raise_exception:
                    raise GradcheckError(msg)
                return False
        return True
    finally:
        _restore_params(params, saved_params)


def gradgradcheck(fn, inputs, params=(), eps=1e-6, atol=1e-5, rtol=1e-4, mode="auto", seed=0,
                  raise_exception=True):
    """Check second derivatives: gradcheck of ``(inputs, u) -> d<u, fn(inputs)>/d(inputs)``.

    The first-order gradient is built with ``create_graph=True``, so this verifies that
    every backward is itself differentiable and correct. Like HIPS autograd's
    ``check_grads(order=2)`` it first checks order 1: a wrong first-order backward is
    self-consistent at order 2 (its own derivative matches it), so order 2 alone cannot
    catch it. Arguments as ``gradcheck``.
    """
    named = _named_params(params)
    params = [p for _, p in named]
    if not gradcheck(fn, inputs, params=named, eps=eps, atol=atol, rtol=rtol, mode=mode, seed=seed,
                     raise_exception=raise_exception):
        return False
    rng = np.random.default_rng(seed + 1)
    args, checked = _float64_inputs(inputs)
    saved_params = _params_to_float64(params)
    try:
        with no_grad():
            outs = _as_tuple(fn(*args))
    finally:
        _restore_params(params, saved_params)
    us = [to_device(rng.standard_normal(o.shape), device_of(o.data)) for o in outs]
    float_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    n = len(args)

    def first_order(*xs_and_us):
        xs, u_list = list(xs_and_us[:n]), xs_and_us[n:]
        targets = [xs[i] for i in float_pos] + params
        with enable_grad():  # the first-order graph is needed even while gradcheck evaluates
            ys = _as_tuple(fn(*xs))
            L = None
            for y, u in zip(ys, u_list):
                if y.requires_grad:
                    term = (y * u.astype(y.dtype)).sum()
                    L = term if L is None else L + term
            if L is None:
                return tuple(Tensor(np.zeros(t.shape)) for t in targets)
            return tuple(grad(L, targets, create_graph=True))

    return gradcheck(first_order, list(args) + us, params=named, eps=eps, atol=atol, rtol=rtol,
                     mode=mode, seed=seed + 2, raise_exception=raise_exception)


def _named_params(params):
    """``[(name, Tensor)]`` from a Module, a dict, ``(name, Tensor)`` pairs or Tensors."""
    if hasattr(params, "named_parameters"):
        items = list(params.named_parameters())
    elif isinstance(params, dict):
        items = list(params.items())
    else:
        items = [p if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) else (str(k), p)
                 for k, p in enumerate(list(params))]  # list(): a generator is read once, here
    for name, p in items:
        if not isinstance(p, Tensor):
            raise TypeError(f"gradcheck: parameter {name} must be a Tensor, got {type(p).__name__}")
    return items


def _as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def _is_float(a):
    return np.issubdtype(a.dtype, np.floating)


def _float64_inputs(inputs):
    args, checked = [], []
    for x in inputs:
        data = x.data if isinstance(x, Tensor) else x
        if hasattr(data, "dtype") and _is_float(data):
            t = Tensor(_float64_copy(data), requires_grad=True)
            args.append(t)
            checked.append(t)
        else:
            args.append(x)
    return args, checked


def _float64_copy(a):
    """A float64 copy of array ``a`` on its own device (a CuPy input is checked on the GPU)."""
    return to_device(np.array(Tensor(a).numpy(), dtype=np.float64), device_of(a))


def _params_to_float64(params):
    saved = []
    for p in params:
        saved.append((p.data, p.requires_grad))
        p.data = _float64_copy(p.data)
        p.requires_grad = True
    return saved


def _restore_params(params, saved):
    for p, (data, req) in zip(params, saved):
        p.data, p.requires_grad = data, req


def _check_elementwise(objective, t, g, eps, atol, rtol):
    numeric = np.zeros(t.shape)
    flat = t.data.reshape(-1)  # a view: writing it perturbs t in place
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        f_plus = objective()
        flat[i] = orig - eps
        f_minus = objective()
        flat[i] = orig
        numeric.reshape(-1)[i] = (f_plus - f_minus) / (2 * eps)
    err = np.abs(g - numeric) - (atol + rtol * np.abs(numeric))
    if t.size == 0 or err.max() <= 0:
        return True, ""
    worst = np.unravel_index(np.argmax(err), t.shape)
    return False, (f"worst index {tuple(int(i) for i in worst)}: analytic {g[worst]:.10g}, "
                   f"numeric {numeric[worst]:.10g}, |diff| {abs(g[worst] - numeric[worst]):.3g} "
                   f"(atol {atol}, rtol {rtol})")


def _check_directional(objective, t, g, eps, atol, rtol, n_directions, rng):
    orig = t.data.copy()
    for d in range(n_directions):
        v = rng.standard_normal(t.shape)
        v /= max(np.linalg.norm(v), 1e-300)
        v_dev = to_device(v, device_of(t.data))
        t.data[...] = orig + eps * v_dev
        f_plus = objective()
        t.data[...] = orig - eps * v_dev
        f_minus = objective()
        t.data[...] = orig
        numeric = (f_plus - f_minus) / (2 * eps)
        analytic = float((g * v).sum())
        if abs(analytic - numeric) > atol + rtol * abs(numeric):
            return False, (f"direction {d}: analytic <grad, v> {analytic:.10g}, numeric {numeric:.10g}, "
                           f"|diff| {abs(analytic - numeric):.3g} (atol {atol}, rtol {rtol})")
    return True, ""
