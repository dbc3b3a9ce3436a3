"""Method handlers: bind the wire methods to the engine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..api.messages import DeviceInfo
from ..engine.engine import Engine
from ..ops.service import Ops
from ..rpc.dispatcher import Handler
from ..service.generation import GenerationService
from ..transport.stdio import MessageWriter
from .drafts import draft_handlers
from .generation import generation_handlers
from .models import model_handlers
from .ops import ops_handlers
from .runtime import runtime_handlers


def build_handlers(engine: Engine, writer: MessageWriter, device: DeviceInfo,
                   ops: Ops, workers: ThreadPoolExecutor,
                   service: GenerationService) -> dict[str, Handler]:
    """`workers` run blocking work that needs no MLX (image files and downloads,
    tokenizer files), off both the reader and the engine thread; `service`
    is shared with the HTTP front."""
    return {
        **runtime_handlers(engine, device),
        **model_handlers(engine, writer.send),
        **draft_handlers(engine, workers),
        **generation_handlers(service, writer),
        **ops_handlers(ops),
    }
