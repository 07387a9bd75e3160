"""The model registry, typed presets, and the one place where a run's settings are resolved.

A model file registers its class and states its presets::

    from ..registry import Preset, TrainConfig, register

    @register("vae")
    class VAE(LatentVariableModel):
        presets = {"digits-reference": Preset(
            model=dict(latent_dim=16, hidden=(256, 256)),
            train=TrainConfig(epochs=200, early_stopping=("val/nelbo", 20)))}

A **preset** is a model part (constructor keyword arguments, checked against the
constructor's signature when the class is registered) and a ``TrainConfig``: the
training recipe, a dataclass in which every default is stated once, below.

Every setting of a run is resolved by ``resolve`` in one order, the same for
``python -m minigen train`` and for a Python call of ``minigen.train(...)``::

    flag (command line / keyword)  ->  the resumed run's config.json  ->  preset  ->  default

Unknown keys (a misspelt ``--set`` or preset key, a wrong ``TrainConfig`` field) are
errors that list the valid ones; invalid values (``epochs=0``, ``lr=-1``) are errors that
name the setting, the value and what is allowed.
"""
import dataclasses
import inspect
import math
from dataclasses import dataclass, field

__all__ = ["TrainConfig", "Preset", "register", "get_model", "list_models", "get_preset",
           "build_model", "resolve", "check_kwargs", "SCHEDULES", "DEVICES"]

SCHEDULES = ("constant", "step", "cosine", "warmup-cosine")
DEVICES = ("cpu", "cuda")

_REGISTRY = {}


def _fail(name, value, allowed):
    raise ValueError(f"{name}={value!r} is not allowed: {name} must be {allowed}")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe of a run. Every default of minigen's training is stated here, once.

    Attributes:
        data: data set name (``python -m minigen list``).
        epochs: passes over the training data (ignored when ``steps`` is given).
        steps: total optimiser steps of the run, counting those before a resume.
        batch_size: examples per step (reshuffled every epoch).
        lr: learning rate of the model's optimiser(s).
        weight_decay: decoupled weight decay (AdamW) when > 0.
        schedule: learning-rate schedule, one of ``SCHEDULES``.
        warmup_steps: linear warm-up steps of "warmup-cosine".
        ema_decay: keep an exponential moving average of the weights (None: none).
        early_stopping: ``(metric, patience)``: stop after ``patience`` evaluations
            without improvement of ``metric`` (e.g. ``("val/nll", 20)``); the kept
            parameters are then the best evaluation's. None: train to the end and keep
            the model's own ``best_metric`` in best.npz.
        eval_every: steps between validations (None: once per epoch).
        checkpoint_every: steps between checkpoints (None: at every validation).
        seed: seeds every generator of the run (weights ``[seed, 0]``, batches
            ``[seed, 1]``, figures ``[seed, 2]``).
        device: "cpu" or "cuda".
    """

    data: str = "digits"
    epochs: int = 10
    steps: int = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    ema_decay: float = None
    early_stopping: tuple = None
    eval_every: int = None
    checkpoint_every: int = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                _fail(name, getattr(self, name), "an integer >= 1")
        for name in ("steps", "eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                _fail(name, value, "an integer >= 1 (or None)")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            _fail("lr", self.lr, "a finite number > 0")
        if not self.weight_decay >= 0:
            _fail("weight_decay", self.weight_decay, ">= 0")
        if self.schedule not in SCHEDULES:
            _fail("schedule", self.schedule, f"one of {', '.join(SCHEDULES)}")
        if not _is_int(self.warmup_steps) or self.warmup_steps < 0:
            _fail("warmup_steps", self.warmup_steps, "an integer >= 0")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            _fail("ema_decay", self.ema_decay, "in (0, 1) (or None)")
        if self.device not in DEVICES:
            _fail("device", self.device, f"one of {', '.join(DEVICES)}")
        if not _is_int(self.seed) or self.seed < 0:
            _fail("seed", self.seed, "an integer >= 0")
        if self.early_stopping is not None:
            spec = self.early_stopping
            if isinstance(spec, str):                       # "val/nll:20", as the CLI writes it
                metric, _, patience = spec.rpartition(":")
                spec = (metric, int(patience)) if metric and patience.isdigit() else None
            if (not isinstance(spec, (tuple, list)) or len(spec) != 2 or not isinstance(spec[0], str)
                    or not _is_int(spec[1]) or spec[1] < 1):
                _fail("early_stopping", self.early_stopping,
                      "(metric, patience) with patience >= 1, e.g. ('val/nll', 20) or 'val/nll:20'")
            metric = spec[0] if "/" in spec[0] else f"val/{spec[0]}"
            object.__setattr__(self, "early_stopping", (metric, int(spec[1])))

    @classmethod
    def field_names(cls):
        """The names of the settings, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes):
        """A copy with ``changes`` applied; unknown names are an error listing the valid ones."""
        check_kwargs("TrainConfig", changes, self.field_names())
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The settings as a JSON-able dict (for config.json)."""
        d = dataclasses.asdict(self)
        d["early_stopping"] = list(self.early_stopping) if self.early_stopping else None
        return d


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Preset:
    """A named configuration: constructor arguments of the model and its training recipe.

    Attributes:
        model: keyword arguments of the model's constructor.
        train: the ``TrainConfig``.
        about: one line on what the preset is for (shown by ``python -m minigen list``).
    """

    model: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    about: str = ""


def check_kwargs(what, given, valid):
    """Raise ``TypeError`` naming each unknown key of ``given`` and listing ``valid``."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise TypeError(f"{what} has no setting {', '.join(map(repr, unknown))}; "
                        f"valid settings: {', '.join(sorted(valid))}")


def constructor_args(cls):
    """The keyword arguments ``cls.__init__`` accepts (``rng`` and ``dtype`` excluded)."""
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "rng", "dtype")
            and params[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def register(name):
    """Class decorator adding a model to the registry under ``name``.

    It checks every preset's model keys against the constructor, so a misspelt key
    fails at import, not at the end of a run.

    Raises:
        ValueError: ``name`` is taken by another class.
        TypeError: a preset names a constructor argument that does not exist.
    """
    def decorate(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].__name__}")
        for pname, preset in cls.presets.items():
            if not isinstance(preset, Preset):
                raise TypeError(f"{cls.__name__}.presets[{pname!r}] must be a Preset, got "
                                f"{type(preset).__name__}")
            check_kwargs(f"{cls.__name__} (preset {pname!r})", preset.model, constructor_args(cls))
        if cls.default_preset is not None and cls.default_preset not in cls.presets:
            raise ValueError(f"{cls.__name__}.default_preset {cls.default_preset!r} is not a preset")
        cls.registry_name = name
        _REGISTRY[name] = cls
        return cls
    return decorate


def get_model(name):
    """The class registered under ``name`` (KeyError listing the registered names)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models():
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_preset(name, preset):
    """The ``Preset`` called ``preset`` of model ``name``; None gives an empty preset.

    Raises:
        KeyError: unknown preset; the message lists the model's presets.
    """
    cls = get_model(name)
    if preset is None:
        return Preset()
    if preset not in cls.presets:
        known = ", ".join(sorted(cls.presets)) or "none"
        raise KeyError(f"model {name!r} has no preset {preset!r}; its presets: {known}")
    return cls.presets[preset]


def build_model(name, preset=None, rng=None, **overrides):
    """An instance of model ``name`` from ``preset``'s arguments updated by ``overrides``.

    Args:
        name: a registered name.
        preset: one of the model's presets (None: constructor defaults).
        rng: generator or int seed of the initial weights and the training noise.
        **overrides: constructor arguments that win over the preset's (``dtype`` too).

    Returns:
        The model, with ``model.config = {"model", "preset", "model_kwargs"}`` recording
        how it was built, so a run folder can rebuild it.
    """
    cls = get_model(name)
    check_kwargs(f"model {name!r}", overrides, constructor_args(cls) + ["dtype"])
    kwargs = {**get_preset(name, preset).model, **overrides}
    model = cls(rng=rng, **kwargs)
    model.config = {"model": name, "preset": preset,
                    "model_kwargs": {k: v for k, v in kwargs.items() if k != "dtype"}}
    return model


def resolve(name, preset=None, train=None, model=None, saved=None):
    """Every setting of a run, resolved as flag -> resumed run -> preset -> default.

    Args:
        name: the registered model name.
        preset: the preset asked for (None: the resumed run's, else the model's default).
        train: ``TrainConfig`` settings given explicitly (flags / keywords); None values
            count as not given.
        model: constructor arguments given explicitly (``--set``).
        saved: the config.json of a run being resumed, or None.

    Returns:
        ``(preset_name, model_kwargs, TrainConfig)``; model_kwargs holds the explicit and
        resumed constructor arguments (the preset's are added by ``build_model``).

    Raises:
        TypeError: an unknown setting.
        ValueError: an invalid value, or a resume that would change the run's model.
    """
    cls = get_model(name)
    train = {k: v for k, v in (train or {}).items() if v is not None}
    model = dict(model or {})
    check_kwargs("TrainConfig", train, TrainConfig.field_names())
    check_kwargs(f"model {name!r}", model, constructor_args(cls))
    if saved:
        if saved["model"] != name:
            raise ValueError(f"the run holds a {saved['model']!r} model, not {name!r}")
        if preset is not None and preset != saved["preset"]:
            raise ValueError(f"the run was trained with preset {saved['preset']!r}, not {preset!r}; "
                             "a resumed run keeps its architecture: drop --config, or start a new run")
        changed = {k: v for k, v in model.items() if saved["model_kwargs"].get(k, _MISSING) != v}
        if changed:
            raise ValueError(f"the run's model was built with {saved['model_kwargs']}; --set "
                             f"{changed} would change it: a resumed run keeps its architecture")
        preset, model = saved["preset"], dict(saved["model_kwargs"])
    elif preset is None:
        preset = cls.default_preset
    base = get_preset(name, preset).train
    if saved:
        base = base.replace(**{k: tuple(v) if k == "early_stopping" and v else v
                               for k, v in saved["train"].items()})
    return preset, model, base.replace(**train)


_MISSING = object()
