"""The runtime.yaml sections of the ops features: metrics, qos, canary, debug.

Plain msgspec Structs, validated with the rest of config/runtime.yaml (unknown
keys, wrong types and out-of-range values stop start-up, and make a
config/reload fail with the old config kept). Every key is documented, with
its default, in config/runtime.yaml itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Percentage = Annotated[float, Meta(ge=0.0, le=100.0)]
Fraction = Annotated[float, Meta(ge=0.0, le=1.0)]
Seconds = Annotated[float, Meta(ge=0.0)]
PositiveInt = Annotated[int, Meta(ge=1)]

# The SLOs an evaluator can watch; each names its statistic and its direction.
SloName = Literal[
    "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms",
    "e2e_p99_ms", "inter_token_p99_ms",
    "min_tokens_per_s", "max_queue_depth", "error_rate",
]
Policy = Literal["alert", "shed", "reduce_batch"]


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class PrometheusConfig(_Section):
    http_enabled: bool = False
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 9464


class MetricsConfig(_Section):
    relative_accuracy: Annotated[float, Meta(gt=0.0, lt=0.5)] = 0.01
    prometheus: PrometheusConfig = msgspec.field(default_factory=PrometheusConfig)


# msgspec lets a frozen Struct extend a plain one; mypy models Structs as
# dataclasses, which may not.
class SloSpec(_Section, frozen=True):  # type: ignore[misc]
    slo: SloName
    threshold: Annotated[float, Meta(ge=0.0)]
    policy: Policy = "alert"
    model: Annotated[str, Meta(min_length=1)] | None = None


class QosConfig(_Section):
    window_s: Annotated[float, Meta(ge=0.5, le=86400.0)] = 60.0
    evaluate_interval_s: Annotated[float, Meta(ge=0.05, le=3600.0)] = 1.0
    min_samples: PositiveInt = 10
    dry_run: bool = False
    reduce_batch_factor: Annotated[float, Meta(gt=0.0, lt=1.0)] = 0.5
    slos: list[SloSpec] = msgspec.field(default_factory=list)


class CanaryRollback(_Section):
    max_error_rate: Fraction = 0.05
    ttft_p99_ms: Annotated[float, Meta(gt=0.0)] | None = None
    ttft_p99_ratio: Annotated[float, Meta(gt=0.0)] | None = 2.0
    min_requests: PositiveInt = 10


class CanaryConfig(_Section):
    model: Annotated[str, Meta(min_length=1)]
    model_id: Annotated[str, Meta(min_length=1)] | None = None
    schedule: Annotated[list[Annotated[float, Meta(gt=0.0, le=100.0)]], Meta(min_length=1)] = (
        msgspec.field(default_factory=lambda: [1.0, 10.0, 50.0, 100.0]))
    min_requests: PositiveInt = 20
    min_healthy_s: Seconds = 60.0
    rollback: CanaryRollback = msgspec.field(default_factory=CanaryRollback)

    def __post_init__(self) -> None:
        if any(later <= earlier for earlier, later in zip(self.schedule, self.schedule[1:], strict=False)):
            raise ValueError(f"canary schedule must rise stage by stage, got {self.schedule}")


class ModelFaults(_Section):
    token_delay_ms: Seconds = 0.0
    error_rate: Fraction = 0.0
    # One pause inside each stream, before its token number `stall_at_token`.
    stall_ms: Seconds = 0.0
    stall_at_token: Annotated[int, Meta(ge=2)] = 2


class DebugConfig(_Section):
    inject_token_delay_ms: Seconds = 0.0
    faults: dict[str, ModelFaults] = msgspec.field(default_factory=dict)

    def faults_for(self, model_id: str) -> ModelFaults | None:
        faults = self.faults.get(model_id)
        if faults is None and self.inject_token_delay_ms == 0:
            return None
        faults = faults or ModelFaults()
        if self.inject_token_delay_ms:
            faults = msgspec.structs.replace(
                faults, token_delay_ms=faults.token_delay_ms + self.inject_token_delay_ms)
        return faults


def canary_model_id(stable_model_id: str, config: CanaryConfig) -> str:
    return config.model_id or f"{stable_model_id}@canary"


def check_canary_routes(routes: dict[str, CanaryConfig]) -> None:
    """Rules a Struct cannot state with the key's name: every canary id is its own
    model, and a stage's health is judged before it may advance."""
    seen: dict[str, str] = {}
    for stable, route in routes.items():
        if route.rollback.min_requests > route.min_requests:
            raise ValueError(
                f"canary.{stable}.rollback.min_requests ({route.rollback.min_requests}) must "
                f"be <= canary.{stable}.min_requests ({route.min_requests}), the canary "
                "requests each stage needs to advance: else a stage could advance before "
                "its health was judged")
        canary = canary_model_id(stable, route)
        if canary in routes:
            raise ValueError(f"canary.{stable}: canary model_id {canary!r} is the stable "
                             "model of a route; pick another model_id")
        if canary in seen:
            raise ValueError(f"canary.{stable}: canary model_id {canary!r} is also the canary "
                             f"of canary.{seen[canary]}")
        seen[canary] = stable
