"""Tests of the tester: gradcheck must fail on wrong backwards (HIPS test_tests.py)."""
import numpy as np
import pytest

from autograd import Function, GradcheckError, Tensor, gradcheck, gradgradcheck, ops


class ScaledMul(ops.Mul):
    """Mul whose gradient for x0 is off by a factor (1.001 = barely wrong)."""
    factor = 1.001

    def backward(self, gy):
        gx0, gx1 = super().backward(gy)
        return gx0 * self.factor, gx1


class ForgetsGy(Function):
    """y = x**2 with a backward that forgets the upstream gradient: returns 2x, not gy*2x."""
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved_tensors
        return 2 * x


class TwiceWrong(Function):
    """y = 2x with a wrong *second* derivative: its backward uses Double, whose own backward is 1.001x off."""
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy * BadDouble()(x)


class BadDouble(Function):
    """y = 2x, backward 2.002 * gy (wrong)."""
    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return gy * 2.002


def _x(shape=(3, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("mode", ["elementwise", "directional"])
def test_off_by_1001_fails_first_order(mode):
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a, b: ScaledMul()(a, b), [_x(), _x(seed=1)], mode=mode)


def test_off_by_1001_fails_second_order():
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda a, b: ScaledMul()(a, b), [_x(), _x(seed=1)])


def test_forgetting_gy_fails():
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: ForgetsGy()(x), [_x()])


def test_wrong_second_derivative_passes_first_order_fails_second():
    assert gradcheck(lambda x: TwiceWrong()(x), [_x()])
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda x: TwiceWrong()(x), [_x()])


def test_absurd_eps_fails():
    with pytest.raises(GradcheckError):
        gradcheck(ops.exp, [_x()], eps=1.0)


def test_correct_ops_pass_in_both_modes():
    f = lambda a, b: ops.tanh(a @ b).sum(axis=0)  # noqa: E731
    assert gradcheck(f, [_x((3, 4)), _x((4, 5), 1)], mode="elementwise")
    assert gradcheck(f, [_x((3, 4)), _x((4, 5), 1)], mode="directional")
    assert gradgradcheck(f, [_x((3, 4)), _x((4, 5), 1)])


def test_failure_report_names_input_index_and_values():
    with pytest.raises(GradcheckError) as e:
        gradcheck(lambda a, b: ScaledMul()(a, b), [_x(), _x(seed=1)], mode="elementwise")
    msg = str(e.value)
    assert "input 0" in msg and "shape (3, 4)" in msg and "worst index" in msg
    assert "analytic" in msg and "numeric" in msg


def test_params_are_checked_and_restored():
    w = Tensor(_x((4, 2)).astype(np.float32), requires_grad=True)

    class BadMatMul(ops.MatMul):
        def backward(self, gy):
            gx0, gx1 = super().backward(gy)
            return gx0, gx1 * 1.01

    with pytest.raises(GradcheckError, match="parameter 0"):
        gradcheck(lambda x: BadMatMul()(x, w), [_x((3, 4))], params=[w])
    assert w.dtype == np.float32  # restored after the check
    assert gradcheck(lambda x: ops.matmul(x, w), [_x((3, 4))], params=[w])


class BadMatMul(ops.MatMul):
    """MatMul whose weight gradient is 1% off."""
    def backward(self, gy):
        gx0, gx1 = super().backward(gy)
        return gx0, gx1 * 1.01


@pytest.mark.parametrize("kind", ["generator", "dict", "pairs", "pairs-generator"])
def test_params_in_every_form_are_checked_and_named(kind):
    """A generator (``module.parameters()``) used to be read up front and check nothing."""
    w = Tensor(_x((4, 2)), requires_grad=True)
    params = {"generator": lambda: (p for p in [w]), "dict": lambda: {"decoder.head.weight": w},
              "pairs": lambda: [("decoder.head.weight", w)],
              "pairs-generator": lambda: iter([("decoder.head.weight", w)])}[kind]
    with pytest.raises(GradcheckError) as e:
        gradcheck(lambda x: BadMatMul()(x, w), [_x((3, 4))], params=params())
    named = "parameter 0" if kind == "generator" else "parameter decoder.head.weight"
    assert named + " (shape (4, 2)" in str(e.value)
    with pytest.raises(GradcheckError, match=named):
        gradgradcheck(lambda x: BadMatMul()(x, w), [_x((3, 4))], params=params())
    assert gradcheck(lambda x: ops.matmul(x, w), [_x((3, 4))], params=params())


def test_params_must_be_tensors():
    with pytest.raises(TypeError, match="parameter w must be a Tensor"):
        gradcheck(lambda x: x * 2, [_x()], params={"w": np.ones(2)})


def test_upstream_gradient_is_random_not_ones():
    """With a ones seed, y = sum-invariant ops hide bugs; a random u must catch ForgetsGy even on sum."""
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: ForgetsGy()(x), [_x((5,))], mode="directional")


def test_non_float_inputs_pass_through():
    idx = np.array([0, 2, 2])
    assert gradcheck(lambda x, i: ops.getitem(x, i), [_x((4, 3)), idx])
