"""minigen.nn: modules, layers, initialisers, losses and distributions.

    module.py         Module, Parameter, Sequential, ModuleList, ModuleDict (conventions: rng, dtype)
    layers.py         Linear, Embedding, Dropout, activations, Flatten / Reshape / Identity
    norm.py           BatchNorm1d / BatchNorm2d, LayerNorm, GroupNorm
    recurrent.py      LSTMCell, LSTM, GRUCell
    conv.py           Conv2d, ConvTranspose2d, AvgPool2d, MaxPool2d, Upsample (kernels/conv)
    masked.py         MaskedConv2d (PixelCNN), CausalConv1d (WaveNet): fused live-tap kernels
    masked_linear.py  MaskedLinear (MADE): y = x (W * M)^T + b, the mask a buffer
    flows.py          bijections: Flow, FlowSequence, Squeeze, ActNorm, LogitTransform, AffineCoupling
    flows_planar.py   Planar, Radial (Rezende & Mohamed 2015)
    flows_nice.py     AdditiveCoupling, DiagonalScaling (NICE)
    flows_glow.py     InvertibleConv1x1, plain and LU-parameterised (Glow)
    flows_autoregressive.py  MaskedAutoregressiveAffine: MAF and IAF layers on MADE masks
    init.py           initialisers, each naming its paper (``nn.init.xavier_uniform``, ...)
    losses.py         losses and log-densities (``nn.losses.cross_entropy``, ...)
    distributions.py  Normal, Bernoulli, Categorical

Layers are re-exported here (``nn.Linear``); losses and initialisers are reached
through their modules (``nn.losses``, ``nn.init``), distributions both ways.
"""
from . import distributions, init, losses
from .distributions import Bernoulli, Categorical, Normal
from .conv import AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, Upsample
from .flows import (ActNorm, AffineCoupling, Flow, FlowSequence, LogitTransform, Squeeze, channel_mask,
                    checkerboard_mask)
from .flows_autoregressive import MaskedAutoregressiveAffine
from .flows_glow import InvertibleConv1x1
from .flows_nice import AdditiveCoupling, DiagonalScaling
from .flows_planar import Planar, Radial
from .flows_spline import RQSplineCoupling
from .masked import CausalConv1d, MaskedConv2d
from .masked_linear import MaskedLinear
from .layers import (ELU, GELU, Dropout, Embedding, Flatten, Identity, LeakyReLU, Linear, LogSoftmax,
                     ReLU, Reshape, Sigmoid, Softmax, Softplus, Tanh)
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .recurrent import GRUCell, LSTM, LSTMCell
from .layers import SiLU  # noqa: E402  (diffusion)
from .attention import SelfAttention2d, scaled_dot_product_attention  # noqa: E402

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict",
           "Linear", "Embedding", "Dropout", "Identity", "Flatten", "Reshape",
           "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "ELU", "GELU", "Softplus", "LogSoftmax", "Softmax",
           "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm",
           "LSTMCell", "LSTM", "GRUCell",
           "Conv2d", "ConvTranspose2d", "AvgPool2d", "MaxPool2d", "Upsample",
           "MaskedConv2d", "CausalConv1d", "MaskedLinear",
           "Flow", "FlowSequence", "Squeeze", "ActNorm", "LogitTransform", "AffineCoupling",
           "checkerboard_mask", "channel_mask",
           "Planar", "Radial", "AdditiveCoupling", "DiagonalScaling", "InvertibleConv1x1",
           "MaskedAutoregressiveAffine",
           "RQSplineCoupling",
           "Normal", "Bernoulli", "Categorical",
           "init", "losses", "distributions"]
__all__ += ["SiLU", "SelfAttention2d", "scaled_dot_product_attention"]  # diffusion (the U-Net: nn.unet)
