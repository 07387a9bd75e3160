"""The family bases that override the protocol's defaults, on toy models a student can solve by
hand: the adversarial alternation, the energy-based contrast, the diffusion family's EMA.

(The autoregressive, latent-variable, flow and classical bases run under the contract
tests through their registered models.)
"""
import numpy as np

from autograd import Tensor, no_grad
from autograd.functional import softplus
from minigen.models import TrainConfig
from minigen.models.adversarial.base import AdversarialModel
from minigen.models.diffusion.base import DiffusionModel
from minigen.models.energy.base import EnergyModel
from minigen.nn import Linear, Parameter


class ToyGAN(AdversarialModel):
    """G(z) = w z + c against a logistic-regression discriminator, non-saturating losses."""
    n_critic = 3

    def __init__(self, rng=None):
        super().__init__(rng)
        self.latent_dim = 1
        self.generator = Linear(1, 1, rng=self.rng)
        self.discriminator = Linear(1, 1, rng=self.rng)

    def discriminator_loss(self, x, z):
        real = self.discriminator(Tensor(np.asarray(x, np.float32)))
        fake = self.discriminator(self.generator(z).detach())
        loss = softplus(-real).mean() + softplus(fake).mean()          # -log D(x) - log(1 - D(G(z)))
        return loss, {}

    def generator_loss(self, z):
        return softplus(-self.discriminator(self.generator(z))).mean(), {}           # -log D(G(z))


def data(n, rng):
    return (3.0 + 0.5 * rng.standard_normal((n, 1))).astype(np.float32)


def test_adversarial_alternation_and_its_state():
    """n_critic = 3: the critic moves every step, the generator every third; the counter is
    in the state dict (so a resumed run alternates as before); G's mean moves to the data's."""
    rng = np.random.default_rng(0)
    model = ToyGAN(rng=0)
    model.configure_optimizers(TrainConfig(lr=0.05))
    assert set(model.optimizers) == {"generator", "discriminator"}
    moved = []
    for step in range(1, 7):
        g, d = model.generator.weight.data.copy(), model.discriminator.weight.data.copy()
        out = model.train_step(data(64, rng))
        moved.append((not np.array_equal(g, model.generator.weight.data),
                      not np.array_equal(d, model.discriminator.weight.data), "g_loss" in out))
    assert moved == [(False, True, False), (False, True, False), (True, True, True)] * 2
    assert int(model.state_dict()["critic_steps"]) == 6
    start = abs(model.sample(2000, np.random.default_rng(1)).mean() - 3.0)
    for _ in range(600):
        model.train_step(data(64, rng))
    end = abs(model.sample(2000, np.random.default_rng(1)).mean() - 3.0)
    assert end < 0.5 * start and end < 0.5, (start, end)
    model.eval()
    assert model.eval_step(data(32, np.random.default_rng(2))) == model.eval_step(data(32, np.random.default_rng(2)))


class ToyEnergy(EnergyModel):
    """E(x) = (x - mu)^2 / 2: a unit Gaussian; its exact samples stand in for a perfect chain."""

    def __init__(self, rng=None):
        super().__init__(rng)
        self.mu = Parameter(np.zeros(1))

    def energy(self, x):
        d = x - self.mu
        return (0.5 * d * d).sum(axis=1)

    def negative_samples(self, x, rng):
        return self.mu.data + rng.standard_normal(np.shape(x))


def test_energy_contrast_moves_the_model_to_the_data():
    """The surrogate's gradient is d/dmu: -(mean x - mu) + (mean x' - mu): mu -> the data mean."""
    rng = np.random.default_rng(0)
    model = ToyEnergy(rng=0)
    model.configure_optimizers(TrainConfig(lr=0.05))
    x = 2.0 + rng.standard_normal((256, 1))
    for _ in range(300):
        metrics = model.train_step(x)
    assert abs(model.mu.data[0] - x.mean()) < 0.1, model.mu.data
    assert set(metrics) >= {"loss", "energy_data", "energy_gap"}


class ToyDiffusion(DiffusionModel):
    def __init__(self, rng=None):
        super().__init__(rng)
        self.w = Parameter(np.zeros(1))

    def loss(self, batch):
        d = self.w - 1.0
        return (d * d).sum(), {}

    def eval_figures(self, batch):
        return {"w": float(self.w.data[0])}

    def sample_raw(self, n, rng):
        return np.full((n, 1), self.w.data[0])


def test_diffusion_keeps_an_ema_and_evaluates_and_samples_with_it():
    model = ToyDiffusion(rng=0)
    model.configure_optimizers(TrainConfig(lr=0.1))
    assert model.ema is not None and model.ema.decay == 0.999
    for _ in range(20):
        model.train_step(None)
        model.ema.update()                        # what the loop does after every step
    raw = float(model.w.data[0])
    with no_grad():
        averaged = model.eval_step(None)["w"]
    assert 0 < averaged < raw and float(model.w.data[0]) == raw   # averaged inside, restored after
    assert model.sample(2, np.random.default_rng(0))[0, 0] == averaged
    other = ToyDiffusion(rng=0)
    other.configure_optimizers(TrainConfig(ema_decay=0.9))
    assert other.ema.decay == 0.9                 # the run's setting wins over the model's
