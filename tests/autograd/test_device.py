"""``autograd.device``: device names checked, constructors on ``like``'s device and dtype,
the same random numbers on every device and dtype."""
import numpy as np
import pytest

import autograd
from autograd import Tensor, device as D

from ..conftest import requires_gpu


def test_check_device_names_the_choices():
    assert D.check_device("cpu") == "cpu"
    assert D.check_device(" CPU ") == "cpu"
    for bad in ("gpu", "tpu", "cuda0", "", None):
        with pytest.raises(ValueError, match="expected one of 'cpu', 'cuda'"):
            D.check_device(bad)


def test_cuda_without_a_gpu_names_the_install_command(monkeypatch):
    monkeypatch.setattr(D, "HAS_CUPY", False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match=r'pip install -e "\.\[gpu\]"'):
            D.check_device(name)


def test_tensor_to_checks_the_device_name():
    x = Tensor([1.0, 2.0])
    assert x.to("cpu") is x
    with pytest.raises(ValueError, match="unknown device 'cpux'"):
        x.to("cpux")          # used to return x silently


def test_helpers_take_arrays_and_tensors():
    a = np.arange(3.0)
    t = Tensor(a)
    assert D.device_of(a) == D.device_of(t) == "cpu"
    assert D.get_array_module(a) is D.get_array_module(t) is np
    assert not D.is_cupy(a) and not D.is_cupy(t)
    np.testing.assert_array_equal(D.as_numpy(t), a)
    assert D.to_device(a, "cpu") is a
    assert D.to_device(t, "cpu") is t
    with pytest.raises(ValueError):
        D.to_device(a, "gpu")


def test_random_constructors_follow_like_and_draw_float64_on_the_host():
    expected = np.random.default_rng(3).standard_normal((2, 3))
    for like, dtype in [(None, np.float32), (np.zeros(1), np.float64), (Tensor(np.zeros(1, np.float32)), np.float32)]:
        x = autograd.randn((2, 3), autograd.rng(3), like=like)
        assert isinstance(x, Tensor) and x.dtype == dtype and x.device == "cpu" and not x.requires_grad
        np.testing.assert_array_equal(x.data, expected.astype(dtype))   # same numbers in any dtype
    u = autograd.rand((4,), autograd.rng(5), np.float64, like=np.zeros(1, np.float32))  # dtype wins
    assert u.dtype == np.float64
    np.testing.assert_array_equal(u.data, np.random.default_rng(5).random(4))
    w = autograd.randn((2,), autograd.rng(0), requires_grad=True)
    assert w.requires_grad and w.is_leaf
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        autograd.randn((2,), 0)


def test_zeros_and_ones_follow_like():
    like = Tensor(np.zeros((1,), np.float64))
    z, o = autograd.zeros((2, 2), like=like), autograd.ones(3, like=like)
    assert z.dtype == o.dtype == np.float64 and z.device == "cpu"
    assert z.data.sum() == 0 and o.data.sum() == 3
    assert autograd.zeros(2).dtype == np.float32
    assert autograd.ones(2, like=np.zeros(1, np.int64)).dtype == np.float32   # integer like: float32


@requires_gpu
def test_gpu_draws_the_same_numbers_as_the_cpu():
    import cupy
    like = cupy.zeros(1, cupy.float32)
    x = autograd.randn((5,), autograd.rng(1), like=like)
    assert x.device == "cuda" and x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), autograd.randn((5,), autograd.rng(1)).data)
    assert autograd.zeros(3, like=like).device == "cuda"
    assert D.to_device(x, "cpu").device == "cpu"
