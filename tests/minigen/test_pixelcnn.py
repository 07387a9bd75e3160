"""PixelCNN (minigen/models/pixelcnn.py): causality, exact likelihood, sampling, learning.

The Jacobian tests are the ones DESIGN.md §5 asks of every autoregressive model: a
one-hot upstream gradient at output position j must give exactly zero gradient at every
input position that may not feed it. The normalisation and sampling tests enumerate
every image of a tiny problem, so they check the exact likelihood and the sampler
against each other.
"""
import itertools
import math

import numpy as np
import pytest

from autograd import Tensor
from minigen.data import BatchLoader, get_dataset
from minigen.models import build_model, get_model, get_preset
from minigen.models.pixelcnn import PixelCNN

UNIFORM_DIGITS = 64 * math.log(17)  # 181.33 nats: the uniform model of 8x8 images, 17 levels
INDEPENDENT_DIGITS = 106.47         # independent per-pixel categoricals, add-one smoothing


def tiny(data_shape=(1, 8, 8), num_levels=17, seed=0, dtype=np.float32, **kw):
    args = dict(hidden=8, num_blocks=2, head=8, first_kernel=5)
    args.update(kw)
    return PixelCNN(data_shape, num_levels, rng=seed, dtype=dtype, **args)


def forbidden(C, H, W, c, i, j):
    """Boolean (C, H, W): inputs that may NOT feed output value (c, i, j) ([1] eqs. (1)-(2))."""
    order = np.arange(H * W).reshape(H, W)
    f = np.broadcast_to(order >= i * W + j, (C, H, W)).copy()     # this pixel and later ones
    f[:c, i, j] = False                                            # earlier channels of this pixel
    return f


def input_jacobian_row(model, x, c, k, i, j):
    """d logits[0, c, k, i, j] / d x: backprop a one-hot upstream gradient (class k)."""
    xt = Tensor(x, requires_grad=True)
    logits = model.logits(xt)                                      # (1, C, L, H, W)
    gy = np.zeros(logits.shape, x.dtype)
    gy[0, c, k, i, j] = 1.0
    logits.backward(Tensor(gy))
    return xt.grad.numpy()[0]                                      # (C, H, W)


@pytest.mark.parametrize("C", [1, 3], ids=["grey", "rgb"])
def test_jacobian_is_causal(C):
    H, W, L = 5, 6, 4
    model = tiny((C, H, W), L, seed=1, dtype=np.float64, hidden=8 * C, head=8 * C)
    rng = np.random.default_rng(0)
    x = rng.integers(0, L, (1, C, H, W)).astype(np.float64)
    for i, j, c in itertools.product(range(H), range(W), range(C)):
        g = input_jacobian_row(model, x, c, int(rng.integers(L)), i, j)
        bad = forbidden(C, H, W, c, i, j)
        assert np.all(g[bad] == 0), f"output (c={c}, {i}, {j}) depends on forbidden inputs " \
                                    f"{np.argwhere(bad & (g != 0)).tolist()}"
        # ... and the masks are not stricter than the paper's: the nearest allowed
        # neighbours do feed it (so this test can fail both ways).
        if j > 0:
            assert np.all(g[:, i, j - 1] != 0), "left neighbour does not feed the output"
        if i > 0:
            assert np.all(g[:, i - 1, j] != 0), "pixel above does not feed the output"
        if c > 0:
            assert np.all(g[:c, i, j] != 0), "earlier channels of the same pixel do not feed it"


def test_mask_a_centre_rules_for_rgb():
    """Mask A at the centre ([1] Figure 2, right): R sees nothing of its pixel, G sees R,
    B sees R and G; checked on the first layer alone and through the whole network."""
    model = tiny((3, 3, 3), 4, seed=2, dtype=np.float64, hidden=24, head=24)
    x = np.random.default_rng(1).integers(0, 4, (1, 3, 3, 3)).astype(np.float64)
    centre = np.array([input_jacobian_row(model, x, c, 0, 1, 1)[:, 1, 1] != 0 for c in range(3)])
    assert centre.tolist() == [[False, False, False], [True, False, False], [True, True, False]]
    # the first layer on its own: output channel groups of 8 hidden channels, mask A
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


@pytest.mark.parametrize("shape,L", [((1, 2, 2), 3), ((3, 1, 2), 2)], ids=["grey-2x2-L3", "rgb-1x2-L2"])
def test_log_prob_is_normalised(shape, L):
    """Summing exp(log p) over every possible image gives 1: the likelihood is exact."""
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


def test_sampling_gives_valid_levels_and_is_reproducible():
    model = tiny()
    a = model.sample(6, np.random.default_rng(5))
    b = model.sample(6, np.random.default_rng(5))
    assert a.shape == (6, 1, 8, 8) and a.dtype == np.uint8
    assert a.min() >= 0 and a.max() <= 16
    assert np.array_equal(a, b)
    assert len(np.unique(a)) > 3                                   # not a constant image


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


def test_registered_with_presets():
    assert get_model("pixelcnn") is PixelCNN
    assert {"digits-reference", "digits-tiny"} <= set(PixelCNN.presets)


def test_tiny_model_learns_digits():
    """The digits-tiny preset, trained for seconds, takes the validation NLL far below uniform
    (181.33 nats), far below its value at initialisation, and below independent per-pixel
    categoricals with add-one smoothing (106.47 nats): it uses the context of each pixel."""
    train = get_dataset("digits", "train").x
    val = get_dataset("digits", "val").x
    settings = get_preset("pixelcnn", "digits-tiny")["train"]
    model = build_model("pixelcnn", "digits-tiny", rng=0)
    model.configure_optimizers(lr=settings["lr"])
    before = -model.log_prob(val).mean()
    loader = BatchLoader(train, batch_size=settings["batch_size"], rng=np.random.default_rng(0))
    for _ in range(settings["epochs"]):
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
