"""What rank 0 tells the followers, carried by the group's own collectives.

Every step of a sharded model's batch starts with one message from rank 0:
the batch operations done since the last step (streams admitted, removed,
paused, resumed, a new batch limit), then whether to step or to stop. It
goes as msgpack bytes through all_sum (the followers adding zeros), the way
mlx_lm.server shares its requests: no socket or RPC of our own between ranks.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ...api.messages import Guidance
from ...config import BatchingConfig, GuidanceConfig, PromptCacheConfig
from ..sampling import SamplingSettings


class Admit(msgspec.Struct, tag="admit"):
    """A stream joins the batch: everything a follower needs to run its twin."""

    stream_id: str
    prompt: list[int]
    max_tokens: int
    sampling: SamplingSettings
    stop_strings: list[str]
    stop_token_ids: list[int]
    logprobs: bool
    use_prompt_cache: bool
    guidance: Guidance | None


class Remove(msgspec.Struct, tag="remove"):
    stream_id: str


class Pause(msgspec.Struct, tag="pause"):
    stream_id: str


class Resume(msgspec.Struct, tag="resume"):
    stream_id: str


class Limit(msgspec.Struct, tag="limit"):
    size: int | None  # None: back to the configured size


Op = Admit | Remove | Pause | Resume | Limit


class Message(msgspec.Struct):
    ops: list[Op]
    action: Literal["step", "close"]


# A message goes in one fixed-size frame (its length, then its first bytes),
# and only a longer one (streams admitted) needs a second all_sum for the rest:
# most steps change nothing, and then cost one small collective.
_FRAME = 256
_LENGTH = 4
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def send(group: Any, message: Message) -> None:
    """Rank 0: hand `message` to every follower (blocks until all have it)."""
    import mlx.core as mx
    import numpy as np

    data = _encoder.encode(message)
    frame = np.zeros(_FRAME, dtype=np.uint8)
    frame[:_LENGTH] = np.frombuffer(len(data).to_bytes(_LENGTH, "little"), dtype=np.uint8)
    head = data[:_FRAME - _LENGTH]
    frame[_LENGTH:_LENGTH + len(head)] = np.frombuffer(head, dtype=np.uint8)
    with mx.stream(_stream()):
        mx.eval(mx.distributed.all_sum(mx.array(frame), group=group))
        if len(data) > len(head):
            rest = np.frombuffer(data[len(head):], dtype=np.uint8)
            mx.eval(mx.distributed.all_sum(mx.array(rest), group=group))


def receive(group: Any) -> Message:
    """A follower: the next message of rank 0 (blocks until it comes)."""
    import mlx.core as mx
    import numpy as np

    with mx.stream(_stream()):
        frame = np.asarray(mx.distributed.all_sum(mx.zeros(_FRAME, dtype=mx.uint8),
                                                  group=group)).tobytes()
        size = int.from_bytes(frame[:_LENGTH], "little")
        data = frame[_LENGTH:_LENGTH + size]
        if size > len(data):
            rest = mx.distributed.all_sum(mx.zeros(size - len(data), dtype=mx.uint8),
                                          group=group)
            data += np.asarray(rest).tobytes()
    return _decoder.decode(data)


def _stream() -> Any:
    """mlx-lm's generation stream: the decode steps' own collectives (the
    all-reduces inside the model) run on it, and a queued step (mx.async_eval)
    may still be running. On one stream, every rank runs the collectives in
    the order they were queued; on two, they could pair up wrongly."""
    from mlx_lm.generate import generation_stream

    return generation_stream


class Setup(msgspec.Struct, kw_only=True):
    """How a follower starts: given on its command line, as JSON."""

    backend: str
    parallel: Literal["tensor", "pipeline"]
    model_path: str
    model_id: str
    batching: BatchingConfig
    prompt_cache: PromptCacheConfig
    guidance: GuidanceConfig
    log_level: str


def encode_setup(setup: Setup) -> str:
    return msgspec.json.encode(setup).decode()


def decode_setup(text: str) -> Setup:
    return msgspec.json.decode(text, type=Setup)
