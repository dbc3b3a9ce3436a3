"""What Engine and AsyncEngine share: the engine's state, one definition of
each method's parameters, and the two ways of waiting for an answer.

Each method is defined once here, with the public name and signature: it
folds its params onto the wire's names (names.py) and returns an Op, the
call to make and what to make of its answer (the contract's msgspec Structs,
api/messages.py). Engine runs an Op on the calling thread (`run`);
AsyncEngine awaits it on the event loop (`run_async`), with the one reader
thread settling the call's future either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from ..api import messages as m
from ..api.methods import METHODS
from .answers import parse_json, require_json_schema, typed
from .errors import EngineError
from .events import Emitter, Listener, NotificationEvent
from .flow import FlowControl
from .generator import TokenGenerator
from .launch import LaunchOptions, Session
from .names import canonical_method, merge_params, wire_params
from .ops import Blocking, Call, Op
from .options import EngineOptions, call_timeout
from .process import LaunchSpec
from .replay import ReplayKind
from .rpc import Call as RpcCall
from .rpc import RpcClient
from .supervisor import Status, Supervisor

R = TypeVar("R")
T = TypeVar("T")


class _NamesModel(Protocol):
    model_id: str


L = TypeVar("L", bound=_NamesModel)

_MAX_LINE_BYTES = 256 * 1024 * 1024

# Methods whose engine method does more than the call (supervision, streams).
_DEDICATED_METHODS = {
    "model/load": "load_model()",
    "model/unload": "unload_model()",
    "model/loadVision": "load_vision_model()",
    "model/loadDraft": "load_draft_model()",
    "model/unloadDraft": "unload_draft_model()",
    "generate": "generate(), generate_detailed() or create_generator()",
    "runtime/shutdown": "shutdown()",
}


@dataclass(frozen=True)
class FlowInfo:
    paused: bool  # reading the runtime's output is paused now
    pauses: int  # how often it was (this runtime)
    paused_streams: int  # streams paused on the runtime now for consumers that are behind
    stream_pauses: int  # how often one was (this engine)


@dataclass(frozen=True)
class EngineInfo:
    status: Status
    pid: int | None  # the runtime process now serving
    restarts: int
    runtime: m.RuntimeInfo | None  # runtime/info of the latest runtime that came up
    models: list[str]  # ids of the models loaded through this engine (loaded again after a restart)
    preloaded: list[m.PreloadedModel]  # the runtime's own preload (config model_preload)
    preloading: bool
    drafts: dict[str, str]  # drafts attached through this engine, by model id
    open_streams: int
    pending_requests: int
    flow: FlowInfo


@dataclass(frozen=True)
class _OnLoop(Generic[T]):
    """A user callback that AsyncEngine calls on its event loop; equal to another for the same
    callback, so that off() finds what on() attached."""

    core: EngineCore = field(compare=False)
    callback: Callable[[T], None]

    def __call__(self, payload: T) -> None:
        loop = self.core.loop
        if loop is None:
            self.callback(payload)
            return
        # A closed loop raises RuntimeError: nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self.callback, payload)


class EngineCore:
    """One runtime process kept alive by the supervisor, and every engine method as an Op."""

    def __init__(self, options: EngineOptions, *, on_loop: bool) -> None:
        self.options = options
        self.on_loop = on_loop
        # The loop that callbacks are delivered on (AsyncEngine sets it when it starts).
        self.loop: asyncio.AbstractEventLoop | None = None
        log = _stderr_log if options.verbose else None
        self.events = Emitter()
        # Before the start, so that they see its `ready` and its stderr too.
        for event, listener in options.on.items():
            self.events.on(event, self.here(listener))
        spec = LaunchSpec(options.python_path, options.runtime_path, options.config_path, options.flags_path,
                          options.env, options.cwd)
        self.supervisor = Supervisor(
            LaunchOptions(spec, options.start_timeout, options.wait_for_preload, _MAX_LINE_BYTES, log),
            options.restart, options.force_kill_after, self.events)
        self.streams = _Streams(self.supervisor, FlowControl(options.high_water_mark,
                                                             self.supervisor.set_backpressure))
        self._stream_ids = itertools.count(1)

    def start(self) -> None:
        """Blocks until the runtime can serve (see Engine)."""
        self.supervisor.start()

    def here(self, callback: Callable[[T], None]) -> Callable[[T], None]:
        """A user callback as the engine calls it: on a client thread (Engine) or on the event loop
        (AsyncEngine). Anything not callable is handed on as is, for the caller's check to name it."""
        return _OnLoop(self, callback) if self.on_loop and callable(callback) else callback

    # --- running an Op -------------------------------------------------------

    def run(self, op: Op[R]) -> R:
        """On the calling thread, which it blocks."""
        if isinstance(op, Blocking):
            return op.work()
        limit, started = call_timeout(op.timeout, self.options.request_timeout), time.monotonic()
        session = self.streams.connect(limit)
        with self._sent(op, session) as pending:
            raw = session.client.wait(pending, _left(limit, started))
        return op.finish(raw)

    async def run_async(self, op: Op[R]) -> R:
        """On the event loop, never blocking it: the reader thread settles the call's future and the
        loop is woken for it. A cancelled await gives the call up (see Call.generation)."""
        if isinstance(op, Blocking):
            return await asyncio.to_thread(op.work)
        limit, started = call_timeout(op.timeout, self.options.request_timeout), time.monotonic()
        session = self.streams.session_now()
        if session is None:  # starting or restarting: the wait for it blocks, so off the loop (rare)
            session = await asyncio.to_thread(self.streams.connect, limit)
        with self._sent(op, session) as pending:
            raw = await session.client.wait_async(pending, _left(limit, started))
        return op.finish(raw)

    @contextlib.contextmanager
    def _sent(self, op: Call[Any], session: Session) -> Iterator[RpcCall]:
        """Sends the call and hands it to its waiter, with its listener on while it runs; a waiter
        that gives up (an error, a time limit, Ctrl-C, a cancelled await) gives the call up."""
        if op.listener is not None:
            self.events.on("notification", op.listener)
        try:
            pending = session.client.request(op.method, op.wire)
            try:
                yield pending
            except BaseException as error:
                _given_up(op, session.client, pending.future, error)
                raise
        finally:
            if op.listener is not None:
                self.events.off("notification", op.listener)

    # --- models --------------------------------------------------------------

    def load_model(self, model: str | Mapping[str, Any] | None = None, /, *, model_id: str | None = None,
                   timeout: float | None = None, on_progress: Callable[[m.ModelProgress], None] | None = None,
                   **params: Any) -> Op[m.LoadModelResult]:
        """Loads a text model (a local folder, a .gguf file, or a hub id where a network exists); it
        is loaded again after a restart. `on_progress` gets the runtime's progress reports (phase,
        done of total) while it loads, on a thread of the client (Engine) or on the event loop
        (AsyncEngine)."""
        wire = wire_params("model/load", _by_id(model, model_id, params), "load_model")
        if on_progress is None:
            return self._load("model/load", wire, timeout, "model", m.LoadModelResult)
        _check_callback(on_progress, "on_progress", "load_model")
        loading = wire.get("model_id", wire.get("model"))
        deliver = self.here(on_progress)

        def report(event: NotificationEvent) -> None:
            if event.method != "model/progress":
                return
            try:
                progress = msgspec.convert(event.params, m.ModelProgress)
            except msgspec.ValidationError as exc:
                self.supervisor.protocol_error(EngineError(
                    "PROTOCOL_ERROR", f"the runtime wrote a malformed model/progress: {exc}",
                    data={"params": event.params}))
                return
            if progress.model_id == loading:
                deliver(progress)

        return self._load("model/load", {**wire, "progress": True}, timeout, "model", m.LoadModelResult, report)

    def load_vision_model(self, model: str | Mapping[str, Any] | None = None, /, *, model_id: str | None = None,
                          timeout: float | None = None, **params: Any) -> Op[m.LoadModelResult]:
        """Loads a vision-language model (mlx-vlm); its generations take `images`."""
        wire = wire_params("model/loadVision", _by_id(model, model_id, params), "load_vision_model")
        return self._load("model/loadVision", wire, timeout, "model", m.LoadModelResult)

    def unload_model(self, model: str | Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                     **params: Any) -> Op[m.UnloadModelResult]:
        """Unloads a model (and its draft); its streams end with a MODEL_UNLOADED error chunk."""
        def forget(result: m.UnloadModelResult) -> m.UnloadModelResult:
            self.supervisor.models.forget("model", result.model_id)
            self.supervisor.models.forget("draft", result.model_id)  # the runtime drops a model's draft with it
            return result

        return self._call("model/unload", _by_id(model, None, params), timeout, "unload_model",
                          m.UnloadModelResult, forget)

    def list_models(self, *, timeout: float | None = None) -> Op[list[m.ModelInfo]]:
        return self._call("model/list", {}, timeout, "list_models", m.ListModelsResult,
                          lambda result: result.models)

    def load_draft_model(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                         **kwargs: Any) -> Op[m.LoadDraftResult]:
        """Attaches a draft model (`draft_model`: a folder) to the loaded text model `model`: its
        generations then decode speculatively. DRAFT_INCOMPATIBLE names the reasons."""
        wire = wire_params("model/loadDraft", merge_params(params, kwargs, "load_draft_model"), "load_draft_model")
        return self._load("model/loadDraft", wire, timeout, "draft", m.LoadDraftResult)

    def unload_draft_model(self, model: str | Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                           **params: Any) -> Op[m.UnloadDraftResult]:
        def forget(result: m.UnloadDraftResult) -> m.UnloadDraftResult:
            self.supervisor.models.forget("draft", result.model_id)
            return result

        return self._call("model/unloadDraft", _by_id(model, None, params), timeout, "unload_draft_model",
                          m.UnloadDraftResult, forget)

    def is_draft_model_compatible(self, params: Mapping[str, Any] | None = None, /, *,
                                  timeout: float | None = None, **kwargs: Any) -> Op[m.DraftCompatibility]:
        """Whether `draft_model` could draft for `model`: `compatible` and `reasons`; attaches nothing."""
        return self._call("model/isDraftCompatible", merge_params(params, kwargs, "is_draft_model_compatible"),
                          timeout, "is_draft_model_compatible", m.DraftCompatibility, _same)

    # --- tokens --------------------------------------------------------------

    def tokenize(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                 **kwargs: Any) -> Op[list[int]]:
        """The token ids of `text` (`model`, `text`, `add_bos`)."""
        return self._call("tokenize", merge_params(params, kwargs, "tokenize"), timeout, "tokenize",
                          m.TokenizeResult, lambda result: result.tokens)

    def detokenize(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                   **kwargs: Any) -> Op[str]:
        """The text of `tokens` (`model`, `tokens`, `skip_special_tokens`)."""
        return self._call("detokenize", merge_params(params, kwargs, "detokenize"), timeout, "detokenize",
                          m.DetokenizeResult, lambda result: result.text)

    # --- generation ----------------------------------------------------------

    def create_generator(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                         on_prefill_progress: Callable[[m.StreamProgress], None] | None = None,
                         **kwargs: Any) -> TokenGenerator:
        """Streams a generation: `for chunk in engine.create_generator(...)` or `async for`; leaving
        the loop early cancels it. `timeout` bounds the wait for the runtime to accept it, then each
        wait for the next chunk once tokens came. `on_prefill_progress` gets the prompt tokens
        prefilled of total before the first token, where the generator is read: on the reading thread
        (`for`) or on the event loop (`async for`)."""
        wire = self._generate_params(params, kwargs, True, "create_generator")
        if on_prefill_progress is not None:
            _check_callback(on_prefill_progress, "on_prefill_progress", "create_generator")
            wire["prefill_progress"] = True
        return self._stream(wire, timeout, on_prefill_progress)  # the generator calls it where it is read

    def create_vision_generator(self, params: Mapping[str, Any] | None = None, /, *,
                                timeout: float | None = None, **kwargs: Any) -> TokenGenerator:
        """create_generator() for a vision model, with `images` required (file paths, data: or http(s) URLs)."""
        wire = self._generate_params(params, kwargs, True, "create_vision_generator")
        if "images" not in wire:
            raise EngineError.invalid_options(
                "`create_vision_generator` needs `images` (file paths, data: URLs or http(s) URLs); use "
                "create_generator() for a prompt without images.")
        return self._stream(wire, timeout, None)

    def generate(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                 **kwargs: Any) -> Op[str]:
        """The whole text of a generation, in one call (`streaming: false` on the wire)."""
        return self._whole(self._generate_params(params, kwargs, False, "generate"), timeout,
                           lambda result: result.text)

    def generate_detailed(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                          **kwargs: Any) -> Op[m.GenerateResult]:
        """generate() with the rest of the answer: text, finish_reason, stats, stream_id, model, variant,
        and guidance (complete) with guidance."""
        return self._whole(self._generate_params(params, kwargs, False, "generate_detailed"), timeout, _same)

    def generate_json(self, params: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                      **kwargs: Any) -> Op[Any]:
        """The parsed JSON value of a generation under `guidance={"mode": "json_schema", "schema": ...}`
        (valid by construction). Output cut before the JSON was whole is never handed back:
        GUIDANCE_INCOMPLETE (CANCELLED when cancelled), the text so far in `error.data["text"]`."""
        wire = self._generate_params(params, kwargs, False, "generate_json")
        require_json_schema(wire.get("guidance"))
        return self._whole(wire, timeout, parse_json)

    # --- ops -------------------------------------------------------------------

    def get_metrics(self, model: str | None = None, /, *, timeout: float | None = None) -> Op[m.MetricsSnapshot]:
        """The runtime's figures per model (and `overall`): counts, TTFT / inter-token / e2e / tokens-per-s
        distributions over the lifetime and the QoS window, errors by code, QoS and canary state."""
        return self._call("metrics/get", {} if model is None else {"model": model}, timeout, "get_metrics",
                          m.MetricsSnapshot, _same)

    def get_prometheus_metrics(self, *, timeout: float | None = None) -> Op[str]:
        """The same figures in the Prometheus text format 0.0.4."""
        return self._call("metrics/prometheus", {}, timeout, "get_prometheus_metrics", m.PrometheusResult,
                          lambda result: result.text)

    def reload_config(self, *, timeout: float | None = None) -> Op[m.ConfigReloadResult]:
        """Re-reads runtime.yaml and feature-flags.yaml (as SIGHUP does); CONFIG_INVALID names a bad key."""
        return self._call("config/reload", {}, timeout, "reload_config", m.ConfigReloadResult, _same)

    def get_flags(self, request_key: str | None = None, /, *, timeout: float | None = None) -> Op[m.FlagsResult]:
        """The feature flags in force; with a request key, whether each is on for it."""
        return self._call("flags/get", {} if request_key is None else {"request_key": request_key}, timeout,
                          "get_flags", m.FlagsResult, _same)

    def request(self, method: str, params: Mapping[str, Any] | None = None, /, *,
                timeout: float | None = None) -> Op[Any]:
        """Any other wire method by name (or legacy name), params in either spelling; the result typed
        as the contract's Struct (plain JSON for a method this client does not know)."""
        canonical = canonical_method(method)
        instead = _DEDICATED_METHODS.get(canonical)
        if instead is not None:
            raise EngineError.invalid_options(
                f"Call {instead} instead of request({method!r}): it keeps the engine's state right.")
        spec = METHODS.get(canonical)
        result_type = spec.result if spec is not None and isinstance(spec.result, type) else None
        wire = wire_params(canonical, merge_params(params, {}, "request"), method)
        return Call(canonical, wire, timeout, lambda raw: typed(raw, result_type, method))

    def get_info(self) -> EngineInfo:
        """The engine's state now, without a call to the runtime."""
        supervisor = self.supervisor
        session = supervisor.ready_session
        preload = session.preload.done if session is not None else None
        paused, pauses = session.client.flow if session is not None else (False, 0)
        paused_streams, stream_pauses = self.streams.flow.streams
        return EngineInfo(
            status=supervisor.status, pid=session.process.pid if session else None, restarts=supervisor.restarts,
            runtime=session.info if session else None, models=supervisor.models.models,
            preloaded=preload.models if preload else [], preloading=session is not None and preload is None,
            drafts=supervisor.models.drafts, open_streams=len(self.streams.open),
            pending_requests=session.client.pending_count if session else 0,
            flow=FlowInfo(paused, pauses, paused_streams, stream_pauses))

    # --- stopping ------------------------------------------------------------

    def shutdown(self, drain: bool = True, *, timeout: float = 60.0) -> Op[None]:
        """Stops the runtime after in-flight streams finish (drain) or are cancelled; later calls fail
        with ENGINE_DISPOSED."""
        return Blocking(lambda: self.supervisor.stop(drain, timeout))

    def close(self) -> Op[None]:
        """Stops the runtime now: streams are cancelled; then SIGTERM, then SIGKILL if it lingers."""
        return Blocking(lambda: self.supervisor.stop(False, self.options.force_kill_after))

    # --- building Ops ----------------------------------------------------------

    def _call(self, method: str, params: Mapping[str, Any], timeout: float | None, caller: str,
              result_type: type[T], then: Callable[[T], R]) -> Call[R]:
        return Call(method, wire_params(method, params, caller), timeout,
                    lambda raw: then(typed(raw, result_type, method)))

    def _load(self, method: str, wire: dict[str, Any], timeout: float | None, kind: ReplayKind,
              result_type: type[L], listener: Listener | None = None) -> Call[L]:
        """A load the runtime must be given again after a restart: remembered under the id its result
        names, with the params as sent (`wire`: folded already)."""
        def remember(raw: Any) -> L:
            result = typed(raw, result_type, method)
            replayed = {name: value for name, value in wire.items() if name != "progress"}  # nobody listens then
            self.supervisor.models.remember(kind, result.model_id, method, replayed)
            return result

        return Call(method, wire, timeout, remember, listener=listener)

    def _generate_params(self, params: Mapping[str, Any] | None, kwargs: Mapping[str, Any], streaming: bool,
                         caller: str) -> dict[str, Any]:
        wire = wire_params("generate", merge_params(params, kwargs, caller), caller)
        if "streaming" in wire and wire["streaming"] is not streaming:
            use = "generate() for the whole text at once" if streaming else "create_generator() to stream"
            raise EngineError.invalid_options(f"`{caller}` got `streaming={wire['streaming']}`; use {use}.")
        wire["streaming"] = streaming
        wire.setdefault("stream_id", f"py-{next(self._stream_ids)}")
        return wire

    def _stream(self, wire: dict[str, Any], timeout: float | None,
                on_prefill_progress: Callable[[m.StreamProgress], None] | None) -> TokenGenerator:
        generator = TokenGenerator(self.streams, wire, call_timeout(timeout, self.options.request_timeout),
                                   on_prefill_progress)
        self.streams.open.add(generator)  # before it starts: its end may come back at once, on the reader thread
        generator.start()
        return generator

    def _whole(self, wire: dict[str, Any], timeout: float | None,
               then: Callable[[m.GenerateResult], R]) -> Call[R]:
        """A generation answered in one piece; given up on, it is cancelled on the runtime."""
        return Call("generate", wire, timeout, lambda raw: then(typed(raw, m.GenerateResult, "generate")),
                    generation=wire["stream_id"])


class _Streams:
    """What generators need of the engine (generator.GeneratorHost): a ready runtime's session,
    flow control, and the set of open generators."""

    def __init__(self, supervisor: Supervisor, flow: FlowControl) -> None:
        self._supervisor = supervisor
        self.flow = flow
        self.open: set[TokenGenerator] = set()

    def session_now(self) -> Session | None:
        return self._supervisor.ready_session

    def connect(self, timeout: float | None) -> Session:
        return self._supervisor.ready_session or self._supervisor.connect(timeout)

    def finished(self, generator: TokenGenerator) -> None:
        self.open.discard(generator)


def _given_up(op: Call[Any], client: RpcClient, answer: Future[Any], error: BaseException) -> None:
    """Nobody reads the call's answer now (it is dropped when it comes). A generation given up on by
    its caller (a time limit, Ctrl-C, a cancelled await) is cancelled on the runtime; one the
    runtime failed has nothing left to cancel."""
    answer.cancel()
    if op.generation is not None and (not isinstance(error, EngineError) or error.code == "TIMEOUT"):
        client.request("generate/cancel", {"stream_id": op.generation}, awaited=False)


def _same(result: T) -> T:
    return result


def _by_id(model: str | Mapping[str, Any] | None, model_id: str | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """Methods that name one model take its path or id alone too."""
    given = merge_params(model if isinstance(model, Mapping) else None, params, "the call")
    if isinstance(model, str):
        given = merge_params(given, {"model": model}, "the call")
    elif model is not None and not isinstance(model, Mapping):
        raise EngineError.invalid_options(f"Expected a model path or id (str) or params (a mapping), got "
                                          f"{type(model).__name__}.")
    if model_id is not None:
        given = merge_params(given, {"model_id": model_id}, "the call")
    return given


def _check_callback(callback: object, name: str, caller: str) -> None:
    if not callable(callback):
        raise EngineError.invalid_options(f"Expected the `{name}` option of `{caller}` to be callable, got "
                                          f"{type(callback).__name__}.")


def _left(limit: float | None, started: float) -> float | None:
    """What is left of a call's time limit once it waited for a runtime."""
    return None if limit is None else max(0.001, limit - (time.monotonic() - started))


def _stderr_log(line: str) -> None:
    sys.stderr.write(f"[mlx-serving] {line}\n")
