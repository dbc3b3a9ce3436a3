"""An optimized BLAS for MLX's CPU backend, loaded before MLX.

MLX's CPU wheel links the reference BLAS it bundles (mlx_cpu.libs/libblas),
which runs a float32 matrix product many times slower than OpenBLAS: a
40x576 by 576x1536 product took 335 ms with it and 16 ms with OpenBLAS on
this project's 2-core machine, a batch of 8 rows as slowly as 8 single rows.
MLX calls the standard `cblas_sgemm` symbol; a library loaded earlier into
the process's global scope (RTLD_GLOBAL) provides it first, so loading an
OpenBLAS that exports the plain cblas names before `import mlx` routes
MLX's products there. Results change by float rounding only.

The library comes from the project's own install: the first shared object
named libopenblas* inside an installed wheel (opencv-python, a dependency,
bundles one with its Fortran runtime) that loads and exports cblas_sgemm.
Symbol-prefixed builds (scipy-openblas, numpy's) cannot serve MLX and are
not named libopenblas*. $MLX_SERVING_CPU_BLAS: `auto` (default), `off`, or
the path of a library to load instead.
"""

from __future__ import annotations

import ctypes
import os
import site
import sys
from pathlib import Path

ENV = "MLX_SERVING_CPU_BLAS"
_PATTERNS = ("*.libs/libopenblas*.so*", "cmeel.prefix/lib/libopenblas.so*")

loaded: str | None = None  # the library loaded, for runtime/info and the logs
problem: str | None = None  # why none was, when one was asked for


def candidates() -> list[Path]:
    roots = [Path(p) for p in (*site.getsitepackages(), site.getusersitepackages(), *sys.path)
             if p and Path(p).is_dir()]
    found: list[Path] = []
    for root in dict.fromkeys(roots):
        for pattern in _PATTERNS:
            found.extend(sorted(root.glob(pattern)))
    return found


def _load(path: Path) -> bool:
    try:
        library = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return hasattr(library, "cblas_sgemm")


def preload() -> str | None:
    """Load the BLAS before MLX is imported (a no-op once MLX is); its path."""
    global loaded, problem
    setting = os.environ.get(ENV, "auto")
    if setting == "off" or loaded or "mlx.core" in sys.modules:
        return loaded
    paths = candidates() if setting == "auto" else [Path(setting)]
    loaded = next((str(path) for path in paths if _load(path)), None)
    if loaded is None and setting != "auto":
        problem = f"{ENV}={setting}: not a loadable library exporting cblas_sgemm"
    return loaded
