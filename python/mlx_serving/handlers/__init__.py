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
                   ops: Ops) -> dict[str, Handler]:
    # Blocking work that needs no MLX (image files and downloads, tokenizer
    # files) runs here, off both the reader and the engine thread.
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="worker")
    return {
        **runtime_handlers(engine, device),
        **model_handlers(engine, writer.send),
        **draft_handlers(engine, workers),
        **generation_handlers(GenerationService(engine, workers, ops), writer),
        **ops_handlers(ops),
    }
