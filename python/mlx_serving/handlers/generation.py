"""generate, generate/cancel and the per-stream backpressure of generate/pause
and generate/resume: JSON-RPC params in, the generation service's events out
as notifications (streaming) or one response."""

from __future__ import annotations

from concurrent.futures import Future

from ..api.messages import CancelParams, CancelResult, FlowParams, FlowResult, GenerateParams
from ..engine.stream import Served
from ..rpc.dispatcher import CallContext, Handler
from ..service.generation import GenerateAnswer, GenerationService, ResultSink
from ..transport.stdio import MessageWriter
from .notifications import NotificationSink


def generation_handlers(service: GenerationService, writer: MessageWriter) -> dict[str, Handler]:
    def notifications(future: Future[GenerateAnswer], served: Served) -> NotificationSink:
        return NotificationSink(writer.send, future, served)

    # Validation and tokenization happen in the service, on the reader
    # thread, so bad requests are answered at once and the engine only gets good ones.
    def generate(params: GenerateParams, context: CallContext) -> Future[GenerateAnswer]:
        return service.generate(params, context.received_at,
                                notifications if params.streaming else ResultSink)

    def cancel(params: CancelParams, _: CallContext) -> Future[CancelResult]:
        return service.cancel(params.stream_id)

    def pause(params: FlowParams, _: CallContext) -> Future[FlowResult]:
        return service.pause(params.stream_id)

    def resume(params: FlowParams, _: CallContext) -> Future[FlowResult]:
        return service.resume(params.stream_id)

    return {"generate": generate, "generate/cancel": cancel, "generate/pause": pause,
            "generate/resume": resume}
