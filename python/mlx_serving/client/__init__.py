"""The Python client: drives the runtime (python/runtime.py) over stdio.

    from mlx_serving import create_engine

    with create_engine() as engine:
        engine.load_model("models/demo", model_id="demo")
        for chunk in engine.create_generator(model="demo", prompt="The old man", max_tokens=40):
            ...

    from mlx_serving import create_async_engine

    async with await create_async_engine() as engine:     # or AsyncEngine(...)
        await engine.load_model("models/demo", model_id="demo")
        text = await engine.generate(model="demo", prompt="The old man", max_tokens=40)

Importing it imports no MLX: the models live in the runtime process, so a
crash there never takes this process down.
"""

from .async_engine import AsyncEngine, create_async_engine
from .chunks import Chunk, ErrorChunk, MetadataChunk, TokenChunk, TopLogprob
from .engine import Engine, EngineInfo, FlowInfo, create_engine
from .errors import CLIENT_ERROR_CODES, RUNTIME_ERROR_CODES, EngineError
from .events import ExitEvent, NotificationEvent, ReadyEvent, ReloadFailure, RestartEvent
from .generator import TokenGenerator
from .supervisor import RestartPolicy

__all__ = [
    "CLIENT_ERROR_CODES", "RUNTIME_ERROR_CODES", "AsyncEngine", "Chunk", "Engine", "EngineError", "EngineInfo",
    "ErrorChunk", "ExitEvent", "FlowInfo", "MetadataChunk", "NotificationEvent", "ReadyEvent", "ReloadFailure",
    "RestartEvent", "RestartPolicy", "TokenChunk", "TokenGenerator", "TopLogprob", "create_async_engine",
    "create_engine",
]
