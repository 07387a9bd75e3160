"""Weight initialisers, each naming the paper it comes from.

Every function returns a fresh NumPy array of the requested ``shape`` and ``dtype``
(layers wrap it in a ``Parameter``). Random ones take an explicit ``rng``, a
``numpy.random.Generator`` (``autograd.rng(seed)``): minigen has no global random
state. Numbers are drawn in float64 and then cast, so the same generator gives the
same weights (up to rounding) in float32 and float64.

Weight layout is the one the layers store (PyTorch's): a linear weight is
``(out_features, in_features)``, a convolution weight ``(C_out, C_in, KH, KW)``.
``fan_in_fan_out`` reads the fans from that layout:

    fan_in  = C_in  * KH * KW        (inputs feeding one output unit)
    fan_out = C_out * KH * KW        (outputs one input unit feeds)

Summary (``gain`` from ``calculate_gain``):

    xavier_uniform   U(-a, a),     a = gain * sqrt(6 / (fan_in + fan_out))
    xavier_normal    N(0, s^2),    s = gain * sqrt(2 / (fan_in + fan_out))
    kaiming_uniform  U(-a, a),     a = gain * sqrt(3 / fan)
    kaiming_normal   N(0, s^2),    s = gain / sqrt(fan)
    default_uniform  U(-a, a),     a = 1 / sqrt(fan_in)        (PyTorch's Linear/Conv default)
    orthogonal       Q from the QR decomposition of a Gaussian matrix, times gain
    zeros            0                                         (last layer of a coupling net)
"""
import math

import numpy as np

__all__ = ["check_rng", "fan_in_fan_out", "calculate_gain", "xavier_uniform", "xavier_normal",
           "glorot_uniform", "glorot_normal", "kaiming_uniform", "kaiming_normal", "he_uniform",
           "he_normal", "default_uniform", "normal", "zeros", "ones", "orthogonal"]


def check_rng(rng):
    """Raise a clear TypeError unless ``rng`` is a ``numpy.random.Generator``.

    Args:
        rng: the object to check.

    Returns:
        ``rng`` unchanged.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (e.g. autograd.rng(0)), got "
                        f"{type(rng).__name__}; minigen draws random numbers only from an explicit "
                        "generator")
    return rng


def fan_in_fan_out(shape):
    """Fans of a weight stored as ``(out, in, *kernel)`` (linear: ``(out, in)``).

    Args:
        shape: the weight's shape, at least 2-D.

    Returns:
        ``(fan_in, fan_out)`` with ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``.
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"fan_in_fan_out needs a weight of at least 2 dimensions (out, in, ...), "
                         f"got shape {shape}; for a bias pass the fan_in of its layer explicitly")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity="linear", slope=0.01):
    """The gain that keeps activations' variance constant through ``nonlinearity``.

    Args:
        nonlinearity: 'linear', 'sigmoid', 'tanh', 'relu' or 'leaky_relu'.
        slope: negative slope of leaky ReLU.

    Returns:
        1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu), sqrt(2 / (1 + slope^2)) (leaky_relu).
    """
    gains = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
             "leaky_relu": math.sqrt(2.0 / (1.0 + slope ** 2))}
    if nonlinearity not in gains:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of {sorted(gains)}")
    return gains[nonlinearity]


def _uniform(shape, bound, rng, dtype):
    return check_rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def _normal(shape, std, rng, dtype):
    return (std * check_rng(rng).standard_normal(shape)).astype(dtype)


def xavier_uniform(shape, rng, gain=1.0, dtype=np.float32):
    """Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward
    neural networks", eq. 16: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Args:
        shape: weight shape ``(out, in, *kernel)``.
        rng: ``numpy.random.Generator``.
        gain: scale factor (``calculate_gain``).
        dtype: float dtype of the result.

    Returns:
        The initial weight array.
    """
    fan_in, fan_out = fan_in_fan_out(shape)
    return _uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def xavier_normal(shape, rng, gain=1.0, dtype=np.float32):
    """Glorot & Bengio (2010): N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out)).

    Args:
        shape: weight shape ``(out, in, *kernel)``.
        rng: ``numpy.random.Generator``.
        gain: scale factor (``calculate_gain``).
        dtype: float dtype of the result.

    Returns:
        The initial weight array.
    """
    fan_in, fan_out = fan_in_fan_out(shape)
    return _normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


glorot_uniform, glorot_normal = xavier_uniform, xavier_normal


def _fan(shape, mode):
    fan_in, fan_out = fan_in_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform(shape, rng, nonlinearity="relu", slope=0.01, mode="fan_in", dtype=np.float32):
    """He et al. (2015), "Delving Deep into Rectifiers", §2.2: U(-a, a) with
    a = gain * sqrt(3 / fan), so that Var = gain^2 / fan (= 2 / fan_in for ReLU).

    Args:
        shape: weight shape ``(out, in, *kernel)``.
        rng: ``numpy.random.Generator``.
        nonlinearity: the activation after this layer (``calculate_gain``).
        slope: negative slope when ``nonlinearity='leaky_relu'``.
        mode: 'fan_in' keeps forward variance, 'fan_out' keeps backward variance.
        dtype: float dtype of the result.

    Returns:
        The initial weight array.
    """
    gain = calculate_gain(nonlinearity, slope)
    return _uniform(shape, gain * math.sqrt(3.0 / _fan(shape, mode)), rng, dtype)


def kaiming_normal(shape, rng, nonlinearity="relu", slope=0.01, mode="fan_in", dtype=np.float32):
    """He et al. (2015), eq. 10: N(0, s^2) with s = gain / sqrt(fan) (sqrt(2 / fan_in) for ReLU).

    Args:
        shape: weight shape ``(out, in, *kernel)``.
        rng: ``numpy.random.Generator``.
        nonlinearity: the activation after this layer (``calculate_gain``).
        slope: negative slope when ``nonlinearity='leaky_relu'``.
        mode: 'fan_in' or 'fan_out'.
        dtype: float dtype of the result.

    Returns:
        The initial weight array.
    """
    gain = calculate_gain(nonlinearity, slope)
    return _normal(shape, gain / math.sqrt(_fan(shape, mode)), rng, dtype)


he_uniform, he_normal = kaiming_uniform, kaiming_normal


def default_uniform(shape, rng, fan_in=None, dtype=np.float32):
    """PyTorch's default for Linear and Conv weights and biases: U(-a, a), a = 1 / sqrt(fan_in).

    This is He et al. (2015)'s uniform rule with leaky-ReLU slope sqrt(5) (gain^2 = 1/3),
    as ``torch.nn.Linear.reset_parameters`` writes it; fan_in is taken over the full
    kernel (``C_in * KH * KW`` for a convolution).

    Args:
        shape: array shape.
        rng: ``numpy.random.Generator``.
        fan_in: fan-in of the layer; read from ``shape`` (``fan_in_fan_out``) when None,
            which needs a weight shape, so pass it for a bias.
        dtype: float dtype of the result.

    Returns:
        The initial array.
    """
    if fan_in is None:
        fan_in, _ = fan_in_fan_out(shape)
    return _uniform(shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, rng, dtype)


def normal(shape, rng, std=1.0, mean=0.0, dtype=np.float32):
    """N(mean, std^2), e.g. embeddings (PyTorch's ``Embedding`` default is N(0, 1)).

    Args:
        shape: array shape.
        rng: ``numpy.random.Generator``.
        std: standard deviation.
        mean: mean.
        dtype: float dtype of the result.

    Returns:
        The initial array.
    """
    return (mean + _normal(shape, std, rng, np.float64)).astype(dtype)


def zeros(shape, dtype=np.float32):
    """All zeros. Dinh et al. (2017), "Density estimation using Real NVP", and Kingma &
    Dhariwal (2018), Glow §3.3: zero the last layer of each coupling network so that every
    coupling starts as the identity map.

    Args:
        shape: array shape.
        dtype: float dtype of the result.

    Returns:
        The zero array.
    """
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32):
    """All ones (the scale of a normalisation layer, Ioffe & Szegedy 2015).

    Args:
        shape: array shape.
        dtype: float dtype of the result.

    Returns:
        The array of ones.
    """
    return np.ones(shape, dtype=dtype)


def orthogonal(shape, rng, gain=1.0, dtype=np.float32):
    """Saxe et al. (2014), "Exact solutions to the nonlinear dynamics of learning in deep
    linear neural networks": a (semi-)orthogonal matrix, times ``gain``.

    The weight is viewed as a matrix ``(shape[0], prod(shape[1:]))``; Q comes from the QR
    decomposition of a Gaussian matrix, with the signs of R's diagonal folded in so that
    Q is uniform over orthogonal matrices (Mezzadri 2007).

    Args:
        shape: weight shape, at least 2-D.
        rng: ``numpy.random.Generator``.
        gain: scale factor.
        dtype: float dtype of the result.

    Returns:
        The initial weight array.
    """
    if len(shape) < 2:
        raise ValueError(f"orthogonal needs at least 2 dimensions, got shape {tuple(shape)}")
    rows, cols = shape[0], math.prod(shape[1:])
    a = check_rng(rng).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)                    # q: (max, min), orthonormal columns
    q = q * np.sign(np.diag(r))               # make the distribution uniform (Haar)
    q = q if rows >= cols else q.T            # (rows, cols)
    return (gain * q).reshape(shape).astype(dtype)
