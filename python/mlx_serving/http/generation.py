"""Start one generation from a route and read it: refusals become HttpErrors
before any response byte is sent; after that the events come from the Flow."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
from msgspec import UNSET

from ..api.errors import ServingError
from ..api.messages import GenerateParams, GenerationStats, TokenOut
from ..engine.stream import Finish, Served
from ..service.generation import GenerateAnswer
from .backend import Backend
from .errors import HttpError, internal
from .stream import Ended, Failed, Flow, LoopSink

T = TypeVar("T")


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


@dataclass
class Outcome:
    finish_reason: Finish = "stop"
    stats: GenerationStats | None = None
    stop_sequence: str | None = None  # the stop sequence that ended it, if one did


@dataclass
class Generation:
    flow: Flow
    model: str  # the model id that serves it
    # After a batch goes out, the next waits this long, so that the tokens
    # made meanwhile travel together (transport.chunk_interval_ms, as on stdio).
    hold_s: float = 0.0
    stops: list[str] = field(default_factory=list)  # the request's stop sequences
    outcome: Outcome = field(default_factory=Outcome)
    # With stop sequences: the token ids and released text, to tell which one ended it.
    _ids: list[int] = field(default_factory=list)
    _released: list[str] = field(default_factory=list)
    backend: Backend | None = None

    async def tokens(self) -> AsyncIterator[list[TokenOut]]:
        """The stream's tokens in batches; raises HttpError if it fails midway.
        Leaving early (the client went away) cancels the stream."""
        try:
            while not self.flow.done:
                batch: list[TokenOut] = []
                for event in await self.flow.take():
                    if isinstance(event, list):
                        batch.extend(event)
                        if self.stops:
                            self._ids.extend(token.id for token in event)
                            self._released.extend(token.text for token in event)
                    elif isinstance(event, Ended):
                        self.outcome = Outcome(event.finish_reason, event.stats,
                                               self._stop_sequence(event.finish_reason))
                    elif isinstance(event, Failed):
                        if batch:
                            yield batch
                        raise HttpError.of(event.error)
                if batch:
                    yield batch
                    if self.hold_s and not self.flow.done:
                        await asyncio.sleep(self.hold_s)
        finally:
            self.flow.cancel()

    def _stop_sequence(self, finish: Finish) -> str | None:
        """The engine says "stop" for an EOS and a stop sequence alike; the text
        the tokens make beyond what was released begins with the sequence."""
        if finish != "stop" or not self.stops or self.backend is None:
            return None
        released = "".join(self._released)
        beyond = self.backend.decode(self.model, self._ids)[len(released):]
        return next((stop for stop in self.stops if beyond.startswith(stop)), None)


async def start(backend: Backend, params: GenerateParams, high_water: int,
                hold_s: float) -> Generation:
    """Hand the request to the service and wait until the engine took it."""
    if backend.status == "starting":
        raise HttpError(503, "the runtime is still loading its models; retry shortly",
                        code="STARTING")
    loop = asyncio.get_running_loop()
    stream_id = new_id("http-")
    params = msgspec.structs.replace(params, stream_id=stream_id, streaming=True)
    flow = Flow(backend, stream_id, high_water)

    def open_sink(future: Future[GenerateAnswer], served: Served) -> LoopSink:
        return LoopSink(loop, future, served, flow)

    # Validation, chat templates and grammar compiles are blocking work: off the loop.
    received_at = time.perf_counter()
    try:
        accepted = await loop.run_in_executor(
            None, lambda: backend.generate(params, received_at, open_sink))
        answer = await asyncio.wrap_future(accepted)
    except ServingError as exc:
        raise HttpError.of(exc) from None
    except HttpError:
        raise
    except Exception as exc:
        raise internal(exc) from None
    except asyncio.CancelledError:
        flow.cancel()
        raise
    return Generation(flow=flow, model=answer.model, hold_s=hold_s,
                      stops=[] if params.stop_sequences is UNSET else params.stop_sequences,
                      backend=backend)


async def until_disconnect(receive_disconnect: Awaitable[None], work: Awaitable[T]) -> T:
    """`work`, or CancelledError as soon as the client hangs up."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(receive_disconnect)
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        raise asyncio.CancelledError("the client disconnected")
    finally:
        watch.cancel()
