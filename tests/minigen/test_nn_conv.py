"""minigen.nn conv layers: shapes, PyTorch-default init bounds, torch parity (optional), gradcheck."""
import numpy as np
import pytest

from autograd import Tensor, gradcheck, rng as make_rng
from minigen.nn.conv import AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, Upsample


def test_shapes_and_init_bounds():
    rng = make_rng(0)
    conv = Conv2d(3, 8, 3, padding="same", rng=rng)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.weight.dtype == np.float32
    assert np.abs(conv.weight.numpy()).max() <= 1 / np.sqrt(27) and np.abs(conv.bias.numpy()).max() <= 1 / np.sqrt(27)
    x = Tensor(np.ones((2, 3, 8, 8), np.float32))
    assert conv(x).shape == (2, 8, 8, 8)
    up = ConvTranspose2d(8, 4, 4, stride=2, padding=1, rng=rng)
    assert up.weight.shape == (8, 4, 4, 4) and np.abs(up.weight.numpy()).max() <= 1 / np.sqrt(4 * 16)
    assert up(conv(x)).shape == (2, 4, 16, 16)
    assert MaxPool2d(2)(x).shape == AvgPool2d(2)(x).shape == (2, 3, 4, 4)
    assert Upsample(2)(x).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="nearest"):
        Upsample(2, mode="bilinear")


def test_layers_gradcheck_float64():
    rng = make_rng(1)
    conv = Conv2d(2, 3, 3, stride=2, padding=1, rng=rng, dtype=np.float64)
    up = ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, rng=rng, dtype=np.float64)
    f = lambda x: Upsample(2)(MaxPool2d(2)(up(conv(x))))
    gradcheck(f, [np.random.default_rng(2).standard_normal((2, 2, 6, 6))],
              params=list(conv.parameters()) + list(up.parameters()))


def test_torch_parity():
    torch = pytest.importorskip("torch")
    rng = make_rng(3)
    conv = Conv2d(3, 5, 3, stride=1, padding=2, dilation=2, rng=rng, dtype=np.float64)
    tconv = torch.nn.Conv2d(3, 5, 3, padding=2, dilation=2).double()
    tconv.weight.data = torch.tensor(conv.weight.numpy())
    tconv.bias.data = torch.tensor(conv.bias.numpy())
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(conv(Tensor(x)).numpy(), tconv(torch.tensor(x)).detach().numpy(), atol=1e-12)
