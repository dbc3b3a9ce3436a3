"""The generate use case: validation, tokenizing, defaults, guidance, images,
stream ids and admission, for every front.

A front hands in the request's params and says where its events go (a
`StreamSink` it opens once the service knows who serves the request); it
never builds an engine request itself. The API (stable; grown only by
additions):

    GenerationService(engine, workers, ops)
    .generate(params: GenerateParams, received_at: float,
              open_sink: OpenSink = ResultSink) -> Future[GenerateAnswer]
        open_sink(future, served) -> StreamSink is called once the request is
        routed; the sink then gets accepted (or rejected), tokens, and one end
        or error (engine/stream.py StreamSink), on the engine thread. The
        future answers the call: the GenerateAccepted of a stream, or the
        GenerateResult that ResultSink collects for a non-streaming request.
        Refusals known at once raise ServingError; later ones fail the
        future (or reach the sink as rejected).
    .cancel(stream_id) / .pause(stream_id) / .resume(stream_id) -> Future[...]

Defaults (config generation.defaults, speculative.num_draft_tokens) are
resolved here, once, in _new_request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future

import msgspec
from msgspec import UNSET

from ..api.errors import ErrorCode, ServingError
from ..api.messages import (
    CancelResult,
    FlowResult,
    GenerateAccepted,
    GenerateParams,
    GenerateResult,
    GenerationStats,
    GuidanceOutcome,
    TokenOut,
)
from ..engine.engine import Engine
from ..engine.images import ImageLimits, load_images
from ..engine.models import LoadedModel
from ..engine.prompting import prompt_tokens
from ..engine.sampling import resolve_settings
from ..engine.stream import Finish, GenerationRequest, Served, StreamSink
from ..engine.vision import render_prompt
from ..guidance.compiler import CompiledGuidance, GuidanceCompiler
from ..ops.admission import Admission
from ..ops.service import Ops
from .request_options import image_sources, inert_warnings, model_for, with_prompt_tokens

log = logging.getLogger(__name__)

# A prompt (or chat) whose JSON is longer is tokenized on a worker: a chat
# of 100,000 messages took the reader a second.
_INLINE_PROMPT_BYTES = 64 * 1024

# What answers a generate call: the accepted stream, or a whole result.
GenerateAnswer = GenerateAccepted | GenerateResult

# Opens the front's sink for a stream once the service knows who serves it.
# The future answers the front's call: the accepted stream, or the whole
# result of a non-streaming request (ResultSink), or the refusal.
OpenSink = Callable[[Future[GenerateAnswer], Served], StreamSink]


class AnsweringSink:
    """The part of a front's sink that answers the front's call: `accepted`
    resolves the future with the accepted stream, `rejected` fails it, each
    saying who serves it. Subclasses add the stream's events (tokens, end,
    error) to make a StreamSink."""

    def __init__(self, future: Future[GenerateAnswer], served: Served) -> None:
        self.future = future
        self.served = served

    def accepted(self, stream_id: str) -> None:
        self.future.set_result(GenerateAccepted(
            stream_id=stream_id, model=self.served.model_id, variant=self.served.variant))

    def rejected(self, error: ServingError) -> None:
        self.future.set_exception(self.served.attribute(error))


class ResultSink(AnsweringSink):
    """Collects the tokens and resolves `future` with a GenerateResult: their
    text, and the tokens themselves when they carry logprobs (the request asked)."""

    def __init__(self, future: Future[GenerateAnswer], served: Served) -> None:
        super().__init__(future, served)
        self._tokens: list[TokenOut] = []

    def accepted(self, stream_id: str) -> None:
        pass  # the call is answered by the whole result, at the end

    def tokens(self, stream_id: str, tokens: list[TokenOut]) -> None:
        self._tokens.extend(tokens)

    def end(self, stream_id: str, finish_reason: Finish, stats: GenerationStats,
            guidance: GuidanceOutcome | None = None) -> None:
        tokens = self._tokens
        with_logprobs = bool(tokens) and tokens[0].logprob is not UNSET
        self.future.set_result(GenerateResult(
            text="".join(token.text for token in tokens), finish_reason=finish_reason,
            stats=stats, stream_id=stream_id, model=self.served.model_id,
            variant=self.served.variant, tokens=tokens if with_logprobs else UNSET,
            guidance=UNSET if guidance is None else guidance))

    def error(self, stream_id: str, error: ServingError, stats: GenerationStats) -> None:
        self.rejected(error)  # a failure midway fails the call, as a refusal does


class GenerationService:
    def __init__(self, engine: Engine, workers: Executor, ops: Ops) -> None:
        self._engine = engine
        self._workers = workers
        self._ops = ops
        self._defaults = engine.config.generation.defaults
        self._guidance = GuidanceCompiler(engine.config.guidance)
        self._vision = engine.config.vision
        self._image_limits = ImageLimits.of(self._vision)

    def generate(self, params: GenerateParams, received_at: float,
                 open_sink: OpenSink = ResultSink) -> Future[GenerateAnswer]:
        """Start one generation; its events go to the sink `open_sink` makes.

        Refusals known at once raise ServingError; later ones reject the future.
        """
        if not self._engine.accepting:
            raise ServingError(ErrorCode.SHUTTING_DOWN, "the runtime is shutting down")
        params = with_prompt_tokens(params)
        # Ops picks the model that serves it (canary routing) and may refuse it (QoS).
        admission = self._ops.admit(params, model_for(params, self._engine.models.all(),
                                                      self._engine.models.loading_ids()))
        return admission.run(lambda: self._engine.with_model_then(
            admission.model_id,
            lambda model: _warned(self._start(model, params, received_at, admission, open_sink),
                                  inert_warnings(params, model))))

    def cancel(self, stream_id: str) -> Future[CancelResult]:
        return self._engine.cancel(stream_id)

    def pause(self, stream_id: str) -> Future[FlowResult]:
        return self._engine.pause(stream_id)

    def resume(self, stream_id: str) -> Future[FlowResult]:
        return self._engine.resume(stream_id)

    def _start(self, model: LoadedModel, params: GenerateParams, received_at: float,
               admission: Admission, open_sink: OpenSink) -> Future[GenerateAnswer]:
        if model.is_vision:
            return self._start_vision(model, params, received_at, admission, open_sink)
        if params.images is not UNSET:
            raise ServingError(ErrorCode.UNSUPPORTED,
                               f"model {model.model_id!r} is a text model and takes no images; "
                               "load a vision model with model/loadVision", model=model.model_id)
        if params.tools is not UNSET and params.messages is UNSET:
            raise ServingError(ErrorCode.INVALID_PARAMS,
                               "`tools` go with `messages` (the chat template shows them)")
        if self._light(model, params):
            tokens = prompt_tokens(model, params.prompt, params.messages, params.add_bos,
                                   params.tools)
            request, answer = self._new_request(model, params, received_at, tokens,
                                                self._grammar(model, params), admission,
                                                open_sink)
            self._engine.submit(request)
            return answer
        request, answer = self._new_request(model, params, received_at, [], None, admission,
                                            open_sink)

        # A long prompt or chat, or a grammar to compile: a worker does it, so
        # the reader goes on reading other requests meanwhile.
        def prepare() -> None:
            request.prompt = prompt_tokens(model, params.prompt, params.messages,
                                           params.add_bos, params.tools)
            request.guidance = self._grammar(model, params)

        self._submit_prepared(request, prepare, "the prompt")
        return answer

    def _light(self, model: LoadedModel, params: GenerateParams) -> bool:
        """Whether the request is cheap enough to prepare where it was read."""
        if params.guidance is not UNSET and not self._guidance.is_cached(model, params.guidance):
            return False
        prompt = params.messages if params.prompt is UNSET else params.prompt
        return prompt is UNSET or len(msgspec.json.encode(prompt)) <= _INLINE_PROMPT_BYTES

    def _grammar(self, model: LoadedModel, params: GenerateParams) -> CompiledGuidance | None:
        return None if params.guidance is UNSET else self._guidance.compile(model, params.guidance)

    def _submit_prepared(self, request: GenerationRequest, prepare: Callable[[], None],
                         what: str) -> None:
        """Run `prepare` on a worker, then hand the request to the engine (or
        refuse it with what `prepare` raised)."""
        def run() -> None:
            try:
                prepare()
            except Exception as exc:
                if not isinstance(exc, ServingError):
                    log.exception("preparing %s of %s failed", what, request.stream_id)
                    exc = ServingError(ErrorCode.INTERNAL_ERROR,
                                       f"preparing {what} failed: {type(exc).__name__}: {exc}")
                self._engine.reject(request, exc)
                return
            self._engine.submit(request)

        self._workers.submit(run)

    def _start_vision(self, model: LoadedModel, params: GenerateParams, received_at: float,
                      admission: Admission, open_sink: OpenSink) -> Future[GenerateAnswer]:
        sources = image_sources(params)
        if len(sources) > self._vision.max_images:
            raise ServingError(ErrorCode.INVALID_PARAMS,
                               f"{len(sources)} images is more than the {self._vision.max_images} "
                               "a request may send (vision.max_images)",
                               limit=self._vision.max_images)
        if (params.prompt is UNSET) == (params.messages is UNSET):
            raise ServingError(ErrorCode.INVALID_PARAMS, "give exactly one of `prompt` and `messages`")
        if params.tools is not UNSET:
            raise ServingError(ErrorCode.UNSUPPORTED,
                               f"vision model {model.model_id!r} takes no `tools` here; use a "
                               "text model for tool calls", model=model.model_id)
        if params.add_bos is not UNSET:
            raise ServingError(ErrorCode.UNSUPPORTED,
                               "`add_bos` is for text models; a vision model's chat template "
                               "places its special tokens", model=model.model_id)
        request, answer = self._new_request(model, params, received_at, [],
                                            self._grammar(model, params), admission, open_sink)

        # Files, downloads and decoding happen on a worker: never on the
        # engine thread, and a slow download does not hold up the reader.
        def prepare() -> None:
            images = load_images(sources, self._image_limits)
            request.vision = render_prompt(model, params.prompt, params.messages, images)

        self._submit_prepared(request, prepare, "the images")
        return answer

    def _new_request(self, model: LoadedModel, params: GenerateParams, received_at: float,
                     tokens: list[int], grammar: CompiledGuidance | None,
                     admission: Admission, open_sink: OpenSink
                     ) -> tuple[GenerationRequest, Future[GenerateAnswer]]:
        """The request for the engine, and the future that answers the call."""
        defaults = model.defaults or self._defaults
        settings = resolve_settings(params, defaults)
        future: Future[GenerateAnswer] = Future()
        sink = admission.observe(open_sink(future, admission.served))
        stream_id = self._engine.stream_ids.reserve(
            None if params.stream_id is UNSET else params.stream_id)
        return GenerationRequest(
            stream_id=stream_id,
            model_id=model.model_id,
            prompt=tokens,
            max_tokens=defaults.max_tokens if params.max_tokens is UNSET else params.max_tokens,
            sampling=settings,
            stop_strings=[] if params.stop_sequences is UNSET else params.stop_sequences,
            stop_token_ids=[] if params.stop_token_ids is UNSET else params.stop_token_ids,
            logprobs=params.logprobs or params.top_logprobs > 0,
            top_logprobs=params.top_logprobs,
            prefill_progress=params.prefill_progress,
            sink=sink,
            received_at=received_at,
            guidance=grammar,
            num_draft_tokens=self._engine.config.speculative.num_draft_tokens
            if params.num_draft_tokens is UNSET else params.num_draft_tokens,
            use_prompt_cache=admission.enabled("prompt_cache"),
        ), future


def _warned(answer: Future[GenerateAnswer], warnings: list[str]) -> Future[GenerateAnswer]:
    """The answer with the request's warnings in it (accepted or whole result)."""
    if not warnings:
        return answer
    warned: Future[GenerateAnswer] = Future()

    def settle(done: Future[GenerateAnswer]) -> None:
        error = done.exception()
        if error is not None:
            warned.set_exception(error)
        else:
            warned.set_result(msgspec.structs.replace(done.result(), warnings=warnings))

    answer.add_done_callback(settle)
    return warned
