"""The sequence-to-sequence autoencoder (Srivastava et al. 2015; Sutskever et al. 2014): an LSTM reads,
another writes.

An example is read as a sequence of T frames of F numbers (an 8x8 digit as 8 rows of 8
pixels; a 1-D series as T frames of 1). The **encoder** LSTM ([2] §2; minigen's
``LSTMCell``, ``minigen/nn/recurrent.py``) reads x_1..x_T; its last state is mapped to
the code. The **decoder** LSTM starts from the code and writes the frames back::

    (h_t, c_t) = LSTM_enc(x_t, (h_{t-1}, c_{t-1})),  t = 1..T,  from zeros
    z = W_z h_T + b_z                                              the code (J numbers)
    s_0 = (tanh(W_s z + b_s), 0)
    s_t = LSTM_dec(u_t, s_{t-1}),   x^_t = W_o h_t^dec + b_o      t = 1..T,  u_1 = 0
    u_{t+1} = x_t      (teacher forcing: the true previous frame)
    u_{t+1} = x^_t     (free running: the decoder's own previous output)
    loss = sum_t ||x^_t - x_t||^2                                   (squared error per example)

Srivastava et al. [1] (§2.2-2.3) call a decoder fed its previous frames *conditional*
and one fed nothing *unconditional*; teacher forcing (Williams & Zipser 1989) is how a
conditional decoder trains. At test time there is no true previous frame: the decoder
runs free, and a model trained only with teacher forcing meets its own (imperfect)
outputs for the first time (exposure bias). ``teacher_forcing`` is the probability,
drawn per step and batch, of feeding the true frame in training (1: always, 0: a
free-running decoder in training too; in between: scheduled sampling, Bengio et al.
2015). Every figure here is free running: ``loss``/``mse`` on the validation and test
splits decode from the code alone, and ``mse_teacher`` beside them is the teacher-forced
error. ([1] also reconstructs in reverse order, which shortens the path from the last
inputs to the first outputs; on 8-step digits it is not needed.)

It inherits everything else from ``Autoencoder``: the code scatter, interpolations, a
Gaussian fitted to the codes for (non-likelihood) samples.

References:
    [1] N. Srivastava, E. Mansimov and R. Salakhutdinov, "Unsupervised learning of video
        representations using LSTMs", ICML 2015. https://arxiv.org/abs/1502.04681
    [2] I. Sutskever, O. Vinyals and Q. V. Le, "Sequence to sequence learning with neural
        networks", NeurIPS 2014. https://arxiv.org/abs/1409.3215
"""
import math

import numpy as np

from autograd import Tensor, ops

from ...nn.layers import Linear
from ...nn.module import Module
from ...nn.recurrent import LSTMCell
from ..registry import Preset, TrainConfig, register
from .autoencoder import DIGITS_RECIPE, Autoencoder

__all__ = ["Seq2SeqAutoencoder", "Seq2SeqEncoder", "Seq2SeqDecoder", "sine_series"]


class Seq2SeqEncoder(Module):
    """x (N, 1, T, F) -> z (N, J): an LSTM over the T frames, its last h mapped to the code."""

    def __init__(self, frames, features, hidden, code_dim, *, rng, dtype):
        super().__init__()
        self.T, self.F = frames, features
        self.cell = LSTMCell(features, hidden, rng=rng, dtype=dtype)
        self.head = Linear(hidden, code_dim, rng=rng, dtype=dtype)

    def forward(self, x):
        x = x.reshape(x.shape[0], self.T, self.F)                  # (N, T, F)
        state = None
        for t in range(self.T):
            state = self.cell(x[:, t], state)                      # (h, c), each (N, H)
        return self.head(state[0])                                 # (N, J)


class Seq2SeqDecoder(Module):
    """z (N, J) -> frames (N, T F, 1): an LSTM from s_0 = (tanh(W_s z + b_s), 0), fed its previous
    output (free running) or, where ``teacher`` says, the true previous frame."""

    def __init__(self, frames, features, hidden, code_dim, *, rng, dtype):
        super().__init__()
        self.T, self.F = frames, features
        self.init = Linear(code_dim, hidden, rng=rng, dtype=dtype)
        self.cell = LSTMCell(features, hidden, rng=rng, dtype=dtype)
        self.out = Linear(hidden, features, rng=rng, dtype=dtype)

    def forward(self, z, frames=None, use_true=None):
        """Args:
            z: codes (N, J).
            frames: the true frames (N, T, F) for teacher forcing, or None.
            use_true: bools (T,): feed the true frame x_{t-1} at step t (needs ``frames``).

        Returns:
            (N, T F, 1): x^_1..x^_T flattened.
        """
        h = ops.tanh(self.init(z))                                 # (N, H)
        state = (h, h * 0.0)
        u = Tensor(z.xp.zeros((z.shape[0], self.F), dtype=z.dtype))    # u_1 = 0
        outputs = []
        for t in range(self.T):
            state = self.cell(u, state)
            x_hat = self.out(state[0])                             # (N, F)
            outputs.append(x_hat)
            teach = frames is not None and use_true is not None and t + 1 < self.T and use_true[t + 1]
            u = frames[:, t] if teach else x_hat
        return ops.stack(outputs, axis=1).reshape(z.shape[0], self.T * self.F, 1)


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, code_dim=16, hidden=128, teacher_forcing=1.0)


@register("seq2seq-autoencoder")
class Seq2SeqAutoencoder(Autoencoder):
    """Seq2seq autoencoder (Srivastava et al. 2015): LSTM encoder and decoder; teacher forcing or free run.

    Args:
        data_shape: (1, T, F): T frames of F numbers (a digit: (1, 8, 8), its rows).
        num_levels: L of the raw data (scaled to [0, 1]); None for continuous data.
        code_dim: J.
        hidden: H, the size of both LSTMs' states.
        teacher_forcing: probability of feeding the true previous frame in training.
        rng: generator (or seed) of the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="8 rows of 8: LSTM 128 -> code 16 -> LSTM 128, teacher forcing"),
        "digits-free-running": Preset(model=dict(_DIGITS, teacher_forcing=0.0), train=DIGITS_RECIPE,
                                      about="the reference with a decoder fed its own outputs in training"),
        "digits-tiny": Preset(model=dict(_DIGITS, code_dim=4, hidden=16),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, code_dim=16, hidden=128, teacher_forcing=1.0,
                 rng=None, dtype=np.float32):
        if len(data_shape) != 3 or data_shape[0] != 1:
            raise ValueError(f"data_shape={tuple(data_shape)!r}: a seq2seq autoencoder reads (1, T, F), "
                             "T frames of F numbers")
        if not 0 <= teacher_forcing <= 1:
            raise ValueError(f"teacher_forcing={teacher_forcing!r} is not allowed: a probability in [0, 1]")
        super().__init__(data_shape, num_levels, code_dim, (hidden,), "mlp", "tanh", "linear", "mse",
                         rng=rng, dtype=dtype)
        self.teacher_forcing = teacher_forcing

    def build_networks(self, architecture, code_dim, hidden, activation, code_activation, K, dtype):
        """The two LSTMs of the module docstring."""
        _, T, F = self.data_shape
        return (Seq2SeqEncoder(T, F, hidden[0], code_dim, rng=self.rng, dtype=dtype),
                Seq2SeqDecoder(T, F, hidden[0], code_dim, rng=self.rng, dtype=dtype))

    def decode_frames(self, h, x_in, use_true):
        """The decoder fed the true frames of ``x_in`` where ``use_true`` says: (N, D, 1)."""
        _, T, F = self.data_shape
        frames = x_in.reshape(x_in.shape[0], T, F)
        return self.decoder(h if h.device == self.device else h.to(self.device), frames, use_true)

    def objective(self, x, rng, train=True):
        """Squared error per example of the decoded frames: teacher-forced steps drawn with
        probability ``teacher_forcing`` while training, free running otherwise."""
        x_in, target = self.data_view(x)
        h = self.encode(x_in)
        if train and self.training and self.teacher_forcing > 0:
            use_true = rng.random(self.data_shape[1]) < self.teacher_forcing
            out = self.decode_frames(h, x_in, use_true)
        else:
            out = self.decode(h)                                                 # free running
        rec = self.reconstruction_loss(out, target).mean()
        return rec, {"rec": float(rec.item())}, h

    def eval_step(self, batch):
        """The free-running loss and ``mse``, and ``mse_teacher`` (every step fed the true frame)."""
        metrics = super().eval_step(batch)
        x_in, target = self.data_view(self.split_batch(batch)[0])
        out = self.decode_frames(self.encode(x_in), x_in, np.ones(self.data_shape[1], bool))
        metrics["mse_teacher"] = float(self.reconstruction_loss(out, target).mean().item())
        return metrics


def sine_series(n, frames=32, rng=None):
    """n noisy sine waves of random frequency, phase and amplitude, sampled at ``frames`` points:
    a 1-D series for ``data_shape=(1, frames, 1)``, ``num_levels=None``. Array (n, 1, frames, 1)."""
    rng = np.random.default_rng(rng)
    t = np.arange(frames)[None, :]
    freq, phase = rng.uniform(0.1, 0.5, (n, 1)), rng.uniform(0, 2 * math.pi, (n, 1))
    amp = rng.uniform(0.5, 1.0, (n, 1))
    x = amp * np.sin(freq * t + phase) + 0.05 * rng.standard_normal((n, frames))
    return x.astype(np.float32).reshape(n, 1, frames, 1)
