"""VQ-VAE (minigen/models/latent/vqvae.py): the straight-through estimator, quantisation, the codebook's
two updates, and a float64 gradcheck of what has a true gradient (the decoder)."""
import math

import numpy as np
import pytest

from autograd import Tensor, gradcheck, no_grad
from minigen.data import get_dataset
from minigen.models.latent.vqvae import VQVAE, perplexity, straight_through


def digits(n=6):
    return get_dataset("digits", "train").x[:n]


def test_straight_through_is_z_q_forward_and_the_identity_onto_z_e_backward():
    """A finite-difference check would see a zero derivative here: the estimator is a choice."""
    rng = np.random.default_rng(0)
    z_e = Tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    z_q = Tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    out = straight_through(z_e, z_q)
    np.testing.assert_allclose(out.data, z_q.data, atol=1e-15)             # z_e + (z_q - z_e): rounding only
    gy = rng.standard_normal(out.shape)
    (out * Tensor(gy)).sum().backward()
    np.testing.assert_array_equal(z_e.grad.data, gy)                         # identity onto z_e
    assert z_q.grad is None or not np.any(z_q.grad.data)                    # nothing reaches z_q


def test_quantize_picks_the_nearest_codebook_vector():
    model = VQVAE(num_embeddings=8, embedding_dim=4, hidden=8, rng=0, dtype=np.float64)
    model.codebook.data = np.random.default_rng(1).standard_normal((8, 4))
    z_e = Tensor(np.random.default_rng(2).standard_normal((3, 4, 4, 4)))
    k, z_q = model.quantize(z_e)
    vectors = z_e.data.transpose(0, 2, 3, 1)                                 # (N, h, w, Dz)
    brute = np.linalg.norm(vectors[..., None, :] - model.codebook.data, axis=-1).argmin(-1)
    np.testing.assert_array_equal(k, brute)
    np.testing.assert_array_equal(z_q.data.transpose(0, 2, 3, 1), model.codebook.data[k])


@pytest.mark.parametrize("update", ["loss", "ema"])
def test_decoder_gradient_passes_a_float64_gradcheck(update):
    model = VQVAE(num_embeddings=8, embedding_dim=4, hidden=8, codebook_update=update, rng=0, dtype=np.float64)
    model.init_codebook(digits(20))
    x = digits(3)
    rng = np.random.default_rng(0)                                         # no EMA step: objective, not loss
    assert gradcheck(lambda: model.objective(x, rng)[0], [], params=model.decoder, mode="directional",
                     n_directions=3)


def test_the_codebook_learns_from_its_own_term_only():
    """d/de_i of ||sg[z_e] - e_k||^2 averaged over N is 2 sum_{j: k_j = i} (e_i - z_e,j) / N."""
    model = VQVAE(num_embeddings=8, embedding_dim=4, hidden=8, codebook_update="loss", rng=0, dtype=np.float64)
    model.init_codebook(digits(20))
    x = digits(5)
    loss, _ = model.loss(x)
    loss.backward()
    with no_grad():
        z_e = model.encode(model.data_view(x)[0]).data
    k, _ = model.quantize(Tensor(z_e))
    z = z_e.transpose(0, 2, 3, 1).reshape(-1, 4)
    e = model.codebook.data
    expected = np.zeros_like(e)
    np.add.at(expected, k.reshape(-1), 2 * (e[k.reshape(-1)] - z) / len(x))
    np.testing.assert_allclose(model.codebook.grad.data, expected, atol=1e-12)
    assert any(np.any(p.grad.data) for p in model.encoder.parameters())    # straight through to f


def test_ema_codebook_is_the_running_mean_of_its_vectors():
    model = VQVAE(num_embeddings=4, embedding_dim=2, hidden=8, decay=0.5, rng=0, dtype=np.float64)
    model.codebook.data = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [50.0, 50.0]])
    model.ema_sum.data, model.ema_count.data = model.codebook.data.copy(), np.ones(4)
    z_e = np.zeros((1, 2, 2, 2))                                             # four vectors (N, Dz, h, w)
    z_e[0, :, 0, 0], z_e[0, :, 0, 1], z_e[0, :, 1, 0], z_e[0, :, 1, 1] = [1, 1], [3, -1], [9, 1], [1, 9]
    model.update_codebook(Tensor(z_e))
    counts = 0.5 * 1 + 0.5 * np.array([2, 1, 1, 0])                         # N_i
    sums = 0.5 * np.array([[0, 0], [10, 0], [0, 10], [50, 50]]) + 0.5 * np.array([[4, 0], [9, 1], [1, 9], [0, 0]])
    smoothed = (counts + 1e-5) / (counts.sum() + 4e-5) * counts.sum()
    np.testing.assert_allclose(model.codebook.data, sums / smoothed[:, None], rtol=1e-9)


def test_perplexity_bound_and_codebook_initialisation():
    assert perplexity(np.arange(16) % 8, 8) == pytest.approx(8.0)
    assert perplexity(np.zeros(10, int), 8) == pytest.approx(1.0)
    model = VQVAE(num_embeddings=8, embedding_dim=4, hidden=8, rng=0)
    x = digits(10)
    model.init_codebook(x)
    with no_grad():
        z = model.encode(model.data_view(x)[0]).data.transpose(0, 2, 3, 1).reshape(-1, 4)
    assert all(np.any(np.all(np.isclose(z, e), axis=1)) for e in model.codebook.data)
    model.eval()
    with no_grad():
        m = model.eval_step(x)
    assert m["nelbo"] == pytest.approx(m["rec"] + 16 * math.log(8))         # uniform prior: KL = M log K
    assert 1.0 <= m["perplexity"] <= 8.0
    assert model.codes(x).shape == (10, 4, 4)


def test_figures(tmp_path):
    model = VQVAE(num_embeddings=8, embedding_dim=4, hidden=8, rng=0)
    model.init_codebook(digits(20))
    paths = model.figures(str(tmp_path), np.random.default_rng(0), get_dataset("digits", "test").subset(slice(0, 40)))
    assert {p.rsplit("/", 1)[-1] for p in paths} >= {"samples.png", "reconstructions.png", "interpolation.png",
                                                      "latent_scatter.png", "codes.png"}
