"""The use cases every front calls (stdio JSON-RPC in handlers/, HTTP in
http/): transport-neutral, typed requests in (the api/ Structs), typed
results and stream events out. A front adapts its wire to these and never
reaches the engine; the engine never knows which front asked.

    runtime     RuntimeService: info, state, shutdown
    models      ModelService: load, unload, list, find; tokenize, detokenize
    drafts      DraftService: attach, detach and check draft models
    generation  GenerationService: generate (validation, tokenizing, defaults,
                guidance, images, stream ids, admission), cancel, pause, resume
    ops         ops.Ops: metrics, Prometheus text, QoS, flags, config reload

Calls answer with a value or a Future; errors are ServingError
(api/errors.py), which each front maps to its own envelope.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from ..api.messages import DeviceInfo
from ..engine.engine import Engine
from ..ops.service import Ops
from .drafts import DraftService
from .generation import GenerationService
from .models import ModelService
from .runtime import RuntimeService


@dataclass(frozen=True)
class Services:
    runtime: RuntimeService
    models: ModelService
    drafts: DraftService
    generation: GenerationService
    ops: Ops

    @classmethod
    def build(cls, engine: Engine, device: DeviceInfo, ops: Ops, workers: Executor) -> Services:
        """`workers` run blocking work that needs no MLX (image files and
        downloads, tokenizer files), off the callers' threads and the engine's."""
        return cls(runtime=RuntimeService(engine, device), models=ModelService(engine),
                   drafts=DraftService(engine, workers),
                   generation=GenerationService(engine, workers, ops), ops=ops)
