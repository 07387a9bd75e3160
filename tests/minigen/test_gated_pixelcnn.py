"""Gated PixelCNN (minigen/models/autoregressive/gated_pixelcnn.py): no blind spot, the
down-shift, class conditioning.

The family contracts (Jacobian against ``dependency_mask``, normalisation by enumeration,
gradcheck, learning) run on the unconditional tiny model of the model table; here: the
reference architecture's receptive field is every earlier pixel (PixelCNN's misses 125
pairs), the down-shift is what keeps the vertical stack causal, and the conditional
model is a normalised p(x | y) for every label, takes its labels from the batch, and
samples the classes it is asked for.
"""
import itertools

import numpy as np
import pytest

from minigen.models import build_model
from minigen.models.autoregressive import gated_pixelcnn
from minigen.models.autoregressive.gated_pixelcnn import GatedPixelCNN, shift_down

from .models.test_contracts import check_jacobian, jacobian_structure


def earlier(model):
    rank = model.order()
    return rank[None, :] < rank[:, None]


def tiny(seed=0, dtype=np.float64, **kw):
    args = dict(hidden=8, num_layers=1, head=8, first_kernel=3)
    args.update(kw)
    return GatedPixelCNN(rng=seed, dtype=dtype, **args)


@pytest.mark.parametrize("preset", ["digits-reference", "digits-conditional"])
def test_the_blind_spot_is_gone(preset):
    """[1] §2.2: every earlier pixel feeds every output (0 pairs that never feed, where
    PixelCNN's digits-reference has 125)."""
    gated = build_model("gated-pixelcnn", preset, rng=0)
    assert (earlier(gated) & ~gated.dependency_mask()).sum() == 0
    assert not (gated.dependency_mask() & ~earlier(gated)).any()
    pixelcnn = build_model("pixelcnn", "digits-reference", rng=0)
    assert (earlier(pixelcnn) & ~pixelcnn.dependency_mask()).sum() == 125


def test_small_receptive_field_is_a_rectangle_above_and_a_run_to_the_left():
    """A 3x3 first layer and one 3x3 layer: pixel (i, j) sees rows i-3..i-1 at columns
    j-2..j+2 and row i at j-2, j-1 (no wedge missing, unlike PixelCNN), and the network
    agrees (the Jacobian)."""
    model = tiny(data_shape=(1, 7, 7))
    check_jacobian(model)
    dep = model.dependency_mask().reshape(7, 7, 7, 7)
    for i, j in itertools.product(range(7), range(7)):
        want = np.zeros((7, 7), bool)
        want[max(i - 3, 0):i, max(j - 2, 0):j + 3] = True
        want[i, max(j - 2, 0):j] = True
        np.testing.assert_array_equal(dep[i, j], want, err_msg=f"pixel {(i, j)}")


def test_without_the_down_shift_the_vertical_stack_leaks_the_future(monkeypatch):
    """The vertical stack's row i has seen row i right of the pixel; fed into the horizontal
    stack unshifted, outputs depend on themselves and later pixels."""
    model = tiny(data_shape=(1, 4, 4))
    assert not (jacobian_structure(model) & ~earlier(model)).any()
    monkeypatch.setattr(gated_pixelcnn, "shift_down", lambda v: v)
    assert (jacobian_structure(model) & ~earlier(model)).any()


def test_shift_down_moves_rows_down_by_one():
    from autograd import Tensor
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    y = shift_down(Tensor(x)).data
    np.testing.assert_array_equal(y[:, :, 1:], x[:, :, :-1])
    assert not y[:, :, 0].any()


def test_conditional_model_is_normalised_for_every_label():
    """sum_x p(x | y) = 1 for each y, by enumerating every 2x2 image with 3 levels, and the
    label changes the distribution."""
    model = tiny(data_shape=(1, 2, 2), num_levels=3, hidden=4, head=4, num_classes=3)
    x = np.array(list(itertools.product(range(3), repeat=4))).reshape(-1, 1, 2, 2)
    logps = []
    for y in range(3):
        logp = model.log_prob(x, np.full(len(x), y))
        assert abs(np.exp(logp).sum() - 1) < 1e-9
        logps.append(logp)
    assert np.abs(logps[0] - logps[1]).max() > 1e-3


def test_conditional_jacobian_and_labels():
    model = tiny(num_classes=10)
    with model.given(np.arange(4)):
        check_jacobian(model)                                 # labels add no dependence between pixels
    x = np.zeros((2, 1, 8, 8), np.int64)
    with pytest.raises(ValueError, match="class-conditional"):
        model.logits(x)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        model.logits(x, np.array([0, 10]))
    assert model.labels is None                               # given() restores the state


def test_loss_uses_the_labels_of_the_batch():
    model = tiny(num_classes=10)
    x = np.random.default_rng(0).integers(0, 17, (3, 1, 8, 8))
    a = model.loss((x, np.array([0, 1, 2])))[0].item()
    b = model.loss((x, np.array([5, 5, 5])))[0].item()
    assert a != b
    np.testing.assert_allclose(a, -model.log_prob(x, np.array([0, 1, 2])).mean(), rtol=1e-10)


def test_conditional_samples_follow_the_asked_labels():
    """sample(n, rng, y) is reproducible, is the family's sampler run given y, depends on y
    (the same noise, other labels: other images), and draws labels when none are given."""
    model = tiny(dtype=np.float32, num_classes=3)
    y = np.array([0, 1, 2, 0])
    a = model.sample(4, np.random.default_rng(1), y)
    assert a.shape == (4, 1, 8, 8) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, model.sample(4, np.random.default_rng(1), y))
    zeros = np.zeros((4, 1, 8, 8), np.int64)
    np.testing.assert_array_equal(a, model.complete(zeros, False, np.random.default_rng(1), y))
    assert not np.array_equal(a, model.sample(4, np.random.default_rng(1), (y + 1) % 3))
    assert model.sample(5, np.random.default_rng(3)).shape == (5, 1, 8, 8)


def test_constructor_errors():
    with pytest.raises(ValueError, match="grey images"):
        GatedPixelCNN(data_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="kernel=4"):
        GatedPixelCNN(kernel=4)
    with pytest.raises(ValueError, match="num_classes"):
        GatedPixelCNN(num_classes=0)
