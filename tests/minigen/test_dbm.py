"""The DBM: log Z of the bipartite view against brute-force enumeration, the mean-field
bound above the exact NLL, the fixed point, and the three training phases."""
import itertools

import numpy as np

from minigen.models import TrainConfig, build_model


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def tiny_dbm():
    model = build_model("dbm", rng=0, data_shape=(1, 2, 2), hidden=(3, 2), init_std=0.8, mf_steps=50,
                        dtype=np.float64)
    rng = np.random.default_rng(1)
    for p in (model.b, model.c1, model.c2):
        p.data = rng.standard_normal(p.shape)
    return model


def brute_force(model):
    """log p(v) for every v by summing exp(-E) over all (v, h1, h2)."""
    V, H1, H2 = states(4), states(3), states(2)
    E = np.array([[[model.joint_energy(v[None], h1[None], h2[None]).data[0] for h2 in H2] for h1 in H1]
                  for v in V])                                                 # (16, 8, 4)
    log_pv = np.log(np.exp(-E).sum(axis=(1, 2)))
    log_Z = np.log(np.exp(-E).sum())
    return log_pv - log_Z, log_Z


def test_log_z_of_the_bipartite_view_is_exact():
    model = tiny_dbm()
    _, log_Z = brute_force(model)
    assert abs(model.log_z()[0] - log_Z) < 1e-10


def test_mean_field_bound_is_above_the_exact_nll():
    model = tiny_dbm()
    log_p, _ = brute_force(model)
    x = states(4).reshape(-1, 1, 2, 2)
    bound = model.energy(x).data + model.log_z()[0]                          # F_q(v) + log Z >= -log p(v)
    assert np.all(bound >= -log_p - 1e-10)
    assert np.mean(bound + log_p) < 1.0                                       # and not vacuous


def test_mean_field_is_a_fixed_point():
    model = tiny_dbm()
    v = states(4)
    mu1, mu2 = model.mean_field(v)
    W1, W2, b, c1, c2 = model.arrays()
    sig = lambda a: 1 / (1 + np.exp(-a))                                     # noqa: E731
    np.testing.assert_allclose(mu1, sig(c1 + v @ W1 + mu2 @ W2.T), atol=1e-8)
    np.testing.assert_allclose(mu2, sig(c2 + mu1 @ W2), atol=1e-8)


def test_pretraining_then_joint_phases_and_chains_in_the_state():
    model = build_model("dbm", rng=0, hidden=(8, 4), pretrain_steps=2, num_chains=5)
    model.configure_optimizers(TrainConfig(lr=1e-2))
    x = (np.random.default_rng(0).random((6, 1, 8, 8)) < 0.4).astype(np.float32)
    chains = model.chain_v.data.copy()
    phases = []
    for _ in range(6):
        W1, W2 = model.W1.data.copy(), model.W2.data.copy()
        phases.append(model.train_step(x)["phase"])
        if phases[-1] == 0:
            np.testing.assert_array_equal(W2, model.W2.data)                  # the top RBM waits
        if phases[-1] == 1:
            np.testing.assert_array_equal(W1, model.W1.data)                  # the bottom one is done
    assert phases == [0, 0, 1, 1, 2, 2]
    assert not np.array_equal(chains, model.state_dict()["chain_v"]) and int(model.state_dict()["steps"]) == 6


def test_rates_of_the_three_phases():
    model = build_model("dbm", rng=0, hidden=(8, 4), pretrain_steps=10, momentum_switch=3, joint_lr=0.01)
    model.configure_optimizers(TrainConfig(lr=0.1), total_steps=40)
    seen = {}
    for step in (0, 3, 10, 13, 20, 22, 30, 39):
        model.set_rates(step)
        group = model.optimizers["main"].param_groups[0]
        seen[step] = (round(group["lr"], 6), group["momentum"])
    assert seen == {0: (0.1, 0.5), 3: (0.1, 0.9), 10: (0.1, 0.5), 13: (0.1, 0.9),     # pretraining, twice
                    20: (0.01, 0.5), 22: (0.009, 0.5), 30: (0.005, 0.9), 39: (0.0005, 0.9)}   # joint, decayed


def test_pretraining_doubles_the_visible_units():
    """Phase 0 trains an RBM whose visible units come twice: with every parameter 0 the two
    copies of a reconstruction are independent fair coins, s = v_a + v_b has mean 1, so the
    gradient of the visible biases is mean(s) - 2 mean(v) = 1 for an all-zero batch (counting
    a pixel once when both copies are on, as a boolean sum does, would give 0.75)."""
    model = build_model("dbm", rng=0, hidden=(8, 4), pretrain_steps=5, dtype=np.float64)
    for p in model.parameters():
        p.data = np.zeros_like(p.data)
    loss, metrics = model.loss(np.zeros((4000, 1, 8, 8)))
    loss.backward()
    assert metrics["phase"] == 0 and abs(model.b.grad.mean() - 1.0) < 0.01
