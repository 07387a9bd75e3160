"""Principal component analysis by the SVD, and principal angles between subspaces.

PCA (Pearson 1901; Hotelling 1933) keeps the k directions of largest variance. With the
centred data matrix X_c = X - 1 m^T (N, D) and its thin SVD X_c = U S V^T, the rows of
V^T are the principal directions, S_j^2 / N the variances along them, and the best
rank-k reconstruction in squared error (Eckart & Young 1936) is::

    x_hat = m + V_k V_k^T (x - m)

A linear autoencoder trained with the squared error reaches the same subspace span(V_k)
(Baldi & Hornik 1989), though not the same basis: its weights are V_k times any
invertible matrix. Subspaces are compared by their **principal angles** (Björck & Golub
1973): with orthonormal bases Q_A, Q_B of the two column spaces, the singular values of
Q_A^T Q_B are cos theta_1 >= ... >= cos theta_k; all angles 0 means the same subspace.

References:
    P. Baldi and K. Hornik, "Neural networks and principal component analysis: learning from
    examples without local minima", Neural Networks 2(1), 1989.
    A. Björck and G. H. Golub, "Numerical methods for computing angles between linear
    subspaces", Mathematics of Computation 27(123), 1973.
"""
import numpy as np

__all__ = ["pca", "pca_reconstruct", "principal_angles"]


def pca(x, k):
    """The first k principal components of ``x`` by the SVD of the centred data.

    Args:
        x: data (N, ...) (flattened to (N, D)).
        k: number of components, 1 <= k <= min(N, D).

    Returns:
        ``(mean (D,), components (k, D) with orthonormal rows, variances (k,))``, float64.
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)                       # (N, D)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k={k!r} is not allowed: 1 <= k <= min(N, D) = {min(x.shape)}")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)                # X_c = U S V^T
    return mean, vt[:k], s[:k] ** 2 / len(x)


def pca_reconstruct(x, mean, components):
    """``m + V_k V_k^T (x - m)``: the projection of ``x`` (N, ...) onto the principal subspace,
    in x's shape."""
    flat = np.asarray(x, np.float64).reshape(len(x), -1)                    # (N, D)
    codes = (flat - mean) @ components.T                                    # (N, k)
    return (mean + codes @ components).reshape(np.shape(x))


def principal_angles(A, B):
    """The principal angles between the column spaces of ``A`` (D, p) and ``B`` (D, q), in degrees.

    Returns:
        min(p, q) angles, smallest first (0: a shared direction).
    """
    qa, _ = np.linalg.qr(np.asarray(A, np.float64))                         # (D, p) orthonormal
    qb, _ = np.linalg.qr(np.asarray(B, np.float64))                         # (D, q)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
