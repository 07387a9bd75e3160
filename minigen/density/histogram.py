"""Histograms, and their bin width chosen by cross-validation (Wasserman 2004 [1], §20.2).

On [a, b] cut into m bins B_1..B_m of width h = (b - a) / m, with nu_j of the n points in
B_j and p_j = nu_j / n, the histogram estimate is p_hat(x) = p_j / h for x in B_j ([1] eq. 20.8).

Its risk (integrated squared error) is, up to a constant that does not depend on h,
J(h) = int p_hat^2 - 2 int p_hat p, estimated without knowing p by leave-one-out
cross-validation ([1] eq. 20.12), J_hat(h) = int p_hat^2 - (2/n) sum_i p_hat_(-i)(X_i), which
for a histogram is in closed form ([1] Theorem 20.14, eq. 20.14):

    J_hat(h) = 2 / ((n - 1) h) - (n + 1) / ((n - 1) h) * sum_j p_j^2

The h (equivalently m) with the smallest J_hat is chosen (``choose_bin_width``). With the
best h ~ n^(-1/3) the mean integrated squared error falls as MISE ~ C n^(-2/3) ([1] Theorem
20.4), slower than the parametric n^-1; ``mise_rate`` measures the exponent.

References:
    [1] L. Wasserman, "All of Statistics", Springer 2004, ch. 20.
"""
import numpy as np

__all__ = ["Histogram", "cv_risk", "cv_risk_by_definition", "choose_bin_width", "mise_rate"]


class Histogram:
    """p_hat(x) = p_j / h on bin B_j of m equal bins of [a, b] (module docstring).

    Args:
        x: data (n,); bins: m; bounds: (a, b) (default: the data's range).
    """

    def __init__(self, x, bins, bounds=None):
        x = np.asarray(x, np.float64).ravel()
        a, b = bounds if bounds is not None else (x.min(), x.max())
        self.edges = np.linspace(a, b, bins + 1)
        self.h = (b - a) / bins
        self.counts = np.histogram(x, self.edges)[0]                           # nu_j
        self.p = self.counts / len(x)                                          # p_j

    def density(self, t):
        """p_hat(t): p_j / h in bin j, 0 outside [a, b]."""
        t = np.asarray(t, np.float64)
        j = np.searchsorted(self.edges, t, side="right") - 1
        j = np.where(t == self.edges[-1], len(self.p) - 1, j)                 # b is in the last bin
        inside = (j >= 0) & (j < len(self.p))
        return np.where(inside, self.p[np.clip(j, 0, len(self.p) - 1)] / self.h, 0.0)


def cv_risk(x, bins, bounds=None):
    """J_hat(h) = 2 / ((n-1) h) - (n+1) / ((n-1) h) sum_j p_j^2, for one m or an array of m."""
    x = np.asarray(x, np.float64).ravel()
    n = len(x)
    out = []
    for m in np.atleast_1d(bins):
        hist = Histogram(x, int(m), bounds)
        out.append(2 / ((n - 1) * hist.h) - (n + 1) / ((n - 1) * hist.h) * (hist.p ** 2).sum())
    return np.array(out) if np.ndim(bins) else out[0]


def cv_risk_by_definition(x, bins, bounds=None):
    """J_hat(h) = int p_hat^2 - (2/n) sum_i p_hat_(-i)(X_i), with each leave-one-out histogram
    built explicitly (O(n^2): for checking ``cv_risk``)."""
    x = np.asarray(x, np.float64).ravel()
    hist = Histogram(x, bins, bounds)
    a, b = hist.edges[0], hist.edges[-1]
    integral = (hist.density(hist.edges[:-1]) ** 2).sum() * hist.h             # int p_hat^2
    loo = [Histogram(np.delete(x, i), bins, (a, b)).density(x[i]) for i in range(len(x))]
    return integral - 2.0 * np.mean(loo)


def choose_bin_width(x, max_bins=200, bounds=None):
    """The m in 1..max_bins that minimises J_hat; returns (m, h, bins (M,), risks (M,))."""
    x = np.asarray(x, np.float64).ravel()
    bins = np.arange(1, max_bins + 1)
    risks = cv_risk(x, bins, bounds)
    m = int(bins[np.argmin(risks)])
    a, b = bounds if bounds is not None else (x.min(), x.max())
    return m, (b - a) / m, bins, risks


def mise_rate(sample, pdf, ns, rng, reps=20, bounds=(0.0, 1.0), max_bins=200, grid=4000):
    """MISE(n) of the cross-validated histogram for each n, by simulation, and the fitted
    exponent of MISE ~ C n^slope (theory: slope = -2/3).

    Args:
        sample: ``sample(n, rng)`` draws n points of the true density on ``bounds``.
        pdf: the true density, vectorised.
        ns: sample sizes; rng: generator; reps: simulations per n; grid: points of the ISE integral.

    Returns:
        ``(mise (len(ns),), slope)``.
    """
    t = np.linspace(bounds[0], bounds[1], grid)
    true = pdf(t)
    mise = []
    for n in ns:
        ise = []
        for _ in range(reps):
            x = sample(n, rng)
            m = choose_bin_width(x, max_bins, bounds)[0]
            ise.append(np.trapezoid((Histogram(x, m, bounds).density(t) - true) ** 2, t))
        mise.append(np.mean(ise))
    slope = np.polyfit(np.log(ns), np.log(mise), 1)[0]
    return np.array(mise), float(slope)
