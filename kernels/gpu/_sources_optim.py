"""CUDA C source of the fused Adam / AdamW step, as a string.

Merged into ``_sources.SOURCES`` (so the nvcc / NVRTC compile checks and the host
emulation of tests/kernels/gpu cover it).  The equations, and the order of the
operations, are those of ``kernels/reference/optim.py``; one thread per element
(grid-stride loop), every scalar passed already rounded to ``real``.  ``mode`` is 0
(no decay), 1 (decoupled, AdamW: ``p * keep`` with ``keep = 1 - lr * wd``) or 2 (L2:
``g + wd * p``).  The CUDA compiler may fuse a multiply and an add into one FMA, so
the GPU's last bits can differ from the twin's (the CPU kernel's do not).

    adam_step   p, m, v <- one Adam step of (p, g, m, v), in place
"""

ADAM_STEP = r"""
extern "C" __global__ void adam_step(real* p, const real* g, real* m, real* v, long long n, int mode,
                                     real keep, real wd, real beta1, real c1, real beta2, real c2,
                                     real inv_sqrt_bias2, real eps, real step_size)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        real pi = p[i];
        real gi = g[i];
        if (mode == 1) pi = pi * keep;                      // p <- p * (1 - lr * wd)   (AdamW)
        else if (mode == 2) gi = gi + wd * pi;              // g <- g + wd * p          (L2)
        real mi = m[i] * beta1 + gi * c1;                   // m <- beta1 m + (1 - beta1) g
        real vi = v[i] * beta2 + (gi * gi) * c2;            // v <- beta2 v + (1 - beta2) g^2
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - (mi / (sqrt(vi) * inv_sqrt_bias2 + eps)) * step_size;
    }
}
"""

OPTIM_SOURCES = {"adam_step": ADAM_STEP}
