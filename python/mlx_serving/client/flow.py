"""Backpressure for streams, at two levels (as the TypeScript bridge does).

Per stream: when a generator holds more than `high_water_mark` tokens its
consumer has not taken, it asks the runtime to pause that stream
(generate/pause): the runtime stops decoding it, keeping its place, while the
other streams go on. Once the consumer is down to half the mark, the
generator resumes it (generate/resume). So a generator nobody reads holds
about `high_water_mark` tokens, however long its stream.

Whole pipe: while a generator is behind and its pause is not yet confirmed,
and no consumer waits for a chunk, the reader thread also stops reading the
runtime's stdout; the runtime's writer then backs up and it waits. That
bounds the tokens under way until the pause is confirmed, and holds for as
long as the consumer is behind where the pause fails (a runtime without
generate/pause, or a draining one). Once confirmed, the stream no longer
holds the pipe. Reading never pauses while a consumer waits for a chunk,
nor (rpc.py) while a call waits for its answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol


class FlowMember(Protocol):
    def behind(self, behind: bool, answered: Callable[[bool], None]) -> None:
        """Its consumer fell behind (True: pause its stream) or caught up (False: resume it);
        `answered(paused)` says whether the runtime paused the stream (False on failure)."""


class FlowControl:
    def __init__(self, high_water_mark: int, set_paused: Callable[[bool], None]) -> None:
        self.high_water_mark = high_water_mark
        self._set_paused = set_paused
        self._lock = threading.RLock()
        self._behind: set[FlowMember] = set()
        # Members behind whose pause is not yet confirmed, by the episode that asked
        # for it (a late answer for an earlier episode must not release a later one).
        self._holding: dict[FlowMember, int] = {}
        self._episodes = 0
        self._waiting = 0
        self._paused = False
        self._stream_pauses = 0

    @property
    def streams(self) -> tuple[int, int]:
        """Streams paused now for a consumer that is behind, and how often one was."""
        return len(self._behind), self._stream_pauses

    def report(self, member: FlowMember, buffered: int) -> None:
        """A generator's buffer changed size (once per token taken: the common case, nothing to
        do, costs no lock)."""
        behind = member in self._behind
        if not ((buffered > self.high_water_mark and not behind)
                or (buffered <= self.high_water_mark / 2 and behind)):
            return
        ask: bool | None = None
        episode = 0
        with self._lock:
            if buffered > self.high_water_mark and member not in self._behind:
                self._episodes += 1
                episode = self._episodes
                self._behind.add(member)
                self._holding[member] = episode
                self._stream_pauses += 1
                ask = True
            elif buffered <= self.high_water_mark / 2 and member in self._behind:
                self._release(member, caught_up=True)
                ask = False
            self._update()
        if ask is True:
            member.behind(True, lambda paused: self._confirmed(member, episode, paused))
        elif ask is False:
            member.behind(False, lambda _paused: None)

    def release(self, member: FlowMember) -> None:
        """A generator that takes no more tokens (ended, or being cancelled) no longer holds the reader."""
        with self._lock:
            self._release(member, caught_up=True)
            self._update()

    def waiting(self, starts: bool) -> None:
        """A consumer waits on an empty buffer (True) or got its chunk (False)."""
        with self._lock:
            self._waiting += 1 if starts else -1
            self._update()

    def _confirmed(self, member: FlowMember, episode: int, paused: bool) -> None:
        with self._lock:
            if paused and self._holding.get(member) == episode:
                self._release(member, caught_up=False)  # paused on the runtime: still counted as behind
                self._update()

    def _release(self, member: FlowMember, *, caught_up: bool) -> None:
        if caught_up:
            self._behind.discard(member)
        self._holding.pop(member, None)

    def _update(self) -> None:
        paused = bool(self._holding) and self._waiting == 0
        if paused != self._paused:
            self._paused = paused
            self._set_paused(paused)
