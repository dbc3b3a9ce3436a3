"""Every key of config/runtime.yaml and config/feature-flags.yaml is documented
in the shipped file itself: set to its default, or shown in a commented example."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from msgspec import inspect

from mlx_serving.config import DEFAULT_CONFIG_PATH, RuntimeConfig
from mlx_serving.ops.flags import DEFAULT_FLAGS_PATH, FeatureFlagsFile


def key_paths(struct: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key a file of this Struct can hold, as the path of key names to it
    (entries of lists and values of mappings add no name of their own)."""
    info = struct if isinstance(struct, inspect.Type) else inspect.type_info(struct)
    if isinstance(info, inspect.StructType):
        for field in info.fields:
            path = (*prefix, field.encode_name)
            yield path
            yield from key_paths(field.type, path)
    elif isinstance(info, inspect.ListType):
        yield from key_paths(info.item_type, prefix)
    elif isinstance(info, inspect.DictType):
        yield from key_paths(info.value_type, prefix)
    elif isinstance(info, inspect.UnionType):
        for member in info.types:
            yield from key_paths(member, prefix)


def documented(text: str, path: tuple[str, ...]) -> bool:
    """Each key of the path appears as `key:` after its parent (comments count)."""
    at = 0
    for key in path:
        found = re.compile(rf"(?<![\w.]){re.escape(key)}:").search(text, at)
        if found is None:
            return False
        at = found.end()
    return True


def section(text: str, key: str) -> str:
    """A top-level key's lines, with the comment block just above it."""
    lines = text.splitlines()
    tops = [i for i, line in enumerate(lines) if re.match(r"\w+:", line)]
    starts = []
    for i in tops:
        while i > 0 and (lines[i - 1].startswith("#") or not lines[i - 1].strip()):
            i -= 1
        starts.append(i)
    index = next(n for n, i in enumerate(tops) if lines[i].startswith(f"{key}:"))
    end = starts[index + 1] if index + 1 < len(starts) else len(lines)
    return "\n".join(lines[starts[index]:end])


CASES = [(DEFAULT_CONFIG_PATH, path) for path in key_paths(RuntimeConfig)] + [
    (DEFAULT_FLAGS_PATH, path) for path in key_paths(FeatureFlagsFile)]


@pytest.mark.parametrize(("file", "path"), CASES, ids=[
    f"{file.name}:{'.'.join(path)}" for file, path in CASES])
def test_every_key_is_documented_in_the_shipped_file(file: Path, path: tuple[str, ...]) -> None:
    text = section(file.read_text(), path[0])
    assert documented(text, path), f"{file.name} documents no `{'.'.join(path)}`"


def test_the_check_sees_a_missing_key() -> None:
    assert ("canary", "rollback", "min_requests") in set(key_paths(RuntimeConfig))
    text = "canary:\n  # rollback:\n  #   max_error_rate: 0.05\n"
    assert documented(text, ("canary", "rollback", "max_error_rate"))
    assert not documented(text, ("canary", "rollback", "min_requests"))
    assert not documented("qos:\n  slos: []\nmin_samples: 1\n", ("canary", "min_samples"))
