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

# CUDA threads per block for hand-written CuPy kernels.
CUDA_BLOCK = 256
