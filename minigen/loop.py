"""The training loop, and nothing else: steps, validations, checkpoints, early stopping.

::

    for batch in loader:                         # epochs of reshuffled batches
        metrics = model.train_step(batch)        # zero_grad / backward / step by default
        schedules.step(); ema.update()
        every eval_every steps:        validate  (best.npz, early stopping)
        every checkpoint_every steps:  checkpoint (the full state, written atomically)

The run layer (``minigen.run``) builds the model, loads the data, owns the run folder
and writes the end-of-run report; this file only turns batches into steps.

What a checkpoint holds, so that resuming continues *exactly*: the parameters and
buffers, every optimiser's state (Adam moments and step counts), schedule and EMA
states, the batch loader's position and generator, the bit-generator state of every
generator the model uses (``model.generators()``), the step, the best metric and the
early-stopping counter. Evaluation restores the model's generators afterwards, so how
often a run evaluates never changes its training trajectory.

A step whose loss is not finite, or that leaves a parameter not finite, stops the run
with ``NonFiniteLossError`` before anything is written: the last good checkpoint stays.
"""
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from autograd import as_numpy

from .checkpoint import generator_states, set_generator_states

__all__ = ["Loop", "TrainResult", "NonFiniteLossError", "metric_mode"]


class NonFiniteLossError(FloatingPointError):
    """A training step gave a loss (or parameters) that are NaN or infinite."""


@dataclass
class TrainResult:
    """What a run returns.

    Attributes:
        step: optimiser steps taken in total (including those before a resume).
        epoch: passes over the training data (2.5 is half-way through the third).
        last: metrics of the last training step.
        evals: every evaluation record of this call (``{"step", "val/...": ...}``).
        best: ``{"metric", "mode", "value", "step"}`` (value None without evaluation).
        stopped_early: True if early stopping ended the run.
        seconds: wall time of this call.
        run_dir: the run folder, or None.
        report: the end-of-run report of the test split (``{}`` without one).
    """
    step: int = 0
    epoch: float = 0.0
    last: dict = field(default_factory=dict)
    evals: list = field(default_factory=list)
    best: dict = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0
    run_dir: str = None
    report: dict = field(default_factory=dict)


def metric_mode(metric, model):
    """'max' or 'min': whether larger values of ``metric`` are better (the model's
    ``best_metric`` decides for its own metric; accuracies and ELBOs are maximised)."""
    if model.best_metric[0] == metric:
        return model.best_metric[1]
    return "max" if any(k in metric for k in ("acc", "elbo", "log_prob", "logp")) else "min"


class Loop:
    """The loop of one run (see the module docstring).

    Args:
        model: a ``GenerativeModel`` with its optimisers configured.
        loader: the ``BatchLoader`` of the training split.
        val: the validation ``Dataset`` (None: no validation).
        config: the run's ``TrainConfig``.
        run: a ``RunFolder`` to log and checkpoint into (None: nothing is written).
        progress: show a progress bar.
        on_step: optional ``on_step(step, record)`` after every step.
    """

    def __init__(self, model, loader, val, config, run=None, progress=True, on_step=None):
        self.model, self.loader, self.val, self.run, self.on_step = model, loader, val, run, on_step
        self.total = config.steps or config.epochs * len(loader)
        self.eval_every = config.eval_every or len(loader)
        self.checkpoint_every = config.checkpoint_every or self.eval_every
        metric, self.patience = config.early_stopping or (model.best_metric[0], None)
        self.keep_best = config.early_stopping is not None
        self.best = {"metric": metric, "mode": metric_mode(metric, model), "value": None,
                     "step": None, "bad_evals": 0}
        self.best_params, self.step, self.stopped, self.elapsed_before = None, 0, False, 0.0
        self.progress, self.good_step, self.t_start = progress, None, time.perf_counter()

    # -- state ------------------------------------------------------------------------
    def state(self):
        """The full state of the run, as a checkpoint holds it."""
        m = self.model
        return {"step": self.step, "epoch": self.loader.epoch, "stopped_early": self.stopped,
                "elapsed": self.elapsed_before + time.perf_counter() - self.t_start,
                "model": m.state_dict(), "optim": m.optimizer_state(), "loader": self.loader.state_dict(),
                "best": self.best, "generators": generator_states(m.generators())}

    def load_state(self, ckpt, best_params=None):
        """Continue from a checkpoint (and the best.npz snapshot when the best is kept)."""
        self.model.load_state_dict(ckpt["model"])
        self.model.load_optimizer_state(ckpt["optim"])
        self.loader.load_state_dict(ckpt["loader"])
        set_generator_states(self.model.generators(), ckpt["generators"])
        self.step, self.elapsed_before, self.stopped = ckpt["step"], ckpt["elapsed"], ckpt["stopped_early"]
        self.best = ckpt["best"]
        self.good_step = self.step
        if self.keep_best and self.best["value"] is not None:
            self.best_params = best_params

    @property
    def epoch(self):
        return self.loader.epoch + self.loader.position / len(self.loader)

    # -- the loop ---------------------------------------------------------------------
    def __call__(self):
        """Train to ``total`` steps (or early stopping); returns a ``TrainResult``."""
        model, result = self.model, TrainResult(best=self.best)
        result.run_dir = None if self.run is None else self.run.path
        self.bar = _progress_bar(self.progress, self.total, self.step, model.title)
        last_written, self.shown = self.step, {}
        model.train()
        try:
            while self.step < self.total and not self.stopped:
                for batch in self.loader:                         # one epoch (or the rest of one)
                    metrics = model.train_step(model.to_device(batch))
                    self.step += 1
                    self._check_finite(metrics)
                    for schedule in model.schedules.values():
                        schedule.step()
                    if model.ema is not None:
                        model.ema.update()
                    record = self._log_step(metrics)
                    result.last = metrics
                    if self.val is not None and (self.step % self.eval_every == 0 or self.step == self.total):
                        self.stopped = self.validate(result)
                    if self.step % self.checkpoint_every == 0 or self.step == self.total or self.stopped:
                        self.checkpoint()
                        last_written = self.step
                    if self.on_step is not None:
                        self.on_step(self.step, record)
                    if self.step >= self.total or self.stopped:
                        break
            if last_written != self.step:
                self.checkpoint()
        finally:
            self.bar.close()
        if self.keep_best and self.best_params is not None:
            model.load_state_dict(self.best_params["model"])
            if model.ema is not None and self.best_params.get("ema") is not None:
                model.ema.load_state_dict(self.best_params["ema"])
        result.step, result.stopped_early, result.epoch = self.step, self.stopped, self.epoch
        result.best = {k: self.best[k] for k in ("metric", "mode", "value", "step")}
        result.seconds = time.perf_counter() - self.t_start
        return result

    def _log_step(self, metrics):
        opt = next(iter(self.model.optimizers.values()), None)
        record = {"step": self.step, "epoch": self.epoch, "lr": None if opt is None else opt.lr,
                  **{f"train/{k}": float(v) for k, v in metrics.items()}}
        if self.run is not None:
            self.run.log(record)
        self.shown = {k: f"{v:.4g}" for k, v in metrics.items()}
        self.bar.set_postfix(self.shown, refresh=False)
        self.bar.update(1)
        return record

    def _check_finite(self, metrics, what="training loss"):
        bad = {k: v for k, v in metrics.items() if not math.isfinite(float(v))}
        if not bad:
            return
        opt = next(iter(self.model.optimizers.values()), None)
        kept = ("nothing was written" if self.run is None else
                f"the last good checkpoint ({self.run.checkpoint}, step {self.good_step}) is kept"
                if self.good_step else "no checkpoint had been written yet")
        raise NonFiniteLossError(
            f"step {self.step}: the {what} is not finite ({', '.join(f'{k}={v}' for k, v in bad.items())}). "
            + (f"Likely cause: the learning rate ({opt.lr}) is too high for this model, or a numerically "
               f"unstable input; {kept}. Try a smaller --lr (or resume with one)." if opt is not None else
               f"The model has no optimiser: its fit is numerically unstable on this data; {kept}."))

    def validate(self, result):
        """Evaluate on the validation set, log, update best.npz; True if it is time to stop."""
        model, best = self.model, self.best
        scores = {f"val/{k}": v for k, v in model.evaluate(self.val).items()}
        record = {"step": self.step, "epoch": self.epoch, **scores,
                  "time": round(self.elapsed_before + time.perf_counter() - self.t_start, 3)}
        if self.run is not None:
            self.run.log(record)
        result.evals.append(record)
        if best["metric"] not in scores:
            raise KeyError(f"best/early-stopping metric {best['metric']!r} is not among the evaluation "
                           f"metrics {sorted(scores)}")
        self._check_finite(scores, "validation metric")
        value = scores[best["metric"]]
        if best["value"] is None or (value > best["value"] if best["mode"] == "max" else value < best["value"]):
            best.update(value=value, step=self.step, bad_evals=0)
            snapshot = {"step": self.step, "metric": best["metric"], "value": value,
                        "model": model.state_dict(), "ema": None if model.ema is None else model.ema.state_dict()}
            self.best_params = snapshot if self.keep_best else None
            if self.run is not None:
                self.run.save_best(snapshot)
        else:
            best["bad_evals"] += 1
        self.bar.set_postfix({**self.shown, best["metric"]: f"{value:.4g}"}, refresh=False)
        return self.patience is not None and best["bad_evals"] >= self.patience

    def checkpoint(self):
        """Write the full state (after checking every parameter is finite)."""
        for name, p in self.model.named_parameters():
            if not np.isfinite(as_numpy(p.data)).all():
                self._check_finite({f"parameter {name}": float("nan")}, "model")
        if self.run is not None:
            self.run.save_checkpoint(self.state())
        self.good_step = self.step


def _progress_bar(enabled, total, initial, name):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=f"train {name}", unit="step", disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
