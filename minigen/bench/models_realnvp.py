"""RealNVP training-step benchmark: minigen against the same model in PyTorch CPU.

Run with ``python -m minigen.bench models --only RealNVP``. The model
(``minigen.models.flows.realnvp.RealNVP`` with MLP couplings; docs/performance.md,
"RealNVP step"), identical in both frameworks, float32:

    data       x (256, 784), uniform in [0, 1), continuous (no dequantisation, no logit)
    flow       4 affine couplings z = b*x + (1-b)*(x*exp(s) + t), masks alternating
               b = first half (392 entries) kept / last half kept
    s/t net    one MLP per coupling on b*x: Linear 784->1024, ReLU, Linear 1024->1024,
               ReLU, Linear 1024->1568; s = scale * tanh(first 784), t = last 784,
               ``scale`` a learned (1, 784) vector
    prior      N(0, I);  loss = mean over the batch of -log p(x)
    optimiser  Adam (lr 1e-3), PyTorch default initialisation in both

Passes (each one iteration, timed as a median):

    fwd      the loss, no graph (minigen ``no_grad``, PyTorch ``torch.no_grad``)
    fwd+bwd  the loss and its gradients
    step     a full training step: zero grads, loss, backward, Adam update

PyTorch runs with ``torch.set_num_threads`` equal to Numba's thread count.

With ``--device cuda`` (``python -m minigen.bench models --device cuda``) both run on
the GPU at batch ``GPU_N`` = 256, and every timed pass ends with a device
synchronisation (CuPy's for minigen, ``torch.cuda.synchronize`` for PyTorch).
"""
import math

import numpy as np

from ._timing import step_case_on, torch_or_none, torch_step_passes

N, D, HIDDEN, COUPLINGS = 256, 784, 1024, 4
GPU_N = 256     # issue 16: a training step at batch 256 on 28x28 data


def _minigen_setup():
    from minigen.models.flows.realnvp import RealNVP
    from minigen.models.registry import TrainConfig
    model = RealNVP(data_shape=(D,), num_levels=None, couplings=COUPLINGS, hidden=HIDDEN,
                    conditioner="mlp", rng=0)
    model.configure_optimizers(TrainConfig(lr=1e-3), total_steps=1)
    return model


def _torch_model(torch):
    nn = torch.nn

    class Coupling(nn.Module):
        def __init__(self, parity):
            super().__init__()
            b = (torch.arange(D) < D // 2).float()
            self.register_buffer("b", (b if parity == 0 else 1 - b).reshape(1, D))
            self.net = nn.Sequential(nn.Linear(D, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN),
                                     nn.ReLU(), nn.Linear(HIDDEN, 2 * D))
            self.scale = nn.Parameter(torch.ones(1, D))

        def forward(self, x):
            st = self.net(x * self.b)
            keep_out = 1 - self.b
            s = self.scale * torch.tanh(st[:, :D]) * keep_out
            t = st[:, D:] * keep_out
            return x * torch.exp(s) + t, s.sum(dim=1)

    class Flow(nn.Module):
        def __init__(self):
            super().__init__()
            self.couplings = nn.ModuleList([Coupling(k % 2) for k in range(COUPLINGS)])

        def loss(self, x):
            log_det = 0.0
            for c in self.couplings:
                x, ld = c(x)
                log_det = log_det + ld
            log_pz = -0.5 * (x * x).sum(dim=1) - 0.5 * D * math.log(2 * math.pi)
            return -(log_pz + log_det).mean()

    return Flow()


def cases(device):
    """The RealNVP step case on ``device`` ('cpu', or 'cuda': batch ``GPU_N``, both frameworks on the GPU)."""
    from autograd import no_grad
    torch = torch_or_none()
    n = N if device == "cpu" else GPU_N

    def setup():
        rng = np.random.default_rng(0)
        s = {"x": rng.random((n, D), dtype=np.float32), "model": _minigen_setup()}
        if torch is not None:
            import numba
            torch.set_num_threads(numba.get_num_threads())
            torch.manual_seed(0)
            s["tmodel"] = _torch_model(torch)
            s["topt"] = torch.optim.Adam(s["tmodel"].parameters(), lr=1e-3)
            s["tx"] = torch.from_numpy(s["x"])
        return step_case_on(device, s)

    def fwd(s):
        with no_grad():
            return s["model"].nll(s["x"], None).mean()

    def fwd_bwd(s):
        s["model"].zero_grad()
        s["model"].nll(s["x"], None).mean().backward()

    def step(s):
        s["model"].train_step(s["x"])

    case = {"name": f"RealNVP MLP 4 couplings {D}-d N={n}", "setup": setup,
            "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd, "step": step}, "torch": None}
    if torch is not None:
        case["torch"] = torch_step_passes(torch, inputs=('tx',), device=device)
    return [case]
