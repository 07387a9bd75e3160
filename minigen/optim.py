"""Optimisers: SGD (momentum, Nesterov), Adam, AdamW, RMSprop, and gradient clipping.

An optimiser holds references to parameters (Tensors with ``requires_grad=True``) and
updates their arrays *in place* from ``p.grad``::

    opt = Adam(model.parameters(), lr=1e-3)
    for xb in loader:
        opt.zero_grad()                 # p.grad = None for every parameter
        loss = model.loss(xb)
        loss.backward()                 # fills p.grad
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()                      # p.data <- update(p.data, p.grad.data, state)

Notation in the docstrings: ``g`` gradient, ``p`` parameter, ``t`` step count
(1 on the first step), ``lr`` learning rate, ``wd`` weight decay.

Implementation notes, for readers who care about speed:

* Updates run on raw arrays with the array module ``xp`` of each parameter (NumPy on
  the CPU, CuPy on the GPU), outside autograd: an update is not part of any graph.
* Every NumPy call writes into an existing buffer (``out=`` or an in-place operator),
  so a step allocates nothing after the first one (except the L2 ``weight_decay`` term
  of RMSprop). Each line is one pass over memory; the plain formula stands beside it
  in a comment.
* Adam and AdamW, which every model trains with, run as one fused pass per parameter
  (``autograd.ops.adam_step``, i.e. ``kernels.adam_step``: Numba on the CPU, one CUDA
  kernel on the GPU) instead of about ten NumPy passes; its NumPy twin,
  ``kernels/reference/optim.py``, is the same update written line by line. Both give
  the same bits, so a checkpoint's state and a resumed run are unchanged by it.
* Gradients are read, never written: two leaves may share one gradient array (the
  engine hands ``gy`` itself to both inputs of an ``Add``), so an in-place change to
  one ``p.grad`` could silently change another.
* ``state_dict()`` holds NumPy arrays (copied from the GPU if needed) plus plain Python
  numbers, so a checkpoint is device-independent; ``load_state_dict`` moves arrays to
  each parameter's device.

Param groups (optional, as in PyTorch): pass a list of dicts instead of parameters,
``[{"params": enc.parameters()}, {"params": dec.parameters(), "lr": 1e-4}]``; keys a
group does not set take the optimiser's defaults. Schedules set ``group["lr"]``.
"""
import math
from numbers import Real

import numpy as np

from autograd import Tensor, as_numpy, get_array_module, is_cupy
from autograd.ops import adam_step

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm", "grad_norm"]


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``step``, state dicts.

    A subclass sets its hyper-parameter defaults and implements ``update(p, g, state,
    group, buf)``, which changes ``p`` (an array) in place from the gradient array ``g``,
    using ``buf`` (an array like ``p``, reused across steps) for intermediate results.
    ``init_state(p, group)`` gives a parameter's state before its first step.

    Args:
        params: an iterable of parameters, or of dicts ``{"params": [...], **hyper}``.
        defaults: hyper-parameter defaults, e.g. ``{"lr": 1e-3}``.

    Raises:
        ValueError: for no parameters, or a hyper-parameter outside ``RULES`` (lr <= 0, betas outside [0, 1), eps, weight_decay or
            momentum < 0); the message names the argument, the value and what is allowed.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Tensors) and
            every hyper-parameter.
        state: dict from parameter index (its position over all groups, in order) to
            that parameter's state dict (arrays and step counts), filled lazily.
    """

    scratch = True  # update() gets a work buffer like p (Adam's fused kernel needs none)

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        name = type(self).__name__
        params = list(params)
        if not params:
            raise ValueError(f"{name}: params is empty; pass the parameters to train, e.g. "
                             "model.parameters() of a model that has some")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        seen = set()
        for k, group in enumerate(params):
            where = f" (param group {k})" if len(params) > 1 else ""
            group = {**self.defaults, **group, "params": list(group["params"])}
            if not group["params"]:
                raise ValueError(f"{name}: params is empty{where}")
            check_hyperparameters(name, group, where)
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
            for p in group["params"]:
                if not getattr(p, "requires_grad", False):
                    raise ValueError(f"{type(self).__name__}: a parameter of shape "
                                     f"{getattr(p, 'shape', '?')} has requires_grad=False")
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter appears twice")
                seen.add(id(p))
            self.param_groups.append(group)
        self.state = {}
        self._scratch = {}  # index -> work buffer, re-created on demand, never saved

    # -- iteration ---------------------------------------------------------------------
    def _indexed_params(self):
        """(index, parameter, group) over all groups; the index keys ``self.state``."""
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield i, p, group
                i += 1

    @property
    def lr(self):
        """The learning rate of the first group (what a schedule sets and a log shows)."""
        return self.param_groups[0]["lr"]

    # -- the training-loop API -------------------------------------------------------------
    def zero_grad(self):
        """Forget every gradient (``p.grad = None``); the next backward starts from zero."""
        for _, p, _ in self._indexed_params():
            p.grad = None

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        for i, p, group in self._indexed_params():
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.data.shape:
                raise ValueError(f"gradient of shape {g.shape} for a parameter of shape {p.data.shape}")
            if i not in self.state:
                self.state[i] = self.init_state(p.data, group)
            self.update(p.data, g, self.state[i], group, self._buffer(i, p.data) if self.scratch else None)

    def _buffer(self, i, p):
        """A scratch array like ``p`` (reused every step, so updates allocate nothing)."""
        buf = self._scratch.get(i)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype or type(buf) is not type(p):
            buf = self._scratch[i] = get_array_module(p).empty_like(p)
        return buf

    # -- subclass API ----------------------------------------------------------------------
    def init_state(self, p, group):
        """The state of one parameter before its first step (a dict of arrays/numbers)."""
        return {}

    def update(self, p, g, state, group, buf):
        """Update the array ``p`` in place from gradient ``g``; ``buf`` is scratch like ``p``."""
        raise NotImplementedError(f"{type(self).__name__}.update")

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self):
        """Hyper-parameters of every group and the state of every parameter.

        Returns:
            ``{"param_groups": [{hyper..., "params": [indices]}], "state": {"0": {...}}}``
            with NumPy arrays (copied from the GPU) and Python numbers only.
        """
        groups, i = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(i, i + n))})
            i += n
        state = {str(k): {name: (as_numpy(v).copy() if _is_array(v) else v) for name, v in s.items()}
                 for k, s in self.state.items()}
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and per-parameter state saved by ``state_dict``.

        Arrays are copied onto each parameter's device and dtype.

        Raises:
            ValueError: if the number of groups or parameters, or a state shape, differs.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(s["params"]) != len(g["params"]) for s, g in zip(groups, self.param_groups)):
            raise ValueError("cannot load optimiser state: the saved parameter groups have sizes "
                             f"{[len(s['params']) for s in groups]}, this optimiser has "
                             f"{[len(g['params']) for g in self.param_groups]}")
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        params = {i: p for i, p, _ in self._indexed_params()}
        self.state = {}
        for key, s in state_dict["state"].items():
            p = params[int(key)].data
            xp = get_array_module(p)
            restored = {}
            for name, v in s.items():
                if _is_array(v):
                    if v.shape != p.shape:
                        raise ValueError(f"optimiser state {name!r} of parameter {key} has shape "
                                         f"{v.shape}, the parameter has shape {p.shape}")
                    v = xp.array(v, dtype=p.dtype)  # a copy, on the parameter's device
                restored[name] = v
            self.state[int(key)] = restored
        self._scratch = {}

    def __repr__(self):
        hyper = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        n = sum(len(g["params"]) for g in self.param_groups)
        return f"{type(self).__name__}({n} parameters, {hyper})"


def _is_array(v):
    return isinstance(v, np.ndarray) or is_cupy(v)


# ----------------------------------------------------------------------------- SGD


# What each hyper-parameter may be, as PyTorch checks them (plus lr > 0: an lr of 0 or
# less never trains, and -1 trains on NaN): name -> (test, the allowed values in words).
RULES = {
    "lr": (lambda v: v > 0 and math.isfinite(v), "a finite number > 0"),
    "momentum": (lambda v: v >= 0 and math.isfinite(v), "a finite number >= 0 (usually 0.9)"),
    "weight_decay": (lambda v: v >= 0 and math.isfinite(v), "a finite number >= 0"),
    "eps": (lambda v: v >= 0 and math.isfinite(v), "a finite number >= 0"),
    "alpha": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "betas": (lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "a pair (beta1, beta2), each in [0, 1)"),
}


def check_hyperparameters(optimizer, group, where=""):
    """ValueError naming the argument, its value and what is allowed (``RULES``).

    Args:
        optimizer: the optimiser's name, for the message.
        group: a param group's hyper-parameters.
        where: e.g. " (param group 1)".
    """
    for key, (ok, allowed) in RULES.items():
        if key not in group:
            continue
        value = group[key]
        try:
            vals = tuple(value) if key == "betas" else (value,)
            good = all(isinstance(v, Real) and not isinstance(v, bool) for v in vals) and \
                ok(vals if key == "betas" else value)
        except TypeError:  # betas that are not a sequence
            good = False
        if not good:
            raise ValueError(f"{optimizer}: {key}={value!r}{where} is invalid; {key} must be {allowed}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    With ``b`` the momentum buffer (PyTorch's convention; Sutskever et al. 2013)::

        g <- g + wd * p                      (weight decay as an L2 penalty)
        b <- g                    on the first step,
        b <- momentum * b + g     afterwards
        d <- g + momentum * b     (Nesterov)   or   d <- b   (classical momentum)
        p <- p - lr * d

    With ``momentum=0`` this is plain ``p <- p - lr * g``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        momentum: momentum factor >= 0 (usually 0.9).
        nesterov: use Nesterov's look-ahead form (needs momentum > 0).
        weight_decay: L2 coefficient ``wd``.
    """

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: nesterov=True needs momentum > 0, got momentum={momentum!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def update(self, p, g, state, group, buf):
        xp = get_array_module(p)
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = xp.add(g, xp.multiply(p, wd, out=buf), out=buf)      # g = g + wd * p
        if mu:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = g.copy()              # b = g          (first step)
            else:
                b *= mu                                               # b = mu * b + g
                b += g
            if group["nesterov"]:
                p -= xp.multiply(g, lr, out=buf)                      # p = p - lr * (g + mu * b)
                p -= xp.multiply(b, lr * mu, out=buf)
                return
            g = b                                                     # d = b
        p -= xp.multiply(g, lr, out=buf)                              # p = p - lr * d


# ----------------------------------------------------------------------------- Adam / AdamW


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015, Algorithm 1), with bias correction.

    ::

        m <- beta1 * m + (1 - beta1) * g           first-moment estimate
        v <- beta2 * v + (1 - beta2) * g^2         second raw-moment estimate
        m_hat = m / (1 - beta1^t)                  bias correction (m, v start at 0)
        v_hat = v / (1 - beta2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    computed, as PyTorch does, as ``p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) /
    sqrt(1 - beta2^t) + eps)`` (the same quantity, without forming m_hat and v_hat).

    ``weight_decay`` here is an L2 penalty added to the gradient (``g <- g + wd * p``),
    which Adam then rescales; for decay that is not rescaled use ``AdamW``.

    Args:
        params: parameters or param groups.
        lr: learning rate (step size alpha in the paper).
        betas: (beta1, beta2), decay rates of the moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 coefficient ``wd``.
    """

    decoupled = False  # AdamW sets True
    scratch = False    # the fused update needs no work buffer

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def init_state(self, p, group):
        xp = get_array_module(p)
        return {"step": 0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def update(self, p, g, state, group, buf):
        # One fused pass over p, g, m, v (kernels/cpu/optim.py; kernels/gpu/optim.py on a GPU).
        # Its NumPy twin, kernels/reference/optim.py, is this update written line by line
        # with the equations beside it: read that one.
        (beta1, beta2) = group["betas"]
        state["step"] += 1
        adam_step(p, g, state["exp_avg"], state["exp_avg_sq"], lr=group["lr"], beta1=beta1, beta2=beta2,
                  eps=group["eps"], weight_decay=group["weight_decay"], decoupled=self.decoupled,
                  step=state["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019, Algorithm 2).

    The decay shrinks the parameter directly, before the Adam step, instead of being
    added to the gradient (where Adam's per-coordinate scaling would weaken it)::

        p <- p - lr * wd * p
        p <- Adam step of p with gradient g (no L2 term)

    (As in PyTorch, the decay is multiplied by ``lr``, so a schedule on ``lr`` also
    schedules the decay.)

    Args:
        params: parameters or param groups.
        lr, betas, eps: as for ``Adam``.
        weight_decay: decoupled decay coefficient ``wd`` (default 0.01, as in PyTorch).
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# ----------------------------------------------------------------------------- RMSprop


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012, lecture 6e), optionally centred (Graves, 2013).

    ::

        g <- g + wd * p                                (L2 weight decay)
        v <- alpha * v + (1 - alpha) * g^2             running mean of squared gradients
        c <- alpha * c + (1 - alpha) * g               (centred only)
        s  = v - c^2   (centred)   or   s = v
        d  = g / (sqrt(s) + eps)
        b <- momentum * b + d;  d = b                  (if momentum > 0)
        p <- p - lr * d

    Args:
        params: parameters or param groups.
        lr: learning rate.
        alpha: decay of the running averages.
        eps: added to the denominator.
        weight_decay: L2 coefficient.
        momentum: momentum factor (0: none).
        centered: divide by an estimate of the gradient's variance instead of its
            second moment.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def init_state(self, p, group):
        xp = get_array_module(p)
        state = {"step": 0, "square_avg": xp.zeros_like(p)}
        if group["momentum"]:
            state["momentum_buffer"] = xp.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p)
        return state

    def update(self, p, g, state, group, buf):
        xp = get_array_module(p)
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p                   # g = g + wd * p
        v = state["square_avg"]
        v *= alpha                                              # v = alpha * v + (1 - alpha) * g^2
        xp.multiply(g, g, out=buf)
        buf *= 1.0 - alpha
        v += buf
        if group["centered"]:
            c = state["grad_avg"]
            c *= alpha                                          # c = alpha * c + (1 - alpha) * g
            c += xp.multiply(g, 1.0 - alpha, out=buf)
            denom = xp.subtract(v, xp.multiply(c, c, out=buf), out=buf)   # s = v - c^2
            denom = xp.sqrt(denom, out=buf)
        else:
            denom = xp.sqrt(v, out=buf)
        denom += eps                                            # sqrt(s) + eps
        d = xp.divide(g, denom, out=buf)                        # d = g / (sqrt(s) + eps)
        if group["momentum"]:
            b = state["momentum_buffer"]
            b *= group["momentum"]                              # b = momentum * b + d
            b += d
            p -= xp.multiply(b, lr, out=buf)                    # p = p - lr * b
        else:
            d *= lr
            p -= d                                              # p = p - lr * d


# ----------------------------------------------------------------------------- clipping


def grad_norm(params):
    """The global L2 norm of all gradients, ``sqrt(sum_p ||g_p||^2)``, as a Python float.

    Parameters without a gradient are skipped. Each ``||g_p||^2`` is a dot product in
    the gradient's own dtype (as PyTorch does); the sum over parameters is a float.
    """
    total = 0.0
    for p in params:
        if p.grad is not None:
            g = p.grad.data.ravel()
            total += float(get_array_module(g).dot(g, g))
    return math.sqrt(total)


def clip_grad_norm(params, max_norm):
    """Rescale gradients so that their global L2 norm is at most ``max_norm``.

    ::

        n = sqrt(sum_p ||g_p||^2)
        g_p <- g_p * min(1, max_norm / (n + 1e-6))     for every p

    (The 1e-6 is PyTorch's, so a norm of exactly ``max_norm`` is scaled by just under 1.)
    Clipped gradients are new arrays: a gradient may be shared by two parameters,
    so it is never scaled in place.

    Args:
        params: an iterable of parameters (e.g. ``model.parameters()``).
        max_norm: the largest norm allowed.

    Returns:
        The norm ``n`` before clipping, as a Python float (worth logging).
    """
    params = [p for p in params if p.grad is not None]
    total = grad_norm(params)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            p.grad = Tensor(p.grad.data * coef)                 # g <- g * coef (a new array)
    return total
