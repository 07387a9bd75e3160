"""Learning-rate schedules and an exponential moving average (EMA) of weights.

A schedule multiplies each param group's *base* learning rate (its ``lr`` when the
schedule was made) by a factor that depends on the number of optimiser steps taken,
``t = 0, 1, 2, ...``, and writes the result into ``group["lr"]``::

    opt = Adam(model.parameters(), lr=1e-3)
    sched = WarmupCosine(opt, warmup_steps=100, total_steps=10_000)
    for xb in loader:
        ...; opt.step(); sched.step()      # the lr of step t is base_lr * sched.factor(t)

=================  ==============================================================
ConstantLR         factor(t) = 1
StepLR             factor(t) = gamma ** floor(t / step_size)
CosineLR           factor(t) = m + (1 - m) * (1 + cos(pi * min(t, T) / T)) / 2
WarmupCosine       factor(t) = (t + 1) / W                         for t < W
                   factor(t) = cosine above over t - W, T - W      for t >= W
=================  ==============================================================

(``T`` total steps, ``W`` warm-up steps, ``m`` the final factor ``min_factor``;
cosine annealing is Loshchilov & Hutter 2017, SGDR, without restarts; linear warm-up
as in Goyal et al. 2017.) Each schedule has ``state_dict``/``load_state_dict`` so a
resumed run continues the curve where it stopped. ``get_schedule(name, opt, ...)``
builds one by name for configs and the command line.

``EMA`` keeps ``shadow <- decay * shadow + (1 - decay) * p`` for every parameter
(Polyak averaging; DDPM samples from the EMA weights with decay 0.9999).
"""
import contextlib
import math

from autograd import as_numpy, get_array_module

__all__ = ["Schedule", "ConstantLR", "StepLR", "CosineLR", "WarmupCosine", "get_schedule",
           "SCHEDULES", "EMA"]


def _check(owner, name, value, ok, allowed):
    """ValueError naming the argument, its value and what is allowed, unless ``ok``."""
    if not ok:
        raise ValueError(f"{owner}: {name}={value!r} is invalid; {name} must be {allowed}")


class Schedule:
    """Base class: ``factor(t)`` times each group's base learning rate.

    Args:
        optimizer: a ``minigen.optim.Optimizer``; its groups' current ``lr`` become
            the base learning rates, and the factor at ``t = 0`` is applied at once.

    Attributes:
        last_step: number of ``step()`` calls so far (the ``t`` of the next update).
        base_lrs: one base learning rate per param group.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def factor(self, t):
        """Multiplier of the base learning rate at step ``t`` (subclasses define it)."""
        raise NotImplementedError

    def lr_at(self, t):
        """Learning rate of the first group at step ``t`` (handy for plotting a schedule)."""
        return self.base_lrs[0] * self.factor(t)

    def step(self):
        """Advance one optimiser step and set the next learning rates."""
        self.last_step += 1
        self._apply()

    def _apply(self):
        f = self.factor(self.last_step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def get_lr(self):
        """The current learning rate of every group."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """``{"last_step": int, "base_lrs": [float]}`` (hyper-parameters live in the config)."""
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state):
        """Continue from a saved ``state_dict`` (and set the optimiser's lr accordingly)."""
        self.last_step = int(state["last_step"])
        self.base_lrs = [float(b) for b in state["base_lrs"]]
        self._apply()

    def __repr__(self):
        return f"{type(self).__name__}(t={self.last_step}, lr={self.get_lr()[0]:.3g})"


class ConstantLR(Schedule):
    """factor(t) = 1: the learning rate never changes."""

    def factor(self, t):
        return 1.0


class StepLR(Schedule):
    """factor(t) = gamma ** floor(t / step_size): divide by 1/gamma every ``step_size`` steps.

    Args:
        optimizer: the optimiser.
        step_size: steps between decays.
        gamma: multiplicative decay.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check("StepLR", "step_size", step_size, step_size >= 1, "an integer >= 1")
        _check("StepLR", "gamma", gamma, gamma > 0, "> 0 (each decay multiplies the lr by it)")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def factor(self, t):
        return self.gamma ** (t // self.step_size)


def _cosine(t, total, min_factor):
    """m + (1 - m) * (1 + cos(pi * min(t, T) / T)) / 2: 1 at t = 0, m at t >= T."""
    progress = min(t, total) / total
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class CosineLR(Schedule):
    """Cosine annealing from the base lr to ``min_factor`` times it over ``total_steps``.

    factor(t) = m + (1 - m) * (1 + cos(pi * min(t, T) / T)) / 2, constant at m after T.

    Args:
        optimizer: the optimiser.
        total_steps: ``T``.
        min_factor: ``m``, the final learning rate as a fraction of the base.
    """

    def __init__(self, optimizer, total_steps, min_factor=0.0):
        _check("CosineLR", "total_steps", total_steps, total_steps >= 1, "an integer >= 1")
        _check("CosineLR", "min_factor", min_factor, 0 <= min_factor <= 1, "in [0, 1]")
        self.total_steps, self.min_factor = int(total_steps), float(min_factor)
        super().__init__(optimizer)

    def factor(self, t):
        return _cosine(t, self.total_steps, self.min_factor)


class WarmupCosine(Schedule):
    """Linear warm-up over ``warmup_steps``, then cosine annealing until ``total_steps``.

    factor(t) = (t + 1) / W for t < W (so the first step already moves), then the
    cosine of ``CosineLR`` over the remaining ``T - W`` steps.

    Args:
        optimizer: the optimiser.
        warmup_steps: ``W``.
        total_steps: ``T`` (including the warm-up).
        min_factor: final learning rate as a fraction of the base.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_factor=0.0):
        _check("WarmupCosine", "total_steps", total_steps, total_steps >= 1, "an integer >= 1")
        _check("WarmupCosine", "warmup_steps", warmup_steps, 0 <= warmup_steps < total_steps,
               f"an integer in [0, total_steps={total_steps})")
        _check("WarmupCosine", "min_factor", min_factor, 0 <= min_factor <= 1, "in [0, 1]")
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.min_factor = float(min_factor)
        super().__init__(optimizer)

    def factor(self, t):
        if t < self.warmup_steps:
            return (t + 1) / self.warmup_steps
        return _cosine(t - self.warmup_steps, self.total_steps - self.warmup_steps, self.min_factor)


SCHEDULES = {"constant": ConstantLR, "step": StepLR, "cosine": CosineLR, "warmup-cosine": WarmupCosine}


def get_schedule(name, optimizer, **kwargs):
    """Build a schedule by name: ``"constant"``, ``"step"``, ``"cosine"``, ``"warmup-cosine"``.

    Args:
        name: a key of ``SCHEDULES``.
        optimizer: the optimiser whose learning rate it drives.
        **kwargs: the schedule's arguments (``total_steps=...``, ...).

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    if name not in SCHEDULES:
        raise KeyError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    return SCHEDULES[name](optimizer, **kwargs)


# ----------------------------------------------------------------------------- EMA


class EMA:
    """Exponential moving average of a model's parameters.

    After every optimiser step, ``update()`` does, for each parameter ``p``::

        shadow <- decay_t * shadow + (1 - decay_t) * p
        decay_t = min(decay, (1 + n) / (10 + n))   if warmup, else decay

    where ``n`` counts the updates so far (the warm-up keeps the early average from
    being dominated by the random initial weights). Evaluate or sample with the
    averaged weights inside ``with ema.averaged():`` (or ``apply_to()`` then
    ``restore()``), which swaps them in and puts the trained ones back afterwards.

    Only parameters are averaged; buffers (e.g. batch-norm statistics) keep their
    current values.

    Args:
        model: a ``Module`` (its ``named_parameters()`` are tracked), or an iterable
            of parameters (named by position).
        decay: the decay rate, e.g. 0.999 or 0.9999.
        warmup: use the warm-up rule above.
    """

    def __init__(self, model, decay=0.999, warmup=False):
        _check("EMA", "decay", decay, 0.0 <= decay < 1.0, "in [0, 1)")
        self.decay, self.warmup = float(decay), bool(warmup)
        self.params = _named(model)
        self.shadow = {name: p.data.copy() for name, p in self.params.items()}
        self.num_updates = 0
        self._backup = None

    def current_decay(self):
        """``decay_t`` for the next update."""
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    def update(self):
        """Move every shadow towards its parameter: ``s <- s - (1 - decay_t) * (s - p)``."""
        one_minus = 1.0 - self.current_decay()
        for name, p in self.params.items():
            s = self.shadow[name]
            xp = get_array_module(s)
            s -= xp.multiply(xp.subtract(s, p.data), one_minus)   # s = d * s + (1 - d) * p
        self.num_updates += 1

    def apply_to(self, model=None):
        """Copy the averaged weights into the parameters, keeping the current ones to restore.

        Args:
            model: ignored when it is the tracked model (accepted for readability:
                ``ema.apply_to(model)``).
        """
        if self._backup is not None:
            raise RuntimeError("EMA weights are already applied; call restore() first")
        self._backup = {name: p.data.copy() for name, p in self.params.items()}
        for name, p in self.params.items():
            p.data[...] = self.shadow[name]

    def restore(self, model=None):
        """Put back the weights saved by ``apply_to``."""
        if self._backup is None:
            raise RuntimeError("restore() without apply_to()")
        for name, p in self.params.items():
            p.data[...] = self._backup[name]
        self._backup = None

    @contextlib.contextmanager
    def averaged(self):
        """``with ema.averaged(): ...`` evaluates/samples with the EMA weights."""
        self.apply_to()
        try:
            yield self
        finally:
            self.restore()

    def state_dict(self):
        """``{"decay", "warmup", "num_updates", "shadow": {name: NumPy array}}``."""
        return {"decay": self.decay, "warmup": self.warmup, "num_updates": self.num_updates,
                "shadow": {name: as_numpy(s).copy() for name, s in self.shadow.items()}}

    def load_state_dict(self, state):
        """Restore a ``state_dict`` (shadows are copied onto the parameters' devices)."""
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise ValueError(f"EMA state does not match the parameters: {sorted(missing)}")
        self.decay, self.warmup = float(state["decay"]), bool(state["warmup"])
        self.num_updates = int(state["num_updates"])
        for name, p in self.params.items():
            self.shadow[name] = get_array_module(p.data).array(state["shadow"][name], dtype=p.data.dtype)


def _named(model):
    """{name: parameter} from a Module or an iterable of parameters."""
    if hasattr(model, "named_parameters"):
        return dict(model.named_parameters())
    return {str(i): p for i, p in enumerate(model)}
