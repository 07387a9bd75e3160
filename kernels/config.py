"""Every numeric knob of the kernels, in one place (stumpy's ``config.py``).

Tests patch these values to force edge paths on tiny inputs, e.g.
``monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0)``.

Environment overrides:
    MINIGEN_KERNELS=reference|cpu|gpu   force one implementation everywhere
                                        ('reference' = the plain NumPy twins; 'gpu' = the
                                        CUDA kernels, which need CuPy, a GPU and CuPy
                                        arrays); empty = auto, by array type.  Any other
                                        value is an error at ``import kernels``.
    NUMBA_DISABLE_JIT=1                 run the Numba kernels as plain Python, so a
                                        student can step into them with pdb.
"""
import os

# Which implementation the dispatcher uses: '' (auto: by array type), 'reference', 'cpu', 'gpu'.
KERNELS_CHOICES = ("", "reference", "cpu", "gpu")


def kernels_choice(value):
    """Validate a ``MINIGEN_KERNELS`` value; returns it normalised (stripped, lower case).

    Raises:
        ValueError: for anything but reference, cpu, gpu or empty (auto), naming the choices.
    """
    v = (value or "").strip().lower()
    if v not in KERNELS_CHOICES:
        raise ValueError(f"MINIGEN_KERNELS={value!r} is not a kernel implementation; choose one of "
                         f"reference, cpu, gpu, or leave it empty (auto: by array type)")
    return v


KERNELS = kernels_choice(os.environ.get("MINIGEN_KERNELS", ""))

# Numba fastmath flags. Deliberately WITHOUT 'nnan' and 'ninf': those let LLVM assume
# no NaN/inf exists, which silently breaks -inf masks and NaN checks.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Below this many output elements a kernel runs serially: launching a Numba parallel
# region costs ~19 us (docs/performance.md), more than small work.
PARALLEL_MIN_ELEMENTS = 100_000

# Pin NumPy's OpenBLAS to one thread when the CPU kernels load (kernels/cpu/_blas.py): Numba's
# threads are the only pool, and OpenBLAS threads spinning after a product stall the next Numba
# kernel (docs/performance.md, "One thread pool").  Set False (before the import) to keep BLAS's
# own threads for NumPy code of your own; minigen's kernels pin it around their regions anyway.
PIN_BLAS_TO_ONE_THREAD = os.environ.get("MINIGEN_PIN_BLAS", "1") != "0"

# A 2-D product with at least this many multiply-adds (m*n*k) is split over Numba's threads
# (kernels/cpu/linalg.py); a smaller one runs on one thread (about 30 us of work, the cost of
# launching a parallel region).
MATMUL_SPLIT_MIN_WORK = 1_000_000

# Numba threading layer: GNU OpenMP with passive waiting, else workqueue (docs/performance.md,
# "Threads").  Measured, diffusion U-Net training step on the 2-core machine, idle / with another
# process busy on one core: workqueue 554 / 582 ms (its workers wake too slowly after the main
# thread ran NumPy, so parallel regions barely overlap), omp with libgomp's default spinning
# 391 / 1091, omp passive 396 / 526, one thread 525 / 552.
THREADING_LAYER = os.environ.get("NUMBA_THREADING_LAYER", "default")
THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]
# Idle OpenMP workers sleep at once instead of spinning: a spinning worker takes the core that
# another process (or OpenBLAS) needs.  Read by each libgomp when it loads; a value the user
# set is kept.  ``OMP_WAIT_POLICY_SET_HERE`` lets the benchmark give PyTorch its own default.
OMP_WAIT_POLICY_SET_HERE = "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
# 3x3 stride-1 convs use Winograd F(2x2, 3x3) (kernels/cpu/_winograd.py) when both channel
# counts reach this.  Measured (2 threads, float32, ms fwd / grad-input / grad-weight,
# shifted-window -> Winograd): 64->64 28x28 N=64 25.9/27.2/30.1 -> 12.1/12.9/12.9;
# 128->128 32x32 N=16 26.1/26.4/30.6 -> 15.5/15.5/18.0; 32->32 8x8 N=128 1.53/1.36/1.43 ->
# 0.75/0.90/0.73; 32->32 28x28 4.6/5.3/4.9 -> 4.4/6.4/4.9 (even); 16->16 loses (1.9/1.7/1.5 ->
# 1.9/2.6/1.8 at 28x28): the transforms cost more than the multiplications they save.
CONV_WINOGRAD_MIN_CHANNELS = 32
# A block of tiles goes through the input transform, the 16 GEMMs and the output transform
# while its transform-domain planes (16 x tiles x (C + Cout) numbers) fit in about this many
# bytes (half this machine's 1 MiB L2 per core).  Whole-batch planes (51 MB at 64->64 28x28
# N=64) made every transform a trip to memory: 25.9 ms forward there, 13.7 blocked.
CONV_WINOGRAD_BLOCK_BYTES = 512 * 1024

# -- masked conv (kernels/cpu/masked_conv.py) and causal conv1d ------------------------------
# Below this many input channels, masked conv uses im2col on the output grid (a first layer,
# Cin = 1 or 3) instead of one GEMM per live tap on shifted views of a padded image.
MASKED_CONV_IM2COL_BELOW_CIN = 16
# Time steps per block of the causal conv1d kernels (a block's columns stay in cache).
CAUSAL_CONV_BLOCK_T = 1024

# -- CUDA kernels (kernels/gpu) ---------------------------------------------------------------
# Threads per block for the hand-written kernels.
CUDA_BLOCK = 256
# At most this many blocks per grid dimension x; the kernels' grid-stride loops cover the rest.
CUDA_MAX_BLOCKS = 65535
# At most this many blocks along y (CUDA's limit) for the per-sample coupling grid.
CUDA_MAX_GRID_Y = 65535
# Features of one sample each coupling thread covers (one atomicAdd per thread for logdet).
CUDA_ITEMS_PER_THREAD = 8
# Target size of one im2col column buffer: the batch is processed in blocks of samples.
CUDA_COLS_BYTES = 1 << 28
# Extra NVRTC options for every kernel (CuPy's RawKernel options).
CUDA_OPTIONS = ()
