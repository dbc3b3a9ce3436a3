"""A follower rank of a sharded model: `python -m mlx_serving.engine.distributed.follower SETUP`.

Started by rank 0 (ranks.py). It joins the group, loads its shard, then
replays rank 0's batch: each message (channel.py) brings the operations to
apply to its own ModelBatch, whose streams are twins of rank 0's that emit
nothing, and then a step or the order to stop. It exits when rank 0 is
gone: its stdin (held by rank 0) closes, or a collective fails.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from ...guidance.compiler import GuidanceCompiler
from ..batch import ModelBatch
from ..models import LoadedModel
from ..stream import ActiveStream, GenerationRequest, NullSink
from . import channel
from .loader import load_shard

log = logging.getLogger("mlx_serving.follower")


class Replica:
    """This rank's batch, driven by rank 0's messages; its streams' output
    goes nowhere (NullSink): rank 0 alone speaks to the client."""

    def __init__(self, model: LoadedModel, setup: channel.Setup) -> None:
        self._model = model
        self._batch = ModelBatch(model, setup.batching, setup.prompt_cache)
        self._guidance = GuidanceCompiler(setup.guidance)
        self._streams: dict[str, ActiveStream] = {}

    def apply(self, op: channel.Op) -> None:
        if isinstance(op, channel.Admit):
            stream = ActiveStream(self._request(op), self._model.decode)
            self._batch.add(stream)
            self._streams[op.stream_id] = stream
        elif isinstance(op, channel.Limit):
            self._batch.set_max_batch_size(op.size)
        elif isinstance(op, channel.Remove):
            self._batch.remove(self._streams.pop(op.stream_id))
        elif isinstance(op, channel.Pause):
            self._batch.pause(self._streams[op.stream_id])
        else:
            self._batch.resume(self._streams[op.stream_id])

    def step(self) -> None:
        for stream in self._batch.step():
            self._streams.pop(stream.stream_id, None)

    def _request(self, op: channel.Admit) -> GenerationRequest:
        return GenerationRequest(
            stream_id=op.stream_id, model_id=self._model.model_id, prompt=op.prompt,
            max_tokens=op.max_tokens, sampling=op.sampling, stop_strings=op.stop_strings,
            stop_token_ids=op.stop_token_ids, logprobs=op.logprobs, sink=NullSink(),
            guidance=None if op.guidance is None
            else self._guidance.compile(self._model, op.guidance),
            use_prompt_cache=op.use_prompt_cache)


def _exit_when_stdin_closes() -> None:
    """Rank 0 holds our stdin: EOF means it is gone (a crash included)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main(argv: list[str]) -> int:
    setup = channel.decode_setup(argv[0])
    rank = os.environ.get("MLX_RANK", "?")
    logging.basicConfig(stream=sys.stderr, level=setup.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s rank {rank}: %(message)s")
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    import mlx.core as mx

    group = mx.distributed.init(strict=True, backend=setup.backend)
    model = load_shard(Path(setup.model_path), group, setup.parallel, setup.model_path,
                       setup.model_id)
    log.info("rank %d of %d: shard of %s loaded", group.rank(), group.size(), setup.model_id)
    replica = Replica(model, setup)
    while True:
        message = channel.receive(group)
        for op in message.ops:
            replica.apply(op)
        if message.action == "close":
            log.info("rank %d: closed by rank 0", group.rank())
            return 0
        replica.step()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:
        log.exception("follower failed")
        sys.exit(1)
