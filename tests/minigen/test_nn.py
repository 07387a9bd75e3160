"""minigen.nn layers and Module bookkeeping. LAYERS lists every layer once (PyTorch's OpInfo
idea); one test gradchecks every entry in float64 on its inputs and all parameters, another
checks that every layer exported by ``minigen.nn`` has an entry, so nothing escapes."""
import re
from dataclasses import dataclass

import numpy as np
import pytest

import autograd
from autograd import Tensor, gradcheck, gradgradcheck
from minigen import nn
from minigen.nn.masked import CausalConv1d, MaskedConv2d

F64 = np.float64


def randn(rng, *shape):
    return rng.standard_normal(shape)


def away_from_zero(rng, *shape):
    """Inputs at least 0.1 away from the kink of ReLU-like functions."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


def flat(out):
    """Flatten nested (outputs, (h, c)) results into one tuple of Tensors."""
    if not isinstance(out, (tuple, list)):
        return (out,)
    return tuple(t for o in out for t in flat(o))


@dataclass
class LayerInfo:
    name: str
    make: callable                      # (rng, dtype) -> Module
    inputs: callable                    # rng -> list of arrays
    call: callable = lambda m, *xs: m(*xs)   # (module, *inputs) -> Tensor(s)
    modes: tuple = ("train",)           # where behaviour differs: ("train", "eval")
    gradcheck_mode: str = "auto"
    prepare: callable = None            # (module, rng) -> None, e.g. set running stats


def _bn_stats(m, rng):
    m.running_mean.data = rng.standard_normal(m.num_features)
    m.running_var.data = rng.uniform(0.5, 2.0, m.num_features)


def batchnorm(name, make, shape, prepare=_bn_stats):
    """A BatchNorm entry: checked in training (batch statistics) and eval (running ones)."""
    return LayerInfo(name, make, lambda r: [randn(r, *shape)], modes=("train", "eval"), prepare=prepare)


LAYERS = [
    LayerInfo("Linear", lambda r, d: nn.Linear(4, 3, rng=r, dtype=d), lambda r: [randn(r, 2, 4)]),
    LayerInfo("Linear-3d-nobias", lambda r, d: nn.Linear(4, 3, False, rng=r, dtype=d),
              lambda r: [randn(r, 2, 3, 4)]),
    LayerInfo("Embedding", lambda r, d: nn.Embedding(5, 3, rng=r, dtype=d),   # 6 draws of 5: repeats
              lambda r: [r.integers(0, 5, (2, 3))]),
    LayerInfo("Dropout", lambda r, d: nn.Dropout(0.3), lambda r: [randn(r, 3, 4)],
              call=lambda m, x: m(x, rng=autograd.rng(7)), modes=("train", "eval")),
    LayerInfo("Identity", lambda r, d: nn.Identity(), lambda r: [randn(r, 2, 3)]),
    LayerInfo("Flatten", lambda r, d: nn.Flatten(), lambda r: [randn(r, 2, 3, 2)]),
    LayerInfo("Reshape", lambda r, d: nn.Reshape(3, 2), lambda r: [randn(r, 2, 6)]),
] + [  # activations (inputs kept away from kinks)
    LayerInfo(type(act).__name__, lambda r, d, act=act: act, lambda r: [away_from_zero(r, 2, 4, 3)])
    for act in (nn.ReLU(), nn.LeakyReLU(0.2), nn.Tanh(), nn.Sigmoid(), nn.ELU(0.7), nn.GELU(), nn.Softplus(),
                nn.LogSoftmax(axis=1), nn.Softmax())
] + [
    batchnorm("BatchNorm1d", lambda r, d: nn.BatchNorm1d(3, dtype=d), (5, 3)),
    batchnorm("BatchNorm1d-3d", lambda r, d: nn.BatchNorm1d(3, dtype=d), (4, 3, 2)),
    batchnorm("BatchNorm1d-batch-stats-only",
              lambda r, d: nn.BatchNorm1d(3, affine=False, track_running_stats=False, dtype=d), (5, 3), None),
    batchnorm("BatchNorm2d", lambda r, d: nn.BatchNorm2d(3, dtype=d), (2, 3, 2, 3)),
    LayerInfo("LayerNorm", lambda r, d: nn.LayerNorm(4, dtype=d), lambda r: [randn(r, 2, 3, 4)]),
    LayerInfo("LayerNorm-2axes", lambda r, d: nn.LayerNorm((3, 4), dtype=d), lambda r: [randn(r, 2, 3, 4)]),
    LayerInfo("GroupNorm", lambda r, d: nn.GroupNorm(2, 4, dtype=d), lambda r: [randn(r, 2, 4, 3)]),
    LayerInfo("GroupNorm-silu", lambda r, d: nn.GroupNorm(3, 6, activation="silu", dtype=d),
              lambda r: [randn(r, 2, 6, 3, 2)]),
    LayerInfo("GroupNorm-4d-noaffine", lambda r, d: nn.GroupNorm(1, 2, affine=False, dtype=d),
              lambda r: [randn(r, 2, 2, 2, 2)]),
    LayerInfo("LSTMCell", lambda r, d: nn.LSTMCell(3, 4, rng=r, dtype=d),
              lambda r: [randn(r, 2, 3), randn(r, 2, 4), randn(r, 2, 4)],
              call=lambda m, x, h, c: m(x, (h, c))),
    LayerInfo("LSTM", lambda r, d: nn.LSTM(3, 4, num_layers=2, batch_first=True, rng=r, dtype=d),
              lambda r: [randn(r, 2, 5, 3), randn(r, 2, 2, 4), randn(r, 2, 2, 4)],
              call=lambda m, x, h, c: flat(m(x, (h, c))), gradcheck_mode="directional"),
    LayerInfo("GRUCell", lambda r, d: nn.GRUCell(3, 4, rng=r, dtype=d),
              lambda r: [randn(r, 2, 3), randn(r, 2, 4)]),
    LayerInfo("Conv2d", lambda r, d: nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=r, dtype=d),
              lambda r: [randn(r, 2, 2, 5, 5)]),
    LayerInfo("ConvTranspose2d", lambda r, d: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, rng=r, dtype=d),
              lambda r: [randn(r, 2, 2, 3, 3)]),
    LayerInfo("AvgPool2d", lambda r, d: nn.AvgPool2d(2), lambda r: [randn(r, 2, 2, 4, 4)]),
    LayerInfo("MaxPool2d", lambda r, d: nn.MaxPool2d(2), lambda r: [randn(r, 2, 2, 4, 4)]),
    LayerInfo("Upsample", lambda r, d: nn.Upsample(2), lambda r: [randn(r, 2, 2, 3, 3)]),
    LayerInfo("MaskedConv2d-A", lambda r, d: MaskedConv2d(3, 6, 3, "A", groups=3, rng=r, dtype=d),
              lambda r: [randn(r, 2, 3, 4, 4)]),
    LayerInfo("CausalConv1d", lambda r, d: CausalConv1d(2, 3, 2, dilation=2, rng=r, dtype=d),
              lambda r: [randn(r, 2, 2, 7)]),
    LayerInfo("MaskedLinear", lambda r, d: nn.MaskedLinear(4, 3, np.tril(np.ones((3, 4)), 1), rng=r,
                                                           dtype=d),
              lambda r: [randn(r, 2, 5, 4)]),
    LayerInfo("Sequential-MLP", lambda r, d: nn.Sequential(nn.Linear(3, 8, rng=r, dtype=d), nn.Tanh(),
                                                           nn.Linear(8, 2, rng=r, dtype=d)),
              lambda r: [randn(r, 4, 3)]),
]

if hasattr(nn, "Flow"):  # bijections (issue 9's nn/flows.py): forward(x) -> (z, log_det_J)
    def _coupling(r, d):
        net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, rng=r, dtype=d), nn.Tanh())
        return nn.AffineCoupling(_Split(net), nn.checkerboard_mask(2, 3), 2, dtype=d)

    def _actnorm_init(m, rng):
        m(Tensor(rng.standard_normal((4, 3, 2, 2))))          # the data-dependent initialisation

    LAYERS += [
        LayerInfo("AffineCoupling", _coupling, lambda r: [randn(r, 2, 2, 2, 3)], call=lambda m, x: flat(m(x))),
        LayerInfo("ActNorm", lambda r, d: nn.ActNorm(3, dtype=d), lambda r: [randn(r, 2, 3, 2, 2)],
                  call=lambda m, x: flat(m(x)), prepare=_actnorm_init),
        LayerInfo("LogitTransform", lambda r, d: nn.LogitTransform(0.05),
                  lambda r: [r.uniform(0.1, 0.9, (2, 3))], call=lambda m, x: flat(m(x))),
        LayerInfo("FlowSequence-Squeeze", lambda r, d: nn.FlowSequence([nn.Squeeze()]),
                  lambda r: [randn(r, 2, 1, 4, 4)], call=lambda m, x: flat(m(x))[:1]),
    ]


if hasattr(nn, "Planar"):  # issue 12: planar / radial, NICE, Glow's 1x1 convolution, MAF / IAF
    def _moved(m, rng):
        for p in m.parameters():                              # off the start (s = 0, rotations, ...)
            p.data = p.data + 0.3 * rng.standard_normal(p.shape)

    def _both(m, x):
        return flat(m(x))

    LAYERS += [
        LayerInfo("Planar", lambda r, d: nn.Planar(3, rng=r, dtype=d), lambda r: [randn(r, 4, 3)], call=_both),
        LayerInfo("Radial", lambda r, d: nn.Radial(3, rng=r, dtype=d), lambda r: [randn(r, 4, 3)], call=_both),
        LayerInfo("AdditiveCoupling", lambda r, d: nn.AdditiveCoupling(nn.Linear(2, 2, rng=r, dtype=d), [0, 2],
                                                                       [1, 3]),
                  lambda r: [randn(r, 3, 4)], call=lambda m, x: flat(m(x))[:1]),   # log_det_J = 0
        LayerInfo("RQSplineCoupling",   # K = 3 bins: the net gives 3K - 1 = 8 numbers per changed value
                  lambda r, d: nn.RQSplineCoupling(nn.Linear(2, 2 * 8, rng=r, dtype=d), [0, 2], [1, 3], bins=3),
                  lambda r: [randn(r, 3, 4)], call=_both),
        LayerInfo("DiagonalScaling", lambda r, d: nn.DiagonalScaling(4, dtype=d), lambda r: [randn(r, 3, 4)],
                  call=_both, prepare=_moved),
        LayerInfo("InvertibleConv1x1-LU", lambda r, d: nn.InvertibleConv1x1(3, lu=True, rng=r, dtype=d),
                  lambda r: [randn(r, 2, 3, 2, 2)], call=_both, prepare=_moved),
        LayerInfo("InvertibleConv1x1-plain", lambda r, d: nn.InvertibleConv1x1(3, lu=False, rng=r, dtype=d),
                  lambda r: [randn(r, 2, 3)], call=_both, prepare=_moved),
        LayerInfo("MaskedAutoregressiveAffine-MAF", lambda r, d: nn.MaskedAutoregressiveAffine(4, (8,), rng=r,
                                                                                              dtype=d),
                  lambda r: [randn(r, 3, 4)], call=_both),
        LayerInfo("MaskedAutoregressiveAffine-IAF", lambda r, d: nn.MaskedAutoregressiveAffine(
            4, (8,), [4, 2, 3, 1], inverted=True, rng=r, dtype=d), lambda r: [randn(r, 3, 4)], call=_both),
    ]


if hasattr(nn, "SelfAttention2d"):  # issue 13: the diffusion U-Net's pieces (attention composed from ops)
    from minigen.nn.unet import ResBlock

    LAYERS += [
        LayerInfo("SiLU", lambda r, d: nn.SiLU(), lambda r: [randn(r, 2, 4, 3)]),
        LayerInfo("SelfAttention2d", lambda r, d: nn.SelfAttention2d(4, num_heads=2, groups=2, rng=r, dtype=d),
                  lambda r: [randn(r, 2, 4, 2, 3)]),
        LayerInfo("ResBlock", lambda r, d: _perturbed(ResBlock(2, 4, 3, groups=2, rng=r, dtype=d), r),
                  lambda r: [randn(r, 2, 2, 3, 3), randn(r, 2, 3)],     # (x, emb); the U-Net: test_ddpm.py
                  gradcheck_mode="directional"),
    ]


def _perturbed(m, rng):
    """Move every parameter off its initial value (the U-Net starts some convolutions at zero)."""
    for p in m.parameters():
        p.data = p.data + (0.3 * rng.standard_normal(p.shape)).astype(p.dtype)
    return m


CASES = [(info, mode) for info in LAYERS for mode in info.modes]


class _Split(nn.Module):
    """net(h) split in two along channels: the (s_raw, t) pair a coupling layer wants."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, h):
        y = self.net(h)
        return y[:, :2], y[:, 2:]


def build(info, seed=0):
    rng = autograd.rng(seed)
    m = info.make(rng, F64)
    if info.prepare:
        info.prepare(m, rng)
    return m, [np.asarray(a) for a in info.inputs(rng)]


@pytest.mark.parametrize("info,mode", CASES, ids=[f"{i.name}-{m}" for i, m in CASES])
def test_layer_gradcheck(info, mode):
    m, inputs = build(info)
    m.train(mode == "train")
    assert gradcheck(lambda *xs: info.call(m, *xs), inputs, params=m.parameters(), mode=info.gradcheck_mode,
                     n_directions=3)


@pytest.mark.parametrize("name", ["Linear", "LayerNorm", "LSTMCell"])
def test_layer_gradgradcheck(name):
    info = next(i for i in LAYERS if i.name == name)
    m, inputs = build(info)
    assert gradgradcheck(lambda *xs: info.call(m, *xs), inputs, params=m.parameters())


def test_every_exported_layer_is_in_the_table():
    covered = {type(m) for info in LAYERS for m in build(info)[0].modules()}
    exported = {c for c in map(vars(nn).get, nn.__all__) if isinstance(c, type) and issubclass(c, nn.Module)}
    abstract = {nn.Module, nn.ModuleList, nn.ModuleDict, getattr(nn, "Flow", nn.Module)}   # base classes
    missing = sorted(c.__name__ for c in exported - covered - abstract)
    assert not missing, f"layers without a LAYERS entry: {missing}"


@pytest.mark.parametrize("info", [i for i in LAYERS if i.name != "Embedding"], ids=lambda i: i.name)
def test_float32_forward_keeps_dtype(info):
    rng = autograd.rng(0)
    m, inputs = info.make(rng, np.float32), [Tensor(a.astype(np.float32)) for a in info.inputs(rng)]
    assert all(y.dtype == np.float32 for y in flat(info.call(m, *inputs)))


# -- Module bookkeeping ---------------------------------------------------------------
class Net(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(2, 3, rng=rng), nn.ReLU(), nn.BatchNorm1d(3))
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.head = nn.Linear(3, 1, rng=rng)
        self.register_buffer("steps", np.zeros((), np.float32))

    def forward(self, x):
        return self.head(self.enc(x)) * self.scale


def test_names_order_counts_and_repr():
    net = Net(autograd.rng(0))
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "enc.0.weight", "enc.0.bias", "enc.2.weight", "enc.2.bias", "head.weight", "head.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "enc.2.running_mean", "enc.2.running_var"]
    assert net.num_parameters() == 1 + 6 + 3 + 3 + 3 + 3 + 1
    assert [type(c).__name__ for c in net.children()] == ["Sequential", "Linear"]
    assert len(net.modules()) == 6
    text = repr(net)
    assert text.startswith("Net(  # 20 parameters\n  (enc): Sequential(  # 15 parameters\n")
    assert "(0): Linear(in_features=2, out_features=3, bias=True)  # 9 parameters\n    (1): ReLU()\n" in text
    assert repr(nn.Parameter(np.zeros(2))).startswith("Parameter(")


def test_registration_rules_and_clear_errors():
    a = nn.Linear(2, 2, rng=autograd.rng(0))
    assert len(nn.Sequential(a, a).parameters()) == 2
    a.bias = None                                   # unregisters the parameter
    assert [n for n, _ in a.named_parameters()] == ["weight"]
    net = Net(autograd.rng(0))
    net.steps = np.ones((), np.float32)             # a buffer stays a buffer when reassigned
    assert isinstance(net.steps, Tensor) and "steps" in net.state_dict()
    del net.head
    assert "head.weight" not in net.state_dict()

    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()
    with pytest.raises(TypeError):
        nn.Linear(2, 3)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        nn.Linear(2, 3, rng=0)


def test_state_dict_round_trip_and_copies():
    x = Tensor(np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32))
    a, b = Net(autograd.rng(0)), Net(autograd.rng(1))
    a(x)                                            # update a's running stats
    a.eval(), b.eval()
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["head.weight"][...] = 0                   # a copy: the module is unchanged
    assert np.any(a.head.weight.data != 0)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    np.testing.assert_array_equal(b.enc[2].running_mean.data, a.enc[2].running_mean.data)


def test_load_state_dict_errors():
    net = Net(autograd.rng(0))
    state = net.state_dict()
    missing = {k: v for k, v in state.items() if k != "head.bias"}
    with pytest.raises(RuntimeError, match=r"missing keys \['head.bias'\], unexpected keys \[\]"):
        net.load_state_dict(missing)
    with pytest.raises(RuntimeError, match=r"unexpected keys \['extra'\]"):
        net.load_state_dict({**state, "extra": np.zeros(1)})
    with pytest.raises(RuntimeError, match=re.escape("head.weight: shape (2, 3) in state, (1, 3)")):
        net.load_state_dict({**state, "head.weight": np.zeros((2, 3), np.float32)})
    with pytest.raises(RuntimeError, match="head.weight: dtype float64 in state, float32"):
        net.load_state_dict({**state, "head.weight": np.zeros((1, 3))})
    assert net.load_state_dict(missing, strict=False) == (["head.bias"], [])


def test_train_eval_propagate_and_zero_grad():
    net = Net(autograd.rng(0))
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    assert net.train().enc[2].training
    net(Tensor(np.ones((4, 2), np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_astype_in_place_keeps_parameter_identity():
    net = Net(autograd.rng(0))
    params = net.parameters()
    assert net.double() is net
    assert all(p is q and p.dtype == np.float64 for p, q in zip(params, net.parameters()))
    assert all(b.dtype == np.float64 for _, b in net.named_buffers())
    assert net(Tensor(np.ones((3, 2)))).dtype == np.float64
    with pytest.raises(TypeError, match="mixed float dtypes"):
        net(Tensor(np.ones((3, 2), np.float32)))
    net.float()
    assert all(p.dtype == np.float32 for p in params)
    assert net.to("cpu") is net


def test_containers():
    rng = autograd.rng(0)
    seq = nn.Sequential(nn.Linear(2, 3, rng=rng), nn.Tanh(), nn.Linear(3, 1, rng=rng))
    assert len(seq) == 3 and isinstance(seq[1], nn.Tanh) and isinstance(seq[:2], nn.Sequential)
    x = Tensor(np.ones((2, 2), np.float32))
    np.testing.assert_allclose(seq(x).data, seq[2](seq[1](seq[0](x))).data)
    ml = nn.ModuleList([nn.ReLU()]).append(nn.Linear(1, 1, rng=rng))
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    md = nn.ModuleDict({"enc": nn.Linear(1, 2, rng=rng), "act": nn.ReLU()})
    assert md.keys() == ["enc", "act"] and "enc" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["enc.weight", "enc.bias"]
    with pytest.raises(TypeError):
        nn.ModuleList([3])


# -- layer behaviour ------------------------------------------------------------------
def test_embedding_accumulates_repeated_indices():
    m = nn.Embedding(4, 2, rng=autograd.rng(0))
    m(np.array([1, 1, 3])).sum().backward()
    np.testing.assert_array_equal(m.weight.grad.data, [[0, 0], [2, 2], [0, 0], [1, 1]])
    with pytest.raises(TypeError, match="integer"):
        m(np.array([0.5]))


def test_dropout_train_eval_and_rng():
    x, d = Tensor(np.ones((200, 100), np.float32)), nn.Dropout(0.25, rng=autograd.rng(0))
    y = d(x).data  # inverted dropout: kept values scaled by 1 / (1 - p)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01 and abs(y.mean() - 1) < 0.02
    np.testing.assert_array_equal(d(x, rng=autograd.rng(3)).data, d(x, rng=autograd.rng(3)).data)
    assert d.eval()(x) is x
    with pytest.raises(ValueError, match="generator"):
        nn.Dropout(0.5)(x)


def test_batchnorm_running_stats_and_eval():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3, momentum=0.2, dtype=F64)
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 2, 2)) * 2 + 1
        mean, var, var_unbiased = x.mean((0, 2, 3)), x.var((0, 2, 3)), x.var((0, 2, 3), ddof=1)
        ref = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
        np.testing.assert_allclose(bn(Tensor(x)).data, ref, atol=1e-10)
        rm, rv = 0.8 * rm + 0.2 * mean, 0.8 * rv + 0.2 * var_unbiased
        np.testing.assert_allclose(bn.running_mean.data, rm)
        np.testing.assert_allclose(bn.running_var.data, rv)
    x = rng.standard_normal((2, 3, 2, 2))
    ref = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    np.testing.assert_allclose(bn.eval()(Tensor(x)).data, ref, atol=1e-10)
    np.testing.assert_allclose(bn.running_mean.data, rm)  # unchanged in eval
    with pytest.raises(ValueError, match="rank 4"):
        bn(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="more than one value"):
        nn.BatchNorm1d(3)(Tensor(np.ones((1, 3), np.float32)))


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_recurrent_against_numpy():
    lstm = nn.LSTM(3, 4, num_layers=2, rng=autograd.rng(0), dtype=F64)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    out, (h, c) = lstm(Tensor(x))
    seq = x
    for layer, cell in enumerate(lstm.cells):   # equations of recurrent.py, gates i, f, g, o
        W_ih, W_hh, b = cell.weight_ih.data, cell.weight_hh.data, cell.bias_ih.data + cell.bias_hh.data
        h_t, c_t, outs = np.zeros((2, 4)), np.zeros((2, 4)), []
        for t in range(5):
            i, f, g, o = np.split(seq[t] @ W_ih.T + h_t @ W_hh.T + b, 4, axis=-1)
            c_t = np_sigmoid(f) * c_t + np_sigmoid(i) * np.tanh(g)
            h_t = np_sigmoid(o) * np.tanh(c_t)
            outs.append(h_t)
        seq = np.stack(outs)
        np.testing.assert_allclose(h.data[layer], h_t, atol=1e-12)
        np.testing.assert_allclose(c.data[layer], c_t, atol=1e-12)
    np.testing.assert_allclose(out.data, seq, atol=1e-12)
    lstm.batch_first = True
    np.testing.assert_allclose(lstm(Tensor(x.transpose(1, 0, 2)))[0].data, seq.transpose(1, 0, 2), atol=1e-12)
    gru, h0 = nn.GRUCell(3, 4, rng=autograd.rng(0), dtype=F64), np.random.default_rng(2).normal(size=(2, 4))
    x_r, x_z, x_n = np.split(x[0] @ gru.weight_ih.data.T + gru.bias_ih.data, 3, axis=-1)
    h_r, h_z, h_n = np.split(h0 @ gru.weight_hh.data.T + gru.bias_hh.data, 3, axis=-1)
    r, z = np_sigmoid(x_r + h_r), np_sigmoid(x_z + h_z)
    ref = (1 - z) * np.tanh(x_n + r * h_n) + z * h0
    np.testing.assert_allclose(gru(Tensor(x[0]), Tensor(h0)).data, ref, atol=1e-12)


def test_norm_layers_against_numpy():
    def standardize(x):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)

    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    np.testing.assert_allclose(nn.LayerNorm(3, dtype=F64)(Tensor(x)).data, standardize(x), atol=1e-12)
    np.testing.assert_allclose(nn.GroupNorm(2, 4, dtype=F64)(Tensor(x)).data,
                               standardize(x.reshape(2, 2, 6)).reshape(x.shape), atol=1e-12)
    with pytest.raises(ValueError, match="divide"):
        nn.GroupNorm(3, 4)


# -- init --------------------------------------------------------------------------------
def test_initialisers():
    init, rng = nn.init, autograd.rng(0)
    assert init.fan_in_fan_out((8, 3, 5, 5)) == (75, 200)
    w = init.xavier_uniform((300, 200), rng)
    assert np.abs(w).max() <= np.sqrt(6 / 500) and abs(w.std() - np.sqrt(2 / 500)) < 1e-3
    w = init.kaiming_normal((400, 300), rng)
    assert abs(w.std() - np.sqrt(2 / 300)) < 2e-3 and w.dtype == np.float32
    assert np.abs(init.kaiming_uniform((64, 16, 3, 3), rng, mode="fan_out")).max() <= np.sqrt(6 / (64 * 9))
    assert np.abs(init.default_uniform((10, 4, 3, 3), rng)).max() <= 1 / 6   # fan_in = 4 * 3 * 3
    q = init.orthogonal((6, 4), rng, dtype=F64)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    q = init.orthogonal((3, 2, 2), rng, dtype=F64).reshape(3, 4)
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-12)
    assert not init.zeros((2, 3)).any() and init.xavier_normal((2, 3), rng, dtype=F64).dtype == F64
    with pytest.raises(ValueError, match="at least 2"):
        init.fan_in_fan_out((5,))
    m = nn.Linear(100, 50, rng=autograd.rng(0))        # PyTorch's default: U(+-1/sqrt(fan_in))
    assert m.weight.shape == (50, 100) and m.weight.dtype == np.float32
    assert 0.099 < np.abs(m.weight.data).max() <= 0.1 and np.abs(m.bias.data).max() <= 0.1
    same = nn.Linear(100, 50, rng=autograd.rng(0), dtype=np.float64)
    np.testing.assert_allclose(same.weight.data, m.weight.data, rtol=1e-6)


# -- optional PyTorch oracle -------------------------------------------------------------
def _torch_name(name):
    """Our parameter name -> PyTorch's ('cells.1.weight_ih' -> 'weight_ih_l1' for the LSTM)."""
    return re.sub(r"cells\.(\d+)\.(\w+)", r"\2_l\1", name)


def test_torch_oracle_layers():
    torch = pytest.importorskip("torch")
    rng, tnn = autograd.rng(0), torch.nn
    cases = [(nn.Linear(2, 5, rng=rng, dtype=F64), tnn.Linear(2, 5), (4, 6, 3, 2)),
             (nn.LayerNorm((3, 2), dtype=F64), tnn.LayerNorm((3, 2)), (4, 6, 3, 2)),
             (nn.GroupNorm(3, 6, dtype=F64), tnn.GroupNorm(3, 6), (4, 6, 3, 2)),
             (nn.BatchNorm2d(6, dtype=F64), tnn.BatchNorm2d(6), (4, 6, 3, 2)),
             (nn.BatchNorm1d(6, dtype=F64), tnn.BatchNorm1d(6), (5, 6)),
             (nn.LSTM(3, 4, num_layers=2, batch_first=True, rng=rng, dtype=F64),
              tnn.LSTM(3, 4, num_layers=2, batch_first=True), (2, 5, 3)),
             (nn.GRUCell(3, 4, rng=rng, dtype=F64), tnn.GRUCell(3, 4), (2, 3))]
    noise = np.random.default_rng(1)
    for mine, theirs, shape in cases:
        theirs = theirs.double()
        tparams = dict(theirs.named_parameters())
        with torch.no_grad():
            for name, p in mine.named_parameters():
                p.data = p.data + 0.1 * noise.standard_normal(p.shape)   # not the default init
                tparams[_torch_name(name)].copy_(torch.from_numpy(p.data))
        x_np = noise.standard_normal(shape)
        for training in (True, False):
            mine.train(training), theirs.train(training), mine.zero_grad(), theirs.zero_grad()
            x, xt = Tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
            ys, yts = flat(mine(x)), flat(theirs(xt))
            us = [noise.standard_normal(y.shape) for y in ys]
            for y, yt in zip(ys, yts):
                np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=1e-10)
            sum((y * u).sum() for y, u in zip(ys, us)).backward()
            sum((yt * torch.from_numpy(u)).sum() for yt, u in zip(yts, us)).backward()
            np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), atol=1e-10)
            for name, p in mine.named_parameters():
                np.testing.assert_allclose(p.grad.data, tparams[_torch_name(name)].grad.numpy(), atol=1e-10)
        for name, buf in mine.named_buffers():
            np.testing.assert_allclose(buf.data, getattr(theirs, name).numpy(), atol=1e-12)


def test_print_tape_names_the_module_behind_each_op(capsys):
    class Net(nn.Module):
        def __init__(self, rng):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(64, 256, rng=rng), nn.ReLU(), nn.Linear(256, 10, rng=rng))
            self.head = nn.Linear(10, 4, rng=rng)

        def forward(self, x):
            return self.head(self.encoder(x)) * 2.0

    rng = autograd.rng(0)
    model = Net(rng)
    x = Tensor(rng.standard_normal((8, 64)).astype(np.float32))
    loss = model(x).sum()
    rows = autograd.tape(loss, names=model)
    assert ("MatMul", [(8, 64), (64, 256)], [(8, 256)], "encoder.0") in rows
    assert ("ReLU", [(8, 256)], [(8, 256)], "encoder.1") in rows
    assert ("MatMul", [(8, 10), (10, 4)], [(8, 4)], "head") in rows
    assert ("MulScalar", [(8, 4)], [(8, 4)], "Net") in rows          # the model's own forward (x 2.0)
    assert rows[0][0] == "Sum" and rows[0][3] == ""                  # outside any module
    autograd.print_tape(loss, names=model)
    out = capsys.readouterr().out
    assert "encoder.0: MatMul    " in out and "encoder.2: Add" in out and "head: MatMul" in out
    autograd.print_tape(loss)                                       # without names: class names
    assert "Linear: MatMul" in capsys.readouterr().out


def test_gradcheck_names_the_parameter_of_a_module_with_a_wrong_backward():
    """``params=model`` (or ``model.named_parameters()``) names the failing parameter."""
    class BadMatMul(autograd.ops.MatMul):
        def backward(self, gy):
            gx0, gx1 = super().backward(gy)
            return gx0, gx1 * 1.01                                    # wrong weight gradient

    class Head(nn.Linear):
        def forward(self, x):
            return BadMatMul()(x, self.weight.T) + self.bias               # y = x W^T + b

    rng = autograd.rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng, dtype=F64), nn.Tanh())
    model.decoder = nn.Sequential(nn.Linear(4, 4, rng=rng, dtype=F64))
    model.decoder.head = Head(4, 2, rng=rng, dtype=F64)

    def fn(x):
        return model.decoder.head(model.decoder[0](model[1](model[0](x))))

    x = [rng.standard_normal((5, 3))]
    for params in (model, model.named_parameters(), dict(model.named_parameters())):
        with pytest.raises(autograd.GradcheckError, match=r"parameter decoder\.head\.weight \(shape"):
            gradcheck(fn, x, params=params)
    with pytest.raises(autograd.GradcheckError, match="parameter 4 "):   # plain list: the index
        gradcheck(fn, x, params=model.parameters())
    with pytest.raises(autograd.GradcheckError):                        # a generator is checked too
        gradcheck(fn, x, params=iter(model.parameters()))
