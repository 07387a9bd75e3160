"""GAN and DCGAN beyond the contracts: the paper's losses and fixed points, the players'
architecture, the data space, and the game figure."""
import numpy as np
import pytest

from autograd import Tensor, grad
from minigen.data import get_dataset
from minigen.models import TrainConfig, build_model
from minigen.models.adversarial._game import game_figure, game_state
from minigen.models.adversarial.gan import generator_objective
from minigen.nn import BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, Linear


def test_minimax_gradient_vanishes_where_the_discriminator_is_confident():
    """[1] §3: d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0 as l -> -inf; the non-saturating
    loss's derivative -sigmoid(-l) -> -1 there."""
    l = Tensor(np.array([-8.0, -2.0, 0.0, 3.0]), requires_grad=True)
    s = 1 / (1 + np.exp(-l.data))
    g_mm = grad(generator_objective(l, "minimax").sum(), l).data
    g_ns = grad(generator_objective(l, "non-saturating").sum(), l).data
    np.testing.assert_allclose(g_mm, -s, rtol=1e-12)
    np.testing.assert_allclose(g_ns, -(1 - s), rtol=1e-12)
    assert abs(g_mm[0]) < 1e-3 and abs(g_ns[0]) > 0.999


def toy_gan(**kw):
    """A 1-D GAN whose generator is fixed to G(z) = z, z ~ N(0, 1)."""
    model = build_model("gan", data_shape=(1,), num_levels=None, latent_dim=1, hidden=(16,), rng=0,
                        dtype=np.float64, **kw)
    model.generator = Linear(1, 1, rng=np.random.default_rng(0), dtype=np.float64)
    model.generator.weight.data[:] = 1.0
    model.generator.bias.data[:] = 0.0
    model.n_critic = 10 ** 9                               # only the discriminator learns
    return model


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_the_discriminator_learns_the_optimal_d_star(smoothing):
    """Proposition 1: D*(x) = p_data / (p_data + p_g); data N(2, 1), G(z) ~ N(0, 1): logit 2x - 2.
    With one-sided smoothing s the real targets are 1 - s: D* = (1-s) p_data / (p_data + p_g)."""
    model = toy_gan(label_smoothing=smoothing)
    model.configure_optimizers(TrainConfig(lr=1e-2))
    rng = np.random.default_rng(1)
    for _ in range(500):
        model.train_step(2.0 + rng.standard_normal((256, 1)))
    assert np.array_equal(model.generator.weight.data, [[1.0]])   # the generator never moved
    x = np.linspace(0.0, 2.0, 5)[:, None]
    d = 1 / (1 + np.exp(-model.discriminator(Tensor(x)).data[:, 0]))
    ratio = np.exp(-0.5 * (x[:, 0] - 2) ** 2) / (np.exp(-0.5 * (x[:, 0] - 2) ** 2) + np.exp(-0.5 * x[:, 0] ** 2))
    np.testing.assert_allclose(d, (1 - smoothing) * ratio, atol=0.06)


def test_loss_reaches_both_players_and_the_training_step_detaches_the_generator():
    model = build_model("gan", latent_dim=4, hidden=(16,), rng=0)
    x = get_dataset("digits", "train").x[:8]
    loss, _ = model.loss(x)
    loss.backward()
    assert all(np.abs(p.grad.data).sum() > 0 for p in model.generator.parameters())
    model.zero_grad()
    d_loss, _ = model.discriminator_loss(x, model.noise(8, model.rng))
    d_loss.backward()
    assert all(p.grad is None or not np.any(p.grad.data) for p in model.generator.parameters())


def test_data_space_and_samples_are_on_the_data_levels():
    model = build_model("gan", latent_dim=4, hidden=(16,), rng=0)
    np.testing.assert_allclose(model.prepare(np.array([[0, 8, 16]])).data, [[-1.0, 0.0, 1.0]])
    x = model.sample(50, np.random.default_rng(0))
    assert x.dtype == np.uint8 and x.shape == (50, 1, 8, 8) and x.max() <= 16


def test_dcgan_architecture_follows_the_paper():
    model = build_model("dcgan", channels=8, latent_dim=5, rng=0)
    g, d = model.generator.children(), model.discriminator.children()
    assert [type(m) for m in g if isinstance(m, ConvTranspose2d)] and not any(isinstance(m, Linear) for m in g)
    assert any(isinstance(m, Conv2d) and m.stride == 2 for m in d)                 # strided, no pooling
    assert all(m.slope == 0.2 for m in d if isinstance(m, LeakyReLU))
    assert not isinstance(d[1], BatchNorm2d) and not isinstance(g[-2], BatchNorm2d)  # no BN at D in / G out
    assert model.betas == (0.5, 0.999) and model.presets["digits-reference"].train.lr == 2e-4
    conv = [p.data for n, p in model.named_parameters() if n.endswith("weight") and p.ndim == 4]
    assert abs(np.concatenate([c.ravel() for c in conv]).std() - 0.02) < 0.003     # N(0, 0.02)
    z = model.noise(3, np.random.default_rng(0))
    out = model.generator(z)
    assert out.shape == (3, 1, 8, 8) and np.abs(out.data).max() <= 1
    assert model.discriminator(out).shape == (3, 1)
    big = build_model("dcgan", data_shape=(1, 16, 16), channels=4, latent_dim=3, rng=0)
    assert big.generator(big.noise(2, np.random.default_rng(0))).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="4 \\* 2\\^m"):
        build_model("dcgan", data_shape=(1, 10, 10), rng=0)


def test_game_state_arrows_are_the_generators_negative_gradient(tmp_path):
    model = build_model("gan", "8gaussians", rng=0)
    state = game_state(model, np.random.default_rng(0), n=50, grid=10, arrows=3)
    assert state["heat"].shape == (10, 10) and state["fake"].shape == (50, 2)
    x = Tensor(state["at"].astype(np.float32), requires_grad=True)
    g = grad(model.generator_objective(model.discriminator(x).reshape(-1)).sum(), x).data
    np.testing.assert_allclose(state["push"], -g, rtol=1e-6)
    path = game_figure([(state, "start")], get_dataset("8gaussians", "val").x[:100], str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").stat().st_size > 0 and path.endswith("g.png")
