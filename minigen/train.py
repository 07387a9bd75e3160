"""The training loop: run folder, periodic evaluation, atomic checkpoints, exact resume.

::

    from minigen.models import build_model
    from minigen.train import train

    model = build_model("mlp", rng=0)
    result = train(model, "digits", epochs=150, out_dir="runs/mlp", seed=0)
    # ... killed half-way? The same call with resume=True finishes the run, and its
    # parameters and metrics are bit-identical to a run that never stopped (on the CPU).

A run folder holds::

    config.json       how the model and the run were configured (enough to rebuild both)
    metrics.jsonl     one JSON record per line: every training step
                      {"step", "epoch", "lr", "train/loss", ...} and every evaluation
                      {"step", "epoch", "val/loss", ..., "time"}
    checkpoint.npz    the latest full state (see below), replaced atomically
    best.npz          the parameters (and EMA) with the best validation metric so far
    curves.png        loss / metric curves (``minigen.plots.curves``)
    *.png             whatever the model's ``figures(run_dir, rng)`` hook draws

What a checkpoint holds, so that resuming continues *exactly*: the model's parameters
and buffers, every optimiser's state (Adam moments and step counts), schedule and EMA
states (``model.optimizer_state()``), the batch loader's position and generator, the
bit-generator state of every generator the model uses (``model.generators()``), the
step, the best metric and the early-stopping counter. Random numbers come only from
those generators: the loader's is seeded ``[seed, 1]``, the figures' ``[seed, 2]``
(fresh each time, so drawing figures never changes training), and evaluation restores
the model's generators afterwards (so how often a run evaluates never changes it).
The model's generator is its own (``build_model(..., rng=...)``; the command line
seeds it ``[seed, 0]``).

EMA: when the model keeps one (``model.ema``), the trainer updates it after every step
and saves it; the model decides where the averaged weights are used (``with
self.ema.averaged(): ...`` in ``sample`` or ``eval_step``), and ``load_run`` restores
them with the parameters.
"""
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from autograd import no_grad
from kernels.backend import HAS_CUPY, to_device

from .checkpoint import (atomic_write, generator_states, load_checkpoint, save_checkpoint,
                         set_generator_states)
from .schedules import EMA

__all__ = ["train", "evaluate", "load_run", "TrainResult", "check_device", "metric_mode"]

CHECKPOINT, BEST, CONFIG, METRICS, CURVES = ("checkpoint.npz", "best.npz", "config.json",
                                             "metrics.jsonl", "curves.png")


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        step: optimiser steps taken in total (including those before a resume).
        epoch: passes over the training data (a float: 2.5 is half-way through the third).
        last: metrics of the last training step.
        evals: every evaluation record (``{"step", "val/...": ...}``).
        best: ``{"metric", "mode", "value", "step"}`` (value None without evaluation).
        stopped_early: True if early stopping ended the run.
        seconds: wall time of this call.
        run_dir: the run folder, or None.
    """
    step: int = 0
    epoch: float = 0.0
    last: dict = field(default_factory=dict)
    evals: list = field(default_factory=list)
    best: dict = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0
    run_dir: str = None


def check_device(device):
    """Raise a clear error for an unknown device, or 'cuda' without CuPy and a GPU."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose 'cpu' or 'cuda'")
    if device == "cuda" and not HAS_CUPY:
        raise RuntimeError("device 'cuda' needs CuPy and an NVIDIA GPU, and this machine has "
                           "neither importable; install the gpu extra (pip install -e .[gpu]) or use "
                           "--device cpu")


def metric_mode(metric, model=None):
    """'max' or 'min': whether larger values of ``metric`` are better.

    The model's ``best_metric`` decides for its own metric; otherwise accuracies and
    likelihood-like names (acc, elbo, log_prob) are maximised and the rest minimised.
    """
    if model is not None and model.best_metric[0] == metric:
        return model.best_metric[1]
    return "max" if any(k in metric for k in ("acc", "elbo", "log_prob", "logp")) else "min"


def _load_data(model, data, val_data, batch_size, seed):
    """(loader, val dataset or None, data name) from a name, a Dataset or a BatchLoader."""
    from .data import BatchLoader, get_dataset
    name = data if isinstance(data, str) else getattr(data, "name", None)
    if isinstance(data, str):
        train_ds = get_dataset(data, "train", view=model.dataset_view)
        if val_data is None:
            val_data = get_dataset(data, "val", view=model.dataset_view)
    if isinstance(val_data, str):
        val_data = get_dataset(val_data, "val", view=model.dataset_view)
    if isinstance(data, BatchLoader):
        return data, val_data or None, name
    if not isinstance(data, str):
        train_ds = data
    loader = BatchLoader(*train_ds.arrays(), batch_size=batch_size, shuffle=True,
                         rng=np.random.default_rng([seed, 1]), transform=model.loader_transform())
    return loader, val_data or None, name


def _to(batch, device):
    if device == "cpu":
        return batch
    if isinstance(batch, (tuple, list)):
        return tuple(to_device(b, device) for b in batch)
    return to_device(batch, device)


def evaluate(model, data, batch_size=256, device="cpu"):
    """Average ``model.eval_step`` over a whole data set, weighted by batch size.

    Runs in ``eval()`` mode under ``no_grad()``; the model's training mode and the
    states of its generators are restored afterwards.

    Args:
        model: a ``GenerativeModel``.
        data: a ``Dataset`` (or anything with ``arrays()``).
        batch_size: examples per ``eval_step``.
        device: where the batches go ('cpu' or 'cuda').

    Returns:
        ``{name: float}``, e.g. ``{"loss": 0.12, "accuracy": 0.97}``.
    """
    from .data import BatchLoader
    was_training, states = model.training, generator_states(model.generators())
    totals, count = {}, 0
    model.eval()
    try:
        with no_grad():
            for batch in BatchLoader(*data.arrays(), batch_size=batch_size, shuffle=False):
                n = len(batch[0]) if isinstance(batch, tuple) else len(batch)
                for k, v in model.eval_step(_to(batch, device)).items():
                    totals[k] = totals.get(k, 0.0) + float(v) * n
                count += n
    finally:
        model.train(was_training)
        set_generator_states(model.generators(), states)
    return {k: v / count for k, v in totals.items()}


def train(model, data="digits", *, val_data=None, epochs=None, steps=None, batch_size=64,
          eval_every=None, checkpoint_every=None, out_dir=None, seed=0, resume=False, optim=None,
          early_stopping=None, keep_best=None, device="cpu", progress=True, figures=True,
          config=None, on_step=None):
    """Train ``model`` with its ``train_step``; evaluate, log, checkpoint and resume.

    Args:
        model: a ``GenerativeModel`` (``minigen.models``).
        data: a data-set name (train and val splits are loaded in the model's
            ``dataset_view``), a ``Dataset`` (the training split), or a ``BatchLoader``.
        val_data: the validation ``Dataset`` (default: the "val" split when ``data`` is
            a name; none otherwise, which turns evaluation off).
        epochs: passes over the training data (ignored if ``steps`` is given).
        steps: total optimiser steps of the run (counting those before a resume).
        batch_size: examples per step (when the loader is built here).
        eval_every: steps between evaluations (default: once per epoch).
        checkpoint_every: steps between checkpoints (default: ``eval_every``); one is
            always written at the end.
        out_dir: the run folder (None: nothing is written).
        seed: seeds the loader's generator (``[seed, 1]``) and the figures' (``[seed, 2]``).
        resume: continue from ``out_dir/checkpoint.npz`` if it exists.
        optim: keyword arguments for ``model.configure_optimizers`` (lr, schedule, ...);
            it is called when given, or when the model has no optimiser yet.
        early_stopping: ``(metric, patience)`` or ``(metric, patience, "min"|"max")``:
            stop after ``patience`` evaluations without improvement of ``metric``
            (e.g. "val/loss"). That metric is then also the one ``best.npz`` tracks.
        keep_best: end with the best parameters loaded into the model (default: True
            with early stopping, else False). checkpoint.npz keeps the last ones.
        device: 'cpu' or 'cuda' (needs CuPy).
        progress: show a tqdm progress bar.
        figures: write curves.png and the model's figures at the end.
        config: extra JSON-able settings recorded in config.json (the CLI's arguments).
        on_step: optional ``on_step(step, record)`` called after every step.

    Returns:
        A ``TrainResult``.

    Raises:
        FileExistsError: ``out_dir`` already holds a checkpoint and ``resume`` is False.
    """
    check_device(device)
    t_start = time.perf_counter()
    loader, val_ds, data_name = _load_data(model, data, val_data, batch_size, seed)
    if steps is None and epochs is None:
        raise ValueError("give epochs=... or steps=...")
    total = int(steps) if steps is not None else int(epochs) * len(loader)
    eval_every = int(eval_every or len(loader))
    checkpoint_every = int(checkpoint_every or eval_every)
    model.to(device)
    if optim is not None or not model.optimizers:
        model.configure_optimizers(total_steps=total, **(optim or {}))

    metric, patience = model.best_metric[0], None
    if early_stopping is not None:
        metric, patience = early_stopping[0], int(early_stopping[1])
        metric = metric if "/" in metric else f"val/{metric}"
    mode = early_stopping[2] if early_stopping is not None and len(early_stopping) > 2 \
        else metric_mode(metric, model)
    keep_best = early_stopping is not None if keep_best is None else keep_best
    best = {"metric": metric, "mode": mode, "value": None, "step": None, "bad_evals": 0}
    best_params = None
    step, elapsed_before, stopped = 0, 0.0, False

    paths = {k: os.path.join(out_dir, k) for k in (CHECKPOINT, BEST, CONFIG, METRICS, CURVES)} \
        if out_dir else None
    settings = {"model": model.config, "data": data_name, "view": model.dataset_view,
                "epochs": epochs, "steps": total, "batch_size": loader.batch_size,
                "eval_every": eval_every, "checkpoint_every": checkpoint_every, "seed": seed,
                "optim": optim or {}, "early_stopping": early_stopping, "device": device,
                "best_metric": [metric, mode], **(config or {})}
    if paths:
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(paths[CHECKPOINT]) and not resume:
            raise FileExistsError(f"{out_dir} already holds a run (checkpoint.npz); resume it with "
                                  "resume=True (--resume), or choose another out_dir (--out)")
        resumed = resume and os.path.exists(paths[CHECKPOINT])
        if resumed:
            ckpt = load_checkpoint(paths[CHECKPOINT])
            model.load_state_dict(ckpt["model"])
            model.load_optimizer_state(ckpt["optim"])
            loader.load_state_dict(ckpt["loader"])
            set_generator_states(model.generators(), ckpt["generators"])
            step, elapsed_before, stopped = ckpt["step"], ckpt["elapsed"], ckpt["stopped_early"]
            best = ckpt["best"]
            if best["value"] is not None and keep_best and os.path.exists(paths[BEST]):
                best_params = load_checkpoint(paths[BEST])
            _truncate_metrics(paths[METRICS], step)
        _write_json(paths[CONFIG], settings)
        metrics_file = open(paths[METRICS], "a" if resumed else "w")

    def log(record):
        if paths:
            metrics_file.write(json.dumps(record) + "\n")

    def save(path_key, state):
        if paths:
            save_checkpoint(paths[path_key], state)

    def checkpoint():
        if paths:
            metrics_file.flush()
        save(CHECKPOINT, {"step": step, "epoch": loader.epoch, "stopped_early": stopped,
                          "elapsed": elapsed_before + time.perf_counter() - t_start,
                          "model": model.state_dict(), "optim": model.optimizer_state(),
                          "loader": loader.state_dict(), "best": best,
                          "generators": generator_states(model.generators())})

    def validate(epoch):
        """Evaluate on the validation set, log, update best.npz; True if it is time to stop."""
        nonlocal best_params
        scores = {f"val/{k}": v for k, v in evaluate(model, val_ds, device=device).items()}
        record = {"step": step, "epoch": epoch, **scores,
                  "time": round(elapsed_before + time.perf_counter() - t_start, 3)}
        log(record)
        result.evals.append(record)
        if metric not in scores:
            raise KeyError(f"best/early-stopping metric {metric!r} is not among the evaluation "
                           f"metrics {sorted(scores)}")
        value = scores[metric]
        if best["value"] is None or (value > best["value"] if mode == "max" else value < best["value"]):
            best.update(value=value, step=step, bad_evals=0)
            snapshot = {"step": step, "metric": metric, "value": value, "model": model.state_dict(),
                        "ema": None if model.ema is None else model.ema.state_dict()}
            best_params = snapshot if keep_best else None
            save(BEST, snapshot)
        else:
            best["bad_evals"] += 1
        bar.set_postfix({**shown, metric: f"{value:.4g}"}, refresh=False)
        return patience is not None and best["bad_evals"] >= patience

    result = TrainResult(run_dir=out_dir, best=best)
    bar = _progress_bar(progress, total, step, getattr(model, "registry_name", type(model).__name__))
    last_written, shown = step, {}
    model.train()
    try:
        while step < total and not stopped:
            for batch in loader:                          # one epoch (or the rest of one)
                metrics = model.train_step(_to(batch, device))
                step += 1
                lr = next(iter(model.optimizers.values())).lr if model.optimizers else None
                for schedule in model.schedules.values():
                    schedule.step()
                if model.ema is not None:
                    model.ema.update()
                record = {"step": step, "epoch": loader.epoch + loader.position / len(loader), "lr": lr,
                          **{f"train/{k}": float(v) for k, v in metrics.items()}}
                log(record)
                result.last = metrics
                shown = {k: f"{v:.4g}" for k, v in metrics.items()}   # the bar's metrics
                bar.set_postfix(shown, refresh=False)
                bar.update(1)
                if val_ds is not None and (step % eval_every == 0 or step == total):
                    stopped = validate(record["epoch"])
                if step % checkpoint_every == 0 or step == total or stopped:
                    checkpoint()
                    last_written = step
                if on_step is not None:
                    on_step(step, record)
                if step >= total or stopped:
                    break
        if last_written != step:
            checkpoint()
    finally:
        bar.close()
        if paths:
            metrics_file.close()

    if keep_best and best_params is not None:
        model.load_state_dict(best_params["model"])
        if model.ema is not None and best_params.get("ema") is not None:
            model.ema.load_state_dict(best_params["ema"])
    if paths and figures:
        _figures(model, paths, out_dir, seed)
    result.step, result.stopped_early = step, stopped
    result.epoch = loader.epoch + loader.position / len(loader)
    result.best = {k: best[k] for k in ("metric", "mode", "value", "step")}
    result.seconds = time.perf_counter() - t_start
    return result


def _progress_bar(enabled, total, initial, name):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=f"train {name}", unit="step", disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, file=sys.stderr)


def _figures(model, paths, out_dir, seed):
    """curves.png from metrics.jsonl, then the model's own figures (with a fresh rng)."""
    from . import plots
    with open(paths[METRICS]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    keys = list(dict.fromkeys(k for r in records for k in r if k.startswith(("train/", "val/"))))
    if keys:
        plots.curves(records, paths[CURVES], keys=keys, smooth=0.9, title=os.path.basename(out_dir))
    with no_grad():
        model.eval()
        try:
            model.figures(out_dir, np.random.default_rng([seed, 2]))
        finally:
            model.train()


def _truncate_metrics(path, step):
    """Drop records after ``step`` (logged after the last checkpoint, before a crash)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.readlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line torn by the crash
            break
        if record.get("step", 0) > step:
            break
        kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write(path, lambda f: f.write("".join(kept).encode()))


def _write_json(path, obj):
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, default=str).encode()))


def load_run(run_dir, which="best", device="cpu"):
    """Rebuild a run's model from config.json and load its best or last parameters.

    Args:
        run_dir: a run folder written by ``train``.
        which: "best" (best.npz, falling back to the checkpoint) or "last" (checkpoint.npz).
        device: where to put the model.

    Returns:
        ``(model, config)``.

    Raises:
        FileNotFoundError: no config.json or no parameters in ``run_dir``.
        ValueError: the config does not say how to build the model (built by hand).
    """
    from .models import build_model
    cfg_path = os.path.join(run_dir, CONFIG)
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has no {CONFIG}")
    with open(cfg_path) as f:
        config = json.load(f)
    built = config.get("model")
    if not built:
        raise ValueError(f"{cfg_path} does not record how the model was built (it was not made by "
                         "minigen.models.build_model), so it cannot be rebuilt")
    path = os.path.join(run_dir, BEST if which == "best" else CHECKPOINT)
    if which == "best" and not os.path.exists(path):
        path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} holds no parameters ({BEST} or {CHECKPOINT})")
    model = build_model(built["model"], built.get("preset"), rng=0, **built.get("kwargs", {}))
    model.to(device)
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    ema = state["ema"] if "ema" in state else state["optim"]["ema"]
    if ema is not None:  # the averaged weights come back too, for sample() / eval_step()
        model.ema = EMA(model, decay=ema["decay"])
        model.ema.load_state_dict(ema)
    model.eval()
    return model, config
