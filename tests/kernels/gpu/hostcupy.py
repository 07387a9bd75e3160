"""A stand-in for CuPy that runs the CUDA sources of ``kernels/gpu`` on the CPU.

``HostCupy`` has the small part of CuPy's interface the GPU launchers use: array
functions are NumPy's, and ``RawKernel(code, name)`` compiles the *same CUDA source*
as C++ with g++ and a host shim:

* ``__global__``/``__device__`` expand to nothing; ``threadIdx``, ``blockIdx``,
  ``blockDim``, ``gridDim`` are globals;
* a generated ``launch`` function walks the grid serially (every block, every thread)
  and calls the kernel once per thread, as a GPU would, but in order;
* ``atomicAdd`` is a plain update (exact, since threads run one at a time).

That is faithful for kernels without barriers or shared memory, which is all of
``kernels/gpu`` (``_sources.py`` promises it, and ``test_no_barriers`` checks it).

The launch is stricter than CuPy, so launcher mistakes that would corrupt memory
silently on a GPU fail here: every pointer argument must be a C-contiguous,
writeable-if-written NumPy array of exactly the declared element type, and every
scalar a NumPy scalar of exactly the declared type (``int`` = int32, ``long long`` =
int64, ``real`` = the kernel's float type).  Compiled libraries are cached by source
hash under ``$MINIGEN_HOSTCUPY_CACHE`` (default: the temp dir).
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import numpy as np

CXX = shutil.which("g++") or shutil.which("c++")

PRELUDE = r"""
#include <cmath>
struct minigen_dim3 { unsigned int x, y, z; };
static minigen_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
template <typename T> static T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
using std::exp; using std::tanh; using std::log;
"""

LAUNCH = r"""
extern "C" void minigen_launch(unsigned gx, unsigned gy, unsigned gz,
                               unsigned bx, unsigned by, unsigned bz, void** a)
{
    gridDim.x = gx; gridDim.y = gy; gridDim.z = gz;
    blockDim.x = bx; blockDim.y = by; blockDim.z = bz;
    for (unsigned z = 0; z < gz; ++z) for (unsigned y = 0; y < gy; ++y) for (unsigned x = 0; x < gx; ++x) {
        blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;
        for (unsigned tz = 0; tz < bz; ++tz) for (unsigned ty = 0; ty < by; ++ty) for (unsigned tx = 0; tx < bx; ++tx) {
            threadIdx.x = tx; threadIdx.y = ty; threadIdx.z = tz;
            KERNEL(CALL_ARGS);
        }
    }
}
"""

_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_TYPEDEF = re.compile(r"typedef\s+(float|double)\s+real\s*;")
SCALARS = {"int": (np.int32, ctypes.c_int32), "long long": (np.int64, ctypes.c_int64),
           "unsigned int": (np.uint32, ctypes.c_uint32)}


def parameters(code, name):
    """``[(type, name)]`` of kernel ``name`` in ``code``, e.g. ``('const real*', 'x')``."""
    for m in _SIGNATURE.finditer(code):
        if m.group(1) == name:
            params = [" ".join(p.split()) for p in m.group(2).split(",")]
            out = []
            for p in params:
                pm = re.match(r"(.*?[\s*])(\w+)$", p)
                out.append((pm.group(1).strip(), pm.group(2)))
            return out
    raise ValueError(f"kernel {name!r} not found in the source")


def compile_host(code, name, flags=("-O1",)):
    """Compile ``code`` with the host shim; returns the ctypes library (cached by hash)."""
    if CXX is None:
        raise RuntimeError("no C++ compiler (g++) to emulate the CUDA kernels on the CPU")
    params = parameters(code, name)
    call = ", ".join(f"*({t}*)a[{i}]" for i, (t, _) in enumerate(params))
    src = PRELUDE + code + LAUNCH.replace("KERNEL", name).replace("CALL_ARGS", call)
    key = hashlib.sha256((src + " ".join(flags) + CXX).encode()).hexdigest()[:20]
    cache = os.environ.get("MINIGEN_HOSTCUPY_CACHE",
                           os.path.join(tempfile.gettempdir(), "minigen-hostcupy"))
    os.makedirs(cache, exist_ok=True)
    lib = os.path.join(cache, f"{name}-{key}.so")
    if not os.path.exists(lib):
        cpp = lib[:-3] + ".cpp"
        with open(cpp, "w") as f:
            f.write(src)
        tmp = f"{lib}.{os.getpid()}.tmp"
        subprocess.run([CXX, *flags, "-std=c++14", "-shared", "-fPIC", "-Wall", "-Werror",
                        "-Wno-unused-function", "-o", tmp, cpp], check=True,
                       capture_output=True, text=True)
        os.replace(tmp, lib)
    return ctypes.CDLL(lib)


class RawKernel:
    """CuPy's ``RawKernel(code, name, options)`` with ``kernel(grid, block, args)``, run serially."""

    def __init__(self, code, name, options=()):
        self.code, self.name, self.options = code, name, tuple(options)
        self.real = np.dtype({"float": np.float32, "double": np.float64}[_TYPEDEF.search(code).group(1)])
        self.params = parameters(code, name)
        self._lib = None
        self.launches = 0

    def _element(self, ctype):
        base = ctype.replace("const", "").replace("*", "").strip()
        return self.real if base == "real" else np.dtype(SCALARS[base][0])

    def _marshal(self, args):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(self.params)} arguments declared, {len(args)} given")
        store = []
        for (ctype, pname), a in zip(self.params, args):
            where = f"{self.name}: argument {pname!r} ({ctype})"
            if ctype.endswith("*"):
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{where} must be an array, got {type(a).__name__}")
                if a.dtype != self._element(ctype):
                    raise TypeError(f"{where} has dtype {a.dtype}, expected {self._element(ctype)}")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{where} is not C-contiguous: a kernel would ignore its strides")
                if not ctype.startswith("const") and not a.flags.writeable:
                    raise ValueError(f"{where} is written by the kernel but not writeable")
                store.append(ctypes.c_void_p(a.ctypes.data))
            elif ctype == "real":
                if type(a) is not self.real.type:
                    raise TypeError(f"{where} must be a {self.real} scalar, got {type(a).__name__}")
                store.append((ctypes.c_float if self.real == np.float32 else ctypes.c_double)(a))
            else:
                np_type, c_type = SCALARS[ctype]
                if type(a) is not np_type:
                    raise TypeError(f"{where} must be {np_type.__name__}, got {type(a).__name__}: "
                                    f"CuPy would pass a Python int as int64")
                store.append(c_type(int(a)))
        ptrs = (ctypes.c_void_p * len(store))(*[ctypes.addressof(s) for s in store])
        return store, ptrs

    def __call__(self, grid, block, args, shared_mem=0):
        if shared_mem:
            raise NotImplementedError("the host emulation has no shared memory")
        if self._lib is None:
            self._lib = compile_host(self.code, self.name)
        g = tuple(grid) + (1,) * (3 - len(grid))
        b = tuple(block) + (1,) * (3 - len(block))
        if min(g + b) < 1 or b[0] * b[1] * b[2] > 1024 or g[1] > 65535 or g[2] > 65535:
            raise ValueError(f"{self.name}: invalid launch grid={grid} block={block}")
        _store, ptrs = self._marshal(tuple(args))
        self.launches += 1
        self._lib.minigen_launch(*(ctypes.c_uint(v) for v in g + b), ptrs)


class HostCupy(types.ModuleType):
    """The ``cupy`` module as seen by ``kernels/gpu``: NumPy plus ``RawKernel``."""

    def __init__(self):
        super().__init__("hostcupy")
        self.RawKernel = RawKernel
        self.asnumpy = np.asarray

    def __getattr__(self, name):
        return getattr(np, name)


def install():
    """Make ``kernels.gpu`` use a fresh HostCupy; returns it (call ``uninstall`` after)."""
    from kernels.gpu import _cupy
    module = HostCupy()
    _cupy.use_module(module)
    return module


def uninstall():
    from kernels.gpu import _cupy
    _cupy.use_module(None)
