"""The RBM's special structure: free energy and conditionals by enumeration, exact log Z two
ways, AIS within 3 standard errors of the exact log Z, the CD gradient, and PCD's state."""
import itertools

import numpy as np

from autograd import Tensor
from minigen.models import TrainConfig, build_model
from minigen.models.energy import boltzmann as bm


def tiny_rbm(V=5, H=4, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((V, H)), rng.standard_normal(V), rng.standard_normal(H)


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def test_free_energy_and_conditionals_by_enumeration():
    W, b, c = tiny_rbm()
    V, H = states(5), states(4)
    E = -(V @ b)[:, None] - (H @ c)[None, :] - V @ W @ H.T                     # (2^V, 2^H) joint energies
    F = -np.log(np.exp(-E).sum(axis=1))                                        # -log sum_h exp(-E)
    np.testing.assert_allclose(bm.free_energy(V, W, b, c), F, atol=1e-12)
    p_joint = np.exp(-E) / np.exp(-E).sum(axis=1, keepdims=True)              # p(h | v)
    np.testing.assert_allclose(p_joint @ H, bm.sigmoid(c + V @ W), atol=1e-12)   # p(h_j = 1 | v)
    p_v_given_h = np.exp(-E) / np.exp(-E).sum(axis=0, keepdims=True)          # p(v | h)
    np.testing.assert_allclose(p_v_given_h.T @ V, bm.sigmoid(b + H @ W.T), atol=1e-12)
    log_Z = np.log(np.exp(-E).sum())
    assert abs(bm.exact_log_z(W, b, c) - log_Z) < 1e-10
    assert abs(bm.exact_log_z(W.T, c, b) - log_Z) < 1e-10                     # summing out the other side


def test_model_energy_is_the_free_energy_and_log_prob_normalises():
    model = build_model("rbm", rng=0, data_shape=(1, 2, 3), num_hidden=4, init_std=0.7, dtype=np.float64)
    model.b.data = np.random.default_rng(1).standard_normal(6)
    x = states(6).reshape(-1, 1, 2, 3)
    np.testing.assert_allclose(model.energy(Tensor(x)).data, bm.free_energy(states(6), *model.arrays()), atol=1e-12)
    assert abs(np.exp(model.log_prob(x)).sum() - 1.0) < 1e-12


def test_ais_agrees_with_exact_log_z_within_three_standard_errors():
    W, b, c = tiny_rbm(V=64, H=12, scale=0.3, seed=2)
    exact = bm.exact_log_z(W, b, c)
    base = bm.logit(np.clip(bm.sigmoid(b), 0.05, 0.95))
    log_z, se, log_w = bm.ais_log_z(W, b, c, base, 1000, 200, np.random.default_rng(0))
    assert len(log_w) == 200 and 0 < se < 0.5
    assert abs(log_z - exact) < 3 * se, (log_z, exact, se)


def test_ais_betas_span_zero_to_one_and_increase():
    betas = bm.ais_betas(1000)
    assert betas[0] == 0.0 and betas[-1] == 1.0 and len(betas) == 1001
    assert np.all(np.diff(betas) > 0)
    assert (betas >= 0.9).sum() > (betas < 0.5).sum()                        # densest where p_k changes fastest


def test_the_surrogate_gradient_is_the_cd_update():
    """d/dW [mean F(data) - mean F(neg)] = -<v sigmoid(c + vW)>_data + <v sigmoid(c + vW)>_neg."""
    model = build_model("rbm", rng=0, num_hidden=7, persistent=False, dtype=np.float64)
    x = (np.random.default_rng(0).random((10, 1, 8, 8)) < 0.4).astype(np.float64)
    state = model.rng.bit_generator.state
    loss, _ = model.loss(x)
    loss.backward()
    model.rng.bit_generator.state = state
    neg = model.negative_samples(x, model.rng)
    W, b, c = model.arrays()
    stat = lambda v: v.T @ bm.sigmoid(c + v @ W) / len(v)                    # noqa: E731
    v = x.reshape(10, 64)
    np.testing.assert_allclose(model.W.grad.data, -stat(v) + stat(neg), atol=1e-12)
    np.testing.assert_allclose(model.b.grad.data, -v.mean(0) + neg.mean(0), atol=1e-12)


def test_pcd_chains_momentum_and_base_rates_live_in_the_state():
    model = build_model("rbm", rng=0, num_hidden=8, num_chains=5, momentum_switch=2)
    model.configure_optimizers(TrainConfig(lr=0.1))
    x = (np.random.default_rng(0).random((6, 1, 8, 8)) < 0.4).astype(np.float32)
    before = model.chains.data.copy()
    momenta = []
    for _ in range(3):
        model.train_step(x)
        momenta.append(model.optimizers["main"].param_groups[0]["momentum"])
    assert momenta == [0.5, 0.5, 0.9]
    state = model.state_dict()
    assert {"chains", "data_sum", "data_count", "steps"} <= set(state)
    assert not np.array_equal(before, state["chains"]) and int(state["steps"]) == 3
    np.testing.assert_allclose(state["data_sum"], 3 * x.reshape(6, 64).sum(0))
    assert model.optimizers["main"].param_groups[1]["weight_decay"] == 0.0   # no weight cost on biases


def test_bernoulli_baseline_by_hand():
    train = np.array([[1, 0], [1, 1], [0, 0]])
    test = np.array([[1, 0]])
    p = np.array([3 / 5, 2 / 5])                                               # (count + 1) / (3 + 2)
    nll, fitted = bm.bernoulli_baseline(train, test)
    np.testing.assert_allclose(fitted, p)
    assert abs(nll + np.log(p[0]) + np.log(1 - p[1])) < 1e-12
