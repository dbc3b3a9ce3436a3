"""The runtime's own use cases: what it is (info), how it is doing (state),
and stopping it (shutdown)."""

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
    RuntimeInfo,
    RuntimeState,
    ShutdownResult,
)
from ..api.methods import METHODS, PROTOCOL_VERSION
from ..engine.batch_sizing import CPU_SIZE, GPU_MAX, batch_size_of
from ..engine.engine import Engine, Status

_VERSIONED = ("mlx", "mlx-lm", "msgspec", "transformers", "tokenizers", "llguidance",
              "outlines-core", "lxml")


class RuntimeService:
    def __init__(self, engine: Engine, device: DeviceInfo) -> None:
        self._engine = engine
        self._device = device
        self._versions = _versions()

    @property
    def status(self) -> Status:
        return self._engine.status

    def info(self) -> RuntimeInfo:
        engine, config = self._engine, self._engine.config
        batch_size = batch_size_of(config.batching,
                                   GPU_MAX if self._device.type == "gpu" else CPU_SIZE)
        return RuntimeInfo(
            name="mlx-serving",
            version=__version__,
            protocol_version=PROTOCOL_VERSION,
            pid=os.getpid(),
            python=platform.python_version(),
            platform=f"{platform.system()}-{platform.machine()}",
            device=self._device,
            versions=self._versions,
            models=[model.info() for model in engine.models.all()],
            limits=Limits(
                max_message_bytes=config.transport.max_message_bytes,
                max_batch_size=batch_size,
                max_tokens=MAX_TOKENS_LIMIT,
            ),
            methods=sorted(METHODS),
            batching=BatchingInfo(
                # "auto" resolved, as in limits: the schema's field is a number.
                enabled=config.batching.enabled, max_batch_size=batch_size,
                adaptive_sizing=config.batching.adaptive_sizing,
                target_step_ms=config.batching.target_step_ms, solo=config.batching.solo),
        )

    def state(self) -> RuntimeState:
        import mlx.core as mx

        engine = self._engine
        return RuntimeState(
            status=engine.status,
            uptime_s=round(engine.uptime_s, 3),
            active_streams=engine.active_streams(),
            models=[self._model_state(model.model_id) for model in engine.models.all()],
            memory=MemoryInfo(active_bytes=mx.get_active_memory(),
                              peak_bytes=mx.get_peak_memory(),
                              cache_bytes=mx.get_cache_memory()),
        )

    def shutdown(self, drain: bool) -> Future[ShutdownResult]:
        """Stop taking work; the answer is given on the engine thread, so a
        front queues it before the runtime exits."""
        in_flight = self._engine.shutdown(drain=drain)
        result: Future[ShutdownResult] = Future()

        def answer(done: Future[int]) -> None:
            result.set_result(ShutdownResult(status="draining" if drain else "stopping",
                                             active_streams=done.result()))

        in_flight.add_done_callback(answer)
        return result

    def _model_state(self, model_id: str) -> ModelState:
        engine = self._engine
        return ModelState(model_id=model_id, active_streams=engine.active_streams(model_id),
                          batch=engine.batch_state(model_id),
                          prompt_cache=engine.prompt_cache_state(model_id))


def _versions() -> dict[str, str]:
    found = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
