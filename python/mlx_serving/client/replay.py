"""What a new runtime must be told to stand where the dead one stood: the
model loads (text and vision) and draft attachments that succeeded and were
not undone, replayed in order."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

from .errors import EngineError
from .events import ReloadFailure
from .rpc import RpcClient

ReplayKind = Literal["model", "draft"]


@dataclass(frozen=True)
class _Entry:
    kind: ReplayKind
    id: str  # the model's id (for a draft: its target's)
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ReplayOutcome:
    reloaded: list[str]
    reloaded_drafts: list[str]
    failed: list[ReloadFailure]


class ReplayLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by kind and id together, so no model id stands for another entry's key.
        self._entries: dict[tuple[ReplayKind, str], _Entry] = {}

    @property
    def models(self) -> list[str]:
        with self._lock:
            return [entry.id for entry in self._entries.values() if entry.kind == "model"]

    @property
    def drafts(self) -> dict[str, str]:
        """The drafts, by target model id, as named when they were attached."""
        with self._lock:
            return {entry.id: str(entry.params.get("draft_model")) for entry in self._entries.values()
                    if entry.kind == "draft"}

    def remember(self, kind: ReplayKind, model_id: str, method: str, params: dict[str, Any]) -> None:
        """A call to repeat after a restart; a later one under the same key replaces it in place,
        so a draft stays after the model it is attached to."""
        with self._lock:
            self._entries[(kind, model_id)] = _Entry(kind, model_id, method, params)

    def forget(self, kind: ReplayKind, model_id: str) -> None:
        with self._lock:
            self._entries.pop((kind, model_id), None)

    def replay_into(self, client: RpcClient, timeout: float | None) -> ReplayOutcome:
        """Replays every entry; one the new runtime refuses (its folder is gone, ...) is dropped and
        reported; the runtime dying again is raised, for the supervisor to try once more."""
        outcome = ReplayOutcome([], [], [])
        with self._lock:
            entries = list(self._entries.items())
        for key, entry in entries:
            try:
                client.wait(client.request(entry.method, entry.params), timeout)
            except EngineError as error:
                if error.rpc_code is None:  # only the runtime's own refusals drop an entry
                    raise
                self.forget(*key)
                outcome.failed.append(ReloadFailure(entry.id, entry.kind == "draft", error))
                continue
            (outcome.reloaded if entry.kind == "model" else outcome.reloaded_drafts).append(entry.id)
        return outcome
