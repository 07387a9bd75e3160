"""Implementation of WaveNet [1]: dilated causal convolutions over a sequence, and its fast sampler [2].

WaveNet models a sequence x_1..x_T of discrete values (audio samples, or the 64 pixels
of a digit read in raster order) by the chain rule ([1] eq. (1))::

    p(x) = prod_{t=1}^{T} p(x_t | x_1, ..., x_{t-1})        each factor an L-way softmax ([1] §2.2)

**Causal convolutions** ([1] §2.1, Figure 2). A convolution of kernel K and dilation d
whose output at t reads only the inputs t, t-d, ..., t-d(K-1)::

    y_t = b + sum_{k=0}^{K-1} W_k x_{t - d(K-1-k)}          (kernels/reference/causal_conv1d.py)

Doubling d from layer to layer ([1] Figure 3) grows the receptive field exponentially:
kernel-2 layers with dilations 1, 2, 4, ..., 32 reach 1 + 2 + ... + 32 = 63 steps back.
The input layer is a kernel-2 causal convolution whose *present* tap is removed, the 1-D
mask A of PixelCNN (``ShiftedConv1d``): its output at t holds x_{t-1} and nothing of x_t,
so the logits at t never see x_t, and the whole network sees exactly

    receptive field = 1 + sum_l d_l (K-1) = 1 + 63 = 64 values x_{t-64}..x_{t-1}

(the digits-reference; ``receptive_field``; the test measures it with the Jacobian). A full
kernel-2 convolution on the input shifted by one step, as many implementations write it,
would see one value more (65).

**Gated activation units** ([1] §2.3, eq. (3); ``gated_pixelcnn.gate``)::

    z = tanh(W_f * h) ⊙ sigmoid(W_g * h)                     (one dilated conv gives both halves)

**Residual and skip connections** ([1] §2.4, Figure 4): every layer returns
``h + 1x1_res(z)`` to the next layer and ``1x1_skip(z)`` to the output head, which reads the
sum of all skips::

    ReLU -> 1x1 S->H -> ReLU -> 1x1 H->L -> softmax          ([1] Figure 4)

**μ-law companding** ([1] §2.2, eq. (2)): audio in [-1, 1] is quantised to 256 levels by
``f(x) = sign(x) ln(1 + μ|x|) / ln(1 + μ)``, μ = 255 (``minigen.data.mu_law_encode``).

**Fast generation** [2]: sampling one value at a time with a pass over the receptive
field F costs O(F) steps per layer per value (F ~ 2^layers); caching each layer's past
inputs in a queue costs one step per layer. See ``fast_wavenet.py`` (``generate(u, fast=True)``), which
gives the same samples as the naive loop from the same noise.

Digits as a sequence: an (1, 8, 8) image is read in raster order as 64 values of 17
levels, so WaveNet's NLL sits in the same table as PixelCNN's; inputs are scaled by
x / (L - 1) (x/16). Architecture of ``digits-reference``::

    x/16 -> shift (mask A) -> conv 1->64 (kernel 2, present tap removed)
         -> 6 gated layers: dilated causal conv 64->2x64 (K=2, d=1,2,4,8,16,32), gate,
            residual 1x1 64->64, skip 1x1 64->64
    sum of skips -> ReLU -> 1x1 64->64 -> ReLU -> 1x1 64->17

References:
    [1] A. van den Oord, S. Dieleman, H. Zen, K. Simonyan, O. Vinyals, A. Graves,
        N. Kalchbrenner, A. Senior, K. Kavukcuoglu, "WaveNet: A Generative Model for Raw
        Audio", 2016. https://arxiv.org/abs/1609.03499 (eqs. (1)-(3), §2.1-2.4, Figures 2-4).
    [2] T. L. Paine, P. Khorrami, S. Chang, Y. Zhang, P. Ramachandran, M. A. Hasegawa-Johnson,
        T. S. Huang, "Fast Wavenet Generation Algorithm", 2016. https://arxiv.org/abs/1611.09482
"""
import numpy as np

from autograd import ops

from ...nn import CausalConv1d, Module, ModuleList, Parameter, init
from ..base import check_positive
from ..registry import Preset, TrainConfig, register
from .base import AutoregressiveModel
from .fast_wavenet import generate
from .gated_pixelcnn import gate

__all__ = ["WaveNet", "ShiftedConv1d", "ResidualLayer", "shift_right"]


def shift_right(x):
    """Step t of the result is step t-1 of x (N, C, T); step 0 is zeros."""
    return ops.pad(x, ((0, 0), (0, 0), (1, 0)))[:, :, :-1]


class ShiftedConv1d(Module):
    """The input layer: a kernel-2 causal convolution with the present tap removed (1-D mask A).

    ``y_t = b + W_0 x_{t-1}``: the tap W_1 that would read x_t is masked, so only W_0 is a
    parameter; fan_in counts the full kernel (Cin * 2), as PyTorch's ``w * mask`` would.
    """

    def __init__(self, in_channels, out_channels, *, rng, dtype=np.float32):
        super().__init__()
        fan_in = 2 * in_channels
        self.weight = Parameter(init.default_uniform((out_channels, in_channels, 1), rng, fan_in=fan_in,
                                                     dtype=dtype))
        self.bias = Parameter(init.default_uniform((out_channels,), rng, fan_in=fan_in, dtype=dtype))

    def forward(self, x):
        """x (N, Cin, T) -> (N, Cout, T); output t sees x_{t-1} only."""
        return ops.causal_conv1d(shift_right(x), self.weight, self.bias)


class ResidualLayer(Module):
    """One layer of [1] Figure 4: dilated causal conv -> gate -> residual 1x1 and skip 1x1.

    Args:
        residual: R, channels of the residual stream.
        gate_channels: G; the dilated conv makes 2G (the f and g halves).
        skip: S, channels of the skip connection.
        kernel, dilation: of the dilated causal convolution.
        last: the last layer has no residual 1x1 (nothing reads its output).
    """

    def __init__(self, residual, gate_channels, skip, kernel, dilation, last=False, *, rng, dtype=np.float32):
        super().__init__()
        self.dilated = CausalConv1d(residual, 2 * gate_channels, kernel, dilation, rng=rng, dtype=dtype)
        self.skip = CausalConv1d(gate_channels, skip, 1, rng=rng, dtype=dtype)
        self.res = None if last else CausalConv1d(gate_channels, residual, 1, rng=rng, dtype=dtype)

    def forward(self, h):
        """h (N, R, T) -> ``(h', skip)``: (N, R, T) (h itself for the last layer), (N, S, T)."""
        z = gate(self.dilated(h))                                       # (N, G, T): tanh ⊙ sigmoid
        return (h if self.res is None else h + self.res(z)), self.skip(z)


_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, residual=64, gate_channels=64, skip=64, head=64,
               kernel=2, dilations=(1, 2, 4, 8, 16, 32))
_SPEECH = dict(data_shape=(1, 1024), num_levels=256, residual=32, gate_channels=32, skip=64, head=64,
               kernel=2, dilations=(1, 2, 4, 8, 16, 32, 64, 128) * 2)


@register("wavenet")
class WaveNet(AutoregressiveModel):
    """WaveNet (van den Oord et al. 2016): dilated causal convolutions, gated units, a softmax.

    Args:
        data_shape: (1, T) sequences, or (1, H, W) images read in raster order.
        num_levels: L, the values of one step (17 for digits, 256 for μ-law audio).
        residual: R, channels of the residual stream.
        gate_channels: G, channels after the gate (the dilated conv makes 2G).
        skip: S, channels of the skip connections.
        head: channels of the hidden 1x1 layer of the output head.
        kernel: K of the dilated convolutions (2 in [1]).
        dilations: one per gated layer, e.g. (1, 2, ..., 32), or several cycles.
        rng: generator or seed for the initial weights.
        dtype: float dtype of the parameters.
    """

    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(
            model=_DIGITS, about="64 raster-ordered pixels, dilations 1..32: receptive field 64",
            train=TrainConfig(data="digits", epochs=200, early_stopping=("val/nll", 20), batch_size=64,
                              lr=1e-3, seed=0)),
        "digits-tiny": Preset(  # seconds on a CPU: the tests' and the example's smoke settings
            model=dict(_DIGITS, residual=16, gate_channels=16, skip=16, head=16),
            train=TrainConfig(data="digits", epochs=4, batch_size=64, lr=1e-2, seed=0)),
        "speech": Preset(
            model=_SPEECH, about="spoken digits by espeak-ng, 8 kHz μ-law (python -m minigen.data speech); "
                                 "two cycles of dilations 1..128: receptive field 511 steps (64 ms)",
            train=TrainConfig(data="speech", epochs=10, early_stopping=("val/nll", 3), batch_size=8,
                              lr=1e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, residual=64, gate_channels=64, skip=64, head=64,
                 kernel=2, dilations=(1, 2, 4, 8, 16, 32), rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(data_shape=data_shape, residual=residual, gate_channels=gate_channels, skip=skip,
                       head=head, kernel=kernel, dilations=tuple(dilations))
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels={num_levels!r} is not allowed: num_levels must be an integer >= 2")
        if len(data_shape) not in (2, 3) or data_shape[0] != 1:
            raise ValueError(f"data_shape={tuple(data_shape)} is not allowed: WaveNet models one channel, "
                             "(1, T) sequences or (1, H, W) images read in raster order")
        if len(dilations) < 1:
            raise ValueError("dilations=() is not allowed: WaveNet needs at least one gated layer")
        self.data_shape, self.num_levels = tuple(data_shape), int(num_levels)
        self.dilations, self.kernel = tuple(int(d) for d in dilations), int(kernel)
        self.dataset_view = "binary" if num_levels == 2 else "raw"
        self.D = int(np.prod(self.data_shape))
        self.input_conv = ShiftedConv1d(1, residual, rng=self.rng, dtype=dtype)
        self.layers = ModuleList([ResidualLayer(residual, gate_channels, skip, kernel, d,
                                                last=i == len(self.dilations) - 1, rng=self.rng, dtype=dtype)
                                  for i, d in enumerate(self.dilations)])
        self.head = ModuleList([CausalConv1d(skip, head, 1, rng=self.rng, dtype=dtype),
                                CausalConv1d(head, num_levels, 1, rng=self.rng, dtype=dtype)])

    @property
    def title(self):
        return "WaveNet"

    @property
    def receptive_field(self):
        """How many earlier values the logits at t see: 1 (the shifted input) + sum_l d_l (K-1)."""
        return 1 + sum(d * (self.kernel - 1) for d in self.dilations)

    # -- the network --------------------------------------------------------------------
    def sequence_logits(self, seq):
        """Logits of every step of sequences: seq (N, 1, T) levels (array or float Tensor) -> (N, L, T)."""
        h = self.input_conv(self.as_input(seq) * (1.0 / (self.num_levels - 1)))   # (N, R, T): x_{t-1}
        skips = 0
        for layer in self.layers:
            h, s = layer(h)
            skips = skips + s                                                   # (N, S, T)
        return self.head[1](self.head[0](skips.relu()).relu())                  # (N, L, T)

    def logits(self, x):
        """Logits of every conditional: x (N, 1, *spatial) -> Tensor (N, 1, L, *spatial); images are
        read in raster order, so pixel (i, j) is step i*W + j."""
        x = self.as_input(x)
        N = x.shape[0]
        out = self.sequence_logits(x.reshape(N, 1, self.D))                     # (N, L, D)
        return out.reshape((N, 1, self.num_levels) + self.data_shape[1:])

    def dependency_mask(self):
        """(D, D) bool: step i depends on steps i - receptive_field .. i - 1."""
        rank = self.order()
        back = rank[:, None] - rank[None, :]                                    # i - j
        return (back >= 1) & (back <= self.receptive_field)

    def conditional_logits(self, x, c, index):
        """Logits (N, L) of one step: a pass over the receptive field only (the naive sampler)."""
        seq = np.asarray(x).reshape(len(x), 1, self.D)
        t = int(np.ravel_multi_index(tuple(index), self.data_shape[1:]))
        start = max(0, t - self.receptive_field)                               # earlier steps are not seen
        return self.sequence_logits(seq[:, :, start:t + 1])[:, :, -1]

    # -- sampling -----------------------------------------------------------------------
    def generate(self, u, fast=True):
        """Sequences drawn step by step with the given noise ``u`` (n, T) in [0, 1): step t is the
        inverse CDF of p(x_t | x_<t) at u[:, t]. ``fast`` uses the per-layer queues of [2];
        otherwise a pass over the receptive field per step. Returns int64 (n, T)."""
        return generate(self, np.asarray(u, np.float64), fast)

    def sample(self, n, rng, fast=True):
        """``n`` examples shaped like the data, drawn with the fast generator [2] (or the naive one)."""
        x = self.generate(rng.random((n, self.D)), fast).reshape((n,) + self.data_shape)
        return x.astype(np.uint8 if self.num_levels <= 256 else np.int64)

    def figures(self, run_dir, rng, split=None):
        """Images: samples.png and completions.png. Sequences: waveforms.png (real above,
        generated below) and samples.wav (8 kHz μ-law decoded)."""
        if len(self.data_shape) == 3:
            return super().figures(run_dir, rng, split)
        from ._wavenet_audio import audio_figures
        return audio_figures(self, run_dir, rng, split)
