"""Method handlers: bind the wire methods to the engine."""

from __future__ import annotations

from ..api.messages import DeviceInfo
from ..engine.engine import Engine
from ..ops.service import Ops
from ..rpc.dispatcher import Handler
from ..transport.stdio import MessageWriter
from .generation import generation_handlers
from .models import model_handlers
from .ops import ops_handlers
from .runtime import runtime_handlers


def build_handlers(engine: Engine, writer: MessageWriter, device: DeviceInfo,
                   ops: Ops) -> dict[str, Handler]:
    return {
        **runtime_handlers(engine, device),
        **model_handlers(engine),
        **generation_handlers(engine, writer, ops),
        **ops_handlers(ops),
    }
