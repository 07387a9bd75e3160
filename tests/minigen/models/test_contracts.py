"""The model contracts, parametrised over the model table (``model_table.py``).

Every registered model: it has a row; it builds from every preset; ``train_step``
returns finite floats; ``eval_step`` is deterministic; ``sample`` has the data's shape
and dtype and is reproducible; it learns on its tiny setting; its loss passes a float64
gradcheck; the NumPy reference kernels give the same figure. Then each family's own
contract on the rows that carry its tag.
"""
import itertools
import os

import numpy as np
import pytest

import kernels
from autograd import Tensor, backward, gradcheck, no_grad
from minigen.data import BatchLoader, get_dataset
from minigen.loop import metric_mode
from minigen.models import TrainConfig, build_model, get_model, list_models

from ..checks import as_fn, numerical_log_det
from .model_table import ROWS, row_ids

TAGGED = {tag: [r for r in ROWS if tag in r.tags]
          for tag in ("gradient", "sampler", "autoregressive", "flow", "exact", "bound")}


def make(row, dtype=None, **changes):
    kwargs = {**row.tiny, **changes}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return build_model(row.name, rng=0, **kwargs)


def batch(model, row, split="train", n=None, start=0):
    """``(x, y)`` of the digits split in the model's view."""
    x, y = get_dataset("digits", split, view=model.dataset_view).arrays()
    n = n or row.batch
    return x[start:start + n], y[start:start + n]


def floats(metrics):
    return all(isinstance(v, float) and np.isfinite(v) for v in metrics.values())


def test_every_registered_model_has_a_row():
    missing = sorted(set(list_models()) - {r.name for r in ROWS})
    assert not missing, f"registered models without a row in tests/minigen/models/model_table.py: {missing}"
    assert len({r.name for r in ROWS}) == len(ROWS), "a model has two rows"


@pytest.mark.parametrize("name,preset", [(n, p) for n in list_models() for p in get_model(n).presets])
def test_builds_from_every_preset(name, preset):
    model = build_model(name, preset, rng=0)
    assert model.config == {"model": name, "preset": preset,
                            "model_kwargs": dict(get_model(name).presets[preset].model)}
    assert isinstance(get_model(name).presets[preset].train, TrainConfig)


@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_train_step_returns_finite_floats(row):
    model = make(row)
    model.configure_optimizers(TrainConfig(lr=row.lr), 10)
    before = {k: v.data.copy() for k, v in model.named_parameters()}
    metrics = model.train_step(batch(model, row))
    assert metrics and floats(metrics), metrics
    if "gradient" in row.tags:
        assert "loss" in metrics
        assert any(not np.array_equal(before[k], v.data) for k, v in model.named_parameters()), \
            "train_step did not update any parameter"


@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_eval_step_is_deterministic_and_leaves_the_model_generator_alone(row):
    model = make(row)
    b = batch(model, row, "val")
    model.eval()
    with no_grad():
        first = model.eval_step(b)
        model.rng.random(7)                       # the model's own noise moves on ...
        second = model.eval_step(b)               # ... the evaluation's does not
    assert first and floats(first)
    assert first == second


@pytest.mark.parametrize("row", TAGGED["sampler"], ids=row_ids(TAGGED["sampler"]))
def test_sample_has_the_data_shape_and_is_reproducible(row):
    model = make(row)
    with no_grad():
        a = model.sample(3, np.random.default_rng(5))
        b = model.sample(3, np.random.default_rng(5))
    x = batch(model, row)[0]
    assert a.shape == (3,) + x.shape[1:]
    np.testing.assert_array_equal(a, b)
    if getattr(model, "num_levels", None):
        assert np.issubdtype(a.dtype, np.integer), a.dtype
        assert a.min() >= 0 and a.max() < model.num_levels


@pytest.mark.parametrize("row", TAGGED["sampler"], ids=row_ids(TAGGED["sampler"]))
def test_figures_write_pictures(row, tmp_path):
    """The end-of-run pictures, as the run layer asks for them (trained or not, they must draw)."""
    model = make(row)
    model.eval()
    test = get_dataset("digits", "test", view=model.dataset_view).subset(np.arange(40))
    with no_grad():
        paths = model.figures(str(tmp_path), np.random.default_rng(0), test)
    assert paths, "figures() wrote nothing"
    for path in paths:
        assert os.path.getsize(path) > 0, path


def test_a_classifier_says_it_cannot_sample():
    model = make(next(r for r in ROWS if r.name == "mlp"))
    with pytest.raises(NotImplementedError, match="not a generative model"):
        model.sample(2, np.random.default_rng(0))


@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_learns_on_its_tiny_setting(row):
    model = make(row)
    metric = model.best_metric[0].split("/", 1)[1]
    mode = metric_mode(model.best_metric[0], model)
    val = get_dataset("digits", "val", view=model.dataset_view).subset(np.arange(128))
    before = model.evaluate(val)[metric]
    model.configure_optimizers(TrainConfig(lr=row.lr), row.steps)
    x, y = get_dataset("digits", "train", view=model.dataset_view).arrays()
    loader = BatchLoader(x, y, batch_size=row.batch, rng=np.random.default_rng(0))
    model.train()
    for step, b in zip(range(row.steps), itertools.cycle(loader)):
        model.train_step(b)
        if model.ema is not None:                 # what the loop does after every step
            model.ema.update()
    after = model.evaluate(val)[metric]
    if mode == "min":
        assert after < before - 0.05 * abs(before), (metric, before, after)
    else:
        assert after > before + 0.2, (metric, before, after)


@pytest.mark.parametrize("row", TAGGED["gradient"], ids=row_ids(TAGGED["gradient"]))
def test_loss_passes_a_float64_gradcheck(row):
    model = make(row, dtype=np.float64)
    b = batch(model, row, n=3)
    state = model.rng.bit_generator.state

    def loss():                                   # the same noise at every evaluation
        model.rng.bit_generator.state = state
        return model.loss(b)[0]

    assert gradcheck(loss, [], params=model, mode="directional", n_directions=2)


@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_reference_kernels_give_the_same_figure(row, monkeypatch):
    model = make(row)
    b = batch(model, row, "val")
    model.eval()
    with no_grad():
        fused = model.eval_step(b)
        monkeypatch.setattr(kernels.config, "KERNELS", "reference")
        reference = model.eval_step(b)
    for k in fused:
        np.testing.assert_allclose(reference[k], fused[k], rtol=1e-5, atol=1e-5, err_msg=k)


# -- autoregressive: the Jacobian ------------------------------------------------------------
def jacobian_structure(model, n=4, seed=0):
    """(D, D) bool: output value i's logits depend on input value j, measured by backprop of
    a random upstream gradient on output i alone (all L logits), for n random inputs."""
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(model.data_shape)
    x = Tensor(rng.uniform(0, model.num_levels - 1, shape), requires_grad=True)
    logits = model.logits(x)                                        # (N, C, L, *spatial)
    D, L = model.D, model.num_levels
    flat = logits.transpose(0, 2, 1, *range(3, logits.ndim)).reshape(n, L, D)   # (N, L, D)
    J = np.zeros((D, D), bool)
    for i in range(D):
        gy = np.zeros(flat.shape)
        gy[:, :, i] = rng.standard_normal((n, L))
        x.grad = None
        backward(flat, Tensor(gy), retain_graph=True)
        J[i] = np.abs(x.grad.data).reshape(n, D).sum(axis=0) > 0
    return J


def check_jacobian(model):
    """No output depends on itself or a later value, and the network's dependences are
    exactly ``dependency_mask()`` (so every input the model says feeds an output does)."""
    J = jacobian_structure(model)
    rank = model.order()
    later = rank[None, :] >= rank[:, None]                          # input j at or after output i
    assert not (J & later).any(), f"outputs depend on themselves or later inputs: {np.argwhere(J & later)[:5]}"
    stated = model.dependency_mask()
    assert not (stated & later).any(), "dependency_mask() states a non-causal dependence"
    np.testing.assert_array_equal(J, stated, err_msg="the network's dependences differ from dependency_mask()")


@pytest.mark.parametrize("row", TAGGED["autoregressive"], ids=row_ids(TAGGED["autoregressive"]))
def test_jacobian_matches_the_dependency_mask(row):
    check_jacobian(make(row, dtype=np.float64))


# -- flows: round trip and log-det -------------------------------------------------------------
@pytest.mark.parametrize("row", TAGGED["flow"], ids=row_ids(TAGGED["flow"]))
def test_flow_round_trip_and_numerical_log_det(row):
    rng = np.random.default_rng(0)
    model = build_model(row.name, rng=0, **row.flow, dtype=np.float64)
    shape = (3,) + tuple(model.data_shape)
    for p in model.parameters():                                   # not the identity at init
        p.data = p.data + 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal(shape)
    with no_grad():
        z, log_det = model.flow(Tensor(x))
        np.testing.assert_allclose(model.flow.inverse(z).data, x, atol=1e-5)
    numerical = numerical_log_det(as_fn(model.flow, shape[1:]), x.reshape(len(x), -1))
    np.testing.assert_allclose(log_det.data, numerical, atol=1e-6)


# -- exact likelihoods: enumeration -------------------------------------------------------------
@pytest.mark.parametrize("row", TAGGED["exact"], ids=row_ids(TAGGED["exact"]))
def test_probabilities_sum_to_one_by_enumeration(row):
    rng = np.random.default_rng(0)
    model = build_model(row.name, rng=0, **row.exact)
    if "gradient" in row.tags:
        model = build_model(row.name, rng=0, **row.exact, dtype=np.float64)
    else:                                                           # fit it to something
        model.train_step(rng.integers(0, model.num_levels, (20,) + tuple(model.data_shape)))
    values = np.array(list(itertools.product(range(model.num_levels), repeat=model.D)))
    x = values.reshape((-1,) + tuple(model.data_shape))
    total = np.exp(model.log_prob(x)).sum()
    assert abs(total - 1) < 1e-9, total


# -- bounds -----------------------------------------------------------------------------------
@pytest.mark.parametrize("row", TAGGED["bound"], ids=row_ids(TAGGED["bound"]))
def test_elbo_below_iwae_k_below_iwae_2k(row):
    model = make(row, dtype=np.float64)
    x = get_dataset("digits", "test").x
    with no_grad():
        elbo = model.elbo(x, estimator="A", rng=np.random.default_rng(1)).data.mean()
        k4 = model.iwae_bound(x, 4, rng=np.random.default_rng(2)).data.mean()
        k8 = model.iwae_bound(x, 8, rng=np.random.default_rng(3)).data.mean()
    assert elbo < k4 < k8, (elbo, k4, k8)


@pytest.mark.parametrize("row", TAGGED["bound"], ids=row_ids(TAGGED["bound"]))
def test_bounds_with_given_noise_do_not_depend_on_any_generator(row):
    model = make(row, dtype=np.float64)
    x = batch(model, row, n=5)[0]
    eps = np.random.default_rng(0).standard_normal((3, len(x), model.latent_dim))
    with no_grad():
        a = model.iwae_bound(x, 3, rng=np.random.default_rng(1), eps=eps).data
        b = model.iwae_bound(x, 3, rng=np.random.default_rng(2), eps=eps).data
        e1 = model.elbo(x, rng=np.random.default_rng(1), eps=eps[:1]).data
        e2 = model.elbo(x, rng=np.random.default_rng(2), eps=eps[:1]).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(e1, e2)
