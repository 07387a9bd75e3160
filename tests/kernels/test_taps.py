"""Tap lists: PixelCNN / Gated PixelCNN masks, causal 1-D taps, weight <-> tap conversions."""
import numpy as np
import pytest

from kernels import taps as T


def _grid(taps, k):
    return T.taps_to_mask(taps, k).astype(int).tolist()


def test_pixelcnn_mask_a_7x7_keeps_24_taps_in_raster_order():
    taps = T.pixelcnn_taps(7, "A")
    assert taps.shape == (24, 2) and taps.dtype == np.int64
    assert _grid(taps, 7) == [[1] * 7] * 3 + [[1, 1, 1, 0, 0, 0, 0]] + [[0] * 7] * 3
    order = taps[:, 0] * 7 + taps[:, 1]
    assert np.all(np.diff(order) > 0)


def test_pixelcnn_mask_b_3x3_keeps_5_taps_including_centre():
    taps = T.pixelcnn_taps(3, "B")
    assert _grid(taps, 3) == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert T.center_index(taps, 3) == 4


def test_gated_stacks():
    assert _grid(T.vertical_stack_taps(3, "A"), 3) == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert _grid(T.vertical_stack_taps(3, "B"), 3) == [[1, 1, 1], [1, 1, 1], [0, 0, 0]]
    assert _grid(T.horizontal_stack_taps((1, 5), "A"), (1, 5)) == [[1, 1, 0, 0, 0]]
    assert _grid(T.horizontal_stack_taps((1, 5), "B"), (1, 5)) == [[1, 1, 1, 0, 0]]
    assert _grid(T.horizontal_stack_taps(3, "B"), 3) == [[0, 0, 0], [1, 1, 0], [0, 0, 0]]


def test_full_and_causal_taps():
    assert len(T.full_taps((3, 2))) == 6
    np.testing.assert_array_equal(T.causal_taps_1d(3, 4), [-8, -4, 0])
    np.testing.assert_array_equal(T.causal_taps_1d(1), [0])
    with pytest.raises(ValueError, match="dilation"):
        T.causal_taps_1d(2, 0)


def test_mask_round_trip_and_gather_scatter():
    taps = T.pixelcnn_taps(5, "B")
    np.testing.assert_array_equal(T.mask_to_taps(T.taps_to_mask(taps, 5)), taps)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 5, 5))
    wl = T.gather_taps(w, taps)
    assert wl.shape == (len(taps), 4, 3)
    back = T.scatter_taps(wl, taps, 5)
    np.testing.assert_array_equal(back, w * T.taps_to_mask(taps, 5))
    cm = T.channel_group_mask(4, 3, "A")
    wl_m = T.gather_taps(w, taps, cm)
    np.testing.assert_array_equal(wl_m[T.center_index(taps, 5)], w[:, :, 2, 2] * cm)
    np.testing.assert_array_equal(T.scatter_taps(wl, taps, 5, cm)[:, :, 2, 2], w[:, :, 2, 2] * cm)


def test_channel_group_masks_match_the_paper():
    np.testing.assert_array_equal(T.channel_group_mask(3, 3, "A"), [[0, 0, 0], [1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(T.channel_group_mask(3, 3, "B"), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    # 6 outputs from an RGB input: contiguous blocks of 2 per colour
    np.testing.assert_array_equal(T.channel_group_mask(6, 3, "A")[:, 0], [0, 0, 1, 1, 1, 1])
    assert T.channel_group_mask(4, 1, "A", groups=1).sum() == 0
    assert T.channel_group_mask(4, 1, "B", groups=1).sum() == 4


@pytest.mark.parametrize("bad, err, match", [
    (np.array([[0, 3]]), ValueError, "inside"),
    (np.array([[0, 0], [0, 0]]), ValueError, "repeat"),
    (np.array([[0.0, 1.0]]), TypeError, "integers"),
    (np.zeros((0, 2), np.int64), ValueError, "shape"),
    (np.array([0, 1]), ValueError, "shape"),
])
def test_as_taps_errors(bad, err, match):
    with pytest.raises(err, match=match):
        T.as_taps(bad, 3)


def test_mask_type_and_size_errors():
    with pytest.raises(ValueError, match="'A' or 'B'"):
        T.pixelcnn_taps(3, "C")
    with pytest.raises(ValueError, match="odd"):
        T.pixelcnn_taps(4, "A")
    with pytest.raises(ValueError, match="groups"):
        T.channel_group_mask(2, 3, "A")
    with pytest.raises(ValueError, match="not in the tap list"):
        T.center_index(T.pixelcnn_taps(3, "A"), 3)
