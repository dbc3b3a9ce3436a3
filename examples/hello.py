"""Hello world from Python: start the runtime, load a local model, stream a
completion, then ask for a whole one.

    .venv/bin/python examples/hello.py [model folder]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))  # in a clone; an installed mlx_serving needs no path

from mlx_serving import EngineError, create_engine  # noqa: E402


def model_path() -> str:
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get("MLX_SERVING_MODEL"):
        return os.environ["MLX_SERVING_MODEL"]
    demo = ROOT / "models" / "demo"
    return str(demo if demo.exists() else ROOT / "models" / "tiny")


def main() -> None:
    with create_engine() as engine:
        engine.load_model(model_path(), model_id="local")
        print("The old man", end="", flush=True)
        for chunk in engine.create_generator(model="local", prompt="The old man", max_tokens=40, temperature=0.7):
            if chunk.type == "token":
                print(chunk.token, end="", flush=True)
            elif chunk.type == "metadata":
                print(f"\n\n[{chunk.finish_reason}: {chunk.stats.generated_tokens} tokens at "
                      f"{chunk.stats.tokens_per_second:.0f} tokens/s]")
            elif chunk.type == "error":
                raise chunk.error
        print(engine.generate(model="local", prompt="A small bird", max_tokens=20))
        try:
            engine.generate(model="missing", prompt="x")
        except EngineError as error:
            print(f"[{error.code}] {error.message}")


if __name__ == "__main__":
    main()
