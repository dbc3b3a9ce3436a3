"""The interface the engine steps: one way of running streams on one model.

A model's plain streams share one continuous batch (batch.ModelBatch); paths
the batch cannot serve (speculative decoding, vision) get runners of their
own beside it. The engine steps every runner in turn, so no lane starves
another, and treats them all alike for cancel, unload and failure.
"""

from __future__ import annotations

from typing import Protocol

from .stream import ActiveStream


class Runner(Protocol):
    @property
    def streams(self) -> list[ActiveStream]:
        """The streams it runs now."""
        ...

    def __len__(self) -> int: ...

    def add(self, stream: ActiveStream) -> None:
        """Take a new stream; raise ServingError when it cannot serve it. A stream
        with a `guide` (structured output) must be sampled through it (its
        logits processor and `guide.watch(sampler)`), or be refused."""
        ...

    def remove(self, stream: ActiveStream) -> None:
        """Drop a stream (cancel), paused or not; the others go on."""
        ...

    def pause(self, stream: ActiveStream) -> None:
        """Stop advancing a stream (backpressure) and emit nothing for it
        until resume(); it keeps its state, so it goes on exactly where it was."""
        ...

    def resume(self, stream: ActiveStream) -> None:
        """Advance a paused stream again (a stream not paused: nothing to do)."""
        ...

    def step(self) -> list[ActiveStream]:
        """Advance every stream by at most a few tokens; returns the ones that finished."""
        ...

    def close(self) -> None:
        """Give back what it holds; it is not stepped again."""
        ...
