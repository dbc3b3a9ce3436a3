"""Rank 0's batch of a sharded model, which the followers replay step by step.

Every rank runs the same ModelBatch over its shard. Rank 0 queues each
operation the engine makes on its batch (a stream admitted, removed, paused
or resumed, a new batch limit) and, at the start of every step, sends the
queue (channel.py); a follower applies it to its own batch and steps too.
Every decision inside a step then comes out the same on every rank, since
it follows from the same operations and the same tokens: the logits are
all-reduced, and every sampler is seeded by the request (rank 0 chose the
seed of an unseeded one). The one decision that comes from a clock,
adaptive prefill sizing, is turned off for a sharded model.

Rank 0 evaluates every collective of a step at once, not queued ahead with
mx.async_eval as a local model's decode loop does: in MLX 0.32's ring
backend, a peer's death fails the collectives in flight and stops the
socket's worker, so a collective queued after that waits forever, and the
failure of one evaluated asynchronously is seen by nobody. Evaluated at
once, the first failed collective raises here, and the group issues none
after it (group.py). The cost, a step's overlap of Python and device work,
is measured by bench/distributed.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from ...config import BatchingConfig, PromptCacheConfig
from ..batch import ModelBatch
from ..batch_limits import BatchLimits
from ..models import LoadedModel
from ..stream import ActiveStream, GenerationRequest
from . import channel


def lockstep_batching(config: BatchingConfig) -> BatchingConfig:
    """The batching config every rank of a sharded model runs with."""
    return msgspec.structs.replace(config, adaptive_sizing=False)


def admission_of(request: GenerationRequest) -> channel.Admit:
    return channel.Admit(
        stream_id=request.stream_id, prompt=request.prompt, max_tokens=request.max_tokens,
        sampling=request.sampling, stop_strings=request.stop_strings,
        stop_token_ids=request.stop_token_ids, logprobs=request.logprobs,
        use_prompt_cache=request.use_prompt_cache,
        guidance=None if request.guidance is None else request.guidance.spec)


class LockstepBatch(ModelBatch):
    def __init__(self, model: LoadedModel, config: BatchingConfig,
                 cache_config: PromptCacheConfig, step_timeout_s: float,
                 limits: BatchLimits | None = None) -> None:
        assert model.group is not None
        model.group.check()  # a failed group takes no new streams
        super().__init__(model, lockstep_batching(config), cache_config, limits)
        self._group = model.group
        self._step_timeout_s = step_timeout_s
        self._ops: list[channel.Op] = []
        self._told_limit: int | None = None  # the lowered max batch size the followers have

    def add(self, stream: ActiveStream) -> None:
        self._group.check()
        super().add(stream)
        self._ops.append(admission_of(stream.request))

    def remove(self, stream: ActiveStream) -> None:
        super().remove(stream)
        self._ops.append(channel.Remove(stream.stream_id))

    def pause(self, stream: ActiveStream) -> None:
        super().pause(stream)
        self._ops.append(channel.Pause(stream.stream_id))

    def resume(self, stream: ActiveStream) -> None:
        super().resume(stream)
        self._ops.append(channel.Resume(stream.stream_id))

    def _lowered_limit(self) -> int | None:
        # The one the followers were told for this step: it may change meanwhile
        # (ops sets it from its own threads), and every rank must admit alike.
        return self._told_limit

    def step(self) -> list[ActiveStream]:
        limit = super()._lowered_limit()
        if limit != self._told_limit:
            self._told_limit = limit
            self._ops.append(channel.Limit(limit))
        ops, self._ops = self._ops, []
        with self._group.collective("decoding", self._step_timeout_s), _evaluated_at_once():
            channel.send(self._group.group, channel.Message(ops=ops, action="step"))
            return super().step()


@contextmanager
def _evaluated_at_once() -> Iterator[None]:
    """mx.async_eval as mx.eval, for mlx-lm's generator and the solo path
    alike (both call it through the mlx.core module); engine thread only."""
    import mlx.core as mx

    queued = mx.async_eval
    mx.async_eval = mx.eval
    try:
        yield
    finally:
        mx.async_eval = queued
