"""CycleGAN [1]: unpaired image-to-image translation with two generators and two discriminators.

Given images of a domain X and of a domain Y, never paired, learn G: X -> Y and
F: Y -> X. Discriminator D_Y tells real y from G(x), D_X real x from F(y). The full
objective ([1] eq. 3, with the identity term of §5.2 "Photo generation from paintings")::

    L(G, F, D_X, D_Y) = L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda L_cyc(G, F) + lambda_id lambda L_id(G, F)

    L_cyc = E_x |F(G(x)) - x|_1 + E_y |G(F(y)) - y|_1                          ([1] eq. 2)
    L_id  = E_y |G(y) - y|_1 + E_x |F(x) - x|_1                                  (lambda_id = 0.5)

The cycle term is what makes unpaired training work: the adversarial terms alone only
ask G(x) to look like *some* y; translating x and back must return x (§3.2). The
adversarial terms are least-squares ([1] §4 "Training details", after Mao et al. 2017 [2])
instead of the log loss, on PatchGAN discriminators that score patches::

    discriminator D_Y   1/2 E (D_Y(y) - 1)^2 + 1/2 E D_Y(G(x))^2     (each patch score)
    generator G         E (D_Y(G(x)) - 1)^2

and the same for F and D_X. lambda = 10, Adam lr 2e-4, beta1 = 0.5 ([1] §4). Each
``train_step``: one step of both generators on the full objective, then one step of both
discriminators on those (detached) translations. Left out: [1]'s buffer of the 50 last
translations for the discriminators, and the linear learning-rate decay.

Players, scaled down from [1] Appendix 7.2 (ResNet generator c7s1-64, d128, d256,
9 x R256, u128, u64, c7s1-3; 70x70 PatchGAN C64-C128-C256-C512), instance normalisation
(``GroupNorm`` with one channel per group) as in [1], for H x H images and c = ``channels``::

    G, F:  Conv 3 (C -> c) -IN-ReLU-  Conv 4, s2 (-> 2c, H/2) -IN-ReLU-  [residual block 2c] x n_res
           -ConvT 4, s2 (-> c, H) -IN-ReLU-  Conv 3 (-> C) -tanh
    D:     Conv 4, s2 (C -> c, H/2) -LReLU(0.2)-  Conv 3 (-> 2c) -IN-LReLU(0.2)-
           Conv 3 (-> 1): patch scores (N, 1, H/2, H/2)

The domains (``_domains.py``): the digits and their stroke-thickened versions
("dilate"), or two classes (Fashion-MNIST's sneakers 7 and ankle boots 9). Judged by the
cycle reconstruction error, and in ``report`` by a domain classifier (the fraction of
translations it puts in the target domain) and, for "dilate", the error against the
true translation dilate(x).

References:
    [1] J.-Y. Zhu, T. Park, P. Isola and A. A. Efros, "Unpaired Image-to-Image Translation using
        Cycle-Consistent Adversarial Networks", ICCV 2017. https://arxiv.org/abs/1703.10593
        (eqs. 1-3, §3.2, §4, §5.2, Appendix 7.2)
    [2] X. Mao, Q. Li, H. Xie, R. Y. K. Lau, Z. Wang and S. P. Smolley, "Least Squares Generative
        Adversarial Networks", ICCV 2017. https://arxiv.org/abs/1611.04076
"""
import numpy as np

from autograd import as_numpy, no_grad

from ...nn import (Conv2d, ConvTranspose2d, GroupNorm, LeakyReLU, Module, ModuleDict, ReLU, Sequential, Tanh)
from ..base import GenerativeModel, check_positive
from ..registry import Preset, TrainConfig, register
from ._domains import dilate, domain_classifier, domain_split
from .base import AdversarialModel

__all__ = ["CycleGAN", "ResidualBlock"]

_RECIPE = "lambda 10, lambda_id 0.5, Adam 2e-4 (0.5, 0.999), seed 0"


class ResidualBlock(Module):
    """x + IN(Conv 3(ReLU(IN(Conv 3(x))))) ([1] Appendix 7.2, "R256": two 3x3 convolutions)."""

    def __init__(self, width, rng, dtype):
        super().__init__()
        self.body = Sequential(Conv2d(width, width, 3, 1, 1, rng=rng, dtype=dtype),
                               GroupNorm(width, width, dtype=dtype), ReLU(),
                               Conv2d(width, width, 3, 1, 1, rng=rng, dtype=dtype),
                               GroupNorm(width, width, dtype=dtype))

    def forward(self, x):
        return x + self.body(x)


def cycle_generator(C, c, n_res, rng, dtype):
    """G or F of the module docstring: (N, C, H, H) -> (N, C, H, H) in [-1, 1] (H even)."""
    def norm(w):
        return GroupNorm(w, w, dtype=dtype)                   # instance norm: one channel per group
    return Sequential(Conv2d(C, c, 3, 1, 1, rng=rng, dtype=dtype), norm(c), ReLU(),
                      Conv2d(c, 2 * c, 4, 2, 1, rng=rng, dtype=dtype), norm(2 * c), ReLU(),          # H/2
                      *[ResidualBlock(2 * c, rng, dtype) for _ in range(n_res)],
                      ConvTranspose2d(2 * c, c, 4, 2, 1, rng=rng, dtype=dtype), norm(c), ReLU(),     # H
                      Conv2d(c, C, 3, 1, 1, rng=rng, dtype=dtype), Tanh())


def patch_discriminator(C, c, rng, dtype):
    """D_X or D_Y: (N, C, H, H) -> patch scores (N, 1, H/2, H/2) (module docstring)."""
    return Sequential(Conv2d(C, c, 4, 2, 1, rng=rng, dtype=dtype), LeakyReLU(0.2),
                      Conv2d(c, 2 * c, 3, 1, 1, rng=rng, dtype=dtype), GroupNorm(2 * c, 2 * c, dtype=dtype),
                      LeakyReLU(0.2), Conv2d(2 * c, 1, 3, 1, 1, rng=rng, dtype=dtype))


def l1(a, b):
    """Mean absolute difference |a - b|_1 / (number of values)."""
    return (a - b).abs().mean()


@register("cyclegan")
class CycleGAN(AdversarialModel):
    """CycleGAN (Zhu et al. 2017): G: X -> Y, F: Y -> X, PatchGAN D_X, D_Y, least-squares losses.

    Args:
        data_shape: (C, H, H), H even ((1, 8, 8) digits, (1, 28, 28) Fashion-MNIST).
        num_levels: levels of the discrete images.
        domains: "dilate" or two classes (a, b) (``_domains.py``).
        channels: c of the players.
        n_res: residual blocks of each generator.
        cycle_weight: lambda. identity_weight: lambda_id (the identity term weighs lambda_id lambda).
        rng, dtype: initial weights' generator and the parameters' dtype.
    """

    dataset_view = "raw"
    default_preset = "digits-reference"
    best_metric = ("val/cycle", "min")
    presets = {
        "digits-reference": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, domains="dilate", channels=32, n_res=1,
                       cycle_weight=10.0, identity_weight=0.5),
            train=TrainConfig(data="digits", steps=2000, batch_size=64, lr=2e-4, seed=0, eval_every=250),
            about=f"digits <-> stroke-thickened digits (32 + 32 unpaired per batch of 64), {_RECIPE}, 2000 "
                  "steps of both players; the last parameters (best.npz: lowest validation cycle error)"),
        "digits-tiny": Preset(
            model=dict(data_shape=(1, 8, 8), num_levels=17, domains="dilate", channels=4, n_res=1),
            train=TrainConfig(data="digits", steps=40, batch_size=64, lr=1e-3, eval_every=20),
            about="seconds: a smoke run"),
        "fashion-mnist": Preset(
            model=dict(data_shape=(1, 28, 28), num_levels=256, domains=(7, 9), channels=32, n_res=3,
                       cycle_weight=10.0, identity_weight=0.5),
            train=TrainConfig(data="fashion-mnist", steps=5000, batch_size=320, lr=2e-4, seed=0,
                              eval_every=500),
            about=f"sneakers (7) <-> ankle boots (9): batches of 320 hold about 32 of each, {_RECIPE}, "
                  "5000 steps"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, domains="dilate", channels=32, n_res=2,
                 cycle_weight=10.0, identity_weight=0.5, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(num_levels=num_levels, channels=channels, data_shape=tuple(data_shape))
        if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] % 2:
            raise ValueError(f"data_shape={data_shape!r} is not allowed: CycleGAN needs square images "
                             "(C, H, H), H even")
        if domains != "dilate" and not (isinstance(domains, (tuple, list)) and len(domains) == 2
                                         and domains[0] != domains[1]):
            raise ValueError(f"domains={domains!r} is not allowed: 'dilate' or two different classes (a, b)")
        if not (n_res >= 0 and cycle_weight >= 0 and identity_weight >= 0):
            raise ValueError(f"n_res={n_res!r}, cycle_weight={cycle_weight!r}, "
                             f"identity_weight={identity_weight!r}: each must be >= 0")
        self.data_shape, self.num_levels, self.D = tuple(data_shape), num_levels, int(np.prod(data_shape))
        self.domains = domains if domains == "dilate" else tuple(int(k) for k in domains)
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)
        C = self.data_shape[0]
        self.generator = ModuleDict({"G": cycle_generator(C, channels, n_res, self.rng, dtype),     # X -> Y
                                     "F": cycle_generator(C, channels, n_res, self.rng, dtype)})    # Y -> X
        self.discriminator = ModuleDict({"X": patch_discriminator(C, channels, self.rng, dtype),
                                         "Y": patch_discriminator(C, channels, self.rng, dtype)})

    @property
    def title(self):
        return "CycleGAN"

    def players_batch(self, batch):
        """(x, y) of domain X and Y in the players' space [-1, 1]."""
        x, labels = self.split_batch(batch)
        labels = None if labels is None else as_numpy(labels)
        xa, xb = domain_split(np.asarray(as_numpy(x)), labels, self.domains)
        return self.prepare(xa), self.prepare(xb)

    # -- the objective -------------------------------------------------------------------------
    def cycle_loss(self, x, y):
        """L_cyc = E|F(G(x)) - x|_1 + E|G(F(y)) - y|_1 ([1] eq. 2)."""
        G, F = self.generator["G"], self.generator["F"]
        return l1(F(G(x)), x) + l1(G(F(y)), y)

    def generator_objective(self, x, y):
        """The generators' part of [1] eq. 3 (least squares): ``(loss, metrics, (G(x), F(y)))``."""
        G, F = self.generator["G"], self.generator["F"]
        fake_y, fake_x = G(x), F(y)
        D_X, D_Y = self.discriminator["X"], self.discriminator["Y"]
        adv = ((D_Y(fake_y) - 1.0) ** 2).mean() + ((D_X(fake_x) - 1.0) ** 2).mean()
        cyc = l1(F(fake_y), x) + l1(G(fake_x), y)
        idt = l1(G(y), y) + l1(F(x), x)
        loss = adv + cyc * self.cycle_weight + idt * (self.identity_weight * self.cycle_weight)
        metrics = {"g_adv": adv.item(), "cycle": cyc.item() / 2, "identity": idt.item() / 2}
        return loss, metrics, (fake_y, fake_x)

    def discriminator_objective(self, x, y, fake_x, fake_y):
        """1/2 E(D(real) - 1)^2 + 1/2 E D(fake)^2 for D_X and D_Y, summed."""
        def lsgan(D, real, fake):
            return ((D(real) - 1.0) ** 2).mean() * 0.5 + (D(fake) ** 2).mean() * 0.5
        return lsgan(self.discriminator["X"], x, fake_x) + lsgan(self.discriminator["Y"], y, fake_y)

    def loss(self, batch):
        """Both players' objectives, with gradients everywhere (what the contract tests gradcheck)."""
        x, y = self.players_batch(batch)
        g_loss, metrics, (fake_y, fake_x) = self.generator_objective(x, y)
        return g_loss + self.discriminator_objective(x, y, fake_x, fake_y), metrics

    def train_step(self, batch):
        """One step of G and F on the full objective, then one of D_X and D_Y on the translations."""
        x, y = self.players_batch(batch)
        g_opt, d_opt = self.optimizers["generator"], self.optimizers["discriminator"]
        g_opt.zero_grad()
        g_loss, metrics, (fake_y, fake_x) = self.generator_objective(x, y)
        g_loss.backward()
        g_opt.step()
        d_opt.zero_grad()
        d_loss = self.discriminator_objective(x, y, fake_x.detach(), fake_y.detach())
        d_loss.backward()
        d_opt.step()
        return {"loss": g_loss.item(), "g_loss": g_loss.item(), "d_loss": d_loss.item(), **metrics}

    def eval_step(self, batch):
        """The objective's terms on ``batch``; ``cycle`` (per direction, [-1, 1] units) picks best.npz."""
        x, y = self.players_batch(batch)
        g_loss, metrics, (fake_y, fake_x) = self.generator_objective(x, y)
        return {"g_loss": g_loss.item(), "d_loss": self.discriminator_objective(x, y, fake_x, fake_y).item(),
                **metrics}

    # -- translations and how good they are ----------------------------------------------------
    def translate(self, x, direction="G", batch_size=500):
        """G(x) (X -> Y) or F(x) (Y -> X) of raw images (N, C, H, W), as integer levels."""
        out = []
        with no_grad():
            for i in range(0, len(x), batch_size):
                t = as_numpy(self.generator[direction](self.prepare(x[i:i + batch_size])).data)
                out.append(np.rint((np.clip(t, -1, 1) + 1) / 2 * (self.num_levels - 1)))
        return np.concatenate(out).astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def test_domains(self, split):
        """Raw images of X and Y in ``split``: for "dilate" all images and their dilations (paired)."""
        if self.domains == "dilate":
            return split.x, dilate(split.x)
        return domain_split(split.x, split.y, self.domains)

    def sample(self, n, rng):
        raise NotImplementedError("CycleGAN translates images (translate(x, 'G' or 'F')); it has no p(z) to "
                                  "sample from")

    def report(self, split, rng, batch_size=256):
        """The objective's terms on ``split``; the domain classifier's verdicts (``to_Y``: fraction of
        G(x) put in Y, ``to_X``: of F(y) in X, ``classifier_accuracy`` on the real images); the cycle
        error in [0, 1] units; for "dilate" also ``translation_error`` |G(x) - dilate(x)| ([0, 1])."""
        from ...data import get_dataset
        out = GenerativeModel.report(self, split, rng, batch_size)
        L = self.num_levels - 1
        train = get_dataset(split.name, "train")
        if self.domains == "dilate":
            half = len(train) // 2
            ta, tb = train.x[:half], dilate(train.x[half:])
        else:
            ta, tb = domain_split(train.x, train.y, self.domains)
        is_y = domain_classifier(ta / L, tb / L)
        xa, xb = self.test_domains(split)
        ga, fb = self.translate(xa, "G"), self.translate(xb, "F")
        out.update(to_Y=float(is_y(ga / L).mean()), to_X=float(1 - is_y(fb / L).mean()),
                   classifier_accuracy=float((np.sum(~is_y(xa / L)) + np.sum(is_y(xb / L)))
                                             / (len(xa) + len(xb))),
                   cycle_error=float((np.abs(self.translate(ga, "F") / L - xa / L).mean()
                                      + np.abs(self.translate(fb, "G") / L - xb / L).mean()) / 2))
        if self.domains == "dilate":
            out["translation_error"] = float(np.abs(ga / L - xb / L).mean())
        return out

    def figures(self, run_dir, rng, split=None):
        """translations.png: inputs, translations and reconstructions of both directions."""
        import os
        from ... import plots
        if split is None:
            return []
        xa, xb = self.test_domains(split)
        pick_a = rng.choice(len(xa), min(12, len(xa)), replace=False)
        pick_b = rng.choice(len(xb), len(pick_a), replace=False)
        xa, xb = xa[pick_a], xb[pick_b]
        ga, fb = self.translate(xa, "G"), self.translate(xb, "F")
        rows = [("x (domain X)", xa), ("G(x)", ga), ("F(G(x))", self.translate(ga, "F")),
                ("y (domain Y)", xb), ("F(y)", fb), ("G(F(y))", self.translate(fb, "G"))]
        return [plots.labelled_rows(rows, os.path.join(run_dir, "translations.png"),
                                    title="CycleGAN: inputs, translations, reconstructions",
                                    levels=self.num_levels)]
