"""PixelCNN (minigen/models/autoregressive/pixelcnn.py): channel groups, the blind spot,
sampling against the exact likelihood, learning, the PyTorch oracle.

The family contracts (the Jacobian against ``dependency_mask``, normalisation by
enumeration, gradcheck, learning) run on the grey model from the model table
(tests/minigen/models); here the RGB channel order gets the same Jacobian check, and
the sampling tests enumerate every image of a tiny problem, so they check the exact
likelihood and the sampler against each other.
"""
import itertools
import math

import numpy as np
import pytest

from autograd import Tensor
from minigen.data import BatchLoader, get_dataset
from minigen.models import build_model, get_preset
from minigen.models.autoregressive.pixelcnn import PixelCNN

from .models.test_contracts import check_jacobian

UNIFORM_DIGITS = 64 * math.log(17)  # 181.33 nats: the uniform model of 8x8 images, 17 levels
INDEPENDENT_DIGITS = 106.47         # independent per-pixel categoricals, add-one smoothing


def tiny(data_shape=(1, 8, 8), num_levels=17, seed=0, dtype=np.float32, **kw):
    args = dict(hidden=8, num_blocks=2, head=8, first_kernel=5)
    args.update(kw)
    return PixelCNN(data_shape, num_levels, rng=seed, dtype=dtype, **args)


@pytest.mark.parametrize("C", [1, 3], ids=["grey", "rgb"])
def test_jacobian_is_causal_and_matches_the_receptive_field(C):
    """The contract's Jacobian check on a 5x6 image, grey and RGB (channel groups at the
    centre tap), plus the paper's nearest neighbours: the pixel to the left, the pixel
    above and the earlier channels of the same pixel always feed an output."""
    H, W, L = 5, 6, 4
    model = tiny((C, H, W), L, seed=1, dtype=np.float64, hidden=8 * C, head=8 * C)
    check_jacobian(model)
    dep = model.dependency_mask().reshape(C, H, W, C, H, W)
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        if j > 0:
            assert dep[c, i, j, :, i, j - 1].all(), "left neighbour does not feed the output"
        if i > 0:
            assert dep[c, i, j, :, i - 1, j].all(), "pixel above does not feed the output"
        assert dep[c, i, j, :c, i, j].all() and not dep[c, i, j, c:, i, j].any()


def test_blind_spot_of_the_reference_architecture():
    """[2] §2.2: stacked masked convolutions never see part of the region above-right; in the
    digits-reference network 125 (output, earlier input) pairs never feed."""
    model = build_model("pixelcnn", "digits-reference", rng=0)
    rank = model.order()
    earlier = rank[None, :] < rank[:, None]
    assert (earlier & ~model.dependency_mask()).sum() == 125


def test_mask_a_centre_rules_for_rgb():
    """Mask A at the centre ([1] Figure 2, right): R sees nothing of its pixel, G sees R,
    B sees R and G: the first layer on its own, output channel groups of 8 hidden channels
    (the whole network's rules are in the Jacobian test above)."""
    model = tiny((3, 3, 3), 4, seed=2, dtype=np.float64, hidden=24, head=24)
    x = np.random.default_rng(1).integers(0, 4, (1, 3, 3, 3)).astype(np.float64)
    conv = model.input_conv
    xt = Tensor(x, requires_grad=True)
    h = conv(xt)                                                   # (1, 8, 3, 3)
    for o in range(h.shape[1]):
        xt.grad = None
        gy = np.zeros(h.shape)
        gy[0, o, 1, 1] = 1.0
        conv(xt).backward(Tensor(gy))
        group = o * 3 // h.shape[1]
        seen = xt.grad.numpy()[0, :, 1, 1] != 0
        assert seen.tolist() == [g < group for g in range(3)], f"hidden channel {o} (group {group})"


@pytest.mark.parametrize("shape,L", [((3, 1, 2), 2)], ids=["rgb-1x2-L2"])
def test_log_prob_is_normalised_with_channel_groups(shape, L):
    """Summing exp(log p) over every possible RGB image gives 1 (the grey case is a contract)."""
    model = tiny(shape, L, seed=3, dtype=np.float64, hidden=6, head=6, first_kernel=3)
    D = int(np.prod(shape))
    every = np.array(list(itertools.product(range(L), repeat=D))).reshape((-1,) + shape)
    total = np.exp(model.log_prob(every)).sum()
    assert abs(total - 1.0) < 1e-9, total


def test_sampler_draws_from_the_model():
    """Empirical frequencies of 20000 samples match exp(log p) of all 81 images of a 2x2, L=3 model."""
    shape, L = (1, 2, 2), 3
    model = tiny(shape, L, seed=4, hidden=6, head=6, first_kernel=3)
    every = np.array(list(itertools.product(range(L), repeat=4))).reshape((-1,) + shape)
    p = np.exp(model.log_prob(every))
    n = 20000
    s = model.sample(n, np.random.default_rng(0)).reshape(n, 4).astype(np.int64)
    freq = np.bincount(s @ (L ** np.arange(3, -1, -1)), minlength=L ** 4) / n
    tv = 0.5 * np.abs(freq - p).sum()
    assert tv < 0.03, f"total variation {tv:.4f} between sample frequencies and the model"


def test_completion_keeps_the_visible_half():
    model = tiny()
    x = get_dataset("digits", "test").x[:5]
    occluded, completed = model.complete_lower_half(x, np.random.default_rng(0))
    assert completed.shape == x.shape and completed.dtype == np.uint8
    assert np.array_equal(completed[:, :, :4], x[:, :, :4])        # upper half untouched
    assert np.isnan(occluded[:, :, 4:]).all() and np.array_equal(occluded[:, :, :4], x[:, :, :4])
    assert completed.max() <= 16
    # an arbitrary mask: observed values are never changed
    observed = np.random.default_rng(1).random(x.shape) < 0.5
    out = model.complete(x, observed, np.random.default_rng(2))
    assert np.array_equal(out[observed], x[observed])


def test_pytorch_default_initialisation():
    """Weights and biases uniform in +-1/sqrt(fan_in), fan_in over the full kernel."""
    model = build_model("pixelcnn", "digits-reference", rng=0)
    for name, p in model.named_parameters():
        if not name.endswith("weight"):
            continue
        cout, cin, kh, kw = p.shape
        bound = 1 / math.sqrt(cin * kh * kw)
        w = p.numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound, name
        b = dict(model.named_parameters())[name[:-len("weight")] + "bias"].numpy()
        assert np.abs(b).max() <= bound, name
    assert [tuple(m.weight.shape) for m in [model.input_conv] + [b.conv for b in model.blocks]
            + list(model.head)] == [(64, 1, 7, 7)] + [(64, 64, 3, 3)] * 6 + [(64, 64, 1, 1), (17, 64, 1, 1)]


def test_tiny_model_learns_digits():
    """The digits-tiny preset, trained for seconds, takes the validation NLL far below uniform
    (181.33 nats), far below its value at initialisation, and below independent per-pixel
    categoricals with add-one smoothing (106.47 nats): it uses the context of each pixel."""
    train = get_dataset("digits", "train").x
    val = get_dataset("digits", "val").x
    settings = get_preset("pixelcnn", "digits-tiny").train
    model = build_model("pixelcnn", "digits-tiny", rng=0)
    model.configure_optimizers(settings, 64)
    before = -model.log_prob(val).mean()
    loader = BatchLoader(train, batch_size=settings.batch_size, rng=np.random.default_rng(0))
    for _ in range(settings.epochs):
        for xb in loader:
            model.train_step(xb)
    after = -model.log_prob(val).mean()
    assert before > 0.95 * UNIFORM_DIGITS, before
    assert after < INDEPENDENT_DIGITS < 0.6 * UNIFORM_DIGITS, (before, after)
    assert after < before - 60, (before, after)


def test_nll_matches_pytorch():
    """Optional oracle: the same weights in PyTorch (masks as w * mask) give the same NLL."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    from kernels.taps import channel_group_mask, pixelcnn_taps, taps_to_mask
    model = tiny((3, 4, 4), 5, seed=6, dtype=np.float64)
    x = np.random.default_rng(0).integers(0, 5, (3, 3, 4, 4))

    def conv(layer, h, mask_type):
        cout, cin, k, _ = layer.weight.shape
        mask = taps_to_mask(pixelcnn_taps(k, "B"), k)[None, None].repeat(cout, 0).repeat(cin, 1)
        mask[:, :, k // 2, k // 2] = channel_group_mask(cout, cin, mask_type, 3)
        w = torch.tensor(layer.weight.numpy() * mask)
        return F.conv2d(h, w, torch.tensor(layer.bias.numpy()), padding=k // 2)

    h = conv(model.input_conv, torch.tensor(x / 4.0), "A")
    for block in model.blocks:
        h = h + conv(block.conv, torch.relu(h), "B")
    h = conv(model.head[1], torch.relu(conv(model.head[0], torch.relu(h), "B")), "B")
    logp = torch.log_softmax(h.reshape(3, 3, 5, 4, 4), dim=2)
    ref = -torch.gather(logp, 2, torch.tensor(x)[:, :, None]).reshape(3, -1).sum(1).numpy()
    np.testing.assert_allclose(-model.log_prob(x), ref, rtol=1e-10)
