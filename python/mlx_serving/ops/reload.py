"""What a config/reload changed: dotted keys that differ between two configs."""

from __future__ import annotations

from typing import Any

import msgspec


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ; lists compare whole, mappings key by key."""
    old, new = msgspec.to_builtins(old), msgspec.to_builtins(new)
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [prefix or "."]
    changed = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in old or key not in new:
            changed.append(path)
        else:
            changed.extend(changed_keys(old[key], new[key], path))
    return changed
