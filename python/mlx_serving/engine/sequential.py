"""A lane that runs each stream on its own, advancing them in turn.

For the paths the batch cannot serve (speculative decoding, vision): each
stream gets a decoding object holding its caches, and one engine step
advances every stream by a round (a token or a few). Subclasses say how a
stream starts (`start`).
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from ..api.errors import ErrorCode, ServingError
from ..config import BatchingConfig
from .models import LoadedModel
from .stream import ActiveStream


class Decoding(Protocol):
    stream: ActiveStream

    def advance(self) -> bool:
        """Emit the stream's next token(s); True when it has finished."""
        ...

    def close(self) -> None:
        """Give back what it holds (it is not advanced again)."""
        ...


D = TypeVar("D", bound=Decoding)


class SequentialRunner(Generic[D]):
    """A Runner (runner.py) whose streams each run alone, on one model."""

    lane = "sequential"  # named in errors; subclasses say which path they are

    def __init__(self, model: LoadedModel, config: BatchingConfig) -> None:
        self.model = model
        self.prefill_step = config.prefill_step_size  # prompt tokens per step, at most
        self._decodings: dict[str, D] = {}

    def start(self, stream: ActiveStream) -> D:
        """The decoding of a new stream; raise ServingError when it cannot run."""
        raise NotImplementedError

    @property
    def streams(self) -> list[ActiveStream]:
        return [decoding.stream for decoding in self._decodings.values()]

    def __len__(self) -> int:
        return len(self._decodings)

    def add(self, stream: ActiveStream) -> None:
        if stream.guide is not None:  # grammar masks are applied in the batch lane only
            raise ServingError(ErrorCode.UNSUPPORTED,
                               f"structured output (guidance) does not run on the {self.lane} lane",
                               model=self.model.model_id)
        stream.set_limits(self.model)
        self._decodings[stream.stream_id] = self.start(stream)

    def remove(self, stream: ActiveStream) -> None:
        self._decodings.pop(stream.stream_id).close()

    # Each decoding holds its own state, and the stream's record says whether
    # it is paused: nothing to move.
    def pause(self, stream: ActiveStream) -> None:
        pass

    def resume(self, stream: ActiveStream) -> None:
        pass

    def step(self) -> list[ActiveStream]:
        finished = []
        for stream_id, decoding in list(self._decodings.items()):
            if decoding.stream.state == "paused":
                continue
            if decoding.advance():
                self._decodings.pop(stream_id).close()
                finished.append(decoding.stream)
        return finished

    def close(self) -> None:
        for decoding in self._decodings.values():
            decoding.close()
        self._decodings.clear()
