"""A normalizing flow that samples a lattice field theory (Albergo, Kanwar & Shanahan 2019 [1];
the recipe of Albergo et al. 2021 [2]), checked against Hybrid Monte Carlo.

The target is the phi^4 distribution p(phi) = exp(-S(phi)) / Z on an L x L torus (the action,
its gradient and the observables are in ``minigen/lattice.py``). There is no data: the flow
q is trained by the *reverse* Kullback-Leibler divergence, which needs only S ([2] eq. (21))::

    KL(q || p) = E_{phi ~ q}[ log q(phi) + S(phi) ] + log Z          (log Z: a constant)

estimated on a batch of phi = f^-1(z), z ~ N(0, I), with the flow's exact log-density
(minigen's direction: ``flow`` maps phi -> z; sampling runs every coupling backwards)::

    log q(phi) = log N(z; 0, I) - sum_k log|det d(layer_k^-1)/d(input)|

**The flow** ([2] §4): ``couplings`` affine couplings (RealNVP's, ``nn.AffineCoupling``,
s = scale * tanh(s_raw)) with checkerboard masks that alternate parity, so every site is
updated by functions of its neighbours. Each s/t network is a stack of 3x3 convolutions
1 -> hidden -> hidden -> 2 with LeakyReLU, and **circular padding** before every
convolution (``functional.pad_circular``: the lattice is a torus). Shifting a
configuration by an even vector maps each checkerboard onto itself and commutes with
circular convolutions, so q is exactly invariant under those shifts; odd shifts swap the
masks and hold only as well as training made q close to p (tested).

**Exact sampling** ([1] §III): q is not p, so its draws are corrected by independence
Metropolis-Hastings (``mcmc.independence_metropolis``) with weights w = exp(-S) / q:
a proposal phi' replaces phi with probability min(1, w(phi') / w(phi)). The chain is
exact whatever q is; a better q accepts more and has shorter autocorrelations. The
effective sample size of the weights, (sum w)^2 / (N sum w^2), measures q against p.

**The baseline** is HMC on the same action (``mcmc.hmc`` via ``lattice.hmc_chains``). The
end-of-run report prints acceptance, ESS, <|M|> and chi_2 with autocorrelation-corrected
errors and tau_int of |M| for both samplers; the figures show configurations from both and
the autocorrelation of |M|.

The run layer is data-driven; this model is not. A batch of the configured data set only
clocks the steps: ``loss`` reads its length (the number of configurations to draw,
``batch_size``) and nothing else, so ``python -m minigen train phi4`` works unchanged.

**L8-reference** ([2]'s point): L = 8, m^2 = -4, lam = 8; 16 couplings, hidden 8, kernel 3;
Adam 1e-3, batch 64 configurations, 3000 steps, seed 0; 8192 flow proposals and 4 HMC chains
of 2048 trajectories (eps = 0.1, 10 leapfrog steps, 10% jitter).
**L8-critical**: lam = 4.5, where HMC's tau_int of |M| peaks on this lattice.

References:
    [1] M. S. Albergo, G. Kanwar, P. E. Shanahan, Phys. Rev. D 100, 034515 (2019). arXiv:1904.12072
    [2] M. S. Albergo et al., "Introduction to normalizing flows for lattice field theory",
        arXiv:2101.08176
"""
import os
import time

import numpy as np

from autograd import Tensor, as_numpy, functional, no_grad, ops, to_device
from autograd.ops.coupling import affine_coupling_inverse

from ... import lattice, mcmc
from ...nn import AffineCoupling, Conv2d, FlowSequence, Module, ModuleList, checkerboard_mask
from ...nn.losses import standard_normal_log_prob
from ..base import GenerativeModel, check_positive
from ..registry import Preset, TrainConfig, register

__all__ = ["Phi4", "CircularConditioner"]


class CircularConditioner(Module):
    """(s_raw, t) = net(b * phi): 3x3 convolutions 1 -> hidden ... -> 2, circular padding, LeakyReLU."""

    def __init__(self, hidden, depth=2, kernel=3, *, rng, dtype=np.float32):
        super().__init__()
        sizes = [1] + [hidden] * depth + [2]
        self.pad = kernel // 2
        self.layers = ModuleList([Conv2d(a, b, kernel, padding=0, rng=rng, dtype=dtype)
                                  for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, x):
        for i, conv in enumerate(self.layers):
            x = conv(functional.pad_circular(x, self.pad))              # (N, C, L, L): the torus
            if i < len(self.layers) - 1:
                x = ops.leaky_relu(x, 0.01)
        return x[:, :1], x[:, 1:]                                        # s_raw, t: (N, 1, L, L)


_REF = dict(L=8, m2=-4.0, lam=8.0, couplings=16, hidden=8, proposals=8192, hmc_chains=4, hmc_step=0.1,
            hmc_leapfrog=10)
_TRAIN = TrainConfig(data="digits", steps=3000, batch_size=64, lr=1e-3, eval_every=250, seed=0)


@register("phi4")
class Phi4(GenerativeModel):
    """A checkerboard affine-coupling flow for 2-D phi^4, trained by reverse KL (module docstring).

    Args:
        L: lattice size (even: checkerboards).
        m2, lam: the action's m^2 and lambda.
        couplings: affine couplings (alternating checkerboard parity).
        hidden: channels of the s/t convolutions (``depth`` hidden layers, ``kernel`` x ``kernel``).
        proposals: flow proposals of the end-of-run independence Metropolis-Hastings chain.
        hmc_chains, hmc_step, hmc_leapfrog: the HMC baseline (as many states as proposals).
        rng: generator or seed for the weights and the training noise.
        dtype: float dtype of the parameters.
    """

    default_preset = "L8-reference"
    best_metric = ("val/kl", "min")
    reads_data = False          # batches only count the steps (module docstring); run.Splits.test_for
    presets = {
        "L8-reference": Preset(model=_REF, train=_TRAIN, about="Albergo et al. 2021's point: L=8, m2=-4, lam=8"),
        "L8-critical": Preset(model=dict(_REF, lam=4.5), train=_TRAIN,
                              about="lam=4.5, where HMC's autocorrelation of |M| peaks at L=8"),
        "L4-tiny": Preset(model=dict(_REF, L=4, couplings=4, hidden=4, proposals=512, hmc_chains=2),
                          train=TrainConfig(data="digits", steps=100, batch_size=64, lr=3e-3, seed=0),
                          about="seconds on a CPU"),
    }

    def __init__(self, L=8, m2=-4.0, lam=8.0, couplings=16, hidden=8, depth=2, kernel=3, proposals=8192,
                 hmc_chains=4, hmc_step=0.1, hmc_leapfrog=10, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(L=L, couplings=couplings, hidden=hidden, depth=depth, proposals=proposals,
                       hmc_chains=hmc_chains, hmc_leapfrog=hmc_leapfrog)
        if L % 2 or L < 2:
            raise ValueError(f"L={L!r} is not allowed: an even lattice size (checkerboard masks on a torus)")
        if kernel % 2 == 0 or kernel > L:
            raise ValueError(f"kernel={kernel!r} is not allowed: odd and at most L = {L}")
        if not hmc_step > 0:
            raise ValueError(f"hmc_step={hmc_step!r} is not allowed: > 0")
        self.theory = lattice.Phi4Theory(L, m2, lam)
        self.L, self.data_shape, self.D = L, (1, L, L), L * L
        self.proposals, self.hmc = proposals, dict(chains=hmc_chains, step_size=hmc_step, n_leapfrog=hmc_leapfrog)
        self.flow = FlowSequence([AffineCoupling(CircularConditioner(hidden, depth, kernel, rng=self.rng, dtype=dtype),
                                                 checkerboard_mask(L, L, k % 2), 1, dtype=dtype)
                                  for k in range(couplings)])
        self._comparison = None

    # -- the flow's two directions -----------------------------------------------------------
    def log_q(self, phi):
        """log q(phi) (N,) of configurations (N, 1, L, L) (phi -> z, the density direction)."""
        z, log_det = self.flow(phi)
        return standard_normal_log_prob(z) + log_det

    def draw(self, n, rng):
        """n configurations phi = f^-1(z) (N, 1, L, L) and their log q(phi) (N,), differentiable."""
        dtype = self.parameters()[0].dtype
        z = Tensor(to_device(rng.standard_normal((n,) + self.data_shape).astype(dtype), self.device))
        y, log_det_inv = z, 0.0
        for layer in reversed(self.flow.steps.children()):
            b = layer._mask(y)
            s_raw, t = layer.net(y * b)
            y, ld = affine_coupling_inverse(y, s_raw, t, layer.scale, b)   # ld = log|det d(out)/d(in)|
            log_det_inv = log_det_inv + ld
        return y, standard_normal_log_prob(z) - log_det_inv

    # -- the protocol ------------------------------------------------------------------------
    def _kl(self, n, rng):
        phi, log_q = self.draw(n, rng)
        log_q_plus_s = log_q + self.theory.action_tensor(phi)
        log_w = -as_numpy(log_q_plus_s.data).astype(np.float64)
        return log_q_plus_s.mean(), {"kl": float(log_q_plus_s.mean().item()), "ess": lattice.importance_ess(log_w)}

    def loss(self, batch):
        """Reverse KL (minus log Z) on len(batch) fresh configurations; metrics kl and ess (ESS / N)."""
        return self._kl(len(self.split_batch(batch)[0]), self.rng)

    def eval_step(self, batch):
        x = self.split_batch(batch)[0]
        with no_grad():
            return self._kl(len(x), self.eval_rng(x))[1]

    def sample(self, n, rng):
        """n configurations (n, 1, L, L) drawn from the flow q (not yet corrected to p)."""
        with no_grad():
            return as_numpy(self.draw(n, rng)[0].data).astype(np.float32)

    def log_prob(self, x):
        """log q(phi) of the flow, nats per configuration (float64)."""
        with no_grad():
            phi = Tensor(to_device(np.asarray(x, self.parameters()[0].dtype), self.device))
            return as_numpy(self.log_q(phi.reshape((len(phi),) + self.data_shape)).data).astype(np.float64)

    # -- the comparison with HMC -------------------------------------------------------------
    def compare(self, rng, proposals=None):
        """Independence Metropolis-Hastings with flow proposals, and HMC with as many states.

        Returns:
            dict of numbers (acceptance, ess, abs_m and chi2 with errors, tau_abs_m, seconds, per
            sampler) and, under ``"chains"``, the chains of configurations for the figures.
        """
        n = proposals or self.proposals
        start = time.perf_counter()
        phis, log_ws = [], []
        with no_grad():
            for i in range(0, n, 1024):
                phi, log_q = self.draw(min(1024, n - i), rng)
                phi = as_numpy(phi.data).astype(np.float64)[:, 0]                   # (n, L, L)
                phis.append(phi)
                log_ws.append(-self.theory.action(phi) - as_numpy(log_q.data).astype(np.float64))
        phi, log_w = np.concatenate(phis), np.concatenate(log_ws)
        chain = mcmc.independence_metropolis(phi, log_w, rng)
        flow = dict(lattice.measure(chain.samples), acceptance=chain.acceptance, ess=lattice.importance_ess(log_w),
                    seconds=time.perf_counter() - start)
        start = time.perf_counter()
        c = self.hmc["chains"]
        hmc_phi, acc = lattice.hmc_chains(self.theory, max(n // c, 2), rng, self.hmc["step_size"],
                                          self.hmc["n_leapfrog"], chains=c, burn_in=min(200, n // c))
        hmc = dict(lattice.measure(hmc_phi), acceptance=acc, seconds=time.perf_counter() - start)
        numbers = {}
        for name, r in (("flow", flow), ("hmc", hmc)):
            numbers.update({f"{name}/acceptance": float(r["acceptance"]), f"{name}/abs_m": r["abs_m"][0],
                            f"{name}/abs_m_err": r["abs_m"][1], f"{name}/chi2": r["chi2"][0],
                            f"{name}/chi2_err": r["chi2"][1], f"{name}/tau_abs_m": r["tau_abs_m"],
                            f"{name}/seconds": float(r["seconds"])})
        numbers["flow/ess"] = flow["ess"]
        self._comparison = dict(numbers, chains={"flow": chain.samples, "hmc": hmc_phi},
                                G_c={"flow": flow["G_c"], "hmc": hmc["G_c"]})
        return self._comparison

    def report(self, split=None, rng=None, **options):
        """The comparison printed as a table (split is not used: there is no data)."""
        r = self.compare(rng if rng is not None else np.random.default_rng(0), **options)
        t = self.theory
        print(f"phi^4 on {t.L}x{t.L}, m2={t.m2}, lam={t.lam}: {self.proposals} states per sampler")
        print(f"{'sampler':8} {'accept':>7} {'ESS/N':>6} {'<|M|>':>17} {'chi_2':>17} {'tau_int|M|':>10} {'sec':>6}")
        for s in ("flow", "hmc"):
            ess = f"{r['flow/ess']:6.3f}" if s == "flow" else "     -"
            print(f"{s:8} {r[s + '/acceptance']:7.3f} {ess} {r[s + '/abs_m']:8.4f} +- {r[s + '/abs_m_err']:.4f} "
                  f"{r[s + '/chi2']:8.4f} +- {r[s + '/chi2_err']:.4f} {r[s + '/tau_abs_m']:10.2f} "
                  f"{r[s + '/seconds']:6.1f}")
        return {"examples": self.proposals, **{k: v for k, v in r.items() if isinstance(v, float)}}

    def figures(self, run_dir, rng, split=None):
        """configurations.png (flow and HMC states) and autocorrelation.png (|M| of both chains)."""
        from ... import plots
        r = self._comparison or self.compare(rng, proposals=min(self.proposals, 512))
        chains = r["chains"]
        pick = lambda c: c[np.linspace(len(c) // 2, len(c) - 1, 8).astype(int), 0][:, None]   # noqa: E731
        a = max(np.abs(chains["hmc"]).max(), 1e-6)
        paths = [plots.labelled_rows([("flow + MH", pick(chains["flow"])), ("HMC", pick(chains["hmc"]))],
                                     os.path.join(run_dir, "configurations.png"), value_range=(-a, a),
                                     title=f"phi^4 L={self.L}: configurations")]
        series = {f"{k} (tau_int {r[k + '/tau_abs_m']:.1f})": np.abs(lattice.magnetisation(v))
                  for k, v in chains.items()}
        paths.append(lattice.plot_autocorrelation(series, os.path.join(run_dir, "autocorrelation.png"),
                                                  title="autocorrelation of |M|"))
        return paths
