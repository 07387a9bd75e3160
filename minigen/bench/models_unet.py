"""Diffusion U-Net training-step benchmark: minigen against the same U-Net in PyTorch CPU.

Run with ``python -m minigen.bench models --only U-Net``. The network is the DDPM
digits-reference U-Net (``minigen.nn.unet.UNet``; minigen/models/diffusion/ddpm.py),
identical in both frameworks, float32:

    data       x_t (64, 1, 8, 8) noisy digits, t (64,) steps, eps (64, 1, 8, 8) the noise
    U-Net      base 64, channel multipliers (1, 2) at 8x8 and 4x4, two residual blocks per
               level (three on the way up), GroupNorm(8) + SiLU, dropout 0.1, sinusoidal
               time embedding -> Linear 64->256, SiLU, Linear 256->256 added per block,
               one-head self-attention at 4x4 and in the middle, stride-2 conv down,
               nearest x2 + conv up (about 4.0 M parameters)
    loss       mean (eps_theta(x_t, t) - eps)^2 (Ho et al. 2020, eq. 14)
    optimiser  Adam (lr 2e-4)

Passes (each one iteration, timed as a median): fwd (no graph), fwd+bwd, step (zero
grads, loss, backward, Adam). PyTorch runs with ``torch.set_num_threads`` equal to
Numba's thread count. The time embedding is computed on the host in both.
"""
import math

import numpy as np

from ._timing import torch_or_none, torch_step_passes

N, BASE, MULTS, BLOCKS, GROUPS, DROPOUT = 64, 64, (1, 2), 2, 8, 0.1


def _minigen_setup():
    from minigen.nn.unet import UNet
    from minigen.optim import Adam
    net = UNet(1, BASE, MULTS, BLOCKS, (4,), 8, GROUPS, DROPOUT, rng=np.random.default_rng(0))
    return net, Adam(net.parameters(), lr=2e-4)


def _torch_model(torch, emb_fn):
    nn, F = torch.nn, torch.nn.functional

    class ResBlock(nn.Module):
        def __init__(self, i, o, e):
            super().__init__()
            self.norm1, self.conv1 = nn.GroupNorm(min(GROUPS, i), i), nn.Conv2d(i, o, 3, padding=1)
            self.emb, self.norm2 = nn.Linear(e, o), nn.GroupNorm(min(GROUPS, o), o)
            self.drop, self.conv2 = nn.Dropout(DROPOUT), nn.Conv2d(o, o, 3, padding=1)
            self.skip = nn.Conv2d(i, o, 1) if i != o else None

        def forward(self, x, e):
            h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(e))[:, :, None, None]
            h = self.conv2(self.drop(F.silu(self.norm2(h))))
            return (x if self.skip is None else self.skip(x)) + h

    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = nn.GroupNorm(min(GROUPS, c), c)
            self.qkv, self.out = nn.Linear(c, 3 * c), nn.Linear(c, c)

        def forward(self, x):
            n, c, h, w = x.shape
            q, k, v = self.qkv(self.norm(x).reshape(n, c, h * w).transpose(1, 2)).chunk(3, dim=-1)
            y = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1) @ v
            return x + self.out(y).transpose(1, 2).reshape(n, c, h, w)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            e = 4 * BASE
            self.time = nn.Sequential(nn.Linear(BASE, e), nn.SiLU(), nn.Linear(e, e))
            self.conv_in = nn.Conv2d(1, BASE, 3, padding=1)
            self.down, skips, ch, size = nn.ModuleList(), [BASE], BASE, 8
            for level, m in enumerate(MULTS):
                for _ in range(BLOCKS):
                    self.down.append(nn.ModuleList([ResBlock(ch, BASE * m, e)] + ([Attention(BASE * m)]
                                                                                  if size == 4 else [])))
                    ch = BASE * m
                    skips.append(ch)
                if level < len(MULTS) - 1:
                    self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                    skips.append(ch)
                    size //= 2
            self.middle = nn.ModuleList([ResBlock(ch, ch, e), Attention(ch), ResBlock(ch, ch, e)])
            self.up = nn.ModuleList()
            for level, m in reversed(list(enumerate(MULTS))):
                for _ in range(BLOCKS + 1):
                    self.up.append(nn.ModuleList([ResBlock(ch + skips.pop(), BASE * m, e)]
                                                 + ([Attention(BASE * m)] if size == 4 else [])))
                    ch = BASE * m
                if level > 0:
                    self.up.append(nn.Sequential(nn.Upsample(scale_factor=2),
                                                 nn.Conv2d(ch, ch, 3, padding=1)))
                    size *= 2
            self.norm_out, self.conv_out = nn.GroupNorm(min(GROUPS, ch), ch), nn.Conv2d(ch, 1, 3, padding=1)

        def forward(self, x, t):
            e = self.time(torch.from_numpy(emb_fn(t.numpy(), BASE).astype(np.float32)))
            h = self.conv_in(x)
            hs = [h]
            for layer in self.down:
                if isinstance(layer, nn.ModuleList):
                    h = layer[0](h, e)
                    for a in layer[1:]:
                        h = a(h)
                else:
                    h = layer(h)
                hs.append(h)
            h = self.middle[2](self.middle[1](self.middle[0](h, e)), e)
            for layer in self.up:
                if isinstance(layer, nn.ModuleList):
                    h = layer[0](torch.cat([h, hs.pop()], dim=1), e)
                    for a in layer[1:]:
                        h = a(h)
                else:
                    h = layer(h)
            return self.conv_out(F.silu(self.norm_out(h)))

        def loss(self, x, t, eps):
            return ((self(x, t) - eps) ** 2).mean()

    return UNet()


def cases(device):
    """The U-Net step case (CPU only: ``device`` other than 'cpu' gives no case)."""
    if device != "cpu":
        return []
    from autograd import Tensor, no_grad
    from minigen.nn.unet import timestep_embedding
    torch = torch_or_none()

    def setup():
        rng = np.random.default_rng(0)
        net, opt = _minigen_setup()
        s = {"x": Tensor(rng.standard_normal((N, 1, 8, 8)).astype(np.float32)), "t": rng.integers(1, 1001, N),
             "eps": Tensor(rng.standard_normal((N, 1, 8, 8)).astype(np.float32)), "net": net, "opt": opt}
        if torch is not None:
            import numba
            torch.set_num_threads(numba.get_num_threads())
            torch.manual_seed(0)
            s["tmodel"] = _torch_model(torch, timestep_embedding)
            s["topt"] = torch.optim.Adam(s["tmodel"].parameters(), lr=2e-4)
            s["tx"], s["tt"], s["teps"] = (torch.from_numpy(np.asarray(getattr(s[k], "data", s[k])))
                                           for k in ("x", "t", "eps"))
        return s

    def loss(s):
        d = s["net"](s["x"], s["t"]) - s["eps"]
        return (d * d).mean()

    def fwd(s):
        with no_grad():
            loss(s)

    def fwd_bwd(s):
        s["net"].zero_grad()
        loss(s).backward()

    def step(s):
        s["opt"].zero_grad()
        loss(s).backward()
        s["opt"].step()

    case = {"name": f"U-Net (DDPM digits-reference) step N={N}", "setup": setup,
            "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd, "step": step}, "torch": None}
    if torch is not None:
        case["torch"] = torch_step_passes(torch, inputs=("tx", "tt", "teps"))
    return [case]
