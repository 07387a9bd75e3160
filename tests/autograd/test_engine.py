"""The engine: ordering, accumulation, retain_graph, create_graph, hooks, errors."""
import numpy as np
import pytest

from autograd import Tensor, functional as F, grad, gradcheck, no_grad, ops, print_tape, tape, toposort


def t(x, req=True):
    return Tensor(np.asarray(x, dtype=np.float64), requires_grad=req)


def test_long_chain_does_not_hit_recursion_limit():
    x = t(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.data, 1.0001 ** 10_000, rtol=1e-10)


def test_diamond_accumulates():
    x = t(3.0)
    a = x * 2
    b = x * x
    y = a + b            # dy/dx = 2 + 2x = 8
    y.backward()
    assert x.grad.item() == pytest.approx(8.0)


def test_reuse_of_a_tensor_in_one_op():
    x = t([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0])


def test_grads_accumulate_across_backward_calls_and_zero_grad():
    x = t(2.0)
    (x * 3).backward()
    (x * 3).backward()
    assert x.grad.item() == 6.0
    x.zero_grad()
    assert x.grad is None


def test_toposort_order_puts_consumers_first():
    x = t([1.0, 2.0])
    a = ops.exp(x)
    b = a * 2
    c = (a + b).sum()
    order = [f.name for f in toposort(c)]
    assert order[0] == "Sum"
    assert order.index("Add") < order.index("MulScalar") < order.index("Exp")


def _random_graph(*xs, n_ops=60, seed=0):
    """A random DAG over xs: each op combines earlier tensors, some used many times, some never."""
    rng = np.random.default_rng(seed)
    made = list(xs)
    for _ in range(n_ops):
        i, j = rng.integers(len(made), size=2)
        a, b = made[i], made[j]
        made.append([a + b, a * ops.tanh(b), ops.tanh(a) - b, ops.tanh(a + b)][rng.integers(4)])
    return sum(made[-20:], made[-21]).sum()


def test_toposort_puts_every_function_after_all_its_consumers_in_a_random_graph():
    xs = [t(np.random.default_rng(k).standard_normal(3)) for k in range(3)]
    order = toposort(_random_graph(*xs))
    position = {f: k for k, f in enumerate(order)}
    assert len(position) == len(order) > 40
    for f in order:
        for x in f.inputs:
            if x.creator is not None:
                assert position[x.creator] > position[f], "a Function comes before one of its consumers"
    gradcheck(_random_graph, xs)  # so backward in this order sums every contribution


def test_retain_graph():
    x = t(2.0)
    y = ops.exp(x) * x
    y.backward(retain_graph=True)
    first = x.grad.item()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * first)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_create_graph_second_derivative_of_cube():
    x = t(1.5)
    y = x ** 3
    (gx,) = grad(y, [x], create_graph=True)      # 3x^2
    (ggx,) = grad(gx, [x])                       # 6x
    assert gx.item() == pytest.approx(3 * 1.5 ** 2)
    assert ggx.item() == pytest.approx(6 * 1.5)


def test_create_graph_second_derivative_of_logsumexp():
    """d^2/dx^2 logsumexp(x) = diag(p) - p p^T with p = softmax(x)."""
    x = t([0.3, -1.2, 2.0])
    y = F.logsumexp(x)
    (g,) = grad(y, [x], create_graph=True)
    p = np.exp(x.data - np.log(np.exp(x.data).sum()))
    np.testing.assert_allclose(g.data, p, rtol=1e-12)
    H = np.stack([grad(g[i], [x], retain_graph=True)[0].data for i in range(3)])
    np.testing.assert_allclose(H, np.diag(p) - np.outer(p, p), rtol=1e-10, atol=1e-12)


def test_backward_with_create_graph_fills_differentiable_grad():
    x = t(2.0)
    (x ** 3).backward(create_graph=True)
    assert x.grad.creator is not None
    x2 = x.grad
    x.zero_grad()
    x2.backward()
    assert x.grad.item() == pytest.approx(12.0)


def test_hooks_fire_and_can_replace_the_gradient():
    x = t([1.0, 2.0])
    seen = []
    h = x.register_hook(lambda g: seen.append(g.data.copy()))
    y = x * 3
    y.register_hook(lambda g: g * 10)          # scale the gradient flowing back through y
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [30.0, 30.0])
    np.testing.assert_allclose(x.grad.data, [30.0, 30.0])
    h.remove()
    x.zero_grad()
    (x * 1).sum().backward()
    assert len(seen) == 1


def test_retain_grad_on_intermediate():
    x = t([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.data, 2 * y.data)


def test_no_grad_records_nothing():
    x = t(1.0)
    with no_grad():
        y = x * 2
    assert y.creator is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_on_non_scalar_without_gy_says_so():
    x = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 1.0]))


def test_broadcast_gradient_is_reduced_to_input_shape():
    x = t(np.ones((3, 1)))
    b = t(np.ones((4,)))
    (x * b).sum().backward()
    assert x.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(x.grad.data, 4.0)
    np.testing.assert_allclose(b.grad.data, 3.0)


def test_shape_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"Add.*\(3, 4\).*\(5,\)"):
        t(np.ones((3, 4))) + t(np.ones(5))
    with pytest.raises(ValueError, match="matmul"):
        t(np.ones((3, 4))) @ t(np.ones((5, 2)))


def test_mixed_float_dtypes_are_an_error_and_scalars_adapt():
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float64))
    with pytest.raises(TypeError, match="float32.*float64"):
        a + b
    assert (a * 2.5).dtype == np.float32
    assert (a + np.arange(3)).dtype == np.float32      # integer arrays take the float dtype
    assert (a + b.astype(np.float32)).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32      # Python floats default to float32


def test_unused_output_of_multi_output_op_gets_zero_gradient():
    x = t(np.arange(6.0))
    a, b = ops.split(x, 2)
    (a * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2, 2, 2, 0, 0, 0])


def test_saved_arrays_freed_after_backward():
    x = t([1.0, 2.0])
    y = ops.exp(x)
    f = y.creator
    y.sum().backward()
    assert f._saved_tensors is None


def test_tape_lists_ops_in_backward_order(capsys):
    x = t(np.ones((2, 3)))
    w = t(np.ones((3, 4)))
    loss = ops.relu(x @ w).sum()
    rows = tape(loss)
    assert [r[0] for r in rows] == ["Sum", "ReLU", "MatMul"]
    assert rows[2][1] == [(2, 3), (3, 4)]
    n = print_tape(loss)
    out = capsys.readouterr().out
    assert n == 3 and "MatMul" in out and "(2, 3), (3, 4)" in out


def test_item_numpy_detach_and_repr():
    x = t([[1.5]])
    assert x.item() == 1.5
    assert isinstance(x.numpy(), np.ndarray)
    d = (x * 2).detach()
    assert d.creator is None and not d.requires_grad
    assert "Tensor(" in repr(x * 2) and "Mul" in repr(x * 2)
    with pytest.raises(ValueError, match="one element"):
        t([1.0, 2.0]).item()


def test_only_float_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating"):
        Tensor(np.arange(3), requires_grad=True)


def test_softplus_and_log_sigmoid_finite_at_extremes():
    x = t([-1e4, -50.0, 0.0, 50.0, 1e4])
    y = F.softplus(x)
    y.sum().backward()
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad.data))
    np.testing.assert_allclose(x.grad.data, [0, 1 / (1 + np.exp(50)), 0.5, 1 / (1 + np.exp(-50)), 1])
    z = F.log_sigmoid(x)
    assert np.all(np.isfinite(z.data))
    ls = F.logsumexp(t([[-np.inf, -np.inf], [1e4, 1e4]]), axis=1)
    assert ls.data[0] == -np.inf and np.isfinite(ls.data[1])


def test_each_leaf_owns_its_gradient_array():
    """Add hands one gy to both inputs and Reshape returns views: .grad arrays must not alias."""
    a, b = t([1.0, 2.0]), t([3.0, 4.0])
    ((a + b) * 2).sum().backward()
    assert a.grad is not b.grad and not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data *= 0.5
    np.testing.assert_allclose(b.grad.data, [2.0, 2.0])
    c = t(np.ones((2, 2)))
    gy = np.ones(4)
    c.reshape(4).backward(gy)
    assert not np.shares_memory(c.grad.data, gy)


def test_comparisons_are_elementwise_boolean_arrays():
    """``Tensor == x`` used to compare identity, so np.mean(pred == y) was quietly 0.0."""
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 3.0, 0.0])
    assert np.mean(Tensor(a) == b) == 0.5
    assert np.mean(b == Tensor(a)) == 0.5                 # reflected from the ndarray side
    assert np.mean(Tensor(a) != Tensor(b)) == 0.5
    eq = Tensor(a) == 3.0
    assert isinstance(eq, np.ndarray) and eq.dtype == bool and eq.tolist() == [False, False, True, False]
    assert (Tensor(a) < 2.5).tolist() == [True, True, False, False]
    assert (Tensor(a) >= Tensor(b)).all()
    x = t(a)
    assert not isinstance(x == a, Tensor) and x.grad is None   # nothing recorded
    assert (x == None) is False and (x != "x") is True          # noqa: E711  not array-like: identity


def test_tensors_stay_hashable_by_identity_and_the_engine_never_uses_eq():
    x, y = t([1.0, 2.0]), t([1.0, 2.0])
    assert len({x, y}) == 2 and {x: 1, y: 2}[y] == 2
    # outputs with equal values and different shapes, the second unused: its zero
    # gradient is found by identity (list.index would compare a == b elementwise)
    z = t([5.0, 5.0, 5.0])
    a, b = ops.split(z, [1])
    (a * 2).sum().backward()
    np.testing.assert_allclose(z.grad.data, [2, 0, 0])


def test_tape_names_the_scope_of_each_op(capsys):
    """Ops recorded between enter_scope/exit_scope carry that scope (what Module.__call__ does)."""
    from autograd import enter_scope, exit_scope

    class Layer:  # any object can be a scope; names map it to a dotted name
        pass

    outer, inner = Layer(), Layer()
    x, w = t(np.ones((2, 3))), t(np.ones((3, 4)))
    prev = enter_scope(outer)
    try:
        prev_inner = enter_scope(inner)
        h = x @ w
        exit_scope(prev_inner)
        y = ops.relu(h)
    finally:
        exit_scope(prev)
    loss = y.sum()
    assert [(r[0], r[3]) for r in tape(loss)] == [("Sum", ""), ("ReLU", "Layer"), ("MatMul", "Layer")]
    named = tape(loss, names={"enc": outer, "enc.fc": inner})
    assert [r[3] for r in named] == ["", "enc", "enc.fc"]
    print_tape(loss, names={"enc": outer, "enc.fc": inner})
    out = capsys.readouterr().out
    assert "enc.fc: MatMul" in out and "enc: ReLU" in out and "(2, 3), (3, 4)" in out


def test_graph_does_not_hold_intermediate_results_nobody_saved():
    """h = h + w * relu(h): the sums are freed when the loop drops them (only Edges are kept),
    the gradients are unchanged."""
    import gc
    import weakref
    w = Tensor(np.full((3,), 0.5), requires_grad=True)
    h, sums = Tensor(np.array([1.0, -2.0, 3.0])), []
    for _ in range(3):
        h = h + w * h.relu()
        sums.append(weakref.ref(h))
    loss = h.sum()
    del h
    gc.collect()
    assert all(r() is None for r in sums)        # Add and Sum save nothing; Mul saved relu(h)
    loss.backward()
    expected = np.zeros(3)                                       # d/dw by hand, h0 = [1, -2, 3]
    h0 = np.array([1.0, -2.0, 3.0])
    hs = [h0]
    for _ in range(3):
        hs.append(hs[-1] + 0.5 * np.maximum(hs[-1], 0))
    dh = np.ones(3)
    for k in range(2, -1, -1):
        expected += dh * np.maximum(hs[k], 0)
        dh = dh * (1 + 0.5 * (hs[k] > 0))
    np.testing.assert_allclose(w.grad.data, expected)


def test_hooks_and_retain_grad_survive_dropping_the_tensor():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    y = x * 3.0
    y.register_hook(lambda g: seen.append(g.data.copy()) or g * 2.0)
    z = x * 5.0
    z.retain_grad()
    loss = (y + z).sum()
    del y
    loss.backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.data, [2.0 * 3.0 + 5.0] * 2)    # the hook doubled y's gradient
    np.testing.assert_allclose(z.grad.data, [1.0, 1.0])


def test_hooks_retain_grad_and_grad_find_each_output_of_a_multi_output_op():
    """Output k of a split is found by its output_nr, not by identity: a hook on the dropped
    second piece, retain_grad on the first, and grad() with respect to one piece."""
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    a, b = ops.split(x, 2)
    seen = []
    b.register_hook(lambda g: seen.append(g.data.copy()) or g * 2.0)
    a.retain_grad()
    loss = (a * 3.0).sum() + (b * 5.0).sum()
    del b
    loss.backward()
    np.testing.assert_allclose(seen[0], [[5.0] * 3])
    np.testing.assert_allclose(a.grad.data, [[3.0] * 3])
    np.testing.assert_allclose(x.grad.data, [[3.0] * 3, [10.0] * 3])
    p, q = ops.split(x, 2)
    gq, gx = grad((p * q).sum(), [q, x])
    np.testing.assert_allclose(gq.data, p.data)
    np.testing.assert_allclose(gx.data, np.concatenate([q.data, p.data]))


def test_scalar_ops_give_the_general_ops_bits():
    """``x * 2.5``, ``2.5 * x``, ``x + 0.1``, ``x - 0.1`` record MulScalar / AddScalar (the number is a
    parameter, not a graph input) and give the same float32 bits as the general ops with the
    number as a constant tensor, forward and backward; other operands keep the general path."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((3, 4)).astype(np.float32)
    for op, c, name in [(ops.mul, 2.5, "MulScalar"), (ops.add, 0.1, "AddScalar"), (ops.sub, 0.1, "AddScalar")]:
        for scalar_first in ([False, True] if op is not ops.sub else [False]):
            x, xg = Tensor(x0, requires_grad=True), Tensor(x0, requires_grad=True)
            const = Tensor(np.asarray(c, np.float32))
            y = op(c, x) if scalar_first else op(x, c)
            yg = op(const, xg) if scalar_first else op(xg, const)
            assert y.creator.name == name and yg.creator.name != name
            np.testing.assert_array_equal(y.data, yg.data)
            (y * y).sum().backward()
            (yg * yg).sum().backward()
            np.testing.assert_array_equal(x.grad.data, xg.grad.data)
    xi = Tensor(np.arange(3, dtype=np.int32))
    assert (xi + 1).creator is None and (xi + 1).dtype == np.int64      # ints: the general rule
    assert type((Tensor(x0) * np.float32(2)).data) is np.ndarray        # NumPy scalars: general path
