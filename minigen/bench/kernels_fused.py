"""Benchmarks of the fused kernels: masked conv (PixelCNN), causal conv1d (WaveNet), coupling (RealNVP),
softmax cross-entropy, and the fused Adam step over a model's parameters.

``python -m minigen.bench kernels --only mask`` (or ``coupling``, ``causal``,
``cross-entropy``, ``Adam``).  The PyTorch side is what a user would write: ``conv2d``
with ``w * mask`` over all taps, ``conv1d`` on a left-padded input, coupling as eager
ops ``x*exp(s) + t`` and ``s.sum``, ``F.cross_entropy``, ``torch.optim.Adam``.
Both sides get the same number of threads (Numba's).  The GFLOP/s column of the masked convs
counts the live taps' multiply-adds for both engines (PyTorch does the dense work of all taps).  Benchmarks print ratios, never
assert times (the machines are shared and noisy: compare ratios from one run).

First-call (compile or cache-load) times: ``python -m minigen.bench.kernels_fused --compile``.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

import kernels
from kernels import taps as T

from ._timing import torch_or_none


def _torch(threads):
    torch = torch_or_none()
    if torch is not None:
        torch.set_num_threads(threads)
    return torch


def _masked_case(cin, cout, k, mask_type, n=64, hw=28, input_grad=True):
    name = f"masked {k}x{k} {mask_type} {cin}->{cout} {hw}x{hw} N={n}" + ("" if input_grad else " no-gx")

    def setup():
        import numba
        rng = np.random.default_rng(0)
        st = {"x": rng.standard_normal((n, cin, hw, hw)).astype(np.float32),
              "w": (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32),
              "b": np.zeros(cout, np.float32),
              "gy": rng.standard_normal((n, cout, hw, hw)).astype(np.float32),
              "taps": T.pixelcnn_taps(k, mask_type)}
        torch = _torch(numba.get_num_threads())
        if torch is not None:
            st["tx"] = torch.from_numpy(st["x"]).requires_grad_(input_grad)
            st["tw"] = torch.from_numpy(st["w"]).requires_grad_(True)
            st["tb"] = torch.from_numpy(st["b"]).requires_grad_(True)
            st["tm"] = torch.from_numpy(T.taps_to_mask(st["taps"], k).astype(np.float32))
            st["tgy"] = torch.from_numpy(st["gy"])
        return st

    def fwd(s):
        return kernels.masked_conv2d_forward(s["x"], s["w"], s["taps"], s["b"])

    def fwd_bwd(s):
        fwd(s)
        return kernels.masked_conv2d_backward(s["gy"], s["x"], s["w"], s["taps"], bias=True,
                                              input_grad=input_grad)

    def t_fwd(s):
        import torch
        with torch.no_grad():
            torch.nn.functional.conv2d(s["tx"], s["tw"] * s["tm"], s["tb"], padding=k // 2)

    def t_fwd_bwd(s):
        import torch
        y = torch.nn.functional.conv2d(s["tx"], s["tw"] * s["tm"], s["tb"], padding=k // 2)
        y.backward(s["tgy"])
        s["tw"].grad = s["tb"].grad = s["tx"].grad = None

    flop = 2 * n * cout * hw * hw * cin * len(T.pixelcnn_taps(k, mask_type))   # live taps only
    return {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd} if torch_or_none() else None,
            "flops": {"fwd": flop, "fwd+bwd": (3 if input_grad else 2) * flop}}


def _coupling_case(shape):
    name = f"coupling {shape}"

    def setup():
        import numba
        rng = np.random.default_rng(0)
        st = {k: rng.standard_normal(shape).astype(np.float32) for k in ("x", "s", "t", "gy")}
        st["s"] *= 0.5
        st["gl"] = rng.standard_normal(shape[0]).astype(np.float32)
        torch = _torch(numba.get_num_threads())
        if torch is not None:
            for k in ("x", "s", "t"):
                st["t" + k] = torch.from_numpy(st[k]).requires_grad_(True)
            st["tgy"], st["tgl"] = torch.from_numpy(st["gy"]), torch.from_numpy(st["gl"])
        return st

    def fwd(s):
        return kernels.affine_coupling_forward(s["x"], s["s"], s["t"])

    def fwd_bwd(s):
        fwd(s)
        # as the autograd op calls it: without a mask the t-gradient is gy itself
        return kernels.affine_coupling_backward(s["gy"], s["gl"], s["x"], s["s"], need_gt=False)

    def _t(s):
        import torch
        y = s["tx"] * torch.exp(s["ts"]) + s["tt"]
        return y, s["ts"].reshape(shape[0], -1).sum(1)

    def t_fwd(s):
        import torch
        with torch.no_grad():
            _t(s)

    def t_fwd_bwd(s):
        import torch
        y, logdet = _t(s)
        torch.autograd.backward([y, logdet], [s["tgy"], s["tgl"]])
        s["tx"].grad = s["ts"].grad = s["tt"].grad = None

    return {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd} if torch_or_none() else None}


def _causal_case(n=16, c=64, t=4096, k=2, d=8):
    name = f"causal conv1d N={n} C={c} T={t} K={k} d={d}"
    pad = d * (k - 1)

    def setup():
        import numba
        rng = np.random.default_rng(0)
        st = {"x": rng.standard_normal((n, c, t)).astype(np.float32),
              "w": (rng.standard_normal((c, c, k)) / np.sqrt(c * k)).astype(np.float32),
              "b": np.zeros(c, np.float32),
              "gy": rng.standard_normal((n, c, t)).astype(np.float32)}
        torch = _torch(numba.get_num_threads())
        if torch is not None:
            for key in ("x", "w", "b"):
                st["t" + key] = torch.from_numpy(st[key]).requires_grad_(True)
            st["tgy"] = torch.from_numpy(st["gy"])
        return st

    def fwd(s):
        return kernels.causal_conv1d_forward(s["x"], s["w"], s["b"], dilation=d)

    def fwd_bwd(s):
        fwd(s)
        return kernels.causal_conv1d_backward(s["gy"], s["x"], s["w"], dilation=d, bias=True)

    def _t(s):
        import torch
        xp = torch.nn.functional.pad(s["tx"], (pad, 0))
        return torch.nn.functional.conv1d(xp, s["tw"], s["tb"], dilation=d)

    def t_fwd(s):
        import torch
        with torch.no_grad():
            _t(s)

    def t_fwd_bwd(s):
        _t(s).backward(s["tgy"])
        s["tx"].grad = s["tw"].grad = s["tb"].grad = None

    flop = 2 * n * c * c * k * t
    return {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd} if torch_or_none() else None,
            "flops": {"fwd": flop, "fwd+bwd": 3 * flop}}


def _cross_entropy_case(shape):
    """Softmax cross-entropy of integer targets, classes on axis 1, forward and backward.

    minigen: the fused kernels (as ``autograd.ops.softmax_cross_entropy`` calls them);
    PyTorch: ``F.cross_entropy(reduction="none")`` and its backward, on the same logits.
    """
    name = f"cross-entropy {shape}"
    axis = 1

    def setup():
        import numba
        rng = np.random.default_rng(0)
        t_shape = shape[:axis] + shape[axis + 1:]
        st = {"z": rng.standard_normal(shape).astype(np.float32), "t": rng.integers(0, shape[axis], t_shape),
              "gy": rng.standard_normal(t_shape).astype(np.float32)}
        torch = _torch(numba.get_num_threads())
        if torch is not None:
            st["tz"] = torch.from_numpy(st["z"]).requires_grad_(True)
            st["tt"], st["tgy"] = torch.from_numpy(st["t"]), torch.from_numpy(st["gy"])
        return st

    def fwd(s):
        return kernels.softmax_cross_entropy_forward(s["z"], s["t"], axis)

    def fwd_bwd(s):
        _, lse = fwd(s)
        return kernels.softmax_cross_entropy_backward(s["gy"], s["z"], s["t"], lse, axis)

    def t_fwd(s):
        import torch
        with torch.no_grad():
            torch.nn.functional.cross_entropy(s["tz"], s["tt"], reduction="none")

    def t_fwd_bwd(s):
        import torch
        torch.nn.functional.cross_entropy(s["tz"], s["tt"], reduction="none").backward(s["tgy"])
        s["tz"].grad = None

    return {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd} if torch_or_none() else None}


def _adam_case(model_name):
    """One Adam step over the parameters of a bench model (the shapes of its training step).

    minigen: ``minigen.optim.Adam`` (one fused kernel call per parameter); PyTorch:
    ``torch.optim.Adam(foreach=True)`` on tensors of the same shapes.  Gradients are
    fixed random arrays, set once (a step does not clear them); setup takes the first
    step, so the peak-memory column shows a steady step's temporaries.
    """
    def setup():
        import importlib

        import numba

        from autograd import Tensor
        from minigen.optim import Adam
        bench = importlib.import_module(f"minigen.bench.models_{model_name.lower()}")
        shapes = [p.shape for p in bench._minigen_setup().parameters()]
        rng = np.random.default_rng(0)
        st = {"p": [Tensor(rng.standard_normal(sh).astype(np.float32), requires_grad=True) for sh in shapes]}
        for p in st["p"]:
            p.grad = Tensor(rng.standard_normal(p.shape).astype(np.float32))
        st["opt"] = Adam(st["p"], lr=1e-3)
        torch = _torch(numba.get_num_threads())
        if torch is not None:
            st["tp"] = [torch.from_numpy(p.data.copy()).requires_grad_(True) for p in st["p"]]
            for tp, p in zip(st["tp"], st["p"]):
                tp.grad = torch.from_numpy(p.grad.data.copy())
            st["topt"] = torch.optim.Adam(st["tp"], lr=1e-3, foreach=True)
            st["topt"].step()
        st["opt"].step()        # the first step creates the moments (and loads Numba's thread pool)
        return st

    return {"name": f"Adam step, {model_name} parameters", "setup": setup,
            "minigen": {"step": lambda s: s["opt"].step()},
            "torch": {"step": lambda s: s["topt"].step()} if torch_or_none() else None}


def cases(device="cpu"):
    """The fused-kernel benchmark cases (see ``minigen/bench/_timing.py`` for the format)."""
    if device != "cpu":
        return []  # GPU kernels are not written yet
    return [
        _masked_case(1, 64, 7, "A"),
        _masked_case(1, 64, 7, "A", input_grad=False),
        _masked_case(64, 64, 3, "B"),
        _coupling_case((1024, 784)),
        _coupling_case((256, 2, 14, 14)),
        _causal_case(),
        _cross_entropy_case((64, 2, 28, 28)),           # binary PixelCNN: K = 2 per pixel
        _cross_entropy_case((16, 256, 4096)),           # WaveNet: 256 mu-law levels per step
        _cross_entropy_case((4096, 10)),                # a classifier: classes last
        _adam_case("VAE"),
        _adam_case("PixelCNN"),
    ]


_FIRST_CALL = r"""
import time, numpy as np
t0 = time.perf_counter()
import kernels
from kernels import taps as T
t_import = time.perf_counter() - t0
def first(label, f):
    t = time.perf_counter(); f(); print(f"  {label:44s} {(time.perf_counter() - t) * 1e3:9.1f} ms")
print(f"  {'import kernels':44s} {t_import * 1e3:9.1f} ms")
for dt in (np.float32, np.float64):
    x = np.ones((2, 3, 5, 5), dt); w = np.ones((4, 3, 3, 3), dt); tp = T.pixelcnn_taps(3, "B")
    gy = np.ones((2, 4, 5, 5), dt)
    first(f"masked conv fwd {dt.__name__}", lambda: kernels.masked_conv2d_forward(x, w, tp))
    first(f"masked conv bwd {dt.__name__}", lambda: kernels.masked_conv2d_backward(gy, x, w, tp))
    a = np.ones((4, 6), dt)
    first(f"coupling fwd {dt.__name__}", lambda: kernels.affine_coupling_forward(a, a, a))
    first(f"coupling bwd {dt.__name__}", lambda: kernels.affine_coupling_backward(a, a[:, 0], a, a))
    x1 = np.ones((2, 3, 9), dt); w1 = np.ones((4, 3, 2), dt); g1 = np.ones((2, 4, 9), dt)
    first(f"causal conv1d fwd {dt.__name__}", lambda: kernels.causal_conv1d_forward(x1, w1, dilation=2))
    first(f"causal conv1d bwd {dt.__name__}", lambda: kernels.causal_conv1d_backward(g1, x1, w1, 2))
"""


def first_call_report():
    """First-call times in fresh processes: cold (empty Numba cache: compiles) and warm (cache hit).

    Only the serial drivers run on these tiny inputs; the parallel ones compile on
    the first large call (about as long again).
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=root)
        for label in ("cold (compiling)", "warm (cache load)"):
            print(f"first call, {label}:")
            sys.stdout.flush()
            subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, check=True)


if __name__ == "__main__":
    if "--compile" in sys.argv:
        first_call_report()
    else:
        from ._timing import run_cases, threads_note
        print(threads_note())
        run_cases(cases())
