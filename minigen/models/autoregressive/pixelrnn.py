"""Implementation of PixelRNN [1]: the Row LSTM and the Diagonal BiLSTM.

Like PixelCNN (``pixelcnn.py``), PixelRNN models an image of n pixels in raster order as
p(x) = prod_i p(x_i | x_<i) ([1] eq. (1)), a 17-way (digits) categorical per pixel, and
computes all conditionals in one pass. Its hidden layers are two-dimensional LSTMs that
carry information across the whole image instead of a fixed window. Both layers split the
LSTM's gate pre-activations into an *input-to-state* part K^is ⊛ x, computed for the
whole map at once by a (masked) convolution, and a *state-to-state* part K^ss ⊛ h, which
must be computed step by step ([1] eq. (3))::

    [o, f, i, g] = sigma(K^ss ⊛ h_prev + K^is ⊛ x)       sigma = sigmoid for o, f, i; tanh for g
    c = f ⊙ c_prev + i ⊙ g
    h = o ⊙ tanh(c)

**Row LSTM** ([1] §3.1) processes the image one row at a time, top to bottom. K^is is a
1 x k convolution masked so that pixel (i, j) reads columns j-k//2..j of its row (mask B:
the features at (i, j) of the layer below hold only x_<(i,j)); K^ss is an unmasked 1 x k
convolution of the previous row's state. Row i's state sees row i-1's at columns j-1..j+1,
which saw row i-2's at j-2..j+2, ...: a *triangular* receptive field that widens upward
and misses what lies beyond the triangle.

**Diagonal BiLSTM** ([1] §3.2, Figure 3) runs along diagonals. It *skews* the map, row r
shifted right by r (H x W -> H x (W + H - 1)), so that the diagonals become columns; then
K^is is a 1x1 convolution and K^ss a 2x1 convolution over the previous column, whose two
taps are, back in the image, the pixel above and the pixel to the left. A second LSTM runs
the same on the image flipped left-right; its output is shifted down one row before the
two are added, so no pixel sees a state of its own row to its right. Each direction's
output is *unskewed* back to H x W. Together they see every row above and the current
row to the left: the whole causal context, except one pixel that the first layer's
mask A hides (``DiagonalBiLSTM``; ``dependency_mask`` computes each field exactly).

Architecture of the digits presets ([1] §3.4 and Table 1, shrunk): ``x / (L - 1)`` ->
7x7 mask-A conv 1 -> h -> ``num_layers`` recurrent layers of h hidden units, each with a
residual connection ``y = x + 1x1(LSTM(x))`` (§3.4, Figure 5) -> ReLU -> 1x1 mask-B h -> h
-> ReLU -> 1x1 mask-B h -> L logits. Grey images only (no R -> G -> B channel masks).

Skew and unskew are index maps composed from ``pad``, ``reshape`` and slicing, so their
gradients are those of the shape ops (``tests/minigen/test_pixelrnn.py`` checks them).

References:
    [1] A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, "Pixel Recurrent Neural
        Networks", ICML 2016. https://arxiv.org/abs/1601.06759 (eqs. (1), (3); §3.1 Row
        LSTM; §3.2 Diagonal BiLSTM, Figure 3; §3.4 residual connections, Figure 5; Table 1).
"""
import numpy as np

from autograd import ops
from autograd.ops import taps as T

from ...nn import MaskedConv2d, Module, ModuleList
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel, conv_reach
from .gated_pixelcnn import shift_down

__all__ = ["PixelRNN", "RowLSTM", "DiagonalBiLSTM", "RowLSTMLayer", "DiagonalBiLSTMLayer", "skew", "unskew",
           "lstm_step"]


# -- skewing, [1] §3.2 and Figure 3 ---------------------------------------------------------
def skew(x):
    """Shift row r of x (N, C, H, W) right by r: (N, C, H, W + H - 1), zeros elsewhere.

    As an index map: pad each row to S + 1 = W + H values, flatten, keep the first H*S and
    read them as H rows of S: the value at (r, c) lands at flat index r (S + 1) + c = r S + (r + c).
    """
    N, C, H, W = x.shape
    S = W + H - 1
    flat = ops.pad(x, ((0, 0), (0, 0), (0, 0), (0, H))).reshape(N, C, H * (S + 1))   # (N, C, H*(S+1))
    return flat[:, :, :H * S].reshape(N, C, H, S)                                        # (N, C, H, S)


def unskew(s):
    """The inverse of ``skew``: (N, C, H, S) -> (N, C, H, S - H + 1), row r read from column r on."""
    N, C, H, S = s.shape
    flat = ops.pad(s.reshape(N, C, H * S), ((0, 0), (0, 0), (0, H)))                    # (N, C, H*(S+1))
    return flat.reshape(N, C, H, S + 1)[:, :, :, :S - H + 1]                            # (N, C, H, W)


def skew_reach(r):
    """``skew`` of a reach array (C, H, W, D) (which inputs feed each unit)."""
    C, H, W, D = r.shape
    out = np.zeros((C, H, W + H - 1, D), bool)
    for i in range(H):
        out[:, i, i:i + W] = r[:, i]
    return out


def unskew_reach(r):
    C, H, S, D = r.shape
    return np.stack([r[:, i, i:i + S - H + 1] for i in range(H)], axis=1)


def lstm_step(gates, c):
    """[1] eq. (3): one step of a convolutional LSTM from its gate pre-activations.

    Args:
        gates: K^ss ⊛ h_prev + K^is ⊛ x, (N, 4h, ...) in the order o, f, i, g.
        c: the previous cell state (N, h, ...), or None for zeros.

    Returns:
        ``(h, c)``, each (N, h, ...).
    """
    o, f, i, g = ops.split(gates, 4, axis=1)                          # each (N, h, ...)
    c = ops.sigmoid(i) * ops.tanh(g) + (0 if c is None else ops.sigmoid(f) * c)
    return ops.sigmoid(o) * ops.tanh(c), c


def gate_reach(gates, state):
    """Reach of (h, c) after ``lstm_step``: any of the four gates of a unit, or its old cell."""
    four = gates.reshape((4, -1) + gates.shape[1:]).any(axis=0)
    return four if state is None else four | state


class RowLSTMLayer(Module):
    """Row LSTM layer ([1] §3.1) with its residual connection (§3.4).

    Args:
        channels: C of the input and output maps.
        hidden: h, the LSTM's hidden units.
        kernel: k of the 1 x k input-to-state (masked, centre included) and state-to-state convolutions.
        rng, dtype: initial weights.
    """

    def __init__(self, channels, hidden, kernel=3, *, rng, dtype=np.float32):
        super().__init__()
        self.K_is = MaskedConv2d(channels, 4 * hidden, (1, kernel), rng=rng, dtype=dtype,
                                 taps=T.horizontal_stack_taps((1, kernel), "B"))
        self.K_ss = MaskedConv2d(hidden, 4 * hidden, (1, kernel), bias=False, rng=rng, dtype=dtype,
                                 taps=T.full_taps((1, kernel)))
        self.residual = MaskedConv2d(hidden, channels, 1, taps=T.full_taps(1), rng=rng, dtype=dtype)

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, H, W): rows top to bottom, each one step of eq. (3)."""
        rows = ops.split(self.K_is(x), x.shape[2], axis=2)            # H x (N, 4h, 1, W): K^is ⊛ x_i
        h = c = None
        out = []
        for xi in rows:
            h, c = lstm_step(xi if h is None else xi + self.K_ss(h), c)   # K^ss ⊛ h_{i-1}: (N, 4h, 1, W)
            out.append(h)
        return x + self.residual(ops.concatenate(out, axis=2))        # (N, C, H, W)

    def reach(self, r):
        """Which inputs feed each unit (bool (C, H, W, D)), as ``forward``."""
        gates, state, out = conv_reach(self.K_is, r), None, []
        for i in range(r.shape[1]):
            g = gates[:, i:i + 1] if state is None else gates[:, i:i + 1] | conv_reach(self.K_ss, state)
            state = gate_reach(g, state)
            out.append(state)
        return r | conv_reach(self.residual, np.concatenate(out, axis=1))


class DiagonalBiLSTMLayer(Module):
    """Diagonal BiLSTM layer ([1] §3.2, Figure 3) with its residual connection (§3.4).

    Each direction has a 1x1 input-to-state convolution K^is (on the skewed map) and a
    2x1 state-to-state convolution K^ss over the previous column: state (r, t) reads states
    (r - 1, t - 1) and (r, t - 1), held here as the live taps ky = 0, 1 of a 3x1 kernel.

    Args:
        channels: C of the input and output maps.
        hidden: h, the hidden units of each direction.
        rng, dtype: initial weights.
    """

    def __init__(self, channels, hidden, *, rng, dtype=np.float32):
        super().__init__()
        conv = lambda cin, cout, k, taps, bias=True: MaskedConv2d(  # noqa: E731
            cin, cout, k, taps=taps, bias=bias, rng=rng, dtype=dtype)
        self.K_is = ModuleList([conv(channels, 4 * hidden, 1, T.full_taps(1)) for _ in "lr"])
        self.K_ss = ModuleList([conv(hidden, 4 * hidden, (3, 1), T.vertical_stack_taps((3, 1), "B"), False)
                                for _ in "lr"])
        self.residual = conv(hidden, channels, 1, T.full_taps(1))

    def direction(self, x, d):
        """One direction, left to right (d = 0) on x (N, C, H, W): skew, column LSTM, unskew."""
        s = skew(x)                                                    # (N, C, H, S)
        columns = ops.split(self.K_is[d](s), s.shape[3], axis=3)       # S x (N, 4h, H, 1)
        h = c = None
        out = []
        for xt in columns:
            h, c = lstm_step(xt if h is None else xt + self.K_ss[d](h), c)
            out.append(h)
        return unskew(ops.concatenate(out, axis=3))                    # (N, h, H, W)

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, H, W): left + (right-to-left shifted down one row), residual."""
        left = self.direction(x, 0)
        right = self.direction(x.flip(3), 1).flip(3)                   # the image flipped left-right
        return x + self.residual(left + shift_down(right))             # row r gets right's row r-1

    def reach(self, r):
        """Which inputs feed each unit (bool (C, H, W, D)), as ``forward``."""
        def direction(r, d):
            gates, state, out = conv_reach(self.K_is[d], skew_reach(r)), None, []
            for t in range(gates.shape[2]):
                g = gates[:, :, t:t + 1]                               # column t of the skewed map
                g = g if state is None else g | conv_reach(self.K_ss[d], state)
                state = gate_reach(g, state)
                out.append(state)
            return unskew_reach(np.concatenate(out, axis=2))
        left = direction(r, 0)
        right = np.zeros_like(left)
        right[:, 1:] = direction(r[:, :, ::-1], 1)[:, :-1, ::-1]
        return r | conv_reach(self.residual, left | right)


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, hidden=32, num_layers=2, head=32, first_kernel=7)
_RECIPE = TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64, lr=1e-3,
                      seed=0)
_TINY = TrainConfig(data="digits", epochs=4, batch_size=64, lr=1e-2, seed=0)


class PixelRNN(AutoregressiveModel):
    """The network of [1] §3.4 around a stack of recurrent layers, which the two variants
    (``RowLSTM``, ``DiagonalBiLSTM``) build as ``self.layers``.

    Args:
        data_shape: (1, H, W): grey images.
        num_levels: L, the values of a pixel (0..L-1); L = 2 trains on the binarised data.
        hidden: h, channels of the maps and hidden units of each LSTM.
        num_layers: recurrent layers.
        head: channels of the hidden 1x1 layer of the output head.
        first_kernel: size of the mask-A input convolution (7 in [1]).
        rng: generator or seed for the initial weights.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=32, num_layers=2, head=32, first_kernel=7,
                 rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, hidden=hidden, num_layers=num_layers, head=head,
                       first_kernel=first_kernel)
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels={num_levels!r} is not allowed: num_levels must be an integer >= 2")
        if len(data_shape) != 3 or data_shape[0] != 1:
            raise ValueError(f"data_shape={tuple(data_shape)} is not allowed: {self.title} here models grey "
                             "images (1, H, W)")
        if first_kernel % 2 == 0 or first_kernel < 3:
            raise ValueError(f"first_kernel={first_kernel} is not allowed: it must be odd and >= 3")
        self.data_shape, self.num_levels = tuple(data_shape), num_levels
        self.dataset_view = "binary" if num_levels == 2 else "raw"
        self.D = int(np.prod(self.data_shape))
        self.input_conv = MaskedConv2d(1, hidden, first_kernel, "A", rng=self.rng, dtype=dtype)
        self.head = ModuleList([MaskedConv2d(hidden, head, 1, "B", rng=self.rng, dtype=dtype),
                                MaskedConv2d(head, num_levels, 1, "B", rng=self.rng, dtype=dtype)])

    def logits(self, x):
        """Logits of every conditional: x (N, 1, H, W) levels -> Tensor (N, 1, L, H, W)."""
        x = self.as_input(x)
        N, C, H, W = x.shape
        h = self.input_conv(x * (1.0 / (self.num_levels - 1)))         # (N, h, H, W)
        for layer in self.layers:
            h = layer(h)
        h = self.head[1](self.head[0](h.relu()).relu())                # (N, L, H, W)
        return h.reshape(N, C, self.num_levels, H, W)                  # (N, 1, L, H, W)

    def conditional_logits(self, x, c, index):
        """Logits (N, L) of pixel (i, j): states only flow downward, so rows 0..i suffice."""
        i, j = index
        return self.logits(x[:, :, :i + 1])[:, c, :, i, j]

    def dependency_mask(self):
        """(D, D) bool: pixel i's logits depend on pixel j, propagated through every layer's
        live taps and recurrences (``reach``); the Jacobian test checks it both ways."""
        _, H, W = self.data_shape
        reach = conv_reach(self.input_conv, np.eye(self.D, dtype=bool).reshape(1, H, W, self.D))
        for layer in self.layers:
            reach = layer.reach(reach)
        reach = conv_reach(self.head[1], conv_reach(self.head[0], reach))   # (L, H, W, D)
        return reach.any(axis=0).reshape(self.D, self.D)


@register("row-lstm")
class RowLSTM(PixelRNN):
    """PixelRNN with Row LSTM layers ([1] §3.1): a triangular receptive field.

    With the digits-reference kernels (7x7 mask A, two layers, k = 3) pixel (i, j) sees
    exactly the earlier pixels (i - d, j') with -(5 + d) <= j' - j <= 2 + d: on its own row
    the mask's 3 columns and one more per layer's K^is; above, the mask's 3 columns to the
    right (5 to the left), widened by one column per row by K^ss. On 8x8 digits 156
    (output, earlier input) pairs lie outside the triangle (``dependency_mask``).

    Args:
        kernel: k of the 1 x k input-to-state and state-to-state convolutions (3 in [1]).
        (the others: ``PixelRNN``)
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS, kernel=3), train=_RECIPE,
                                   about="7x7 mask-A conv, 2 Row LSTM layers of 32 units, residual"),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=8, num_layers=1, head=8, first_kernel=5, kernel=3),
                              train=_TINY),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=32, num_layers=2, head=32, first_kernel=7,
                 kernel=3, rng=None, dtype=np.float32):
        super().__init__(data_shape, num_levels, hidden, num_layers, head, first_kernel, rng=rng, dtype=dtype)
        check_positive(kernel=kernel)
        if kernel % 2 == 0:
            raise ValueError(f"kernel={kernel} is not allowed: the Row LSTM's 1 x k kernels must be odd")
        self.layers = ModuleList([RowLSTMLayer(hidden, hidden, kernel, rng=self.rng, dtype=dtype)
                                  for _ in range(num_layers)])


@register("diagonal-bilstm")
class DiagonalBiLSTM(PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers ([1] §3.2): the whole causal context, but one pixel.

    Every earlier pixel feeds pixel (i, j) except, when j + k//2 < W - 1 (k the mask-A
    kernel), the last pixel of the row above, (i - 1, W - 1): the mask-A features at
    (i - 1, W - 1) exclude it, no position right of it exists in that row, and the
    features of row i up to column j reach only columns <= j + k//2 of the row above.
    On 8x8 digits with k = 7 that is 7 rows x 4 columns = 28 pairs (``dependency_mask``).

    Args: as ``PixelRNN``.
    """

    presets = {
        "digits-reference": Preset(model=_DIGITS, train=_RECIPE,
                                   about="7x7 mask-A conv, 2 Diagonal BiLSTM layers of 32 units, residual"),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=8, num_layers=1, head=8, first_kernel=5),
                              train=_TINY),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, hidden=32, num_layers=2, head=32, first_kernel=7,
                 rng=None, dtype=np.float32):
        super().__init__(data_shape, num_levels, hidden, num_layers, head, first_kernel, rng=rng, dtype=dtype)
        self.layers = ModuleList([DiagonalBiLSTMLayer(hidden, hidden, rng=self.rng, dtype=dtype)
                                  for _ in range(num_layers)])
