"""OpenBLAS from the install, loaded before MLX (mlx_serving/cpu_blas.py), and
half precision as float32 on the CPU (engine/device_fit.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlx.utils import tree_flatten

from mlx_serving.config import RuntimeConfig
from mlx_serving.engine.device_fit import fit_to_device
from mlx_serving.engine.models import load_text_model
from runtime_client import ROOT

PROBE = """
import sys
sys.path.insert(0, "python")
from mlx_serving import cpu_blas
print(cpu_blas.preload())
print(cpu_blas.problem)
import mlx.core as mx
a = mx.random.normal((40, 576), key=mx.random.key(0))
b = mx.random.normal((576, 300), key=mx.random.key(1))
print(mx.abs(a @ b - (a[:, :, None] * b[None]).sum(axis=1)).max().item())
"""


def _probe(setting: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "MLX_SERVING_CPU_BLAS": setting},
                          check=True)
    return done.stdout.split("\n")


def test_auto_loads_an_openblas_of_the_install_and_products_stay_right() -> None:
    loaded, problem, error, _ = _probe("auto")
    assert "libopenblas" in Path(loaded).name and problem == "None"
    assert float(error) < 1e-3  # float rounding only


def test_off_and_a_bad_path() -> None:
    assert _probe("off")[:2] == ["None", "None"]
    loaded, problem, _, _ = _probe("/no/such/libblas.so")
    assert loaded == "None" and "not a loadable library" in problem


def test_half_precision_becomes_float32_on_the_cpu(models: Path) -> None:
    model = load_text_model(str(models / "tiny-gguf-f16" / "model.gguf"), "h")
    dtypes = {str(array.dtype) for _, array in tree_flatten(model.model.parameters())}
    assert "mlx.core.float16" in dtypes
    before = model.memory_bytes
    fit_to_device(model, RuntimeConfig())
    dtypes = {str(array.dtype) for _, array in tree_flatten(model.model.parameters())}
    assert dtypes <= {"mlx.core.float32", "mlx.core.uint32"} and model.memory_bytes > before
