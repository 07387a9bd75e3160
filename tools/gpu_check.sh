#!/usr/bin/env bash
# The whole GPU verification in one command, for any machine with an NVIDIA GPU, CuPy (and
# optionally PyTorch): no install step, no network.  Writes one log (and the benchmark JSON).
#
#   tools/gpu_check.sh [OUTDIR]        OUTDIR defaults to $OUT, else runs/gpu-check
#
# Steps: device and library versions; the GPU tests (pytest -m gpu: kernel parity, the op
# table gradchecked on the GPU, a training step, every model on cuda, the flagships'
# digits-tiny on cuda against the CPU, sample/eval --device cuda); the CPU-side GPU checks
# (nvcc/NVRTC compile, host emulation, the pretend-GPU device flow); the kernel and model
# benchmarks on cuda against PyTorch.  See docs/gpu.md.  Time limits (seconds):
# GPU_TEST_TIMEOUT (480), GPU_BENCH_TIMEOUT (300, kernels), GPU_BENCH_MODELS_TIMEOUT (240).
set -u
cd "$(dirname "$0")/.."
out="${1:-${OUT:-runs/gpu-check}}"
mkdir -p "$out"
log="$out/gpu_check.log"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
    echo "# minigen GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi not available"
    python3 -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())" 2>&1
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1
    python3 -c "import numpy, numba; print('numpy', numpy.__version__, 'numba', numba.__version__)" 2>&1
    echo
    echo "## GPU tests: python3 -m pytest -q -m gpu tests"
    timeout "${GPU_TEST_TIMEOUT:-480}" python3 -m pytest -q -m gpu -p no:cacheprovider \
        --continue-on-collection-errors -rs tests 2>&1 | tail -n 200
    echo "pytest -m gpu exit status: ${PIPESTATUS[0]}"
    echo
    echo "## CPU-side GPU checks: python3 -m pytest -q -m 'not gpu' tests/kernels/gpu tests/minigen/test_device_flow.py"
    timeout 300 python3 -m pytest -q -m "not gpu" -p no:cacheprovider tests/kernels/gpu \
        tests/minigen/test_device_flow.py 2>&1 | tail -n 30
    echo
    echo "## Benchmarks: python3 -m minigen.bench kernels --device cuda"
    timeout "${GPU_BENCH_TIMEOUT:-300}" python3 -m minigen.bench kernels --device cuda --repeat 10 \
        --json "$out/bench_kernels_cuda.json" 2>&1
    echo "bench exit status: $?"
    echo
    echo "## Benchmarks: python3 -m minigen.bench models --device cuda (training steps, batch 256)"
    timeout "${GPU_BENCH_MODELS_TIMEOUT:-240}" python3 -m minigen.bench models --device cuda --repeat 5 \
        --json "$out/bench_models_cuda.json" 2>&1
    echo "bench exit status: $?"
} 2>&1 | tee "$log"
echo "log written to $log"
