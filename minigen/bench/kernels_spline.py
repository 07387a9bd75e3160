"""Benchmark of the rational-quadratic spline kernel (neural spline flows).

``python -m minigen.bench kernels --only spline``. Three rows per shape: the fused Numba
kernel, its NumPy reference twin (the same equations as whole-array passes), and, when
PyTorch is installed, the eager PyTorch a user would write (nflows' ``unconstrained_
rational_quadratic_spline``: softmax, cumsum, searchsorted, gathers, eq. (4) and its
log-derivative, linear tails; backward by autograd). Ratios, never asserted times.
"""
import numpy as np

import kernels
from kernels.reference import spline as R

from ._timing import torch_or_none

B = 3.0


def _torch_spline(torch, x, w, h, d):
    """Eager PyTorch RQ spline with identity tails (as nflows writes it)."""
    F = torch.nn.functional
    K = w.shape[-1]
    inside = (x >= -B) & (x < B)
    one = torch.ones_like(d[..., :1])
    delta = torch.cat([one, R.MIN_DERIVATIVE + F.softplus(d), one], -1)

    def knots(u, m):
        c = torch.cumsum(m + (1 - m * K) * torch.softmax(u, -1), -1)
        c = F.pad(c, (1, 0)) * 2 * B - B
        return torch.cat([c[..., :1] * 0 - B, c[..., 1:-1], c[..., -1:] * 0 + B], -1)

    xk, yk = knots(w, R.MIN_WIDTH), knots(h, R.MIN_HEIGHT)
    k = (x[..., None] >= xk[..., 1:K]).sum(-1, keepdim=True)
    g = lambda a, o=0: a.gather(-1, k + o)[..., 0]                      # noqa: E731
    xl, xr, yl, yr, dl, dr = g(xk), g(xk, 1), g(yk), g(yk, 1), g(delta), g(delta, 1)
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    xi = ((x - xl) / dx).clamp(0, 1)
    q = xi * (1 - xi)
    den = s + (dl + dr - 2 * s) * q
    y = yl + dy * (s * xi ** 2 + dl * q) / den
    ld = 2 * torch.log(s) + torch.log(dr * xi ** 2 + 2 * s * q + dl * (1 - xi) ** 2) - 2 * torch.log(den)
    return torch.where(inside, y, x), torch.where(inside, ld, torch.zeros_like(ld))


def _case(n, dim, K, impl):
    name = f"rq spline {n}x{dim} K={K}" + (" (NumPy reference)" if impl is R else "")

    def setup():
        import numba
        rng = np.random.default_rng(0)
        st = {"x": rng.uniform(-3.5, 3.5, (n, dim)).astype(np.float32)}
        for key, k in (("w", K), ("h", K), ("d", K - 1)):
            st[key] = rng.standard_normal((n, dim, k)).astype(np.float32)
        st["gy"], st["gl"] = (rng.standard_normal((n, dim)).astype(np.float32) for _ in range(2))
        torch = torch_or_none()
        if torch is not None:
            torch.set_num_threads(numba.get_num_threads())
            for key in ("x", "w", "h", "d"):
                st["t" + key] = torch.from_numpy(st[key]).requires_grad_(True)
            st["tgy"], st["tgl"] = torch.from_numpy(st["gy"]), torch.from_numpy(st["gl"])
        return st

    fns = kernels if impl is None else impl

    def fwd(s):
        return fns.rq_spline_forward(s["x"], s["w"], s["h"], s["d"], B)

    def fwd_bwd(s):
        fwd(s)
        return fns.rq_spline_backward(s["gy"], s["gl"], s["x"], s["w"], s["h"], s["d"], B)

    def t_fwd(s):
        import torch
        with torch.no_grad():
            _torch_spline(torch, s["tx"], s["tw"], s["th"], s["td"])

    def t_fwd_bwd(s):
        import torch
        y, ld = _torch_spline(torch, s["tx"], s["tw"], s["th"], s["td"])
        torch.autograd.backward([y, ld], [s["tgy"], s["tgl"]])
        for key in ("tx", "tw", "th", "td"):
            s[key].grad = None

    return {"name": name, "setup": setup, "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd},
            "torch": {"fwd": t_fwd, "fwd+bwd": t_fwd_bwd} if torch_or_none() else None}


def cases(device="cpu"):
    """The spline benchmark cases: a digits-sized coupling (batch 64 x 32 values, K = 8) and a large one."""
    if device != "cpu":
        return []
    return [_case(64, 32, 8, None), _case(64, 32, 8, R), _case(1024, 784, 8, None), _case(1024, 784, 8, R)]


if __name__ == "__main__":
    from ._timing import run_cases, threads_note
    print(threads_note())
    run_cases(cases())
