"""spline-flow: masks, the coupling's inverse and log-det, the digits preset, bad arguments, a 2-D toy learns."""
import numpy as np
import pytest

from autograd import Tensor
from minigen.models.flows.spline_flow import SplineFlow, coupling_masks
from minigen.nn.flows_spline import RQSplineCoupling, split_by_mask


def test_masks_alternate_and_cover_every_value():
    for shape in [(1, 8, 8), (5,)]:
        a, b = coupling_masks(shape, 2)
        np.testing.assert_array_equal(a + b, 1)              # every value changed by one of two layers
        assert a.sum() == b.sum() or abs(a.sum() - b.sum()) == 1
    m = coupling_masks((1, 4, 4), 1)[0].reshape(4, 4)
    assert m[0, 0] == 1 and m[0, 1] == 0 and m[1, 0] == 0     # a checkerboard


def test_coupling_round_trip_log_det_and_kept_half():
    rng = np.random.default_rng(0)
    kept, changed = split_by_mask(np.array([1, 0, 0, 1, 0]))
    W = rng.standard_normal((2, 3 * 11)) * 0.7

    def net(h):
        return h @ Tensor(W)                                # (N, 2) -> (N, 3 * (3*4 - 1))
    layer = RQSplineCoupling(net, kept, changed, bins=4, bound=2.0)
    x = rng.uniform(-2.5, 2.5, (3, 5))
    z, ld = layer(Tensor(x))
    np.testing.assert_array_equal(z.numpy()[:, kept], x[:, kept])
    np.testing.assert_allclose(layer.inverse(z).numpy(), x, atol=1e-10)
    e = 1e-6
    for n in range(3):
        f = lambda v: layer(Tensor(v[None]))[0].numpy()[0]            # noqa: E731
        J = np.stack([(f(x[n] + e * u) - f(x[n] - e * u)) / (2 * e) for u in np.eye(5)], axis=1)
        np.testing.assert_allclose(ld.numpy()[n], np.linalg.slogdet(J)[1], atol=1e-6)


def test_digits_reference_is_the_issue_architecture():
    m = SplineFlow(**SplineFlow.presets["digits-reference"].model, rng=0)
    steps = m.flow.steps.children()
    assert len(steps) == 4 and all(s.bins == 8 and s.bound == 3.0 for s in steps)
    first = steps[0].net.children()[0]
    assert first.weight.shape[::-1] == (32, 256) or first.weight.shape == (32, 256)
    assert steps[0].net.children()[-1].bias.shape == (32 * 23,)


@pytest.mark.parametrize("kwargs, match", [(dict(bins=1), "bins=1"), (dict(bound=0.0), "bound=0.0"),
                                           (dict(data_shape=(1,), num_levels=None), "D >= 2"),
                                           (dict(num_levels=1), "num_levels=1")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SplineFlow(**kwargs)


def test_learns_a_2d_toy():
    from minigen.data.toy import make_moons
    from minigen.models.registry import TrainConfig
    rng = np.random.default_rng(0)
    x = make_moons(512, rng)[0].astype(np.float32)
    m = SplineFlow(data_shape=(2,), num_levels=None, couplings=4, bins=6, bound=4.0, hidden=32, rng=0)
    m.configure_optimizers(TrainConfig(lr=5e-3), 200)
    before = float(-m.log_prob(x).mean())
    for i in range(80):
        m.train_step(x[rng.integers(0, 512, 128)])
    after = float(-m.log_prob(x).mean())
    assert after < before - 1.0, (before, after)
