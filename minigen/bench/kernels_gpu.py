"""GPU benchmarks of the fused kernels (``python -m minigen.bench kernels --device cuda``).

The same cases as ``kernels_fused.py`` (masked conv, coupling, causal conv1d), with the
arrays on the GPU: minigen's CUDA kernels (``kernels/gpu``) against PyTorch on the same
device (what a user would write: ``conv2d`` with ``w * mask``, eager coupling ops,
``conv1d`` on a left-padded input).  Every timed callable ends with a device
synchronisation (``synchronized`` wraps minigen's; the torch ones call
``torch.cuda.synchronize``), so the times are of finished work.  The dense conv cases
come from ``kernels_conv.py`` with ``--device cuda``.  Targets (issue 16): dense conv
at most 1.5x cuDNN, masked conv and coupling at most 1.0x.
"""
import numpy as np

import kernels
from kernels import taps as T

from ._timing import torch_or_none


def _sync():
    import cupy
    cupy.cuda.get_current_stream().synchronize()


def synchronized(case):
    """``case`` with each minigen callable followed by a CuPy device synchronisation."""
    def wrap(fn):
        def timed(state):
            out = fn(state)
            _sync()
            return out
        return timed
    return dict(case, minigen={k: wrap(f) for k, f in case["minigen"].items()})


def _to_gpu(st):
    import cupy
    torch = torch_or_none()
    out = {}
    for k, v in st.items():
        out[k] = cupy.asarray(v) if isinstance(v, np.ndarray) and k != "taps" else v
        if torch is not None and isinstance(v, np.ndarray) and k != "taps":
            out["t" + k] = torch.tensor(v, device="cuda")
    return out


def _torch_pass(fn):
    def run(s):
        import torch
        fn(s, torch)
        torch.cuda.synchronize()
    return run


def _masked_case(cin, cout, k, mask_type, n=64, hw=28):
    taps = T.pixelcnn_taps(k, mask_type)

    def setup():
        rng = np.random.default_rng(0)
        st = _to_gpu({"x": rng.standard_normal((n, cin, hw, hw)).astype(np.float32),
                      "w": (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32),
                      "b": np.zeros(cout, np.float32),
                      "gy": rng.standard_normal((n, cout, hw, hw)).astype(np.float32),
                      "m": T.taps_to_mask(taps, k).astype(np.float32)})
        for key in ("tx", "tw", "tb"):
            if key in st:
                st[key].requires_grad_(True)
        return st

    def fwd(s):
        return kernels.masked_conv2d_forward(s["x"], s["w"], taps, s["b"])

    def fwd_bwd(s):
        fwd(s)
        return kernels.masked_conv2d_backward(s["gy"], s["x"], s["w"], taps, bias=True)

    def t_fwd(s, torch):
        with torch.no_grad():
            torch.nn.functional.conv2d(s["tx"], s["tw"] * s["tm"], s["tb"], padding=k // 2)

    def t_fwd_bwd(s, torch):
        torch.nn.functional.conv2d(s["tx"], s["tw"] * s["tm"], s["tb"], padding=k // 2).backward(s["tgy"])
        s["tx"].grad = s["tw"].grad = s["tb"].grad = None

    return _case(f"cuda masked {k}x{k} {mask_type} {cin}->{cout} {hw}x{hw} N={n}", setup, fwd, fwd_bwd,
                 t_fwd, t_fwd_bwd)


def _coupling_case(shape):
    def setup():
        rng = np.random.default_rng(0)
        st = {k: rng.standard_normal(shape).astype(np.float32) for k in ("x", "s", "t", "gy")}
        st["s"] *= 0.5
        st["gl"] = rng.standard_normal(shape[0]).astype(np.float32)
        st = _to_gpu(st)
        for key in ("tx", "ts", "tt"):
            if key in st:
                st[key].requires_grad_(True)
        return st

    def fwd(s):
        return kernels.affine_coupling_forward(s["x"], s["s"], s["t"])

    def fwd_bwd(s):
        fwd(s)
        return kernels.affine_coupling_backward(s["gy"], s["gl"], s["x"], s["s"], need_gt=False)

    def _t(s, torch):
        return s["tx"] * torch.exp(s["ts"]) + s["tt"], s["ts"].reshape(shape[0], -1).sum(1)

    def t_fwd(s, torch):
        with torch.no_grad():
            _t(s, torch)

    def t_fwd_bwd(s, torch):
        torch.autograd.backward(list(_t(s, torch)), [s["tgy"], s["tgl"]])
        s["tx"].grad = s["ts"].grad = s["tt"].grad = None

    return _case(f"cuda coupling {shape}", setup, fwd, fwd_bwd, t_fwd, t_fwd_bwd)


def _causal_case(n=16, c=64, t=4096, k=2, d=8):
    def setup():
        rng = np.random.default_rng(0)
        st = _to_gpu({"x": rng.standard_normal((n, c, t)).astype(np.float32),
                      "w": (rng.standard_normal((c, c, k)) / np.sqrt(c * k)).astype(np.float32),
                      "b": np.zeros(c, np.float32),
                      "gy": rng.standard_normal((n, c, t)).astype(np.float32)})
        for key in ("tx", "tw", "tb"):
            if key in st:
                st[key].requires_grad_(True)
        return st

    def fwd(s):
        return kernels.causal_conv1d_forward(s["x"], s["w"], s["b"], dilation=d)

    def fwd_bwd(s):
        fwd(s)
        return kernels.causal_conv1d_backward(s["gy"], s["x"], s["w"], dilation=d, bias=True)

    def _t(s, torch):
        xp = torch.nn.functional.pad(s["tx"], (d * (k - 1), 0))
        return torch.nn.functional.conv1d(xp, s["tw"], s["tb"], dilation=d)

    def t_fwd(s, torch):
        with torch.no_grad():
            _t(s, torch)

    def t_fwd_bwd(s, torch):
        _t(s, torch).backward(s["tgy"])
        s["tx"].grad = s["tw"].grad = s["tb"].grad = None

    return _case(f"cuda causal conv1d N={n} C={c} T={t} K={k} d={d}", setup, fwd, fwd_bwd, t_fwd,
                 t_fwd_bwd)


def _case(name, setup, fwd, fwd_bwd, t_fwd, t_fwd_bwd):
    torch = torch_or_none()
    ok = torch is not None and torch.cuda.is_available()
    return {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": {"fwd": _torch_pass(t_fwd), "fwd+bwd": _torch_pass(t_fwd_bwd)} if ok else None}


def cases(device="cpu"):
    """The fused-kernel GPU cases (none on the CPU: ``kernels_fused.py`` has those)."""
    if device == "cpu":
        return []
    return [
        _masked_case(1, 64, 7, "A"),
        _masked_case(64, 64, 3, "B"),
        _masked_case(64, 64, 3, "B", n=256),
        _coupling_case((1024, 784)),
        _coupling_case((256, 2, 14, 14)),
        _causal_case(),
    ]
