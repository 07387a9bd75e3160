"""``python -m minigen reproduce``: re-run the README's table of digits-reference figures.

``README`` below holds each figure the README prints, to its last digit; a test checks
that the README's table shows exactly these numbers, so the two cannot drift apart.
``reproduce`` re-trains each model's ``digits-reference`` preset into ``runs/reproduce``,
prints the table (markdown) with the command behind each number, and with ``check``
fails when a figure differs from the README's by more than ``tolerance``.
"""
import os
import sys
import time

__all__ = ["README", "reproduce", "table"]

# model -> (report key, the README's figure); the order is the README's.
README = {
    "pixelcnn": [("nll", 82.3190), ("bpd", 1.8556)],
    "vae": [("nelbo", 97.1702), ("nll_iwae", 94.9149)],
    "realnvp": [("nll", 95.3801), ("bpd", 2.1501)],
    "independent": [("nll", 106.4728)],
    "fvsbn": [("nll", 93.4200)],
    "nade": [("nll", 91.2617)],
    "made": [("nll", 97.3189)],
    "gated-pixelcnn": [("nll", 81.7673)],
    "row-lstm": [("nll", 81.8214)],
    "diagonal-bilstm": [("nll", 81.5331)],
    "kde": [("nll", 133.5422)],
    "gmm": [("nll", 125.8515)],
    "rbm": [("nll", 17.9833)],
    "wavenet": [("nll", 81.3930), ("bpd", 1.8348)],
    "nice": [("nll", 110.6764), ("bpd", 2.4949)],
    "maf": [("nll", 109.0751), ("bpd", 2.4588)],
    "glow": [("nll", 98.2273), ("bpd", 2.2142)],
    "ddpm": [("nll", 141.2204), ("bpd", 3.1834)],
}


def command(model):
    """The command that trains ``model`` as the README's table says."""
    return f"python -m minigen train {model} --config digits-reference --out runs/{model}"


def table(rows):
    """Markdown rows ``| model | figure | value | README | difference | command |``."""
    lines = ["| model | figure | reproduced | README | difference | command |", "|---|---|---:|---:|---:|---|"]
    for model, key, value, expected in rows:
        lines.append(f"| {model} | {key} | {value:.4f} | {expected:.4f} | {value - expected:+.4f} | "
                     f"`{command(model)}` |")
    return "\n".join(lines)


def reproduce(models=(), check=False, tolerance=5e-5, out=os.path.join("runs", "reproduce")):
    """Train each model's digits-reference preset and print the table; returns an exit status.

    Args:
        models: names from ``README`` (empty: all of them).
        check: exit status 1 when a figure differs from the README's by more than ``tolerance``.
        tolerance: the largest accepted difference.
        out: parent folder of the run folders (an existing run there is replaced).
    """
    import shutil
    from .run import train
    models = list(models) or list(README)
    unknown = [m for m in models if m not in README]
    if unknown:
        raise ValueError(f"no README figure for {', '.join(unknown)}; the table has: {', '.join(README)}")
    rows = []
    for model in models:
        run_dir = os.path.join(out, model)
        shutil.rmtree(run_dir, ignore_errors=True)
        start = time.perf_counter()
        result = train(model, "digits-reference", out=run_dir, progress=False)
        print(f"{model}: {time.perf_counter() - start:.0f} s, best epoch at step {result.best['step']}",
              file=sys.stderr)
        rows += [(model, key, result.report[key], expected) for key, expected in README[model]]
    print(table(rows))
    bad = [r for r in rows if abs(r[2] - r[3]) > tolerance]
    if check and bad:
        print(f"{len(bad)} figure(s) differ from the README by more than {tolerance}: "
              + ", ".join(f"{m} {k}" for m, k, _, _ in bad), file=sys.stderr)
        return 1
    return 0
