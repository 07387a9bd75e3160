"""The GAN variants beyond the contracts: conditional GAN, WGAN, CycleGAN, VAE-GAN."""
import numpy as np
import pytest

from autograd import Tensor, no_grad
from minigen.data import get_dataset
from minigen.models import TrainConfig, build_model
from minigen.models.adversarial._domains import dilate, domain_classifier, domain_split
from minigen.nn import Identity, Module
from minigen.optim import RMSprop

DIGITS = get_dataset("digits", "train")


def batches(n, size=32):
    for i in range(n):
        j = (i * size) % (len(DIGITS) - size)
        yield DIGITS.x[j:j + size], DIGITS.y[j:j + size]


# -- conditional GAN -----------------------------------------------------------------------------
def test_cgan_samples_follow_the_labels_asked_for():
    model = build_model("cgan", "digits-tiny", rng=0)
    labels = np.array([0, 3, 3, 9, 1])
    z = model.noise(5, np.random.default_rng(0), labels)
    assert z.shape == (5, 8 + 10)
    np.testing.assert_array_equal(z.data[:, 8:].argmax(axis=1), labels)              # e_y appended to z
    x = model.sample(5, np.random.default_rng(1), labels)
    assert x.shape == (5, 1, 8, 8) and x.dtype == np.uint8
    rows = model.class_rows(np.random.default_rng(0), per_class=3)
    assert [k for k, _ in rows] == [str(k) for k in range(10)] and rows[0][1].shape == (3, 1, 8, 8)
    model.eval()
    with no_grad():                                          # same z, other label: another image
        z0, z1 = model.noise(1, np.random.default_rng(2), [0]), model.noise(1, np.random.default_rng(2), [7])
        assert not np.allclose(model.generator(z0).data, model.generator(z1).data)
    images, codes = Tensor(np.zeros((2, 1, 8, 8), np.float32)), Tensor(model.one_hot([1, 2]))
    assert model.conditioned(images, codes).shape == (2, 11, 8, 8)
    with pytest.raises(ValueError, match="labels must be integers in 0..9"):
        model.sample(2, np.random.default_rng(0), labels=[0, 10])
    with pytest.raises(ValueError, match="labelled batches"):
        model.loss(DIGITS.x[:4])


class CopyingGenerator(Module):
    """A 'perfect' generator that ignores its label: real training digits, drawn at random."""

    def __init__(self, model):
        super().__init__()
        self.pool, self.rng = model.prepare(DIGITS.x).data, np.random.default_rng(0)

    def forward(self, z):
        return Tensor(self.pool[self.rng.integers(0, len(self.pool), len(z))])


def test_cgan_discriminator_learns_to_read_the_label():
    """Against a generator of real digits that ignores y', D can only win by reading the
    label: after training, real digits with their own labels look more real than with wrong ones."""
    model = build_model("cgan", "digits-tiny", rng=0)
    model.configure_optimizers(TrainConfig(lr=2e-3))
    model.generator = CopyingGenerator(model)
    model.n_critic = 10 ** 9                                 # only D learns
    for b in batches(40, 64):
        model.train_step(b)
    model.eval()
    x, y = get_dataset("digits", "val").arrays()
    with no_grad():
        real = model.prepare(x)
        right = model.discriminator(model.conditioned(real, Tensor(model.one_hot(y)))).data.mean()
        wrong = model.discriminator(model.conditioned(real, Tensor(model.one_hot((y + 5) % 10)))).data.mean()
    assert right > wrong + 0.5, (right, wrong)


# -- WGAN ----------------------------------------------------------------------------------------
def test_wgan_clipping_keeps_every_critic_weight_in_the_box():
    model = build_model("wgan", "digits-tiny", rng=0)
    assert max(np.abs(p.data).max() for p in model.discriminator.parameters()) <= 0.01      # from the start
    model.configure_optimizers(TrainConfig(lr=1e-2))                 # large steps, to push out of the box
    assert all(isinstance(o, RMSprop) for o in model.optimizers.values())
    before = [p.data.copy() for p in model.generator.parameters()]
    for b in batches(6):
        out = model.train_step(b)
        assert max(np.abs(p.data).max() for p in model.discriminator.parameters()) <= model.clip
    assert np.isclose(out["wasserstein"], -out["d_loss"])
    assert any(not np.array_equal(a, p.data) for a, p in zip(before, model.generator.parameters()))
    assert sum(np.sum(np.abs(p.data) == model.clip) for p in model.discriminator.parameters()) > 0
    with pytest.raises(ValueError, match="clip"):
        build_model("wgan", clip=0.0)


def test_wgan_critic_estimate_grows_when_only_the_critic_learns():
    """With G fixed, the critic's E f(x) - E f(G(z)) rises (it is a sup over the clipped critics)."""
    model = build_model("wgan", "digits-tiny", rng=0)
    model.configure_optimizers(TrainConfig(lr=5e-4))
    model.n_critic = 10 ** 9
    w = [model.train_step(b)["wasserstein"] for b in batches(30)]
    assert np.mean(w[-5:]) > np.mean(w[:5]) + 1e-3


# -- CycleGAN ------------------------------------------------------------------------------------
def test_cycle_loss_is_zero_for_identity_generators():
    model = build_model("cyclegan", "digits-tiny", rng=0)
    model.generator["G"], model.generator["F"] = Identity(), Identity()
    x, y = model.players_batch(DIGITS.x[:10])
    assert model.cycle_loss(x, y).item() == 0.0
    _, metrics, _ = model.generator_objective(x, y)
    assert metrics["cycle"] == 0.0 and metrics["identity"] == 0.0


def test_dilation_and_the_domains():
    x = np.zeros((1, 1, 3, 4), np.uint8)
    x[0, 0, 1, 1] = 5
    thick = dilate(x)
    np.testing.assert_array_equal(thick[0, 0, 1], [0, 5, 5, 0])                 # one pixel to the right
    assert thick.sum() == 10 and dilate(thick).sum() == 15
    xa, xb = domain_split(DIGITS.x[:10], None, "dilate")
    assert len(xa) == len(xb) == 5 and np.array_equal(xb, dilate(DIGITS.x[5:10]))     # unpaired halves
    xa, xb = domain_split(DIGITS.x, DIGITS.y, (7, 9))
    assert len(xa) == np.sum(DIGITS.y == 7) and len(xb) == np.sum(DIGITS.y == 9)
    with pytest.raises(ValueError, match="holds 0 of domain X"):
        domain_split(DIGITS.x[:5], np.full(5, 9), (7, 9))
    is_y = domain_classifier(DIGITS.x[:500] / 16, dilate(DIGITS.x[500:]) / 16)
    test = get_dataset("digits", "test").x / 16
    assert (~is_y(test)).mean() > 0.9 and is_y(dilate(test)).mean() > 0.9


def test_cyclegan_learns_the_cycle_and_reports(tmp_path):
    model = build_model("cyclegan", "digits-tiny", rng=0)
    model.configure_optimizers(TrainConfig(lr=3e-3))
    val = get_dataset("digits", "val").subset(np.arange(64))
    before = model.evaluate(val)["cycle"]
    for b in batches(15, 64):
        model.train_step(b)
    assert model.evaluate(val)["cycle"] < 0.8 * before
    model.eval()
    out = model.report(val, np.random.default_rng(0))
    assert {"to_Y", "to_X", "classifier_accuracy", "cycle_error", "translation_error"} <= set(out)
    assert model.translate(val.x[:3]).shape == (3, 1, 8, 8)
    assert model.figures(str(tmp_path), np.random.default_rng(0), val)[0].endswith("translations.png")
    with pytest.raises(NotImplementedError, match="translates"):
        model.sample(2, np.random.default_rng(0))


# -- VAE-GAN -------------------------------------------------------------------------------------
def test_vae_gan_reconstruction_error_lives_in_the_discriminators_features():
    model = build_model("vae-gan", "digits-tiny", rng=0, dtype=np.float64)
    x = model.prepare(DIGITS.x[:6])
    mu, log_var, x_rec, x_p = model.terms(x, np.random.default_rng(0), detach_fakes=True)
    enc, dec, m = model.vae_objectives(x, mu, log_var, x_rec, x_p)
    f = model.features
    want = 0.5 * ((f(x_rec).data - f(x).data) ** 2).reshape(6, -1).sum(axis=1).mean()
    assert f(x).shape == (6, 8, 4, 4) and np.isclose(m["llike"], want)
    assert np.isclose(enc.item(), m["kl"] + m["llike"]) and np.isclose(dec.item(), m["llike"] + m["g_gan"])
    _, _, same = model.vae_objectives(x, mu, log_var, x, x_p)          # x~ = x: no reconstruction error
    assert same["llike"] == 0.0


def test_vae_gan_trains_three_networks_and_reconstructs():
    model = build_model("vae-gan", "digits-tiny", rng=0)
    model.configure_optimizers(TrainConfig(lr=3e-3))
    assert set(model.optimizers) == {"encoder", "generator", "discriminator"}
    val = get_dataset("digits", "val").subset(np.arange(64))
    before = model.evaluate(val)
    names = ("encoder", "generator", "discriminator")
    nets = {k: [p.data.copy() for p in getattr(model, k).parameters()] for k in names}
    for b in batches(25, 64):
        model.train_step(b)
    for k, old in nets.items():
        assert any(not np.array_equal(a, p.data) for a, p in zip(old, getattr(model, k).parameters())), k
    after = model.evaluate(val)
    assert after["rec"] < 0.95 * before["rec"], (before, after)      # (llike is no yardstick: Dis moves)
    model.eval()
    assert model.reconstruct(val.x[:4]).shape == (4, 1, 8, 8)
