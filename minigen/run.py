"""The run layer: a run folder, the data splits, the model built from its preset, the report.

::

    import minigen
    result = minigen.train("vae", preset="digits-reference", out="runs/vae")
    result.report          # {"examples": 447, "nelbo": 97.17, "nll_iwae": 94.91, ...}

``train`` resolves every setting (``models.registry.resolve``: flag -> resumed run ->
preset -> default), builds the model, loads the train / val / test splits once, runs the
loop (``minigen.loop``), and at the end writes the report and the pictures. The same
function serves ``python -m minigen train``. A run folder holds::

    config.json          how the model and the run were configured (enough to rebuild both)
    metrics.jsonl        one JSON record per line: every step and every validation
    checkpoint.npz       the latest full state, replaced atomically ...
    checkpoint.prev.npz  ... and the one before it, which --resume falls back to
    best.npz             the parameters (and EMA) of the best validation so far
    test_metrics.json    the end-of-run report on the test split (``model.report``)
    curves.png, *.png    loss curves and the model's pictures (``model.figures``)
"""
import json
import os
import warnings

import numpy as np

from autograd import check_device

from .checkpoint import CheckpointError, atomic_write, load_checkpoint, save_checkpoint
from .loop import Loop
from .schedules import EMA

__all__ = ["train", "load_run", "RunFolder", "Splits", "evaluate_run", "free_run_dir"]


class RunFolder:
    """The files of one run (see the module docstring); the only writer of a run folder.

    Args:
        path: the folder (created when a run starts).
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        join = lambda name: os.path.join(self.path, name)  # noqa: E731
        self.config, self.metrics, self.best = join("config.json"), join("metrics.jsonl"), join("best.npz")
        self.checkpoint, self.previous = join("checkpoint.npz"), join("checkpoint.prev.npz")
        self.report, self.curves = join("test_metrics.json"), join("curves.png")
        self._metrics_file = None

    def holds_run(self):
        return os.path.exists(self.checkpoint) or os.path.exists(self.previous)

    def read_config(self):
        """config.json as a dict (FileNotFoundError naming the folder if it is not a run)."""
        if not os.path.exists(self.config):
            raise FileNotFoundError(f"{self.path} is not a run folder: it has no config.json")
        with open(self.config) as f:
            return json.load(f)

    def write_json(self, path, obj):
        atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, default=str).encode()))

    # -- metrics.jsonl --------------------------------------------------------------------
    def open_metrics(self, resume_step=None):
        """Start metrics.jsonl, or continue it after dropping records past ``resume_step``."""
        if resume_step is not None and os.path.exists(self.metrics):
            kept = []
            with open(self.metrics) as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:            # a line torn by a crash
                        break
                    if record.get("step", 0) > resume_step:
                        break
                    kept.append(line if line.endswith("\n") else line + "\n")
            atomic_write(self.metrics, lambda f: f.write("".join(kept).encode()))
        self._metrics_file = open(self.metrics, "a" if resume_step is not None else "w")

    def log(self, record):
        self._metrics_file.write(json.dumps(record) + "\n")

    def close(self):
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None

    def records(self):
        with open(self.metrics) as f:
            return [json.loads(line) for line in f if line.strip()]

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, state):
        """Write the state atomically, keeping the previous checkpoint as checkpoint.prev.npz."""
        self._metrics_file.flush()
        if os.path.exists(self.checkpoint):
            os.replace(self.checkpoint, self.previous)
        save_checkpoint(self.checkpoint, state)

    def load_checkpoint(self):
        """The latest readable checkpoint: checkpoint.npz, else (with a warning) the previous one.

        Raises:
            CheckpointError: neither can be read; the message names both files.
        """
        errors = []
        for path in (self.checkpoint, self.previous):
            if not os.path.exists(path):
                continue
            try:
                state = load_checkpoint(path)
            except CheckpointError as err:
                errors.append(str(err))
                continue
            if errors:
                warnings.warn(f"{errors[0]}; resuming from the previous checkpoint {path} "
                              f"(step {state['step']})", stacklevel=2)
            return state
        raise CheckpointError("no readable checkpoint in " + self.path + (": " + "; ".join(errors) if errors else ""))

    def save_best(self, snapshot):
        save_checkpoint(self.best, snapshot)


def free_run_dir(base):
    """``base``, or ``base-2``, ``base-3``, ... : the first folder that holds no run yet."""
    out, i = base, 1
    while RunFolder(out).holds_run():
        i += 1
        out = f"{base}-{i}"
    return out


class Splits:
    """The train / val / test ``Dataset``s of a run, loaded once in the model's view."""

    def __init__(self, data, view):
        from .data import get_dataset
        self.name = data
        self.train, self.val, self.test = (get_dataset(data, s, view=view) for s in ("train", "val", "test"))

    def test_for(self, model):
        """The test split if its examples have the model's shape, else None. A model that reads
        no data (``reads_data = False``: phi4, whose batches only count the steps) gets it too:
        its report runs on no examples of it."""
        shape = getattr(model, "data_shape", None)
        if not getattr(model, "reads_data", True):
            return self.test
        return self.test if shape is None or tuple(self.test.shape) == tuple(shape) else None


def train(model, preset=None, *, out=None, resume=False, model_kwargs=None, progress=True,
          figures=True, on_step=None, **settings):
    """Train a registered model into a run folder; the Python twin of ``python -m minigen train``.

    Args:
        model: a registered model name (``"vae"``).
        preset: one of its presets (None: the resumed run's, else the model's default).
        out: the run folder (None: nothing is written, no report printed).
        resume: continue the run in ``out`` exactly where its checkpoint left it.
        model_kwargs: constructor arguments that win over the preset's.
        progress: show a progress bar.
        figures: write curves and the model's pictures at the end.
        on_step: optional ``on_step(step, record)`` after every step.
        **settings: ``TrainConfig`` fields that win over the preset's (``epochs=3``, ``lr=...``).

    Returns:
        A ``TrainResult`` (``result.model`` is the trained model with the kept parameters).

    Raises:
        TypeError / ValueError: unknown or invalid settings (named in the message).
        FileExistsError: ``out`` holds a run and ``resume`` is False.
        FileNotFoundError: ``resume`` with no run in ``out``.
    """
    from .data import BatchLoader
    from .models import build_model, resolve
    run = RunFolder(out) if out else None
    saved = None
    if resume:
        if run is None or not run.holds_run():
            raise FileNotFoundError(f"--resume: {out} holds no run to continue (no checkpoint.npz)"
                                    if out else "resume=True needs out= (the run folder to continue)")
        saved = run.read_config()
    elif run is not None and run.holds_run():
        raise FileExistsError(f"{out} already holds a run (checkpoint.npz); resume it with --resume, or "
                              "choose another folder (--out)")
    preset, kwargs, config = resolve(model, preset, settings, model_kwargs, saved)
    check_device(config.device)
    net = build_model(model, preset, rng=np.random.default_rng([config.seed, 0]), **kwargs)
    splits = Splits(config.data, net.dataset_view)
    loader = BatchLoader(*splits.train.arrays(), batch_size=config.batch_size, shuffle=True,
                         rng=np.random.default_rng([config.seed, 1]), transform=net.loader_transform())
    net.to(config.device)
    loop = Loop(net, loader, splits.val, config, run, progress, on_step)
    net.configure_optimizers(config, loop.total)
    if run is not None:
        os.makedirs(run.path, exist_ok=True)
        if resume:
            ckpt = run.load_checkpoint()
            best = load_checkpoint(run.best) if os.path.exists(run.best) else None
            loop.load_state(ckpt, best)
            if settings.get("lr") is not None:              # --lr on resume: continue with the new rate
                if config.schedule != "constant":
                    raise ValueError(f"--lr on resume changes the rate of a {config.schedule!r} schedule "
                                     "mid-way; start a new run instead")
                for opt in net.optimizers.values():
                    for group in opt.param_groups:
                        group["lr"] = config.lr
        run.write_json(run.config, {**net.config, "train": config.to_dict(), "view": net.dataset_view})
        run.open_metrics(loop.step if resume else None)
    try:
        result = loop()
    finally:
        if run is not None:
            run.close()
    result.model = net
    result.report = finish(net, run, splits, config.seed, figures)
    return result


def finish(model, run, splits, seed, figures=True):
    """The end of a run: the test report (printed; written with the curves and pictures when
    there is a run folder)."""
    from . import plots
    from autograd import no_grad
    rng = np.random.default_rng([seed, 2])
    test = splits.test_for(model)
    report = {}
    model.eval()
    try:
        with no_grad():
            if test is not None:
                report = {"split": "test", **model.report(test, np.random.default_rng([seed, 3]))}
                if run is not None:
                    run.write_json(run.report, report)
                print(f"{model.title}: {format_report(report)}", flush=True)
            if figures and run is not None:
                records = run.records()
                keys = list(dict.fromkeys(k for r in records for k in r if k.startswith(("train/", "val/"))))
                if keys:
                    plots.curves(records, run.curves, keys=keys, smooth=0.9, title=os.path.basename(run.path))
                model.figures(run.path, rng, test)
    finally:
        model.train()
    return report


def format_report(report):
    """One line: ``test (447 examples): nll 82.3190  bpd 1.8556``."""
    head = f"{report.get('split', 'test')} ({report.get('examples')} examples"
    opts = [f"{k} {report[k]}" for k in ("k", "draws") if k in report]
    values = "  ".join(f"{k} {v:.4f}" for k, v in report.items()
                       if k not in ("split", "examples", "k", "draws") and isinstance(v, float))
    return head + (", " + ", ".join(opts) if opts else "") + "): " + values


def load_run(run_dir, which=None, device="cpu"):
    """Rebuild a run's model from config.json and load its best or last parameters.

    Args:
        run_dir: a run folder.
        which: "best" (best.npz, falling back to the checkpoint), "last", or None: the
            parameters the run ended with, as its report used them (best with early
            stopping, else last).
        device: where to put the model.

    Returns:
        ``(model, config)``.
    """
    from .models import build_model
    run = RunFolder(run_dir)
    config = run.read_config()
    if which is None:
        which = "best" if config.get("train", {}).get("early_stopping") else "last"
    if which not in ("best", "last"):
        raise ValueError(f"which={which!r}: choose 'best' or 'last'")
    path = run.best if which == "best" and os.path.exists(run.best) else None
    state = load_checkpoint(path) if path else run.load_checkpoint()
    model = build_model(config["model"], config.get("preset"), rng=0, **config.get("model_kwargs", {}))
    model.to(device)
    model.load_state_dict(state["model"])
    ema = state["ema"] if "ema" in state else state["optim"]["ema"]
    if ema is not None:  # the averaged weights come back too, for sample() / eval_step()
        model.ema = EMA(model, decay=ema["decay"])
        model.ema.load_state_dict(ema)
    model.eval()
    return model, config


def evaluate_run(run_dir, split="test", which=None, device="cpu", **options):
    """The report of a trained run on ``split``, as at the end of training (``options``: the
    model's report options, e.g. ``k=`` for a VAE, ``draws=`` for a flow)."""
    from autograd import no_grad
    from .data import get_dataset
    model, config = load_run(run_dir, which, device)
    data = get_dataset(config["train"]["data"], split, view=config.get("view", model.dataset_view))
    seed = config["train"]["seed"]
    with no_grad():
        kept = "best" if config.get("train", {}).get("early_stopping") else "last"
        report = {"split": split, "which": which or kept,
                  **model.report(data, np.random.default_rng([seed, 3]), **options)}
    return report, model, config


