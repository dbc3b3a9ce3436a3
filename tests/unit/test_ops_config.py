"""config/feature-flags.yaml and the ops sections of runtime.yaml: the shipped
files load, bad values are refused naming the key, flags evaluate as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlx_serving.api.messages import GenerationStats
from mlx_serving.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from mlx_serving.ops.canary import CanaryRoute
from mlx_serving.ops.flags import DEFAULT_FLAGS_PATH, FeatureFlagsFile, FlagSet, load_flags
from mlx_serving.ops.metrics import StreamOutcome
from mlx_serving.ops.settings import CanaryConfig

_STATS = GenerationStats(prompt_tokens=3, cached_tokens=0, generated_tokens=4, ttft_ms=10,
                         tokens_per_second=50, total_ms=80)


def test_canary_defaults_progress_1_10_50_100_then_promote() -> None:
    config = CanaryConfig(model="models/x")
    assert config.schedule == [1, 10, 50, 100]
    assert config.rollback.min_requests <= config.min_requests  # the defaults validate
    route = CanaryRoute("m", config, 0.01)
    route.activate(now=0.0)
    seen, now = [route.percentage], 0.0
    while route.phase == "active":
        for _ in range(config.min_requests):
            route.record(StreamOutcome("m@canary", "completed", stats=_STATS))
            assert route.unhealthy() is None
        assert not route.advance(now + config.min_healthy_s - 1)  # not healthy long enough
        now += config.min_healthy_s
        assert route.advance(now)
        seen.append(route.percentage)
    assert route.phase == "promoted" and seen == [1, 10, 50, 100, 100]


def test_shipped_files_hold_the_defaults() -> None:
    assert load_flags(DEFAULT_FLAGS_PATH) == FeatureFlagsFile()
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.qos.slos == [] and config.canary == {}
    assert not config.metrics.prometheus.http_enabled
    assert config.debug.faults == {} and config.debug.inject_token_delay_ms == 0


@pytest.mark.parametrize(("text", "named"), [
    ("flags:\n  promt_cache: {enabled: true}\n", "promt_cache"),
    ("flags:\n  canary: {rollout_percentage: 150}\n", "rollout_percentage"),
    ("flags:\n  canary: {rollout_percentage: -1}\n", "rollout_percentage"),
    ("flags:\n  batching: {enabled: sometimes}\n", "enabled"),
    ("flags:\n  canary: {sub_flags: {auto_advence: false}}\n", "auto_advence"),
    ("kill_swich: true\n", "kill_swich"),
    ("flags: [1, 2]\n", "$.flags"),
])
def test_bad_flags_are_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named.replace("$", r"\$")):
        load_flags(path)


@pytest.mark.parametrize(("text", "named"), [
    ("canary:\n  tiny: {model: x, schedule: [10, 5]}\n", "must rise"),
    ("canary:\n  tiny: {model: x, schedule: [10, 500]}\n", "schedule"),
    ("canary:\n  tiny: {schedule: [10]}\n", "model"),
    ("canary:\n  tiny: {model: x, min_requests: 5, rollback: {min_requests: 6}}\n",
     r"canary.tiny.rollback.min_requests \(6\) must be <= canary.tiny.min_requests \(5\)"),
    ("canary:\n  tiny: {model: x, rollback: {min_requests: 21}}\n",
     r"canary.tiny.rollback.min_requests \(21\) must be <= canary.tiny.min_requests \(20\)"),
    ("canary:\n  a: {model: x, model_id: b}\n  b: {model: y}\n", "is the stable model"),
    ("canary:\n  a: {model: x, model_id: c}\n  b: {model: y, model_id: c}\n", "also the canary"),
    ("qos:\n  slos: [{slo: ttft_p100_ms, threshold: 1}]\n", "slo"),
    ("qos:\n  slos: [{slo: error_rate, threshold: 0.1, policy: panic}]\n", "policy"),
    ("qos:\n  window_s: 0\n", "window_s"),
    ("metrics:\n  prometheus: {host: 0.0.0.0}\n", "host"),
    ("debug:\n  faults: {tiny: {error_rate: 2}}\n", "error_rate"),
])
def test_bad_ops_config_is_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "runtime.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named):
        load_config(path)


def _flags(text: str, tmp_path: Path) -> FlagSet:
    path = tmp_path / "flags.yaml"
    path.write_text(text)
    return FlagSet(load_flags(path))


def test_flag_evaluation(tmp_path: Path) -> None:
    keys = [f"k{n}" for n in range(1000)]
    half = _flags("flags:\n  canary: {rollout_percentage: 50}\n", tmp_path)
    on = [key for key in keys if half.enabled("canary", key)]
    assert abs(len(on) - 500) <= 30
    assert on == [key for key in keys if half.enabled("canary", key)]  # deterministic
    assert all(half.enabled("batching", key) for key in keys)
    off = _flags("flags:\n  canary: {enabled: false}\n", tmp_path)
    assert not any(off.enabled("canary", key) for key in keys)
    killed = _flags("kill_switch: true\n", tmp_path)
    assert not any(killed.enabled(name, "k") for name in ("canary", "batching"))
    sub = _flags("flags:\n  canary: {sub_flags: {auto_rollback: false}}\n", tmp_path)
    assert sub.sub_enabled("canary", "auto_advance", "k")
    assert not sub.sub_enabled("canary", "auto_rollback", "k")
