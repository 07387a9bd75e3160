"""Recurrent layers: LSTMCell, LSTM (a loop over time of LSTMCells) and GRUCell.

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000), in the
form PyTorch and cuDNN compute, gates in the order i, f, g, o::

    [i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh        (N, 4H), split in four
    i, f, o = sigmoid(.),  g = tanh(.)
    c' = f * c + i * g
    h' = o * tanh(c')

GRU (Cho et al. 2014), gates in the order r, z, n::

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    h' = (1 - z) * n + z * h

The parameters use PyTorch's names and layout (``weight_ih`` is (4H, I) for the LSTM,
the gates stacked along its rows; two biases, which are redundant but make PyTorch
weights load unchanged), and PyTorch's initialisation: everything uniform in
``+-1/sqrt(H)``. ``LSTM`` is literally a loop of ``LSTMCell`` calls over ``x[t]``.
(Projecting all steps at once, ``x W_ih^T`` for the whole sequence, and slicing the
result per step is slower here: each slice of a tensor that needs a gradient sends a
full-size gradient back, which costs O(T^2) in backward; slicing the input costs nothing
when it is data.) PixelRNN's row and diagonal LSTMs drive ``LSTMCell.step`` with their
own input-to-state convolutions.
"""
import numpy as np

from autograd import Tensor, ops

from . import init
from .module import Module, ModuleList, Parameter

__all__ = ["LSTMCell", "LSTM", "GRUCell"]


class _RNNCellBase(Module):
    """Creates ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)`` and the two biases (G*H,)."""

    n_gates = 1

    def __init__(self, input_size, hidden_size, bias=True, *, rng, dtype=np.float32):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        rows = self.n_gates * hidden_size

        def uniform(shape):  # PyTorch: every RNN parameter ~ U(-1/sqrt(H), 1/sqrt(H))
            return Parameter(init.default_uniform(shape, rng, fan_in=hidden_size, dtype=dtype))

        self.weight_ih = uniform((rows, input_size))
        self.weight_hh = uniform((rows, hidden_size))
        self.bias_ih = uniform((rows,)) if bias else None
        self.bias_hh = uniform((rows,)) if bias else None

    def input_projection(self, x):
        """``x W_ih^T + b_ih``: the part of the gates that does not depend on the state.

        Args:
            x: (..., input_size), e.g. all time steps at once.

        Returns:
            (..., n_gates * hidden_size).
        """
        xw = x @ self.weight_ih.T
        return xw + self.bias_ih if self.bias_ih is not None else xw

    def hidden_projection(self, h):
        """``h W_hh^T + b_hh`` for the state h (N, H). Returns: (N, n_gates * H)."""
        hw = h @ self.weight_hh.T
        return hw + self.bias_hh if self.bias_hh is not None else hw

    def zeros_state(self, x):
        """A zero (N, H) state with the dtype and device of ``x`` (N, ...)."""
        return Tensor(x.xp.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class LSTMCell(_RNNCellBase):
    """One LSTM step (see the module docstring for the equations).

    Args:
        input_size: I, size of x's last axis.
        hidden_size: H.
        bias: learn b_ih and b_hh.
        rng: ``numpy.random.Generator`` for the initial weights.
        dtype: float dtype of the parameters.
    """

    n_gates = 4

    def forward(self, x, state=None):
        """One step.

        Args:
            x: (N, input_size).
            state: ``(h, c)``, each (N, hidden_size); zeros when None.

        Returns:
            ``(h', c')``, each (N, hidden_size).
        """
        return self.step(self.input_projection(x), state)

    def step(self, xw, state=None):
        """One step from a precomputed input projection ``xw = x W_ih^T + b_ih`` (N, 4H).

        Args:
            xw: (N, 4 * hidden_size).
            state: ``(h, c)`` or None for zeros.

        Returns:
            ``(h', c')``.
        """
        h, c = state if state is not None else (self.zeros_state(xw), self.zeros_state(xw))
        gates = xw + self.hidden_projection(h)                 # (N, 4H)
        i, f, g, o = ops.split(gates, 4, axis=-1)              # each (N, H)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, c


class LSTM(Module):
    """A (stacked) LSTM over a whole sequence: ``num_layers`` LSTMCells looped over time.

    Args:
        input_size: I.
        hidden_size: H.
        num_layers: cells stacked; layer l > 0 reads layer l-1's outputs.
        bias: learn the biases.
        batch_first: inputs and outputs are (N, T, .) instead of (T, N, .).
        rng: ``numpy.random.Generator`` for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, *, rng,
                 dtype=np.float32):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first = batch_first
        self.cells = ModuleList([LSTMCell(input_size if layer == 0 else hidden_size, hidden_size, bias,
                                          rng=rng, dtype=dtype) for layer in range(num_layers)])

    def forward(self, x, state=None):
        """Run over the sequence.

        Args:
            x: (T, N, I), or (N, T, I) with ``batch_first``.
            state: ``(h0, c0)``, each (num_layers, N, H); zeros when None.

        Returns:
            ``(outputs, (h, c))``: outputs (T, N, H) (or (N, T, H)) are the last layer's h at
            every step; h and c (num_layers, N, H) are every layer's state after the last step.
        """
        if x.ndim != 3:
            raise ValueError(f"LSTM expects a 3-D input ({'N, T' if self.batch_first else 'T, N'}, "
                             f"{self.input_size}), got shape {x.shape}")
        if self.batch_first:
            x = x.swapaxes(0, 1)                               # (T, N, I)
        h_last, c_last = [], []
        for layer, cell in enumerate(self.cells):
            h_c = None if state is None else (state[0][layer], state[1][layer])
            outputs = []
            for t in range(x.shape[0]):
                h_c = cell(x[t], h_c)                          # (h, c), each (N, H)
                outputs.append(h_c[0])
            x = ops.stack(outputs, axis=0)                     # (T, N, H): next layer's input
            h_last.append(h_c[0])
            c_last.append(h_c[1])
        outputs = x.swapaxes(0, 1) if self.batch_first else x
        return outputs, (ops.stack(h_last, axis=0), ops.stack(c_last, axis=0))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, " \
               f"batch_first={self.batch_first}"


class GRUCell(_RNNCellBase):
    """One GRU step (see the module docstring for the equations).

    Args:
        input_size: I.
        hidden_size: H.
        bias: learn b_ih and b_hh.
        rng: ``numpy.random.Generator`` for the initial weights.
        dtype: float dtype of the parameters.
    """

    n_gates = 3

    def forward(self, x, h=None):
        """One step.

        Args:
            x: (N, input_size).
            h: (N, hidden_size), zeros when None.

        Returns:
            h' (N, hidden_size).
        """
        h = h if h is not None else self.zeros_state(x)
        x_r, x_z, x_n = ops.split(self.input_projection(x), 3, axis=-1)    # each (N, H)
        h_r, h_z, h_n = ops.split(self.hidden_projection(h), 3, axis=-1)   # each (N, H)
        r = ops.sigmoid(x_r + h_r)
        z = ops.sigmoid(x_z + h_z)
        n = ops.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h
