"""minigen.nn.distributions: log_prob values and gradients, sampling, entropy, rsample."""
import numpy as np
import pytest

import autograd
from autograd import Tensor, gradcheck
from minigen.nn import Bernoulli, Categorical, Normal
from minigen.nn import losses as L

LOG_2PI = np.log(2 * np.pi)


def np_log_softmax(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


# -- log_prob: values against NumPy and gradchecks, several shapes incl. broadcasting --------
NORMAL_SHAPES = [((3,), (3,), (3,)), ((2, 3), (3,), (2, 1)), ((4, 2, 3), (2, 3), (2, 3))]


@pytest.mark.parametrize("x_shape,mu_shape,ls_shape", NORMAL_SHAPES)
def test_normal_log_prob(x_shape, mu_shape, ls_shape):
    rng = np.random.default_rng(0)
    x, mu, ls = rng.standard_normal(x_shape), rng.standard_normal(mu_shape), rng.standard_normal(ls_shape)
    got = Normal(Tensor(mu), log_sigma=Tensor(ls)).log_prob(Tensor(x)).data
    np.testing.assert_allclose(got, -0.5 * LOG_2PI - ls - 0.5 * ((x - mu) / np.exp(ls)) ** 2, rtol=1e-12)
    by_sigma = Normal(Tensor(mu), Tensor(np.exp(ls))).log_prob(Tensor(x)).data
    np.testing.assert_allclose(by_sigma, got, rtol=1e-12)
    assert gradcheck(lambda x, mu, ls: Normal(mu, log_sigma=ls).log_prob(x), [x, mu, ls])
    assert gradcheck(lambda x, mu, s: Normal(mu, s).log_prob(x), [x, mu, np.exp(ls)])


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4)])
def test_bernoulli_log_prob(shape):
    rng = np.random.default_rng(0)
    z, x = 3 * rng.standard_normal(shape), rng.integers(0, 2, shape).astype(float)
    p = 1 / (1 + np.exp(-z))
    got = Bernoulli(Tensor(z)).log_prob(Tensor(x)).data
    np.testing.assert_allclose(got, x * np.log(p) + (1 - x) * np.log(1 - p), rtol=1e-10)
    assert gradcheck(lambda z: Bernoulli(z).log_prob(x), [z])
    assert gradcheck(lambda z: Bernoulli(z).log_prob(x[-1:]), [z])   # broadcast data


@pytest.mark.parametrize("logit_shape,axis,k_shape", [((4, 3), -1, (4,)), ((2, 3, 4), 1, (2, 4)),
                                                      ((2, 5), -1, (6, 2)), ((3, 2, 4), 1, (5, 3, 4))])
def test_categorical_log_prob(logit_shape, axis, k_shape):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(logit_shape)
    K = logit_shape[axis]
    k = rng.integers(0, K, k_shape)
    got = Categorical(Tensor(z), axis=axis).log_prob(k).data
    lp = np_log_softmax(z, axis)
    ax = axis % len(logit_shape) + len(k_shape) - (len(logit_shape) - 1)   # class axis with sample axes
    full = np.broadcast_to(np.expand_dims(lp, tuple(range(len(k_shape) - len(logit_shape) + 1))),
                           k_shape[:ax] + (K,) + k_shape[ax:])
    ref = np.take_along_axis(full, np.expand_dims(k, ax), ax).squeeze(ax)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert gradcheck(lambda z: Categorical(z, axis=axis).log_prob(k), [z])


def test_extreme_logits_and_scales_are_finite():
    z = Tensor(np.array([-1000.0, -50, 0, 50, 1000]), requires_grad=True)
    ys = [Bernoulli(z).log_prob(np.array([1.0, 0, 1, 1, 0])), Bernoulli(z).entropy()]
    zc = Tensor(np.array([[1000.0, -1000, 0], [-1000, 1000, 999]]), requires_grad=True)
    ys += [Categorical(zc).log_prob(np.array([1, 2])), Categorical(zc).entropy()]
    ls = Tensor(np.array([-50.0, 50.0]), requires_grad=True)
    ys += [Normal(Tensor(np.zeros(2)), log_sigma=ls).log_prob(np.array([1.0, 1.0]))]
    for y in ys:
        assert np.all(np.isfinite(y.data))
        y.sum().backward()
    for t in (z, zc, ls):
        assert np.all(np.isfinite(t.grad.data))
    np.testing.assert_allclose(Bernoulli(Tensor(np.array([1000.0]))).log_prob(np.array([0.0])).data, -1000)


# -- sampling -------------------------------------------------------------------------------
def test_normal_rsample_sample_entropy_kl():
    rng = autograd.rng(0)
    mu = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    ls = Tensor(np.array([-0.3, 0.4]), requires_grad=True)
    q = Normal(mu, log_sigma=ls)
    x = q.rsample(rng, (100_000,))
    assert x.shape == (100_000, 2) and x.requires_grad
    np.testing.assert_allclose(x.data.mean(0), mu.data, atol=0.02)
    np.testing.assert_allclose(x.data.std(0), np.exp(ls.data), rtol=0.02)
    x.mean(axis=0).sum().backward()                # d mean(mu + sigma eps) / d mu = 1
    np.testing.assert_allclose(mu.grad.data, 1.0)
    s = q.sample(rng, (3,))
    assert s.shape == (3, 2) and not s.requires_grad
    # entropy = E[-log q(x)], KL(q || p) = E[log q(x) - log p(x)], by Monte Carlo
    with autograd.no_grad():
        x = q.sample(rng, (200_000,))
        neg_lq = -q.log_prob(x).data
        p = Normal(Tensor(np.array([0.0, 1.0])), Tensor(np.array([1.0, 0.7])))
        ratio = q.log_prob(x).data - p.log_prob(x).data
    se = neg_lq.std(0) / np.sqrt(len(neg_lq))
    assert np.all(np.abs(neg_lq.mean(0) - q.entropy().data) < 4 * se)
    kl = L.kl_normal(mu, 2 * ls, p.mu, 2 * p.log_sigma, reduction="none").data
    assert np.all(np.abs(ratio.mean(0) - kl) < 4 * ratio.std(0) / np.sqrt(len(ratio)))
    assert q.mean is mu and q.mode is mu and q.batch_shape == (2,)
    np.testing.assert_allclose(q.variance.data, np.exp(2 * ls.data))


def test_normal_sampling_is_reproducible_and_float32():
    q = Normal(Tensor(np.zeros(3, np.float32)), log_sigma=Tensor(np.zeros(3, np.float32)))
    a, b = q.sample(autograd.rng(5), (2,)), q.sample(autograd.rng(5), (2,))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32
    with pytest.raises(TypeError, match="Generator"):
        q.sample(5)
    with pytest.raises(ValueError, match="exactly one"):
        Normal(0.0)


def test_bernoulli_sample_mean_mode_entropy():
    z = np.array([-2.0, 0.0, 1.5, 30.0])
    d = Bernoulli(Tensor(z))
    s = d.sample(autograd.rng(0), (50_000,)).data
    p = 1 / (1 + np.exp(-z))
    assert set(np.unique(s)) <= {0.0, 1.0} and s.shape == (50_000, 4)
    np.testing.assert_allclose(s.mean(0), p, atol=0.01)
    np.testing.assert_allclose(d.mean.data, p)
    np.testing.assert_array_equal(d.mode.data, [0, 0, 1, 1])
    np.testing.assert_allclose(d.entropy().data, -(p * np.log(p) + (1 - p) * np.log1p(-p)), rtol=1e-10,
                               atol=1e-12)
    assert gradcheck(lambda z: Bernoulli(z).entropy(), [z])
    with pytest.raises(NotImplementedError, match="REINFORCE"):
        d.rsample(autograd.rng(0))


def test_categorical_sample_mode_entropy():
    z = np.array([[0.0, 1.0, -1.0, 2.0], [3.0, 0.0, 0.0, -5.0]])
    d = Categorical(Tensor(z))
    s = d.sample(autograd.rng(0), (40_000,)).data
    assert s.shape == (40_000, 2) and np.issubdtype(s.dtype, np.integer)
    p = np.exp(np_log_softmax(z, -1))
    freq = np.stack([(s == k).mean(0) for k in range(4)], axis=-1)
    np.testing.assert_allclose(freq, p, atol=0.01)
    np.testing.assert_array_equal(d.mode.data, [3, 0])
    np.testing.assert_allclose(d.entropy().data, -(p * np.log(p)).sum(-1), rtol=1e-10)
    assert gradcheck(lambda z: Categorical(z).entropy(), [z])
    assert d.batch_shape == (2,) and d.num_classes == 4
    # class axis 0: samples along the other axis
    s0 = Categorical(Tensor(z.T), axis=0).sample(autograd.rng(0), (3,))
    assert s0.shape == (3, 2)
    with pytest.raises(NotImplementedError, match="Gumbel-softmax"):
        d.rsample(autograd.rng(0))
    with pytest.raises(NotImplementedError, match="no mean"):
        d.mean
