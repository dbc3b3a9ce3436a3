"""The ops layer as one object: what the handlers and app.py talk to.

It owns the metrics, the QoS evaluator, the canary router, the flags and
the Prometheus endpoint; admits generate requests (shedding, routing,
flags); answers metrics/get, metrics/prometheus, flags/get and
config/reload; and runs the ops ticker.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import cast

import msgspec
from msgspec import UNSET

from ..api.errors import ErrorCode, ServingError
from ..api.messages import (
    ConfigReloadResult,
    FlagsResult,
    FlagState,
    GenerateParams,
    MetricsSnapshot,
    PrometheusResult,
)
from ..config import RELOADABLE_SECTIONS, ConfigError, RuntimeConfig, load_config
from ..engine import batch_sizing
from ..engine.engine import Engine
from .admission import Admission
from .canary import CanaryRouter
from .flags import FeatureFlagsFile, FlagName, FlagSet, load_flags
from .metrics import Metrics
from .notify import Notify
from .prometheus import CONTENT_TYPE, PrometheusServer, render
from .qos import QosEvaluator
from .reload import changed_keys
from .ticker import Ticker

log = logging.getLogger(__name__)

# Part of a reloadable section that still applies only at start-up.
_START_UP_ONLY = ("metrics.relative_accuracy",)


class Ops:
    def __init__(self, config: RuntimeConfig, config_path: Path, flags: FeatureFlagsFile,
                 flags_path: Path, engine: Engine, notify: Notify) -> None:
        self._config = config
        self._config_path = config_path
        self._flags = FlagSet(flags)
        self._flags_path = flags_path
        self._engine = engine
        accuracy = config.metrics.relative_accuracy
        self.metrics = Metrics(config.qos.window_s, accuracy)
        self.qos = QosEvaluator(config.qos, self.metrics, notify, self._loaded_models,
                                self._apply_batch_limit)
        self.canary = CanaryRouter(config.canary, engine, self.metrics, lambda: self._flags,
                                   notify, accuracy)
        self._prometheus = PrometheusServer(self.snapshot)
        self._ticker = Ticker(self._tick, lambda: self._config.qos.evaluate_interval_s)
        self._reload_lock = threading.Lock()
        self.metrics.listeners.append(self.canary.record)
        engine.model_listeners.append(self._model_event)

    def start(self) -> None:
        self._ticker.start()
        self._prometheus.apply(self._config.metrics.prometheus)

    def stop(self) -> None:
        self._ticker.stop()
        self._prometheus.stop()

    # --- generate -----------------------------------------------------------

    def admit(self, params: GenerateParams, model_id: str) -> Admission:
        """Route a generate request for `model_id` and check it may run; raises
        OVERLOADED while its model sheds load."""
        key = next((value for value in (params.request_key, params.stream_id)
                    if value is not UNSET), None) or secrets.token_hex(8)
        flags = self._flags
        served = self.canary.route(model_id, key, flags)
        admission = Admission(served, key, flags, self.metrics,
                              self._config.debug.faults_for(served.model_id))
        error = self._refusal(params, admission)
        if error is not None:
            admission.rejected(error)
            raise served.attribute(error)
        return admission

    def _refusal(self, params: GenerateParams, admission: Admission) -> ServingError | None:
        """Why the request may not run now: its model sheds load, or it asks for a
        feature a flag turns off for it (refused, never silently ignored)."""
        breach = self.qos.shedding(admission.model_id)
        if breach is not None:
            return ServingError(
                ErrorCode.OVERLOADED,
                f"model {admission.model_id!r} is shedding load: SLO {breach.spec.slo} is "
                f"breached ({breach.observed:.3f} against {breach.spec.threshold:g} over the "
                f"last {self._config.qos.window_s:g} s); retry later", slo=breach.spec.slo)
        if params.guidance is not UNSET:
            mode = str(params.guidance.__struct_config__.tag)
            if admission.flags.file.kill_switch:
                flag = "kill_switch"
            elif not admission.enabled("guidance"):
                flag = "guidance"
            elif not admission.flags.sub_enabled("guidance", mode, admission.key):
                flag = f"guidance.sub_flags.{mode}"
            else:
                return None
            return ServingError(ErrorCode.UNSUPPORTED,
                                f"structured output ({mode}) is turned off for this request by "
                                f"the feature flag `{flag}` in {self._flags_path}", flag=flag)
        return None

    # --- wire methods -------------------------------------------------------

    def snapshot(self, model: str | None = None) -> MetricsSnapshot:
        now = time.monotonic()
        model_ids = self.metrics.model_ids()
        if model is not None:
            if model not in model_ids:
                known = ", ".join(sorted(model_ids)) or "none"
                raise ServingError(ErrorCode.MODEL_NOT_LOADED,
                                   f"no metrics for model {model!r} (models: {known})", model=model)
            model_ids = [model]
        return MetricsSnapshot(
            uptime_s=round(self._engine.uptime_s, 3),
            window_s=self.metrics.window_s,
            overall=self.metrics.overall(now),
            models=self.metrics.model_metrics(model_ids, now),
            rpc_errors_by_code=self.metrics.rpc_errors(),
            qos=msgspec.structs.replace(self.qos.state(now),
                                       batch_limits=self._engine.batch_limits.all()),
            canary=self.canary.states(),
        )

    def prometheus(self) -> PrometheusResult:
        return PrometheusResult(content_type=CONTENT_TYPE, text=render(self.snapshot))

    def flags_state(self, key: str | None) -> FlagsResult:
        flags = self._flags
        states = {}
        for name in flags.file.flags.__struct_fields__:
            flag = flags.flag(cast(FlagName, name))  # the fields of Flags are the flag names
            sub_flags = getattr(flag, "sub_flags", None)
            states[name] = FlagState(
                enabled=flag.enabled and not flags.file.kill_switch,
                rollout_percentage=flag.rollout_percentage,
                sub_flags=msgspec.to_builtins(sub_flags) if sub_flags is not None else {},
                on_for_key=UNSET if key is None else flags.enabled(cast(FlagName, name), key))
        return FlagsResult(path=str(self._flags_path), kill_switch=flags.file.kill_switch,
                           flags=states)

    def reload(self) -> ConfigReloadResult:
        """Re-read runtime.yaml and the flags file and apply what may change while
        serving; a bad file changes nothing. In-flight streams are untouched."""
        with self._reload_lock:
            try:
                runtime = load_config(self._config_path)
                flags = load_flags(self._flags_path)
            except ConfigError as exc:
                raise ServingError(ErrorCode.CONFIG_INVALID,
                                   f"config not reloaded, the running config stays: {exc}") from None
            old = self._config
            changed: list[str] = []
            restart_required: list[str] = []
            for section in msgspec.structs.fields(RuntimeConfig):
                keys = changed_keys(getattr(old, section.name), getattr(runtime, section.name),
                                    section.name)
                for key in keys:
                    start_up_only = (section.name not in RELOADABLE_SECTIONS
                                     or key.startswith(_START_UP_ONLY))
                    (restart_required if start_up_only else changed).append(key)
            flags_changed = changed_keys(self._flags.file, flags)
            applied = msgspec.structs.replace(
                old, qos=runtime.qos, canary=runtime.canary, debug=runtime.debug,
                metrics=msgspec.structs.replace(runtime.metrics,
                                                relative_accuracy=old.metrics.relative_accuracy))
            self._apply(applied, FlagSet(flags))
            warning = self._prometheus.apply(applied.metrics.prometheus)
            log.info("config reloaded: %s", ", ".join(changed + flags_changed) or "no change")
            return ConfigReloadResult(
                config_path=str(self._config_path), flags_path=str(self._flags_path),
                changed=changed, flags_changed=flags_changed,
                restart_required=restart_required, warnings=[warning] if warning else [])

    def reload_logged(self) -> None:
        """SIGHUP: reload, and say how it went in the log (there is no one to answer)."""
        try:
            self.reload()
        except ServingError as exc:
            log.error("%s", exc.message)

    # --- internals ----------------------------------------------------------

    def _apply(self, config: RuntimeConfig, flags: FlagSet) -> None:
        self._config, self._flags = config, flags
        self.metrics.set_window(config.qos.window_s)
        self.qos.configure(config.qos)
        self.canary.configure(config.canary)
        for model_id in self._loaded_models():
            self._apply_batch_limit(model_id)

    def _loaded_models(self) -> list[str]:
        return [model.model_id for model in self._engine.models.all()]

    def _model_event(self, event: str, model_id: str) -> None:
        if event == "loaded":
            self.metrics.track(model_id)
            self._apply_batch_limit(model_id)
        self.canary.model_event(event, model_id)

    def _apply_batch_limit(self, model_id: str) -> None:
        """The model's max batch size: 1 with the batching flag off for it, lowered
        by a reduce_batch breach, else the config's."""
        limits = []
        if not self._flags.enabled("batching", model_id):
            limits.append(1)
        if self.qos.reduces_batch(model_id):
            factor = self._config.qos.reduce_batch_factor
            limits.append(max(1, int(self._batch_size(model_id) * factor)))
        limit = min(limits, default=None)
        if self._engine.batch_limits.set(model_id, limit):
            log.info("max batch size of %s: %s", model_id, limit or "as configured")

    def _batch_size(self, model_id: str) -> int:
        """The model's own max batch size: the config's, or the one chosen at load."""
        model = self._engine.models.find(model_id)
        chosen = model.max_batch_size if model else batch_sizing.CPU_SIZE
        return batch_sizing.batch_size_of(self._config.batching, chosen)

    def _tick(self, now: float) -> None:
        self.qos.evaluate(now)
        self.canary.tick(now)
