"""minigen.nn.masked layers: mask shapes accepted by AffineCoupling."""
import numpy as np

from autograd import Tensor, rng as make_rng
from minigen import nn
from minigen.nn.flows import AffineCoupling, channel_mask, checkerboard_mask


class _Net(nn.Module):
    def __init__(self, c, rng):
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 3, padding=1, rng=rng)

    def forward(self, x):
        h = self.conv(x)
        c = x.shape[1]
        return h[:, :c], h[:, c:]


def test_checkerboard_mask_with_several_channels_round_trips():
    rng = make_rng(0)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32))
    for mask in (checkerboard_mask(4, 4), checkerboard_mask(4, 4)[None], channel_mask(4)):
        c = 4 if mask.shape[0] == 4 else 3
        layer = AffineCoupling(_Net(c, rng), mask, channels=c)
        assert layer.scale.shape == (c, 1, 1)
        xc = x if c == 3 else Tensor(np.concatenate([x.data, x.data[:, :1]], axis=1))
        y, logdet = layer(xc)
        assert logdet.shape == (2,)
        np.testing.assert_allclose(layer.inverse(y).data, xc.data, atol=1e-5)
