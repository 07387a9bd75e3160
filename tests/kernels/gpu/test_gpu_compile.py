"""Every CUDA source of kernels/gpu compiles, with nvcc and with NVRTC (what CuPy uses), no GPU needed.

* nvcc: all kernels of one dtype in one translation unit, ``-arch=sm_90 --ptx`` with
  warnings as errors; the PTX must define every kernel, and the float32 PTX must hold
  no float64 instruction (an unsuffixed literal like ``1.0`` would promote silently).
* NVRTC (``libnvrtc`` from the CUDA toolkit or the ``nvidia-cuda-nvrtc`` wheel): each
  source on its own, as ``cupy.RawKernel`` compiles it (no host headers available).

Each skips cleanly when its compiler is missing.
"""
import ctypes
import glob
import os
import re
import shutil
import site
import subprocess

import numpy as np
import pytest

from kernels.gpu import _sources

DTYPES = (np.float32, np.float64)


def _nvcc():
    return shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not installed")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_nvcc_compiles_every_kernel(dtype, tmp_path):
    cu, ptx = tmp_path / "kernels.cu", tmp_path / "kernels.ptx"
    cu.write_text(_sources.translation_unit(dtype))
    out = subprocess.run([_nvcc(), "-arch=sm_90", "--ptx", "-Werror", "all-warnings", "-o", str(ptx),
                          str(cu)], capture_output=True, text=True)
    assert out.returncode == 0, f"nvcc failed for {np.dtype(dtype).name}:\n{out.stderr}"
    text = ptx.read_text()
    entries = set(re.findall(r"\.entry\s+(\w+)", text))
    assert entries == set(_sources.SOURCES), entries
    if dtype == np.float32:
        f64 = [line.strip() for line in text.splitlines() if re.search(r"\.f64\b", line)]
        assert not f64, f"float32 kernels use float64 arithmetic: {f64[:5]}"


def _libnvrtc():
    candidates = []
    for d in site.getsitepackages() + [site.getusersitepackages()]:
        candidates += glob.glob(os.path.join(d, "nvidia", "*", "lib", "libnvrtc.so*"))
        candidates += glob.glob(os.path.join(d, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*"))
    candidates += glob.glob("/usr/local/cuda/lib64/libnvrtc.so*")
    for path in sorted(p for p in candidates if "builtins" not in p and ".alt." not in p):
        try:  # NVRTC opens its builtins library by name: load it first, globally
            for b in glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so*")):
                if ".alt." not in b:
                    ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def nvrtc_compile(lib, code, name, options=("--gpu-architecture=compute_90",)):
    """Compile ``code`` with NVRTC; returns (ok, log)."""
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), code.encode(), f"{name}.cu".encode(), 0,
                                  None, None) == 0
    opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
    rc = lib.nvrtcCompileProgram(prog, len(options), opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return rc == 0, log.value.decode(errors="replace")


NVRTC = _libnvrtc()


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (pip install nvidia-cuda-nvrtc)")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_nvrtc_compiles_each_source_alone(dtype):
    for name in _sources.SOURCES:
        ok, log = nvrtc_compile(NVRTC, _sources.source(name, dtype), name)
        assert ok, f"NVRTC failed on {name} ({np.dtype(dtype).name}):\n{log}"
        assert "warning" not in log.lower(), f"{name}: {log}"


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (pip install nvidia-cuda-nvrtc)")
def test_nvrtc_reports_errors():
    """The NVRTC check can fail: a source with an undeclared name does not compile."""
    ok, log = nvrtc_compile(NVRTC, 'extern "C" __global__ void f(float* y) { y[0] = undeclared; }', "f")
    assert not ok and "undeclared" in log
