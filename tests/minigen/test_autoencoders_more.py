"""The autoencoders of issue 15 beyond the contract tests: VQ-VAE + PixelCNN prior, stacked
autoencoder, GSN, seq2seq autoencoder, and their uses (minigen/anomaly.py, minigen/inpaint.py)."""
import math

import numpy as np
import pytest

from autograd import Tensor, as_numpy, no_grad
from minigen import anomaly, inpaint
from minigen.data import BatchLoader, get_dataset
from minigen.models import TrainConfig
from minigen.models.latent.autoencoder import Autoencoder
from minigen.models.latent.gsn import GSN
from minigen.models.latent.seq2seq import Seq2SeqAutoencoder, sine_series
from minigen.models.latent.stacked import StackedAutoencoder, classifier_from_encoder, few_label_accuracy
from minigen.models.latent.vae import VAE
from minigen.models.latent.vqvae_prior import VQVAEPrior


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


def digits(split="train", n=None):
    d = get_dataset("digits", split)
    return (d.x, d.y) if n is None else (d.x[:n], d.y[:n])


def params(module):
    return {k: v.data.copy() for k, v in module.named_parameters()}


def tiny_vq_prior(vqvae_steps=3):
    return VQVAEPrior(num_embeddings=8, embedding_dim=4, hidden=8, prior_hidden=8, prior_blocks=1,
                      prior_head=8, prior_kernel=3, vqvae_steps=vqvae_steps, rng=0)


# -- VQ-VAE + PixelCNN prior -------------------------------------------------------------------------
def test_the_bound_is_the_reconstruction_term_plus_the_prior_nll_of_the_codes():
    """-ELBO = -log p(x | z_q(k(x))) - log p(k(x)): q(k|x) is one-hot, its KL is -log p(k(x))."""
    x = digits(n=16)[0]
    model = fit(tiny_vq_prior(), x, 4)
    model.eval()
    with no_grad():
        x_in, target = model.vqvae.data_view(x)
        k, z_q = model.vqvae.quantize(model.vqvae.encode(x_in))
        rec = as_numpy(model.vqvae.reconstruction_loss(model.vqvae.decoder(z_q), target).data)
        prior = -model.prior.log_prob(k[:, None])
    np.testing.assert_allclose(model.nelbo(x), rec + prior, rtol=1e-5)
    metrics = model.eval_step(x)
    assert metrics["nelbo"] == pytest.approx(metrics["rec"] + metrics["prior"], rel=1e-5)
    assert metrics["uniform_prior"] == pytest.approx(16 * math.log(8))


def test_stage_two_freezes_the_vqvae_and_trains_the_prior():
    x = digits(n=64)[0]
    model = fit(tiny_vq_prior(vqvae_steps=2), x, 2)                      # stage 1 done
    assert model.frozen
    vq, codebook, prior = params(model.vqvae), model.vqvae.codebook.data.copy(), params(model.prior)
    model.train_step(x)
    assert all(np.array_equal(vq[k], v.data) for k, v in model.vqvae.named_parameters())
    np.testing.assert_array_equal(codebook, model.vqvae.codebook.data)
    assert any(not np.array_equal(prior[k], v.data) for k, v in model.prior.named_parameters())


def test_prior_samples_are_decoded_code_grids():
    model = tiny_vq_prior()
    rng = np.random.default_rng(0)
    with no_grad():
        x = model.sample(3, rng)
        k = model.prior.sample(3, np.random.default_rng(1))
    assert x.shape == (3, 1, 8, 8) and x.min() >= 0 and x.max() <= 16
    assert k.shape == (3, 1, 4, 4) and k.max() < 8
    assert model.decode_codes(k[:, 0], rng, mean=True).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="vqvae_steps"):
        VQVAEPrior(vqvae_steps=-1)


# -- stacked autoencoder ------------------------------------------------------------------------------
def test_each_pretraining_stage_trains_only_its_own_layer_pair():
    model = StackedAutoencoder(hidden=(16, 8), code_dim=4, pretrain_steps=2, rng=0)
    model.configure_optimizers(TrainConfig(lr=1e-2))
    x = digits(n=32)[0]
    pairs = list(zip(model.encoder_layers(), model.decoder_layers()))
    for stage in (1, 2, 3):
        assert model.stage == stage
        before = [(e.weight.data.copy(), d.weight.data.copy()) for (e, _), (d, _) in pairs]
        model.train_step(x)
        changed = [not np.array_equal(b[0], e.weight.data) or not np.array_equal(b[1], d.weight.data)
                   for b, ((e, _), (d, _)) in zip(before, pairs)]
        assert changed == [s == stage for s in (1, 2, 3)], (stage, changed)
        model.train_step(x)
    assert model.stage == 4                                                # fine-tuning: everything trains
    before = params(model)
    model.train_step(x)
    assert all(not np.array_equal(before[k], v.data) for k, v in model.named_parameters()
               if k.endswith("weight"))


def test_the_few_label_classifier_starts_from_the_encoder_or_from_scratch():
    model = StackedAutoencoder(hidden=(16,), code_dim=4, pretrain_steps=0, rng=1)
    pre, fresh = classifier_from_encoder(model), classifier_from_encoder(model, pretrained=False)
    np.testing.assert_array_equal(pre.encoder.head.weight.data, model.encoder.head.weight.data)
    assert pre.encoder.head.weight is not model.encoder.head.weight                # a copy
    assert not np.array_equal(fresh.encoder.head.weight.data, model.encoder.head.weight.data)
    (x, y), (xt, yt) = digits(n=50), digits("test", n=100)
    acc = few_label_accuracy(model, x, y, xt, yt, steps=30, lr=1e-2)
    assert 0.3 < acc <= 1.0, acc                                           # far above 0.1 even untrained


# -- GSN ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 3])
def test_walkback_backpropagates_through_the_latent_chain(steps):
    """The recurrence V gets a gradient only when the chain has more than one step."""
    model = GSN(code_dim=8, walkback_steps=steps, rng=0)
    loss, _ = model.loss(digits(n=8)[0])
    loss.backward()
    grad = model.recurrent.weight.grad
    assert (grad is None or not np.any(grad.data)) if steps == 1 else np.abs(grad.data).sum() > 0


def test_gsn_chain_carries_its_state_and_stays_on_levels():
    model = GSN(code_dim=8, rng=0)
    states, means = model.chain(4, 5, np.random.default_rng(0))
    assert states.shape == (6, 4, 1, 8, 8) and means.shape == (5, 4, 1, 8, 8)
    levels = states * 16
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-5)
    a = model.chain(4, 3, np.random.default_rng(1))[0]
    np.testing.assert_array_equal(a, model.chain(4, 3, np.random.default_rng(1))[0])
    with pytest.raises(ValueError, match="walkback_steps"):
        GSN(walkback_steps=0)


# -- seq2seq -------------------------------------------------------------------------------------------
def test_teacher_forcing_feeds_only_earlier_true_frames():
    """Frame t's output depends on true frames < t when teacher-forced, on none when free running."""
    model = Seq2SeqAutoencoder(code_dim=4, hidden=8, rng=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    x_in = Tensor(rng.random((2, 1, 8, 8)))
    z = model.encode(x_in)
    teach = np.ones(8, bool)
    base = as_numpy(model.decode_frames(z, x_in, teach).data).reshape(2, 8, 8)
    bumped = x_in.data.copy()
    bumped[:, 0, 4] += 1.0                                                 # change frame 4 only
    out = as_numpy(model.decode_frames(z, Tensor(bumped), teach).data).reshape(2, 8, 8)
    changed = np.abs(out - base).max(axis=(0, 2)) > 0                      # per output frame
    np.testing.assert_array_equal(changed, np.arange(8) > 4)
    free = as_numpy(model.decode_frames(z, Tensor(bumped), np.zeros(8, bool)).data)
    np.testing.assert_allclose(free, as_numpy(model.decode(z).data))


def test_seq2seq_learns_a_1d_series():
    x = sine_series(64, frames=10, rng=0)
    model = Seq2SeqAutoencoder(data_shape=(1, 10, 1), num_levels=None, code_dim=4, hidden=16, rng=0)
    before = model.eval_step(x)["mse_teacher"]
    fit(model, x, 30, lr=1e-2, batch_size=32)
    assert model.eval_step(x)["mse_teacher"] < 0.5 * before
    with pytest.raises(ValueError, match=r"\(1, T, F\)"):
        Seq2SeqAutoencoder(data_shape=(8, 8))


# -- anomaly detection -----------------------------------------------------------------------------------
def test_held_out_class_auc_is_far_above_chance():
    (x, y), (xt, yt) = digits(), digits("test")
    xn, yn = anomaly.normal_split(x, y, 4)
    assert 4 not in yn and len(xn) == (y != 4).sum()
    model = fit(Autoencoder(code_dim=4, hidden=(32,), rng=0), xn, 60)
    auc, scores = anomaly.held_out_auc(model, xt, yt, 4, "reconstruction")
    assert auc > 0.75, auc
    most, least = anomaly.extremes(scores, xt, n=5)
    assert most.shape == (5, 1, 8, 8)
    assert scores[np.argsort(scores)[-1]] == anomaly.anomaly_scores(model, most[:1])[0]
    with pytest.raises(ValueError, match="removes every"):
        anomaly.normal_split(x, np.zeros_like(y), 0)
    with pytest.raises(ValueError, match="score="):
        anomaly.anomaly_scores(model, xt, "likelihood")


def test_a_bound_score_matches_the_models_own_bound():
    x = digits(n=12)[0]
    vae = VAE(latent_dim=2, hidden=(8,), rng=0)
    s = anomaly.anomaly_scores(vae, x, "bound", k=1, rng=np.random.default_rng(3))
    np.testing.assert_allclose(s, vae.bounds(x, 1, rng=np.random.default_rng(3))["nelbo"])
    model = tiny_vq_prior()
    np.testing.assert_allclose(anomaly.anomaly_scores(model, x, "bound"), model.nelbo(x))


# -- inpainting -------------------------------------------------------------------------------------------
def test_masks():
    seen = inpaint.lower_half(2, (1, 8, 8))
    assert seen[:, :, :4].all() and not seen[:, :, 4:].any()
    sq = inpaint.random_squares(5, (1, 8, 8), 3, np.random.default_rng(0))
    assert ((~sq).reshape(5, -1).sum(1) == 9).all()
    with pytest.raises(ValueError, match="size"):
        inpaint.random_squares(1, (1, 8, 8), 9, np.random.default_rng(0))
    x, filled = np.zeros((1, 1, 8, 8)), np.full((1, 1, 8, 8), 16)
    assert inpaint.hidden_error(x, filled, seen[:1], 17)[0] == pytest.approx(32.0)   # 32 hidden pixels


@pytest.mark.parametrize("how", ["dae", "gsn", "vae", "pixelcnn"])
def test_every_inpainting_keeps_the_observed_pixels(how):
    from minigen.models.autoregressive.pixelcnn import PixelCNN
    from minigen.models.latent.denoising import DenoisingAutoencoder
    x = digits("test", n=4)[0]
    rng = np.random.default_rng(0)
    for seen in (inpaint.lower_half(4, (1, 8, 8)), inpaint.random_squares(4, (1, 8, 8), 4, rng)):
        if how == "dae":
            out = inpaint.chain_inpaint(DenoisingAutoencoder(code_dim=8, rng=0), x, seen, 3, rng)
        elif how == "gsn":
            out = inpaint.chain_inpaint(GSN(code_dim=8, rng=0), x, seen, 3, rng, mean=True)
        elif how == "vae":
            out = inpaint.vae_inpaint(VAE(latent_dim=2, hidden=(8,), rng=0), x, seen, 3, rng)
        else:
            model = PixelCNN(hidden=4, num_blocks=0, head=4, first_kernel=3, rng=0)
            out = inpaint.pixelcnn_inpaint(model, x, seen, rng)
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 16
        np.testing.assert_array_equal(out[seen], x[seen])
