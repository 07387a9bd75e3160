"""``GenerativeModel``: the protocol every model follows, and the run layer relies on.

A model is a ``Module`` that states its paper's quantities and nothing about runs::

    @register("pixelcnn")
    class PixelCNN(AutoregressiveModel):
        presets = {"digits-reference": Preset(model=dict(hidden=64), train=TrainConfig(...))}

        def loss(self, batch):                   # -> (scalar Tensor, {name: float})
            nll = self.nll(batch)
            return nll.mean(), self.nats_metrics(nll)
        def eval_step(self, batch): ...          # -> {name: float}, batch means
        def sample(self, n, rng): ...            # -> array shaped like the data
        def log_prob(self, x): ...               # or a named bound: elbo, iwae_bound

The pieces:

* ``loss(batch) -> (loss, metrics)``. The default ``train_step`` runs zero_grad /
  backward / step of the optimiser "main" on it; only models with several optimisers
  or updates that are not a gradient step (GANs, RBMs) override ``train_step``.
  ``batch`` is what the loader yields, ``x`` or ``(x, y)``, moved to the model's device
  (``split_batch`` returns ``(x, y or None)``).
* ``eval_step(batch) -> {name: float}``: batch means, without any update; the run
  layer calls it in ``eval()`` mode under ``no_grad()`` and restores the model's
  generators afterwards. A stochastic figure uses *common random numbers*:
  ``eval_rng(x)`` is seeded by the batch's bytes, so every validation sees the same
  noise and its changes come from the parameters alone.
* ``sample(n, rng)``; ``log_prob(x)`` in nats per example, or a named bound (``elbo``,
  ``iwae_bound``). Every stochastic likelihood or bound takes its noise as an optional
  argument (``eps=`` for a VAE, ``u=`` for a flow's dequantisation), so a student can
  evaluate it with given noise and get it to the last digit.
* ``report(split, rng, **options) -> dict``: the end-of-run figures of the test split
  (numbers only); ``figures(run_dir, rng, split) -> [paths]``: pictures. Both receive
  their data; the run layer (``minigen.run``) writes config, metrics, checkpoints and
  reports, and prints.
* ``configure_optimizers(config, total_steps)`` builds ``self.optimizers`` (and
  ``self.schedules``, ``self.ema``) from a ``TrainConfig``.
* ``self.rng``: the model's own generator for initial weights and training noise.
"""
import math
import zlib

import numpy as np

from autograd import as_numpy, no_grad

from ..nn import Module
from ..optim import Adam, AdamW
from ..schedules import EMA, get_schedule

__all__ = ["GenerativeModel", "as_generator", "bits_per_dim", "check_positive", "CRC"]

CRC = "crc32 of the batch"   # placeholder of ``eval_key``: where the batch's checksum goes


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator (kept), an int seed or None (seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


def bits_per_dim(nats, D):
    """Nats per example -> bits per dimension: nats / (D log 2)."""
    return nats / (D * math.log(2.0))


def check_positive(**values):
    """Raise ``ValueError`` naming the first argument that is not an integer >= 1 (None passes)."""
    for name, value in values.items():
        items = value if isinstance(value, (tuple, list)) else (value,)
        for v in items:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"{name}={value!r} is not allowed: {name} must be an integer >= 1"
                                 + (" (each of them)" if isinstance(value, (tuple, list)) else ""))


class GenerativeModel(Module):
    """Base class of every model in ``minigen.models`` (see the module docstring).

    Args:
        rng: the model's generator (or an int seed) for initial weights and training noise.

    Attributes:
        rng: ``numpy.random.Generator``.
        optimizers: ``{name: Optimizer}``, empty until ``configure_optimizers``.
        schedules: ``{name: Schedule}`` stepped by the loop after each train_step.
        ema: an ``EMA`` of the weights updated by the loop after each step, or None.
        config: how the registry built this model (None when built by hand).
    """

    presets = {}             # name -> Preset (registry.py)
    default_preset = None    # the preset used when none is named
    dataset_view = "raw"     # "raw" | "binary" | "scaled": the data view loss() expects
    best_metric = ("val/loss", "min")  # what best.npz tracks without early stopping
    is_generative = True     # False for helpers such as the mlp classifier
    eval_key = (CRC, 0)      # seed of eval_rng: the batch's crc32 at CRC

    def __init__(self, rng=None):
        super().__init__()
        self.rng = as_generator(rng)
        self.optimizers = {}
        self.schedules = {}
        self.ema = None
        self.config = None

    @property
    def device(self):
        """'cpu' or 'cuda': where the parameters are (or the buffers of a model without any)."""
        tensors = self.parameters() or [t for _, t in self.named_buffers()]
        return tensors[0].device if tensors else "cpu"

    @property
    def title(self):
        """The model's name in pictures and messages."""
        return type(self).__name__

    # -- the protocol ---------------------------------------------------------------------
    def loss(self, batch):
        """The training objective of ``batch``: ``(scalar Tensor, {name: float})``."""
        raise NotImplementedError(f"{self.title} must define loss(batch) -> (Tensor, metrics)")

    def train_step(self, batch):
        """One step of the optimiser "main" on ``loss(batch)``; returns ``{"loss", ...}`` floats."""
        opt = self.optimizers["main"]
        opt.zero_grad()
        loss, metrics = self.loss(batch)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), **metrics}

    def eval_step(self, batch):
        """Metrics of ``batch`` without updating anything: ``{name: float}`` batch means."""
        raise NotImplementedError(f"{self.title} must define eval_step(batch)")

    def sample(self, n, rng):
        """``n`` samples as an array shaped like the data, drawn with ``rng``."""
        raise NotImplementedError(f"{self.title} does not define sample(n, rng)")

    def log_prob(self, x):
        """log p(x) in nats per example, where the model has a tractable likelihood."""
        raise NotImplementedError(f"{self.title} has no tractable log_prob(x); see its docstring "
                                  "for the bound it reports instead")

    def report(self, split, rng, batch_size=256):
        """End-of-run numbers of ``split`` (a ``Dataset``): ``eval_step`` averaged over it.

        Models with a costlier test figure (many importance samples, many dequantisation
        draws) override this, with the figure's options as keyword arguments.

        Returns:
            ``{"examples": n, name: value, ...}``.
        """
        return {"examples": len(split), **self.evaluate(split, batch_size)}

    def figures(self, run_dir, rng, split=None):
        """Write pictures of the trained model into ``run_dir``; returns their paths.

        Args:
            run_dir: the folder to write into.
            rng: generator of every random draw of the pictures.
            split: the test ``Dataset`` (None when the run has none of the model's shape).
        """
        return []

    def loader_transform(self):
        """An optional ``transform(x_batch, rng)`` for the BatchLoader (e.g. augmentation)."""
        return None

    # -- shared helpers -------------------------------------------------------------------
    @staticmethod
    def split_batch(batch):
        """``(x, y)`` from a batch that is ``x`` or ``(x, y)``; ``y`` is None if absent."""
        if isinstance(batch, (tuple, list)):
            return batch[0], (batch[1] if len(batch) > 1 else None)
        return batch, None

    def bits_per_dim(self, nats):
        """Nats per example -> bits per dimension of this model's data (``self.D`` values)."""
        return bits_per_dim(nats, self.D)

    def nats_metrics(self, nats, name="nll"):
        """``{name: mean, "bpd": bits/dim}`` of a Tensor or array of nats per example."""
        value = float(np.asarray(as_numpy(getattr(nats, "data", nats)), np.float64).mean())
        return {name: value, "bpd": self.bits_per_dim(value)}

    def eval_rng(self, x):
        """Common random numbers: a generator seeded by ``eval_key`` with the crc32 of
        batch ``x`` in place of ``CRC``, so the same batch always sees the same noise."""
        crc = zlib.crc32(np.ascontiguousarray(as_numpy(getattr(x, "data", x))).tobytes())
        return np.random.default_rng([crc if k is CRC else k for k in self.eval_key])

    def evaluate(self, data, batch_size=256):
        """``eval_step`` averaged over a ``Dataset`` (weighted by batch size), in eval mode,
        without gradients; the model's mode and generators are restored afterwards."""
        from ..checkpoint import generator_states, set_generator_states
        from ..data import BatchLoader
        was_training, states = self.training, generator_states(self.generators())
        totals, count = {}, 0
        self.eval()
        try:
            with no_grad():
                for batch in BatchLoader(*data.arrays(), batch_size=batch_size, shuffle=False):
                    n = len(self.split_batch(batch)[0])
                    for k, v in self.eval_step(self.to_device(batch)).items():
                        totals[k] = totals.get(k, 0.0) + float(v) * n
                    count += n
        finally:
            self.train(was_training)
            set_generator_states(self.generators(), states)
        return {k: v / count for k, v in totals.items()}

    def to_device(self, batch):
        """``batch`` (an array or a tuple of arrays) on the device of the model's parameters."""
        from autograd import to_device
        device = self.device
        if device == "cpu":
            return batch
        if isinstance(batch, (tuple, list)):
            return tuple(to_device(b, device) for b in batch)
        return to_device(batch, device)

    # -- optimisers -----------------------------------------------------------------------
    def configure_optimizers(self, config, total_steps=None):
        """One Adam (AdamW if ``config.weight_decay``) named "main" over all parameters,
        with ``config``'s schedule and EMA.

        Args:
            config: a ``TrainConfig`` (``TrainConfig(lr=3e-3)`` in a hand-written loop).
            total_steps: the run's length, needed by the cosine and step schedules.

        Returns:
            ``self.optimizers``.
        """
        opt = (AdamW(self.parameters(), lr=config.lr, weight_decay=config.weight_decay)
               if config.weight_decay else Adam(self.parameters(), lr=config.lr))
        self.optimizers = {"main": opt}
        self.schedules = {}
        if config.schedule != "constant":
            if total_steps is None:
                raise ValueError(f"schedule {config.schedule!r} needs total_steps (the run's length)")
            kwargs = {"step": {"step_size": max(1, total_steps // 3)},
                      "cosine": {"total_steps": total_steps},
                      "warmup-cosine": {"total_steps": total_steps,
                                        "warmup_steps": config.warmup_steps}}[config.schedule]
            self.schedules = {"main": get_schedule(config.schedule, opt, **kwargs)}
        self.ema = EMA(self, decay=config.ema_decay, warmup=True) if config.ema_decay else None
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
