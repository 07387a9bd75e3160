"""Neural CDF regression: a density as the derivative of a network (Magdon-Ismail & Atiya 1998).

Magdon-Ismail and Atiya [1] estimate a 1-D density by regressing the *cumulative*: sort the
n samples, x_(1) < ... < x_(n); the empirical CDF gives targets F_i = i / (n + 1) at x_(i)
(the mean of the i-th order statistic of n uniforms, [1] §2); fit a network F(x) with a
sigmoid output (so 0 < F < 1) to them by least squares, and read the density off as

    p(x) = dF/dx.

A network need not be increasing, and where it decreases dF/dx < 0 is no density, so the
loss adds the monotonicity penalty of [1] §3 on a grid t_1..t_G covering the data:

    L = (1/n) sum_i (F(x_(i)) - F_i)^2  +  lam (1/G) sum_g relu(-F'(t_g))^2

F'(t) is computed by minigen's autograd (``autograd.grad(F(t).sum(), t, create_graph=True)``:
the sum's gradient is each F'(t_g), since F acts on each point alone), and
``create_graph=True`` records that backward pass, so the penalty -- a function of a
derivative -- is itself differentiated by ``loss.backward()`` (a second derivative). The
teaching point: the density is a derivative of a network, and autograd gives it for free.

The inputs are standardised inside the network, z = (x - m) / s, and the chain rule through
that affine map is autograd's too. [1] train with "stochastic learning of the cumulative"
(fresh targets from resampled data each epoch); we use the sorted-sample targets with Adam.

Reference:
    [1] M. Magdon-Ismail, A. Atiya, "Neural networks for density estimation", NIPS 1998.
        https://proceedings.neurips.cc/paper/1998/hash/ (paper 1563)
"""
import numpy as np

from autograd import Tensor, grad

from ..nn import Linear, Module
from ..optim import Adam

__all__ = ["NeuralCDF"]


class NeuralCDF(Module):
    """F(x) = sigmoid(MLP((x - m) / s)), an MLP 1 -> hidden -> hidden -> 1 with tanh units.

    Args:
        hidden: width of the two hidden layers.
        rng: generator of the initial weights.
        dtype: float64 by default (the density is a derivative; keep it exact).
    """

    def __init__(self, hidden=32, *, rng, dtype=np.float64):
        super().__init__()
        self.fc1 = Linear(1, hidden, rng=rng, dtype=dtype)
        self.fc2 = Linear(hidden, hidden, rng=rng, dtype=dtype)
        self.fc3 = Linear(hidden, 1, rng=rng, dtype=dtype)
        self.dtype, self.m, self.s = dtype, 0.0, 1.0

    def forward(self, x):
        """F(x) for a Tensor x (N, 1): values in (0, 1), (N, 1)."""
        z = (x - self.m) * (1.0 / self.s)
        return self.fc3(self.fc2(self.fc1(z).tanh()).tanh()).sigmoid()

    def _tensor(self, x):
        return Tensor(np.asarray(x, self.dtype).reshape(-1, 1), requires_grad=True)

    def derivative(self, x, create_graph=False):
        """(F(t), dF/dt) as Tensors (N, 1) at the points x, by autograd."""
        t = self._tensor(x)
        F = self(t)
        return F, grad(F.sum(), t, create_graph=create_graph)

    def loss(self, x_sorted, targets, grid, lam):
        """Squared error to the CDF targets plus lam times the monotonicity penalty."""
        fit = ((self(Tensor(x_sorted)) - Tensor(targets)) ** 2).mean()
        _, dF = self.derivative(grid, create_graph=True)
        return fit + lam * ((-dF).relu() ** 2).mean(), fit

    def fit(self, x, steps=2000, lr=1e-2, lam=10.0, grid=200, verbose=False):
        """Fit F to the empirical CDF of samples x (n,); returns the list of the fit terms."""
        x = np.sort(np.asarray(x, np.float64).ravel())
        n = len(x)
        self.m, self.s = float(x.mean()), float(x.std())
        x_sorted = x.reshape(-1, 1).astype(self.dtype)
        targets = (np.arange(1, n + 1) / (n + 1)).reshape(-1, 1).astype(self.dtype)   # F_i = i/(n+1)
        pad = 0.1 * (x[-1] - x[0])
        t = np.linspace(x[0] - pad, x[-1] + pad, grid)                                # t_1..t_G
        opt, history = Adam(self.parameters(), lr=lr), []
        for step in range(steps):
            opt.zero_grad()
            loss, fit = self.loss(x_sorted, targets, t, lam)
            loss.backward()
            opt.step()
            history.append(fit.item())
            if verbose and step % 500 == 0:
                print(f"step {step:5d}: squared error to the CDF {history[-1]:.3e}")
        return history

    def cdf(self, x):
        """F(x) as a float64 array (N,)."""
        return self(Tensor(np.asarray(x, self.dtype).reshape(-1, 1))).data.ravel().astype(np.float64)

    def density(self, x):
        """p(x) = dF/dx as a float64 array (N,)."""
        return self.derivative(x)[1].data.ravel().astype(np.float64)
