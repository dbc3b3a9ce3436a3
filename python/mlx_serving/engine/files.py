"""Local files a request names (model folders, image paths), opened safely.

A request may name any path. Opening a FIFO blocks until a writer comes,
reading a device such as /dev/zero never ends and /dev/stdin would take the
protocol's own input; so a file is stat'ed before it is opened (only regular
files, symlinks followed), opened non-blocking and checked again on the open
descriptor (a swap in between is caught), and never read past a cap.

The messages of FileRefused are safe to show a client: a missing file, an
unreadable one and one that is not a regular file read the same, and a file
over its cap is said to be over the cap, never how large it is, so errors
are no oracle for what exists on the machine.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Files a model loader reads whole into memory (configs, tokenizers,
# templates): capped. Weights are mapped, not read, and left uncapped.
METADATA_SUFFIXES = (".json", ".jinja", ".txt", ".model", ".tiktoken")
# The largest of those a model folder may hold: the biggest tokenizers are a
# few tens of MB; a config.json of gigabytes stalls the engine thread.
MAX_METADATA_BYTES = 64 << 20

_NOT_READABLE = "no such file, or not a file that can be read (a regular file is needed)"


class FileRefused(Exception):
    """A file that is not read; the message says why, safely."""


def checked_size(path: Path) -> int:
    """The size of `path`, a regular file (after symlinks); FileRefused otherwise."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):  # missing, no permission, a NUL in the name, ...
        raise FileRefused(_NOT_READABLE) from None
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(_NOT_READABLE)
    return info.st_size


def over_cap(cap: int, setting: str) -> FileRefused:
    return FileRefused(f"over the limit of {cap} bytes ({setting})")


def read_capped(path: Path, cap: int, setting: str) -> bytes:
    """The bytes of the regular file `path`, refused past `cap` bytes (`setting`
    names the config key of the cap, for the message)."""
    if checked_size(path) > cap:
        raise over_cap(cap, setting)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise FileRefused(_NOT_READABLE) from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped after the stat
            raise FileRefused(_NOT_READABLE)
        try:
            data = file.read(cap + 1)
        except OSError:
            raise FileRefused(_NOT_READABLE) from None
    if len(data) > cap:  # it grew after the stat
        raise over_cap(cap, setting)
    return data


def check_model_folder(folder: Path, metadata_cap: int = MAX_METADATA_BYTES,
                       setting: str = "model metadata") -> None:
    """Refuse a model folder before a loader opens anything in it: every file
    at its top level must be a regular file (symlinks followed, as the Hugging
    Face cache makes them), and metadata no larger than `metadata_cap`."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        raise FileRefused("not a folder that can be read") from None
    for entry in entries:
        if entry.is_dir():
            continue
        try:
            size = checked_size(Path(entry.path))
        except FileRefused:
            raise FileRefused(f"{entry.name} in it is not a regular file (a FIFO, device, "
                              "socket or broken link); only regular files are read") from None
        if entry.name.endswith(METADATA_SUFFIXES) and size > metadata_cap:
            raise FileRefused(f"{entry.name} in it is {over_cap(metadata_cap, setting)}")
