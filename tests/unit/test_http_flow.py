"""Flow control of an HTTP stream: a reader that falls behind pauses its
generation, catching up resumes it, leaving early cancels it."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from mlx_serving.api.messages import GenerationStats, TokenOut
from mlx_serving.http.limits import BodyLimitMiddleware
from mlx_serving.http.stream import Ended, Flow


class FakeBackend:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _done(self, what: str, stream_id: str) -> Future[Any]:
        self.calls.append((what, stream_id))
        future: Future[Any] = Future()
        future.set_result(None)
        return future

    def pause(self, stream_id: str) -> Future[Any]:
        return self._done("pause", stream_id)

    def resume(self, stream_id: str) -> Future[Any]:
        return self._done("resume", stream_id)

    def cancel(self, stream_id: str) -> Future[Any]:
        return self._done("cancel", stream_id)


STATS = GenerationStats(prompt_tokens=1, cached_tokens=0, generated_tokens=1, ttft_ms=0,
                        tokens_per_second=0, total_ms=0)


def _tokens(count: int) -> list[TokenOut]:
    return [TokenOut(id=1, text="a") for _ in range(count)]


def test_a_slow_reader_pauses_and_catching_up_resumes() -> None:
    async def run() -> list[tuple[str, str]]:
        backend = FakeBackend()
        flow = Flow(backend, "s", high_water=8)  # type: ignore[arg-type]
        for _ in range(3):
            flow.put(_tokens(3))  # 9 waiting: past the high water mark
        assert flow.paused and backend.calls == [("pause", "s")]
        flow.put(_tokens(3))
        assert backend.calls == [("pause", "s")]  # paused once
        taken = await flow.take()
        assert sum(len(batch) for batch in taken) == 12  # all of it, at once
        assert not flow.paused and not flow.done
        flow.put(Ended("stop", STATS))
        assert isinstance((await flow.take())[-1], Ended) and flow.done
        flow.cancel()  # ended: nothing to cancel
        return backend.calls

    assert asyncio.run(run()) == [("pause", "s"), ("resume", "s")]


def test_leaving_early_cancels() -> None:
    async def run() -> list[tuple[str, str]]:
        backend = FakeBackend()
        flow = Flow(backend, "s", high_water=8)  # type: ignore[arg-type]
        flow.put(_tokens(1))
        await flow.take()
        flow.cancel()
        flow.cancel()
        return backend.calls

    assert asyncio.run(run()) == [("cancel", "s")]


def test_a_streamed_body_past_the_limit_is_refused() -> None:
    reached: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            reached.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run(chunks: list[bytes]) -> list[dict[str, Any]]:
        messages = iter([{"type": "http.request", "body": chunk,
                          "more_body": index < len(chunks) - 1}
                         for index, chunk in enumerate(chunks)])
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/v1/chat/completions", "headers": []}
        await BodyLimitMiddleware(app, max_bytes=1024)(scope, receive, send)
        return sent

    refused = asyncio.run(run([b"x" * 600, b"x" * 600, b"x" * 600]))
    assert refused[0]["status"] == 413 and b"REQUEST_TOO_LARGE" in refused[1]["body"]
    assert len(reached) == 1  # the app never saw the chunk past the limit
    assert asyncio.run(run([b"x" * 600, b"x" * 400]))[0]["status"] == 200
