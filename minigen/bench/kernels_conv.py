"""Convolution kernel benchmarks: minigen's conv2d against PyTorch CPU at the same thread count.

Run with ``python -m minigen.bench kernels --only conv``.  Each case times

    fwd      y = conv2d(x, w)
    fwd+bwd  forward + grad_input + grad_weight (PyTorch: forward and ``y.backward(gy)``)

in float32, NCHW, no bias.  ``python -m minigen.bench.kernels_conv --first-call`` prints the
first-call time of each kernel in a fresh process (Numba compile, or cache load when
the on-disk cache is warm), with and without a warm cache.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

from ._timing import torch_or_none

# (name, N, Cin, Cout, H=W, k, padding)
CONV_CASES = [
    ("conv k3 64->64 28x28 N=64", 64, 64, 64, 28, 3, 1),
    ("conv k1 64->64 28x28 N=64", 64, 64, 64, 28, 1, 0),
    ("conv k3 32->32 8x8 N=128", 128, 32, 32, 8, 3, 1),
    ("conv k3 128->128 32x32 N=16", 16, 128, 128, 32, 3, 1),
    ("conv k7 1->64 28x28 N=64", 64, 1, 64, 28, 7, 3),
]


def _conv_case(name, N, Cin, Cout, HW, k, pad, device):
    import kernels
    torch = torch_or_none()

    def setup():
        rng = np.random.default_rng(0)
        s = {"x": rng.standard_normal((N, Cin, HW, HW), dtype=np.float32),
             "w": (rng.standard_normal((Cout, Cin, k, k), dtype=np.float32)
                   / np.float32(np.sqrt(Cin * k * k)))}
        s["gy"] = rng.standard_normal((N, Cout, HW + 2 * pad - k + 1, HW + 2 * pad - k + 1),
                                      dtype=np.float32)
        if device != "cpu":
            s = {key: kernels.backend.to_device(v, device) for key, v in s.items()}
        if torch is not None:
            import numba
            torch.set_num_threads(numba.get_num_threads())
            tdev = "cuda" if device != "cpu" else "cpu"
            s["tx"] = torch.tensor(kernels.backend.as_numpy(s["x"]), device=tdev, requires_grad=True)
            s["tw"] = torch.tensor(kernels.backend.as_numpy(s["w"]), device=tdev, requires_grad=True)
            s["tgy"] = torch.tensor(kernels.backend.as_numpy(s["gy"]), device=tdev)
        return s

    def fwd(s):
        return kernels.conv2d_forward(s["x"], s["w"], None, 1, pad)

    def fwd_bwd(s):
        kernels.conv2d_forward(s["x"], s["w"], None, 1, pad)
        kernels.conv2d_grad_input(s["gy"], s["w"], s["x"].shape, 1, pad)
        kernels.conv2d_grad_weight(s["x"], s["gy"], s["w"].shape, 1, pad)

    out = HW + 2 * pad - k + 1
    flop = 2 * N * Cout * out * out * Cin * k * k        # one multiply-add = 2 flops
    case = {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": None, "flops": {"fwd": flop, "fwd+bwd": 3 * flop}}   # + grad_input, grad_weight
    if torch is not None:
        F = torch.nn.functional

        def sync():
            if device != "cpu":
                torch.cuda.synchronize()

        def t_fwd(s):
            with torch.no_grad():
                F.conv2d(s["tx"], s["tw"], None, 1, pad)
            sync()

        def t_fwd_bwd(s):
            s["tx"].grad = s["tw"].grad = None
            F.conv2d(s["tx"], s["tw"], None, 1, pad).backward(s["tgy"])
            sync()

        case["torch"] = {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd}
    return case


def cases(device="cpu"):
    """The conv benchmark cases (see ``minigen/bench/_timing.py`` for the format)."""
    return [_conv_case(*c, device=device) for c in CONV_CASES]


_FIRST_CALL = r"""
import time, numpy as np
t0 = time.perf_counter()
import kernels
t1 = time.perf_counter()
print(f"import kernels {1e3*(t1-t0):.0f} ms")
for label, n, c, hw in [("small (serial, im2col path)", 2, 3, 8),
                        ("16 channels (parallel, shifted-window path)", 16, 16, 16),
                        ("32 channels (parallel, Winograd path)", 16, 32, 16)]:
    x = np.ones((n, c, hw, hw), np.float32); w = np.ones((c, c, 3, 3), np.float32)
    t1 = time.perf_counter(); y = kernels.conv2d_forward(x, w, None, 1, 1)
    t2 = time.perf_counter(); kernels.conv2d_grad_input(y, w, x.shape, 1, 1)
    t3 = time.perf_counter(); kernels.conv2d_grad_weight(x, y, w.shape, 1, 1)
    t4 = time.perf_counter()
    print(f"  {label}: first forward {1e3*(t2-t1):.0f} ms, grad_input {1e3*(t3-t2):.0f} ms, "
          f"grad_weight {1e3*(t4-t3):.0f} ms")
"""


def first_call_report():
    """First-call times in fresh processes: cold Numba cache, then warm cache."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
        for label in ("cold cache", "warm cache"):
            out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, text=True,
                                 capture_output=True, check=True).stdout.strip()
            print(f"{label}:\n{out}")


if __name__ == "__main__":
    if "--first-call" in sys.argv:
        first_call_report()
