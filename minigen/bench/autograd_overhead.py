"""Autograd overhead: a 1000-op elementwise chain on a (4, 4) tensor (docs/performance.md).

Per-op cost is what a student's NADE/RNN loop pays; PyTorch CPU costs ~2.7 us/op
recording and ~5.3 us/op forward+backward on a quiet machine of this kind.
"""
import numpy as np

from autograd import Tensor, no_grad

from ._timing import torch_or_none

N_OPS = 1000


def _chain(x):
    y = x
    for i in range(N_OPS):
        y = y * 1.0001 if i % 2 else y + 0.001
    return y


def cases(device):
    torch = torch_or_none()
    x0 = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)

    def fwd(_):
        return _chain(Tensor(x0, requires_grad=True))

    def fwd_bwd(_):
        _chain(Tensor(x0, requires_grad=True)).sum().backward()

    def fwd_nograd(_):
        with no_grad():
            return _chain(Tensor(x0))

    case = {"name": f"autograd chain {N_OPS} ops (4,4)", "setup": lambda: None,
            "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd, "no_grad": fwd_nograd}, "torch": None}
    if torch is not None:
        xt = torch.tensor(x0)

        def t_fwd(_):
            return _chain(xt.clone().requires_grad_())

        def t_fwd_bwd(_):
            _chain(xt.clone().requires_grad_()).sum().backward()

        def t_nograd(_):
            with torch.no_grad():
                return _chain(xt)
        case["torch"] = {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd, "no_grad": t_nograd}
    return [case]
