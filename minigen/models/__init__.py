"""The model registry: names the command line accepts (``python -m minigen list``).

A model file registers its class with a decorator::

    from . import register
    from .base import GenerativeModel

    @register("vae")
    class VAE(GenerativeModel):
        ...

and this file imports that module once (the list at the bottom), which is all it
takes to make ``python -m minigen train vae`` work.

    register(name)                     class decorator; the name must be new
    get_model(name)                    the class (KeyError listing the known names)
    list_models()                      sorted names
    build_model(name, preset, **kw)    an instance from a preset plus overrides,
                                       remembering how it was built (``model.config``)
"""
from .base import GenerativeModel, as_generator

__all__ = ["GenerativeModel", "register", "get_model", "list_models", "build_model", "get_preset",
           "as_generator"]

_REGISTRY = {}


def register(name):
    """Class decorator adding a ``GenerativeModel`` subclass to the registry under ``name``.

    Args:
        name: the command-line name, e.g. ``"vae"``.

    Raises:
        ValueError: ``name`` is already taken by another class.
    """
    def decorate(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].__name__}")
        cls.registry_name = name
        _REGISTRY[name] = cls
        return cls
    return decorate


def get_model(name):
    """The class registered under ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered ones.
    """
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models():
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_preset(name, preset):
    """The preset dict ``{"model": {...}, "train": {...}}`` of model ``name`` (empty parts filled).

    Raises:
        KeyError: unknown preset; the message lists the model's presets.
    """
    cls = get_model(name)
    if preset is None:
        return {"model": {}, "train": {}}
    if preset not in cls.presets:
        known = ", ".join(sorted(cls.presets)) or "none"
        raise KeyError(f"model {name!r} has no preset {preset!r}; its presets: {known}")
    p = cls.presets[preset]
    return {"model": dict(p.get("model", {})), "train": dict(p.get("train", {}))}


def build_model(name, preset=None, rng=None, **overrides):
    """Build model ``name`` from ``preset``'s constructor arguments updated by ``overrides``.

    Args:
        name: a registered name.
        preset: one of the class's ``presets`` (None: constructor defaults).
        rng: Generator or int seed for the model (its initial weights and training noise).
        **overrides: constructor keyword arguments that win over the preset's.

    Returns:
        The model, with ``model.config = {"model": name, "preset": preset, "kwargs": ...}``
        so a run folder can rebuild it.
    """
    kwargs = {**get_preset(name, preset)["model"], **overrides}
    model = get_model(name)(rng=rng, **kwargs)
    model.config = {"model": name, "preset": preset, "kwargs": kwargs}
    return model


# -- registered models: one import line each ---------------------------------------------
from . import classifier  # noqa: E402,F401  (mlp)
from . import realnvp  # noqa: E402,F401  (realnvp)
from . import vae  # noqa: E402,F401  (vae)
from . import pixelcnn  # noqa: E402,F401  (pixelcnn)
