"""The bounded line reader and the coalescing writer."""

from __future__ import annotations

import io
import threading

from mlx_serving.transport.stdio import MessageWriter, OversizedLine, read_lines


def test_read_lines_skips_blank_lines_and_reports_oversized_ones() -> None:
    data = b'{"a":1}\n\n  \n' + b"x" * 5000 + b"\n" + b'{"b":2}\r\n' + b'{"c":3}'
    lines = list(read_lines(io.BytesIO(data), max_bytes=100))
    assert lines == [b'{"a":1}', OversizedLine(5001), b'{"b":2}', b'{"c":3}']


class _SlowOut(io.BytesIO):
    """A stdout whose first write blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.writes: list[bytes] = []

    def write(self, data) -> int:  # type: ignore[override]
        self.entered.set()
        self.release.wait(10)
        self.writes.append(bytes(data))
        return len(data)


def test_writer_merges_queued_chunks_of_a_stream_while_the_reader_is_behind() -> None:
    out = _SlowOut()
    writer = MessageWriter(out, merge=lambda queued, later: queued["t"].extend(later["t"]),
                           on_broken=lambda: None)
    writer.send({"m": "first"})
    assert out.entered.wait(10)  # the writer thread now blocks in write()
    for token in range(5):
        writer.send({"s": "a", "t": [token]}, merge_key="a", weight=1)
        writer.send({"s": "b", "t": [token]}, merge_key="b", weight=1)
    writer.send({"end": "a"})
    assert writer.pending_weight == 10
    out.release.set()
    writer.close()
    lines = b"".join(out.writes).decode().splitlines()
    assert lines == ['{"m":"first"}', '{"s":"a","t":[0,1,2,3,4]}', '{"s":"b","t":[0,1,2,3,4]}',
                     '{"end":"a"}']
    assert writer.pending_weight == 0


class _RecordingOut(io.BytesIO):
    """A stdout that keeps each write apart and says when one happened."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.wrote = threading.Semaphore(0)

    def write(self, data) -> int:  # type: ignore[override]
        self.writes.append(bytes(data))
        self.wrote.release()
        return len(data)


def _merge(queued: dict, later: dict) -> None:
    queued["t"].extend(later["t"])


def test_held_chunks_wait_for_the_interval_or_the_next_message_without_hold() -> None:
    out = _RecordingOut()
    # An interval no test run reaches: held chunks go out only with another message.
    writer = MessageWriter(out, merge=_merge, on_broken=lambda: None, hold_s=3600.0)
    writer.send({"s": "a", "t": [0]}, merge_key="a", weight=1)  # a first token: at once
    assert out.wrote.acquire(timeout=10)
    for token in range(1, 4):
        writer.send({"s": "a", "t": [token]}, merge_key="a", weight=1, hold=True)
    assert not out.wrote.acquire(timeout=0.2)
    assert writer.pending_weight == 3
    writer.send({"end": "a"})  # not held: takes the held chunk along, in order
    assert out.wrote.acquire(timeout=10)
    assert [w.decode() for w in out.writes] == [
        '{"s":"a","t":[0]}\n', '{"s":"a","t":[1,2,3]}\n{"end":"a"}\n']
    writer.send({"s": "b", "t": [7]}, merge_key="b", weight=1, hold=True)
    writer.close()  # closing writes what is held
    assert out.writes[-1] == b'{"s":"b","t":[7]}\n'


def test_without_an_interval_held_chunks_go_out_as_they_come() -> None:
    out = _RecordingOut()
    writer = MessageWriter(out, merge=_merge, on_broken=lambda: None, hold_s=0.0)
    for token in range(3):
        writer.send({"s": "a", "t": [token]}, merge_key="a", weight=1, hold=True)
        assert out.wrote.acquire(timeout=10)
    writer.close()
    assert b"".join(out.writes).decode().splitlines() == [
        '{"s":"a","t":[0]}', '{"s":"a","t":[1]}', '{"s":"a","t":[2]}']
