"""metrics/get, metrics/prometheus, config/reload, flags/get."""

from __future__ import annotations

from msgspec import UNSET

from ..api.messages import (
    ConfigReloadResult,
    FlagsParams,
    FlagsResult,
    MetricsParams,
    MetricsSnapshot,
    NoParams,
    PrometheusResult,
)
from ..ops.service import Ops
from ..rpc.dispatcher import CallContext, Handler


def ops_handlers(ops: Ops) -> dict[str, Handler]:
    def metrics(params: MetricsParams, _: CallContext) -> MetricsSnapshot:
        return ops.snapshot(None if params.model is UNSET else params.model)

    def prometheus(_: NoParams, __: CallContext) -> PrometheusResult:
        return ops.prometheus()

    def reload(_: NoParams, __: CallContext) -> ConfigReloadResult:
        return ops.reload()

    def flags(params: FlagsParams, _: CallContext) -> FlagsResult:
        return ops.flags_state(None if params.request_key is UNSET else params.request_key)

    return {"metrics/get": metrics, "metrics/prometheus": prometheus,
            "config/reload": reload, "flags/get": flags}
