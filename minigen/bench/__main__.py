"""``python -m minigen.bench {autograd,kernels,models} [--repeat N] [--only SUBSTRING] [--processes K]``.

Prints medians and the ratio minigen/PyTorch (below 1 = faster than PyTorch) when
PyTorch is installed (``pip install torch==2.13.0``).  Benchmarks, not tests.

``--processes K`` (K >= 2) times each engine alone in K fresh processes per case,
interleaved, and prints the median ratio with its spread and the peak memory of a
training step (``_isolated.py``); without it both engines share one process (quick look).
"""
import argparse
import importlib
import json
import sys

from ._isolated import child, run_isolated
from ._timing import gemm_peak_gflops, geomean, run_cases, threads_note, torch_or_none

SUITES = {
    "autograd": ["minigen.bench.autograd_overhead"],
    "kernels": ["minigen.bench.kernels_conv", "minigen.bench.kernels_fused", "minigen.bench.kernels_gpu",
                "minigen.bench.kernels_spline"],
    "models": ["minigen.bench.models_vae", "minigen.bench.models_pixelcnn", "minigen.bench.models_realnvp",
               "minigen.bench.models_unet"],
}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minigen.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=sorted(SUITES))
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--repeat", type=int, default=15, help="timed runs per measurement (median)")
    p.add_argument("--only", default="", help="run only cases whose name contains this")
    p.add_argument("--json", default="", help="also write the rows to this JSON file")
    p.add_argument("--processes", type=int, default=1,
                   help="K >= 2: each engine alone in K fresh processes per case, interleaved")
    p.add_argument("--exact", default="", help=argparse.SUPPRESS)       # a child: this case only
    p.add_argument("--engine", choices=["minigen", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device != "cpu":
        from kernels.backend import HAS_CUPY
        if not HAS_CUPY:
            p.error(f"--device {args.device} needs CuPy and a CUDA device, which this machine lacks")

    cases = []
    for modname in SUITES[args.suite]:
        try:
            mod = importlib.import_module(modname)
        except ImportError as e:  # a suite not written yet
            print(f"(skipping {modname}: {e})", file=sys.stderr)
            continue
        cases.extend(mod.cases(args.device))
    cases = [c for c in cases if args.only in c["name"] and (not args.exact or c["name"] == args.exact)]
    if args.device != "cpu":  # time finished GPU work: synchronise after each minigen call
        from .kernels_gpu import synchronized
        cases = [synchronized(c) for c in cases]
    if args.engine:                                                  # a child of --processes
        child(cases, args.engine, args.repeat, args.json, memory=args.memory)
        return 0
    print(threads_note())
    if args.suite == "kernels" and args.device == "cpu":
        print(f"GEMM peak of this machine: {gemm_peak_gflops():.1f} GFLOP/s "
              "(float32 1024x1024 kernels.matmul on Numba's threads)")
    if args.processes >= 2:
        rows = run_isolated(args.suite, [c["name"] for c in cases], args.processes, args.repeat,
                            args.device, has_torch=torch_or_none() is not None)
    else:
        rows = run_cases(cases, repeat=args.repeat)
    g = geomean([r["ratio"] for r in rows if r["pass"] == "fwd+bwd"])
    if g:
        print(f"geometric mean of fwd+bwd ratios: {g:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
