"""Gradcheck (first and second order) and reference-check every op-table entry."""
import os
import subprocess
import sys

import numpy as np
import pytest

from autograd import Tensor, functional, gradcheck, gradgradcheck, ops, toposort

from .op_table import TABLE

CASES = [(info, i) for info in TABLE for i in range(len(info.cases()))]
IDS = [f"{info.name}-{i}" for info, i in CASES]


def _tensors(arrays):
    return [Tensor(a, requires_grad=np.issubdtype(a.dtype, np.floating)) if isinstance(a, np.ndarray)
            else a for a in arrays]


@pytest.mark.parametrize("info,i", CASES, ids=IDS)
def test_forward_matches_reference(info, i):
    arrays = info.cases()[i]
    y = info.op(*_tensors(arrays))
    expected = info.reference(*arrays)
    ys = y if isinstance(y, tuple) else (y,)
    es = expected if isinstance(expected, tuple) else (expected,)
    for a, e in zip(ys, es):
        assert a.shape == np.shape(e)
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-6 if a.dtype == np.float32 else 1e-12, atol=1e-12)


@pytest.mark.parametrize("info,i", CASES, ids=IDS)
def test_gradcheck(info, i):
    gradcheck(info.op, list(info.cases()[i]), eps=info.eps, atol=info.atol, rtol=info.rtol, mode=info.mode)


@pytest.mark.parametrize("info,i", [c for c in CASES if c[0].second_order],
                         ids=[n for n, c in zip(IDS, CASES) if c[0].second_order])
def test_gradgradcheck(info, i):
    gradgradcheck(info.op, list(info.cases()[i]), eps=info.eps, atol=max(info.atol, 1e-5),
                  rtol=max(info.rtol, 1e-4), mode=info.mode)


def test_float32_forward_stays_float32():
    for info in TABLE:
        arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in info.cases()[0]]
        y = info.op(*_tensors(arrays))
        for t in (y if isinstance(y, tuple) else (y,)):
            assert t.dtype == np.float32, info.name


def test_every_public_op_is_in_the_table():
    """A public op or composite without a table entry fails here (nothing escapes gradcheck)."""
    names = {info.name for info in TABLE}
    public = set(ops.PUBLIC_OPS) | set(functional.COMPOSITES) | set(ops.FUSED)
    missing = sorted(public - names)
    assert not missing, f"ops missing from tests/autograd/op_table.py: {missing}"


FUSED_NAMES = ["affine_coupling", "affine_coupling_inverse", "avg_pool2d", "causal_conv1d", "conv2d",
               "conv_transpose2d", "group_norm", "masked_conv2d", "max_pool2d", "rq_spline", "rq_spline_inverse",
               "softmax_cross_entropy", "upsample_nearest2d"]


def test_fused_table_is_complete_after_importing_autograd_ops_alone():
    """``import autograd.ops`` fills ``FUSED`` by itself, whatever else a process imported."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", "import autograd.ops; print(sorted(autograd.ops.FUSED))"],
                         cwd=root, capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == str(FUSED_NAMES)
    assert sorted(ops.FUSED) == FUSED_NAMES
    assert all(getattr(ops, name) is not None for name in FUSED_NAMES)  # the lowercase functions too


def test_every_primitive_is_exercised_by_the_table():
    """Each primitive Function class appears in the graph of at least one table entry, or in
    a graph its backward records (ScatterAdd, from GetItem's backward)."""
    seen = set()
    for info in TABLE:
        for arrays in info.cases():
            xs = _tensors(arrays)
            y = info.op(*xs)
            outs = [t for t in (y if isinstance(y, tuple) else (y,)) if t.creator is not None]
            for t in outs:
                seen.update(type(f).__name__ for f in toposort(t))
            seen.update(_backward_types(outs, [x for x in xs if isinstance(x, Tensor) and x.requires_grad]))
    missing = sorted(set(ops.PRIMITIVES) - seen)
    assert not missing, f"primitives no table entry exercises: {missing}"


def _backward_types(outs, xs):
    """The Function types the backward of ``outs`` records (with create_graph)."""
    from autograd import grad
    if not outs or not xs:
        return set()
    gys = [Tensor(np.ones(o.shape, o.dtype), requires_grad=True) for o in outs]
    try:
        gs = grad(outs, xs, grad_outputs=gys, create_graph=True)
    except NotImplementedError:  # a fused op: its backward is not recorded
        return set()
    return {type(f).__name__ for g in gs if g.creator is not None for f in toposort(g)}
