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
