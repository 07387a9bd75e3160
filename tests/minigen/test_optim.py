"""Optimisers, clipping, schedules and EMA against closed-form steps written out in NumPy.

Each optimiser test feeds a fixed sequence of gradients (``p.grad`` set by hand, so
no autograd is involved) and compares with the update rule computed here in float64.
Where PyTorch is installed, trajectories are also compared with ``torch.optim``.
"""
import math
import re

import numpy as np
import pytest

from autograd import Tensor
from minigen.optim import SGD, Adam, AdamW, RMSprop, clip_grad_norm, grad_norm
from minigen.schedules import EMA, ConstantLR, CosineLR, StepLR, WarmupCosine, get_schedule


def _param(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([0.1, 0.4, -2.0])]
P0 = np.array([1.0, 2.0, -3.0])


def _run(opt_cls, grads=GRADS, **hyper):
    """Apply ``opt_cls`` to P0 with the gradient sequence; return every iterate."""
    p = _param(P0)
    opt = opt_cls([p], **hyper)
    out = []
    for g in grads:
        p.grad = Tensor(g.copy())
        opt.step()
        out.append(p.data.copy())
    return out


# ----------------------------------------------------------------------------- SGD


def test_sgd_plain_step():
    (p1, p2, _) = _run(SGD, lr=0.1)
    np.testing.assert_allclose(p1, P0 - 0.1 * GRADS[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p2, P0 - 0.1 * (GRADS[0] + GRADS[1]), rtol=0, atol=1e-15)


def test_sgd_momentum_matches_hand_computation():
    lr, mu = 0.1, 0.9
    p, b, expected = P0.copy(), None, []
    for g in GRADS:
        b = g.copy() if b is None else mu * b + g          # b_1 = g_1; b_t = mu b + g
        p = p - lr * b
        expected.append(p)
    for got, want in zip(_run(SGD, lr=lr, momentum=mu), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    # two steps written out: p2 = p0 - lr g1 - lr (mu g1 + g2)
    np.testing.assert_allclose(expected[1], P0 - lr * GRADS[0] - lr * (mu * GRADS[0] + GRADS[1]), rtol=1e-14)


def test_sgd_nesterov_and_weight_decay():
    lr, mu, wd = 0.05, 0.8, 0.1
    p, b, expected = P0.copy(), None, []
    for g in GRADS:
        g = g + wd * p
        b = g.copy() if b is None else mu * b + g
        p = p - lr * (g + mu * b)                           # Nesterov look-ahead
        expected.append(p)
    for got, want in zip(_run(SGD, lr=lr, momentum=mu, nesterov=True, weight_decay=wd), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_sgd_rejects_nesterov_without_momentum():
    with pytest.raises(ValueError, match="momentum"):
        SGD([_param(P0)], nesterov=True)


# ----------------------------------------------------------------------------- Adam / AdamW


def _adam_reference(lr, b1, b2, eps, wd=0.0, decoupled=False):
    """Kingma & Ba (2015) Algorithm 1, written with m_hat and v_hat."""
    p, m, v, out = P0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p - lr * wd * p
        elif wd:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def test_adam_first_step_is_lr_times_sign_of_gradient():
    # bias correction makes m_hat = g and v_hat = g^2 on step 1, so the step is lr * g / (|g| + eps)
    (p1, _, _) = _run(Adam, lr=0.01, eps=1e-8)
    np.testing.assert_allclose(p1, P0 - 0.01 * GRADS[0] / (np.abs(GRADS[0]) + 1e-8), rtol=1e-14)


def test_adam_matches_algorithm_1():
    got = _run(Adam, lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    for a, b in zip(got, _adam_reference(0.01, 0.9, 0.999, 1e-8)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_adam_l2_weight_decay_goes_through_the_gradient():
    got = _run(Adam, lr=0.01, weight_decay=0.1)
    for a, b in zip(got, _adam_reference(0.01, 0.9, 0.999, 1e-8, wd=0.1)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_adamw_decoupled_decay():
    lr, wd = 0.01, 0.1
    (p1, *_) = got = _run(AdamW, lr=lr, weight_decay=wd)
    np.testing.assert_allclose(p1, P0 * (1 - lr * wd) - lr * GRADS[0] / (np.abs(GRADS[0]) + 1e-8),
                               rtol=1e-14)
    for a, b in zip(got, _adam_reference(lr, 0.9, 0.999, 1e-8, wd=wd, decoupled=True)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


# ----------------------------------------------------------------------------- RMSprop


@pytest.mark.parametrize("centered,momentum", [(False, 0.0), (True, 0.0), (False, 0.9), (True, 0.5)])
def test_rmsprop_matches_hand_computation(centered, momentum):
    lr, alpha, eps = 0.01, 0.9, 1e-8
    p, v, c, b, expected = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for g in GRADS:
        v = alpha * v + (1 - alpha) * g * g
        c = alpha * c + (1 - alpha) * g
        s = v - c * c if centered else v
        d = g / (np.sqrt(s) + eps)
        if momentum:
            b = momentum * b + d
            d = b
        p = p - lr * d
        expected.append(p)
    got = _run(RMSprop, lr=lr, alpha=alpha, eps=eps, centered=centered, momentum=momentum)
    for a, e in zip(got, expected):
        np.testing.assert_allclose(a, e, rtol=1e-13)


# ----------------------------------------------------------------------------- bookkeeping


def test_zero_grad_skip_none_and_param_groups():
    a, b = _param([1.0, 1.0]), _param([1.0])
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = Tensor(np.array([1.0, 2.0])), None
    opt.step()                                   # b has no gradient: untouched
    np.testing.assert_array_equal(a.data, [0.9, 0.8])
    np.testing.assert_array_equal(b.data, [1.0])
    b.grad = Tensor(np.array([0.5]))
    opt.step()
    np.testing.assert_array_equal(b.data, [0.5])  # the group's own lr
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_updates_keep_float32_and_the_same_arrays():
    p = _param(np.ones(4), dtype=np.float32)
    array = p.data
    opt = Adam([p], lr=0.1)
    p.grad = Tensor(np.full(4, 0.5, np.float32))
    opt.step()
    assert p.data is array and p.data.dtype == np.float32          # updated in place
    assert opt.state[0]["exp_avg"].dtype == np.float32


def test_gradients_are_never_modified():
    g = np.array([0.5, -1.0, 2.0])
    for cls, kw in [(SGD, dict(momentum=0.9, nesterov=True, weight_decay=0.1)),
                    (Adam, dict(weight_decay=0.1)), (AdamW, {}),
                    (RMSprop, dict(centered=True, momentum=0.9, weight_decay=0.1))]:
        p = _param(P0)
        p.grad = Tensor(g.copy())
        opt = cls([p], **kw)
        opt.step()
        opt.step()
        np.testing.assert_array_equal(p.grad.data, g, err_msg=cls.__name__)


@pytest.mark.parametrize("cls,kw", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=0.01)),
                                    (RMSprop, dict(lr=0.01, momentum=0.5, centered=True))])
def test_state_dict_resume_is_exact(cls, kw):
    straight = _run(cls, **kw)[-1]
    p = _param(P0)
    opt = cls([p], **kw)
    for g in GRADS[:2]:
        p.grad = Tensor(g.copy())
        opt.step()
    state = opt.state_dict()
    assert all(isinstance(v, (np.ndarray, int)) for s in state["state"].values() for v in s.values())
    p2 = _param(p.data.copy())                   # "a new process": new objects
    opt2 = cls([p2], **kw)
    opt2.load_state_dict(state)
    p2.grad = Tensor(GRADS[2].copy())
    opt2.step()
    assert np.array_equal(p2.data, straight)


def test_load_state_dict_checks_shapes():
    opt = Adam([_param(P0)])
    with pytest.raises(ValueError, match="groups"):
        opt.load_state_dict({"param_groups": [], "state": {}})


# ----------------------------------------------------------------------------- clipping


def test_clip_grad_norm_scales_to_max_norm_and_returns_total():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad, b.grad = Tensor(np.array([3.0, 4.0])), Tensor(np.array([12.0]))   # norm 13
    total = clip_grad_norm([a, b], 6.5)
    assert total == pytest.approx(13.0)
    coef = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(a.grad.data, [3 * coef, 4 * coef], rtol=1e-15)
    np.testing.assert_allclose(b.grad.data, [12 * coef], rtol=1e-15)
    assert grad_norm([a, b]) == pytest.approx(6.5, rel=1e-6)


def test_clip_grad_norm_leaves_small_gradients_alone_and_shared_ones_scaled_once():
    a = _param([0.0])
    a.grad = Tensor(np.array([0.5]))
    assert clip_grad_norm([a], 1.0) == pytest.approx(0.5)
    assert a.grad.data[0] == 0.5
    # the engine can hand one gradient Tensor to two leaves (y = a + b): scale it once
    a, b = _param([1.0, 1.0]), _param([1.0, 1.0])
    (a + b).sum().backward()
    total = clip_grad_norm([a, b], 1.0)
    assert total == pytest.approx(2.0)
    np.testing.assert_allclose(a.grad.data, 0.5 / (1 + 5e-7), rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, 0.5 / (1 + 5e-7), rtol=1e-12)


# ----------------------------------------------------------------------------- PyTorch oracle


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.95, momentum=0.5, centered=True)),
])
def test_trajectory_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((4, 3)) for _ in range(20)]
    p = _param(rng.standard_normal((4, 3)))
    tp = torch.tensor(p.data.copy(), requires_grad=True)
    ours = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop}[name]([p], **kw)
    theirs = getattr(torch.optim, name)([tp], **kw)
    for g in grads:
        p.grad = Tensor(g.copy())
        ours.step()
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- schedules


def _opt(lr=1.0):
    return SGD([_param([0.0])], lr=lr)


def test_schedule_values():
    s = StepLR(_opt(2.0), step_size=3, gamma=0.5)
    lrs = []
    for _ in range(7):
        lrs.append(s.optimizer.lr)
        s.step()
    assert lrs == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5]
    c = CosineLR(_opt(1.0), total_steps=10, min_factor=0.1)
    assert c.lr_at(0) == 1.0
    assert c.lr_at(5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert c.lr_at(10) == pytest.approx(0.1) and c.lr_at(50) == pytest.approx(0.1)
    w = WarmupCosine(_opt(1.0), warmup_steps=4, total_steps=14)
    assert [w.lr_at(t) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert w.lr_at(4) == 1.0 and w.lr_at(9) == pytest.approx(0.5) and w.lr_at(14) == pytest.approx(0.0)
    assert ConstantLR(_opt(0.3)).lr_at(1000) == 0.3
    assert isinstance(get_schedule("cosine", _opt(), total_steps=5), CosineLR)
    with pytest.raises(KeyError, match="warmup-cosine"):
        get_schedule("nope", _opt())


def test_schedule_sets_lr_and_resumes():
    opt = _opt(1.0)
    s = CosineLR(opt, total_steps=10)
    for _ in range(4):
        s.step()
    assert opt.lr == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.4)))
    opt2 = _opt(1.0)
    s2 = CosineLR(opt2, total_steps=10)
    s2.load_state_dict(s.state_dict())
    s.step()
    s2.step()
    assert opt2.lr == opt.lr


# ----------------------------------------------------------------------------- EMA


def test_ema_update_apply_restore_and_state():
    p = _param([0.0, 10.0])
    ema = EMA([p], decay=0.9)
    p.data[...] = [1.0, 0.0]
    ema.update()                                    # s = 0.9 s + 0.1 p
    np.testing.assert_allclose(ema.shadow["0"], [0.1, 9.0], rtol=1e-14)
    p.data[...] = [2.0, 0.0]
    ema.update()
    np.testing.assert_allclose(ema.shadow["0"], [0.9 * 0.1 + 0.2, 8.1], rtol=1e-14)
    with ema.averaged():
        np.testing.assert_allclose(p.data, [0.29, 8.1], rtol=1e-14)
    np.testing.assert_array_equal(p.data, [2.0, 0.0])
    ema.apply_to()
    with pytest.raises(RuntimeError):
        ema.apply_to()
    ema.restore()
    ema2 = EMA([_param([5.0, 5.0])], decay=0.5)
    ema2.load_state_dict(ema.state_dict())
    assert ema2.decay == 0.9 and ema2.num_updates == 2
    np.testing.assert_array_equal(ema2.shadow["0"], ema.shadow["0"])


def test_ema_warmup_decay():
    ema = EMA([_param([0.0])], decay=0.999, warmup=True)
    assert ema.current_decay() == pytest.approx(1 / 10)
    ema.update()
    assert ema.current_decay() == pytest.approx(2 / 11)


# ----------------------------------------------------------------------------- invalid hyper-parameters

BAD_HYPER = [  # (optimizer, keyword arguments, the argument the message must name, what is allowed)
    (SGD, dict(lr=-1), "lr=-1", "> 0"),                    # --lr -1 used to train on NaN
    (SGD, dict(lr=0.0), "lr=0.0", "> 0"),
    (Adam, dict(lr=float("nan")), "lr=nan", "finite"),
    (Adam, dict(betas=(0.9, 1.0)), "betas=(0.9, 1.0)", "[0, 1)"),
    (Adam, dict(betas=(-0.1, 0.999)), "betas=(-0.1, 0.999)", "[0, 1)"),
    (AdamW, dict(betas=0.9), "betas=0.9", "pair"),
    (Adam, dict(eps=-1e-8), "eps=-1e-08", ">= 0"),
    (AdamW, dict(weight_decay=-0.01), "weight_decay=-0.01", ">= 0"),
    (SGD, dict(lr=0.1, momentum=-0.5), "momentum=-0.5", ">= 0"),
    (RMSprop, dict(momentum=-0.1), "momentum=-0.1", ">= 0"),
    (RMSprop, dict(alpha=1.5), "alpha=1.5", "[0, 1)"),
    (RMSprop, dict(lr="1e-3"), "lr='1e-3'", "> 0"),
]


@pytest.mark.parametrize("cls, kw, named, allowed", BAD_HYPER, ids=[f"{c.__name__}-{n}" for c, _, n, _ in BAD_HYPER])
def test_invalid_hyperparameters_are_rejected_naming_argument_value_and_range(cls, kw, named, allowed):
    with pytest.raises(ValueError) as e:
        cls([_param(P0)], **kw)
    msg = str(e.value)
    assert msg.startswith(cls.__name__) and named in msg and allowed in msg


def test_invalid_hyperparameter_in_a_param_group_names_the_group():
    with pytest.raises(ValueError, match=r"lr=-0.1 \(param group 1\)"):
        Adam([{"params": [_param(P0)]}, {"params": [_param(P0)], "lr": -0.1}])


@pytest.mark.parametrize("params", [[], iter([]), [{"params": []}]])
def test_empty_parameter_lists_are_rejected(params):
    with pytest.raises(ValueError, match="params is empty"):
        Adam(params)


@pytest.mark.parametrize("make, named", [
    (lambda o: StepLR(o, step_size=0), "step_size=0"),
    (lambda o: StepLR(o, step_size=2, gamma=0.0), "gamma=0.0"),
    (lambda o: StepLR(o, step_size=2, gamma=-0.5), "gamma=-0.5"),
    (lambda o: CosineLR(o, total_steps=0), "total_steps=0"),
    (lambda o: CosineLR(o, total_steps=5, min_factor=1.5), "min_factor=1.5"),
    (lambda o: WarmupCosine(o, warmup_steps=5, total_steps=5), "warmup_steps=5"),
    (lambda o: WarmupCosine(o, warmup_steps=-1, total_steps=5), "warmup_steps=-1"),
    (lambda o: WarmupCosine(o, warmup_steps=1, total_steps=5, min_factor=-0.1), "min_factor=-0.1"),
    (lambda o: EMA([_param(P0)], decay=1.0), "decay=1.0"),
])
def test_invalid_schedule_arguments_are_rejected(make, named):
    with pytest.raises(ValueError, match=re.escape(named) + " is invalid"):
        make(_opt())


# ----------------------------------------------------------------------------- the fused Adam kernel


@pytest.mark.parametrize("cls,kw", [(Adam, {}), (Adam, dict(weight_decay=0.1)),
                                    (AdamW, dict(weight_decay=0.1))])
def test_fused_adam_gives_the_bits_of_its_numpy_twin(cls, kw, monkeypatch):
    """Adam runs the fused kernel (autograd.ops.adam_step); kernels/reference/optim.py, the
    NumPy update written line by line, gives the same float32 bits, step after step."""
    import minigen.optim
    from kernels.reference import adam_step as twin
    rng = np.random.default_rng(0)
    shapes = [(3, 5), (200_003,), (1,)]            # odd sizes; one large enough to run in parallel
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(4)]
    results = []
    for step_fn in (minigen.optim.adam_step, twin):
        monkeypatch.setattr(minigen.optim, "adam_step", step_fn)
        ps = [Tensor(np.linspace(-1, 1, math.prod(s), dtype=np.float32).reshape(s), requires_grad=True)
              for s in shapes]
        opt = cls(ps, lr=1e-2, **kw)
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = Tensor(g)
            opt.step()
        results.append([p.data for p in ps] +
                       [s[k] for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq")])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
