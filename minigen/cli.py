"""``python -m minigen``: list, train, sample, eval, bench.

::

    python -m minigen list
    python -m minigen train mlp --data digits --epochs 20 --out runs/mlp
    python -m minigen train mlp --out runs/mlp --resume --epochs 40    # continue to 40 epochs
    python -m minigen eval runs/mlp --split test
    python -m minigen sample runs/vae --n 64                           # samples.png + samples.npy
    python -m minigen bench models --repeat 5                          # = python -m minigen.bench

Each subcommand has ``--help`` with examples. Settings are resolved in this order,
later winning: the model's constructor defaults, its preset (``--config NAME``, or the
model's ``default_preset``), the saved config.json of a run being resumed, and the
flags given on the command line.
"""
import argparse
import json
import os
import sys

import numpy as np

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


_EXAMPLES = {
    "list": "example:\n  python -m minigen list",
    "train": """examples:
  python -m minigen train mlp                               # digits, the model's default preset
  python -m minigen train mlp --data digits --epochs 2 --out runs/try
  python -m minigen train mlp --config digits-plain --lr 1e-3 --batch-size 128
  python -m minigen train mlp --set hidden=256 --set dropout=0.3
  python -m minigen train mlp --early-stopping val/loss:10
  python -m minigen train mlp --threads 1                   # small model, busy machine
  python -m minigen train mlp --out runs/try --resume --epochs 4  # continue the run to 4 epochs""",
    "sample": """examples:
  python -m minigen sample runs/vae                 # 64 samples -> runs/vae/samples.png (+ .npy)
  python -m minigen sample runs/vae --n 16 --out /tmp/s.png --seed 3""",
    "eval": """examples:
  python -m minigen eval runs/mlp                   # test split, best parameters
  python -m minigen eval runs/mlp --split val --which last""",
    "bench": """examples:
  python -m minigen bench kernels
  python -m minigen bench models --repeat 5 --only vae
(everything after 'bench' goes to python -m minigen.bench; see its --help)""",
}


def build_parser():
    """The argparse parser of ``python -m minigen`` (``bench`` is forwarded separately)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="python -m minigen", formatter_class=fmt,
                                description="minigen: deep generative models from scratch.",
                                epilog="\n\n".join(_EXAMPLES.values()))
    sub = p.add_subparsers(dest="command", metavar="{list,train,sample,eval,bench}")
    sub.required = True

    sub.add_parser("list", help="registered models and data sets", formatter_class=fmt,
                   epilog=_EXAMPLES["list"])

    t = sub.add_parser("train", help="train a model into a run folder", formatter_class=fmt,
                       epilog=_EXAMPLES["train"])
    t.add_argument("model", help="a registered model name (see `list`)")
    t.add_argument("--data", help="data set name (default: the preset's, else the model's default)")
    t.add_argument("--config", metavar="PRESET", help="a named preset of the model (see `list`)")
    t.add_argument("--epochs", type=int, help="passes over the training data")
    t.add_argument("--steps", type=int, help="total optimiser steps (overrides --epochs)")
    t.add_argument("--batch-size", type=int, help="examples per step")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--schedule", choices=["constant", "step", "cosine", "warmup-cosine"],
                   help="learning-rate schedule")
    t.add_argument("--eval-every", type=int, help="steps between evaluations (default: each epoch)")
    t.add_argument("--early-stopping", metavar="METRIC:PATIENCE",
                   help="stop after PATIENCE evaluations without improvement, e.g. val/loss:10")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a model constructor argument (VALUE parsed as JSON), repeatable")
    t.add_argument("--device", default=None, help="cpu (default) or cuda (needs CuPy)")
    t.add_argument("--out", help="run folder (default: runs/MODEL, or runs/MODEL-2, ... if taken)")
    t.add_argument("--seed", type=int, help="seed of every generator of the run (default 0)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_threads(t)

    s = sub.add_parser("sample", help="draw samples from a trained run", formatter_class=fmt,
                       epilog=_EXAMPLES["sample"])
    s.add_argument("run_dir", help="a run folder written by `train`")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", help="PNG path (default RUN_DIR/samples.png); the array goes beside it as .npy")
    s.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")
    s.add_argument("--which", choices=["best", "last"], default="best", help="parameters to use")
    s.add_argument("--device", default="cpu", help="cpu or cuda")
    _add_threads(s)

    e = sub.add_parser("eval", help="evaluate a trained run on a split", formatter_class=fmt,
                       epilog=_EXAMPLES["eval"])
    e.add_argument("run_dir", help="a run folder written by `train`")
    e.add_argument("--split", default="test", help="train, val or test (default test)")
    e.add_argument("--which", choices=["best", "last"], default="best", help="parameters to use")
    e.add_argument("--batch-size", type=int, default=256, help="examples per eval_step")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    _add_threads(e)

    sub.add_parser("bench", help="benchmarks: forwards to python -m minigen.bench", formatter_class=fmt,
                   epilog=_EXAMPLES["bench"], add_help=False)
    return p


def _add_threads(parser):
    parser.add_argument("--threads", type=int, help="BLAS and Numba threads (default: all cores); 1 is "
                        "often faster for small models, and much faster when other processes share "
                        "the CPU (idle BLAS threads spin-wait)")


def _limit_threads(n):
    """Limit BLAS (via threadpoolctl) and Numba to ``n`` threads; returns a context manager."""
    import contextlib
    if not n:
        return contextlib.nullcontext()
    try:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as err:
        raise CLIError("--threads needs threadpoolctl (pip install threadpoolctl)") from err
    return threadpool_limits(n)


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":  # everything after 'bench' belongs to minigen.bench
        from .bench.__main__ import main as bench_main
        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        with _limit_threads(getattr(args, "threads", None)):
            return {"list": cmd_list, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval}[
                args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted; continue with `train ... --resume` from the last checkpoint",
              file=sys.stderr)
        return 130
    except (CLIError, KeyError, ValueError, FileNotFoundError, FileExistsError, RuntimeError,
            NotImplementedError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"python -m minigen {args.command}: error: {message}", file=sys.stderr)
        return 2


# ----------------------------------------------------------------------------- list


def cmd_list(args):
    from .data import describe_dataset, list_datasets
    from .models import get_model, list_models
    print("models:")
    for name in list_models():
        cls = get_model(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        kind = "" if cls.is_generative else "  [not generative]"
        print(f"  {name:14s} {cls.__name__}: {doc}{kind}")
        if cls.presets:
            presets = ", ".join(p + (" (default)" if p == cls.default_preset else "")
                                for p in cls.presets)
            print(f"  {'':14s} presets: {presets}")
    print("data sets:")
    for name in list_datasets():
        print(f"  {name:14s} {describe_dataset(name)}")
    return 0


# ----------------------------------------------------------------------------- train


def _parse_set(items):
    out = {}
    for item in items:
        if "=" not in item:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare string
    return out


def _default_out(model_name):
    base = os.path.join("runs", model_name)
    out, i = base, 1
    while os.path.exists(os.path.join(out, "checkpoint.npz")):
        i += 1
        out = f"{base}-{i}"
    return out


def cmd_train(args):
    from .data import list_datasets
    from .models import build_model, get_model, get_preset
    from .train import check_device, train

    cls = get_model(args.model)                               # KeyError: unknown model
    saved = {}
    if args.resume:
        if not args.out:
            raise CLIError("--resume needs --out RUN_DIR (the run to continue)")
        cfg = os.path.join(args.out, "config.json")
        if os.path.exists(cfg):
            with open(cfg) as f:
                saved = json.load(f)
            if saved.get("model") and saved["model"]["model"] != args.model:
                raise CLIError(f"{args.out} holds a run of {saved['model']['model']!r}, not {args.model!r}")
    built = saved.get("model") or {}
    preset_name = args.config or built.get("preset") or cls.default_preset
    preset = get_preset(args.model, preset_name)               # KeyError: unknown preset
    ptrain = preset["train"]
    saved_optim = saved.get("optim", {})

    def pick(flag, key, default):
        """The flag if given, else the resumed run's setting, else the preset's, else default."""
        for value in (flag, saved.get(key), ptrain.get(key)):
            if value is not None:
                return value
        return default

    device = pick(args.device, "device", "cpu")
    check_device(device)
    data = pick(args.data, "data", cls.default_dataset)
    if data not in list_datasets():
        raise CLIError(f"unknown data set {data!r}; choose one of {', '.join(list_datasets())}")
    seed = pick(args.seed, "seed", 0)
    steps = args.steps
    epochs = args.epochs
    if steps is None and epochs is None:
        epochs = saved.get("epochs") or ptrain.get("epochs")
        steps = saved.get("steps") if saved and saved.get("epochs") is None else None
        if epochs is None and steps is None:
            epochs = 10
    optim = {"lr": args.lr if args.lr is not None else saved_optim.get("lr", ptrain.get("lr", 1e-3))}
    schedule = args.schedule or saved_optim.get("schedule") or ptrain.get("schedule")
    if schedule:
        optim["schedule"] = schedule
    for key in ("weight_decay", "warmup_steps", "ema_decay"):
        if saved_optim.get(key, ptrain.get(key)) is not None:
            optim[key] = saved_optim.get(key, ptrain.get(key))
    early = None
    spec = args.early_stopping or saved.get("early_stopping") or ptrain.get("early_stopping")
    if isinstance(spec, str):
        metric, _, patience = spec.rpartition(":")
        if not metric or not patience.isdigit():
            raise CLIError(f"--early-stopping expects METRIC:PATIENCE, e.g. val/loss:10, got {spec!r}")
        early = (metric, int(patience))
    elif spec:
        early = tuple(spec)

    kwargs = {**built.get("kwargs", {}), **_parse_set(args.set)}
    model = build_model(args.model, preset_name, rng=np.random.default_rng([seed, 0]), **kwargs)
    out = args.out or _default_out(args.model)
    print(f"training {args.model} ({type(model).__name__}, {model.num_parameters():,} parameters) "
          f"on {data} -> {out}", file=sys.stderr)
    result = train(model, data, epochs=epochs, steps=steps,
                   batch_size=pick(args.batch_size, "batch_size", 64),
                   eval_every=args.eval_every or saved.get("eval_every"), out_dir=out, seed=seed,
                   resume=args.resume, optim=optim, early_stopping=early, device=device,
                   progress=not args.no_progress)
    print(f"run folder: {out}")
    print(f"steps: {result.step} ({result.epoch:g} epochs) in {result.seconds:.1f} s"
          + ("  [stopped early]" if result.stopped_early else ""))
    if result.evals:
        last = {k: v for k, v in result.evals[-1].items() if k.startswith("val/")}
        print("last evaluation: " + "  ".join(f"{k} {v:.4f}" for k, v in last.items()))
        b = result.best
        print(f"best {b['metric']}: {b['value']:.4f} at step {b['step']}")
    return 0


# ----------------------------------------------------------------------------- sample / eval


def cmd_sample(args):
    from . import plots
    from .train import check_device, load_run
    check_device(args.device)
    model, config = load_run(args.run_dir, args.which, args.device)
    if not getattr(model, "is_generative", True):
        name = config["model"]["model"]
        raise CLIError(f"{name} is not a generative model (it models p(y | x)), so it has nothing "
                       f"to sample; try `python -m minigen eval {args.run_dir}`")
    from autograd import no_grad
    with no_grad():
        x = model.sample(args.n, np.random.default_rng(args.seed))
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    png = args.out or os.path.join(args.run_dir, "samples.png")
    np.save(os.path.splitext(png)[0] + ".npy", x)
    if x.ndim >= 3 and x.shape[-1] > 2:                       # images (N, C, H, W) or signals
        if x.ndim == 3 and x.shape[1] == 1 and x.shape[2] > 32:
            plots.signals(x, png, title=f"{config['model']['model']} samples")
        else:
            plots.image_grid(x, png, title=f"{config['model']['model']} samples")
    elif x.ndim == 2 and x.shape[1] == 2:                     # 2-D points
        plots.density_2d(None, png, samples=x, title=f"{config['model']['model']} samples")
    else:
        png = None
    print(f"{len(x)} samples of shape {x.shape[1:]} -> {os.path.splitext(png or 'samples')[0]}.npy"
          + (f", {png}" if png else ""))
    return 0


def cmd_eval(args):
    from .data import get_dataset
    from .train import check_device, evaluate, load_run
    check_device(args.device)
    model, config = load_run(args.run_dir, args.which, args.device)
    if not config.get("data"):
        raise CLIError(f"{args.run_dir}/config.json does not name its data set")
    ds = get_dataset(config["data"], args.split, view=config.get("view", model.dataset_view))
    scores = evaluate(model, ds, batch_size=args.batch_size, device=args.device)
    line = "  ".join(f"{k} {v:.4f}" for k, v in scores.items())
    print(f"{config['model']['model']} on {config['data']}/{args.split} ({len(ds)} examples, "
          f"{args.which} parameters): {line}")
    path = os.path.join(args.run_dir, f"eval_{args.split}.json")
    with open(path, "w") as f:
        json.dump({"split": args.split, "which": args.which, "n": len(ds), **scores}, f, indent=2)
    return 0
