"""Sampling WaveNet one value at a time: the naive loop and the fast algorithm of Paine et al. [1].

A sample x_t needs the logits at step t, which see the receptive field x_{t-F}..x_{t-1}
(F = ``model.receptive_field``). The **naive** sampler runs the whole network on those F
values for every new sample: each layer recomputes activations it already computed for
the previous samples, O(F) work per layer per sample.

The **fast** sampler [1] notices that a layer of dilation d and kernel K needs, at step
t, its inputs at t, t-d, ..., t-d(K-1): the present one, computed just now, and past ones
that were computed d, 2d, ... steps ago. So each layer keeps a **queue** of its last
d(K-1) inputs ([1] Figure 2: "push" the new input, "pop" the one d(K-1) steps old),
and one new sample costs one step of every layer::

    h_0     = b_in + W_in x_{t-1} / (L-1)                   the input layer (mask A)
    for every layer l (dilation d):
        z   = b + W_{K-1} h + sum_{k<K-1} W_k queue_l[t - d(K-1-k)]     the dilated conv at t only
        push h into queue_l                                 (the slot of t - d(K-1), read above)
        y   = tanh(z_f) ⊙ sigmoid(z_g)
        skips += W_skip y + b_skip;   h = h + W_res y + b_res
    logits = W_2 ReLU(W_1 ReLU(skips) + b_1) + b_2

A queue is a circular buffer of d(K-1) slots: the input of step s lives in slot
s mod d(K-1); slots start at zero, the convolution's zero padding before t = 0.

Both samplers draw x_t as the inverse CDF of softmax(logits) at a given uniform u_t
(``draw``), so from the same noise u they give the same samples (the tests check it
bit for bit); the fast one in O(layers) per sample instead of O(F * layers).

Reference:
    [1] T. L. Paine, P. Khorrami, S. Chang, Y. Zhang, P. Ramachandran, M. A. Hasegawa-Johnson,
        T. S. Huang, "Fast Wavenet Generation Algorithm", 2016. https://arxiv.org/abs/1611.09482
        (§2, Figures 1-2).
"""
import time

import numpy as np

from autograd import as_numpy, get_array_module, no_grad

__all__ = ["draw", "generate", "generate_naive", "generate_fast", "time_generation"]


def draw(logits, u):
    """Inverse-CDF draws: the smallest level l with u < sum_{j<=l} softmax(logits)_j.

    Args:
        logits: (n, L) array.
        u: (n,) uniforms in [0, 1).

    Returns:
        int64 (n,) levels.
    """
    logits = np.asarray(as_numpy(logits), np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum((u[:, None] >= cdf).sum(axis=1), logits.shape[1] - 1)


def generate(model, u, fast=True):
    """``generate_fast`` or ``generate_naive``: sequences (n, T) int64 from uniforms u (n, T)."""
    if u.ndim != 2:
        raise ValueError(f"u must be uniforms of shape (n, T), got shape {u.shape}")
    with no_grad():
        return generate_fast(model, u) if fast else generate_naive(model, u)


def generate_naive(model, u):
    """One pass of the network over the receptive field for every new value."""
    n, T = u.shape
    x = np.zeros((n, 1, T), np.int64)
    for t in range(T):
        start = max(0, t - model.receptive_field)                   # values before start are not seen
        logits = model.sequence_logits(x[:, :, start:t + 1])        # (n, L, t + 1 - start)
        x[:, 0, t] = draw(logits.data[:, :, -1], u[:, t])
    return x[:, 0]


def _pointwise(conv, y):
    """A 1x1 convolution at one step: y (n, Cin) -> (n, Cout)."""
    return y @ conv.weight.data[:, :, 0].T + conv.bias.data


def generate_fast(model, u):
    """One step of every layer per new value, each layer's past inputs kept in a queue ([1] §2)."""
    n, T = u.shape
    w_in, b_in = model.input_conv.weight.data[:, 0, 0], model.input_conv.bias.data     # (R,), (R,)
    xp, dtype = get_array_module(w_in), w_in.dtype
    K, scale = model.kernel, dtype.type(1.0 / (model.num_levels - 1))
    queues = [xp.zeros((d * (K - 1), n, len(w_in)), dtype) for d in model.dilations]  # d(K-1) slots
    x = np.zeros((n, T), np.int64)
    previous = xp.zeros((n, 1), dtype)                              # x_{t-1} / (L-1); 0 before t = 0
    for t in range(T):
        h = previous * w_in + b_in                                  # (n, R): the input layer at t
        skips = 0
        for layer, queue in zip(model.layers, queues):
            d, w = layer.dilated.dilation, layer.dilated.weight.data  # w (2G, R, K)
            z = h @ w[:, :, K - 1].T + layer.dilated.bias.data       # the present tap
            for k in range(K - 1):                                  # past taps, from the queue
                z = z + queue[(t - d * (K - 1 - k)) % len(queue)] @ w[:, :, k].T
            queue[t % len(queue)] = h                               # push h_t (pops h_{t-d(K-1)})
            f, g = xp.split(z, 2, axis=1)
            y = xp.tanh(f) * (0.5 + 0.5 * xp.tanh(0.5 * g))         # tanh(f) ⊙ sigmoid(g)
            skips = skips + _pointwise(layer.skip, y)
            if layer.res is not None:
                h = h + _pointwise(layer.res, y)
        hidden = xp.maximum(_pointwise(model.head[0], xp.maximum(skips, 0)), 0)
        x[:, t] = draw(_pointwise(model.head[1], hidden), u[:, t])
        previous = xp.asarray(x[:, t:t + 1]).astype(dtype) * scale
    return x


def time_generation(model, n, T, rng, repeat=1):
    """Seconds to draw n sequences of T values, naive and fast, from the same noise.

    Returns:
        dict with ``naive_s``, ``fast_s``, ``speedup`` and ``identical`` (the samples agree).
    """
    u = rng.random((n, T))
    seconds, samples = {}, {}
    for name, fast in (("naive", False), ("fast", True)):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            samples[name] = generate(model, u, fast)
            best = min(best, time.perf_counter() - start)
        seconds[name] = best
    return dict(naive_s=seconds["naive"], fast_s=seconds["fast"], speedup=seconds["naive"] / seconds["fast"],
                identical=bool(np.array_equal(samples["naive"], samples["fast"])))
