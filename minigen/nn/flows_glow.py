"""Glow's invertible 1x1 convolution (Kingma & Dhariwal 2018 [1] §3.2), plain and LU-parameterised.

Direction as every flow in minigen (``nn/flows.py``): ``forward(x) -> (z, log_det_J)``
data -> latent, ``inverse(z) -> x``. (Glow's other two steps, ActNorm and the affine
coupling, are ``nn.ActNorm`` and ``nn.AffineCoupling``.)

A 1x1 convolution mixes the C channels of every pixel with one C x C matrix W, a
learned generalisation of the fixed channel permutations of RealNVP ([1] Table 1)::

    z[n, :, h, w] = W x[n, :, h, w]
    log|det dz/dx^T| = H W log|det W|                                  ([1] eq. (9))

**Plain** (``lu=False``): W is the parameter; log|det W| is computed every step by LU
elimination with partial pivoting, written with differentiable ops (``log_abs_det``):
O(C^3) per step, and d log|det W| / dW = W^-T comes out of the graph.

**LU-decomposed** (``lu=True``, [1] §3.2, eqs. (10)-(11))::

    W = P L (U + diag(s)),     log|det W| = sum_c log|s_c|

P a fixed permutation, L unit lower triangular, U strictly upper triangular, s = sign *
exp(log_s) with the signs fixed: log|det W| = sum log_s costs O(C). Both start from the
same random rotation (the QR of a Gaussian matrix), so they compute the same map and the
same log-det at initialisation. Both accept (N, C) vectors as well (H = W = 1).

The inverse multiplies by W^-1, computed from W's values (``numpy.linalg.inv``): it is
used for sampling, and no gradient flows through it.

Reference:
    [1] D. P. Kingma, P. Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions",
        NeurIPS 2018. https://arxiv.org/abs/1807.03039
"""
import numpy as np

from autograd import Tensor, as_numpy, no_grad, to_device

from .flows import Flow
from .module import Parameter

__all__ = ["InvertibleConv1x1", "log_abs_det", "lu_decompose"]


def log_abs_det(A):
    """log|det A| of a square Tensor by LU elimination with partial pivoting, differentiable.

    Step k: move the row with the largest |entry| of column 0 to the top (a row
    permutation only flips det's sign), record log|pivot|, and continue on the Schur
    complement A[1:, 1:] - A[1:, :1] A[:1, 1:] / pivot; det A = +- the product of pivots.
    """
    total = 0.0
    while True:
        p = int(np.argmax(np.abs(as_numpy(A.data[:, 0]))))             # the pivot row (data only)
        if p:
            rows = [p] + [i for i in range(A.shape[0]) if i != p]
            A = A[rows]
        pivot = A[0, 0]
        total = total + pivot.abs().log()
        if A.shape[0] == 1:
            return total
        A = A[1:, 1:] - A[1:, :1] * (A[:1, 1:] / pivot)                  # the Schur complement


def lu_decompose(A):
    """NumPy LU with partial pivoting: A = P L U (P a permutation, L unit lower, U upper)."""
    U, n = np.array(A, np.float64), len(A)
    L, perm = np.eye(n), np.arange(n)
    for k in range(n):
        p = k + int(np.argmax(np.abs(U[k:, k])))
        U[[k, p]], perm[[k, p]], L[[k, p], :k] = U[[p, k]], perm[[p, k]], L[[p, k], :k]
        L[k + 1:, k] = U[k + 1:, k] / U[k, k]
        U[k + 1:] -= L[k + 1:, k:k + 1] * U[k]
    return np.eye(n)[perm].T, L, np.triu(U)                            # A[perm] = L U


class InvertibleConv1x1(Flow):
    """z = W x over the channels of every pixel of (N, C, H, W) (or (N, C)) inputs.

    Args:
        channels: C.
        lu: the LU parameterisation of [1] §3.2 (O(C) log-det) instead of the plain matrix.
        rng: generator for the initial rotation.
        dtype: float dtype of the parameters.
    """

    def __init__(self, channels, lu=True, *, rng, dtype=np.float32):
        super().__init__()
        self.channels, self.lu = channels, bool(lu)
        Q = np.linalg.qr(rng.standard_normal((channels, channels)))[0]     # a random rotation
        if not self.lu:
            self.weight = Parameter(Q.astype(dtype))
            return
        P, L, U = lu_decompose(Q)
        s = np.diag(U)
        self.register_buffer("P", P.astype(dtype))
        self.register_buffer("sign", np.sign(s).astype(dtype))
        self.register_buffer("lower", np.tril(np.ones((channels, channels)), -1).astype(dtype))
        self.register_buffer("eye", np.eye(channels, dtype=dtype))
        self.L = Parameter(L.astype(dtype))                                # only the strict lower part is used
        self.U = Parameter(np.triu(U, 1).astype(dtype))                    # only the strict upper part is used
        self.log_s = Parameter(np.log(np.abs(s)).astype(dtype))

    def matrix(self):
        """W (C, C): the parameter, or P L (U + diag(sign * exp(log_s)))."""
        if not self.lu:
            return self.weight
        L = self.L * self.lower + self.eye                                 # unit lower triangular
        U = self.U * self.lower.T + self.eye * (self.sign * self.log_s.exp())   # upper, diagonal s
        return self.P @ (L @ U)

    def _log_abs_det_W(self):
        return self.log_s.sum() if self.lu else log_abs_det(self.weight)

    @staticmethod
    def _mix(W, x):
        if x.ndim == 2:
            return x @ W.T                                                 # (N, C)
        y = x.transpose(0, 2, 3, 1) @ W.T                                  # (N, H, W, C)
        return y.transpose(0, 3, 1, 2)                                     # (N, C, H, W)

    def forward(self, x):
        """Args: x (N, C, H, W) or (N, C). Returns: (z, log_det_J (N,))."""
        hw = x.size // (x.shape[0] * x.shape[1])                           # H W (1 for vectors)
        log_det_J = (hw * self._log_abs_det_W()).broadcast_to((len(x),))
        return self._mix(self.matrix(), x), log_det_J

    def inverse(self, z):
        with no_grad():
            W = as_numpy(self.matrix().data).astype(np.float64)
            W_inv = Tensor(to_device(np.linalg.inv(W).astype(z.dtype), z.device))
            return self._mix(W_inv, z)

    def extra_repr(self):
        return f"{self.channels}, lu={self.lu}"
