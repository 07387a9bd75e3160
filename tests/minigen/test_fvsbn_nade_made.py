"""FVSBN, NADE and MADE (minigen/models/autoregressive/{fvsbn,nade,made}.py): what the family
contracts do not cover.

The contracts (tests/minigen/models) already check, on each model's row, the Jacobian
against ``dependency_mask()``, normalisation by enumeration, the float64 gradcheck and
learning. Here: MADE's masks for any ordering (built so that an off-by-one in m(k) or
in eqs. (12)-(13) fails), order-agnostic training and the ensemble; NADE's O(HD)
forward against the per-pixel one; FVSBN's strictly lower-triangular weights; the
masked layer's structural mask.
"""
import itertools

import numpy as np
import pytest

from autograd import Tensor
from minigen import nn
from minigen.models import TrainConfig, build_model
from minigen.models.autoregressive.made import MADE, connectivity, made_masks
from minigen.models.autoregressive.nade import NADE

from .models.test_contracts import check_jacobian, jacobian_structure


def strictly_earlier(m0):
    """(D, D) bool: input d' comes before output d in the ordering m0 (1-based positions)."""
    return m0[None, :] < m0[:, None]


def reach(m):
    """Which inputs reach each output through the masks of numbers m (paths of live connections)."""
    hidden, out = made_masks(m)
    r = out.astype(np.int64)
    for M in reversed(hidden):
        r = (r @ M > 0).astype(np.int64)
    return r.astype(bool)


# -- MADE: the masks ------------------------------------------------------------------------
def test_made_masks_by_hand():
    """D = 3 in the ordering x3, x1, x2 (m0 = 2, 3, 1) and two hidden units m1 = 1, 2:
    eq. (12) M^W[k, d] = [m1(k) >= m0(d)], eq. (13) M^V[d, k] = [m0(d) > m1(k)]."""
    (MW,), MV = made_masks([np.array([2, 3, 1]), np.array([1, 2])])
    np.testing.assert_array_equal(MW, [[0, 0, 1],       # unit m=1 sees x3 (position 1) only
                                       [1, 0, 1]])      # unit m=2 sees x3 and x1
    np.testing.assert_array_equal(MV, [[1, 0],         # x1 (position 2) sees the m=1 unit
                                       [1, 1],         # x2 (position 3) sees both
                                       [0, 0]])        # x3 (first) sees nothing


@pytest.mark.parametrize("seed", range(6))
def test_made_masks_for_any_ordering(seed):
    """With hidden numbers covering every value 1..D-1, each output is reached by exactly the
    inputs before it (an off-by-one in >= / > or in m(k) either leaks x_d into its own output
    or cuts the previous value off); with random numbers, never by a later one."""
    D, rng = 7, np.random.default_rng(seed)
    m0 = [np.arange(1, D + 1), np.arange(D, 0, -1)][seed] if seed < 2 else rng.permutation(D) + 1
    covering = np.tile(np.arange(1, D), 2)
    np.testing.assert_array_equal(reach([m0, covering, covering[::-1]]), strictly_earlier(m0))
    for _ in range(5):
        m = connectivity(m0, (9, 5, 9), rng)
        assert all(1 <= mk.min() and mk.max() <= D - 1 for mk in m[1:])
        assert not (reach(m) & ~strictly_earlier(m0)).any()


@pytest.mark.parametrize("ordering", ["natural", "random"])
def test_made_network_depends_exactly_on_earlier_inputs_for_every_mask(ordering):
    """The network itself, for each of K orderings: covering hidden numbers and all weights
    and biases positive (every ReLU active, no cancellation), so the Jacobian shows every
    path: it must be exactly 'inputs earlier in this ordering'."""
    model = MADE((1, 2, 3), num_levels=3, hidden=(10, 10), num_masks=4, ordering=ordering, rng=1,
                 dtype=np.float64)
    covering = np.tile(np.arange(1, 6), 2)
    model.m1 = np.tile(covering, (4, 1))
    model.m2 = np.tile(covering[::-1], (4, 1))
    for p in model.parameters():
        p.data = np.abs(p.data) + 0.01
    orders = set()
    for k in range(4):
        model.use_mask(k)
        m0 = model.numbers()[0]
        np.testing.assert_array_equal(model.order(), m0 - 1)
        np.testing.assert_array_equal(jacobian_structure(model), strictly_earlier(m0))
        check_jacobian(model)                       # the contract, with this ordering
        orders.add(tuple(m0))
    if ordering == "natural":                       # the family's raster order, m0(d) = d + 1
        assert orders == {tuple(range(1, 7))}
    else:
        assert len(orders) > 1, "random orderings should differ between masks"


def test_made_order_agnostic_training_cycles_the_masks_and_checkpoints_them():
    model = build_model("made", rng=0, hidden=(16, 16), num_masks=3, ordering="random")
    model.configure_optimizers(TrainConfig(lr=1e-3))
    x = np.random.default_rng(0).integers(0, 17, (8, 1, 8, 8))
    seen = []
    for _ in range(4):
        seen.append(tuple(model.order()))
        model.train_step(x)
    assert seen[3] == seen[0] and len(set(seen[:3])) == 3 and model.current == 1
    other = build_model("made", rng=5, hidden=(16, 16), num_masks=3, ordering="random")
    other.load_state_dict(model.state_dict())       # numbers m^l and the index are buffers
    assert other.current == 1
    np.testing.assert_array_equal(other.logits(x).numpy(), model.logits(x).numpy())


def test_made_ensemble_is_normalised_and_below_the_mean_single_mask_nll():
    model = MADE((1, 2, 2), num_levels=3, hidden=(6, 6), num_masks=3, ordering="random", rng=0,
                 dtype=np.float64)
    for p in model.parameters():                     # away from the near-uniform start
        p.data = p.data * 4
    x = np.array(list(itertools.product(range(3), repeat=4))).reshape(-1, 1, 2, 2)
    per_mask = -model.nll_per_mask(x)                # (K, 81)
    np.testing.assert_allclose(np.exp(per_mask).sum(axis=1), 1, atol=1e-12)
    assert abs(np.exp(model.log_prob_ensemble(x)).sum() - 1) < 1e-12
    metrics = model.eval_step(x)
    assert metrics["nll_ensemble"] < metrics["nll"]
    np.testing.assert_allclose(metrics["nll"], -per_mask.mean())
    assert model.current == 0                        # evaluating leaves the mask in use alone


def test_made_validates_its_arguments():
    with pytest.raises(ValueError, match="ordering"):
        MADE(ordering="reverse")
    with pytest.raises(ValueError, match="hidden"):
        MADE(hidden=())
    with pytest.raises(ValueError, match="num_masks"):
        MADE(num_masks=0)


# -- NADE: the O(HD) forward -----------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 2, 3)], ids=["grey", "rgb"])
def test_nade_running_sum_equals_the_per_pixel_forward(shape):
    model = NADE(shape, num_levels=5, hidden=7, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).integers(0, 5, (4,) + shape)
    fast = model.logits(x).numpy()
    np.testing.assert_allclose(fast, model.logits_naive(x).numpy(), rtol=0, atol=1e-12)
    for flat in (0, 5, model.D - 1):                 # the sampler's one-value pass
        c, *index = np.unravel_index(flat, shape)
        np.testing.assert_allclose(model.conditional_logits(x, c, index).numpy(),
                                   fast[(slice(None), c, slice(None)) + tuple(index)], atol=1e-12)
    if shape[0] > 1:
        check_jacobian(model)                        # channels R -> G -> B inside each pixel


def test_the_running_sum_is_numpys_cumsum_bit_for_bit():
    """NADE's (D, N, H) running sum takes the op's slice-by-slice path (autograd/ops/scan.py):
    the same additions in the same order as NumPy's cumsum, so the same numbers."""
    from autograd.ops.scan import ROW_LOOP_MIN, _cumsum
    rng = np.random.default_rng(0)
    for shape, axis in [((64, 8, 256), 0), ((4, 64, 128), 1), ((3, 5), 1)]:
        x = rng.standard_normal(shape).astype(np.float32)
        assert shape[axis] > 1 and (x.size // shape[axis] >= ROW_LOOP_MIN or shape == (3, 5))
        np.testing.assert_array_equal(_cumsum(x, axis), np.cumsum(x, axis=axis))


def test_nade_first_value_sees_only_c():
    """a_1 = c (N4): the first conditional is the same for every image."""
    model = NADE((1, 3, 3), num_levels=4, hidden=5, rng=0, dtype=np.float64)
    logits = model.logits(np.random.default_rng(0).integers(0, 4, (6, 1, 3, 3))).numpy()
    expected = model.V.data[0] @ (1 / (1 + np.exp(-model.c.data))) + model.b.data[0]
    np.testing.assert_allclose(logits[:, 0, :, 0, 0], np.tile(expected, (6, 1)), atol=1e-12)


# -- FVSBN and the masked layer -----------------------------------------------------------------
def test_fvsbn_weights_are_strictly_lower_triangular_and_masked_entries_get_no_gradient():
    model = build_model("fvsbn", rng=0, data_shape=(1, 3, 3), num_levels=4, dtype=np.float64)
    W = model.W                                      # (D, D, L): W[i, j, l]
    S = np.abs(W).sum(axis=2)                        # (D, D): |W[i, j, :]|
    assert not np.triu(S).any() and (S[np.tril_indices(len(S), -1)] > 0).all()
    x = np.random.default_rng(0).integers(0, 4, (5, 1, 3, 3))
    model.nll(x).sum().backward()
    assert not (model.linear.weight.grad.numpy() * (1 - model.linear.mask.numpy())).any()


def test_masked_linear_mask_is_structural():
    rng = np.random.default_rng(0)
    layer = nn.MaskedLinear(4, 3, np.ones((3, 4)), rng=rng, dtype=np.float64)
    w = layer.weight.data.copy()
    mask = (rng.random((3, 4)) < 0.5).astype(float)
    layer.set_mask(mask)
    np.testing.assert_array_equal(layer.weight.data, w)         # the weights are never touched
    x = Tensor(rng.standard_normal((2, 4)))
    y = layer(x)
    np.testing.assert_allclose(y.data, x.data @ (w * mask).T + layer.bias.data)
    y.sum().backward()
    assert not (layer.weight.grad.numpy() * (1 - mask)).any()
    with pytest.raises(ValueError, match="out_features, in_features"):
        layer.set_mask(np.ones((4, 3)))
