"""The ops layer's pure parts: hash buckets, sketches, windows, SLO statistics,
canary stages, config diffs."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from mlx_serving.api.messages import GenerationStats
from mlx_serving.ops import observe as observe_module
from mlx_serving.ops.buckets import in_rollout, percent_bucket
from mlx_serving.ops.canary import CanaryRoute
from mlx_serving.ops.metrics import Metrics, SlidingWindow, StreamOutcome, TrafficStats
from mlx_serving.ops.observe import MeteredSink
from mlx_serving.ops.qos import observe
from mlx_serving.ops.reload import changed_keys
from mlx_serving.ops.settings import CanaryConfig, CanaryRollback, QosConfig
from mlx_serving.ops.sketch import Distribution

KEYS = [f"user-{n}" for n in range(1000)]


@pytest.mark.parametrize("percentage", [1, 10, 25, 50, 90])
def test_split_ratio_over_1000_keys(percentage: float) -> None:
    share = sum(in_rollout("canary:tiny", key, percentage) for key in KEYS) / 10
    assert abs(share - percentage) <= 3


def test_buckets_are_sticky_monotonic_and_salted() -> None:
    assert [percent_bucket("a", k) for k in KEYS] == [percent_bucket("a", k) for k in KEYS]
    inside_10 = {k for k in KEYS if in_rollout("a", k, 10)}
    assert inside_10 <= {k for k in KEYS if in_rollout("a", k, 50)}
    assert inside_10 != {k for k in KEYS if in_rollout("b", k, 10)}
    assert all(0 <= percent_bucket("a", k) < 100 for k in KEYS)
    assert not any(in_rollout("a", k, 0) for k in KEYS)
    assert all(in_rollout("a", k, 100) for k in KEYS)


def test_distribution_quantiles_within_the_relative_accuracy() -> None:
    rng = random.Random(1)
    values = sorted(rng.lognormvariate(3, 1) for _ in range(20000))
    dist = Distribution(0.01)
    for value in values:
        dist.add(value)
    for q in (0.5, 0.95, 0.99):
        exact = values[int(q * (len(values) - 1))]
        assert dist.quantile(q) == pytest.approx(exact, rel=0.02)
    summary = dist.summary()
    assert summary.count == 20000 and summary.min == round(values[0], 3)
    assert summary.max == round(values[-1], 3)
    assert Distribution(0.01).summary().p99 is None


def _completed(model: str, ttft: float, tps: float, tokens: int = 11, at: float = 0.0,
               kind: str = "completed", code: str | None = None) -> StreamOutcome:
    stats = GenerationStats(prompt_tokens=3, cached_tokens=1, generated_tokens=tokens, ttft_ms=ttft,
                            tokens_per_second=tps, total_ms=ttft + 100)
    gaps = np.full(tokens - 1, 1000.0 / tps)  # evenly spaced tokens
    return StreamOutcome(model, kind, error_code=code, stats=stats, at=at,  # type: ignore[arg-type]
                         inter_token_ms=gaps)


def test_traffic_stats_record_what_each_outcome_says() -> None:
    stats = TrafficStats(0.01)
    stats.record(_completed("m", 10, 100))  # 10 gaps of 10 ms
    stats.record(_completed("m", 20, 50, kind="cancelled"))
    stats.record(_completed("m", 30, 50, kind="failed", code="GENERATION_FAILED"))
    stats.record(StreamOutcome("m", "rejected", error_code="CONTEXT_LENGTH_EXCEEDED"))
    wire = stats.to_wire()
    assert (wire.requests.total, wire.requests.completed, wire.requests.cancelled,
            wire.requests.failed, wire.requests.rejected) == (4, 1, 1, 1, 1)
    assert wire.errors_by_code == {"CONTEXT_LENGTH_EXCEEDED": 1, "GENERATION_FAILED": 1}
    assert wire.error_rate == 0.25  # only the runtime's own fault counts
    assert wire.ttft_ms.count == 3  # every stream that produced a token
    assert wire.e2e_ms.count == 1 and wire.tokens_per_s.count == 1  # completed streams only
    assert wire.inter_token_ms.count == 10
    assert wire.inter_token_ms.p50 == pytest.approx(10, rel=0.02)
    assert wire.generated_tokens == 33 and wire.cached_tokens == 3


def test_inter_token_gaps_keep_a_stall_inside_a_stream() -> None:
    stats = TrafficStats(0.01)
    for _ in range(2):  # two streams of 40 gaps of 10 ms, each with one 500 ms stall
        gaps = np.full(40, 10.0)
        gaps[20] = 500.0
        stats.record(StreamOutcome("m", "completed", at=0.0, inter_token_ms=gaps, stats=(
            GenerationStats(prompt_tokens=1, cached_tokens=0, generated_tokens=41, ttft_ms=5,
                            tokens_per_second=41 / 0.89, total_ms=900))))
    wire = stats.to_wire().inter_token_ms
    assert wire.count == 80 and (wire.min, wire.max) == (10.0, 500.0)
    assert wire.p50 == pytest.approx(10, rel=0.02)
    assert wire.p99 == pytest.approx(500, rel=0.02)  # a per-stream mean (22 ms) would hide it
    assert wire.mean == pytest.approx((78 * 10 + 2 * 500) / 80, rel=0.01)


def test_distribution_add_many_matches_one_by_one() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.lognormal(2, 0.5, 5000), [0.0, 0.0]])
    many, single = Distribution(0.01), Distribution(0.01)
    many.add_many(values)
    for value in values:
        single.add(float(value))
    assert many.count == single.count == 5002
    for q in (0.01, 0.5, 0.95, 0.99):
        assert many.quantile(q) == pytest.approx(single.quantile(q), rel=1e-9)  # same buckets
    assert (many.summary().min, many.summary().max) == (single.summary().min, single.summary().max)


def test_sliding_window_forgets_old_slices() -> None:
    window = SlidingWindow(window_s=10, relative_accuracy=0.01)
    window.record(_completed("m", 500, 10, at=100.0))
    window.record(_completed("m", 5, 10, at=105.0))
    assert window.merged(106.0).ttft_ms.count == 2
    assert window.merged(111.0).ttft_ms.count == 1  # the first slice aged out
    assert window.merged(200.0).total == 0


def test_slo_statistics_need_enough_samples() -> None:
    stats = TrafficStats(0.01)
    for ttft in (10, 20, 30):
        stats.record(_completed("m", ttft, 40))
    assert observe("ttft_p99_ms", stats, 0, min_samples=4) == (None, 3)
    value, samples = observe("ttft_p50_ms", stats, 0, min_samples=3)
    assert samples == 3 and value == pytest.approx(20, rel=0.02)
    assert observe("min_tokens_per_s", stats, 0, 3)[0] == pytest.approx(40, rel=0.02)
    assert observe("max_queue_depth", stats, 7, 3) == (7.0, 7)
    assert observe("error_rate", stats, 0, 3) == (0.0, 3)


def _route(**overrides) -> CanaryRoute:
    config = CanaryConfig(model="models/x", schedule=[10, 50, 100], min_requests=3,
                          min_healthy_s=0, rollback=CanaryRollback(min_requests=2, **overrides))
    route = CanaryRoute("m", config, 0.01)
    route.activate(now=0.0)
    return route


def test_canary_route_advances_stage_by_stage_then_promotes() -> None:
    route = _route()
    assert route.canary_id == "m@canary" and route.percentage == 10
    for stage_percentage in (50, 100):
        for _ in range(3):
            assert route.unhealthy() is None
            assert not route.advance(now=1.0)
            route.record(_completed("m@canary", 10, 50))
        assert route.advance(now=1.0) and route.percentage == stage_percentage
    for _ in range(3):
        route.record(_completed("m@canary", 10, 50))
    assert route.advance(now=1.0) and route.phase == "promoted" and route.percentage == 100


def test_canary_refusals_are_not_healthy_requests() -> None:
    route = _route()
    for code in ("OVERLOADED", "INVALID_PARAMS", "UNSUPPORTED", "CONTEXT_LENGTH_EXCEEDED"):
        route.record(StreamOutcome("m@canary", "rejected", error_code=code))
    assert (route.stage_requests, route.stage_failures) == (0, 0)
    assert not route.advance(now=1.0) and route.percentage == 10
    # A refusal by the runtime's own fault counts, as a failure.
    route.record(StreamOutcome("m@canary", "rejected", error_code="INTERNAL_ERROR"))
    assert (route.stage_requests, route.stage_failures) == (1, 1)


def test_canary_route_min_healthy_time() -> None:
    route = _route()
    route.config = CanaryConfig(model="x", schedule=[10, 100], min_requests=1, min_healthy_s=30)
    route.record(_completed("m@canary", 10, 50))
    assert not route.advance(now=29.0) and route.advance(now=31.0)


def test_canary_route_rollback_bounds() -> None:
    failing = _route()
    failing.record(_completed("m@canary", 10, 50, kind="failed", code="GENERATION_FAILED"))
    assert failing.unhealthy() is None  # below rollback.min_requests
    failing.record(_completed("m@canary", 10, 50))
    assert "error rate 0.50" in (failing.unhealthy() or "")

    slow = _route(ttft_p99_ratio=2.0)
    for _ in range(3):
        slow.record(_completed("m", 10, 50))  # stable
        slow.record(_completed("m@canary", 100, 50))
    assert "x stable's" in (slow.unhealthy() or "")

    absolute = _route(ttft_p99_ms=50.0, ttft_p99_ratio=None)
    for _ in range(2):
        absolute.record(_completed("m@canary", 80, 50))
    assert "> 50.0 ms" in (absolute.unhealthy() or "")


def test_changed_keys_names_dotted_paths() -> None:
    old = QosConfig(window_s=60)
    new = QosConfig(window_s=30, dry_run=True)
    assert changed_keys(old, new, "qos") == ["qos.dry_run", "qos.window_s"]
    assert changed_keys({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["a.c"]
    assert changed_keys(old, old) == []


def test_qos_evaluator_breach_recovery_and_removal() -> None:
    from mlx_serving.ops.metrics import Metrics
    from mlx_serving.ops.qos import QosEvaluator
    from mlx_serving.ops.settings import SloSpec

    metrics = Metrics(window_s=10, relative_accuracy=0.01)
    metrics.track("m")
    sent: list[tuple[str, object]] = []
    changed: list[str] = []
    slo = SloSpec(slo="ttft_p50_ms", threshold=100, policy="shed")
    config = QosConfig(window_s=10, min_samples=2, slos=[slo])
    qos = QosEvaluator(config, metrics, lambda method, params: sent.append((method, params)),
                       lambda: ["m"], changed.append)
    for _ in range(2):
        metrics.record(_completed("m", 500, 10, at=100.0))
    qos.evaluate(101.0)
    qos.evaluate(102.0)  # still breached: no second notification
    assert [method for method, _ in sent] == ["qos/violation"] and changed == ["m"]
    assert qos.shedding("m") is not None and qos.shedding("other") is None
    qos.evaluate(111.0)  # the slow samples aged out of the window
    method, recovered = sent[-1]
    assert method == "qos/recovered" and recovered.observed is None  # type: ignore[attr-defined]
    assert qos.shedding("m") is None

    for _ in range(2):
        metrics.record(_completed("m", 500, 10, at=120.0))
    qos.configure(QosConfig(window_s=10, min_samples=2, dry_run=True, slos=[slo]))
    qos.evaluate(121.0)
    assert sent[-1][1].action == "alert" and qos.shedding("m") is None  # type: ignore[attr-defined]
    qos.configure(QosConfig(window_s=10))  # the SLO removed by a reload
    qos.evaluate(122.0)
    assert sent[-1][0] == "qos/recovered" and not qos.state(122.0).breaches


def test_metered_gaps_leave_out_the_time_a_stream_was_paused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.000, 0.010, 0.020,  # three tokens
                  2.000, 2.005, 2.015,  # resumed after a 2 s pause; two tokens
                  3.000, 4.000, 4.010])  # paused twice without a token between; one token
    monkeypatch.setattr(observe_module, "perf_counter", lambda: next(clock))
    metrics = Metrics(window_s=60.0, relative_accuracy=0.01)
    outcomes: list[StreamOutcome] = []
    metrics.listeners.append(outcomes.append)
    inner: Any = _Ignore()
    sink = MeteredSink(inner, metrics, "m")
    sink.accepted("s")
    sink.resumed("s")  # before the first token: no gap clock runs yet, no clock read
    for _ in range(3):
        sink.tokens("s", [])
    sink.resumed("s")
    for _ in range(2):
        sink.tokens("s", [])
    sink.resumed("s")
    sink.resumed("s")
    sink.tokens("s", [])
    sink.end("s", "length", GenerationStats(prompt_tokens=1, cached_tokens=0,
                                            generated_tokens=6, ttft_ms=1.0,
                                            tokens_per_second=1.0, total_ms=4010.0))
    (outcome,) = outcomes
    assert outcome.inter_token_ms is not None
    assert outcome.inter_token_ms.tolist() == pytest.approx([10.0, 10.0, 5.0, 10.0, 10.0])


class _Ignore:
    def __getattr__(self, _: str) -> Any:
        return lambda *args: None
