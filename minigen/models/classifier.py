"""``mlp``: a small MLP classifier of 8x8 digits.

Not a generative model: it models p(y | x), not p(x). It is here to exercise the
trainer, checkpoints and command line end to end, and its features will serve the
sample-quality metrics (a Fréchet distance on a classifier trained with minigen).

::

    logits = W2 dropout(relu(W1 x + b1)) + b2           x: the 64 pixels scaled to [0, 1]
    loss   = -(1/B) sum_i [(1 - e) log p(y_i | x_i) + (e/K) sum_k log p(k | x_i)]

(cross-entropy with label smoothing ``e``, Szegedy et al. 2016, §7; K classes.)

Why the augmentation: the digits test split (the last 447 images) is harder than the
first 1000 — a plain MLP stalls at 91-93 % test accuracy there (98 % on val), however
wide or regularised (weight decay, dropout, noise). Small random affine warps of each
training image (rotation, scale, shear, translation; ``random_affine``) plus label
smoothing lift it to about 96 %. The reference preset trains 150 epochs (2400 steps)
with Adam at a constant lr 2e-3 (a cosine-decayed lr did worse here: 94-95 %), and
evaluates with an exponential moving average of the weights (decay 0.998, with
warm-up), which steadies the result across seeds: 96.0-96.9 % test accuracy over
seeds 0-5 (94.9-96.9 % without the average), in about 10 s on a laptop CPU.
"""
import contextlib

import numpy as np

from autograd import Tensor, get_array_module, no_grad, to_device
from autograd import functional as F

from ..nn import Dropout, Linear
from ..nn.losses import cross_entropy
from .base import GenerativeModel, check_positive
from .registry import Preset, TrainConfig, register


def smoothed_cross_entropy(logits, y, smoothing=0.0):
    """Mean cross-entropy (nats) with label smoothing ``e``.

    ::

        -(1/B) sum_i [(1 - e) log p(y_i | x_i) + (e/K) sum_k log p(k | x_i)]

    Args:
        logits: Tensor (B, K).
        y: int array (B,) of labels.
        smoothing: ``e`` in [0, 1); 0 gives the plain cross-entropy.
    """
    nll = cross_entropy(logits, y)                            # -(1/B) sum_i log p(y_i | x_i)
    if not smoothing:
        return nll
    return (1.0 - smoothing) * nll - smoothing * F.log_softmax(logits, axis=-1).mean()


def random_affine(x, rng, rotate=0.25, scale=0.15, shear=0.3, translate=0.15):
    """Warp each image by its own small random affine map (bilinear, zeros outside).

    In coordinates normalised to [-1, 1] (pixel centres), output pixel ``u`` reads the
    input at ``A u + t`` with ``A = s R(a) + [[0, h], [0, 0]]``: angle ``a``, scale
    ``s``, shear ``h`` and shift ``t`` drawn uniformly from ``+-rotate`` (radians),
    ``1 +- scale``, ``+-shear`` and ``+-translate``.

    Args:
        x: float array (B, C, H, W).
        rng: ``numpy.random.Generator``.

    Returns:
        float array (B, C, H, W), same dtype.
    """
    B, C, H, W = x.shape
    a = rng.uniform(-rotate, rotate, B)[:, None, None]
    s = 1.0 + rng.uniform(-scale, scale, B)[:, None, None]
    h = rng.uniform(-shear, shear, B)[:, None, None]
    t = rng.uniform(-translate, translate, (2, B))[:, :, None, None]
    u = ((2 * np.arange(W) + 1) / W - 1)[None, None, :]                      # (1, 1, W)
    v = ((2 * np.arange(H) + 1) / H - 1)[None, :, None]                      # (1, H, 1)
    su = s * np.cos(a) * u + (h - s * np.sin(a)) * v + t[0]                  # (B, H, W)
    sv = s * np.sin(a) * u + s * np.cos(a) * v + t[1]
    px, py = ((su + 1) * W - 1) / 2, ((sv + 1) * H - 1) / 2                  # pixel coordinates
    x0, y0 = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    xp = get_array_module(x)                   # the warp is computed on the host, applied on x's device
    wx, wy = (xp.asarray((q - q0).astype(x.dtype)[:, None]) for q, q0 in ((px, x0), (py, y0)))
    padded = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))                    # a zero border
    b, c = xp.arange(B)[:, None, None, None], xp.arange(C)[None, :, None, None]

    def at(yi, xi):  # input pixels (clipped onto the zero border when outside)
        rows, cols = (xp.asarray(np.clip(q, -1, n)[:, None] + 1) for q, n in ((yi, H), (xi, W)))
        return padded[b, c, rows, cols]

    return ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1))
            + wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)))


@register("mlp")
class MLPClassifier(GenerativeModel):
    """``in_features -> hidden -> num_classes`` with ReLU and dropout, trained by cross-entropy.

    Args:
        in_features: number of inputs (64 for 8x8 digits; images are flattened).
        hidden: width of the hidden layer.
        num_classes: number of classes.
        dropout: drop probability after the hidden layer (training only).
        label_smoothing: ``e`` of ``smoothed_cross_entropy`` (training loss only;
            the reported loss is always the plain cross-entropy).
        augment: warp training images with ``random_affine`` (needs (B, C, H, W) input).
        rng: generator or int seed for the initial weights, dropout and augmentation.
    """

    dataset_view = "scaled"                 # x / 16 in [0, 1], float32
    best_metric = ("val/accuracy", "max")
    is_generative = False
    default_preset = "digits-reference"
    presets = {
        "digits-reference": Preset(model=dict(hidden=512, dropout=0.2, label_smoothing=0.1, augment=True),
                                   train=TrainConfig(data="digits", epochs=150, batch_size=64, lr=2e-3,
                                                     ema_decay=0.998)),
        "digits-plain": Preset(model=dict(hidden=128, dropout=0.0, label_smoothing=0.0, augment=False),
                               train=TrainConfig(data="digits", epochs=30, batch_size=64, lr=3e-3)),
    }

    def __init__(self, in_features=64, hidden=512, num_classes=10, dropout=0.2, label_smoothing=0.1,
                 augment=True, rng=None, dtype=np.float32):
        super().__init__(rng)
        check_positive(in_features=in_features, hidden=hidden, num_classes=num_classes)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout!r} is not allowed: dropout must be in [0, 1)")
        self.fc1 = Linear(in_features, hidden, rng=self.rng, dtype=dtype)
        self.drop = Dropout(dropout, rng=self.rng)
        self.fc2 = Linear(hidden, num_classes, rng=self.rng, dtype=dtype)
        self.label_smoothing, self.augment = label_smoothing, augment

    def forward(self, x):
        """Args: x (B, ...) with prod(...) = in_features. Returns: logits (B, num_classes)."""
        w = self.fc1.weight
        x = x if isinstance(x, Tensor) else Tensor(to_device(x, w.device), dtype=w.dtype)
        h = self.drop(self.fc1(x.reshape(len(x), -1)).relu())  # (B, hidden)
        return self.fc2(h)                                      # (B, num_classes)

    def _metrics(self, logits, y):
        """Plain cross-entropy (nats) and accuracy of a batch, as floats."""
        with no_grad():
            loss = smoothed_cross_entropy(logits, y).item()
        accuracy = float((logits.data.argmax(axis=-1) == y).mean())
        return {"loss": loss, "accuracy": accuracy}

    def loss(self, batch):
        """The smoothed cross-entropy of a batch ``(x, y)`` (warped when ``augment``); metrics:
        the plain cross-entropy and the accuracy."""
        x, y = self.split_batch(batch)
        if self.augment:
            x = random_affine(x, self.rng)
        logits = self(x)
        return smoothed_cross_entropy(logits, y, self.label_smoothing), self._metrics(logits, y)

    def _averaged(self):
        """The EMA weights while evaluating, when the run keeps an average."""
        return self.ema.averaged() if self.ema is not None else contextlib.nullcontext()

    def eval_step(self, batch):
        """Loss and accuracy of a batch ``(x, y)`` (with the EMA weights if kept), no update."""
        x, y = self.split_batch(batch)
        with self._averaged():
            return self._metrics(self(x), y)

    def predict(self, x):
        """The most likely class of each example, as an int array (B,)."""
        with no_grad(), self._averaged():
            return self(x).data.argmax(axis=-1)

    def features(self, x):
        """The hidden layer ``relu(W1 x + b1)`` (B, hidden) as an array, without dropout and
        with the EMA weights if kept: the penultimate features the sample metrics compare
        (FID, KID, precision and recall in ``minigen.metrics``)."""
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, self.fc1.weight.dtype))
        with no_grad(), self._averaged():
            return self.fc1(x.reshape(len(x), -1)).relu().data     # (B, hidden)

    def sample(self, n, rng):
        raise NotImplementedError(
            "mlp is a classifier of p(y | x), not a generative model of p(x): it cannot sample; "
            "use `python -m minigen eval RUN_DIR` to measure its accuracy")

    def log_prob(self, x):
        raise NotImplementedError("mlp models p(y | x), not p(x): it has no log_prob(x)")
