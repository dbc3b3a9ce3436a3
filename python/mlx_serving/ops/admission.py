"""One generate request as the ops layer sees it: where it goes, under which
flags, and how it ends.

Ops.admit builds an Admission before the request reaches a model; the
generate handler runs the request through `run` (which records a refusal,
whether it is raised at once or resolved later) and wraps the stream's sink
with `observe` (metrics, and the debug faults where configured).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from ..api.errors import ErrorCode, ServingError
from ..engine.stream import Served, StreamSink
from .faults import FaultySink
from .flags import FlagName, FlagSet
from .metrics import Metrics, StreamOutcome
from .observe import MeteredSink
from .settings import ModelFaults

T = TypeVar("T")


class Admission:
    def __init__(self, served: Served, key: str, flags: FlagSet, metrics: Metrics,
                 faults: ModelFaults | None) -> None:
        self.served = served
        self.key = key
        self.flags = flags
        self._metrics = metrics
        self._faults = faults
        self._sink: MeteredSink | None = None

    @property
    def model_id(self) -> str:
        return self.served.model_id

    def enabled(self, flag: FlagName) -> bool:
        """Whether a request-scoped feature flag is on for this request."""
        return self.flags.enabled(flag, self.key)

    def observe(self, sink: StreamSink) -> StreamSink:
        self._sink = MeteredSink(sink, self._metrics, self.model_id)
        if self._faults is None:
            return self._sink
        return FaultySink(self._sink, self._faults, self.key)

    def run(self, start: Callable[[], Future[T]]) -> Future[T]:
        """start() and its outcome: a refusal, now or from its future, is recorded."""
        try:
            result = start()
        except ServingError as exc:
            self.rejected(exc)
            raise self.served.attribute(exc) from None
        result.add_done_callback(self._settled)
        return result

    def rejected(self, error: BaseException) -> None:
        code = error.code.name if isinstance(error, ServingError) else ErrorCode.INTERNAL_ERROR.name
        self._metrics.record(StreamOutcome(self.model_id, "rejected", error_code=code,
                                           at=time.monotonic()))

    def _settled(self, future: Future[Any]) -> None:
        # A stream that was accepted records its own end; only refusals here.
        error = future.exception()
        if error is not None and (self._sink is None or not self._sink.was_accepted):
            self.rejected(error)
