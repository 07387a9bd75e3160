"""The CUDA C sources of every hand-written GPU kernel, as plain strings (no CuPy needed).

Keeping them here, importable without CuPy, lets CI check them on machines without a
GPU (tests/kernels/gpu): ``nvcc`` compiles each one for a current architecture, and
the same text, compiled as C++ with a small host shim that runs the grid serially,
is compared with the NumPy reference twins.

Each source is written once for an element type ``real``; ``source(name, dtype)``
prepends ``typedef float real;`` or ``typedef double real;``.  Every kernel

* is ``extern "C"`` (CuPy's ``RawKernel`` looks it up by its plain name);
* walks its outputs with grid-stride loops over ``long long`` flat indices, so any
  grid size is correct (the launcher caps the grid, ``config.CUDA_MAX_BLOCKS``);
* uses no barriers and no shared memory: reductions that cross threads are GEMMs
  (cuBLAS through ``cupy.matmul``), a gather (col2im), or ``atomicAdd`` of one
  per-thread partial sum (coupling's log-determinant).  So the serial host shim
  runs every kernel exactly as written.

Scalar parameters are ``int`` (int32), ``long long`` (int64) or ``real``; the
launchers pass NumPy scalars of exactly these types (``kernels/gpu/_cupy.py``).

The kernels (names follow ``<op>_fwd`` / ``<op>_bwd``; conv's are the GEMM helpers):

    im2col            cols[n, c*L + l, i*OW + j] = x[n, c, i*sh + oy_l, j*sw + ox_l] (0 outside)
    col2im            gx[n, c, h, v] = sum_l cols[n, c*L + l, i*OW + j] over the (l, i, j)
                      with h = i*sh + oy_l, v = j*sw + ox_l (a gather: no atomics)
    coupling_fwd      y = m*x + (1-m)*(x*e^s + t),     logdet[n] += sum (1-m)*s
    coupling_inv      x = m*y + (1-m)*(y - t)*e^-s,    logdet[n] -= sum (1-m)*s
    coupling_bwd      gx, gs_raw, gt (and gs*tanh for the scale) of coupling_fwd
    coupling_inv_bwd  gy, gs_raw, gt (and gs*tanh) of coupling_inv
    rq_spline_fwd     RQ spline (neural spline flows) y = g(x) or g^-1, per-element log-det
    rq_spline_bwd     its gradients in x and the widths / heights / slopes (``_sources_spline.py``)
    adam_step         one fused Adam / AdamW update of p, m, v in place (``_sources_optim.py``)
    xent_fwd          softmax cross-entropy loss and logsumexp per position (``_sources_cross_entropy.py``)
    xent_bwd          its gradient in the logits

A *tap* l is an offset ``(oy_l, ox_l)`` into the input relative to the output pixel
scaled by the stride: dense conv has the KH*KW taps ``(kh*dh - ph, kw*dw - pw)``,
masked conv only its live taps ``(ky - ph, kx - pw)``, causal conv1d (H = 1) the taps
``(0, -d*(K-1-k))``.  One im2col and one col2im therefore serve all three families.
"""
import numpy as np

from ._sources_cross_entropy import CROSS_ENTROPY_SOURCES
from ._sources_optim import OPTIM_SOURCES
from ._sources_spline import SPLINE_SOURCES

# Flat index decomposition shared by im2col/col2im (kept in one place so a change is seen by both).
IM2COL = r"""
extern "C" __global__ void im2col(const real* x, const int* offs, real* cols,
                                  int C, int H, int W, int L, int OH, int OW, int sh, int sw,
                                  long long total)
{
    // cols: (NB, C*L, OH*OW), row c*L + l; total = NB*C*L*OH*OW.  x: (NB, C, H, W).
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long r = idx;
        int j = (int)(r % OW); r /= OW;
        int i = (int)(r % OH); r /= OH;
        int l = (int)(r % L);  r /= L;
        int c = (int)(r % C);
        long long n = r / C;
        int h = i * sh + offs[2 * l];
        int v = j * sw + offs[2 * l + 1];
        real val = (real)0;
        if (h >= 0 && h < H && v >= 0 && v < W)
            val = x[((n * C + c) * H + h) * (long long)W + v];
        cols[idx] = val;
    }
}
"""

COL2IM = r"""
extern "C" __global__ void col2im(const real* cols, const int* offs, real* gx,
                                  int C, int H, int W, int L, int OH, int OW, int sh, int sw,
                                  long long total)
{
    // gx: (NB, C, H, W), total = NB*C*H*W; cols: (NB, C*L, OH*OW) as written by im2col.
    // Each input pixel gathers the columns that read it, so no two threads write one address.
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long r = idx;
        int v = (int)(r % W); r /= W;
        int h = (int)(r % H); r /= H;
        int c = (int)(r % C);
        long long n = r / C;
        const real* base = cols + (n * C + c) * (long long)L * OH * OW;
        real acc = (real)0;
        for (int l = 0; l < L; ++l) {
            int a = h - offs[2 * l], b = v - offs[2 * l + 1];   // = i*sh, j*sw
            if (a < 0 || b < 0 || a % sh != 0 || b % sw != 0) continue;
            int i = a / sh, j = b / sw;
            if (i >= OH || j >= OW) continue;
            acc += base[((long long)l * OH + i) * OW + j];
        }
        gx[idx] = acc;
    }
}
"""

# Coupling: a 2-D grid, blockIdx.y strides over the N samples and the x dimension over the
# D = prod(x.shape[1:]) features of one sample; scale and mask arrive broadcast to (D,).
_SAMPLES = r"""
    for (long long n = blockIdx.y; n < N; n += gridDim.y) {"""
_SUM = r"""
        real acc = (real)0;                        // this thread's part of logdet[n]
        bool touched = false;"""
_COUPLING_LOOP = r"""
        for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < D;
             i += (long long)blockDim.x * gridDim.x) {
            long long k = n * D + i;
            real th = has_scale ? tanh(s_raw[k]) : (real)0;
            real s = has_scale ? scale[i] * th : s_raw[k];
            real m = has_mask ? mask[i] : (real)0;
            real om = (real)1 - m;
"""

COUPLING_FWD = r"""
extern "C" __global__ void coupling_fwd(const real* x, const real* s_raw, const real* t,
                                        const real* scale, const real* mask, real* y, real* logdet,
                                        long long N, long long D, int has_scale, int has_mask)
{""" + _SAMPLES + _SUM + _COUPLING_LOOP + r"""
            real v = x[k] * exp(s) + t[k];
            y[k] = has_mask ? m * x[k] + om * v : v;
            acc += has_mask ? om * s : s;
            touched = true;
        }
        if (touched) atomicAdd(&logdet[n], acc);   // logdet is zeroed by the launcher
    }
}
"""

COUPLING_INV = r"""
extern "C" __global__ void coupling_inv(const real* y, const real* s_raw, const real* t,
                                        const real* scale, const real* mask, real* x, real* logdet,
                                        long long N, long long D, int has_scale, int has_mask)
{""" + _SAMPLES + _SUM + _COUPLING_LOOP + r"""
            real v = (y[k] - t[k]) * exp(-s);
            x[k] = has_mask ? m * y[k] + om * v : v;
            acc += has_mask ? om * s : s;
            touched = true;
        }
        if (touched) atomicAdd(&logdet[n], -acc);
    }
}
"""

# Backward kernels: gsth[k] = gs*tanh(s_raw) is written only with a scale (the host sums it
# to the scale's shape); gt only when write_gt.
COUPLING_BWD = r"""
extern "C" __global__ void coupling_bwd(const real* gy, const real* glogdet, const real* x,
                                        const real* s_raw, const real* scale, const real* mask,
                                        real* gx, real* gs_raw, real* gt, real* gsth,
                                        long long N, long long D, int has_scale, int has_mask,
                                        int write_gt)
{""" + _SAMPLES + _COUPLING_LOOP + r"""
            real e = exp(s);
            real g = gy[k];
            gx[k] = has_mask ? g * (m + om * e) : g * e;
            if (write_gt) gt[k] = om * g;
            real gs = om * (g * x[k] * e + glogdet[n]);
            gs_raw[k] = has_scale ? gs * scale[i] * ((real)1 - th * th) : gs;
            if (has_scale) gsth[k] = gs * th;
        }
    }
}
"""

COUPLING_INV_BWD = r"""
extern "C" __global__ void coupling_inv_bwd(const real* gx, const real* glogdet, const real* y,
                                            const real* s_raw, const real* t, const real* scale,
                                            const real* mask, real* gy, real* gs_raw, real* gt,
                                            real* gsth, long long N, long long D, int has_scale,
                                            int has_mask)
{""" + _SAMPLES + _COUPLING_LOOP + r"""
            real e = exp(-s);
            real g = gx[k];
            real xv = (y[k] - t[k]) * e;
            gy[k] = has_mask ? g * (m + om * e) : g * e;
            gt[k] = -om * g * e;
            real gs = -om * (g * xv + glogdet[n]);
            gs_raw[k] = has_scale ? gs * scale[i] * ((real)1 - th * th) : gs;
            if (has_scale) gsth[k] = gs * th;
        }
    }
}
"""

SOURCES = {
    "im2col": IM2COL,
    "col2im": COL2IM,
    "coupling_fwd": COUPLING_FWD,
    "coupling_inv": COUPLING_INV,
    "coupling_bwd": COUPLING_BWD,
    "coupling_inv_bwd": COUPLING_INV_BWD,
}
SOURCES.update(SPLINE_SOURCES)     # kernels/gpu/_sources_spline.py
SOURCES.update(OPTIM_SOURCES)      # kernels/gpu/_sources_optim.py
SOURCES.update(CROSS_ENTROPY_SOURCES)   # kernels/gpu/_sources_cross_entropy.py

CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def source(name, dtype):
    """The complete CUDA source of kernel ``name`` for ``dtype`` (float32 or float64)."""
    return f"typedef {CTYPES[np.dtype(dtype)]} real;\n" + SOURCES[name]


def translation_unit(dtype):
    """Every kernel for one dtype in one source (what the nvcc compile check builds)."""
    return f"typedef {CTYPES[np.dtype(dtype)]} real;\n" + "".join(SOURCES.values())
