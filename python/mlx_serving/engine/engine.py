"""The engine: the one thread that owns MLX.

Every MLX call (loading, sampling, decode steps, freeing memory) runs here,
since MLX streams belong to the thread that made them. Other threads hand
work over through a reentrant queue of commands (safe to use from a signal
handler), and the loop interleaves those commands with decode steps, so a
cancel or a new stream is taken up between two tokens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

import msgspec

from ..api.errors import ErrorCode, ServingError
from ..api.messages import (
    BatchState,
    CancelResult,
    DistributedParams,
    FlowResult,
    LoadModelResult,
    PreloadedModel,
    PromptCacheState,
    RuntimeReady,
    UnloadModelResult,
)
from ..config import RuntimeConfig
from .batch import ModelBatch
from .batch_limits import BatchLimits
from .distributed.loader import load_sharded_model
from .distributed.lockstep import LockstepBatch
from .models import LoadedModel, ModelRegistry, load_text_model
from .models import release_memory as _release_memory
from .progress import LoadProgress, no_progress
from .runner import Runner
from .speculative import SpeculativeRunner
from .stream import ActiveStream, GenerationRequest, tell_resumed
from .stream_ids import StreamIds
from .vision import VisionRunner, load_vision_model
from .warmup import warm_up

log = logging.getLogger(__name__)

T = TypeVar("T")
Status = Literal["starting", "ready", "draining", "stopping"]
ModelKind = Literal["text", "vision"]
# A runner serves one model through one lane ("batch" for plain streams).
RunnerKey = tuple[str, str]


class Backpressure(Protocol):
    """How far behind the readers of the streams' output are: tokens sent and
    not yet taken (the stdio writer's backlog). At transport.writer_backlog_tokens
    the engine waits instead of decoding more."""

    @property
    def pending_weight(self) -> int: ...

    def wait_for_drain(self, below: int, timeout: float) -> None: ...


class PreloadError(Exception):
    """A model_preload entry could not be loaded or warmed up."""


class _Command(NamedTuple):
    """Work for the engine thread, and what to do instead once the engine has
    stopped: answer whoever waits for it, so that nobody waits forever."""

    run: Callable[[], None]
    abandon: Callable[[ServingError], None]


def _failure(exc: Exception) -> ServingError:
    if isinstance(exc, ServingError):
        return exc
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ServingError(ErrorCode.OUT_OF_MEMORY, f"out of memory while generating: {exc}")
    return ServingError(ErrorCode.GENERATION_FAILED,
                        f"generation failed: {type(exc).__name__}: {exc}")


class Engine:
    def __init__(self, config: RuntimeConfig, backpressure: Backpressure) -> None:
        self.config = config
        self.models = ModelRegistry()
        self.stream_ids = StreamIds()
        self._backpressure = backpressure
        self._inbox: SimpleQueue[_Command] = SimpleQueue()
        self._stopped = False  # run() has returned (or preload failed): the inbox is not read
        self._runners: dict[RunnerKey, Runner] = {}
        self._streams: dict[str, tuple[ActiveStream, Runner]] = {}
        self._status: Status = "ready"
        self._thread_id: int | None = None
        self.started_at = time.monotonic()
        # Lowered max batch sizes per model (set by ops: QoS reduce_batch, flag batching).
        self.batch_limits = BatchLimits()
        # Called on the engine thread with ("loaded" | "unloaded", model_id).
        self.model_listeners: list[Callable[[str, str], None]] = []
        if config.model_preload.models:
            self._status = "starting"
            # Requests for these models wait for their preload, as for a model/load.
            for entry in config.model_preload.models:
                self.models.begin_load(entry.model_id or entry.path)

    # --- any thread -------------------------------------------------------

    @property
    def status(self) -> Status:
        return self._status

    @property
    def accepting(self) -> bool:
        return self._status in ("starting", "ready")

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at

    def active_streams(self, model_id: str | None = None) -> int:
        if model_id is None:
            return len(self.stream_ids)
        return sum(len(runner) for (owner, _), runner in list(self._runners.items())
                   if owner == model_id)

    def batch_state(self, model_id: str) -> BatchState | None:
        """The model's batch, as runtime/state shows it (read from any thread)."""
        runner = self._runners.get((model_id, "batch"))
        return runner.stats() if isinstance(runner, ModelBatch) else None

    def prompt_cache_state(self, model_id: str) -> PromptCacheState | None:
        runner = self._runners.get((model_id, "batch"))
        cache = runner.prompt_cache if isinstance(runner, ModelBatch) else None
        return cache.stats if cache is not None else None

    def call(self, fn: Callable[[], T], *,
             if_stopped: Callable[[], T] | None = None) -> Future[T]:
        """Run `fn` on the engine thread; its result or exception lands in the future.

        Once the engine has stopped, the future fails with SHUTTING_DOWN (or
        gets if_stopped()) instead: a caller blocked on it is never stranded."""
        future: Future[T] = Future()

        def command() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the caller, not raised here
                    future.set_exception(exc)

        def abandon(error: ServingError) -> None:
            if future.set_running_or_notify_cancel():
                if if_stopped is None:
                    future.set_exception(error)
                else:
                    future.set_result(if_stopped())

        self._post(command, abandon)
        return future

    def submit(self, request: GenerationRequest) -> None:
        if threading.get_ident() == self._thread_id and not self._stopped:
            self._admit(request)  # from a command: keep its turn
        else:
            self._post(lambda: self._admit(request),
                       lambda error: self._refuse(request, error))

    def reject(self, request: GenerationRequest, error: ServingError) -> None:
        """Refuse a request that was being prepared (its stream id is reserved).
        On the engine thread, so a drain waiting for that id wakes up."""

        # A refusal needs no engine: once stopped, it goes out all the same.
        self._post(lambda: self._refuse(request, error), lambda _: self._refuse(request, error))

    def _refuse(self, request: GenerationRequest, error: ServingError) -> None:
        self.stream_ids.release(request.stream_id)
        request.sink.rejected(error)

    def load(self, source: str, model_id: str, kind: ModelKind = "text",
             progress: LoadProgress = no_progress,
             distributed: DistributedParams | None = None,
             defaults: dict[str, Any] | None = None) -> Future[LoadModelResult]:
        """Load a model; `defaults` are its sampling defaults (over config
        generation.defaults; a later load of the same model replaces them)."""
        self.models.begin_load(model_id)

        def load() -> LoadModelResult:
            try:
                result = self._load(source, model_id, kind, progress, distributed)
                model = self.models.get(model_id)
                if defaults or model.defaults is None:
                    model.defaults = msgspec.structs.replace(self.config.generation.defaults,
                                                             **(defaults or {}))
                return msgspec.structs.replace(result, defaults=model.info().defaults)
            finally:
                self.models.end_load(model_id)

        return self.call(load)

    def with_model(self, model_id: str, fn: Callable[[LoadedModel], T]) -> Future[T]:
        """fn(model) now, or, while a load of that model is queued, on the
        engine thread right after it: requests piped in after a model/load
        see the model, as a shell user expects. Run now, fn's error (and an
        unknown model's) is raised here; run later, it fails the future."""
        return self.with_model_then(model_id, lambda model: _resolved(fn(model)))

    def with_model_then(self, model_id: str,
                        fn: Callable[[LoadedModel], Future[T]]) -> Future[T]:
        """with_model for an fn that answers later: its future's outcome is the call's."""
        if not self.models.loading(model_id):
            return fn(self.models.get(model_id))
        outer: Future[T] = Future()

        def later() -> None:
            try:
                inner = fn(self.models.get(model_id))
            except BaseException as exc:
                outer.set_exception(exc)
                return
            inner.add_done_callback(lambda done: _copy_outcome(done, outer))

        self._post(later, outer.set_exception)
        return outer

    def unload(self, model_id: str) -> Future[UnloadModelResult]:
        return self.call(lambda: self._unload(model_id))

    def cancel(self, stream_id: str) -> Future[CancelResult]:
        return self.call(lambda: self._cancel(stream_id))

    def pause(self, stream_id: str) -> Future[FlowResult]:
        """Stop decoding a stream whose reader is behind; the others go on."""
        return self.call(lambda: self._set_paused(stream_id, True))

    def resume(self, stream_id: str) -> Future[FlowResult]:
        return self.call(lambda: self._set_paused(stream_id, False))

    def shutdown(self, drain: bool) -> Future[int]:
        """Stop taking work; exit once streams are done (drain) or cancelled.
        Safe to call from a signal handler. Once stopped, answers 0 (nothing in flight)."""
        return self.call(lambda: self._begin_shutdown(drain), if_stopped=lambda: 0)

    def _post(self, run: Callable[[], None], abandon: Callable[[ServingError], None]) -> None:
        # No lock (signal handlers post too): the command is queued before the
        # flag is read, and _stop sets the flag before it empties the queue, so
        # one of the two takes every command out; each is taken once.
        self._inbox.put(_Command(run, abandon))
        if self._stopped:
            self._abandon_queued()

    def _abandon_queued(self) -> None:
        while True:
            try:
                command = self._inbox.get_nowait()
            except Empty:
                return
            try:
                command.abandon(ServingError(ErrorCode.SHUTTING_DOWN, "the runtime has stopped"))
            except Exception:
                log.exception("answering a command queued after the stop failed")

    def _stop(self) -> None:
        self._stopped = True
        self._abandon_queued()

    # --- engine thread ----------------------------------------------------

    def preload(self, announce: Callable[[RuntimeReady], None]) -> None:
        """Load and warm up the models of config model_preload, before run().

        Raises PreloadError naming the entry that failed. `announce` gets what
        was preloaded (not called when nothing is configured) before the status
        turns "ready", so no client sees "ready" before it was announced."""
        entries = self.config.model_preload.models
        if not entries:
            return
        started = time.perf_counter()
        done = []
        for index, entry in enumerate(entries):
            model_id = entry.model_id or entry.path
            try:
                try:
                    loaded = self._load(entry.path, model_id, "text",
                                        distributed=entry.distributed)
                finally:
                    self.models.end_load(model_id)
                model = self.models.get(model_id)
                batch = self._batch_for(model)
                batching = self.config.batching
                warmup_ms, sizes = warm_up(
                    batch, model, prompt_lengths=entry.warmup_prompt_tokens,
                    bucket_sizes=batch.bucket_sizes, rounds=entry.warmup_requests,
                    max_tokens=entry.max_tokens,
                    batched=batching.enabled and batch.max_batch_size > 1,
                ) if entry.warmup_requests else (0.0, [])
                # A sharded model's followers hold caches in step with rank 0's,
                # which its warm-up entries must stay in.
                if batch.prompt_cache is not None and model.group is None:
                    batch.prompt_cache.clear()
            except Exception as exc:
                self._stop()  # the runtime exits: run() never comes
                reason = (exc.message if isinstance(exc, ServingError)
                          else f"{type(exc).__name__}: {exc}")
                raise PreloadError(f"model_preload.models[{index}] (path {entry.path!r}, "
                                   f"model_id {model_id!r}): {reason}") from None
            log.info("preloaded %s (%.0f ms load, %.0f ms warm-up of batch sizes %s)",
                     model_id, loaded.load_ms, warmup_ms, sizes)
            done.append(PreloadedModel(model_id=model_id, load_ms=loaded.load_ms,
                                       warmup_ms=round(warmup_ms, 3),
                                       batch_sizes=sizes,
                                       warmup_requests=entry.warmup_requests))
        announce(RuntimeReady(preload_ms=round((time.perf_counter() - started) * 1000, 3),
                              models=done))
        self._status = "ready"

    def run(self) -> None:
        """The loop; returns when the runtime should exit."""
        self._thread_id = threading.get_ident()
        backlog_limit = self.config.transport.writer_backlog_tokens
        try:
            while not self._finished():
                # Paused streams wait for a command (their resume): no busy loop for them.
                runnable = self._runnable()
                self._run_commands(block=not runnable)
                if self._finished() or not self._runnable():
                    continue
                if self._backpressure.pending_weight >= backlog_limit:
                    # The client reads slower than we generate: wait, don't buffer.
                    self._backpressure.wait_for_drain(backlog_limit, timeout=0.05)
                    continue
                self._step()
        finally:
            self._stop()  # commands queued from now on are answered, never run
            self._close_groups()

    def _close_groups(self) -> None:
        """The ranks of sharded models exit with the runtime."""
        for model in self.models.all():
            if model.group is not None:
                model.group.close()

    def _runnable(self) -> bool:
        """Some stream decodes (paused ones wait for their readers)."""
        return any(stream.state == "running" for stream, _ in self._streams.values())

    def _finished(self) -> bool:
        # Draining waits for every reserved stream id: that includes requests
        # still being prepared off this thread (images), not yet admitted.
        return self._status == "stopping" or (self._status == "draining"
                                              and not len(self.stream_ids))

    def _run_commands(self, block: bool) -> None:
        if not block and self._inbox.empty():  # between decode steps: the usual case
            return
        try:
            command = self._inbox.get() if block else self._inbox.get_nowait()
        except Empty:
            return
        while True:
            try:
                command.run()
            except Exception:
                log.exception("engine command failed")
            try:
                command = self._inbox.get_nowait()
            except Empty:
                return

    def _step(self) -> None:
        for key, runner in list(self._runners.items()):
            if not len(runner):
                continue
            try:
                runner.step()  # a stream that ends is forgotten as it ends (_forget)
            except Exception as exc:
                log.exception("decode step of %s (%s) failed", *key)
                self._fail_runner(key, _failure(exc))

    def _admit(self, request: GenerationRequest) -> None:
        try:
            # While draining, a request accepted before the drain began still runs
            # (new ones are refused before they reserve a stream id).
            if self._status == "stopping":
                raise ServingError(ErrorCode.SHUTTING_DOWN, "the runtime is shutting down")
            model = self.models.get(request.model_id)
            stream = ActiveStream(request, model.decode)
            runner = self._runner_for(model, request)
            runner.add(stream)
        except Exception as exc:
            if not isinstance(exc, ServingError):
                log.exception("could not start stream %s", request.stream_id)
            self.stream_ids.release(request.stream_id)
            request.sink.rejected(_failure(exc))
            return
        self._streams[request.stream_id] = (stream, runner)
        stream.on_end = self._forget
        request.sink.accepted(request.stream_id)
        log.debug("stream %s started on %s: %d prompt tokens", request.stream_id,
                  request.model_id, len(request.prompt))

    def _runner_for(self, model: LoadedModel, request: GenerationRequest) -> Runner:
        make: Callable[[], Runner]
        if model.is_vision:
            lane, make = "vision", lambda: VisionRunner(model, self.config.batching)
        elif model.draft is not None and request.num_draft_tokens > 0 and request.guidance is None:
            # Guided streams stay in the batch: only it applies grammar masks.
            lane, make = "speculative", lambda: SpeculativeRunner(model, self.config.batching)
        else:
            return self._batch_for(model)
        key = (model.model_id, lane)
        runner = self._runners.get(key)
        if runner is None:
            runner = self._runners[key] = make()
        return runner

    def _batch_for(self, model: LoadedModel) -> ModelBatch:
        key = (model.model_id, "batch")
        runner = self._runners.get(key)
        if runner is None:
            runner = self._runners[key] = ModelBatch(
                model, self.config.batching, self.config.prompt_cache,
                self.batch_limits) if model.group is None \
                else LockstepBatch(model, self.config.batching, self.config.prompt_cache,
                                   self.config.distributed.rank_timeout_s, self.batch_limits)
        assert isinstance(runner, ModelBatch)
        return runner

    def runners_of(self, model_id: str) -> list[Runner]:
        """The runners (lanes) serving a model; engine thread only."""
        return [runner for (owner, _), runner in self._runners.items() if owner == model_id]

    def _notify_models(self, event: str, model_id: str) -> None:
        for listener in self.model_listeners:
            try:
                listener(event, model_id)
            except Exception:
                log.exception("model listener failed on %s %s", event, model_id)

    def _forget(self, stream: ActiveStream) -> None:
        """The one place an ended stream is dropped: its record calls it once,
        just before its end goes out, so a client that has read stream/end
        never sees it active (runtime/state) and its stream id is free again."""
        entry = self._streams.get(stream.stream_id)
        if entry is None or entry[0] is not stream:
            return
        del self._streams[stream.stream_id]
        self.stream_ids.release(stream.stream_id)
        log.debug("stream %s done", stream.stream_id)

    def _fail_runner(self, key: RunnerKey, error: ServingError) -> None:
        """End every stream of a broken runner with `error` and start afresh."""
        runner = self._runners.pop(key)
        for stream in runner.streams:
            stream.fail(error)
        runner.close()
        _release_memory()

    def _load(self, source: str, model_id: str, kind: ModelKind,
              progress: LoadProgress = no_progress,
              distributed: DistributedParams | None = None) -> LoadModelResult:
        existing = self.models.find(model_id)
        if existing is not None:
            if not existing.is_from(source) or existing.kind != kind or (
                    existing.group is None) != (distributed is None):
                raise ServingError(ErrorCode.INVALID_PARAMS,
                                   f"model_id {model_id!r} is already loaded ({existing.kind}) from "
                                   f"{existing.source!r}; unload it first or pick another model_id",
                                   model=model_id)
            return _load_result(existing, load_ms=0.0, already_loaded=True)
        started = time.perf_counter()
        try:
            if distributed is not None:
                if kind == "vision":
                    raise ServingError(ErrorCode.UNSUPPORTED, "a vision model cannot be sharded "
                                       "(model/loadVision takes no `distributed`)", model=model_id)
                model = load_sharded_model(source, model_id, distributed, self.config)
            elif kind == "vision":
                model = load_vision_model(source, model_id)
            else:
                from .device_fit import fit_to_device  # imports mlx

                model = load_text_model(source, model_id, progress)
                fit_to_device(model, self.config)
        except BaseException:
            _release_memory()  # what the failed load took
            raise
        self.models.add(model)
        load_ms = (time.perf_counter() - started) * 1000
        log.info("loaded %s from %s in %.0f ms", model_id, model.path, load_ms)
        self._notify_models("loaded", model_id)
        return _load_result(model, load_ms=load_ms, already_loaded=False)

    def _unload(self, model_id: str) -> UnloadModelResult:
        model = self.models.remove(model_id)
        cancelled = self.active_streams(model_id)
        unloaded = ServingError(ErrorCode.MODEL_UNLOADED, f"model {model_id!r} was unloaded",
                                model=model_id)
        for key in [key for key in self._runners if key[0] == model_id]:
            self._fail_runner(key, unloaded)
        if model.group is not None:
            model.group.close()
        _release_memory()
        log.info("unloaded %s", model_id)
        self._notify_models("unloaded", model_id)
        return UnloadModelResult(model_id=model_id, cancelled_streams=cancelled)

    def _cancel(self, stream_id: str) -> CancelResult:
        entry = self._streams.get(stream_id)
        if entry is not None:
            stream, runner = entry
            runner.remove(stream)
            stream.cancel()
            return CancelResult(stream_id=stream_id, cancelled=True)
        if self.stream_ids.finished_recently(stream_id):
            return CancelResult(stream_id=stream_id, cancelled=False)
        raise ServingError(ErrorCode.STREAM_NOT_FOUND, f"no stream {stream_id!r}",
                           stream_id=stream_id)

    def _set_paused(self, stream_id: str, paused: bool) -> FlowResult:
        entry = self._streams.get(stream_id)
        if entry is None:
            if self.stream_ids.finished_recently(stream_id):
                return FlowResult(stream_id=stream_id, paused=False)
            raise ServingError(ErrorCode.STREAM_NOT_FOUND, f"no stream {stream_id!r}",
                               stream_id=stream_id)
        stream, runner = entry
        if paused and self._status == "draining":
            return FlowResult(stream_id=stream_id, paused=False)  # a drain lets every stream finish
        if paused and stream.state == "running":
            stream.state = "paused"
            runner.pause(stream)
        elif not paused and stream.state == "paused":
            self._resume(stream, runner)
        return FlowResult(stream_id=stream_id, paused=paused)

    def _resume(self, stream: ActiveStream, runner: Runner) -> None:
        stream.state = "running"
        runner.resume(stream)
        tell_resumed(stream.request.sink, stream.stream_id)

    def _begin_shutdown(self, drain: bool) -> int:
        in_flight = len(self._streams)
        before = self._status
        if drain and self._status == "ready":
            self._status = "draining"
            for stream, runner in list(self._streams.values()):
                if stream.state == "paused":  # else the drain would wait on their readers
                    self._resume(stream, runner)
        elif not drain:
            for stream, runner in list(self._streams.values()):
                runner.remove(stream)
                stream.cancel()
            self._status = "stopping"
        if self._status != before:
            log.info("%s (%d streams in flight)", self._status, in_flight)
        return in_flight


def _resolved(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


def _copy_outcome(source: Future[T], target: Future[T]) -> None:
    exc = source.exception()
    if exc is None:
        target.set_result(source.result())
    else:
        target.set_exception(exc)


def _load_result(model: LoadedModel, *, load_ms: float, already_loaded: bool) -> LoadModelResult:
    return LoadModelResult(**msgspec.structs.asdict(model.info()), load_ms=round(load_ms, 3),
                           already_loaded=already_loaded, warnings=list(model.warnings))

