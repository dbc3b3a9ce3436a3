"""SLOs over the metrics' sliding window: violations, recoveries, remediation.

Every `evaluate_interval_s` each SLO is checked for each model it covers (its
`model`, or every loaded model). A breach begins when the observed value
crosses the threshold and ends when it is back inside, or when the window
holds fewer than `min_samples` requests (the bad samples have aged out).
Each begin sends `qos/violation`, each end `qos/recovered`. While a breach
lasts its policy is in force: `shed` refuses the model's new requests with
OVERLOADED, `reduce_batch` lowers its max batch size, `alert` does nothing
more; under `dry_run` every policy only alerts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..api.messages import QosBreach, QosRecovered, QosRule, QosState, QosViolation
from .metrics import Metrics, TrafficStats
from .notify import Notify
from .settings import Policy, QosConfig, SloName, SloSpec

log = logging.getLogger(__name__)

# SLOs breached when the value falls below the threshold; the others, above it.
_LOWER_BOUNDS = frozenset({"min_tokens_per_s"})


def observe(slo: SloName, stats: TrafficStats, queue_depth: int,
            min_samples: int) -> tuple[float | None, int]:
    """(the SLO's value over the window, or None without enough data; sample count)."""
    if slo == "max_queue_depth":
        return float(queue_depth), queue_depth
    if slo == "error_rate":
        total = stats.total
        return (stats.error_rate if total >= min_samples else None), total
    name, quantile = {
        "ttft_p50_ms": ("ttft_ms", 0.5), "ttft_p95_ms": ("ttft_ms", 0.95),
        "ttft_p99_ms": ("ttft_ms", 0.99), "e2e_p99_ms": ("e2e_ms", 0.99),
        # Streams, not tokens, are the samples of the per-stream figures.
        "inter_token_p99_ms": ("inter_token_ms", 0.99), "min_tokens_per_s": ("tokens_per_s", 0.5),
    }[slo]
    distribution = getattr(stats, name)
    samples = stats.tokens_per_s.count if name == "inter_token_ms" else distribution.count
    return (distribution.quantile(quantile) if samples >= min_samples else None), samples


@dataclass
class _Breach:
    spec: SloSpec
    model_id: str
    observed: float
    since: float
    action: Policy


class QosEvaluator:
    def __init__(self, config: QosConfig, metrics: Metrics, notify: Notify,
                 loaded_models: Callable[[], list[str]],
                 remedies_changed: Callable[[str], None]) -> None:
        self._config = config
        self._metrics = metrics
        self._notify = notify
        self._loaded_models = loaded_models
        self._remedies_changed = remedies_changed
        self._breaches: dict[tuple[SloSpec, str], _Breach] = {}
        self._lock = threading.Lock()

    @property
    def config(self) -> QosConfig:
        return self._config

    def configure(self, config: QosConfig) -> None:
        """A reloaded config; breaches of SLOs it no longer has end at the next evaluation."""
        with self._lock:
            self._config = config

    # --- read from any thread ---------------------------------------------

    def shedding(self, model_id: str) -> _Breach | None:
        """The breach that makes this model refuse new requests, if any."""
        return next((breach for breach in list(self._breaches.values())
                     if breach.model_id == model_id and breach.action == "shed"), None)

    def reduces_batch(self, model_id: str) -> bool:
        return any(breach.model_id == model_id and breach.action == "reduce_batch"
                   for breach in list(self._breaches.values()))

    def state(self, now: float) -> QosState:
        breaches = list(self._breaches.values())
        return QosState(
            dry_run=self._config.dry_run, window_s=self._config.window_s,
            slos=len(self._config.slos),
            rules=[QosRule(slo=spec.slo, threshold=spec.threshold, policy=spec.policy,
                           model=spec.model) for spec in self._config.slos],
            breaches=[QosBreach(slo=b.spec.slo, model=b.model_id, observed=round(b.observed, 3),
                                threshold=b.spec.threshold, policy=b.spec.policy,
                                action=b.action, since_s=round(now - b.since, 3))
                      for b in breaches],
            shedding=sorted({b.model_id for b in breaches if b.action == "shed"}),
            batch_limits={},
        )

    # --- the evaluator thread ---------------------------------------------

    def evaluate(self, now: float) -> None:
        changed: set[str] = set()
        with self._lock:
            config = self._config
            loaded = self._loaded_models()
            covered: set[tuple[SloSpec, str]] = set()
            for spec in config.slos:
                for model_id in [spec.model] if spec.model else loaded:
                    key = (spec, model_id)
                    covered.add(key)
                    observed, samples = observe(spec.slo, self._metrics.window(model_id, now),
                                                self._metrics.queue_depth(model_id),
                                                config.min_samples)
                    if _breached(spec, observed):
                        assert observed is not None
                        self._breached(key, observed, samples, now, config, changed)
                    elif key in self._breaches:
                        self._recovered(key, observed, now, config, changed)
            for key in [key for key in self._breaches if key not in covered]:
                self._recovered(key, None, now, config, changed)
        for model_id in changed:
            self._remedies_changed(model_id)

    def _breached(self, key: tuple[SloSpec, str], observed: float, samples: int, now: float,
                  config: QosConfig, changed: set[str]) -> None:
        breach = self._breaches.get(key)
        if breach is not None:
            breach.observed = observed
            return
        spec, model_id = key
        action: Policy = "alert" if config.dry_run else spec.policy
        self._breaches[key] = _Breach(spec, model_id, observed, now, action)
        changed.add(model_id)
        log.warning("SLO %s breached on %s: %.3f vs %.3f (%s%s)", spec.slo, model_id, observed,
                    spec.threshold, action, ", dry run" if config.dry_run else "")
        self._notify("qos/violation", QosViolation(
            slo=spec.slo, model=model_id, observed=round(observed, 3), threshold=spec.threshold,
            window_s=config.window_s, samples=samples, policy=spec.policy, action=action,
            dry_run=config.dry_run))

    def _recovered(self, key: tuple[SloSpec, str], observed: float | None, now: float,
                   config: QosConfig, changed: set[str]) -> None:
        breach = self._breaches.pop(key)
        changed.add(breach.model_id)
        log.info("SLO %s on %s recovered after %.1f s", breach.spec.slo, breach.model_id,
                 now - breach.since)
        self._notify("qos/recovered", QosRecovered(
            slo=breach.spec.slo, model=breach.model_id,
            observed=None if observed is None else round(observed, 3),
            threshold=breach.spec.threshold, window_s=config.window_s, action=breach.action,
            duration_s=round(now - breach.since, 3)))


def _breached(spec: SloSpec, observed: float | None) -> bool:
    if observed is None:
        return False
    if spec.slo in _LOWER_BOUNDS:
        return observed < spec.threshold
    return observed > spec.threshold
