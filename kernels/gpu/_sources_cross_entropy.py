"""CUDA C sources of the softmax cross-entropy kernels, as strings.

Merged into ``_sources.SOURCES`` (so the nvcc / NVRTC compile checks and the host
emulation of tests/kernels/gpu cover them).  The equations are those of
``kernels/reference/cross_entropy.py``, on logits viewed as (A, K, B): K classes with
stride B, position p = a * B + b.

    xent_fwd   one thread per position: max, sum of exp(z - max), log; writes the loss
               logsumexp - z[t] and the logsumexp (a target outside [0, K) gives a NaN
               loss: checking on the host would synchronise with the GPU every step)
    xent_bwd   one thread per logit: gz = gy[p] * (exp(z - lse[p]) - [k == t[p]])

Every literal is cast to ``real`` (an unsuffixed ``1.0`` would make float32 kernels
compute in float64; test_gpu_compile checks the PTX).
"""

XENT_FWD = r"""
extern "C" __global__ void xent_fwd(const real* z, const long long* t, real* loss, real* lse,
                                    int K, long long B, long long total)
{
    // total = A * B positions; z (A, K, B), t, loss, lse (A, B)
    for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < total;
         p += (long long)blockDim.x * gridDim.x) {
        const real* zp = z + (p / B) * K * B + p % B;       // z[a, 0, b]; class k at zp[k * B]
        real m = zp[0];
        for (int k = 1; k < K; ++k) m = zp[k * B] > m ? zp[k * B] : m;
        real s = (real)0;
        for (int k = 0; k < K; ++k) s += exp(zp[k * B] - m);
        real l = m + log(s);                                 // logsumexp(z)
        long long tk = t[p];
        lse[p] = l;
        loss[p] = (tk >= 0 && tk < K) ? l - zp[tk * B] : sqrt((real)-1);   // NaN: no such class
    }
}
"""

XENT_BWD = r"""
extern "C" __global__ void xent_bwd(const real* gy, const real* z, const long long* t, const real* lse,
                                    real* gz, int K, long long B, long long total)
{
    // total = A * K * B logits; element i = (a * K + k) * B + b, its position p = a * B + b
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        long long b = i % B, r = i / B;
        long long k = r % K, p = (r / K) * B + b;
        real hit = t[p] == k ? (real)1 : (real)0;
        gz[i] = gy[p] * (exp(z[i] - lse[p]) - hit);          // gy * (softmax(z)_k - [k == t])
    }
}
"""

CROSS_ENTROPY_SOURCES = {"xent_fwd": XENT_FWD, "xent_bwd": XENT_BWD}
