"""The metrics snapshot in the Prometheus text format (0.0.4), by method and,
when enabled in config, over HTTP on a loopback address.

prometheus_client does the formatting and serving; a collector turns each
scrape into families built from `metrics/get`'s snapshot. Summaries give
the window's quantiles (as Prometheus summaries do) with lifetime _count
and _sum. Series carry a `model` label; `model="*"` is every model together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from ..api.messages import LatencySummary, MetricsSnapshot, ModelMetrics
from .settings import PrometheusConfig

log = logging.getLogger(__name__)

PREFIX = "mlx_serving"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ALL_MODELS = "*"

# (snapshot field, metric name, help, scale to base units)
_SUMMARIES = (
    ("ttft_ms", "ttft_seconds", "Time from request to first token.", 1e-3),
    ("inter_token_ms", "inter_token_seconds",
     "Gap between tokens (each stream's mean gap, weighted by its tokens).", 1e-3),
    ("e2e_ms", "e2e_seconds", "Time from request to the end of a completed stream.", 1e-3),
    ("tokens_per_s", "stream_tokens_per_second", "Decode rate of completed streams.", 1.0),
)


class SnapshotCollector:
    """A prometheus_client collector over the ops snapshot."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snap = self._snapshot()
        models = {ALL_MODELS: snap.overall, **snap.models}

        uptime = GaugeMetricFamily(f"{PREFIX}_uptime_seconds", "Seconds since start-up.")
        uptime.add_metric([], snap.uptime_s)
        yield uptime

        requests = CounterMetricFamily(f"{PREFIX}_requests", "Generate requests that ended, "
                                       "by outcome.", labels=["model", "outcome"])
        prompt = CounterMetricFamily(f"{PREFIX}_prompt_tokens", "Prompt tokens of ended "
                                     "requests.", labels=["model"])
        cached = CounterMetricFamily(f"{PREFIX}_cached_prompt_tokens", "Prompt tokens whose "
                                     "KV came from the prompt cache.", labels=["model"])
        generated = CounterMetricFamily(f"{PREFIX}_generated_tokens", "Tokens generated.",
                                        labels=["model"])
        errors = CounterMetricFamily(f"{PREFIX}_errors", "Failed generate requests, by "
                                     "data.code.", labels=["model", "code"])
        active = GaugeMetricFamily(f"{PREFIX}_active_streams", "Streams in flight.",
                                   labels=["model"])
        queued = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Accepted streams waiting for "
                                   "their first token.", labels=["model"])
        for model_id, metrics in models.items():
            counts = metrics.lifetime.requests
            for outcome in ("completed", "cancelled", "failed", "rejected"):
                requests.add_metric([model_id, outcome], getattr(counts, outcome))
            prompt.add_metric([model_id], metrics.lifetime.prompt_tokens)
            cached.add_metric([model_id], metrics.lifetime.cached_tokens)
            generated.add_metric([model_id], metrics.lifetime.generated_tokens)
            for code, count in metrics.lifetime.errors_by_code.items():
                errors.add_metric([model_id, code], count)
            active.add_metric([model_id], metrics.active_streams)
            queued.add_metric([model_id], metrics.queue_depth)
        yield from (requests, prompt, cached, generated, errors, active, queued)
        yield from _summaries(models)

        rpc_errors = CounterMetricFamily(f"{PREFIX}_rpc_errors", "Error responses of any "
                                         "method and stream errors, by data.code.",
                                         labels=["code"])
        for code, count in snap.rpc_errors_by_code.items():
            rpc_errors.add_metric([code], count)
        yield rpc_errors

        breaches = GaugeMetricFamily(f"{PREFIX}_qos_breach", "1 while an SLO is breached.",
                                     labels=["slo", "model", "action"])
        for breach in snap.qos.breaches:
            breaches.add_metric([breach.slo, breach.model, breach.action], 1)
        yield breaches

        canary = GaugeMetricFamily(f"{PREFIX}_canary_percentage", "Share of request keys "
                                   "routed to a canary.", labels=["stable", "canary", "state"])
        for route in snap.canary:
            canary.add_metric([route.stable_model, route.canary_model, route.state],
                              route.percentage)
        yield canary


def _summaries(models: dict[str, ModelMetrics]) -> Iterator[Any]:
    # prometheus_client's SummaryMetricFamily has no quantiles: build the
    # family from its generic Metric, as that class does itself.
    from prometheus_client.metrics_core import Metric

    for field, name, documentation, scale in _SUMMARIES:
        family = Metric(f"{PREFIX}_{name}", documentation, "summary")
        for model_id, metrics in models.items():
            window: LatencySummary = getattr(metrics.window, field)
            lifetime: LatencySummary = getattr(metrics.lifetime, field)
            for quantile, field_name in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
                value = getattr(window, field_name)
                if value is not None:
                    family.add_sample(family.name, {"model": model_id, "quantile": quantile},
                                      value * scale)
            family.add_sample(f"{family.name}_count", {"model": model_id}, lifetime.count)
            family.add_sample(f"{family.name}_sum", {"model": model_id},
                              (lifetime.mean or 0.0) * lifetime.count * scale)
        yield family


def _registry(snapshot: Callable[[], MetricsSnapshot]) -> Any:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return registry


def render(snapshot: Callable[[], MetricsSnapshot]) -> str:
    from prometheus_client import generate_latest

    return generate_latest(_registry(snapshot)).decode()


class PrometheusServer:
    """The optional HTTP endpoint (GET any path: the text exposition)."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self._snapshot = snapshot
        self._server: Any = None
        self.config: PrometheusConfig | None = None

    def apply(self, config: PrometheusConfig) -> str | None:
        """Start, stop or move the server to match `config`; a message if it cannot bind."""
        wanted = config if config.http_enabled else None
        if wanted == self.config:
            return None
        self.stop()
        if wanted is None:
            return None
        from prometheus_client import start_http_server

        try:
            self._server, _ = start_http_server(config.port, addr=config.host,
                                                registry=_registry(self._snapshot))
        except OSError as exc:
            message = (f"metrics.prometheus: cannot serve on {config.host}:{config.port}: "
                       f"{exc.strerror or exc}")
            log.error("%s", message)
            return message
        self.config = wanted
        log.info("prometheus metrics on http://%s:%d/metrics", config.host, config.port)
        return None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server, self.config = None, None
