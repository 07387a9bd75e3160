"""The VAE (minigen/models/latent/vae.py): its KL and bounds are right, its decoders learn, its report.

The family contracts (learning, gradcheck, ELBO <= IWAE_k <= IWAE_2k, noise given as eps=)
run on it from the model table (tests/minigen/models).
"""
import math

import numpy as np
import pytest

from autograd import Tensor, gradcheck, no_grad
from minigen.data import BatchLoader, get_dataset
from minigen.models import TrainConfig, build_model, get_model
from minigen.models.latent.vae import VAE

UNIFORM_NATS = 64 * math.log(17)          # 181.33: every one of 17 levels equally likely


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", "train").x, get_dataset("digits", "val").x


def tiny(seed=0, **kw):
    """A small MLP VAE on the 8x8 digits: 64-32-(2x4) and 4-32-64x17."""
    return VAE(**{"latent_dim": 4, "hidden": (32,), "rng": seed, **kw})


def val_nelbo(model, x):
    return model.eval_step(x)["nelbo"]


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny VAE trained for 4 epochs (a couple of seconds), with its validation -ELBO before."""
    train, val = digits
    model = tiny()
    before = val_nelbo(model, val)
    model.configure_optimizers(TrainConfig(lr=3e-3), 64)
    loader = BatchLoader(train, batch_size=64, rng=np.random.default_rng(0))
    for _ in range(4):
        for xb in loader:
            model.train_step(xb)
    return model, before, val_nelbo(model, val)


def test_registered_with_a_reference_preset():
    assert get_model("vae") is VAE
    model = build_model("vae", "digits-reference", rng=0)
    sizes = [(64, 256), (256, 256), (256, 32), (16, 256), (256, 256), (256, 64 * 17)]
    assert model.num_parameters() == sum(a * b + b for a, b in sizes)
    assert model.likelihood.value == "categorical" and model.estimator.value == "B"
    train = VAE.presets["digits-reference"].train
    assert (train.batch_size, train.lr, train.epochs, train.seed) == (64, 1e-3, 200, 0)
    assert train.early_stopping == ("val/nelbo", 20) and VAE.default_preset == "digits-reference"


def test_tiny_config_learns(trained):
    """Validation -ELBO starts at the uniform model's 181.33 and falls far below it in seconds."""
    _, before, after = trained
    assert abs(before - UNIFORM_NATS) < 10.0          # at init p(x|z) is nearly uniform, KL nearly 0
    assert after < 135.0, after                       # far below uniform (181.33)
    assert after < before - 40.0


def test_zero_decoder_is_the_uniform_model(digits):
    """All-zero logits give every pixel probability 1/17: the reconstruction term is 64 log 17."""
    model = tiny()
    model.decoder.head.weight.data[...] = 0
    model.decoder.head.bias.data[...] = 0
    out = model.eval_step(digits[1][:50])
    assert out["rec"] == pytest.approx(UNIFORM_NATS, abs=1e-3)
    assert out["bpd"] == pytest.approx(out["nelbo"] / (64 * math.log(2)))


def test_analytic_kl_matches_monte_carlo():
    """Appendix B's closed form against E_q[log q(z|x) - log p(z)] with 200,000 samples."""
    rng = np.random.default_rng(0)
    mu = Tensor(rng.normal(0, 1, (3, 4)))
    log_var = Tensor(rng.normal(0, 0.7, (3, 4)))
    analytic = VAE.kl_divergence(mu, log_var).data                          # (3,)
    eps = Tensor(rng.standard_normal((200_000, 3, 4)))
    z = VAE.reparameterize(mu, log_var, eps)                                 # (S, 3, 4)
    terms = (VAE.log_q_z_given_x(z, mu, log_var) - VAE.log_p_z(z)).data     # (S, 3)
    stderr = terms.std(axis=0) / math.sqrt(len(terms))
    assert np.all(np.abs(terms.mean(axis=0) - analytic) < 4 * stderr + 1e-9), (terms.mean(0), analytic)


def test_estimator_a_and_b_agree_in_expectation(trained, digits):
    """Same noise for both: they differ only by the Monte Carlo estimate of the KL in A."""
    model, _, _ = trained
    x = digits[1][:40]
    with no_grad():
        a = model.elbo(x, "A", 300, np.random.default_rng(1)).data.mean()
        b = model.elbo(x, "B", 300, np.random.default_rng(1)).data.mean()
    assert abs(a - b) < 0.1, (a, b)


def test_iwae_k1_is_estimator_a_with_the_same_noise(trained, digits):
    model, _, _ = trained
    x = digits[1][:30]
    with no_grad():
        iwae1 = model.iwae_bound(x, 1, np.random.default_rng(5)).data
        elbo_a = model.elbo(x, "A", 1, np.random.default_rng(5)).data
    np.testing.assert_allclose(iwae1, elbo_a, rtol=1e-6, atol=1e-4)


def test_iwae_bound_is_at_least_the_elbo_and_grows_with_k(trained, digits):
    model, _, _ = trained
    x = digits[1][:60]
    elbo = -model.bounds(x, 300, np.random.default_rng(0))["nelbo"].mean()
    with no_grad():
        bounds = [model.iwae_bound(x, k, np.random.default_rng(k)).data.mean() for k in (1, 10, 200)]
    assert abs(bounds[0] - elbo) < 0.5                 # L_1 is the ELBO (a 1-sample estimate)
    assert elbo < bounds[1] < bounds[2]                # Theorem 1 of Burda et al.
    assert bounds[2] - elbo > 0.05


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("estimator", ["A", "B"])
def test_gradcheck_elbo_of_the_other_decoders_and_estimators(likelihood, estimator, digits):
    """Directional float64 gradcheck of the ELBO, fixed noise, on every parameter and on eps
    (the categorical decoder with estimator B is the model table's contract)."""
    model = tiny(latent_dim=3, hidden=(8,), likelihood=likelihood)
    x = digits[0][:5]
    eps = np.random.default_rng(3).standard_normal((2, 5, 3))

    def elbo(eps):
        return model.elbo(x, estimator, 2, np.random.default_rng(4), eps=eps)

    assert gradcheck(elbo, [eps], params=model, mode="directional", n_directions=3, atol=1e-6, rtol=1e-5)
    assert model.dtype == np.float32                  # the check restores the parameters


def test_gradcheck_conv_vae(digits):
    model = VAE(latent_dim=3, hidden=(4, 6), architecture="conv", rng=0)
    x = digits[0][:3]
    eps = np.random.default_rng(3).standard_normal((1, 3, 3))
    assert gradcheck(lambda e: model.elbo(x, "B", 1, eps=e), [eps], params=model,
                     mode="directional", atol=1e-6, rtol=1e-5)


def test_evaluation_uses_common_random_numbers(trained, digits):
    model, _, _ = trained
    x = digits[1][:64]
    assert model.eval_step(x) == model.eval_step(x)


def test_samples_and_pictures_have_the_data_shape(trained, digits):
    model, _, _ = trained
    rng = np.random.default_rng(0)
    s = model.sample(7, rng)
    assert s.shape == (7, 1, 8, 8) and s.min() >= 0 and s.max() <= 16 and s.dtype.kind == "i"
    means = model.sample(5, rng, mean=True)
    assert means.shape == (5, 1, 8, 8) and 0 <= means.min() and means.max() <= 1
    x = digits[1][:4]
    assert model.reconstruct(x).shape == (4, 1, 8, 8)
    assert model.interpolate(x[:2], x[2:], steps=6).shape == (2, 6, 1, 8, 8)
    assert model.posterior_mean(x).shape == (4, 4)
    for lik in ("bernoulli", "gaussian"):
        s = tiny(likelihood=lik).sample(3, rng)
        assert s.shape == (3, 1, 8, 8) and s.min() >= 0 and s.max() <= (1 if lik == "bernoulli" else 16)


def test_run_writes_pictures_and_the_test_report(tmp_path):
    """Through the run layer: early stopping on val/nelbo, then the report and the pictures of
    the kept parameters; ``eval`` reproduces the report."""
    import json
    import os

    from minigen.run import evaluate_run, train
    result = train("vae", "digits-tiny", out=str(tmp_path), epochs=1, lr=3e-3,
                   early_stopping=("val/nelbo", 5), progress=False)
    assert result.best["metric"] == "val/nelbo" and result.best["value"] < 160
    for name in ("samples.png", "reconstructions.png", "interpolation.png", "latent_scatter.png"):
        assert os.path.exists(tmp_path / name), name
    report = json.load(open(tmp_path / "test_metrics.json"))
    assert report["examples"] == 447 and report["k"] == 10
    assert report["nll_iwae"] <= report["nelbo"] < UNIFORM_NATS
    again, _, _ = evaluate_run(str(tmp_path))
    assert {k: again[k] for k in report if k != "split"} == {k: report[k] for k in report if k != "split"}
    tighter, _, _ = evaluate_run(str(tmp_path), k=40)
    assert tighter["k"] == 40 and tighter["nll_iwae"] < report["nll_iwae"] + 0.5


@pytest.mark.parametrize("likelihood, uniform", [("bernoulli", 64 * math.log(2)), ("gaussian", UNIFORM_NATS)])
def test_other_decoders_learn_below_their_uniform_model(likelihood, uniform, digits):
    """Bernoulli on binarised digits (uniform: 64 log 2 nats); Gaussian on dequantised digits,
    whose bound is in nats of the 17-level data once shifted by -64 log 17 (uniform: 181.33)."""
    train, val = digits
    model = tiny(likelihood=likelihood)
    before = val_nelbo(model, val)
    model.configure_optimizers(TrainConfig(lr=3e-3), 64)
    loader = BatchLoader(train, batch_size=64, rng=np.random.default_rng(0))
    for _ in range(4):
        for xb in loader:
            model.train_step(xb)
    after = val_nelbo(model, val)
    assert after < uniform - 5 and after < before - 0.1 * uniform, (before, after)
