"""Planar / radial, NICE, MAF / IAF and Glow (issue 12): the checks specific to each.

The family contracts (round trip to 1e-5 in float64, log-det against a numerical
log|det J|, gradcheck, learning on digits) run on every one of them from the model
table (tests/minigen/models); the layers are gradchecked from tests/minigen/test_nn.py.
"""
import math

import numpy as np
import pytest

from autograd import Tensor, gradcheck, no_grad
from minigen.data import BatchLoader, get_dataset
from minigen.models import TrainConfig, build_model
from minigen.models.flows.maf import MAF
from minigen.models.flows.nice import NICE
from minigen.models.flows.planar import fit_reverse_kl, planar_stack, reverse_kl, ring_energy
from minigen.nn import ActNorm, InvertibleConv1x1, MaskedAutoregressiveAffine, Planar
from minigen.nn.flows_glow import log_abs_det, lu_decompose

from .checks import as_fn, numerical_log_det

LOG_2PI = math.log(2 * math.pi)


# -- Glow's 1x1 convolution ---------------------------------------------------------------------
def test_lu_decomposition_and_differentiable_log_abs_det(rng):
    A = rng.standard_normal((5, 5))
    P, L, U = lu_decompose(A)
    np.testing.assert_allclose(P @ L @ U, A, atol=1e-12)
    assert np.allclose(np.triu(L, 1), 0) and np.allclose(np.diag(L), 1) and np.allclose(np.tril(U, -1), 0)
    W = Tensor(A, requires_grad=True)
    value = log_abs_det(W)
    np.testing.assert_allclose(value.data, np.linalg.slogdet(A)[1], rtol=1e-12)
    value.backward()
    np.testing.assert_allclose(W.grad.data, np.linalg.inv(A).T, atol=1e-10)   # d log|det W| / dW = W^-T
    assert gradcheck(log_abs_det, [A])


def test_lu_1x1_conv_log_det_equals_the_plain_one(rng):
    """Move the LU parameters away from their start; a plain 1x1 conv holding the same W has the
    same output and the same log-det, one by O(C) sum log|s|, the other by LU elimination."""
    lu = InvertibleConv1x1(6, lu=True, rng=rng, dtype=np.float64)
    for p in lu.parameters():
        p.data = p.data + 0.3 * rng.standard_normal(p.shape)
    plain = InvertibleConv1x1(6, lu=False, rng=rng, dtype=np.float64)
    plain.weight.data = lu.matrix().data.copy()
    x = Tensor(rng.standard_normal((2, 6, 3, 3)))
    (z_lu, ld_lu), (z_plain, ld_plain) = lu(x), plain(x)
    np.testing.assert_allclose(z_lu.data, z_plain.data, atol=1e-12)
    np.testing.assert_allclose(ld_lu.data, ld_plain.data, atol=1e-10)
    np.testing.assert_allclose(ld_lu.data, 9 * np.linalg.slogdet(lu.matrix().data)[1], atol=1e-10)


# -- MAF and IAF -------------------------------------------------------------------------------------
def test_maf_density_is_the_product_of_its_conditionals_computed_naively(rng):
    """A one-layer MAF on 5 values: log p(x) = sum_d log N(x_d; mu_d, exp(alpha_d)^2), where value d's
    mu_d, alpha_d are read off a MADE pass that sees x_<d and *noise* everywhere else."""
    model = MAF(data_shape=(5,), num_levels=None, layers=1, hidden=(16, 16), rng=0, dtype=np.float64)
    layer = model.flow.steps[0]
    x = rng.standard_normal((4, 5))
    naive = np.zeros(4)
    with no_grad():
        for d in range(5):
            v = rng.standard_normal((4, 5)) * 10                   # junk at and after position d
            v[:, :d] = x[:, :d]                                    # natural order: position = index
            mu, alpha = (t.data[:, d] for t in layer.conditioners(Tensor(v)))
            naive += -0.5 * ((x[:, d] - mu) / np.exp(alpha)) ** 2 - alpha - 0.5 * LOG_2PI
    np.testing.assert_allclose(model.log_prob(x), naive, rtol=1e-10)


def _count_passes(layer):
    calls = []
    inner = layer.conditioners
    layer.conditioners = lambda v: calls.append(1) or inner(v)
    return calls


@pytest.mark.parametrize("inverted", [False, True], ids=["maf", "iaf"])
def test_maf_and_iaf_passes_and_the_swapped_sides(inverted, rng):
    """MAF: density 1 pass, sampling D; IAF: the reverse. Both invert to 1e-12, and IAF scores its
    own sample in the same one pass that drew it (``inverse_and_log_det``)."""
    D = 6
    layer = MaskedAutoregressiveAffine(D, (24,), rng.permutation(D) + 1, inverted=inverted, rng=rng,
                                       dtype=np.float64)
    calls = _count_passes(layer)
    x = rng.standard_normal((3, D))
    with no_grad():
        z, log_det = layer(Tensor(x))
        density_passes = len(calls)
        x_back = layer.inverse(z)
        sampling_passes = len(calls) - density_passes
        x2, log_det2 = layer.inverse_and_log_det(z)
    assert (density_passes, sampling_passes) == ((D, 1) if inverted else (1, D))
    np.testing.assert_allclose(x_back.data, x, atol=1e-12)
    np.testing.assert_allclose(x2.data, x, atol=1e-12)
    np.testing.assert_allclose(log_det2.data, log_det.data, atol=1e-12)
    np.testing.assert_allclose(log_det.data, numerical_log_det(as_fn(layer, (D,)), x), atol=1e-6)


def test_maf_reference_architecture():
    model = build_model("maf", "digits-reference", rng=0)
    layers = model.flow.steps.children()
    assert len(layers) == 5 and model.flow_latent_shape() == (64,)
    assert [tuple(m.weight.shape) for m in layers[0].layers] == [(256, 64), (256, 256), (128, 256)]
    assert [int(l.order[0]) for l in layers] == [1, 64, 1, 64, 1]                 # reversed in between
    # value at position 1 depends on nothing: its mu and alpha rows are masked off entirely
    out_mask = layers[1].layers[2].mask.data                                       # (128, 256)
    assert out_mask[63].sum() == 0 and out_mask[127].sum() == 0                   # value 64 is first


# -- planar and radial ---------------------------------------------------------------------------
def test_planar_invertibility_constraint(rng):
    """u_hat = u + (m(w^T u) - w^T u) w / ||w||^2 has w^T u_hat = m(w^T u) = -1 + softplus(w^T u) > -1,
    even for u pointing against w, where the unconstrained map would fold; it still inverts."""
    f = Planar(3, rng=rng, dtype=np.float64)
    for wu in (-30.0, -1.5, 0.0, 2.0):
        f.w.data = rng.standard_normal(3)
        f.u.data = wu * f.w.data / (f.w.data @ f.w.data) + 0.3 * rng.standard_normal(3)
        u_hat, m = f.constrained()
        w_u = f.w.data @ f.u.data
        np.testing.assert_allclose(f.w.data @ u_hat.data, np.logaddexp(0, w_u) - 1, rtol=1e-10, atol=1e-12)
        assert f.w.data @ u_hat.data > -1
        x = 2 * rng.standard_normal((5, 3))
        z, log_det = f(Tensor(x))
        assert np.all(np.isfinite(log_det.data))
        np.testing.assert_allclose(f.inverse(z).data, x, atol=1e-9)
        np.testing.assert_allclose(log_det.data, numerical_log_det(as_fn(f, (3,)), x), atol=1e-6)


def test_radial_flow_inverts_and_log_det(rng):
    model = build_model("planar", "moons-radial", rng=0, flows=3, dtype=np.float64)
    for p in model.parameters():
        p.data = p.data + 0.5 * rng.standard_normal(p.shape)
    x = rng.standard_normal((4, 2))
    with no_grad():
        z, log_det = model.flow(Tensor(x))
        np.testing.assert_allclose(model.flow.inverse(z).data, x, atol=1e-10)
    np.testing.assert_allclose(log_det.data, numerical_log_det(as_fn(model.flow, (2,)), x), atol=1e-6)


def test_radial_posterior_fits_the_ring_by_reverse_kl():
    """Reverse KL to [1]'s U_1 (a two-mode ring; log Z by quadrature): from several nats to under
    1 nat with 8 radial layers, and the samples sit on the ring."""
    g = np.linspace(-6, 6, 601)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    log_Z = np.log(np.exp(-ring_energy(Tensor(grid)).data).sum() * (g[1] - g[0]) ** 2)
    flow = planar_stack(2, 8, "radial", np.random.default_rng(0))
    losses = fit_reverse_kl(flow, ring_energy, 2, steps=120, batch=64, lr=3e-2)
    with no_grad():
        loss, x = reverse_kl(flow, ring_energy, np.random.default_rng(1).standard_normal((2000, 2)).astype(np.float32))
    kl_start, kl_end = losses[0] + log_Z, float(loss.item()) + log_Z
    assert kl_start > 3 and kl_end < 1.0, (kl_start, kl_end)
    r = np.sqrt((x.data ** 2).sum(axis=1))
    assert abs(np.median(r) - 2) < 0.3


# -- ActNorm, NICE, Glow ---------------------------------------------------------------------------
def test_actnorm_data_dependent_init_on_vectors_and_in_glow(rng):
    x = 5.0 - 3.0 * rng.standard_normal((64, 4))
    z, _ = ActNorm(4).double()(Tensor(x))                             # (N, C): planar / 2-D Glow's use
    np.testing.assert_allclose(z.data.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z.data.std(axis=0), 1, atol=1e-5)
    glow = build_model("glow", "digits-tiny", rng=0, dtype=np.float64)
    x = get_dataset("digits", "train").x[:64]
    block = glow.flow.blocks[0].steps                                  # squeeze, actnorm, ...
    with no_grad():
        h, _ = glow.logit(glow.dequantize(x, np.random.default_rng(0)))
        h, _ = block[0](h)
        a, _ = block[1](h)                                             # the first batch: initialises
    np.testing.assert_allclose(a.data.mean(axis=(0, 2, 3)), 0, atol=1e-8)
    np.testing.assert_allclose(a.data.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_nice_logistic_prior_and_volume_preserving_couplings(rng):
    model = NICE(data_shape=(6,), num_levels=None, hidden=8, rng=0, dtype=np.float64)
    toy = NICE(data_shape=(2,), num_levels=None, hidden=4, rng=0, dtype=np.float64)
    t = np.linspace(-40, 40, 200001)[:, None]
    log_p = toy.log_prior(Tensor(np.hstack([t, np.zeros_like(t)]))).data      # log p_L(t) + log p_L(0)
    p = np.exp(log_p + math.log(4))                                          # p_L(0) = 1/4
    assert abs(p.sum() * (t[1, 0] - t[0, 0]) - 1) < 1e-6                      # integrates to 1
    x = rng.standard_normal((3, 6))
    for coupling in model.flow.steps.children()[:-1]:
        with no_grad():
            z, log_det = coupling(Tensor(x))
        assert np.all(log_det.data == 0)
        np.testing.assert_allclose(numerical_log_det(as_fn(coupling, (6,)), x), 0, atol=1e-7)
        np.testing.assert_array_equal(z.data[:, coupling.kept], x[:, coupling.kept])
    s = model.sample_prior(20000, np.random.default_rng(0))
    assert abs(s.std() - math.pi / math.sqrt(3)) < 0.03                # the logistic's std


def test_glow_reference_architecture_starts_with_identity_couplings():
    model = build_model("glow", "digits-reference", rng=0)
    kinds = [[type(f).__name__ for f in block.steps] for block in model.flow.blocks]
    step = ["ActNorm", "InvertibleConv1x1", "AffineCoupling"]
    assert kinds == [["Squeeze"] + step * 4] * 2
    assert model.flow.out_shapes == [(2, 4, 4), (8, 2, 2)] and model.flow_latent_shape() == (64,)
    coupling = model.flow.blocks[1].steps[3]
    assert [tuple(c.weight.shape) for c in coupling.net.layers] == [(64, 8, 3, 3), (64, 64, 1, 1), (16, 64, 3, 3)]
    assert all(np.all(c.net.layers[2].weight.data == 0) for b in model.flow.blocks for c in b.steps
               if type(c).__name__ == "AffineCoupling")
    assert all(f.lu for b in model.flow.blocks for f in b.steps if type(f).__name__ == "InvertibleConv1x1")


def test_glow_temperature_zero_is_the_mode_path():
    """At T = 0 every sample is the same image (z = 0): the temperature really scales the prior."""
    model = build_model("glow", "digits-tiny", rng=0).eval()
    s = model.sample(3, np.random.default_rng(0), temperature=0.0)
    assert np.all(s == s[0]) and s.shape == (3, 1, 8, 8)


# -- every flow learns the two moons -------------------------------------------------------------
@pytest.mark.parametrize("name,kw,lr", [("nice", dict(couplings=4, hidden=32), 1e-2),
                                        ("maf", dict(layers=3, hidden=(32,)), 1e-2),
                                        ("iaf", dict(layers=3, hidden=(32,)), 1e-2),
                                        ("glow", dict(steps=3, hidden=32), 1e-2),
                                        ("planar", dict(flows=8), 3e-2)])
def test_each_flow_learns_moons_better_than_a_gaussian(name, kw, lr):
    train, val = get_dataset("moons", "train", n=1024), get_dataset("moons", "val", n=512)
    mu, cov = train.x.mean(0), np.cov(train.x.T)
    d = val.x - mu
    gauss = (0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d).mean()
             + 0.5 * np.log(np.linalg.det(2 * np.pi * cov)))
    model = build_model(name, "moons", rng=0, **kw)
    model.configure_optimizers(TrainConfig(lr=lr), 100)
    model.train()
    loader = BatchLoader(train.x, batch_size=128, rng=np.random.default_rng(0))
    for _, xb in zip(range(80), (b for _ in range(10) for b in loader)):      # 80 steps
        model.train_step(xb)
    nll = model.eval().eval_step(val.x)["nll"]
    assert nll < gauss - 0.1, (name, nll, gauss)
