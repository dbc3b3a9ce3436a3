"""Canary rollouts: a share of a stable model's requests goes to a canary model.

Per stable model id in runtime.yaml `canary:`. When the stable model loads,
its canary is loaded beside it (phase "loading"; requests keep going to
stable meanwhile), then routed to by stage (phase "active"): a request
whose key hashes below the stage's percentage goes to the canary, so a key
stays on its variant while the share grows. A stage advances once it has
seen `min_requests` canary requests over at least `min_healthy_s` (a refusal
counts only when it is the runtime's own fault, as a failure); after
the last stage the canary is "promoted" and keeps its share. Whenever the
canary's error rate or p99 TTFT breaks its rollback bounds (or its load
fails) it is "rolled_back": every request goes to stable again, and the
canary model is unloaded once its in-flight streams have ended. Every
phase change is sent as a `canary/update` notification.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from ..api.errors import ServingError
from ..api.messages import CanaryPhase, CanaryState, LoadModelResult
from ..engine.engine import Engine, ModelKind
from ..engine.stream import Served
from .buckets import in_rollout
from .flags import FlagSet
from .metrics import Metrics, StreamOutcome
from .notify import Notify
from .settings import CanaryConfig, canary_model_id
from .sketch import Distribution

log = logging.getLogger(__name__)

class CanaryRoute:
    """One stable model's canary: its phase, its stage and the health figures."""

    def __init__(self, stable_id: str, config: CanaryConfig, accuracy: float) -> None:
        self.stable_id = stable_id
        self.canary_id = canary_model_id(stable_id, config)
        self.config = config
        self.phase: CanaryPhase = "loading"
        self.stage = 0
        self.reason: str | None = None
        self._accuracy = accuracy
        # The stable model's TTFT since the canary started: the relative bound's base.
        self.stable_ttft = Distribution(accuracy)
        self._new_stage(time.monotonic())

    @property
    def percentage(self) -> float:
        return self.config.schedule[self.stage] if self.phase in ("active", "promoted") else 0.0

    def _new_stage(self, now: float) -> None:
        self.stage_started = now
        self.stage_requests = 0
        self.stage_failures = 0
        self.canary_ttft = Distribution(self._accuracy)

    def activate(self, now: float) -> None:
        self.phase = "active"
        self._new_stage(now)

    def record(self, outcome: StreamOutcome) -> None:
        if outcome.kind == "rejected" and not outcome.server_fault:
            return  # a refusal (OVERLOADED, a bad request, a flag) says nothing of health
        ttft = outcome.ttft_ms
        if outcome.model_id == self.canary_id:
            self.stage_requests += 1
            self.stage_failures += outcome.server_fault
            if ttft is not None:
                self.canary_ttft.add(ttft)
        elif ttft is not None:
            self.stable_ttft.add(ttft)

    def unhealthy(self) -> str | None:
        """Why the canary breaks its rollback bounds in this stage, if it does."""
        bounds, requests = self.config.rollback, self.stage_requests
        if requests < bounds.min_requests:
            return None
        error_rate = self.stage_failures / requests
        if error_rate > bounds.max_error_rate:
            return (f"error rate {error_rate:.2f} > {bounds.max_error_rate} over "
                    f"{requests} canary requests")
        p99 = self.canary_ttft.quantile(0.99)
        if p99 is None:
            return None
        if bounds.ttft_p99_ms is not None and p99 > bounds.ttft_p99_ms:
            return f"p99 TTFT {p99:.1f} ms > {bounds.ttft_p99_ms} ms"
        stable = self.stable_ttft.quantile(0.99)
        if (bounds.ttft_p99_ratio is not None and stable is not None
                and self.stable_ttft.count >= bounds.min_requests
                and p99 > bounds.ttft_p99_ratio * stable):
            return (f"p99 TTFT {p99:.1f} ms > {bounds.ttft_p99_ratio} x stable's "
                    f"{stable:.1f} ms")
        return None

    def advance(self, now: float) -> bool:
        """Next stage (or promotion) once this one has been healthy long enough."""
        config = self.config
        if (self.phase != "active" or self.stage_requests < config.min_requests
                or now - self.stage_started < config.min_healthy_s):
            return False
        if self.stage + 1 < len(config.schedule):
            self.stage += 1
            self._new_stage(now)
            self.reason = (f"advanced after {config.min_requests}+ healthy canary requests "
                           f"over {config.min_healthy_s:g}+ s")
        else:
            self.phase = "promoted"
            self.reason = "the last stage was healthy"
        return True

    def state(self) -> CanaryState:
        ttft, stable = self.canary_ttft.quantile(0.99), self.stable_ttft.quantile(0.99)
        return CanaryState(
            stable_model=self.stable_id, canary_model=self.canary_id,
            canary_source=self.config.model, state=self.phase, stage=self.stage,
            percentage=self.percentage, schedule=list(self.config.schedule),
            stage_requests=self.stage_requests, stage_failures=self.stage_failures,
            canary_ttft_p99_ms=None if ttft is None else round(ttft, 3),
            stable_ttft_p99_ms=None if stable is None else round(stable, 3),
            reason=self.reason)


class CanaryRouter:
    """Every configured route: routing decisions, canary loads and unloads, verdicts.

    Routing runs on the reader thread, outcomes arrive on the engine thread,
    ticks on the ops ticker, reloads on theirs: one lock guards it all.
    """

    def __init__(self, routes: dict[str, CanaryConfig], engine: Engine, metrics: Metrics,
                 flags: Callable[[], FlagSet], notify: Notify, accuracy: float) -> None:
        self._engine = engine
        self._metrics = metrics
        self._flags = flags
        self._notify = notify
        self._accuracy = accuracy
        self._configs = routes
        self._routes: dict[str, CanaryRoute] = {}  # by stable model id
        self._retiring: set[str] = set()  # canary ids to unload once their streams end
        self._lock = threading.RLock()

    # --- reader thread ------------------------------------------------------

    def route(self, model_id: str, key: str, flags: FlagSet) -> Served:
        route = self._routes.get(model_id)
        if route is not None and route.percentage > 0 and flags.enabled("canary", key):
            if in_rollout(f"canary:{model_id}", key, route.percentage):
                return Served(route.canary_id, "canary")
            return Served(model_id, "stable")
        canary = any(r.canary_id == model_id for r in list(self._routes.values()))
        return Served(model_id, "canary" if canary else "stable")

    def states(self) -> list[CanaryState]:
        with self._lock:
            return [route.state() for route in self._routes.values()]

    # --- configuration ------------------------------------------------------

    def configure(self, routes: dict[str, CanaryConfig]) -> None:
        """Apply a (re)loaded `canary:` section; unchanged routes keep their state."""
        with self._lock:
            for stable_id, route in list(self._routes.items()):
                config = routes.get(stable_id)
                if config == route.config:
                    continue
                same_model = config is not None and (
                    canary_model_id(stable_id, config), config.model) == (
                    route.canary_id, route.config.model)
                del self._routes[stable_id]
                self._end(route, "stopped", "removed by config/reload" if config is None
                          else "replaced by config/reload", unload=not same_model)
            self._configs = routes
            for stable_id, config in routes.items():
                if stable_id not in self._routes and self._engine.models.find(stable_id):
                    self._arm(stable_id, config)

    # --- engine thread ------------------------------------------------------

    def model_event(self, event: str, model_id: str) -> None:
        """Engine model listener: arm a route when its stable model loads, end it
        when either of its models is unloaded."""
        with self._lock:
            if event == "loaded":
                config = self._configs.get(model_id)
                if config is not None and model_id not in self._routes:
                    self._arm(model_id, config)
                return
            self._retiring.discard(model_id)
            route = self._routes.pop(model_id, None)
            if route is not None:
                self._end(route, "stopped", "the stable model was unloaded", unload=True)
            for route in list(self._routes.values()):
                if route.canary_id == model_id and route.phase == "loading":
                    self._load(route)  # its predecessor of the same id is gone now
                elif route.canary_id == model_id and route.phase != "rolled_back":
                    del self._routes[route.stable_id]
                    self._end(route, "stopped", "the canary model was unloaded", unload=False)

    def record(self, outcome: StreamOutcome) -> None:
        """Metrics listener: health figures, verdicts, and deferred unloads."""
        with self._lock:
            if outcome.model_id in self._retiring:
                self._unload_when_idle(outcome.model_id)
            for route in list(self._routes.values()):
                if outcome.model_id in (route.stable_id, route.canary_id) and route.phase in (
                        "active", "promoted"):
                    route.record(outcome)
                    self._judge(route, outcome.at)

    def tick(self, now: float) -> None:
        """Ops ticker: a stage may have become old enough without new requests."""
        with self._lock:
            for route in list(self._routes.values()):
                self._judge(route, now)

    # --- transitions --------------------------------------------------------

    def _arm(self, stable_id: str, config: CanaryConfig) -> None:
        route = self._routes[stable_id] = CanaryRoute(stable_id, config, self._accuracy)
        self._announce(route)
        if route.canary_id not in self._retiring:
            self._load(route)
        # else: the old canary of that id is unloaded once idle; model_event loads this one.

    def _load(self, route: CanaryRoute) -> None:
        log.info("loading canary %s of %s from %s", route.canary_id, route.stable_id,
                 route.config.model)
        stable = self._engine.models.find(route.stable_id)
        kind: ModelKind = "vision" if stable is not None and stable.is_vision else "text"
        self._engine.load(route.config.model, route.canary_id, kind).add_done_callback(
            lambda done: self._loaded(route, done))

    def _loaded(self, route: CanaryRoute, done: Future[LoadModelResult]) -> None:
        with self._lock:
            error = done.exception()
            if self._routes.get(route.stable_id) is not route or route.phase != "loading":
                if error is None:  # the route ended while its canary loaded
                    self._retire(route.canary_id)
                return
            if error is not None:
                message = error.message if isinstance(error, ServingError) else str(error)
                self._end(route, "rolled_back", f"the canary model failed to load: {message}",
                          unload=False)
                return
            route.activate(time.monotonic())
            route.reason = "loaded"
            self._announce(route)

    def _judge(self, route: CanaryRoute, now: float) -> None:
        if route.phase not in ("active", "promoted"):
            return
        flags = self._flags()
        problem = route.unhealthy() if flags.sub_enabled("canary", "auto_rollback") else None
        if problem is not None:
            self._end(route, "rolled_back", problem, unload=True)
        elif flags.sub_enabled("canary", "auto_advance") and route.advance(now):
            self._announce(route)

    def _end(self, route: CanaryRoute, phase: CanaryPhase, reason: str, unload: bool) -> None:
        route.phase, route.reason = phase, reason
        log.warning("canary %s of %s %s: %s", route.canary_id, route.stable_id,
                    phase.replace("_", " "), reason)
        self._announce(route)
        if unload:
            self._retire(route.canary_id)

    def _retire(self, canary_id: str) -> None:
        self._retiring.add(canary_id)
        self._unload_when_idle(canary_id)

    def _unload_when_idle(self, canary_id: str) -> None:
        # In-flight canary streams finish on the canary: nothing is dropped.
        if self._metrics.active_streams(canary_id) > 0:
            return
        if self._engine.models.find(canary_id) is None:
            self._retiring.discard(canary_id)
            self._load_waiting(canary_id)
            return
        self._engine.unload(canary_id)  # model_event("unloaded") follows

    def _load_waiting(self, canary_id: str) -> None:
        for route in self._routes.values():
            if route.canary_id == canary_id and route.phase == "loading":
                self._load(route)

    def _announce(self, route: CanaryRoute) -> None:
        self._notify("canary/update", route.state())
