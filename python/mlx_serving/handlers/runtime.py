"""runtime/info, runtime/state, runtime/shutdown."""

from __future__ import annotations

import os
import platform
from concurrent.futures import Future
from importlib import metadata

from .. import __version__
from ..api.messages import (
    MAX_TOKENS_LIMIT,
    BatchingInfo,
    DeviceInfo,
    Limits,
    MemoryInfo,
    ModelState,
    NoParams,
    RuntimeInfo,
    RuntimeState,
    ShutdownParams,
    ShutdownResult,
)
from ..api.methods import METHODS, PROTOCOL_VERSION
from ..engine.batch_sizing import CPU_SIZE, GPU_MAX, batch_size_of
from ..engine.engine import Engine
from ..rpc.dispatcher import CallContext, Handler

_VERSIONED = ("mlx", "mlx-lm", "msgspec", "transformers", "tokenizers", "llguidance",
              "outlines-core", "lxml")


def _versions() -> dict[str, str]:
    found = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _model_state(engine: Engine, model_id: str) -> ModelState:
    return ModelState(model_id=model_id, active_streams=engine.active_streams(model_id),
                      batch=engine.batch_state(model_id),
                      prompt_cache=engine.prompt_cache_state(model_id))


def runtime_handlers(engine: Engine, device: DeviceInfo) -> dict[str, Handler]:
    versions = _versions()
    config = engine.config

    def info(_: NoParams, __: CallContext) -> RuntimeInfo:
        return RuntimeInfo(
            name="mlx-serving",
            version=__version__,
            protocol_version=PROTOCOL_VERSION,
            pid=os.getpid(),
            python=platform.python_version(),
            platform=f"{platform.system()}-{platform.machine()}",
            device=device,
            versions=versions,
            models=[model.info() for model in engine.models.all()],
            limits=Limits(
                max_message_bytes=config.transport.max_message_bytes,
                max_batch_size=batch_size_of(
                    config.batching, GPU_MAX if device.type == "gpu" else CPU_SIZE),
                max_tokens=MAX_TOKENS_LIMIT,
            ),
            methods=sorted(METHODS),
            batching=BatchingInfo(
                enabled=config.batching.enabled, max_batch_size=config.batching.max_batch_size,
                adaptive_sizing=config.batching.adaptive_sizing,
                target_step_ms=config.batching.target_step_ms, solo=config.batching.solo),
        )

    def state(_: NoParams, __: CallContext) -> RuntimeState:
        import mlx.core as mx

        return RuntimeState(
            status=engine.status,
            uptime_s=round(engine.uptime_s, 3),
            active_streams=engine.active_streams(),
            models=[_model_state(engine, model.model_id) for model in engine.models.all()],
            memory=MemoryInfo(active_bytes=mx.get_active_memory(),
                              peak_bytes=mx.get_peak_memory(),
                              cache_bytes=mx.get_cache_memory()),
        )

    def shutdown(params: ShutdownParams, _: CallContext) -> Future[ShutdownResult]:
        in_flight = engine.shutdown(drain=params.drain)
        result: Future[ShutdownResult] = Future()

        # Answered on the engine thread, so the response is queued before it exits.
        def answer(done: Future[int]) -> None:
            result.set_result(ShutdownResult(status="draining" if params.drain else "stopping",
                                             active_streams=done.result()))

        in_flight.add_done_callback(answer)
        return result

    return {"runtime/info": info, "runtime/state": state, "runtime/shutdown": shutdown}
