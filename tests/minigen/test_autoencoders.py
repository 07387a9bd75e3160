"""Autoencoders (minigen/models/latent/autoencoder.py, sparse.py, denoising.py) and PCA (minigen/pca.py):
what the contract tests do not cover."""
import numpy as np
import pytest

from autograd import Tensor, no_grad
from minigen.data import BatchLoader, get_dataset
from minigen.metrics import roc_auc
from minigen.models import TrainConfig
from minigen.models.latent.autoencoder import Autoencoder
from minigen.models.latent.denoising import DenoisingAutoencoder
from minigen.models.latent.sparse import SparseAutoencoder
from minigen.pca import pca, pca_reconstruct, principal_angles


def fit(model, x, steps, lr=3e-3, batch_size=64, seed=0):
    model.configure_optimizers(TrainConfig(lr=lr))
    loader = BatchLoader(x, batch_size=batch_size, rng=np.random.default_rng(seed))
    step = 0
    while step < steps:
        for b in loader:
            model.train_step(b)
            step += 1
            if step == steps:
                break
    return model


# -- PCA and the linear autoencoder ---------------------------------------------------------------
def low_rank_data(n=400, d=10, k=3, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * np.array([3.0, 2.0, 1.0])
    return z @ rng.standard_normal((k, d)) + noise * rng.standard_normal((n, d)) + 1.0


def test_pca_is_the_best_rank_k_reconstruction_and_angles_measure_subspaces():
    x = low_rank_data()
    mean, V, var = pca(x, 3)
    np.testing.assert_allclose(V @ V.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(var, np.sort(np.linalg.eigvalsh(np.cov(x.T, bias=True)))[::-1][:3], rtol=1e-10)
    u, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)             # Eckart-Young
    np.testing.assert_allclose(pca_reconstruct(x, mean, V), x.mean(0) + (u[:, :3] * s[:3]) @ vt[:3], atol=1e-10)
    B = V.T @ np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])  # same span, another basis
    np.testing.assert_allclose(principal_angles(V.T, B), 0.0, atol=1e-5)
    np.testing.assert_allclose(principal_angles(np.eye(4)[:, :2], np.eye(4)[:, 2:]), 90.0)


def test_a_linear_autoencoder_spans_the_principal_subspace():
    """Baldi & Hornik (1989): the decoder's columns span the first k principal directions."""
    x = low_rank_data()
    model = Autoencoder(data_shape=(10,), num_levels=None, code_dim=3, hidden=(), activation="linear",
                        rng=0, dtype=np.float64)
    model.configure_optimizers(TrainConfig(lr=1e-2))
    for _ in range(1000):                                                    # full batch
        model.train_step(x)
    _, V, _ = pca(x, 3)
    angles = principal_angles(model.decoder.head.weight.data, V.T)          # (D, k) against (D, k)
    assert angles.max() < 1.0, angles


# -- the vanilla autoencoder: losses and the code Gaussian ----------------------------------------------
def test_reconstruction_losses_are_the_stated_formulas():
    x = get_dataset("digits", "train").x[:5]
    unit = x.reshape(5, 64) / 16.0
    for kind in ("mse", "bce", "categorical"):
        model = Autoencoder(code_dim=3, hidden=(8,), reconstruction=kind, rng=0, dtype=np.float64)
        x_in, target = model.data_view(x)
        with no_grad():
            out = model.decode(model.encode(x_in)).data                      # (N, D, K)
            loss = model.reconstruction_loss(Tensor(out), target).data
        if kind == "mse":
            expected = ((out[..., 0] - unit) ** 2).sum(1)
        elif kind == "bce":
            r = 1 / (1 + np.exp(-out[..., 0]))
            expected = -(unit * np.log(r) + (1 - unit) * np.log(1 - r)).sum(1)
        else:
            log_p = out - np.log(np.exp(out).sum(-1, keepdims=True))
            expected = -np.take_along_axis(log_p, x.reshape(5, 64, 1).astype(int), -1).sum((1, 2))
        np.testing.assert_allclose(loss, expected, rtol=1e-10, err_msg=kind)


def test_the_code_gaussian_is_fitted_to_the_training_codes_and_sampled():
    x = get_dataset("digits", "train").x
    model = fit(Autoencoder(code_dim=3, hidden=(16,), rng=0), x, 20)
    assert int(model.code_count.data) == 20                                  # a running average while training
    m, S = model.fit_code_gaussian(x)
    h = model.posterior_mean(x).astype(np.float64)
    np.testing.assert_allclose(m, h.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(S, np.cov(h.T, bias=True), rtol=1e-3, atol=1e-5)
    assert {"code_mean", "code_moment", "code_count"} <= set(model.state_dict())
    z = model.sample_codes(20000, np.random.default_rng(0))
    np.testing.assert_allclose(np.cov(z.T), S, atol=0.05 * np.abs(S).max())


def test_anomaly_auc_of_a_held_out_digit_is_far_above_chance():
    """Trained on every digit but 4, the reconstruction error tells test 4s from the rest."""
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    model = fit(Autoencoder(code_dim=4, hidden=(64,), rng=0), train.x[train.y != 4], 150)
    auc = roc_auc(model.reconstruction_error(test.x), test.y == 4)
    assert auc > 0.85, auc


# -- sparse ------------------------------------------------------------------------------------------
def test_sparsity_penalty_is_beta_times_the_bernoulli_kl():
    model = SparseAutoencoder(code_dim=4, sparsity=0.1, beta=2.0, rng=0, dtype=np.float64)
    h = np.random.default_rng(0).uniform(0.01, 0.9, (6, 4))
    rho_hat = h.mean(0)
    kl = 0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat))
    np.testing.assert_allclose(model.penalty(Tensor(h)).data, 2.0 * kl.sum(), rtol=1e-12)
    assert abs(model.penalty(Tensor(np.full((3, 4), 0.1))).data) < 1e-12    # rho_hat = rho
    assert model.filters().shape == (4, 1, 8, 8)
    np.testing.assert_allclose(np.linalg.norm(model.filters().reshape(4, -1), axis=1), 1.0)


def test_sparse_training_lowers_the_mean_activation_towards_rho():
    x = get_dataset("digits", "train").x
    model = SparseAutoencoder(code_dim=32, sparsity=0.05, beta=3.0, rng=0)
    before = model.posterior_mean(x).mean()
    fit(model, x, 60, lr=1e-2)
    after = model.posterior_mean(x).mean()
    assert after < 0.5 * before and abs(after - 0.05) < abs(before - 0.05), (before, after)


# -- denoising: corruption, walkback pairs, the chain ------------------------------------------------
def test_corruptions_and_walkback_pairs():
    x = get_dataset("digits", "train").x[:200]
    rng = np.random.default_rng(0)
    model = DenoisingAutoencoder(code_dim=8, noise=0.5, walkback=0.5, max_walkback=4, rng=0)
    x_in = model.data_view(x)[0]
    masked = model.corrupt(x_in.data, rng)
    kept = masked == x_in.data
    assert np.all(masked[~kept] == 0) and abs((masked[x_in.data > 0] == 0).mean() - 0.5) < 0.05
    inputs, index = model.training_pairs(x_in, np.random.default_rng(1))
    counts = np.bincount(index, minlength=len(x))                            # pairs per example
    assert counts.min() >= 1 and counts.max() <= 4
    assert abs(counts.mean() - (1 + 0.5 + 0.25 + 0.125)) < 0.15             # E[min(Geometric, 4)]
    np.testing.assert_array_equal(index[:len(x)], np.arange(len(x)))        # first: each example once
    one, index1 = model.training_pairs(x_in, np.random.default_rng(1), train=False)
    assert one.shape == x_in.shape and np.array_equal(index1, np.arange(len(x)))
    gauss = DenoisingAutoencoder(code_dim=8, corruption="gaussian", noise=0.2, rng=0)
    noise = gauss.corrupt(np.zeros((4000, 1, 8, 8), np.float32), rng)
    assert abs(noise.std() - 0.2) < 0.005


def test_chain_shapes_and_levels():
    model = DenoisingAutoencoder(code_dim=8, rng=0)
    states, means = model.chain(3, 4, np.random.default_rng(0))
    assert states.shape == (5, 3, 1, 8, 8) and means.shape == (4, 3, 1, 8, 8)
    np.testing.assert_allclose(states * 16, np.rint(states * 16), atol=1e-5)  # categorical draws: levels
    assert model.sample(2, np.random.default_rng(0)).dtype == np.int64


def test_walkback_moves_the_chains_statistics_towards_the_data_on_a_2d_toy():
    """Bengio et al. (2013) §3: walkback removes spurious attractors far from the data. On the Swiss
    roll, chains started uniformly on [-6, 6]^2 end closer to the data, with closer spread, with it."""
    x = get_dataset("swissroll", "train", n=2000).x.astype(np.float32)
    stats = {}
    for p in (0.0, 0.7):
        model = DenoisingAutoencoder(data_shape=(2,), num_levels=None, code_dim=32, hidden=(32,),
                                     activation="relu", code_activation="relu", reconstruction="mse",
                                     corruption="gaussian", noise=0.1, walkback=p, max_walkback=10, rng=0)
        fit(model, x, 300, batch_size=128)
        rng = np.random.default_rng(1)
        states, _ = model.chain(500, 30, rng, x0=rng.uniform(-6, 6, (500, 2)))
        s = states[-1]
        distance = np.sqrt(((s[:, None] - x[None, :500]) ** 2).sum(-1).min(1)).mean()   # to the data
        stats[p] = distance, np.abs(s.std(0) - x.std(0)).sum()
    assert stats[0.7][0] < 0.8 * stats[0.0][0], stats
    assert stats[0.7][1] < stats[0.0][1], stats


@pytest.mark.parametrize("kwargs", [dict(corruption="salt"), dict(noise=1.0), dict(corruption="gaussian", noise=0),
                                    dict(walkback=1.0), dict(max_walkback=0)])
def test_denoising_arguments_are_checked(kwargs):
    with pytest.raises(ValueError):
        DenoisingAutoencoder(rng=0, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(reconstruction="l1"), dict(reconstruction="categorical", num_levels=None),
                                    dict(code_dim=0), dict(activation="swish"), dict(architecture="rnn"),
                                    dict(architecture="conv", hidden=(8,))])
def test_autoencoder_arguments_are_checked(kwargs):
    with pytest.raises(ValueError):
        Autoencoder(rng=0, **kwargs)
