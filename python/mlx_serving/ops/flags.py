"""config/feature-flags.yaml: typed flags, validated, evaluated per request key.

Each flag has `enabled`, `rollout_percentage` (the share of request keys it is
on for, by a deterministic hash salted with the flag's name) and, where the
feature has parts, boolean `sub_flags`. A global `kill_switch` turns every
flag off at once. Unknown flag or sub-flag names, wrong types and
percentages outside 0-100 are refused, naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ..config import load_yaml_struct
from .buckets import in_rollout

DEFAULT_FLAGS_PATH = Path(__file__).resolve().parents[3] / "config" / "feature-flags.yaml"
FLAGS_ENV = "MLX_SERVING_FLAGS"

Percentage = Annotated[float, Meta(ge=0.0, le=100.0)]
FlagName = Literal["canary", "batching", "prompt_cache", "guidance"]


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Flag(_Strict):
    enabled: bool = True
    rollout_percentage: Percentage = 100.0


class CanarySubFlags(_Strict):
    auto_advance: bool = True
    auto_rollback: bool = True


class CanaryFlag(Flag):
    sub_flags: CanarySubFlags = msgspec.field(default_factory=CanarySubFlags)


class GuidanceSubFlags(_Strict):
    json_schema: bool = True
    regex: bool = True
    xml: bool = True


class GuidanceFlag(Flag):
    sub_flags: GuidanceSubFlags = msgspec.field(default_factory=GuidanceSubFlags)


class Flags(_Strict):
    canary: CanaryFlag = msgspec.field(default_factory=CanaryFlag)
    batching: Flag = msgspec.field(default_factory=Flag)
    prompt_cache: Flag = msgspec.field(default_factory=Flag)
    guidance: GuidanceFlag = msgspec.field(default_factory=GuidanceFlag)


class FeatureFlagsFile(_Strict):
    kill_switch: bool = False
    flags: Flags = msgspec.field(default_factory=Flags)


def default_flags_path() -> Path:
    return Path(os.environ.get(FLAGS_ENV, DEFAULT_FLAGS_PATH))


def load_flags(path: Path) -> FeatureFlagsFile:
    """The flags file, validated; raises ConfigError naming the bad key."""
    return load_yaml_struct(path, FeatureFlagsFile)


class FlagSet:
    """One loaded flags file, answering "is this feature on for this key?".

    Immutable: a reload swaps in a new FlagSet, so a request that looked at
    its flags once keeps a consistent view while it runs.
    """

    def __init__(self, file: FeatureFlagsFile) -> None:
        self.file = file

    def flag(self, name: FlagName) -> Flag:
        flag: Flag = getattr(self.file.flags, name)
        return flag

    def enabled(self, name: FlagName, key: str | None) -> bool:
        """On for this key: no kill switch, the flag enabled, the key inside its
        rollout. Without a key (a process-wide part), the rollout is not asked."""
        flag = self.flag(name)
        return (not self.file.kill_switch and flag.enabled
                and (key is None or in_rollout(name, key, flag.rollout_percentage)))

    def sub_enabled(self, name: FlagName, sub_flag: str, key: str | None = None) -> bool:
        with_parts: Any = self.flag(name)  # the flags that have parts carry sub_flags
        return self.enabled(name, key) and bool(getattr(with_parts.sub_flags, sub_flag))
