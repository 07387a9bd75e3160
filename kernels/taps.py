"""Tap lists: which kernel positions of a convolution are *live*.

A masked convolution (PixelCNN [1], Gated PixelCNN [2]) keeps the full weight
shape ``(Cout, Cin, KH, KW)`` so that it reads like a convolution, but only some
kernel positions ("taps") may connect an output pixel to its inputs.  Instead of
multiplying the weight by a 0/1 mask and convolving with all ``KH*KW`` taps, the
masked-conv kernels take the list of live taps and do only that work: 7x7 mask A
keeps 24 of 49 taps, 3x3 mask B keeps 5 of 9.

A tap list is an ``int64`` array of shape ``(L, 2)``; row ``l`` is ``(ky, kx)``, the
kernel index into ``w[:, :, ky, kx]``.  Lists built here are in raster order
(row by row, left to right).  Tap lists are host (NumPy) metadata even when the
data lives on the GPU; callers compute them once per layer.

Channel groups (R -> G -> B ordering, [1] Section 3.4 and Figure 2) are applied
to the weight at the centre tap only, by a ``(Cout, Cin)`` 0/1 matrix
(``channel_group_mask``): with mask A output group g sees input groups < g at the
centre pixel, with mask B groups <= g.

Causal 1-D convolution (WaveNet [3]) uses *time offsets* instead: tap ``k`` of a
kernel of length K with dilation d reads input ``t - d*(K-1-k)`` (``causal_taps_1d``).

References:
    [1] van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural Networks.
        ICML 2016. https://arxiv.org/abs/1601.06759 (Section 3.4, Figure 2).
    [2] van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu.
        Conditional Image Generation with PixelCNN Decoders. NeurIPS 2016.
        https://arxiv.org/abs/1606.05328 (Section 2.2, Figure 1).
    [3] van den Oord et al. WaveNet: A Generative Model for Raw Audio. 2016.
        https://arxiv.org/abs/1609.03499 (Section 2.1, Figure 3).
"""
import numpy as np

from .backend import get_array_module

__all__ = [
    "kernel_size_2d", "center", "full_taps", "pixelcnn_taps", "vertical_stack_taps",
    "horizontal_stack_taps", "causal_taps_1d", "taps_to_mask", "mask_to_taps",
    "as_taps", "center_index", "gather_taps", "scatter_taps", "channel_group_mask", "mask_types",
    "pixelcnn_mask", "dense_mask",
]

mask_types = ("A", "B")


def kernel_size_2d(kernel_size):
    """``k`` or ``(kh, kw)`` -> ``(kh, kw)`` as positive ints (ValueError otherwise)."""
    if isinstance(kernel_size, (int, np.integer)):
        kernel_size = (int(kernel_size), int(kernel_size))
    try:
        kh, kw = (int(k) for k in kernel_size)
    except (TypeError, ValueError):
        raise TypeError(f"kernel_size must be an int or a pair of ints, got {kernel_size!r}") from None
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel_size must be positive, got {(kh, kw)}")
    return kh, kw


def center(kernel_size):
    """The centre tap ``(kh // 2, kw // 2)``: the output pixel's own position."""
    kh, kw = kernel_size_2d(kernel_size)
    return kh // 2, kw // 2


def _check_mask_type(mask_type):
    if mask_type not in mask_types:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")


def _odd(kernel_size, what):
    kh, kw = kernel_size_2d(kernel_size)
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"{what} needs an odd kernel size (so it has a centre), got {(kh, kw)}")
    return kh, kw


def _from_predicate(kh, kw, live):
    taps = [(ky, kx) for ky in range(kh) for kx in range(kw) if live(ky, kx)]
    return np.array(taps, dtype=np.int64).reshape(-1, 2)


def full_taps(kernel_size):
    """All ``kh*kw`` taps in raster order: an ordinary (unmasked) convolution."""
    kh, kw = kernel_size_2d(kernel_size)
    return _from_predicate(kh, kw, lambda ky, kx: True)


def pixelcnn_taps(kernel_size, mask_type):
    """PixelCNN masks [1]: every row above the centre, and the centre row to its left.

    Mask A (first layer) excludes the centre pixel, mask B (later layers) includes it
    (its channel groups are restricted separately, see ``channel_group_mask``)::

        7x7 mask A (24 taps)      3x3 mask B (5 taps)
        1 1 1 1 1 1 1             1 1 1
        1 1 1 1 1 1 1             1 1 0
        1 1 1 1 1 1 1             0 0 0
        1 1 1 0 0 0 0
        0 0 0 0 0 0 0
        0 0 0 0 0 0 0
        0 0 0 0 0 0 0

    Args:
        kernel_size: odd ``k`` or ``(kh, kw)``.
        mask_type: ``'A'`` or ``'B'``.

    Returns:
        ``(L, 2)`` int64 taps ``(ky, kx)`` in raster order.
    """
    _check_mask_type(mask_type)
    kh, kw = _odd(kernel_size, "pixelcnn_taps")
    cy, cx = kh // 2, kw // 2
    last = cx + (mask_type == "B")  # centre row keeps kx < last
    return _from_predicate(kh, kw, lambda ky, kx: ky < cy or (ky == cy and kx < last))


def vertical_stack_taps(kernel_size, mask_type="B"):
    """Gated PixelCNN vertical stack [2]: whole rows above the centre (no blind spot).

    Mask A sees only rows strictly above the output pixel, so its output at row i
    may feed the horizontal stack at row i directly.  Mask B also sees the centre
    row (the k x (k//2+1) kernel of [2]); its output must then be shifted down by
    one row before it feeds the horizontal stack::

        3x3 'A'    3x3 'B'
        1 1 1      1 1 1
        0 0 0      1 1 1
        0 0 0      0 0 0

    Returns:
        ``(L, 2)`` int64 taps.
    """
    _check_mask_type(mask_type)
    kh, kw = _odd(kernel_size, "vertical_stack_taps")
    cy = kh // 2
    last = cy + (mask_type == "B")
    return _from_predicate(kh, kw, lambda ky, kx: ky < last)


def horizontal_stack_taps(kernel_size, mask_type="B"):
    """Gated PixelCNN horizontal stack [2]: the centre row, left of the centre (A) or up to it (B).

    Typically used with a ``(1, k)`` kernel (the 1 x (k//2+1) convolution of [2])::

        (1, 5) 'A'      (1, 5) 'B'
        1 1 0 0 0       1 1 1 0 0

    Returns:
        ``(L, 2)`` int64 taps.
    """
    _check_mask_type(mask_type)
    kh, kw = _odd(kernel_size, "horizontal_stack_taps")
    cy, cx = kh // 2, kw // 2
    last = cx + (mask_type == "B")
    return _from_predicate(kh, kw, lambda ky, kx: ky == cy and kx < last)


def causal_taps_1d(kernel_size, dilation=1):
    """Time offsets of a causal dilated 1-D convolution (WaveNet [3], Figure 3).

    Tap ``k`` of ``w[:, :, k]`` reads input ``t + offsets[k]`` with
    ``offsets[k] = -dilation * (K - 1 - k)``: the last tap is the present sample,
    the first is ``dilation*(K-1)`` steps in the past.  K=2, d=4::

        input   t-4 . . . t
                 |        |
        output            t

    Returns:
        ``(K,)`` int64 offsets, all <= 0, ending with 0.
    """
    k, d = int(kernel_size), int(dilation)
    if k < 1 or d < 1:
        raise ValueError(f"kernel_size and dilation must be >= 1, got kernel_size={k}, dilation={d}")
    return -d * (k - 1 - np.arange(k, dtype=np.int64))


def taps_to_mask(taps, kernel_size):
    """The ``(kh, kw)`` 0/1 float mask with ones at the live taps (for ``w * mask`` twins)."""
    kh, kw = kernel_size_2d(kernel_size)
    taps = as_taps(taps, (kh, kw))
    mask = np.zeros((kh, kw))
    mask[taps[:, 0], taps[:, 1]] = 1.0
    return mask


def mask_to_taps(mask):
    """The live taps (nonzero entries) of a ``(kh, kw)`` mask, in raster order."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (kh, kw), got shape {mask.shape}")
    return np.argwhere(mask != 0).astype(np.int64).reshape(-1, 2)


def as_taps(taps, kernel_size):
    """Validate a tap list against a kernel size; returns a C-contiguous int64 ``(L, 2)`` array.

    Raises:
        TypeError: taps are not integers.
        ValueError: wrong shape, out-of-range or repeated taps, or no taps at all.
    """
    kh, kw = kernel_size_2d(kernel_size)
    arr = np.asarray(taps)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"taps must be integers (ky, kx), got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"taps must have shape (L, 2) with L >= 1, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if (arr[:, 0].min() < 0 or arr[:, 0].max() >= kh or arr[:, 1].min() < 0 or arr[:, 1].max() >= kw):
        raise ValueError(f"taps must lie inside the {kh}x{kw} kernel, got {arr.tolist()}")
    if len(np.unique(arr[:, 0] * kw + arr[:, 1])) != len(arr):
        raise ValueError(f"taps must not repeat, got {arr.tolist()}")
    return arr


def gather_taps(w, taps, center_mask=None):
    """Weight -> per-tap matrices: ``wl[l] = w[:, :, ky_l, kx_l]``, shape ``(L, Cout, Cin)``.

    ``center_mask`` (``(Cout, Cin)`` 0/1) multiplies the matrix of the centre tap, which
    must then be live.  Works on NumPy and CuPy weights.
    """
    kh, kw = w.shape[2], w.shape[3]
    taps = as_taps(taps, (kh, kw))
    wl = w[:, :, taps[:, 0], taps[:, 1]].transpose(2, 0, 1)  # (L, Cout, Cin)
    if center_mask is None:
        return wl
    lc = center_index(taps, (kh, kw))
    wl = wl.copy()
    wl[lc] = wl[lc] * center_mask
    return wl


def scatter_taps(wl, taps, kernel_size, center_mask=None):
    """Per-tap matrices -> full weight: inverse of ``gather_taps``, zero at every dead tap.

    Args:
        wl: ``(L, Cout, Cin)``.
        taps: ``(L, 2)``.
        kernel_size: ``(kh, kw)``.
        center_mask: optional ``(Cout, Cin)``, applied to the centre tap's matrix.

    Returns:
        ``(Cout, Cin, kh, kw)`` array of ``wl``'s type.
    """
    kh, kw = kernel_size_2d(kernel_size)
    taps = as_taps(taps, (kh, kw))
    L, cout, cin = wl.shape
    xp = get_array_module(wl)
    w = xp.zeros((cout, cin, kh, kw), dtype=wl.dtype)
    w[:, :, taps[:, 0], taps[:, 1]] = wl.transpose(1, 2, 0)
    if center_mask is not None:
        cy, cx = kh // 2, kw // 2
        w[:, :, cy, cx] = w[:, :, cy, cx] * center_mask
    return w


def center_index(taps, kernel_size):
    """Index ``l`` of the centre tap in ``taps`` (ValueError when the centre is not live)."""
    cy, cx = center(kernel_size)
    hit = np.flatnonzero((taps[:, 0] == cy) & (taps[:, 1] == cx))
    if len(hit) == 0:
        raise ValueError(f"center_mask given but the centre tap {(cy, cx)} is not in the tap list "
                         "(use mask-B taps with a mask-A channel-group mask)")
    return int(hit[0])


def channel_group_mask(out_channels, in_channels, mask_type, groups=3):
    """R -> G -> B connectivity at the centre tap ([1] Section 3.4, Figure 2), shape ``(Cout, Cin)``.

    Channels are split into ``groups`` contiguous blocks: channel ``c`` of ``C`` belongs to
    group ``c * groups // C`` (so an RGB input has one channel per group, and
    ``3*256`` logits split into R, G and B blocks of 256).  Output group g sees input group
    h at the centre pixel when ``h < g`` (mask A) or ``h <= g`` (mask B); all other taps
    are unrestricted.  For 3 groups and one channel each::

        mask A      mask B        (rows: output R, G, B; columns: input R, G, B)
        0 0 0       1 0 0
        1 0 0       1 1 0
        1 1 0       1 1 1

    With ``groups=1`` mask A is all zeros (the centre is dead) and mask B all ones.

    Returns:
        float64 0/1 array ``(out_channels, in_channels)``.
    """
    _check_mask_type(mask_type)
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    for name, c in (("out_channels", out_channels), ("in_channels", in_channels)):
        if c < groups:
            raise ValueError(f"{name}={c} is smaller than groups={groups}; each group needs a channel")
    g_out = np.arange(out_channels) * groups // out_channels
    g_in = np.arange(in_channels) * groups // in_channels
    if mask_type == "A":
        return (g_in[None, :] < g_out[:, None]).astype(np.float64)
    return (g_in[None, :] <= g_out[:, None]).astype(np.float64)


def pixelcnn_mask(kernel_size, mask_type, out_channels, in_channels, groups=1):
    """Taps and centre mask of a PixelCNN layer with ``groups`` channel groups ([1] Figure 2).

    With one group the centre is simply dead (A) or live (B) and no centre mask is
    needed.  With several groups the centre tap is live and ``channel_group_mask``
    decides which channel pairs it connects.

    Returns:
        ``(taps, center_mask)``; ``center_mask`` is None when ``groups == 1``.

    Raises:
        ValueError: a layer with no live tap at all (1x1 mask A with one group).
    """
    if int(groups) == 1:
        taps = pixelcnn_taps(kernel_size, mask_type)
        if len(taps) == 0:
            raise ValueError(f"a {kernel_size_2d(kernel_size)} mask-{mask_type} convolution with one "
                             "channel group has no live tap (it would always output its bias)")
        return taps, None
    return (pixelcnn_taps(kernel_size, "B"),
            channel_group_mask(out_channels, in_channels, mask_type, groups))


def dense_mask(taps, kernel_size, out_channels, in_channels, center_mask=None):
    """The full ``(Cout, Cin, kh, kw)`` 0/1 mask equal to (taps, center_mask), for ``w * mask`` twins."""
    kh, kw = kernel_size_2d(kernel_size)
    mask = np.broadcast_to(taps_to_mask(taps, (kh, kw)), (out_channels, in_channels, kh, kw)).copy()
    if center_mask is not None:
        mask[:, :, kh // 2, kw // 2] *= np.asarray(center_mask)
    return mask
