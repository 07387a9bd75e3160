"""Benchmarks a noisy machine cannot fool: each engine alone, in fresh processes, interleaved.

Timing minigen and PyTorch in one process lets one engine's thread pool (spinning
OpenMP or OpenBLAS workers) slow the other, and PyTorch's own time for the same case was
measured to swing 3-6x between processes on a shared 2-core machine.  So with
``--processes K`` (K >= 2) the parent process times every case K times per engine, each
time in a fresh child process that runs only that engine, alternating which engine goes
first::

    round 0: minigen, torch     round 1: torch, minigen     round 2: minigen, torch ...

Each child prints the medians of its passes (``--repeat`` timed runs after warm-up).  The
peak memory of a training step is measured in one more child per engine, untimed, with
glibc told to hand every block over 64 KiB straight back to the system
(``MALLOC_MMAP_THRESHOLD_``), so the resident set follows the live arrays: the high-water
mark over three steps (Linux ``/proc/self/clear_refs`` resets it) above the resident set
after setup and one warm-up step.  It counts what a step allocates (activations kept for
backward, gradients, workspaces), not compiled code or the optimizer's moments.
The parent reports, per pass, the median over rounds of each engine's time, the median
ratio, and the ratio's spread (smallest to largest over rounds); a spread wider than
``WIDE`` (largest/smallest ratio) is flagged: a machine that busy gives no trustworthy
ratio, run again when it is idle.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

from ._timing import gflops_cell

#: largest / smallest ratio over rounds above which the row is flagged as untrustworthy
WIDE = 1.25


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def peak_mb(fn, state, steps=3):
    """Peak resident memory (MB) of ``steps`` calls of ``fn(state)`` above the resident set
    after one warm-up call (which loads compiled kernels and allocates optimizer state, for
    both engines alike: what is left is what a step itself needs).

    None where the kernel does not let a process reset its high-water mark (not Linux).
    """
    fn(state)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                      # reset VmHWM to the current VmRSS
        before = _status_kb("VmRSS")
    except OSError:
        return None
    for _ in range(steps):
        fn(state)
    return (_status_kb("VmHWM") - before) / 1024


def child(cases, engine, repeat, out_path, memory=False):
    """Time one engine's passes of ``cases`` (this process runs nothing else), or with ``memory``
    measure its training step's peak memory; write JSON rows."""
    from ._timing import median_ms
    rows = []
    for case in cases:
        passes = case["minigen"] if engine == "minigen" else (case.get("torch") or {})
        if not passes or (memory and "step" not in passes):
            continue
        state = case["setup"]()
        if memory:
            rows.append({"case": case["name"], "pass": "step", "ms": None,
                         "peak_mb": peak_mb(passes["step"], state)})
            continue
        for name, fn in passes.items():
            rows.append({"case": case["name"], "pass": name, "ms": median_ms(fn, state, repeat=repeat),
                         "peak_mb": None, "flop": case.get("flops", {}).get(name)})
    with open(out_path, "w") as f:
        json.dump(rows, f)


def _spawn(suite, name, engine, repeat, device, memory=False):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.json")
        cmd = [sys.executable, "-m", "minigen.bench", suite, "--exact", name, "--engine", engine,
               "--repeat", str(repeat), "--device", device, "--json", path] + (["--memory"] if memory else [])
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536") if memory else None
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"benchmark child failed ({' '.join(cmd)}):\n{done.stderr[-2000:]}")
        with open(path) as f:
            return json.load(f)


def run_isolated(suite, names, processes, repeat, device="cpu", has_torch=True, out=print):
    """The parent: K interleaved rounds per case, then the table of medians and spreads."""
    results = {}   # (case, pass) -> {"minigen": [ms...], "torch": [...], "ratio": [...], memory}
    for name in names:
        for r in range(processes):
            engines = ["minigen", "torch"] if has_torch else ["minigen"]
            if r % 2:
                engines.reverse()
            times = {}
            for engine in engines:
                for row in _spawn(suite, name, engine, repeat, device):
                    entry = results.setdefault((row["case"], row["pass"]),
                                               {"minigen": [], "torch": [], "ratio": [], "mb": {}})
                    entry["flop"] = entry.get("flop") or row.get("flop")
                    entry[engine].append(row["ms"])
                    times[(row["case"], row["pass"], engine)] = row["ms"]
            for (case, pass_name, engine), ms in times.items():
                theirs = times.get((case, pass_name, "torch"))
                if engine == "minigen" and theirs:
                    results[(case, pass_name)]["ratio"].append(ms / theirs)
        if device == "cpu":
            for engine in (["minigen", "torch"] if has_torch else ["minigen"]):
                for row in _spawn(suite, name, engine, 1, device, memory=True):
                    if row["peak_mb"] is not None and (row["case"], "step") in results:
                        results[(row["case"], "step")]["mb"][engine] = [row["peak_mb"]]
    return _table(results, processes, out)


def _table(results, processes, out):
    med = statistics.median
    header = (f"{'case':44s} {'pass':8s} {'minigen ms':>11s} {'torch ms':>9s} {'ratio':>6s} "
              f"{'spread':>11s}  {'peak MB mg/torch':>17s} {'GFLOP/s mg/torch':>17s}")
    out(f"medians over {processes} interleaved rounds, each engine in its own fresh process")
    out(header)
    out("-" * len(header))
    rows = []
    for (case, pass_name), e in results.items():
        ours = med(e["minigen"])
        theirs = med(e["torch"]) if e["torch"] else None
        ratio = med(e["ratio"]) if e["ratio"] else None
        lo, hi = (min(e["ratio"]), max(e["ratio"])) if e["ratio"] else (None, None)
        wide = bool(lo and hi / lo > WIDE)
        mb = {k: med(v) for k, v in e["mb"].items()}
        flop = e.get("flop")
        rows.append({"case": case, "pass": pass_name, "minigen_ms": ours, "torch_ms": theirs, "ratio": ratio,
                     "ratio_min": lo, "ratio_max": hi, "wide": wide, "peak_mb": mb, "flop": flop})
        spread = f"{lo:.2f}-{hi:.2f}" if lo else "-"
        mem = ""
        if "minigen" in mb:
            mem = f"{mb['minigen']:.0f}/" + (f"{mb['torch']:.0f}" if "torch" in mb else "-")
        out(f"{case:44s} {pass_name:8s} {ours:11.3f} {(f'{theirs:9.3f}' if theirs else '        -')} "
            f"{(f'{ratio:6.2f}' if ratio else '     -')} {spread:>11s}  {mem:>17s} "
            f"{gflops_cell(flop, ours, theirs):>17s}"
            + ("  WIDE: rerun on an idle machine" if wide else ""))
    return rows
