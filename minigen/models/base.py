"""``GenerativeModel``: the small protocol the trainer (``minigen.train``) and the CLI rely on.

A model is a ``Module`` that also knows how to take one training step::

    @register("vae")
    class VAE(GenerativeModel):
        dataset_view = "binary"                       # what train_step expects from the data
        best_metric = ("val/nelbo", "min")            # what best.npz and early stopping track
        presets = {"digits-reference": {"model": {"latent": 8}, "train": {"epochs": 50}}}

        def train_step(self, batch):                  # -> {"loss": float, ...}
            x, _ = self.split_batch(batch)
            opt = self.optimizers["main"]
            opt.zero_grad()
            loss = -self.elbo(Tensor(x)).mean()
            loss.backward()
            opt.step()
            return {"loss": loss.item()}

        def eval_step(self, batch): ...               # -> {"nelbo": ..., "bpd": ...}
        def sample(self, n, rng): ...                 # -> ndarray (n, *data shape)

What each piece is for:

* ``train_step(batch) -> dict`` of named float metrics. The model owns its
  optimiser(s) (``self.optimizers``), so a GAN does its alternating updates inside.
  ``batch`` is what the ``BatchLoader`` yields: ``x``, or ``(x, y)`` for labelled data
  (``split_batch`` returns ``(x, y or None)`` either way), as NumPy arrays moved to the
  model's device.
* ``eval_step(batch) -> dict``: metrics averaged over the batch (the trainer weights
  them by batch size); runs under ``no_grad()`` in ``eval()`` mode.
* ``sample(n, rng) -> ndarray``, ``log_prob(x)`` (nats per example), or a named bound
  such as ``elbo``: each raises ``NotImplementedError`` with the reason where a model
  has none.
* ``configure_optimizers(lr=..., ...)`` builds ``self.optimizers`` (and optionally
  ``self.schedules`` and ``self.ema``); ``optimizer_state()`` / ``load_optimizer_state``
  save and restore all three, so a checkpoint resumes exactly. The trainer calls
  ``configure_optimizers`` if the model has no optimiser yet, and after every
  ``train_step`` it steps each schedule and updates the EMA. Where the averaged
  weights are used is the model's choice: ``with self.ema.averaged(): ...`` inside
  ``sample`` or ``eval_step``.
* ``self.rng``: the model's own ``numpy.random.Generator`` for initial weights and for
  noise during training (dropout, reparameterisation). The trainer saves its state in
  checkpoints (``generators()``) and restores it after each evaluation, so how often a
  run evaluates never changes its training trajectory.
* ``presets``: named configurations, ``{"model": constructor kwargs, "train": trainer
  settings (epochs, batch_size, lr, data, ...)}``; ``default_dataset`` names the data
  set the CLI uses when none is given; ``dataset_view`` is ``"raw"`` (integers),
  ``"binary"`` or ``"scaled"`` (see ``minigen.data.get_dataset``).
* ``figures(run_dir, rng)``: optional hook to write PNGs (samples, reconstructions)
  into a run folder at the end of training; returns the paths written.
"""
import numpy as np

from ..nn import Module
from ..optim import Adam, AdamW
from ..schedules import EMA, get_schedule

__all__ = ["GenerativeModel", "as_generator"]


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator (kept), an int seed or None (seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


class GenerativeModel(Module):
    """Base class of the models in ``minigen.models``. See the module docstring.

    Args:
        rng: the model's generator (or an int seed) for initial weights and training noise.

    Attributes:
        rng: ``numpy.random.Generator``.
        optimizers: ``{name: Optimizer}``, empty until ``configure_optimizers``.
        schedules: ``{name: Schedule}`` stepped by the trainer after each train_step.
        ema: an ``EMA`` of the weights updated by the trainer after each step, or None.
        config: how the registry built this model (``{"model": name, "preset": ...,
            "kwargs": {...}}``), written to a run's config.json; None if built by hand.
    """

    presets = {}             # name -> {"model": {...}, "train": {...}}
    default_dataset = "digits"
    dataset_view = "raw"     # "raw" | "binary" | "scaled": the view train_step expects
    best_metric = ("val/loss", "min")  # (metric, "min" | "max") for best.npz / early stopping
    is_generative = True     # False for helpers such as the mlp classifier
    default_preset = None    # the preset the CLI uses when --config is not given

    def __init__(self, rng=None):
        super().__init__()
        self.rng = as_generator(rng)
        self.optimizers = {}
        self.schedules = {}
        self.ema = None
        self.config = None

    # -- the protocol -------------------------------------------------------------------
    def train_step(self, batch):
        """One optimisation step on ``batch``; returns ``{name: float}`` metrics."""
        raise NotImplementedError(f"{type(self).__name__} must define train_step(batch)")

    def eval_step(self, batch):
        """Metrics of ``batch`` without updating anything; returns ``{name: float}``."""
        raise NotImplementedError(f"{type(self).__name__} must define eval_step(batch)")

    def sample(self, n, rng):
        """``n`` samples as an array shaped like the data, drawn with ``rng``."""
        raise NotImplementedError(f"{type(self).__name__} does not define sample(n, rng)")

    def log_prob(self, x):
        """log p(x) in nats per example, where the model has a tractable likelihood."""
        raise NotImplementedError(f"{type(self).__name__} has no tractable log_prob(x); "
                                  "see its docstring for the bound it reports instead")

    def figures(self, run_dir, rng):
        """Write PNG figures (samples, ...) into ``run_dir``; returns their paths."""
        return []

    def loader_transform(self):
        """An optional ``transform(x_batch, rng)`` for the BatchLoader (e.g. dynamic
        binarisation, dequantisation noise); None for none."""
        return None

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def split_batch(batch):
        """``(x, y)`` from a batch that is ``x`` or ``(x, y)``; ``y`` is None if absent."""
        if isinstance(batch, (tuple, list)):
            return batch[0], (batch[1] if len(batch) > 1 else None)
        return batch, None

    def configure_optimizers(self, lr=1e-3, weight_decay=0.0, schedule="constant", warmup_steps=0,
                             total_steps=None, ema_decay=None, **unused):
        """Default: one Adam (AdamW if ``weight_decay``) named "main" over all parameters.

        Args:
            lr: learning rate.
            weight_decay: decoupled weight decay (AdamW) when > 0.
            schedule: "constant", "step", "cosine" or "warmup-cosine".
            warmup_steps: for "warmup-cosine".
            total_steps: length of the run, for the cosine schedules (the trainer passes it).
            ema_decay: keep an EMA of the weights with this decay, warmed up as
                ``min(decay, (1 + n) / (10 + n))`` after n updates (None: no EMA).
            **unused: other trainer settings, ignored here.

        Returns:
            ``self.optimizers``.
        """
        opt = (AdamW(self.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay
               else Adam(self.parameters(), lr=lr))
        self.optimizers = {"main": opt}
        self.schedules = {}
        if schedule and schedule != "constant":
            kwargs = {}
            if schedule in ("cosine", "warmup-cosine"):
                if total_steps is None:
                    raise ValueError(f"schedule {schedule!r} needs total_steps")
                kwargs["total_steps"] = total_steps
            if schedule == "warmup-cosine":
                kwargs["warmup_steps"] = warmup_steps
            if schedule == "step":
                kwargs["step_size"] = max(1, (total_steps or 1000) // 3)
            self.schedules = {"main": get_schedule(schedule, opt, **kwargs)}
        self.ema = EMA(self, decay=ema_decay, warmup=True) if ema_decay else None
        return self.optimizers

    def generators(self):
        """``{name: Generator}`` whose states a checkpoint saves (default: ``self.rng``)."""
        return {"model": self.rng}

    def optimizer_state(self):
        """State of every optimiser, schedule and the EMA, for a checkpoint."""
        return {"optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedules": {k: s.state_dict() for k, s in self.schedules.items()},
                "ema": None if self.ema is None else self.ema.state_dict()}

    def load_optimizer_state(self, state):
        """Restore what ``optimizer_state`` returned (after ``configure_optimizers``)."""
        for what, own in (("optimizers", self.optimizers), ("schedules", self.schedules)):
            if set(state[what]) != set(own):
                raise ValueError(f"checkpoint has {what} {sorted(state[what])}, the model has "
                                 f"{sorted(own)}; build it with the same configuration")
            for k, obj in own.items():
                obj.load_state_dict(state[what][k])
        if (state["ema"] is None) != (self.ema is None):
            raise ValueError("checkpoint and model disagree on whether an EMA of the weights is kept")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
