"""The Python client: drives the runtime (python/runtime.py) over stdio.

    from mlx_serving import create_engine

    with create_engine() as engine:
        engine.load_model("models/demo", model_id="demo")
        for chunk in engine.create_generator(model="demo", prompt="The old man", max_tokens=40):
            ...

Importing it imports no MLX: the models live in the runtime process, so a
crash there never takes this process down.
"""

from .chunks import Chunk, ErrorChunk, MetadataChunk, TokenChunk, TopLogprob
from .engine import Engine, EngineInfo, FlowInfo, create_engine
from .errors import CLIENT_ERROR_CODES, RUNTIME_ERROR_CODES, EngineError
from .events import ExitEvent, NotificationEvent, ReadyEvent, ReloadFailure, RestartEvent
from .generator import TokenGenerator
from .supervisor import RestartPolicy

__all__ = [
    "CLIENT_ERROR_CODES", "RUNTIME_ERROR_CODES", "Chunk", "Engine", "EngineError", "EngineInfo", "ErrorChunk",
    "ExitEvent", "FlowInfo", "MetadataChunk", "NotificationEvent", "ReadyEvent", "ReloadFailure",
    "RestartEvent", "RestartPolicy", "TokenChunk", "TokenGenerator", "TopLogprob", "create_engine",
]
