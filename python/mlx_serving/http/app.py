"""The ASGI app: routes of both APIs, /health and /metrics, and the
middleware (CORS, API key, body limit)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..api.errors import ServingError
from ..api.messages import GenerateParams, TokenOut
from . import anthropic, openai, sse
from .auth import ApiKeyMiddleware
from .backend import Backend, ChatFormat
from .body import decode
from .chat import Assembled, Batch, assemble, pieces
from .errors import HttpError, internal
from .generation import Generation, new_id, start, until_disconnect
from .limits import BodyLimitMiddleware, BodyTooLarge
from .respond import api_of, error_response
from .tools import ToolPlan

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class HttpSettings:
    max_body_bytes: int
    stream_buffer_tokens: int  # a stream pauses while more wait for its reader
    chunk_interval_s: float  # a stream's batches go out at most this often
    cors_origins: list[str]
    api_key: str | None


def build_app(backend: Backend, settings: HttpSettings) -> Starlette:
    routes = Routes(backend, settings.stream_buffer_tokens, settings.chunk_interval_s)
    middleware = [Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)]
    if settings.api_key:
        middleware.insert(0, Middleware(ApiKeyMiddleware, api_key=settings.api_key))
    if settings.cors_origins:
        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                                        allow_methods=["GET", "POST", "OPTIONS"],
                                        allow_headers=["*"]))
    return Starlette(routes=[
        Route("/v1/chat/completions", _guarded(routes.chat), methods=["POST"]),
        Route("/v1/completions", _guarded(routes.completions), methods=["POST"]),
        Route("/v1/models", _guarded(routes.models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", _guarded(routes.model), methods=["GET"]),
        Route("/v1/messages", _guarded(routes.messages), methods=["POST"]),
        Route("/v1/messages/count_tokens", _guarded(routes.count_tokens), methods=["POST"]),
        Route("/health", routes.health, methods=["GET"]),
        Route("/metrics", _guarded(routes.metrics), methods=["GET"]),
    ], middleware=middleware)


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Every failure answers in the route's API envelope; never a stack trace."""
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except HttpError as error:
            return error_response(request.url.path, error)
        except (asyncio.CancelledError, BodyTooLarge):  # the body limit answers the latter
            raise
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(request.url.path, internal(exc))

    return guarded


async def _disconnected(request: Request) -> None:
    """Returns once the client hangs up (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


Body = TypeVar("Body", bound=msgspec.Struct)


@dataclass
class _Chat(Generic[Body]):
    """A chat request (either API) whose generation has started, with what
    its output is read with: the tool plan and the model's chat format."""

    request: Request
    body: Body
    plan: ToolPlan
    generation: Generation
    chat_format: ChatFormat
    response_id: str

    async def whole(self) -> Assembled:
        """The whole answer (a non-streaming request), or CancelledError once
        the client hangs up."""
        return await until_disconnect(_disconnected(self.request),
                                      assemble(self.generation, self.plan, self.chat_format))


class Routes:
    def __init__(self, backend: Backend, high_water: int, hold_s: float) -> None:
        self._backend = backend
        self._high_water = high_water
        self._hold_s = hold_s

    async def _start(self, request: Request, params: GenerateParams) -> Generation:
        return await until_disconnect(_disconnected(request),
                                      start(self._backend, params, self._high_water,
                                            self._hold_s))

    def _stream(self, request: Request, chunks: AsyncIterator[bytes],
                generation: Generation) -> Response:
        return _EventStream(_sse_errors(request, chunks), generation)

    async def _start_chat(self, request: Request, body_type: type[Body],
                          to_params: Callable[[Body], tuple[GenerateParams, ToolPlan]],
                          id_prefix: str) -> _Chat[Body]:
        """What both chat APIs do first: read the body, start its generation."""
        body = decode(await request.body(), body_type)
        params, plan = to_params(body)
        generation = await self._start(request, params)
        return _Chat(request, body, plan, generation, self._backend.chat_format(generation.model),
                     new_id(id_prefix))

    def _chat_stream(self, chat: _Chat[Any], start: Callable[[], bytes],
                     batch: Callable[[Batch], bytes], end: Callable[[], bytes]) -> Response:
        """A chat's SSE response: the API's opening event, one per batch of
        pieces, and its closing one."""
        async def events() -> AsyncIterator[bytes]:
            yield start()
            async for each in pieces(chat.generation, chat.plan, chat.chat_format):
                yield batch(each)
            yield end()

        return self._stream(chat.request, events(), chat.generation)

    # --- OpenAI ---

    async def chat(self, request: Request) -> Response:
        chat = await self._start_chat(request, openai.ChatRequest, openai.chat_params, "chatcmpl-")
        body, generation = chat.body, chat.generation
        if not body.stream:
            answer = await chat.whole()
            outcome = generation.outcome
            return JSONResponse(openai.chat_response(
                chat.response_id, generation.model, answer, outcome.finish_reason,
                outcome.stats, bool(body.logprobs)))
        chunks = openai.ChatStream(chat.response_id, generation.model, bool(body.logprobs),
                                   body.include_usage)
        return self._chat_stream(chat, chunks.start, chunks.batch, lambda: chunks.end(
            generation.outcome.finish_reason, generation.outcome.stats))

    async def completions(self, request: Request) -> Response:
        body = decode(await request.body(), openai.CompletionRequest)
        generation = await self._start(request, openai.completion_params(body))
        response_id = new_id("cmpl-")
        logprobs = body.logprobs is not None
        if not body.stream:
            async def whole() -> list[TokenOut]:
                return [token async for tokens in generation.tokens() for token in tokens]

            tokens = await until_disconnect(_disconnected(request), whole())
            return JSONResponse(openai.completion_response(
                response_id, generation.model, tokens, generation.outcome.finish_reason,
                generation.outcome.stats, logprobs))
        return self._stream(request, openai.completion_stream(
            response_id, generation.model, generation.tokens(), logprobs, body.include_usage,
            lambda: generation.outcome), generation)

    async def models(self, _: Request) -> Response:
        return JSONResponse({"object": "list",
                             "data": [_model_card(m.model_id) for m in self._backend.models()]})

    async def model(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        if not any(m.model_id == model_id for m in self._backend.models()):
            raise HttpError(404, f"model {model_id!r} is not loaded", "model", "MODEL_NOT_LOADED")
        return JSONResponse(_model_card(model_id))

    # --- Anthropic ---

    async def messages(self, request: Request) -> Response:
        chat = await self._start_chat(request, anthropic.MessagesRequest,
                                      anthropic.messages_params, "msg_")
        generation = chat.generation
        if not chat.body.stream:
            return JSONResponse(anthropic.message_response(
                chat.response_id, generation.model, await chat.whole(), generation.outcome))
        events = anthropic.MessageStream(chat.response_id, generation.model)
        return self._chat_stream(chat, events.start, events.batch,
                                 lambda: events.end(generation.outcome))

    async def count_tokens(self, request: Request) -> Response:
        body = decode(await request.body(), anthropic.CountTokensRequest)
        params = anthropic.count_params(body)
        if self._backend.status == "starting":
            raise HttpError(503, "the runtime is still loading its models; retry shortly",
                            code="STARTING")
        try:
            count = await asyncio.get_running_loop().run_in_executor(
                None, self._backend.count_tokens, params)
        except ServingError as exc:
            raise HttpError.of(exc) from None
        return JSONResponse({"input_tokens": count})

    # --- operations ---

    async def health(self, _: Request) -> Response:
        status = self._backend.status
        return JSONResponse({"status": status, "models": [m.model_id for m in
                                                          self._backend.models()]},
                            status_code=200 if status == "ready" else 503)

    async def metrics(self, _: Request) -> Response:
        result = self._backend.prometheus()
        return Response(result.text, media_type=result.content_type)


class _EventStream(StreamingResponse):
    """An SSE response that cancels its generation however it ends: a client
    gone before the first byte never starts the body's generator, whose own
    cleanup would then never run."""

    def __init__(self, chunks: AsyncIterator[bytes], generation: Generation) -> None:
        super().__init__(chunks, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
        self._generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._generation.flow.cancel()


def _model_card(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": int(time.time()),
            "owned_by": "mlx-serving"}


async def _sse_errors(request: Request, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A failure after the stream began: the headers are gone, so it goes out
    as a last event in the API's envelope."""
    try:
        async for chunk in chunks:
            yield chunk
    except Exception as exc:
        if isinstance(exc, HttpError):
            error = exc
        else:
            log.exception("the stream of %s failed", request.url.path)
            error = internal(exc)
        api = api_of(request.url.path)
        yield (sse.event("error", error.body(api)) if api == "anthropic"
               else sse.data(error.body(api)))
