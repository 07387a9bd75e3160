"""minigen.nn.losses: a table of losses, each with a plain NumPy reference.

Every entry is gradchecked (float64, all differentiable inputs) on several shapes
(broadcasting where a loss allows it: variances and a prior's parameters, never a
prediction against its target), compared with its NumPy formula, and evaluated at extreme
inputs (logits +-1000, log-variances / log-scales +-50) where values and gradients must
stay finite.
"""
import re
from dataclasses import dataclass

import numpy as np
import pytest

from autograd import Tensor, gradcheck
from minigen.nn import losses as L

LOG_2PI = np.log(2 * np.pi)


# -- NumPy references -----------------------------------------------------------------
def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_log_sigmoid(x):
    return -np_softplus(-x)


def np_logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def np_log_softmax(x, axis):
    return x - np.expand_dims(np_logsumexp(x, axis), axis)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_disc_logistic(x, mean, log_scale, K):
    """The bin mass sigmoid(a) - sigmoid(b) in float64; above the mean it is computed as
    sigmoid(-b) - sigmoid(-a), so that neither side cancels against 1."""
    h, s = 1 / (K - 1), np.exp(log_scale)
    a, b = (x + h - mean) / s, (x - h - mean) / s
    mid = np.where(b > 0, np_sigmoid(-b) - np_sigmoid(-a), np_sigmoid(a) - np_sigmoid(b))
    return np.log(np.where(x < -1 + h, np_sigmoid(a), np.where(x > 1 - h, np_sigmoid(-b), mid)))


def grid(rng, shape, K):
    """Data on the K-level grid in [-1, 1], with both end levels present."""
    x = 2 * rng.integers(0, K, size=shape) / (K - 1) - 1
    x.flat[0], x.flat[-1] = -1.0, 1.0
    return x


# -- the table --------------------------------------------------------------------------
@dataclass
class LossInfo:
    name: str
    fn: callable          # (*args, **const) -> Tensor
    make: callable        # rng -> (args: list of float arrays, const: dict)
    reference: callable   # (*args, **const) -> np.ndarray (elementwise, no reduction)


def _ce_ref(logits, target, axis):
    lp = np_log_softmax(logits, axis)
    return -np.take_along_axis(lp, np.expand_dims(target, axis % logits.ndim), axis).squeeze(axis)


def _mix_ref(logit_probs, means, log_scales, x, K, channel_axis=None):
    lp = np_disc_logistic(x[..., None], means, log_scales, K)
    if channel_axis is not None:
        lp = lp.sum(axis=channel_axis)
    return np_logsumexp(np_log_softmax(logit_probs, -1) + lp, -1)


def _disc(mean, log_scale, x, num_levels):
    return L.discretized_logistic_log_prob(x, mean, log_scale, num_levels)


def _disc_ref(mean, log_scale, x, num_levels):
    return np_disc_logistic(x, mean, log_scale, num_levels)


def _disc_make(shape_x, shape_mean, shape_ls, K):
    def make(r):
        return ([r.uniform(-1, 1, shape_mean), r.uniform(-3, -1, shape_ls)],
                {"x": grid(r, shape_x, K), "num_levels": K})
    return make


LOSSES = [
    LossInfo("mse", lambda p, t: L.mse(p, t, reduction="none"),
             lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4))], {}),
             lambda p, t: (p - t) ** 2),
    LossInfo("mse-3d", lambda p, t: L.mse(p, t, reduction="none"),
             lambda r: ([r.standard_normal((2, 3, 4)), r.standard_normal((2, 3, 4))], {}),
             lambda p, t: (p - t) ** 2),
    LossInfo("bce", lambda z, t: L.binary_cross_entropy_with_logits(z, t, reduction="none"),
             lambda r: ([3 * r.standard_normal((3, 4)), r.uniform(0, 1, (3, 4))], {}),
             lambda z, t: -(t * np.log(np_sigmoid(z)) + (1 - t) * np.log(1 - np_sigmoid(z)))),
    LossInfo("bce-3d-labels", lambda z, t: L.binary_cross_entropy_with_logits(z, t, reduction="none"),
             lambda r: ([3 * r.standard_normal((2, 3, 4)), r.integers(0, 2, (2, 3, 4)).astype(float)], {}),
             lambda z, t: np_softplus(z) - t * z),
    LossInfo("cross_entropy", lambda z, target, axis: L.cross_entropy(z, target, axis, reduction="none"),
             lambda r: ([r.standard_normal((5, 4))], {"target": r.integers(0, 4, 5), "axis": 1}),
             _ce_ref),
    LossInfo("cross_entropy-image", lambda z, target, axis: L.cross_entropy(z, target, axis, "none"),
             lambda r: ([r.standard_normal((2, 3, 4, 2))], {"target": r.integers(0, 3, (2, 4, 2)),
                                                            "axis": 1}), _ce_ref),
    LossInfo("cross_entropy-last-axis", lambda z, target, axis: L.cross_entropy(z, target, axis, "none"),
             lambda r: ([r.standard_normal((2, 3, 4))], {"target": r.integers(0, 4, (2, 3)), "axis": -1}),
             _ce_ref),
    LossInfo("log_normal_pdf", L.log_normal_pdf,
             lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4)), r.standard_normal((4,))], {}),
             lambda x, m, lv: -0.5 * (LOG_2PI + lv + (x - m) ** 2 / np.exp(lv))),
    LossInfo("gaussian_nll-log_var", lambda x, m, lv: L.gaussian_nll(x, m, log_var=lv, reduction="none"),
             lambda r: ([r.standard_normal((2, 3)), r.standard_normal((2, 3)),
                         r.standard_normal((2, 1))], {}),
             lambda x, m, lv: 0.5 * (LOG_2PI + lv + (x - m) ** 2 / np.exp(lv))),
    LossInfo("gaussian_nll-std", lambda x, m, s: L.gaussian_nll(x, m, std=s, reduction="none"),
             lambda r: ([r.standard_normal((2, 3)), r.standard_normal((2, 3)), r.uniform(0.5, 2, (3,))], {}),
             lambda x, m, s: 0.5 * LOG_2PI + np.log(s) + 0.5 * ((x - m) / s) ** 2),
    LossInfo("kl_normal", lambda mq, lq, mp, lp: L.kl_normal(mq, lq, mp, lp, reduction="none"),
             lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4)), r.standard_normal((4,)),
                         r.standard_normal((3, 1))], {}),
             lambda mq, lq, mp, lp: np.log(np.exp(0.5 * lp) / np.exp(0.5 * lq))
             + (np.exp(lq) + (mq - mp) ** 2) / (2 * np.exp(lp)) - 0.5),
    LossInfo("kl_standard_normal", lambda m, lv: L.kl_standard_normal(m, lv, reduction="none"),
             lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4))], {}),
             lambda m, lv: -0.5 * (1 + lv - m ** 2 - np.exp(lv))),
    LossInfo("discretized_logistic-8bit", _disc, _disc_make((3, 4), (3, 4), (4,), 256), _disc_ref),
    LossInfo("discretized_logistic-5level", _disc, _disc_make((2, 3), (3,), (2, 3), 5), _disc_ref),
    LossInfo("discretized_mix_logistic",
             lambda lp, m, ls, x, num_levels: L.discretized_mix_logistic_log_prob(x, lp, m, ls, num_levels),
             lambda r: ([r.standard_normal((2, 3, 4)), r.uniform(-1, 1, (2, 3, 4)),
                         r.uniform(-3, -1, (2, 3, 4))], {"x": grid(r, (2, 3), 256), "num_levels": 256}),
             lambda lp, m, ls, x, num_levels: _mix_ref(lp, m, ls, x, num_levels)),
    LossInfo("discretized_mix_logistic-shared-channels",
             lambda lp, m, ls, x: L.discretized_mix_logistic_log_prob(x, lp, m, ls, 16, channel_axis=1),
             lambda r: ([r.standard_normal((2, 2, 3)), r.uniform(-1, 1, (2, 3, 2, 3)),
                         r.uniform(-2, 0, (2, 3, 2, 3))], {"x": grid(r, (2, 3, 2), 16)}),
             lambda lp, m, ls, x: _mix_ref(lp, m, ls, x, 16, channel_axis=1)),
]


def _make(info, seed=0):
    return info.make(np.random.default_rng(seed))


@pytest.mark.parametrize("info", LOSSES, ids=lambda i: i.name)
def test_loss_matches_numpy(info):
    args, const = _make(info)
    got = info.fn(*[Tensor(a) for a in args], **const)
    np.testing.assert_allclose(got.data, info.reference(*args, **const), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("info", LOSSES, ids=lambda i: i.name)
def test_loss_gradcheck(info):
    args, const = _make(info)
    assert gradcheck(lambda *xs: info.fn(*xs, **const), args)


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean", "none"])
def test_reductions(reduction):
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    sq = (p - t) ** 2
    ref = {"mean": sq.mean(), "sum": sq.sum(), "batchmean": sq.sum() / 4, "none": sq}[reduction]
    np.testing.assert_allclose(L.mse(Tensor(p), t, reduction=reduction).data, ref)
    with pytest.raises(ValueError, match="reduction"):
        L.mse(Tensor(p), t, reduction="avg")


# -- extreme inputs --------------------------------------------------------------------------
def _finite_value_and_grads(fn, arrays, dtype):
    ts = [Tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    y = fn(dtype, *ts).sum()
    y.backward()
    assert np.isfinite(y.data), f"value {y.data}"
    for t in ts:
        assert t.grad is not None and np.all(np.isfinite(t.grad.data)), f"grad {t.grad}"
    return y


BIG = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
EXTREME = [
    ("bce", lambda d, z: L.binary_cross_entropy_with_logits(z, np.array([0, 1, 1, 0, 1], d), "none"), [BIG]),
    ("cross_entropy", lambda d, z: L.cross_entropy(z, np.array([0, 1, 2, 0, 1]), reduction="none"),
     [np.stack([BIG, -BIG, BIG[::-1]], axis=1)]),
    ("gaussian_nll", lambda d, x, lv: L.gaussian_nll(x, 0.0, log_var=lv, reduction="none"),
     [np.array([0.0, 1, -1, 3, 0.5]), np.array([-50.0, -50, 50, 50, 0])]),
    # log-variances differ by at most 50, so that the true KL fits in float32
    ("kl_normal", lambda d, mq, lq, lp: L.kl_normal(mq, lq, 0.5, lp, "none"),
     [np.ones(5), np.array([-50.0, 50, 0, 0, 25]), np.array([0.0, 0, -50, 50, -25])]),
    ("kl_standard_normal", lambda d, m, lv: L.kl_standard_normal(m, lv, "none"),
     [np.ones(5), np.array([-50.0, 50, -20, 20, 0])]),
    ("discretized_logistic", lambda d, m, ls: L.discretized_logistic_log_prob(
        np.array([-1, -1, 1, 1, 0.6, 0.6, 1 / 255, -1 / 255], d), m, ls),
     [np.array([5.0, -5, 5, -5, 0.6, -0.6, 1 / 255, 0.9]),
      np.array([-50.0, 50, -50, 50, -50, -50, -50, 50])]),
    ("discretized_mix_logistic", lambda d, lp, m, ls: L.discretized_mix_logistic_log_prob(
        np.array([-1, 0, 1], d), lp, m, ls),
     [np.array([[1000.0, -1000], [-1000, 0], [0, 0]]), np.array([[3.0, -1], [0, 0.5], [-3, 1]]),
      np.array([[-50.0, 50], [50, -50], [-50, -50]])]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,arrays", EXTREME, ids=[e[0] for e in EXTREME])
def test_extreme_inputs_stay_finite(name, fn, arrays, dtype):
    _finite_value_and_grads(fn, arrays, dtype)


def test_extreme_values_are_right():
    z = Tensor(BIG)
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits(z, np.ones(5), "none").data,
                               np_softplus(-BIG), atol=1e-12)
    # a point mass (log_scale -50) on the right bin has probability 1, on a wrong bin ~0
    lp = L.discretized_logistic_log_prob(np.array([0.6, 1.0, -1.0]), Tensor(np.array([0.6, 0.9999, -1.0])),
                                         Tensor(np.full(3, -50.0)), num_levels=256).data
    np.testing.assert_allclose(lp, 0.0, atol=1e-12)
    wide = L.discretized_logistic_log_prob(np.zeros(1), Tensor(np.zeros(1)), Tensor(np.full(1, 50.0))).data
    np.testing.assert_allclose(wide, np.log(2 / 255 / 4) - 50, rtol=1e-10)  # density 1/(4s) times width


# -- discretised logistic: a proper distribution over the K levels ------------------------
@pytest.mark.parametrize("K", [2, 5, 256])
def test_discretized_logistic_sums_to_one(K):
    levels = np.linspace(-1, 1, K)[:, None]                                   # (K, 1)
    mean = np.array([-1.5, -0.3, 0.0, 0.7, 1.2, 0.1, 0.5])[None, :]           # (1, 7)
    log_scale = np.array([-50.0, -3, 0, 3, 50, -6, 1])[None, :]
    for dtype, atol in [(np.float64, 1e-10), (np.float32, 1e-4)]:
        lp = L.discretized_logistic_log_prob(levels.astype(dtype), Tensor(mean.astype(dtype)),
                                             Tensor(log_scale.astype(dtype)), num_levels=K)
        np.testing.assert_allclose(np.exp(lp.data.astype(np.float64)).sum(axis=0), 1.0, atol=atol)


def test_mixture_of_one_is_the_single_logistic_and_matches_pixelcnnpp():
    rng = np.random.default_rng(0)
    x = grid(rng, (3, 5), 256)
    m, ls = rng.uniform(-1, 1, (3, 5, 1)), rng.uniform(-4, -2, (3, 5, 1))
    mix = L.discretized_mix_logistic_log_prob(x, Tensor(np.zeros((3, 5, 1))), Tensor(m), Tensor(ls))
    single = L.discretized_logistic_log_prob(x, Tensor(m[..., 0]), Tensor(ls[..., 0]))
    np.testing.assert_allclose(mix.data, single.data, atol=1e-12)
    # PixelCNN++'s own code (edges at +-0.999, exact where the bin mass exceeds 1e-5)
    centered, inv_s = x - m[..., 0], np.exp(-ls[..., 0])
    cdf_plus, cdf_min = np_sigmoid(inv_s * (centered + 1 / 255)), np_sigmoid(inv_s * (centered - 1 / 255))
    ref = np.where(x < -0.999, np.log(cdf_plus), np.where(x > 0.999, np.log(1 - cdf_min),
                                                          np.log(cdf_plus - cdf_min)))
    big = ref > np.log(1e-5)  # where PixelCNN++ uses the exact formula (and float64 does not cancel)
    assert big.sum() >= 5
    np.testing.assert_allclose(single.data[big], ref[big], rtol=1e-9)
    np.testing.assert_allclose(single.data, np_disc_logistic(x, m[..., 0], ls[..., 0], 256), rtol=1e-9)


# -- KL: analytic vs Monte Carlo ------------------------------------------------------------
def test_kl_normal_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mq, lq, mp, lp = np.array([0.3, -1.0]), np.array([-0.5, 0.4]), np.array([0.0, 1.0]), np.array([0.2, -0.3])
    z = mq + np.exp(0.5 * lq) * rng.standard_normal((200_000, 2))
    log_ratio = (L.log_normal_pdf(Tensor(z), Tensor(mq), Tensor(lq)).data
                 - L.log_normal_pdf(Tensor(z), Tensor(mp), Tensor(lp)).data)
    analytic = L.kl_normal(Tensor(mq), Tensor(lq), Tensor(mp), Tensor(lp), reduction="none").data
    se = log_ratio.std(axis=0) / np.sqrt(len(z))
    assert np.all(np.abs(log_ratio.mean(axis=0) - analytic) < 4 * se)
    std = L.kl_standard_normal(Tensor(mq), Tensor(lq), "none").data
    np.testing.assert_allclose(std, L.kl_normal(Tensor(mq), Tensor(lq), reduction="none").data, atol=1e-14)


def test_take_along_axis_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        L.take_along_axis(Tensor(np.zeros((2, 3))), np.zeros(3, dtype=int), axis=1)


# -- optional PyTorch oracle -------------------------------------------------------------
def test_torch_oracle_losses():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((4, 3, 2, 2)), rng.uniform(0, 1, (4, 3, 2, 2))
    target = rng.integers(0, 3, (4, 2, 2))
    mu, lv = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    cases = [
        (lambda a: L.binary_cross_entropy_with_logits(a, t), lambda a: tF.binary_cross_entropy_with_logits(
            a, torch.tensor(t)), z),
        (lambda a: L.cross_entropy(a, target), lambda a: tF.cross_entropy(a, torch.tensor(target)), z),
        (lambda a: L.mse(a, t, "sum"), lambda a: tF.mse_loss(a, torch.tensor(t), reduction="sum"), z),
        (lambda a: L.gaussian_nll(t, a, log_var=Tensor(np.ones_like(t) * 0.3)),
         lambda a: tF.gaussian_nll_loss(a, torch.tensor(t), torch.tensor(np.full(t.shape, np.exp(0.3))),
                                        full=True), z),
        (lambda a: L.kl_normal(a, Tensor(lv), 0.5, 0.2, "sum"),
         lambda a: torch.distributions.kl_divergence(
             torch.distributions.Normal(a, torch.exp(0.5 * torch.tensor(lv))),
             torch.distributions.Normal(torch.tensor(0.5, dtype=torch.float64),
                                        torch.tensor(np.exp(0.1)))).sum(), mu),
    ]
    for mine, theirs, x in cases:
        a, at = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = mine(a), theirs(at)
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10)
        y.backward(), yt.backward()
        np.testing.assert_allclose(a.grad.data, at.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, call, shapes", [
    ("mse", lambda a, b: L.mse(a, b), [(3,), (3, 1)]),
    ("binary_cross_entropy_with_logits", lambda a, b: L.binary_cross_entropy_with_logits(a, b), [(4, 2), (2,)]),
    ("gaussian_nll", lambda a, b: L.gaussian_nll(a, b, log_var=0.0), [(3,), (3, 1)]),
    ("kl_standard_normal", lambda a, b: L.kl_standard_normal(a, b), [(5, 2), (5, 1)]),
    ("kl_normal", lambda a, b: L.kl_normal(a, b), [(5, 2), (2,)]),
])
def test_prediction_and_target_shapes_must_agree(name, call, shapes):
    """mse of (3,) and (3, 1) used to broadcast to (3, 3) and average the wrong thing."""
    a, b = (Tensor(np.zeros(s), requires_grad=True) for s in shapes)
    with pytest.raises(ValueError, match=re.escape(f"{name}: ") + ".*" + re.escape(str(shapes[0]))
                       + ".*" + re.escape(str(shapes[1]))):
        call(a, b)
    assert L.mse(Tensor(np.ones(3)), 1.0).item() == 0.0          # a Python number is a constant target


@pytest.mark.parametrize("target_shape", [(4,), (5, 1), (5, 3)])
def test_cross_entropy_checks_the_label_shape(target_shape):
    logits = Tensor(np.zeros((5, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(f"shape (5,), got shape {target_shape}")):
        L.cross_entropy(logits, np.zeros(target_shape, dtype=np.int64))
