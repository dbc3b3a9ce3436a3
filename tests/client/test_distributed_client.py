"""The Python client passes model/load `distributed` through: a model sharded
over 2 ring ranks on 127.0.0.1 shows its group and writes the local model's text."""

from __future__ import annotations

from pathlib import Path

from mlx_serving import create_engine

GREEDY = {"prompt": "Once upon a time", "temperature": 0, "max_tokens": 24}


def test_load_model_with_distributed_shards_the_model(models: Path) -> None:
    with create_engine() as engine:
        engine.load_model(str(models / "tiny"), model_id="local")
        loaded = engine.load_model(str(models / "tiny"), model_id="sharded", timeout=120,
                                   distributed={"hosts": ["127.0.0.1", "127.0.0.1"]})
        assert loaded.group is not None and loaded.group.ranks == 2
        assert loaded.group.backend == "ring" and loaded.group.parallel == "tensor"
        local = engine.generate(model="local", **GREEDY)
        assert local and engine.generate(model="sharded", **GREEDY) == local
        assert engine.unload_model("sharded").model_id == "sharded"
