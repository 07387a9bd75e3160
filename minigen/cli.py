"""``python -m minigen``: list, train, sample, eval, reproduce, bench.

::

    python -m minigen list
    python -m minigen train vae --config digits-reference --out runs/vae
    python -m minigen train vae --out runs/vae --resume --epochs 300   # continue the run
    python -m minigen eval runs/vae --split test --k 1000              # the end-of-run report
    python -m minigen sample runs/vae --n 64 --seed 1                  # sample_seed1.png + .npy
    python -m minigen reproduce pixelcnn --check                       # the README's table
    python -m minigen bench models --repeat 5                          # = python -m minigen.bench

Each subcommand has ``--help`` with examples. Settings are resolved in one place
(``minigen.models.registry.resolve``), later winning: the defaults of ``TrainConfig``
and of the model's constructor, its preset (``--config NAME`` or the model's default),
the config.json of a run being resumed, and the flags given on the command line.
"""
import argparse
import json
import os
import re
import sys

import numpy as np

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


_EXAMPLES = {
    "list": "example:\n  python -m minigen list",
    "train": """examples:
  python -m minigen train pixelcnn --config digits-reference --out runs/pixelcnn
  python -m minigen train mlp --data digits --epochs 2 --out runs/try
  python -m minigen train mlp --config digits-plain --lr 1e-3 --batch-size 128
  python -m minigen train vae --set latent_dim=8 --set hidden=[128,128]
  python -m minigen train mlp --early-stopping val/loss:10
  python -m minigen train mlp --threads 1                   # fix the threads (default: the idle cores)
  python -m minigen train mlp --out runs/try --resume --epochs 4  # continue the run to 4 epochs""",
    "sample": """examples:
  python -m minigen sample runs/vae                 # 64 samples -> runs/vae/sample_seed0.png (+ .npy)
  python -m minigen sample runs/vae --n 16 --out /tmp/s.png --seed 3""",
    "eval": """examples:
  python -m minigen eval runs/pixelcnn              # test split, best parameters: the README's figure
  python -m minigen eval runs/vae --k 5000          # a tighter IWAE bound
  python -m minigen eval runs/realnvp --draws 1 --split val --which last
  python -m minigen eval runs/vae --metrics fid,precision,recall,kid,c2st   # sample quality""",
    "reproduce": """examples:
  python -m minigen reproduce                       # every model of the README's table (minutes)
  python -m minigen reproduce vae pixelcnn --check  # and compare with the README's figures""",
    "bench": """examples:
  python -m minigen bench kernels
  python -m minigen bench models --repeat 5 --only vae
(everything after 'bench' goes to python -m minigen.bench; see its --help)""",
}


def _positive(name, allow_zero=False):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} expects an integer, got {text!r}") from None
        if value < (0 if allow_zero else 1):
            raise argparse.ArgumentTypeError(f"{name} {value} is not allowed: {name} must be an integer "
                                             f">= {0 if allow_zero else 1}")
        return value
    return parse


def build_parser():
    """The argparse parser of ``python -m minigen`` (``bench`` is forwarded separately)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="python -m minigen", formatter_class=fmt,
                                description="minigen: deep generative models from scratch.",
                                epilog="\n\n".join(_EXAMPLES.values()))
    sub = p.add_subparsers(dest="command", metavar="{list,train,sample,eval,reproduce,bench}")
    sub.required = True
    sub.add_parser("list", help="registered models, presets and data sets", formatter_class=fmt,
                   epilog=_EXAMPLES["list"])

    t = sub.add_parser("train", help="train a model into a run folder", formatter_class=fmt,
                       epilog=_EXAMPLES["train"])
    t.add_argument("model", help="a registered model name (see `list`)")
    t.add_argument("--config", metavar="PRESET", help="a named preset of the model (see `list`)")
    t.add_argument("--data", help="data set name (default: the preset's)")
    t.add_argument("--epochs", type=int, help="passes over the training data")
    t.add_argument("--steps", type=int, help="total optimiser steps (overrides --epochs)")
    t.add_argument("--batch-size", type=int, help="examples per step")
    t.add_argument("--lr", type=float, help="learning rate (> 0)")
    t.add_argument("--schedule", help="learning-rate schedule: constant, step, cosine, warmup-cosine")
    t.add_argument("--eval-every", type=int, help="steps between evaluations (default: each epoch)")
    t.add_argument("--early-stopping", metavar="METRIC:PATIENCE",
                   help="stop after PATIENCE evaluations without improvement, e.g. val/loss:10")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a model constructor argument (VALUE parsed as JSON), repeatable")
    t.add_argument("--device", help="cpu (default) or cuda (needs CuPy and a GPU)")
    t.add_argument("--out", help="run folder (default: runs/MODEL, or runs/MODEL-2, ... if taken)")
    t.add_argument("--seed", type=int, help="seed of every generator of the run (default 0)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_threads(t)

    s = sub.add_parser("sample", help="draw samples from a trained run", formatter_class=fmt,
                       epilog=_EXAMPLES["sample"])
    s.add_argument("run_dir", help="a run folder written by `train`")
    s.add_argument("--n", type=_positive("--n"), default=64, help="number of samples (default 64)")
    s.add_argument("--out", help="PNG path (default RUN_DIR/sample_seedSEED.png: the training's "
                   "samples.png is never overwritten); the array goes beside it as .npy")
    s.add_argument("--seed", type=_positive("--seed", allow_zero=True), default=0, help="sampling seed")
    s.add_argument("--which", choices=["best", "last"], default=None,
                   help="parameters to use (default: those the run kept: best with early stopping, else last)")
    s.add_argument("--device", default="cpu", help="cpu or cuda")
    _add_threads(s)

    e = sub.add_parser("eval", help="the end-of-run report of a trained run, on any split",
                       formatter_class=fmt, epilog=_EXAMPLES["eval"])
    e.add_argument("run_dir", help="a run folder written by `train`")
    e.add_argument("--split", default="test", choices=["train", "val", "test"], help="default test")
    e.add_argument("--which", choices=["best", "last"], default=None,
                   help="parameters to use (default: those the run kept: best with early stopping, else last)")
    e.add_argument("--k", type=_positive("--k"), help="importance samples of a latent-variable model's "
                   "IWAE bound (default: as at the end of training)")
    e.add_argument("--draws", type=_positive("--draws"), help="dequantisation draws of a flow's NLL "
                   "(default: as at the end of training)")
    e.add_argument("--metrics", metavar="NAMES", help="instead of the report: sample metrics of --n samples "
                   "against the split, comma-separated from fid, kid, precision, recall, mmd, c2st, parzen, "
                   "memorisation, or 'all' (minigen/metrics; digits runs)")
    e.add_argument("--n", type=_positive("--n"), default=1000, help="samples drawn for --metrics (default 1000)")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    _add_threads(e)

    r = sub.add_parser("reproduce", help="re-run the README's digits-reference table", formatter_class=fmt,
                       epilog=_EXAMPLES["reproduce"])
    r.add_argument("models", nargs="*", help="models to re-run (default: every model of the table)")
    r.add_argument("--check", action="store_true", help="compare each figure with the README's")
    r.add_argument("--tolerance", type=float, default=5e-5, help="largest difference --check accepts "
                   "(default 5e-5: the README's last printed digit)")
    r.add_argument("--out", default=os.path.join("runs", "reproduce"), help="parent of the run folders")
    _add_threads(r)

    sub.add_parser("bench", help="benchmarks: forwards to python -m minigen.bench", formatter_class=fmt,
                   epilog=_EXAMPLES["bench"], add_help=False)
    return p


def _add_threads(parser):
    parser.add_argument("--threads", type=_positive("--threads"), help="threads of minigen's kernels "
                        "(default: the cores other processes leave idle, measured at start; all "
                        "cores on an idle machine); BLAS runs on one thread inside them")


def idle_cores(interval=0.2):
    """How many of this process's cores other processes left idle over ``interval`` seconds.

    Read from Linux's ``/proc/stat`` (time each core spent idle); None where it cannot be
    read.  A thread pool wider than the idle cores waits on a core another process holds:
    with one of two cores busy, two BLAS threads made a small MLP 4x slower than one.
    """
    import os
    import time
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    def sample():
        idle, total = 0, 0
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name != "cpu" and int(name[3:]) in cores:
                    ticks = [int(v) for v in fields[:8]]   # user nice system idle iowait irq softirq steal
                    idle += ticks[3] + ticks[4]
                    total += sum(ticks)
        return idle, total
    try:
        i0, t0 = sample()
        time.sleep(interval)
        i1, t1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if not cores or t1 <= t0:
        return None
    return len(cores) * (i1 - i0) / (t1 - t0)


def _default_threads():
    """``--threads`` when not given: all cores, or fewer when other processes keep some busy."""
    import os
    idle = idle_cores()
    n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if idle is None or idle > n_cores - 0.5:
        return None                                     # an idle machine: every core
    n = max(1, int(idle + 0.5))
    print(f"threads: {n} of {n_cores} (other processes keep {n_cores - idle:.1f} cores busy; "
          "--threads N to choose)", file=sys.stderr)
    return n


def _limit_threads(n):
    """Run minigen's kernels (Numba) on ``n`` threads and BLAS on one (the one-pool rule,
    ``kernels/config.py``), via threadpoolctl; returns a context manager."""
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
    return threadpool_limits(1, user_api="blas")


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":  # everything after 'bench' belongs to minigen.bench
        from .bench.__main__ import main as bench_main
        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    commands = {"list": cmd_list, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
                "reproduce": cmd_reproduce}
    try:
        threads = getattr(args, "threads", None)
        if threads is None and args.command in ("train", "sample", "eval", "reproduce"):
            threads = _default_threads()
        with _limit_threads(threads):
            return commands[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted; continue with `train ... --resume` from the last checkpoint", file=sys.stderr)
        return 130
    except (CLIError, KeyError, ValueError, TypeError, FileNotFoundError, FileExistsError, RuntimeError,
            NotImplementedError, FloatingPointError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"python -m minigen {args.command}: error: {message}", file=sys.stderr)
        return 2


def _first_line(doc):
    """The first line of a docstring as plain text (reST ``literals`` unquoted)."""
    line = (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
    return re.sub(r"``([^`]*)``", r"\1", line)


def cmd_list(args):
    from .data import describe_dataset, list_datasets
    from .models import get_model, list_models
    print("models:")
    for name in list_models():
        cls = get_model(name)
        kind = "" if cls.is_generative else "  [not generative]"
        print(f"  {name:14s} {cls.__name__}: {_first_line(cls.__doc__)}{kind}")
        for pname, preset in cls.presets.items():
            mark = " (default)" if pname == cls.default_preset else ""
            print(f"  {'':14s}   --config {pname}{mark}" + (f": {preset.about}" if preset.about else ""))
    print("data sets:")
    for name in list_datasets():
        print(f"  {name:14s} {describe_dataset(name)}")
    return 0


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


def cmd_train(args):
    from .models import get_model
    from .run import free_run_dir, train
    get_model(args.model)                                          # KeyError: unknown model
    if args.resume and not args.out:
        raise CLIError("--resume needs --out RUN_DIR (the run to continue)")
    out = args.out or free_run_dir(os.path.join("runs", args.model))
    flags = {"data": args.data, "epochs": args.epochs, "steps": args.steps, "batch_size": args.batch_size,
             "lr": args.lr, "schedule": args.schedule, "eval_every": args.eval_every,
             "early_stopping": args.early_stopping, "device": args.device, "seed": args.seed}
    print(f"training {args.model} -> {out}", file=sys.stderr)
    result = train(args.model, args.config, out=out, resume=args.resume, model_kwargs=_parse_set(args.set),
                   progress=not args.no_progress, **flags)
    print(f"run folder: {out}")
    print(f"steps: {result.step} ({result.epoch:g} epochs) in {result.seconds:.1f} s"
          + ("  [stopped early]" if result.stopped_early else ""))
    if result.evals:
        last = {k: v for k, v in result.evals[-1].items() if k.startswith("val/")}
        print("last evaluation: " + "  ".join(f"{k} {v:.4f}" for k, v in last.items()))
        b = result.best
        print(f"best {b['metric']}: {b['value']:.4f} at step {b['step']}")
    return 0


def cmd_sample(args):
    from autograd import as_numpy, check_device, no_grad
    from . import plots
    from .run import load_run
    check_device(args.device)
    model, config = load_run(args.run_dir, args.which, args.device)
    if not model.is_generative:
        raise CLIError(f"{config['model']} is not a generative model (it models p(y | x)), so it has "
                       f"nothing to sample; try `python -m minigen eval {args.run_dir}`")
    with no_grad():
        x = np.asarray(as_numpy(model.sample(args.n, np.random.default_rng(args.seed))))
    png = args.out or os.path.join(args.run_dir, f"sample_seed{args.seed}.png")
    np.save(os.path.splitext(png)[0] + ".npy", x)
    title = f"{config['model']} samples (seed {args.seed})"
    if x.ndim == 3 and x.shape[1] == 1 and x.shape[2] > 32:      # signals (N, 1, T)
        plots.signals(x, png, title=title)
    elif x.ndim >= 3:                                            # images (N, C, H, W)
        plots.image_grid(x, png, title=title, levels=getattr(model, "num_levels", None))
    elif x.ndim == 2 and x.shape[1] == 2:                        # 2-D points
        plots.density_2d(None, png, samples=x, title=title)
    else:
        png = None
    print(f"{len(x)} samples of shape {x.shape[1:]} -> {os.path.splitext(png or 'samples')[0]}.npy"
          + (f", {png}" if png else ""))
    return 0


def cmd_eval(args):
    from autograd import check_device
    from .run import evaluate_run, format_report
    check_device(args.device)
    if args.metrics:
        return cmd_eval_metrics(args)
    options = {k: v for k, v in (("k", args.k), ("draws", args.draws)) if v is not None}
    try:
        report, model, config = evaluate_run(args.run_dir, args.split, args.which, args.device, **options)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise CLIError(f"{config_name(args.run_dir)} has no report option "
                           f"{' / '.join('--' + k for k in options)}") from err
        raise
    print(f"{config['model']} on {config['train']['data']}, {report['which']} parameters: {format_report(report)}")
    path = os.path.join(args.run_dir, f"eval_{args.split}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    return 0


def cmd_eval_metrics(args):
    from .metrics.suite import parse_metrics, run_sample_metrics
    report = run_sample_metrics(args.run_dir, parse_metrics(args.metrics), args.split, args.which, args.n,
                                args.device)
    values = "  ".join(f"{k} {v:.4f}" for k, v in report.items() if isinstance(v, float))
    print(f"{config_name(args.run_dir)}, {args.n} samples against {args.split}: {values}")
    with open(os.path.join(args.run_dir, f"metrics_{args.split}.json"), "w") as f:
        json.dump(report, f, indent=2)
    return 0


def config_name(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)["model"]


def cmd_reproduce(args):
    from .reproduce import reproduce
    return reproduce(args.models, check=args.check, tolerance=args.tolerance, out=args.out)
