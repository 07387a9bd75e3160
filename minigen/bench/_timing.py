"""Timing helpers for ``python -m minigen.bench``: medians, PyTorch detection, the table.

Benchmarks are not tests: nothing here asserts a time.  A *case* is a dict::

    {"name": str,                       # e.g. "conv k3 64->64 28x28 N=64"
     "setup": callable() -> state,      # builds arrays once (untimed)
     "minigen": {"fwd": f(state), "fwd+bwd": f(state)},
     "torch":   {"fwd": f(state), "fwd+bwd": f(state)} or None,
     "flops":   {"fwd": int, "fwd+bwd": int}}      # optional: floating-point operations per pass

Each ``f`` runs one iteration; torch callables must synchronise themselves on a GPU.
Where a case counts its flops, the table also prints the achieved GFLOP/s of each engine,
to read next to the machine's GEMM peak (``gemm_peak_gflops``, printed above the table).
The flops are those of the direct convolution, so an algorithm that multiplies less
(Winograd F(2x2, 3x3): 16 multiplications per 2x2 outputs instead of 36) can show more
than the peak: that is its saving, not a faster GEMM.
"""
import os
import statistics
import time


def torch_or_none():
    """Return the ``torch`` module when installed (optional oracle), else None.

    PyTorch is imported with its own OpenMP default (libgomp reads OMP_WAIT_POLICY when it
    loads), not the passive waiting kernels/config.py sets for Numba's pool.
    """
    import os
    from kernels import config
    ours = config.OMP_WAIT_POLICY_SET_HERE and os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"
    if ours:
        del os.environ["OMP_WAIT_POLICY"]
    try:
        import torch
    except ImportError:
        return None
    finally:
        if ours:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return torch


def median_ms(fn, state, repeat=15, warmup=2, min_time=0.0):
    """Median wall time of ``fn(state)`` in milliseconds over ``repeat`` runs."""
    for _ in range(warmup):
        fn(state)
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < repeat or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn(state)
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) > 10 * repeat:
            break
    return statistics.median(times)


def first_call_ms(fn, state):
    """Wall time of a first call (includes Numba compilation or cache load)."""
    t0 = time.perf_counter()
    fn(state)
    return (time.perf_counter() - t0) * 1e3


def gemm_peak_gflops(n=1024, repeat=7):
    """The machine's float32 GEMM speed in GFLOP/s: an n x n product (2 n^3 flops) by
    ``kernels.matmul``, which splits it over Numba's threads with one-thread BLAS in each
    (the CPU kernels pin NumPy's BLAS to one thread).  The roof a convolution lowered to
    GEMMs can approach."""
    import numpy as np

    import kernels
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    return 2 * n ** 3 / median_ms(lambda _: kernels.matmul(a, a), None, repeat=repeat) / 1e6


def gflops(flop, ms):
    """Achieved GFLOP/s of a pass that does ``flop`` operations in ``ms`` milliseconds."""
    return flop / ms / 1e6 if flop and ms else None


def gflops_cell(flop, ours, theirs):
    """The table's 'GFLOP/s mg/torch' cell (empty when the case does not count its flops)."""
    g_ours, g_theirs = gflops(flop, ours), gflops(flop, theirs)
    if g_ours is None:
        return ""
    return f"{g_ours:.1f}/" + (f"{g_theirs:.1f}" if g_theirs else "-")


def run_cases(cases, repeat=15, out=print):
    """Time every case and print a table with the minigen/PyTorch ratio."""
    rows = []
    header = (f"{'case':44s} {'pass':8s} {'minigen ms':>11s} {'torch ms':>9s} {'ratio':>7s} "
              f"{'GFLOP/s mg/torch':>17s}")
    out(header)
    out("-" * len(header))
    for case in cases:
        state = case["setup"]()
        for pass_name, fn in case["minigen"].items():
            ours = median_ms(fn, state, repeat=repeat)
            theirs = None
            if case.get("torch") and pass_name in case["torch"]:
                theirs = median_ms(case["torch"][pass_name], state, repeat=repeat)
            ratio = ours / theirs if theirs else None
            flop = case.get("flops", {}).get(pass_name)
            rows.append({"case": case["name"], "pass": pass_name, "minigen_ms": ours,
                         "torch_ms": theirs, "ratio": ratio, "flop": flop})
            out(f"{case['name']:44s} {pass_name:8s} {ours:11.3f} "
                f"{(f'{theirs:9.3f}' if theirs else '        -')} "
                f"{(f'{ratio:7.2f}' if ratio else '      -')} {gflops_cell(flop, ours, theirs):>17s}")
    return rows


def geomean(values):
    """Geometric mean of positive numbers (None when empty)."""
    values = [v for v in values if v]
    if not values:
        return None
    prod = 1.0
    for v in values:
        prod *= v
    return prod ** (1.0 / len(values))


def threads_note():
    """One line describing the thread settings the numbers were taken with."""
    import numba

    import kernels.cpu  # noqa: F401  (sets the threading layer from kernels/config.py)
    torch = torch_or_none()
    t = f"torch {torch.__version__} threads={torch.get_num_threads()}" if torch else "torch not installed"
    from kernels.cpu._numba import threading_layer
    return (f"numba threads={numba.get_num_threads()} layer={threading_layer()} "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; {t}; "
            f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset')}")


def torch_step_passes(torch, inputs=("tx",), device="cpu"):
    """The PyTorch side of a training-step case: fwd, fwd+bwd and step callables.

    The state holds ``tmodel`` (whose ``loss(*inputs)`` is the training objective),
    its optimizer ``topt`` and the named input tensors. On a GPU (``device="cuda"``)
    each callable ends with ``torch.cuda.synchronize()``, so it times finished work.
    """
    def loss(s):
        return s["tmodel"].loss(*(s[k] for k in inputs))

    def fwd(s):
        with torch.no_grad():
            loss(s)

    def fwd_bwd(s):
        s["tmodel"].zero_grad(set_to_none=True)
        loss(s).backward()

    def step(s):
        s["topt"].zero_grad(set_to_none=True)
        loss(s).backward()
        s["topt"].step()

    passes = {"fwd": fwd, "fwd+bwd": fwd_bwd, "step": step}
    if device == "cpu":
        return passes

    def synchronized(fn):
        def run(s):
            fn(s)
            torch.cuda.synchronize()
        return run
    return {k: synchronized(f) for k, f in passes.items()}


def step_case_on(device, state, model="model", arrays=("x",), torch_names=("tmodel", "tx", "tt")):
    """Move a training-step case's state to ``device`` (in place; returns it): the minigen
    model and its arrays with ``Module.to`` / ``autograd.to_device``, the PyTorch model and
    tensors with ``.to``. The optimisers hold the parameters themselves, so they follow."""
    if device == "cpu":
        return state
    from autograd import to_device
    state[model].to(device)
    for k in arrays:
        state[k] = to_device(state[k], device)
    for k in torch_names:
        if k in state:
            state[k] = state[k].to(device)
    return state
