"""RealNVP (minigen/models/flows/realnvp.py): its architecture and variants, the discrete
likelihood bookkeeping, learning on digits and moons.

The family contracts (x -> z -> x and the log-det against a numerical log|det J|,
gradcheck, learning) run on it from the model table (tests/minigen/models); here the
architecture variants (factor-out, actnorm, MLP conditioner) get the same checks with
the logit in front. The bijections themselves are tested in test_nn_flows.py.
"""
import math

import numpy as np
import pytest

from autograd import Tensor, gradcheck, no_grad
from minigen.data import BatchLoader, get_dataset
from minigen.models import TrainConfig, build_model, get_model
from minigen.models.flows.realnvp import RealNVP

from .checks import numerical_log_det

UNIFORM_NATS = 64 * math.log(17)       # 181.33: the uniform model of 8x8 digits


def small_flow_model(**kw):
    args = dict(data_shape=(1, 4, 4), num_levels=17, num_scales=2, couplings=2, final_couplings=2,
                hidden=8, rng=0)
    args.update(kw)
    return RealNVP(**args).double().eval()


def test_reference_architecture():
    """3 checkerboard couplings at 1x8x8, squeeze, 3 channel couplings and 3 checkerboard
    couplings at 4x4x4, masks alternating, conv nets in -> 64 -> 64 -> 2 in."""
    model = build_model("realnvp", "digits-reference", rng=0)
    steps = [f for scale in model.flow.scales for f in scale.steps]
    kinds = [type(f).__name__ for f in steps]
    assert kinds == ["AffineCoupling"] * 3 + ["Squeeze"] + ["AffineCoupling"] * 6
    masks = [f.b.data.squeeze() for f in steps if kinds[steps.index(f)] == "AffineCoupling"]
    assert [m.shape for m in masks] == [(8, 8)] * 3 + [(4,)] * 3 + [(4, 4)] * 3
    for a, b in zip(masks, masks[1:]):
        if a.shape == b.shape:
            assert np.all(a + b == 1)                          # alternating: complementary
    assert masks[3].tolist() == [1, 1, 0, 0]                   # first two channels kept
    widths = [[layer.weight.shape[:2] for layer in f.net.layers] for f in steps if hasattr(f, "net")]
    assert widths[0] == [(64, 1), (64, 64), (2, 64)] and widths[-1] == [(64, 4), (64, 64), (8, 64)]
    assert model.num_parameters() == 379_665
    assert model.flow.latent_shape() == (4, 4, 4)


# -- the whole flow ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"factor_out": True}, {"norm": "actnorm"},
                                {"conditioner": "mlp", "couplings": 4}],
                         ids=["reference-shape", "factor-out", "actnorm", "mlp"])
def test_realnvp_inverts_and_log_det_matches_numerical_jacobian(kw, rng):
    model = small_flow_model(**kw)
    model.train()
    with no_grad():
        model.log_p_cont(Tensor(rng.random((8, 1, 4, 4))))  # ActNorm's data-dependent init
    model.eval()
    for p in model.parameters():                           # move away from the initial point
        p.data = p.data + 0.1 * rng.standard_normal(p.shape)
    x = rng.random((3, 1, 4, 4))                           # dequantised pixels in [0, 1)

    def logit_then_flow(v):
        with no_grad():
            y, _ = model.logit(Tensor(v.reshape(1, 1, 4, 4)))
            y = y.reshape(1, -1) if model.flat else y
            z, _ = model.flow(y)
        return z.data.reshape(-1)

    with no_grad():
        y, log_det_logit = model.logit(Tensor(x))
        y = y.reshape(3, -1) if model.flat else y
        z, log_det_flow = model.flow(y)
        x_back = model.logit.inverse(model.flow.inverse(z)).data.reshape(x.shape)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    num = numerical_log_det(logit_then_flow, x.reshape(3, -1))
    np.testing.assert_allclose(log_det_flow.data + log_det_logit.data, num, atol=1e-5)
    # and log p_cont is exactly prior + both log-dets
    log_pz = -0.5 * (z.data.reshape(3, -1) ** 2).sum(1) - 8 * math.log(2 * math.pi)
    with no_grad():
        np.testing.assert_allclose(model.log_p_cont(Tensor(x)).data,
                                   log_pz + log_det_flow.data + log_det_logit.data, rtol=1e-10)


def test_realnvp_gradients_match_finite_differences(rng):
    """Backward through couplings, actnorm, squeeze, logit and prior, on inputs and every parameter."""
    model = small_flow_model(norm="actnorm")
    x = rng.random((2, 1, 4, 4))
    assert gradcheck(lambda v: model.log_p_cont(v), [x], params=model, mode="directional")


def test_float64_model_and_given_dequantisation_noise(rng):
    """A float64 RealNVP evaluates its likelihood, and with the noise u given the NLL does not
    depend on any generator: the figure reproduces to the last digit."""
    model = RealNVP(hidden=8, rng=0, dtype=np.float64).eval()
    x = rng.integers(0, 17, size=(3, 1, 8, 8)).astype(np.uint8)
    u = rng.random((2,) + x.shape)
    with no_grad():
        a = model.nll(x, np.random.default_rng(1), u=u).data
        b = model.nll(x, np.random.default_rng(2), u=u).data
        ref = -(model.log_p_cont(Tensor((x + u[0]) / 17)) + model.log_p_cont(Tensor((x + u[1]) / 17))).data / 2
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, ref + UNIFORM_NATS, rtol=1e-12)


def test_discrete_nll_bookkeeping(rng):
    """NLL = -log p_cont((x + u) / 17) + 64 log 17, with the same u."""
    model = RealNVP(hidden=8, rng=0).eval()
    x = rng.integers(0, 17, size=(4, 1, 8, 8)).astype(np.uint8)
    with no_grad():
        nll = model.nll(x, np.random.default_rng(5)).data
        xq = (x + np.random.default_rng(5).random(x.shape, dtype=np.float32)) / np.float32(17)
        ref = -model.log_p_cont(Tensor(xq)).data + UNIFORM_NATS
    np.testing.assert_allclose(nll, ref, rtol=1e-6)
    metrics = model.eval_step(x)
    assert metrics == model.eval_step(x)                   # common random numbers
    assert metrics["bpd"] == pytest.approx(metrics["nll"] / (64 * math.log(2)))


def test_samples_are_discrete_images_of_the_data_shape():
    model = RealNVP(hidden=8, rng=0).eval()
    s = model.sample(5, np.random.default_rng(0))
    assert s.shape == (5, 1, 8, 8) and s.dtype == np.uint8 and s.max() <= 16


# -- learning -------------------------------------------------------------------------------

def _train(model, x, epochs, batch_size, lr):
    model.configure_optimizers(TrainConfig(lr=lr), 100)
    loader = BatchLoader(x, batch_size=batch_size, rng=np.random.default_rng(0))
    model.train()
    for _ in range(epochs):
        for xb in loader:
            model.train_step(xb)
    return model.eval()


def test_tiny_realnvp_learns_digits():
    train, val = get_dataset("digits", "train"), get_dataset("digits", "val")
    model = build_model("realnvp", "digits-tiny", rng=0)
    before = model.eval().eval_step(val.x)["nll"]
    settings = get_model("realnvp").presets["digits-tiny"].train
    _train(model, train.x, epochs=settings.epochs, batch_size=64, lr=settings.lr)
    after = model.eval_step(val.x)["nll"]
    assert after < 0.75 * UNIFORM_NATS, (before, after)     # far below uniform (181.33)
    assert after < before - 20, (before, after)             # and well below its start


def test_realnvp_learns_moons_better_than_a_gaussian():
    train, val = get_dataset("moons", "train", n=4000), get_dataset("moons", "val", n=1000)
    mu, cov = train.x.mean(0), np.cov(train.x.T)
    d = val.x - mu
    gauss = (0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d).mean()
             + 0.5 * np.log(np.linalg.det(2 * np.pi * cov)))
    model = build_model("realnvp", "moons", rng=0)
    _train(model, train.x, epochs=4, batch_size=128, lr=3e-3)
    nll = model.eval_step(val.x)["nll"]
    assert nll < gauss - 0.3, (nll, gauss)
