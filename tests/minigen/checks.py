"""Numerical checks shared by the model contracts and the layer tests."""
import numpy as np

from autograd import Tensor, no_grad


def numerical_log_det(fn, x, eps=1e-6):
    """log|det J| of fn: R^D -> R^D at each row of x (N, D), by central differences (float64)."""
    out = []
    for row in x:
        J = np.stack([(fn(row + eps * e) - fn(row - eps * e)) / (2 * eps) for e in np.eye(row.size)], axis=1)
        out.append(np.linalg.slogdet(J)[1])
    return np.array(out)


def as_fn(flow, shape):
    """A NumPy function R^D -> R^D running ``flow.forward`` on one example of ``shape``."""
    def fn(v):
        with no_grad():
            z, _ = flow(Tensor(v.reshape((1,) + tuple(shape))))
        return z.data.reshape(-1)
    return fn
