"""Monotone rational-quadratic splines (neural spline flows, Durkan et al. 2019 [1]): plain NumPy.

A rational-quadratic (RQ) spline maps [-B, B] onto itself through K bins; outside it is
the identity (linear tails, [1] §3.1, "we use linear tails"). Every element of ``x``
has its own spline, given by *unnormalised* parameters (a network's outputs)::

    w~ (..., K)     bin widths      w_k = m_w + (1 - m_w K) softmax(w~)_k     (sum 1)
    h~ (..., K)     bin heights     h_k = m_h + (1 - m_h K) softmax(h~)_k     (sum 1)
    d~ (..., K-1)   inner slopes    delta_k = m_d + softplus(d~_k), k = 1..K-1;
                                    delta_0 = delta_K = 1, so the tails join with slope 1

Knots: x_k = -B + 2B (w_0 + ... + w_{k-1}), k = 0..K (x_0 = -B, x_K = B), y_k alike from h.
In bin k (x_k <= x < x_{k+1}), with s = (y_{k+1} - y_k) / (x_{k+1} - x_k) and
xi = (x - x_k) / (x_{k+1} - x_k) in [0, 1) ([1] eq. (4))::

    y = y_k + (y_{k+1} - y_k) [s xi^2 + delta_k xi (1 - xi)]
              / [s + (delta_{k+1} + delta_k - 2 s) xi (1 - xi)]                      (4)

and its derivative, positive because s, delta > 0 (so the spline is monotone) ([1] eq. (5))::

    dy/dx = s^2 [delta_{k+1} xi^2 + 2 s xi (1 - xi) + delta_k (1 - xi)^2]
            / [s + (delta_{k+1} + delta_k - 2 s) xi (1 - xi)]^2                      (5)

The inverse solves a quadratic a xi^2 + b xi + c = 0 for xi in bin k of y ([1] App. A,
eqs. (6)-(8))::

    a = (y_{k+1} - y_k) (s - delta_k) + (y - y_k) (delta_{k+1} + delta_k - 2 s)       (6)
    b = (y_{k+1} - y_k) delta_k - (y - y_k) (delta_{k+1} + delta_k - 2 s)             (7)
    c = -s (y - y_k)                                                                   (8)
    xi = 2 c / (-b - sqrt(b^2 - 4 a c))       (the root in [0, 1], without cancellation)

These kernels return the *element-wise* log|dy/dx| (log of (5); 0 in the tails); a flow
sums it over the transformed entries.

**Backward.** The forward of one element is a short straight-line program (``_rq_bin``);
its gradient is that program run backwards (reverse mode by hand, one adjoint per line,
``_rq_bin_backward``), then through the knots' cumulative sums (a reverse cumulative sum),
the softmax (g_w~ = w^ (g_w^ - sum_j w^_j g_w^_j)) and the softplus (g_d~ = g_delta sigmoid(d~)).
The inverse's gradient follows from the implicit function theorem: with
x = f^-1(y; theta) and L = log f'(x; theta) (the inverse's log-det is -L),

    dx/dy = 1 / f',   dx/dtheta = -(df/dtheta) / f'

so for upstream gradients (gx, gl) and u = (gx - gl dL/dx) / f':
    gy = u,   gtheta = -u df/dtheta - gl dL/dtheta
which is the forward's backward run with (gy, glogdet) = (-u, -gl).

These functions are the specification and the test oracle of ``kernels/cpu/spline.py``.

Reference:
    [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios, "Neural Spline Flows",
        NeurIPS 2019, §3.1 and Appendix A. https://arxiv.org/abs/1906.04032
"""
from ..backend import FLOATS, get_array_module

__all__ = ["rq_spline_forward", "rq_spline_inverse", "rq_spline_backward", "rq_spline_inverse_backward"]

MIN_WIDTH = MIN_HEIGHT = MIN_DERIVATIVE = 1e-3        # nflows' defaults; keep every bin and slope > 0


def check_spline_args(x, w, h, d, bound, name="x"):
    """Validate shapes, dtypes and the bound (shared with the Numba kernels)."""
    for n, a in ((name, x), ("widths", w), ("heights", h), ("derivatives", d)):
        if not hasattr(a, "dtype") or not hasattr(a, "shape"):
            raise TypeError(f"{n} must be an array, got {type(a).__name__}")
        if a.dtype not in FLOATS:
            raise TypeError(f"{n} must be float32 or float64, got {a.dtype}")
        if a.dtype != x.dtype:
            raise TypeError(f"{n} must have dtype {x.dtype} like {name}, got {a.dtype}")
    K = w.shape[-1] if w.ndim else 0
    want = {"widths": tuple(x.shape) + (K,), "heights": tuple(x.shape) + (K,),
            "derivatives": tuple(x.shape) + (K - 1,)}
    for n, a in (("widths", w), ("heights", h), ("derivatives", d)):
        if tuple(a.shape) != want[n]:
            raise ValueError(f"{n} must have shape {name}.shape + ({'K' if n != 'derivatives' else 'K-1'},) "
                             f"= {want[n]}, got {tuple(a.shape)}")
    if K < 2:
        raise ValueError(f"a spline needs K >= 2 bins, got K = {K}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0 (the spline lives on [-bound, bound]), got {bound}")
    if K * MIN_WIDTH >= 1:
        raise ValueError(f"K = {K} bins of minimum width {MIN_WIDTH} do not fit in the interval")


def check_spline_grad(g, x, name):
    if g is not None and (tuple(g.shape) != tuple(x.shape) or g.dtype != x.dtype):
        raise ValueError(f"{name} must have shape {tuple(x.shape)} and dtype {x.dtype}, "
                         f"got {tuple(g.shape)} {g.dtype}")


def _softmax(a, xp):
    e = xp.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _knots(u, bound, minimum, xp):
    """Normalised bin sizes (M, K) and knots (M, K+1) from unnormalised u (M, K)."""
    p = _softmax(u, xp)
    size = minimum + (1 - minimum * u.shape[-1]) * p
    c = xp.cumsum(size, axis=-1)
    knots = xp.concatenate([xp.zeros_like(c[:, :1]), c], axis=-1) * (2 * bound) - bound
    knots[:, 0], knots[:, -1] = -bound, bound                   # the ends exactly
    return p, knots


def _slopes(d, xp):
    """delta (M, K+1): 1 at both ends, m_d + softplus(d~) inside (a stable softplus)."""
    sp = xp.maximum(d, 0) + xp.log1p(xp.exp(-xp.abs(d)))
    one = xp.ones_like(d[:, :1])
    return xp.concatenate([one, MIN_DERIVATIVE + sp, one], axis=-1)


def _setup(v, w, h, d, bound, by_y):
    """Flatten to M elements; knots, slopes, the bin of each element and whether it is inside."""
    xp = get_array_module(v)
    K = w.shape[-1]
    v1, w1, h1, d1 = v.reshape(-1), w.reshape(-1, K), h.reshape(-1, K), d.reshape(-1, K - 1)
    pw, xk = _knots(w1, bound, MIN_WIDTH, xp)
    ph, yk = _knots(h1, bound, MIN_HEIGHT, xp)
    delta = _slopes(d1, xp)
    inside = (v1 >= -bound) & (v1 < bound)
    knots = yk if by_y else xk
    k = (v1[:, None] >= knots[:, 1:K]).sum(axis=-1)              # the bin: inner knots <= v
    return xp, K, v1, d1, pw, ph, xk, yk, delta, inside, k


def _take(a, k, xp):
    return xp.take_along_axis(a, k[:, None], axis=-1)[:, 0]


def _local(xk, yk, delta, k, xp):
    """(x_k, x_{k+1}, y_k, y_{k+1}, delta_k, delta_{k+1}) of each element's bin."""
    return (_take(xk, k, xp), _take(xk, k + 1, xp), _take(yk, k, xp), _take(yk, k + 1, xp),
            _take(delta, k, xp), _take(delta, k + 1, xp))


def _rq_bin(x, xl, xr, yl, yr, dl, dr, xp):
    """Eqs. (4)-(5) in one bin: ``(y, log dy/dx)``."""
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    xi = (x - xl) / dx
    q = xi * (1 - xi)
    num = dy * (s * xi * xi + dl * q)
    den = s + (dl + dr - 2 * s) * q
    dnum = dr * xi * xi + 2 * s * q + dl * (1 - xi) * (1 - xi)
    return yl + num / den, 2 * xp.log(s) + xp.log(dnum) - 2 * xp.log(den)


def _rq_bin_backward(gy, gl, x, xl, xr, yl, yr, dl, dr):
    """The lines of ``_rq_bin`` backwards: adjoints of (x, xl, xr, yl, yr, dl, dr)."""
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    xi = (x - xl) / dx
    q = xi * (1 - xi)
    num = dy * (s * xi * xi + dl * q)
    den = s + (dl + dr - 2 * s) * q
    dnum = dr * xi * xi + 2 * s * q + dl * (1 - xi) * (1 - xi)
    # y = yl + num / den;  L = 2 log s + log dnum - 2 log den
    g_yl = gy
    g_num = gy / den
    g_den = -gy * num / (den * den) - 2 * gl / den
    g_dnum = gl / dnum
    g_s = 2 * gl / s
    # dnum = dr xi^2 + 2 s q + dl (1 - xi)^2
    g_dr = g_dnum * xi * xi
    g_s = g_s + g_dnum * 2 * q
    g_q = g_dnum * 2 * s
    g_dl = g_dnum * (1 - xi) * (1 - xi)
    g_xi = g_dnum * (2 * dr * xi - 2 * dl * (1 - xi))
    # den = s + (dl + dr - 2 s) q
    g_s = g_s + g_den * (1 - 2 * q)
    g_dl = g_dl + g_den * q
    g_dr = g_dr + g_den * q
    g_q = g_q + g_den * (dl + dr - 2 * s)
    # num = dy (s xi^2 + dl q)
    g_dy = g_num * (s * xi * xi + dl * q)
    g_s = g_s + g_num * dy * xi * xi
    g_xi = g_xi + g_num * dy * 2 * s * xi
    g_dl = g_dl + g_num * dy * q
    g_q = g_q + g_num * dy * dl
    # q = xi (1 - xi);  xi = (x - xl) / dx;  s = dy / dx
    g_xi = g_xi + g_q * (1 - 2 * xi)
    g_x = g_xi / dx
    g_dx = -g_xi * xi / dx - g_s * s / dx
    g_dy = g_dy + g_s / dx
    # dx = xr - xl, dy = yr - yl
    return g_x, -g_xi / dx - g_dx, g_dx, g_yl - g_dy, g_dy, g_dl, g_dr


def _param_grads(g_xl, g_xr, g_yl, g_yr, g_dl, g_dr, k, K, pw, ph, d1, bound, xp):
    """Adjoints of the knots and slopes of bin k -> gradients of w~, h~, d~ (M, K), (M, K), (M, K-1)."""
    j = xp.arange(K)[None, :]

    def through_softmax(g_lo, g_hi, p, minimum):
        # knot i = -B + 2B sum_{j<i} size_j (inner knots only: the ends are fixed)
        g_size = 2 * bound * ((j < k[:, None]) * (k[:, None] >= 1) * g_lo[:, None]
                              + (j < k[:, None] + 1) * (k[:, None] + 1 <= K - 1) * g_hi[:, None])
        g_p = (1 - minimum * K) * g_size
        return p * (g_p - (p * g_p).sum(axis=-1, keepdims=True))

    gw = through_softmax(g_xl, g_xr, pw, MIN_WIDTH)
    gh = through_softmax(g_yl, g_yr, ph, MIN_HEIGHT)
    i = xp.arange(1, K)[None, :]                                 # delta index of d~ column i-1
    g_delta = (i == k[:, None]) * g_dl[:, None] + (i == k[:, None] + 1) * g_dr[:, None]
    sig = 1 / (1 + xp.exp(-d1))
    return gw, gh, g_delta * sig


def rq_spline_forward(x, widths, heights, derivatives, bound=3.0):
    """The RQ spline y = g(x) of eq. (4), identity outside [-bound, bound].

    Args:
        x: any shape S, float32 or float64.
        widths, heights: unnormalised, S + (K,).
        derivatives: unnormalised inner slopes, S + (K-1,).
        bound: B, the spline lives on [-B, B].

    Returns:
        ``(y, logdet)``, both of shape S: logdet = log dy/dx element-wise (0 in the tails).
    """
    check_spline_args(x, widths, heights, derivatives, bound)
    xp, K, x1, d1, pw, ph, xk, yk, delta, inside, k = _setup(x, widths, heights, derivatives, bound, False)
    xl, xr, yl, yr, dl, dr = _local(xk, yk, delta, k, xp)
    xc = xp.where(inside, x1, xl)                               # tails: a harmless point
    y, ld = _rq_bin(xc, xl, xr, yl, yr, dl, dr, xp)
    y, ld = xp.where(inside, y, x1), xp.where(inside, ld, 0)
    return y.reshape(x.shape).astype(x.dtype, copy=False), ld.reshape(x.shape).astype(x.dtype, copy=False)


def _solve(y1, xl, xr, yl, yr, dl, dr, xp):
    """Eqs. (6)-(8): x in the bin from y."""
    dx, dy = xr - xl, yr - yl
    s = dy / dx
    r = y1 - yl
    a = dy * (s - dl) + r * (dl + dr - 2 * s)
    b = dy * dl - r * (dl + dr - 2 * s)
    c = -s * r
    disc = xp.maximum(b * b - 4 * a * c, 0)
    xi = 2 * c / (-b - xp.sqrt(disc))
    return xl + xi * dx


def rq_spline_inverse(y, widths, heights, derivatives, bound=3.0):
    """The inverse x = g^-1(y) by eqs. (6)-(8), identity outside [-bound, bound].

    Returns:
        ``(x, logdet)``: logdet = log dx/dy = -log g'(x) element-wise.
    """
    check_spline_args(y, widths, heights, derivatives, bound, name="y")
    xp, K, y1, d1, pw, ph, xk, yk, delta, inside, k = _setup(y, widths, heights, derivatives, bound, True)
    xl, xr, yl, yr, dl, dr = _local(xk, yk, delta, k, xp)
    yc = xp.where(inside, y1, yl)
    x = _solve(yc, xl, xr, yl, yr, dl, dr, xp)
    _, ld = _rq_bin(x, xl, xr, yl, yr, dl, dr, xp)
    x, ld = xp.where(inside, x, y1), xp.where(inside, -ld, 0)
    return x.reshape(y.shape).astype(y.dtype, copy=False), ld.reshape(y.shape).astype(y.dtype, copy=False)


def _zeros_if_none(g, v, xp):
    return xp.zeros(v.size, v.dtype) if g is None else g.reshape(-1)


def rq_spline_backward(gy, glogdet, x, widths, heights, derivatives, bound=3.0):
    """All gradients of ``rq_spline_forward``: the reverse sweep of the module docstring.

    Args:
        gy, glogdet: upstream gradients of y and of the element-wise logdet, shaped like x
            (None = zero).
        x, widths, heights, derivatives, bound: the forward's inputs.

    Returns:
        ``(gx, gwidths, gheights, gderivatives)``.
    """
    check_spline_args(x, widths, heights, derivatives, bound)
    check_spline_grad(gy, x, "gy")
    check_spline_grad(glogdet, x, "glogdet")
    xp, K, x1, d1, pw, ph, xk, yk, delta, inside, k = _setup(x, widths, heights, derivatives, bound, False)
    gy1, gl1 = _zeros_if_none(gy, x, xp), _zeros_if_none(glogdet, x, xp)
    loc = _local(xk, yk, delta, k, xp)
    xc = xp.where(inside, x1, loc[0])
    g_x, *g_loc = _rq_bin_backward(gy1 * inside, gl1 * inside, xc, *loc)
    gw, gh, gd = _param_grads(*g_loc, k, K, pw, ph, d1, bound, xp)
    gx = xp.where(inside, g_x, gy1)
    cast = lambda a, s: a.reshape(s).astype(x.dtype, copy=False)   # noqa: E731
    return (cast(gx, x.shape), cast(gw, widths.shape), cast(gh, heights.shape),
            cast(gd, derivatives.shape))


def rq_spline_inverse_backward(gx, glogdet, y, widths, heights, derivatives, bound=3.0):
    """All gradients of ``rq_spline_inverse`` by the implicit function theorem (docstring).

    Args:
        gx, glogdet: upstream gradients of the inverse's x and logdet, shaped like y (None = zero).
        y, widths, heights, derivatives, bound: the inverse's inputs.

    Returns:
        ``(gy, gwidths, gheights, gderivatives)``.
    """
    check_spline_args(y, widths, heights, derivatives, bound, name="y")
    check_spline_grad(gx, y, "gx")
    check_spline_grad(glogdet, y, "glogdet")
    xp, K, y1, d1, pw, ph, xk, yk, delta, inside, k = _setup(y, widths, heights, derivatives, bound, True)
    gx1, gl1 = _zeros_if_none(gx, y, xp), _zeros_if_none(glogdet, y, xp)
    loc = _local(xk, yk, delta, k, xp)
    x = _solve(xp.where(inside, y1, loc[2]), *loc, xp)
    _, L = _rq_bin(x, *loc, xp)
    one, zero = xp.ones_like(x), xp.zeros_like(x)
    dL_dx = _rq_bin_backward(zero, one, x, *loc)[0]             # dL/dx
    u = (gx1 - gl1 * dL_dx) * xp.exp(-L) * inside               # (gx - gl dL/dx) / f'
    g_x, *g_loc = _rq_bin_backward(-u, -gl1 * inside, x, *loc)
    gw, gh, gd = _param_grads(*g_loc, k, K, pw, ph, d1, bound, xp)
    gy = xp.where(inside, u, gx1)
    cast = lambda a, s: a.reshape(s).astype(y.dtype, copy=False)   # noqa: E731
    return (cast(gy, y.shape), cast(gw, widths.shape), cast(gh, heights.shape),
            cast(gd, derivatives.shape))
