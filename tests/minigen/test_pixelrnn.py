"""PixelRNN (minigen/models/autoregressive/pixelrnn.py): skew and unskew, the
right-to-left shift, and the exact receptive fields of the Row LSTM and the Diagonal BiLSTM.

The family contracts (Jacobian against ``dependency_mask`` on a tiny model, normalisation
by enumeration, gradcheck, learning) run from the model table; here the index maps get
their own round trips and float64 gradchecks, the shift is shown to be what keeps the
right-to-left LSTM causal, and the reference networks' dependency masks are compared with
the fields stated by hand (and measured on the network by backprop).
"""
import itertools

import numpy as np
import pytest

from autograd import Tensor, gradcheck
from minigen.models import build_model
from minigen.models.autoregressive import pixelrnn
from minigen.models.autoregressive.pixelrnn import (DiagonalBiLSTM, RowLSTM, skew, skew_reach, unskew,
                                                    unskew_reach)

from .models.test_contracts import check_jacobian, jacobian_structure


def earlier(model):
    rank = model.order()
    return rank[None, :] < rank[:, None]


def test_skew_shifts_row_r_right_by_r_and_unskew_inverts_it():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5) + 1
    s = skew(Tensor(x)).data
    assert s.shape == (2, 3, 4, 5 + 4 - 1)
    for r in range(4):
        np.testing.assert_array_equal(s[:, :, r, r:r + 5], x[:, :, r])
        assert not s[:, :, r, :r].any() and not s[:, :, r, r + 5:].any()
    np.testing.assert_array_equal(unskew(Tensor(s)).data, x)
    # the reach arrays' twins (C, H, W, D) agree with the Tensor maps
    r = np.random.default_rng(0).random((3, 4, 5, 2)) < 0.5
    np.testing.assert_array_equal(skew_reach(r), skew(Tensor(r.transpose(3, 0, 1, 2).astype(float))).data
                                  .transpose(1, 2, 3, 0) > 0)
    np.testing.assert_array_equal(unskew_reach(skew_reach(r)), r)


@pytest.mark.parametrize("op,shape", [(skew, (2, 3, 4, 5)), (unskew, (2, 3, 4, 8)), (skew, (1, 2, 5, 3))],
                         ids=["skew", "unskew", "skew-tall"])
def test_skew_and_unskew_pass_a_float64_gradcheck(op, shape):
    x = Tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert gradcheck(op, [x])


def test_without_the_shift_the_right_to_left_lstm_sees_the_future(monkeypatch):
    """The right-to-left LSTM's state at (r, c) has seen row r right of c; shifted down one
    row it adds only rows above. Without the shift outputs depend on later pixels."""
    model = DiagonalBiLSTM(data_shape=(1, 4, 4), hidden=4, num_layers=1, head=4, first_kernel=3, rng=0,
                           dtype=np.float64)
    assert not (jacobian_structure(model, n=1) & ~earlier(model)).any()
    monkeypatch.setattr(pixelrnn, "shift_down", lambda v: v)
    assert (jacobian_structure(model, n=1) & ~earlier(model)).any()


@pytest.mark.parametrize("name", ["row-lstm", "diagonal-bilstm"])
def test_rows_below_never_matter(name):
    """Sampling runs the network on rows 0..i only: outputs of rows <= i must not change."""
    model = build_model(name, "digits-tiny", rng=0, dtype=np.float64)
    x = np.random.default_rng(0).integers(0, 17, (2, 1, 8, 8))
    full = model.logits(x).data
    for i in (0, 3, 6):
        np.testing.assert_allclose(model.logits(x[:, :, :i + 1]).data, full[..., :i + 1, :], atol=1e-12)


def test_row_lstm_sees_a_triangle():
    """digits-reference (7x7 mask A, two Row LSTM layers with 1x3 kernels): pixel (i, j)
    sees the earlier pixels (i - d, j') with -(5 + d) <= j' - j <= 2 + d. Right: the mask's
    3 columns on the row above, then K^ss widens one column per row. Left: 3 + one column
    per layer's K^is (mask B, j-1..j) on its own row, then one per row. The rest of the
    causal context (far left and far right of the triangle above) is never seen; the
    network agrees (the Jacobian; 8 channels instead of 32: the field depends on the
    kernels and layers only)."""
    model = build_model("row-lstm", "digits-reference", rng=0, dtype=np.float64, hidden=8, head=8)
    dep = model.dependency_mask().reshape(8, 8, 8, 8)
    for i, j, i2, j2 in itertools.product(range(8), repeat=4):
        d = i - i2
        want = (d > 0 or j2 < j) and d >= 0 and -(5 + d) <= j2 - j <= 2 + d
        assert dep[i, j, i2, j2] == want, ((i, j), (i2, j2))
    assert (earlier(model) & ~model.dependency_mask()).sum() == 156
    np.testing.assert_array_equal(jacobian_structure(model, n=1), model.dependency_mask())


def test_diagonal_bilstm_sees_all_but_the_last_pixel_of_the_row_above():
    """digits-reference: every earlier pixel except one: for j < W - 4 pixel (i, j) does not
    see (i-1, W-1). The features of the 7x7 mask-A layer at (i-1, W-1) exclude that pixel,
    no later position in row i-1 exists, and row i's features within j reach only columns
    up to j + 3 of the row above: 7 rows x 4 columns = 28 pairs on 8x8 digits. The network
    agrees (the Jacobian; 8 channels instead of 32: the field depends on the kernels and
    layers only)."""
    model = build_model("diagonal-bilstm", "digits-reference", rng=0, dtype=np.float64, hidden=8, head=8)
    want = earlier(model).reshape(8, 8, 8, 8)
    for i in range(1, 8):
        want[i, :4, i - 1, 7] = False
    np.testing.assert_array_equal(model.dependency_mask(), want.reshape(64, 64))
    assert (earlier(model) & ~model.dependency_mask()).sum() == 28
    np.testing.assert_array_equal(jacobian_structure(model, n=1), model.dependency_mask())


def test_tiny_models_pass_the_jacobian_contract_on_a_wide_image():
    """Wider than tall (skew width W + H - 1 with W > H) and a 1x5 Row LSTM kernel."""
    for model in (RowLSTM(data_shape=(1, 3, 6), hidden=4, num_layers=2, head=4, first_kernel=3, kernel=5,
                          rng=0, dtype=np.float64),
                  DiagonalBiLSTM(data_shape=(1, 3, 6), hidden=4, num_layers=2, head=4, first_kernel=3,
                                 rng=0, dtype=np.float64)):
        check_jacobian(model)


def test_constructor_errors():
    with pytest.raises(ValueError, match="grey images"):
        RowLSTM(data_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="kernel=4"):
        RowLSTM(kernel=4)
    with pytest.raises(ValueError, match="first_kernel=4"):
        DiagonalBiLSTM(first_kernel=4)
    with pytest.raises(ValueError, match="num_layers"):
        DiagonalBiLSTM(num_layers=0)
