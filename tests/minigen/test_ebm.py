"""The EBM: the loss is the formula of Du & Mordatch with this step's negatives, the replay
buffer is state (so a resumed run continues exactly), SGLD moves downhill and stays in range."""
import numpy as np

from autograd import no_grad
from minigen.models import TrainConfig, build_model


def tiny(**kw):
    return build_model("ebm", rng=0, hidden=4, sgld_steps=3, buffer_size=16, **kw)


def test_loss_is_the_contrast_plus_alpha_energy_squared():
    model = tiny(alpha=0.5)
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    loss, m = model.loss(x)
    neg, _ = model.negatives_for(x)
    with no_grad():
        ep, en = model.energy(x).data, model.energy(neg).data
    expected = ep.mean() - en.mean() + 0.5 * ((ep ** 2).mean() + (en ** 2).mean())
    assert abs(loss.item() - expected) < 1e-5 and abs(m["energy_gap"] - (ep.mean() - en.mean())) < 1e-6
    assert model.loss(x)[0].item() == loss.item()                             # the same negatives all step


def test_replay_buffer_is_state_and_resume_is_exact():
    x = np.random.default_rng(0).random((6, 1, 8, 8)).astype(np.float32)
    a = tiny()
    a.configure_optimizers(TrainConfig(lr=1e-3))
    before = a.replay.data.copy()
    a.train_step(x)
    assert not np.array_equal(before, a.state_dict()["replay"])
    b = tiny()
    b.configure_optimizers(TrainConfig(lr=1e-3))
    b.load_state_dict(a.state_dict())
    b.load_optimizer_state(a.optimizer_state())
    b.rng.bit_generator.state = a.rng.bit_generator.state
    ma, mb = a.train_step(x), b.train_step(x)
    assert ma == mb
    np.testing.assert_array_equal(a.replay.data, b.replay.data)


def test_sgld_without_noise_descends_the_energy_and_stays_in_range():
    model = build_model("ebm", "8gaussians", rng=0, noise=0.0, step_size=0.5)
    rng = np.random.default_rng(0)
    x0 = model.uniform(256, rng)
    with no_grad():
        e0 = model.energy(x0).data.mean()
    x = model.sgld(x0, 50, rng)
    with no_grad():
        e1 = model.energy(x).data.mean()
    assert e1 < e0 and x.min() >= -4 and x.max() <= 4


def test_a_tiny_toy_ebm_learns_the_ring():
    """100 Langevin-trained steps on the 8 Gaussians: the NLL by quadrature drops well below
    the uniform density on [-4, 4]^2 (log 64 = 4.16 nats; the truth is 2.84)."""
    from minigen.data import BatchLoader, get_dataset
    train, test = (get_dataset("8gaussians", s) for s in ("train", "test"))
    model = build_model("ebm", "8gaussians", rng=0, hidden=32, sgld_steps=10, buffer_size=1000)
    model.configure_optimizers(TrainConfig(lr=1e-2))
    before = model.report(test.subset(slice(0, 500)), np.random.default_rng(0))["nll"]
    rng = np.random.default_rng(0)
    batches = (x for _ in range(2) for x in BatchLoader(train.x, batch_size=128, shuffle=True, rng=rng))
    for _, x in zip(range(100), batches):
        model.train_step(x)
    after = model.report(test.subset(slice(0, 500)), np.random.default_rng(0))["nll"]
    assert abs(before - np.log(64)) < 0.3 and after < np.log(64) - 0.5, (before, after)


def test_samples_from_the_buffer_continue_distinct_entries():
    model = tiny(sample_from="buffer", noise=0.0, step_size=1e-9, sample_steps=2)
    x = model.sample(16, np.random.default_rng(0))
    idx = np.random.default_rng(0).permutation(16)
    np.testing.assert_allclose(x, model.replay.data[idx], atol=1e-6)
    assert model.sample(40, np.random.default_rng(0)).shape == (40, 1, 8, 8)           # with replacement
