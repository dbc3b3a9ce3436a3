"""mlx-serving: MLX models behind JSON-RPC 2.0 over stdio, and a Python client for it.

`from mlx_serving import Engine, create_engine, EngineError` (or AsyncEngine,
create_async_engine for asyncio programs) loads the client
(mlx_serving.client) on first use: the runtime process, which imports this
package too, never pays for it, and neither imports MLX here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import (
        AsyncEngine,
        Chunk,
        Engine,
        EngineError,
        ErrorChunk,
        MetadataChunk,
        RestartPolicy,
        TokenChunk,
        TokenGenerator,
        create_async_engine,
        create_engine,
    )

__all__ = ["AsyncEngine", "Chunk", "Engine", "EngineError", "ErrorChunk", "MetadataChunk", "RestartPolicy",
           "TokenChunk", "TokenGenerator", "__version__", "create_async_engine", "create_engine"]
_CLIENT_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module 'mlx_serving' has no attribute {name!r}")
