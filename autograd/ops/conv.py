"""Convolution, transposed convolution, pooling and upsampling as differentiable Functions.

The kernels (``kernels.conv2d_*``; equations in ``kernels/reference/conv.py``) do the
work.  Every backward here is written with other Functions, so it is itself
differentiable (double backward, e.g. a WGAN-GP gradient penalty through a conv critic):

    Conv2d              y  = conv(x, w)                 gx = Conv2dGradInput(gy, w)
                                                        gw = Conv2dGradWeight(x, gy)
    Conv2dGradInput     gx = conv^T(gy, w)  (linear in gy and in w)
                            d/dgy: Conv2d(ggx, w);      d/dw: Conv2dGradWeight(ggx, gy)
    Conv2dGradWeight    gw = corr(x, gy)    (linear in x and in gy)
                            d/dx: Conv2dGradInput(gy, ggw);  d/dgy: Conv2d(x, ggw)

The three form a closed set under differentiation, to any order.  A transposed conv is
``Conv2dGradInput`` read forwards; pooling and upsampling pair each forward with its
(linear) grad-input the same way, or use reshape/sum/getitem primitives.
"""
import numpy as np

import kernels
from kernels.reference.conv import conv_transpose2d_output_shape, pair

from ..function import Function
from .shape import getitem, pad, reshape

__all__ = ["Conv2d", "Conv2dGradInput", "Conv2dGradWeight", "ConvTranspose2d", "AvgPool2d",
           "AvgPool2dGradInput", "MaxPool2d", "MaxPool2dGradInput", "UpsampleNearest2d",
           "conv2d", "conv2d_grad_input", "conv2d_grad_weight", "conv_transpose2d", "avg_pool2d",
           "max_pool2d", "upsample_nearest2d"]


class Conv2d(Function):
    """y[n,o,i,j] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]

    Derivatives:
        gx = conv2d_grad_input(gy, w)   (the transposed conv of gy: Conv2dGradInput)
        gw[o,c,kh,kw] = sum_{n,i,j} gy[n,o,i,j] * xpad[n, c, i*sh + kh*dh, j*sw + kw*dw]
                        (Conv2dGradWeight)
        gb[o] = sum_{n,i,j} gy[n,o,i,j]
    """
    def forward(self, x, w, b=None, stride=1, padding=0, dilation=1):
        self.save_for_backward(x, w)
        self.conv = dict(stride=stride, padding=padding, dilation=dilation)
        self.has_b = b is not None
        return kernels.conv2d_forward(x, w, b, **self.conv)

    def backward(self, gy):
        x, w = self.saved_tensors
        gx = conv2d_grad_input(gy, w, x.shape, **self.conv) if x.requires_grad else None
        gw = conv2d_grad_weight(x, gy, w.shape, **self.conv) if w.requires_grad else None
        if self.has_b:
            return gx, gw, gy.sum(axis=(0, 2, 3))
        return gx, gw


class Conv2dGradInput(Function):
    """gx = conv2d_grad_input(gy, w): the adjoint of conv2d applied to gy (bilinear in gy, w).

    Derivatives, with ggx the upstream gradient (x-shaped):
        d/dgy = conv2d(ggx, w)                 (Conv2d)
        d/dw  = conv2d_grad_weight(ggx, gy)    (Conv2dGradWeight)
    """
    def forward(self, gy, w, x_shape, stride=1, padding=0, dilation=1):
        self.save_for_backward(gy, w)
        self.conv = dict(stride=stride, padding=padding, dilation=dilation)
        return kernels.conv2d_grad_input(gy, w, x_shape, **self.conv)

    def backward(self, ggx):
        gy, w = self.saved_tensors
        ggy = conv2d(ggx, w, None, **self.conv) if gy.requires_grad else None
        gw = conv2d_grad_weight(ggx, gy, w.shape, **self.conv) if w.requires_grad else None
        return ggy, gw


class Conv2dGradWeight(Function):
    """gw = conv2d_grad_weight(x, gy): the correlation of x with gy (bilinear in x, gy).

    Derivatives, with ggw the upstream gradient (w-shaped):
        d/dx  = conv2d_grad_input(gy, ggw)     (Conv2dGradInput)
        d/dgy = conv2d(x, ggw)                 (Conv2d)
    """
    def forward(self, x, gy, w_shape, stride=1, padding=0, dilation=1):
        self.save_for_backward(x, gy)
        self.conv = dict(stride=stride, padding=padding, dilation=dilation)
        return kernels.conv2d_grad_weight(x, gy, w_shape, **self.conv)

    def backward(self, ggw):
        x, gy = self.saved_tensors
        gx = conv2d_grad_input(gy, ggw, x.shape, **self.conv) if x.requires_grad else None
        ggy = conv2d(x, ggw, None, **self.conv) if gy.requires_grad else None
        return gx, ggy


class ConvTranspose2d(Function):
    """y = conv2d_grad_input(x, w, y_shape) + b: the adjoint of conv2d with weight (Cin, Cout, KH, KW).

    ``y[n,o,h,v] = b[o] + sum_{c,kh,kw,i,j: h = i*sh + kh*dh - ph, v = j*sw + kw*dw - pw}
    w[c,o,kh,kw] * x[n,c,i,j]``.  Derivatives (the conv2d Functions, roles swapped):
        gx = conv2d(gy, w)                     (cropped to x's size when output_padding >= stride)
        gw = conv2d_grad_weight(gy, x)         (x zero-extended to conv2d's full output size)
        gb = sum_{n,h,v} gy
    """
    def forward(self, x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
        self.save_for_backward(x, w)
        self.conv = dict(stride=stride, padding=padding, dilation=dilation)
        self.output_padding = output_padding
        self.has_b = b is not None
        return kernels.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation)

    def backward(self, gy):
        x, w = self.saved_tensors
        H, W = x.shape[2:]
        # conv2d of a y-sized image has this many rows/cols (H, W, or more when op >= stride)
        sh, sw = pair(self.conv["stride"], "stride", 1)
        oph, opw = pair(self.output_padding, "output_padding", 0)
        extra = (oph // sh, opw // sw)
        gx = gw = None
        if x.requires_grad:
            gx = conv2d(gy, w, None, **self.conv)
            if extra != (0, 0):
                gx = getitem(gx, (slice(None), slice(None), slice(0, H), slice(0, W)))
        if w.requires_grad:
            xf = pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1]))) if extra != (0, 0) else x
            gw = conv2d_grad_weight(gy, xf, w.shape, **self.conv)
        if self.has_b:
            return gx, gw, gy.sum(axis=(0, 2, 3))
        return gx, gw


class AvgPool2d(Function):
    """y[n,c,i,j] = mean_{kh,kw} xpad[n, c, i*sh + kh, j*sw + kw]  (zero padding counts);
    gx = AvgPool2dGradInput(gy): each window's pixels get gy / (KH*KW)."""
    def forward(self, x, kernel_size, stride=None, padding=0):
        self.pool = dict(kernel_size=kernel_size, stride=stride, padding=padding)
        self.x_shape = x.shape
        return kernels.avg_pool2d_forward(x, **self.pool)

    def backward(self, gy):
        return AvgPool2dGradInput()(gy, x_shape=self.x_shape, **self.pool)


class AvgPool2dGradInput(Function):
    """gx = avg_pool2d_grad_input(gy) (linear in gy);  its derivative is AvgPool2d itself."""
    def forward(self, gy, x_shape, kernel_size, stride=None, padding=0):
        self.pool = dict(kernel_size=kernel_size, stride=stride, padding=padding)
        return kernels.avg_pool2d_grad_input(gy, x_shape, **self.pool)

    def backward(self, ggx):
        return AvgPool2d()(ggx, **self.pool)


class MaxPool2d(Function):
    """y[n,c,i,j] = max over the window = x[n, c].flat[idx[n,c,i,j]];
    gx = MaxPool2dGradInput(gy, idx): gy added at the argmax of each window."""
    def forward(self, x, kernel_size, stride=None, padding=0, dilation=1):
        y, self.idx = kernels.max_pool2d_forward(x, kernel_size, stride, padding, dilation)
        self.x_shape = x.shape
        return y

    def backward(self, gy):
        return MaxPool2dGradInput()(gy, idx=self.idx, x_shape=self.x_shape)


class MaxPool2dGradInput(Function):
    """gx[n, c].flat[idx] += gy (linear in gy);  d/dgy = ggx[n, c].flat[idx] (a gather: GetItem)."""
    def forward(self, gy, idx, x_shape):
        self.idx = idx
        return kernels.max_pool2d_grad_input(gy, idx, x_shape)

    def backward(self, ggx):
        N, C, H, W = ggx.shape
        rows = np.arange(N * C).reshape(-1, 1)                           # (N*C, 1)
        flat = reshape(ggx, (N * C, H * W))                              # (N*C, H*W)
        picked = getitem(flat, (rows, self.idx.reshape(N * C, -1)))      # (N*C, OH*OW)
        return reshape(picked, self.idx.shape)                           # (N, C, OH, OW)


class UpsampleNearest2d(Function):
    """y[n,c,h,v] = x[n, c, h // sh, v // sw];  gx = gy summed over each sh x sw block
    (reshape + strided views + adds, differentiable again)."""
    def forward(self, x, scale_factor=2):
        self.scale = pair(scale_factor, "scale_factor", 1)
        return kernels.upsample_nearest2d_forward(x, self.scale)

    def backward(self, gy):
        N, C, OH, OW = gy.shape
        sh, sw = self.scale
        blocks = reshape(gy, (N, C, OH // sh, sh, OW // sw, sw))        # (N, C, H, sh, W, sw)
        # gx = sum over (a, b) of blocks[:, :, :, a, :, b]: sh*sw strided views added, one pass
        # each (NumPy's sum over the two small axes was 10x slower: 5.5 vs 0.5 ms, (64,128,8,8))
        gx = None
        for a in range(sh):
            for b in range(sw):
                copy = getitem(blocks, (slice(None),) * 3 + (a, slice(None), b))
                gx = copy if gx is None else gx + copy
        return gx                                                         # (N, C, H, W)


# ------------------------------------------------------------------------------------------
# User-facing functions
# ------------------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution (PyTorch's ``conv2d``, groups=1).

    Args:
        x: ``(N, Cin, H, W)`` Tensor.
        w: ``(Cout, Cin, KH, KW)``.
        b: optional ``(Cout,)``.
        stride, dilation: int or pair.
        padding: int, pair, ``'valid'`` or ``'same'`` (odd effective kernels, stride 1).

    Returns:
        ``(N, Cout, OH, OW)`` Tensor, ``OH = (H + 2*ph - dh*(KH-1) - 1)//sh + 1``.
    """
    params = dict(stride=stride, padding=padding, dilation=dilation)
    return Conv2d()(x, w, **params) if b is None else Conv2d()(x, w, b, **params)


def conv2d_grad_input(gy, w, x_shape, stride=1, padding=0, dilation=1):
    """The input gradient of ``conv2d`` as a differentiable op (a transposed convolution)."""
    return Conv2dGradInput()(gy, w, x_shape=tuple(x_shape), stride=stride, padding=padding,
                             dilation=dilation)


def conv2d_grad_weight(x, gy, w_shape, stride=1, padding=0, dilation=1):
    """The weight gradient of ``conv2d`` as a differentiable op."""
    return Conv2dGradWeight()(x, gy, w_shape=tuple(w_shape), stride=stride, padding=padding,
                              dilation=dilation)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``, groups=1).

    Args:
        x: ``(N, Cin, H, W)`` Tensor.
        w: ``(Cin, Cout, KH, KW)`` (PyTorch's layout for transposed convs).
        b: optional ``(Cout,)``.
        output_padding: extra rows/cols at the bottom/right (< stride or < dilation).

    Returns:
        ``(N, Cout, OH, OW)``, ``OH = (H-1)*sh - 2*ph + dh*(KH-1) + oph + 1``.
    """
    conv_transpose2d_output_shape(x.shape, w.shape, stride, padding, output_padding, dilation)
    params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    return ConvTranspose2d()(x, w, **params) if b is None else ConvTranspose2d()(x, w, b, **params)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling (zero padding counts in the mean; stride defaults to kernel_size)."""
    return AvgPool2d()(x, kernel_size=kernel_size, stride=stride, padding=padding)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """Max pooling (-inf padding; gradient flows to the first maximum of each window)."""
    return MaxPool2d()(x, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)


def upsample_nearest2d(x, scale_factor=2):
    """Nearest-neighbour upsampling by an integer factor (or a pair of them)."""
    return UpsampleNearest2d()(x, scale_factor=scale_factor)

