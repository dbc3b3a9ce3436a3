"""generate, generate/cancel and the per-stream backpressure of generate/pause and generate/resume."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future

from msgspec import UNSET

from ..api.errors import ErrorCode, RpcError
from ..api.messages import CancelParams, CancelResult, FlowParams, FlowResult, GenerateParams
from ..engine.engine import Engine
from ..engine.images import ImageLimits, load_images
from ..engine.models import LoadedModel
from ..engine.prompting import prompt_tokens
from ..engine.sampling import resolve_settings
from ..engine.stream import GenerationRequest, NotificationSink, ResultSink
from ..guidance.compiler import GuidanceCompiler
from ..engine.vision import render_prompt
from ..ops.admission import Admission
from ..ops.service import Ops
from ..rpc.dispatcher import CallContext, Handler
from ..transport.stdio import MessageWriter

log = logging.getLogger(__name__)


def generation_handlers(engine: Engine, writer: MessageWriter, workers: Executor,
                        ops: Ops) -> dict[str, Handler]:
    defaults = engine.config.generation.defaults
    guidance = GuidanceCompiler(engine.config.guidance)
    vision = engine.config.vision
    image_limits = ImageLimits.of(vision)

    def generate(params: GenerateParams, context: CallContext) -> Future:
        # Validation and tokenization happen here, on the reader thread, so
        # bad requests are answered at once and the engine only gets good ones.
        if not engine.accepting:
            raise RpcError(ErrorCode.SHUTTING_DOWN, "the runtime is shutting down")
        # Ops picks the model that serves it (canary routing) and may refuse it (QoS).
        admission = ops.admit(params)
        return admission.run(lambda: engine.with_model(
            admission.model_id, lambda model: start(model, params, context, admission)))

    def start(model: LoadedModel, params: GenerateParams, context: CallContext,
              admission: Admission) -> Future:
        if model.is_vision:
            return start_vision(model, params, context, admission)
        if params.images is not UNSET:
            raise RpcError(ErrorCode.UNSUPPORTED,
                           f"model {model.model_id!r} is a text model and takes no images; "
                           "load a vision model with model/loadVision", model=model.model_id)
        tokens = prompt_tokens(model, params.prompt, params.messages, params.add_bos)
        request, answer = new_request(model, params, context, tokens, admission)
        engine.submit(request)
        return answer

    def start_vision(model: LoadedModel, params: GenerateParams, context: CallContext,
                     admission: Admission) -> Future:
        sources = _image_sources(params)
        if len(sources) > vision.max_images:
            raise RpcError(ErrorCode.INVALID_PARAMS,
                           f"{len(sources)} images is more than the {vision.max_images} a "
                           "request may send (vision.max_images)", limit=vision.max_images)
        if (params.prompt is UNSET) == (params.messages is UNSET):
            raise RpcError(ErrorCode.INVALID_PARAMS, "give exactly one of `prompt` and `messages`")
        if params.add_bos is not UNSET:
            raise RpcError(ErrorCode.UNSUPPORTED,
                           "`add_bos` is for text models; a vision model's chat template "
                           "places its special tokens", model=model.model_id)
        request, answer = new_request(model, params, context, [], admission)

        # Files, downloads and decoding happen on a worker: never on the
        # engine thread, and a slow download does not hold up the reader.
        def prepare() -> None:
            try:
                images = load_images(sources, image_limits)
                request.vision = render_prompt(model, params.prompt, params.messages, images)
            except Exception as exc:
                if not isinstance(exc, RpcError):
                    log.exception("preparing the images of %s failed", request.stream_id)
                    exc = RpcError(ErrorCode.INTERNAL_ERROR,
                                   f"preparing the images failed: {type(exc).__name__}: {exc}")
                engine.reject(request, exc)
                return
            engine.submit(request)

        workers.submit(prepare)
        return answer

    def new_request(model: LoadedModel, params: GenerateParams, context: CallContext,
                    tokens: list[int], admission: Admission
                    ) -> tuple[GenerationRequest, Future]:
        """The request for the engine, and the future that answers the call."""
        settings = resolve_settings(params, defaults)
        grammar = None if params.guidance is UNSET else guidance.compile(model, params.guidance)
        future: Future = Future()
        served = admission.served
        sink = admission.observe(NotificationSink(writer.send, future, served)
                                 if params.streaming else ResultSink(future, served))
        stream_id = engine.stream_ids.reserve(None if params.stream_id is UNSET else params.stream_id)
        return GenerationRequest(
            stream_id=stream_id,
            model_id=model.model_id,
            prompt=tokens,
            max_tokens=defaults.max_tokens if params.max_tokens is UNSET else params.max_tokens,
            sampling=settings,
            stop_strings=[] if params.stop_sequences is UNSET else params.stop_sequences,
            stop_token_ids=[] if params.stop_token_ids is UNSET else params.stop_token_ids,
            logprobs=params.logprobs,
            sink=sink,
            received_at=context.received_at,
            guidance=grammar,
            num_draft_tokens=engine.config.speculative.num_draft_tokens
            if params.num_draft_tokens is UNSET else params.num_draft_tokens,
            use_prompt_cache=admission.enabled("prompt_cache"),
        ), future

    def cancel(params: CancelParams, _: CallContext) -> Future[CancelResult]:
        return engine.cancel(params.stream_id)

    def pause(params: FlowParams, _: CallContext) -> Future[FlowResult]:
        return engine.pause(params.stream_id)

    def resume(params: FlowParams, _: CallContext) -> Future[FlowResult]:
        return engine.resume(params.stream_id)

    return {"generate": generate, "generate/cancel": cancel, "generate/pause": pause,
            "generate/resume": resume}


def _image_sources(params: GenerateParams) -> list[str]:
    if params.images is UNSET:
        return []
    if isinstance(params.images, str):  # one image, as the legacy `image` param sends
        return [params.images]
    if not params.images:
        raise RpcError(ErrorCode.INVALID_PARAMS,
                       "`images` is empty; send at least one image, or leave it out")
    return params.images
