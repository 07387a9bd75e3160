"""The arithmetic of a binary bipartite Boltzmann machine, on NumPy arrays (float64).

A restricted Boltzmann machine (RBM) over visible v in {0,1}^V and hidden h in {0,1}^H has

    E(v, h) = -b.v - c.h - v^T W h,      p(v, h) = exp(-E(v, h)) / Z              (1)

(Hinton 2002, §2; Hinton 2010, "A practical guide to training RBMs", eq. (1)). The graph
is bipartite, so each layer is conditionally independent given the other:

    p(h_j = 1 | v) = sigmoid(c_j + v.W_:j),   p(v_i = 1 | h) = sigmoid(b_i + W_i:.h)   (2)

and either layer sums out analytically. Summing out h gives the free energy

    F(v) = -b.v - sum_j softplus(c_j + v.W_:j),     p(v) = exp(-F(v)) / Z           (3)

and summing out v gives Z = sum_h exp(c.h) prod_i (1 + exp(b_i + W_i:.h)), so for H <= 20

    log Z = logsumexp_h [ c.h + sum_i softplus(b_i + W_i:.h) ]                       (4)

is exact by enumerating the 2^H hidden states (``exact_log_z``). A two-layer deep
Boltzmann machine is the same bipartite graph with {v, h2} on one side and h1 on the
other, so ``dbm.py`` uses every function here unchanged.

**Annealed importance sampling** (Neal 2001; Salakhutdinov & Murray 2008, §4.1-4.2)
estimates log Z of a larger RBM. It starts from a *base-rate* model A, an RBM with the
visible biases b_A and no weights, whose log Z_A = sum_i softplus(b_A_i) + H log 2 is
known, and moves towards the RBM B through the geometric path (S&M eq. (13))

    p*_k(v) = exp((1 - beta_k) b_A.v) * exp(beta_k b.v) prod_j (1 + exp(beta_k (c_j + v.W_:j)))

with 0 = beta_0 < beta_1 < ... < beta_K = 1, i.e. an RBM with weights beta W, hidden
biases beta c and visible biases (1 - beta) b_A + beta b. M independent runs each draw
v_1 ~ p_A, then v_{k+1} by one Gibbs sweep (2) that leaves p_k invariant, and carry the
importance weight (S&M eq. (11))

    log w = sum_{k=1}^{K} [ log p*_k(v_k) - log p*_{k-1}(v_k) ]

so that Z_B / Z_A ~= mean(w). We report log Z = log Z_A + log mean(w) and its standard
error from the spread of the weights (delta method: se = std(w) / (sqrt(M) mean(w))).
E[w] = Z_B / Z_A exactly, so log mean(w) underestimates log Z a little on average
(Jensen), which makes an AIS test NLL slightly optimistic; the tests compare it with (4).
``ais_betas`` spaces the K temperatures as S&M §4.2 do: 10% of them on [0, 0.5], 40% on
[0.5, 0.9] and 50% on [0.9, 1], where the distributions change fastest.

The independent-Bernoulli baseline (``bernoulli_baseline``) is the base-rate model fitted
to the training data with add-one smoothing: the figure every binarised-digits likelihood
is read against.
"""
import math

import numpy as np

__all__ = ["sigmoid", "softplus", "free_energy", "sample_hidden", "sample_visible", "exact_log_z",
           "ais_betas", "ais_log_z", "base_rate_log_z", "bernoulli_baseline", "logit"]


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def softplus(a):
    """log(1 + e^a), stably."""
    return np.logaddexp(0.0, a)


def logit(p):
    return np.log(p) - np.log1p(-p)


def free_energy(v, W, b, c):
    """F(v) of (3), float64 (N,), for v (N, V), W (V, H), b (V,), c (H,)."""
    return -v @ b - softplus(c + v @ W).sum(axis=1)


def sample_hidden(v, W, c, rng):
    """h ~ p(h | v) of (2); returns (probabilities, binary sample), each (N, H)."""
    p = sigmoid(c + v @ W)
    return p, (rng.random(p.shape) < p).astype(np.float64)


def sample_visible(h, W, b, rng):
    """v ~ p(v | h) of (2); returns (probabilities, binary sample), each (N, V)."""
    p = sigmoid(b + h @ W.T)
    return p, (rng.random(p.shape) < p).astype(np.float64)


def exact_log_z(W, b, c, chunk=1 << 14):
    """log Z of (4) by enumerating the 2^H hidden states (H <= 20), in chunks."""
    W, b, c = (np.asarray(a, np.float64) for a in (W, b, c))
    H = W.shape[1]
    if H > 20:
        raise ValueError(f"exact log Z enumerates 2^H hidden states; H={H} is more than 20")
    bits = 1 << np.arange(H)
    terms = []
    for start in range(0, 2 ** H, chunk):
        idx = np.arange(start, min(start + chunk, 2 ** H))
        h = ((idx[:, None] & bits) > 0).astype(np.float64)          # (n, H): the states, as bits
        terms.append(h @ c + softplus(b + h @ W.T).sum(axis=1))     # log of one term of Z
    t = np.concatenate(terms)
    return float(t.max() + np.log(np.exp(t - t.max()).sum()))


def ais_betas(K):
    """K + 1 inverse temperatures 0 = beta_0 < ... < beta_K = 1, spaced as S&M §4.2."""
    n1, n2 = max(1, K // 10), max(1, (4 * K) // 10)
    n3 = max(1, K - n1 - n2)
    return np.concatenate([np.linspace(0.0, 0.5, n1, endpoint=False), np.linspace(0.5, 0.9, n2, endpoint=False),
                           np.linspace(0.9, 1.0, n3 + 1)])


def base_rate_log_z(b_A, H):
    """log Z_A of the base-rate RBM (no weights, visible biases b_A, H free hidden units)."""
    return float(softplus(np.asarray(b_A, np.float64)).sum() + H * math.log(2.0))


def _log_p_star(v, beta, a, b, b_A):
    """log p*_beta(v) of the geometric path (module docstring), (N,), given a = c + v W."""
    return (1.0 - beta) * (v @ b_A) + beta * (v @ b) + softplus(beta * a).sum(axis=1)


def ais_log_z(W, b, c, b_A, num_betas, num_chains, rng):
    """log Z of the RBM (W, b, c) by annealed importance sampling from the base rates b_A.

    Args:
        W, b, c: the RBM (V, H), (V,), (H,).
        b_A: visible biases of the base-rate model (V,), e.g. the logits of the training
            data's pixel means.
        num_betas: K, the number of intermediate distributions.
        num_chains: M, independent AIS runs.
        rng: ``numpy.random.Generator``.

    Returns:
        ``(log_Z, standard_error, log_w)``, log_w the M log importance weights.
    """
    W, b, c, b_A = (np.asarray(a, np.float64) for a in (W, b, c, b_A))
    betas = ais_betas(num_betas)
    v = (rng.random((num_chains, len(b))) < sigmoid(b_A)).astype(np.float64)     # v_1 ~ p_A
    log_w = np.zeros(num_chains)
    for k in range(1, len(betas)):
        a = c + v @ W                                                  # shared by both terms and the sweep
        log_w += _log_p_star(v, betas[k], a, b, b_A) - _log_p_star(v, betas[k - 1], a, b, b_A)
        if k < len(betas) - 1:                                         # a Gibbs sweep leaving p_k invariant
            beta = betas[k]
            h = (rng.random(a.shape) < sigmoid(beta * a)).astype(np.float64)          # h ~ p_k(h | v)
            _, v = sample_visible(h, beta * W, (1.0 - beta) * b_A + beta * b, rng)
    m = log_w.max()
    w = np.exp(log_w - m)                                              # weights / e^m
    log_mean = m + np.log(w.mean())
    se = float(w.std(ddof=1) / (np.sqrt(num_chains) * w.mean())) if num_chains > 1 else float("inf")
    return float(base_rate_log_z(b_A, W.shape[1]) + log_mean), se, log_w


def bernoulli_baseline(train, test):
    """Test NLL (nats per example) of independent Bernoulli pixels fitted to ``train`` with
    add-one smoothing, p_i = (n_i + 1) / (n + 2).

    Returns:
        ``(nll, p)``: the mean test NLL and the fitted pixel probabilities (V,).
    """
    train = np.asarray(train, np.float64).reshape(len(train), -1)
    test = np.asarray(test, np.float64).reshape(len(test), -1)
    p = (train.sum(axis=0) + 1.0) / (len(train) + 2.0)
    ll = test @ np.log(p) + (1.0 - test) @ np.log1p(-p)
    return float(-ll.mean()), p
