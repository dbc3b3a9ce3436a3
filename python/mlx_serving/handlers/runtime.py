"""runtime/info, runtime/state, runtime/shutdown."""

from __future__ import annotations

from concurrent.futures import Future

from ..api.messages import NoParams, RuntimeInfo, RuntimeState, ShutdownParams, ShutdownResult
from ..rpc.dispatcher import CallContext, Handler
from ..service.runtime import RuntimeService


def runtime_handlers(runtime: RuntimeService) -> dict[str, Handler]:
    def info(_: NoParams, __: CallContext) -> RuntimeInfo:
        return runtime.info()

    def state(_: NoParams, __: CallContext) -> RuntimeState:
        return runtime.state()

    # Answered on the engine thread, so the response is queued before it exits.
    def shutdown(params: ShutdownParams, _: CallContext) -> Future[ShutdownResult]:
        return runtime.shutdown(params.drain)

    return {"runtime/info": info, "runtime/state": state, "runtime/shutdown": shutdown}
