"""Causal dilated 1-D convolution (WaveNet) as one fused Function.

Equations in ``kernels/reference/causal_conv1d.py``.  The fused backward is not itself
differentiable: double backward raises and names ``causal_conv1d_composite`` (the same
layer from pad, slices and matmuls), tested equal to the fused op.
"""
import kernels

from ..function import Function
from .linalg import matmul
from .shape import getitem, pad, transpose

__all__ = ["CausalConv1d", "causal_conv1d", "causal_conv1d_composite"]


class CausalConv1d(Function):
    """y[n, o, t] = b[o] + sum_k sum_c w[o, c, k] * x[n, c, t - d*(K-1-k)]   (x = 0 for t < 0)

    Derivatives (kernels/reference/causal_conv1d.py):
        gx[n, c, t] = sum_k sum_o w[o, c, k] * gy[n, o, t + d*(K-1-k)];
        gw[o, c, k] = sum_{n,t} gy[n, o, t] * x[n, c, t - d*(K-1-k)];   gb = sum gy.
    Replaces the composite ``conv1d(pad_left(x, d*(K-1)), w, dilation=d) + b``
    (``causal_conv1d_composite``).
    """
    differentiable_backward = False
    composite = "autograd.ops.causal_conv1d.causal_conv1d_composite (pad, slices and matmuls)"

    def forward(self, x, w, b=None, dilation=1):
        self.save_for_backward(x, w)
        self.params = (dilation, b is not None)
        return kernels.causal_conv1d_forward(x, w, b, dilation)

    def backward(self, gy):
        x, w = self.saved_tensors
        dilation, has_b = self.params
        gx, gw, gb = kernels.causal_conv1d_backward(gy.data, x.data, w.data, dilation, bias=has_b,
                                                    input_grad=self.needs_input_grad[0])
        grads = (None if gx is None else type(gy)(gx), type(gy)(gw))
        return grads + (type(gy)(gb),) if has_b else grads


def causal_conv1d(x, w, b=None, dilation=1):
    """WaveNet's causal dilated convolution: output t sees inputs t, t-d, ..., t-d*(K-1).

    Args:
        x: ``(N, Cin, T)`` Tensor.
        w: ``(Cout, Cin, K)``.
        b: optional ``(Cout,)``.
        dilation: d >= 1.

    Returns:
        ``(N, Cout, T)`` Tensor.
    """
    args = (x, w) if b is None else (x, w, b)
    return CausalConv1d()(*args, dilation=dilation)


def causal_conv1d_composite(x, w, b=None, dilation=1):
    """The same layer from primitives (differentiable twice): left pad, K slices, K matmuls."""
    cout, cin, k = w.shape
    t = x.shape[2]
    reach = dilation * (k - 1)
    xt = transpose(pad(x, ((0, 0), (0, 0), (reach, 0))), (0, 2, 1))   # (N, reach + T, Cin)
    y = None
    for j in range(k):
        start = reach - dilation * (k - 1 - j)
        window = getitem(xt, (slice(None), slice(start, start + t)))    # (N, T, Cin)
        term = matmul(window, transpose(getitem(w, (slice(None), slice(None), j)), (1, 0)))
        y = term if y is None else y + term                             # (N, T, Cout)
    if b is not None:
        y = y + b
    return transpose(y, (0, 2, 1))                                       # (N, Cout, T)

