"""The bijections of minigen/nn/flows.py: each inverts, and its log-det is the numerical one.

(``AffineCoupling`` is tested against its composite twin in test_nn_masked.py and through
every flow model's contract in tests/minigen/models.)
"""
import numpy as np

from autograd import Tensor
from minigen.nn import ActNorm, LogitTransform, Squeeze

from .checks import as_fn, numerical_log_det


def test_squeeze_moves_each_2x2_block_to_channels_and_inverts(rng):
    x = rng.standard_normal((2, 3, 4, 6))
    z, log_det_J = Squeeze()(Tensor(x))
    assert z.shape == (2, 12, 2, 3) and np.all(log_det_J.data == 0)
    # channel 4c + 2 dy + dx at (i, j) holds x[c, 2i + dy, 2j + dx]
    assert z.data[1, 4 * 2 + 3, 1, 2] == x[1, 2, 3, 5]
    assert z.data[0, 4 * 1 + 1, 0, 1] == x[0, 1, 0, 3]
    np.testing.assert_array_equal(Squeeze().inverse(z).data, x)


def test_logit_transform_log_det_and_inverse(rng):
    f = LogitTransform(alpha=0.05)
    x = rng.random((3, 5))
    y, log_det_J = f(Tensor(x))
    p = 0.05 + 0.9 * x
    np.testing.assert_allclose(y.data, np.log(p / (1 - p)), rtol=1e-12)
    np.testing.assert_allclose(log_det_J.data, numerical_log_det(as_fn(f, (5,)), x), atol=1e-6)
    np.testing.assert_allclose(f.inverse(y).data, x, atol=1e-12)


def test_actnorm_data_dependent_init_inverse_and_log_det(rng):
    x = 3.0 + 2.0 * rng.standard_normal((16, 3, 2, 2))
    f = ActNorm(3).double()
    z, _ = f(Tensor(x))                                    # first training batch: initialises
    np.testing.assert_allclose(z.data.mean(axis=(0, 2, 3)), 0, atol=1e-9)
    np.testing.assert_allclose(z.data.std(axis=(0, 2, 3)), 1, atol=1e-5)
    f.log_s.data += 0.1 * rng.standard_normal(3)            # not the identity any more
    z, log_det_J = f(Tensor(x[:2]))
    np.testing.assert_allclose(f.inverse(z).data, x[:2], atol=1e-12)
    num = numerical_log_det(as_fn(f, (3, 2, 2)), x[:2].reshape(2, -1))
    np.testing.assert_allclose(log_det_J.data, num, atol=1e-6)
