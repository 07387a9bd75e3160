"""PixelCNN training-step benchmark: minigen against the same model in PyTorch CPU.

Run with ``python -m minigen.bench models --only PixelCNN``. The model is
``minigen.models.autoregressive.pixelcnn.PixelCNN`` at MNIST size (docs/performance.md,
"PixelCNN step (batch 64)"), identical in both frameworks, float32, NCHW:

    data       x (64, 1, 28, 28), integer levels 0..L-1 (L = LEVELS), input x / (L - 1)
    layer 1    7x7 conv mask A, 1 -> 64                       (24 of 49 taps live)
    layers 2-6 5 residual blocks  h <- h + conv3x3_B(ReLU(h)), 64 -> 64   (5 of 9 taps)
    head       ReLU, 1x1 conv mask B 64 -> 64, ReLU, 1x1 conv mask B 64 -> L
    loss       mean over the batch of the summed per-pixel cross-entropy (nats per image)
    optimiser  Adam (lr 1e-3), PyTorch default initialisation in both

minigen computes only the live taps (``MaskedConv2d``); PyTorch convolves with
``w * mask`` over all taps, the usual way to write a PixelCNN there.

Passes (each one iteration, timed as a median):

    fwd      the loss, no graph (minigen ``no_grad``, PyTorch ``torch.no_grad``)
    fwd+bwd  the loss and its gradients
    step     a full training step: zero grads, loss, backward, Adam update

PyTorch runs with ``torch.set_num_threads`` equal to Numba's thread count.

With ``--device cuda`` (``python -m minigen.bench models --device cuda``) both run on
the GPU at batch ``GPU_N`` = 256, and every timed pass ends with a device
synchronisation (CuPy's for minigen, ``torch.cuda.synchronize`` for PyTorch).
"""
import numpy as np

from ._timing import step_case_on, torch_or_none, torch_step_passes

N, H, W, HIDDEN, BLOCKS, LEVELS = 64, 28, 28, 64, 5, 2
GPU_N = 256     # issue 16: a training step at batch 256 on 28x28 data


def _minigen_setup():
    from minigen.models.autoregressive.pixelcnn import PixelCNN
    from minigen.models.registry import TrainConfig
    model = PixelCNN(data_shape=(1, H, W), num_levels=LEVELS, hidden=HIDDEN, num_blocks=BLOCKS,
                     head=HIDDEN, rng=0)
    model.configure_optimizers(TrainConfig(lr=1e-3), total_steps=1)
    return model


def _torch_model(torch):
    nn, F = torch.nn, torch.nn.functional

    class MaskedConv2d(nn.Conv2d):
        """PixelCNN mask as ``w * mask`` over the full kernel (grey images: no channel groups)."""

        def __init__(self, cin, cout, k, mask_type):
            super().__init__(cin, cout, k, padding=k // 2)
            mask = torch.ones_like(self.weight)
            mask[:, :, k // 2, k // 2 + (mask_type == "B"):] = 0
            mask[:, :, k // 2 + 1:] = 0
            self.register_buffer("mask", mask)

        def forward(self, x):
            return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    class PixelCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_conv = MaskedConv2d(1, HIDDEN, 7, "A")
            self.blocks = nn.ModuleList([MaskedConv2d(HIDDEN, HIDDEN, 3, "B") for _ in range(BLOCKS)])
            self.head = nn.ModuleList([MaskedConv2d(HIDDEN, HIDDEN, 1, "B"),
                                       MaskedConv2d(HIDDEN, LEVELS, 1, "B")])

        def loss(self, x, target):
            h = self.input_conv(x)
            for conv in self.blocks:
                h = h + conv(F.relu(h))
            logits = self.head[1](F.relu(self.head[0](F.relu(h))))           # (N, L, H, W)
            return F.cross_entropy(logits, target, reduction="sum") / len(x)

    return PixelCNN()


def cases(device):
    """The PixelCNN step case on ``device`` ('cpu', or 'cuda': batch ``GPU_N``, both frameworks on the GPU)."""
    from autograd import no_grad
    torch = torch_or_none()
    n = N if device == "cpu" else GPU_N

    def setup():
        rng = np.random.default_rng(0)
        s = {"x": rng.integers(0, LEVELS, (n, 1, H, W)).astype(np.uint8), "model": _minigen_setup()}
        if torch is not None:
            import numba
            torch.set_num_threads(numba.get_num_threads())
            torch.manual_seed(0)
            s["tmodel"] = _torch_model(torch)
            s["topt"] = torch.optim.Adam(s["tmodel"].parameters(), lr=1e-3)
            s["tx"] = torch.from_numpy(s["x"].astype(np.float32) / (LEVELS - 1))
            s["tt"] = torch.from_numpy(s["x"][:, 0].astype(np.int64))
        return step_case_on(device, s)

    def fwd(s):
        with no_grad():
            return s["model"].nll(s["x"]).mean()

    def fwd_bwd(s):
        s["model"].zero_grad()
        s["model"].nll(s["x"]).mean().backward()

    def step(s):
        s["model"].train_step(s["x"])

    name = f"PixelCNN 7x7A+{BLOCKS}res3x3B+2x1x1 {LEVELS}-way 28x28 N={n}"
    case = {"name": name, "setup": setup,
            "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd, "step": step}, "torch": None}
    if torch is not None:
        case["torch"] = torch_step_passes(torch, inputs=('tx', 'tt'), device=device)
    return [case]
