"""The single-stream path (engine/solo.py) and the moves between it and the batch.

ModelBatch is driven directly, with the tiny model. A request must give the
same tokens (and logprobs) decoding alone on the solo path, alone in a batch
of one (solo off) and in company; and a stream that starts alone, gets
company mid-way and is left alone again must give exactly what it gives
alone, greedy, seeded, guided or cancelled.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlx_serving.api.messages import RegexGuidance
from mlx_serving.config import BatchingConfig, GuidanceConfig, PromptCacheConfig
from mlx_serving.engine.batch import ModelBatch
from mlx_serving.engine.models import LoadedModel, load_text_model
from mlx_serving.engine.sampling import SamplingSettings
from mlx_serving.engine.stream import ActiveStream, GenerationRequest
from mlx_serving.engine.warmup import warm_up
from mlx_serving.guidance.compiler import GuidanceCompiler

NO_CACHE = PromptCacheConfig(enabled=False)


def _sampling(temperature: float, seed: int = 3, **more: Any) -> SamplingSettings:
    settings: dict[str, Any] = dict(temperature=temperature, top_p=1.0, top_k=0, min_p=0.0,
                                    seed=seed, repetition_penalty=1.0, presence_penalty=0.0,
                                    frequency_penalty=0.0, penalty_context_size=20)
    return SamplingSettings(**{**settings, **more})


GREEDY = _sampling(0.0)
SEEDED = _sampling(0.9, top_p=0.95, top_k=50, min_p=0.01, repetition_penalty=1.2,
                   presence_penalty=0.3, frequency_penalty=0.2)


class _Sink:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.finish: str | None = None
        self.complete: bool | None = None

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: Any) -> None: ...

    def tokens(self, stream_id: str, tokens: list[Any]) -> None:
        self.ids.extend(token.id for token in tokens)
        self.logprobs.extend(token.logprob for token in tokens if isinstance(token.logprob, float))

    def end(self, stream_id: str, finish_reason: str, stats: Any, guidance: Any = None) -> None:
        assert self.finish is None
        self.finish = finish_reason
        self.complete = None if guidance is None else guidance.complete

    def error(self, stream_id: str, error: Any, stats: Any) -> None:
        raise AssertionError(error)


@pytest.fixture(scope="module")
def tiny(models: Path) -> LoadedModel:
    return load_text_model(str(models / "tiny"), "tiny")


Request = Callable[[], ActiveStream]


def _maker(model: LoadedModel, name: str, prompt: list[int], max_tokens: int,
           sampling: SamplingSettings, logprobs: bool = False, guidance: Any = None) -> Request:
    """A factory of fresh, identical streams (each run needs its own)."""
    def make() -> ActiveStream:
        request = GenerationRequest(stream_id=name, model_id="tiny", prompt=prompt,
                                    max_tokens=max_tokens, sampling=sampling, stop_strings=[],
                                    stop_token_ids=[], logprobs=logprobs, sink=_Sink(),
                                    guidance=guidance)
        return ActiveStream(request, model.decode)
    return make


def _prompt(seed: int, length: int = 12) -> list[int]:
    return [0] + [(seed * 31 + k * 7) % 400 + 5 for k in range(length - 1)]


def _sink(stream: ActiveStream) -> _Sink:
    return stream.request.sink  # type: ignore[return-value]


def _batch(model: LoadedModel, solo: bool = True, cache: PromptCacheConfig = NO_CACHE,
           **config: Any) -> ModelBatch:
    return ModelBatch(model, BatchingConfig(solo=solo, **config), cache)


def _finish(batch: ModelBatch) -> None:
    while len(batch):
        batch.step()


def _alone(model: LoadedModel, make: Request, solo: bool = True) -> _Sink:
    batch = _batch(model, solo=solo)
    stream = make()
    batch.add(stream)
    _finish(batch)
    return _sink(stream)


def _same(a: _Sink, b: _Sink) -> None:
    assert a.ids == b.ids and a.finish == b.finish and a.complete == b.complete
    assert len(a.logprobs) == len(b.logprobs)
    assert all(math.isclose(x, y, abs_tol=1e-4) for x, y in zip(a.logprobs, b.logprobs, strict=False))


@pytest.mark.parametrize("sampling", [GREEDY, SEEDED], ids=["greedy", "seeded"])
def test_solo_batch_of_one_and_batched_give_the_same_tokens(
        tiny: LoadedModel, sampling: SamplingSettings) -> None:
    make = _maker(tiny, "a", _prompt(1), 40, sampling, logprobs=True)
    batch = _batch(tiny)
    stream = make()
    batch.add(stream)
    batch.step()
    assert batch.stats().solo
    _finish(batch)
    solo = _sink(stream)
    assert len(solo.ids) == 40 and len(solo.logprobs) == 40
    _same(solo, _alone(tiny, make, solo=False))
    batch = _batch(tiny)
    others = [_maker(tiny, f"o{i}", _prompt(10 + i, 5 + 9 * i), 30, SEEDED)() for i in range(3)]
    stream = make()
    for each in (others[0], stream, *others[1:]):
        batch.add(each)
    batch.step()
    assert not batch.stats().solo
    _finish(batch)
    _same(solo, _sink(stream))


def _company(model: LoadedModel, main: Request, guest: Request, after: int,
             **config: Any) -> tuple[_Sink, _Sink, list[str]]:
    """`main` starts alone; once it has `after` tokens (or prefilled one
    chunk, with `after` 0) `guest` comes. What each gave, and the path of
    `main` after every step: solo, batch."""
    batch = _batch(model, **config)
    first, second = main(), guest()
    batch.add(first)
    path = []
    while len(_sink(first).ids) < after or not path:
        batch.step()
        path.append("solo" if batch.stats().solo else "batch")
    batch.add(second)
    while len(batch):
        batch.step()
        if first in batch.streams:
            path.append("solo" if batch.stats().solo else "batch")
    return _sink(first), _sink(second), path


@pytest.mark.parametrize("sampling", [GREEDY, SEEDED], ids=["greedy", "seeded"])
def test_a_stream_moves_into_the_batch_and_back_out_unchanged(
        tiny: LoadedModel, sampling: SamplingSettings) -> None:
    main = _maker(tiny, "main", _prompt(2), 60, sampling, logprobs=True)
    guest = _maker(tiny, "guest", _prompt(3, 20), 12, SEEDED)
    first, second, path = _company(tiny, main, guest, after=5)
    _same(first, _alone(tiny, main))
    _same(second, _alone(tiny, guest))
    # alone, then in the batch with the guest, then alone again
    assert path[0] == "solo" and "batch" in path and path[-1] == "solo"


def test_a_stream_still_prefilling_moves_into_the_batch(tiny: LoadedModel) -> None:
    main = _maker(tiny, "main", _prompt(4, 100), 20, SEEDED)
    guest = _maker(tiny, "guest", _prompt(5), 8, GREEDY)
    first, second, path = _company(tiny, main, guest, after=0, prefill_step_size=16)
    _same(first, _alone(tiny, main))
    _same(second, _alone(tiny, guest))
    assert path[0] == "solo" and "batch" in path


def test_a_guided_stream_keeps_its_grammar_across_the_moves(tiny: LoadedModel) -> None:
    grammar = GuidanceCompiler(GuidanceConfig()).compile(
        tiny, RegexGuidance(pattern="(ab|ba)+c"))
    main = _maker(tiny, "main", _prompt(6), 30, SEEDED, guidance=grammar)
    guest = _maker(tiny, "guest", _prompt(7), 4, GREEDY)
    alone = _alone(tiny, main)
    assert alone.finish == "stop" and alone.complete  # the grammar ended it, with an EOS
    assert re.fullmatch("(ab|ba)+c", tiny.decode(alone.ids[:-1]))
    first, _, path = _company(tiny, main, guest, after=2)
    _same(first, alone)
    assert "batch" in path


def test_batching_off_runs_every_stream_alone_one_after_another(tiny: LoadedModel) -> None:
    makes = [_maker(tiny, f"s{i}", _prompt(20 + i), 6, SEEDED) for i in range(3)]
    batch = _batch(tiny, enabled=False)
    streams = [make() for make in makes]
    for stream in streams:
        batch.add(stream)
    while len(batch):
        batch.step()
        state = batch.stats()
        assert state.decoding + state.prefilling <= 1 and (state.solo or not state.decoding)
    for make, stream in zip(makes, streams, strict=False):
        _same(_sink(stream), _alone(tiny, make))


def _cancel(batch: ModelBatch, stream: ActiveStream) -> None:
    batch.remove(stream)
    stream.cancel()


def _quiet(batch: ModelBatch) -> None:
    state = batch.stats()
    assert len(batch) == 0 and (state.waiting, state.prefilling, state.decoding) == (0, 0, 0)
    assert not state.solo


def test_cancel_on_the_solo_path_and_during_the_moves(tiny: LoadedModel) -> None:
    main = _maker(tiny, "main", _prompt(8, 40), 50, SEEDED)
    guest = _maker(tiny, "guest", _prompt(9), 10, GREEDY)
    expected = _alone(tiny, guest)

    def scenario(steps_alone: int, cancel_at: str) -> None:
        batch = _batch(tiny, prefill_step_size=16)
        first, second = main(), guest()
        batch.add(first)
        for _ in range(steps_alone):
            batch.step()
        if cancel_at == "solo":  # prefilling or decoding alone
            assert batch.stats().solo
            _cancel(batch, first)
            _quiet(batch)
            return
        batch.add(second)
        if cancel_at == "joining":  # still alone, the guest waits
            _cancel(batch, first)
        batch.step()
        if cancel_at == "joined":  # in the generator now, not decoding there yet
            assert not batch.stats().solo
            _cancel(batch, first)
        _finish(batch)
        _same(_sink(second), expected)
        assert _sink(first).finish == "cancelled"
        _quiet(batch)

    scenario(1, "solo")
    scenario(6, "solo")
    scenario(1, "joining")
    scenario(8, "joining")
    scenario(1, "joined")
    scenario(8, "joined")

    batch = _batch(tiny)  # back on the solo path after the guest left, then cancelled
    first, second = main(), guest()
    batch.add(first)
    batch.add(second)
    while second in batch.streams:
        batch.step()
    batch.step()
    assert batch.stats().solo
    _cancel(batch, first)
    _quiet(batch)


def test_the_solo_stream_gives_its_cache_to_the_prompt_cache(tiny: LoadedModel) -> None:
    config = PromptCacheConfig(min_prefix_tokens=4)
    batch = _batch(tiny, cache=config)
    story = _prompt(11, 30)
    first = _maker(tiny, "first", story, 20, GREEDY)()
    batch.add(first)
    _finish(batch)
    cache = batch.prompt_cache
    assert cache is not None and cache.stats.entries == 1
    # Kept at its exact size, without the room the solo path grows it by;
    # the last token never ran through the model.
    assert cache.stats.bytes == _kv_bytes_per_token(tiny) * (len(story) + 19)
    follow_up = _maker(tiny, "follow", story + _sink(first).ids + [9, 10, 11], 15, SEEDED)
    again = follow_up()
    batch.add(again)
    _finish(batch)
    assert again.cached_tokens == len(story) + 19
    _same(_sink(again), _alone(tiny, follow_up))  # _alone has no prompt cache

    entries = cache.stats.entries
    cancelled = _maker(tiny, "cancelled", _prompt(12, 30), 40, SEEDED)()
    batch.add(cancelled)
    for _ in range(5):
        batch.step()
    assert batch.stats().solo and _sink(cancelled).ids
    _cancel(batch, cancelled)
    assert cache.stats.entries == entries + 1  # a cancelled stream's cache is kept too


def _kv_bytes_per_token(model: LoadedModel) -> int:
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model.model)
    model.model(mx.array([[1, 2]]), cache=cache)
    return sum(layer.keys.nbytes + layer.values.nbytes for layer in cache) // \
        cache[0].keys.shape[2]


class _Watcher:
    """A Runner around a ModelBatch that notes, after each step, which
    stream was on the solo path and when two decoded together."""

    def __init__(self, batch: ModelBatch) -> None:
        self.batch = batch
        self.solo: list[GenerationRequest] = []
        self.trace = ""  # per step: s (one stream, solo), t (two or more decoding), .

    @property
    def streams(self) -> list[ActiveStream]:
        return self.batch.streams

    def __len__(self) -> int:
        return len(self.batch)

    def add(self, stream: ActiveStream) -> None:
        self.batch.add(stream)

    def remove(self, stream: ActiveStream) -> None:
        self.batch.remove(stream)

    def step(self) -> list[ActiveStream]:
        finished = self.batch.step()
        state = self.batch.stats()
        if state.solo and state.decoding:
            (stream,) = self.batch.streams
            self.solo.append(stream.request)
        self.trace += "s" if state.solo and state.decoding else "t" if state.decoding > 1 else "."
        return finished

    def close(self) -> None:
        self.batch.close()


def test_warm_up_runs_the_solo_path_and_the_moves(tiny: LoadedModel) -> None:
    watcher = _Watcher(_batch(tiny))
    ms, sizes = warm_up(watcher, tiny, prompt_lengths=[8, 40], bucket_sizes=(), rounds=1,
                        max_tokens=6, batched=True)
    assert ms > 0 and sizes == [1, 2]
    solo = {(len(r.prompt), r.sampling.temperature > 0, r.logprobs) for r in watcher.solo}
    assert {(8, False, False), (8, True, True), (40, False, False), (40, True, True)} <= solo
    # Last, a stream alone gets company, and one of the two ends alone.
    trace = watcher.trace
    assert "t" in trace and trace.rindex("s") > trace.index("t") > trace.index("s")


def test_a_lowered_batch_limit_lets_the_last_stream_go_solo(tiny: LoadedModel) -> None:
    makes = [_maker(tiny, f"s{i}", _prompt(30 + i), n, SEEDED) for i, n in enumerate((8, 30, 6))]
    batch = _batch(tiny)
    short, long, waiting = (make() for make in makes)
    batch.add(short)
    batch.add(long)
    batch.step()
    batch.set_max_batch_size(1)  # as QoS or the batching flag do
    batch.add(waiting)
    while short in batch.streams:
        batch.step()
    state = batch.stats()
    assert state.solo and state.waiting == 1  # the waiting one could not join anyway
    _finish(batch)
    for make, stream in zip(makes, (short, long, waiting), strict=False):
        _same(_sink(stream), _alone(tiny, make))
