"""The engine's options: checked up front (a mistake is INVALID_OPTIONS naming
what was expected and what was given), defaults filled in."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import EngineError, describe_value
from .events import check_event
from .supervisor import RestartPolicy

# The runtime script beside this package (python/runtime.py).
DEFAULT_RUNTIME_PATH = str(Path(__file__).resolve().parents[2] / "runtime.py")


@dataclass(frozen=True)
class EngineOptions:
    python_path: str
    runtime_path: str
    config_path: str | None
    flags_path: str | None
    cwd: str
    env: dict[str, str]
    verbose: bool
    request_timeout: float | None
    start_timeout: float
    wait_for_preload: bool
    force_kill_after: float
    restart: RestartPolicy
    high_water_mark: int
    on: dict[str, Callable[[Any], None]]


def resolve_options(*, python_path: str | None, runtime_path: str | None, config_path: str | None,
                    flags_path: str | None, cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None,
                    verbose: bool, request_timeout: float | None, start_timeout: float,
                    wait_for_preload: bool, force_kill_after: float,
                    restart: bool | RestartPolicy | Mapping[str, float], high_water_mark: int,
                    on: Mapping[str, Callable[[Any], None]] | None) -> EngineOptions:
    return EngineOptions(
        python_path=_text("python_path", python_path or os.environ.get("MLX_SERVING_PYTHON") or sys.executable),
        runtime_path=_text("runtime_path", runtime_path or DEFAULT_RUNTIME_PATH),
        config_path=None if config_path is None else _text("config_path", os.fspath(config_path)),
        flags_path=None if flags_path is None else _text("flags_path", os.fspath(flags_path)),
        cwd=_text("cwd", os.fspath(cwd) if cwd is not None else os.getcwd()),
        env=_strings("env", env or {}),
        verbose=_flag("verbose", verbose),
        request_timeout=None if request_timeout is None else _seconds("request_timeout", request_timeout),
        start_timeout=_seconds("start_timeout", start_timeout),
        wait_for_preload=_flag("wait_for_preload", wait_for_preload),
        force_kill_after=_seconds("force_kill_after", force_kill_after, allow_zero=True),
        restart=_restart_policy(restart),
        high_water_mark=_positive_int("high_water_mark", high_water_mark),
        on=_listeners(on or {}),
    )


def call_timeout(timeout: float | None, default: float | None) -> float | None:
    """A call's own time limit (None: the engine's request_timeout)."""
    return default if timeout is None else _seconds("timeout", timeout)


def _invalid(name: str, expected: str, value: object) -> EngineError:
    return EngineError.invalid_options(f"Expected the `{name}` option to be {expected}, got {describe_value(value)}.")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(name, "a non-empty string", value)
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _invalid(name, "a bool", value)
    return value


def _seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise _invalid(name, "a non-negative number of seconds" if allow_zero else "a positive number of seconds",
                       value)
    return float(value)  # type: ignore[arg-type]


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _invalid(name, "a positive int", value)
    return value


def _strings(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
            isinstance(key, str) and isinstance(item, str) for key, item in value.items()):  # pyright: ignore[reportUnknownVariableType]
        raise _invalid(name, "a mapping of strings to strings", value)
    return dict(value)  # pyright: ignore[reportUnknownArgumentType]


def _listeners(value: object) -> dict[str, Callable[[Any], None]]:
    if not isinstance(value, Mapping):
        raise _invalid("on", "a mapping of event names to listeners", value)
    listeners: dict[str, Callable[[Any], None]] = {}
    for event, listener in value.items():  # pyright: ignore[reportUnknownVariableType]
        check_event(str(event))  # pyright: ignore[reportUnknownArgumentType]
        if not callable(listener):
            raise _invalid(f"on.{event}", "callable", listener)
        listeners[str(event)] = listener  # pyright: ignore[reportUnknownArgumentType]
    return listeners


def _restart_policy(value: object) -> RestartPolicy:
    if value is True:
        return RestartPolicy()
    if value is False:
        return RestartPolicy(max_restarts=0)
    if isinstance(value, RestartPolicy):
        policy = value
    elif isinstance(value, Mapping):
        known = {field.name for field in fields(RestartPolicy)}
        given: dict[str, Any] = dict(value)  # pyright: ignore[reportUnknownArgumentType]
        unknown = [name for name in given if name not in known]
        if unknown:
            raise EngineError.invalid_options(
                f"Unknown restart policy field {', '.join(f'`{name}`' for name in unknown)}; expected one of "
                f"{', '.join(f'`{name}`' for name in sorted(known))}.")
        policy = replace(RestartPolicy(), **given)
    else:
        raise _invalid("restart", "a bool, a RestartPolicy or a mapping of its fields", value)
    if not isinstance(policy.max_restarts, int) or isinstance(policy.max_restarts, bool) or policy.max_restarts < 0:
        raise _invalid("restart.max_restarts", "a non-negative int", policy.max_restarts)
    for name in ("initial_delay", "max_delay", "reset_after"):
        _seconds(f"restart.{name}", getattr(policy, name), allow_zero=True)
    if not isinstance(policy.factor, (int, float)) or isinstance(policy.factor, bool) or not policy.factor >= 1:
        raise _invalid("restart.factor", "a number >= 1", policy.factor)
    if policy.max_delay < policy.initial_delay:
        raise _invalid("restart.max_delay", f"at least restart.initial_delay ({policy.initial_delay})",
                       policy.max_delay)
    return policy
