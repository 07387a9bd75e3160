"""Every numeric knob of the kernels, in one place (stumpy's ``config.py``).

Tests patch these values to force edge paths on tiny inputs, e.g.
``monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)``.

Environment overrides:
    MINIGEN_KERNELS=reference|cpu|gpu   force one implementation everywhere
                                        ('reference' = the plain NumPy twins).
    NUMBA_DISABLE_JIT=1                 run the Numba kernels as plain Python, so a
                                        student can step into them with pdb.
"""
import os

# Which implementation the dispatcher uses: '' (auto: by array type), 'reference', 'cpu', 'gpu'.
KERNELS = os.environ.get("MINIGEN_KERNELS", "").strip().lower()

# Numba fastmath flags. Deliberately WITHOUT 'nnan' and 'ninf': those let LLVM assume
# no NaN/inf exists, which silently breaks -inf masks and NaN checks.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Below this many output elements a kernel runs serially: launching a Numba parallel
# region costs ~19 us with the workqueue layer (PERFORMANCE.md), more than small work.
PARALLEL_MIN_ELEMENTS = 100_000

# Numba threading layer. 'omp' busy-waits and fights OpenBLAS's threads on 2 cores;
# 'workqueue' does not (PERFORMANCE.md, "Numba threading layer").
THREADING_LAYER = os.environ.get("NUMBA_THREADING_LAYER", "workqueue")

# -- dense convolution (kernels/cpu/conv.py), tuned on the project's 2-core AVX-512 machines --
# A GEMM narrower than this many columns runs far below peak: batch small images.
CONV_MIN_GEMM_COLS = 256
# Target size of one worker's column block (im2col output), to stay in L2.
CONV_COLS_BYTES = 1 << 20
# Parallel cost model: a multiply-add is this many "elements" of use_parallel's measure.
CONV_MACS_PER_ELEMENT = 32
# Stride-1 convs use shifted-window GEMMs when both channel counts reach this (each
# tap's GEMM has C or Cout as its inner dimension) ...
CONV_WIDE_MIN_CHANNELS = 16
# ... and the padded grid has at most this many times the output's pixels.
CONV_WIDE_MAX_WASTE = 2.0

# -- masked conv (kernels/cpu/masked_conv.py) and causal conv1d ------------------------------
# Below this many input channels, masked conv uses im2col on the output grid (a first layer,
# Cin = 1 or 3) instead of one GEMM per live tap on shifted views of a padded image.
MASKED_CONV_IM2COL_BELOW_CIN = 16
# Time steps per block of the causal conv1d kernels (a block's columns stay in cache).
CAUSAL_CONV_BLOCK_T = 1024

# CUDA threads per block for hand-written CuPy kernels.
CUDA_BLOCK = 256
