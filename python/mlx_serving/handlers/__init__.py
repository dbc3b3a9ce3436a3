"""The JSON-RPC methods: thin adapters from wire params to the services
(service/) and back; only stream events become notifications here."""

from __future__ import annotations

from ..rpc.dispatcher import Handler
from ..service import Services
from ..transport.stdio import MessageWriter
from .drafts import draft_handlers
from .generation import generation_handlers
from .models import model_handlers
from .ops import ops_handlers
from .runtime import runtime_handlers


def build_handlers(services: Services, writer: MessageWriter) -> dict[str, Handler]:
    return {
        **runtime_handlers(services.runtime),
        **model_handlers(services.models, writer.send),
        **draft_handlers(services.drafts),
        **generation_handlers(services.generation, writer),
        **ops_handlers(services.ops),
    }
