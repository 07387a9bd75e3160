"""Basic layers: Linear, Embedding, Dropout, activations, and shape helpers.

Each layer's ``forward`` is composed from ``autograd`` ops, so it has no backward
code of its own and its gradient is checked by ``autograd.gradcheck`` in the tests.
Conventions (``rng``, ``dtype``, PyTorch weight layout) are in ``module.py``.

    Linear      y = x W^T + b                 W: (out_features, in_features)
    Embedding   y = W[idx]                    W: (num_embeddings, embedding_dim)
    Dropout     y = x * m / (1 - p),  m ~ Bernoulli(1 - p) elementwise (training only)
"""
import numpy as np

from autograd import Tensor, to_device
from autograd import functional as F
from autograd import ops

from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Embedding", "Dropout", "Identity", "Flatten", "Reshape", "ReLU", "LeakyReLU",
           "Tanh", "Sigmoid", "ELU", "GELU", "SiLU", "Softplus", "LogSoftmax", "Softmax"]


class Linear(Module):
    """Affine map ``y = x W^T + b`` on the last axis.

    Initialisation is PyTorch's default: W and b uniform in ``+-1/sqrt(in_features)``
    (``init.default_uniform``).

    Args:
        in_features: size of the last axis of the input.
        out_features: size of the last axis of the output.
        bias: add the learned bias ``b`` (out_features,).
        rng: ``numpy.random.Generator`` for the initial weights.
        dtype: float dtype of the parameters.
    """

    def __init__(self, in_features, out_features, bias=True, *, rng, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.default_uniform((out_features, in_features), rng, dtype=dtype))
        self.bias = Parameter(init.default_uniform((out_features,), rng, fan_in=in_features,
                                                   dtype=dtype)) if bias else None

    def forward(self, x):
        """Args: x (..., in_features). Returns: (..., out_features)."""
        y = x @ self.weight.T                                  # (..., out_features)
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row ``idx`` of W for every integer in the input.

    The gradient of W is gy scattered (added) into the looked-up rows. Initialisation
    N(0, 1), as in PyTorch.

    Args:
        num_embeddings: number of rows (the vocabulary size).
        embedding_dim: size of each row.
        rng: ``numpy.random.Generator`` for the initial table.
        dtype: float dtype of the table.
    """

    def __init__(self, num_embeddings, embedding_dim, *, rng, dtype=np.float32):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim), rng, dtype=dtype))

    def forward(self, idx):
        """Args: idx: integer array or Tensor of any shape S. Returns: (*S, embedding_dim)."""
        idx = idx.data if isinstance(idx, Tensor) else idx
        idx = idx if hasattr(idx, "dtype") else np.asarray(idx)   # lists become arrays
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"Embedding expects integer indices, got dtype {idx.dtype}")
        return self.weight[idx]                                # (*S, embedding_dim)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014): in training, zero each element with
    probability ``p`` and scale the rest by ``1 / (1 - p)``, so the expectation is ``x``;
    in evaluation it is the identity.

    The mask is drawn from an explicit generator: the one given here, or one passed to
    the call (which wins). Passing a freshly seeded generator gives a fixed mask.

    Args:
        p: drop probability in [0, 1).
        rng: ``numpy.random.Generator`` used when the call gives none.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def forward(self, x, rng=None):
        """Args: x: any shape; rng: optional generator for this call. Returns: same shape."""
        if not self.training or self.p == 0.0:
            return x
        rng = rng if rng is not None else self.rng
        if rng is None:
            raise ValueError("Dropout in training mode needs a generator: Dropout(p, rng=...) or "
                             "dropout(x, rng=...)")
        keep = init.check_rng(rng).random(x.shape) >= self.p
        mask = to_device((keep / (1.0 - self.p)).astype(x.dtype), x.device)   # 0 or 1/(1-p)
        return x * mask

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    """``y = x`` (a placeholder, e.g. for an optional layer)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes ``start_axis..`` into one: (N, C, H, W) -> (N, C*H*W) by default.

    Args:
        start_axis: first axis to merge.
    """

    def __init__(self, start_axis=1):
        super().__init__()
        self.start_axis = start_axis

    def forward(self, x):
        return x.flatten(self.start_axis)

    def extra_repr(self):
        return f"start_axis={self.start_axis}"


class Reshape(Module):
    """Reshape every example, keeping the batch axis: (N, ...) -> (N, *shape).

    Args:
        *shape: the per-example shape (one entry may be -1), e.g. ``Reshape(1, 28, 28)``.
    """

    def __init__(self, *shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)          # (N, *shape)

    def extra_repr(self):
        return ", ".join(str(s) for s in self.shape)


class ReLU(Module):
    """``y = max(x, 0)``"""

    def forward(self, x):
        return ops.relu(x)


class LeakyReLU(Module):
    """``y = x if x > 0 else slope * x``

    Args:
        slope: the negative slope.
    """

    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        return ops.leaky_relu(x, self.slope)

    def extra_repr(self):
        return f"slope={self.slope}"


class Tanh(Module):
    """``y = tanh(x)``"""

    def forward(self, x):
        return ops.tanh(x)


class Sigmoid(Module):
    """``y = 1 / (1 + exp(-x))``"""

    def forward(self, x):
        return ops.sigmoid(x)


class ELU(Module):
    """``y = x if x > 0 else alpha * (exp(x) - 1)`` (Clevert et al. 2016)

    Args:
        alpha: value approached as x -> -inf is ``-alpha``.
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(Module):
    """``y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (Hendrycks & Gimpel 2016, tanh form)"""

    def forward(self, x):
        return F.gelu(x)


class SiLU(Module):
    """``y = x * sigmoid(x)`` (SiLU / swish: Elfwing et al. 2018; Ramachandran et al. 2017),
    the activation of the diffusion U-Net (Ho et al. 2020)."""

    def forward(self, x):
        return x * x.sigmoid()


class Softplus(Module):
    """``y = log(1 + exp(x))``, finite for any x."""

    def forward(self, x):
        return F.softplus(x)


class LogSoftmax(Module):
    """``y = x - logsumexp(x)`` along ``axis``.

    Args:
        axis: the class axis.
    """

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.log_softmax(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class Softmax(LogSoftmax):
    """``y = exp(x) / sum(exp(x))`` along ``axis``.

    Args:
        axis: the class axis.
    """

    def forward(self, x):
        return F.softmax(x, self.axis)
