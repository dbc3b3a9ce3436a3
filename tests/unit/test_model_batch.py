"""ModelBatch driven directly, with the tiny model: buckets, pads and the prompt cache.

These look inside: every forward pass the model runs is recorded, so that the
bucket rule (a decode step only ever sees a bucket-sized batch) is checked
on the shapes MLX actually gets.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mlx_serving.config import BatchingConfig, PromptCacheConfig
from mlx_serving.engine.batch import ModelBatch
from mlx_serving.engine.models import LoadedModel, load_text_model
from mlx_serving.engine.prompt_cache import PromptCache
from mlx_serving.engine.sampling import SamplingSettings
from mlx_serving.engine.stream import ActiveStream, GenerationRequest


class _Recorder:
    """The model, noting the shape of every input it gets."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, inputs: Any, cache: Any = None, **kwargs: Any) -> Any:
        self.shapes.append(tuple(inputs.shape))
        return self.model(inputs, cache=cache, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


class _Sink:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self.finish: str | None = None

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: Any) -> None: ...

    def tokens(self, stream_id: str, tokens: list[Any]) -> None:
        self.ids.extend(token.id for token in tokens)

    def end(self, stream_id: str, finish_reason: str, stats: Any, guidance: Any = None) -> None:
        self.finish = finish_reason

    def error(self, stream_id: str, error: Any, stats: Any) -> None:
        raise AssertionError(error)


@pytest.fixture(scope="module")
def tiny(models: Path) -> LoadedModel:
    model = load_text_model(str(models / "tiny"), "tiny")
    model.model = _Recorder(model.model)
    return model


def _request(index: int, max_tokens: int, temperature: float) -> GenerationRequest:
    prompt = [0] + [(index * 13 + k) % 500 + 5 for k in range(3 + index * 7 % 40)]
    sampling = SamplingSettings(temperature=temperature, top_p=1.0, top_k=0, min_p=0.0,
                                seed=index, repetition_penalty=1.0, presence_penalty=0.0,
                                frequency_penalty=0.0, penalty_context_size=20)
    return GenerationRequest(stream_id=f"s{index}", model_id="tiny", prompt=prompt,
                             max_tokens=max_tokens, sampling=sampling, stop_strings=[],
                             stop_token_ids=[], logprobs=False, sink=_Sink())


def _run(model: LoadedModel, buckets: Any, cancels: bool = True,
         pauses: _Pauses | None = None) -> tuple[dict[str, tuple[list[int], str]], ModelBatch]:
    """Streams arriving at random moments, some cancelled (or some paused and
    resumed); what each one produced."""
    batch = ModelBatch(model, BatchingConfig(buckets=buckets, max_batch_size=16,
                                             prefill_batch_size=4), PromptCacheConfig())
    rng = random.Random(7)
    pending = [_request(i, rng.randint(3, 40), 0.8 if i % 3 == 0 else 0.0) for i in range(28)]
    streams = []
    while pending or len(batch):
        for _ in range(rng.choice([0, 0, 0, 1, 2, 3])):
            if pending:
                stream = ActiveStream(pending.pop(0), model.decode)
                batch.add(stream)
                streams.append(stream)
        if cancels and rng.random() < 0.04 and batch.streams:
            victim = rng.choice(sorted(batch.streams, key=lambda s: s.stream_id))
            batch.remove(victim)
            victim.cancel()
        if pauses is not None:
            pauses.play(batch, done=not pending)
        if len(batch):
            batch.step()
    return {s.stream_id: (s.request.sink.ids, s.request.sink.finish) for s in streams}, batch


class _Pauses:
    """Pauses running streams and resumes paused ones at random moments,
    noting where each paused stream was and what it emitted while paused."""

    def __init__(self) -> None:
        self.rng = random.Random(11)
        self.paused: dict[str, tuple[ActiveStream, int]] = {}  # stream, tokens at its pause
        self.where: set[str] = set()  # "solo", "batch": where streams were when paused
        self.emitted_while_paused = 0

    def play(self, batch: ModelBatch, done: bool) -> None:
        running = sorted((s for s in batch.streams if s.stream_id not in self.paused),
                         key=lambda s: s.stream_id)
        if running and self.rng.random() < 0.15:
            stream = self.rng.choice(running)
            state = batch.stats()
            self.where.add("solo" if state.solo else "batch" if state.decoding > 1 else "other")
            batch.pause(stream)
            self.paused[stream.stream_id] = (stream, len(stream.request.sink.ids))
        # Resume at random, and always once nothing else runs (or would ever arrive).
        if self.paused and (self.rng.random() < 0.15 or (done and not running)):
            stream_id = self.rng.choice(sorted(self.paused))
            stream, before = self.paused.pop(stream_id)
            self.emitted_while_paused = max(self.emitted_while_paused,
                                            len(stream.request.sink.ids) - before)
            batch.resume(stream)


@pytest.mark.parametrize("buckets", ["off", [1, 2, 4, 8]])
def test_paused_streams_resume_where_they_stood_token_for_token(
        tiny: LoadedModel, buckets: Any) -> None:
    plain, _ = _run(tiny, buckets, cancels=False)
    tiny.model.shapes.clear()
    pauses = _Pauses()
    paused, batch = _run(tiny, buckets, cancels=False, pauses=pauses)
    assert paused == plain  # greedy and seeded streams alike
    if buckets != "off":  # a paused stream's row is replaced by a pad
        assert {shape[0] for shape in tiny.model.shapes if shape[1] == 1} <= {1, 2, 4, 8, 16}
    assert {"solo", "batch"} <= pauses.where
    # A stream prefilling in the generator stops once it has its first token.
    assert pauses.emitted_while_paused <= 1
    state = batch.stats()
    assert (state.decoding, state.pad_rows, state.waiting, len(batch)) == (0, 0, 0, 0)


def test_a_paused_stream_can_be_cancelled(tiny: LoadedModel) -> None:
    batch = ModelBatch(tiny, BatchingConfig(), PromptCacheConfig())
    streams = [ActiveStream(_request(i, 30, 0.0), tiny.decode) for i in range(2)]
    for stream in streams:
        batch.add(stream)
    while len(streams[0].request.sink.ids) < 3:
        batch.step()
    batch.pause(streams[0])
    batch.remove(streams[0])
    streams[0].cancel()
    while len(batch):
        batch.step()
    assert streams[0].request.sink.finish == "cancelled"
    assert streams[1].request.sink.finish == "length"


def test_buckets_keep_every_decode_step_at_a_bucket_size_and_change_no_token(
        tiny: LoadedModel) -> None:
    plain, _ = _run(tiny, "off")
    tiny.model.shapes.clear()
    padded, batch = _run(tiny, [1, 2, 4, 8])
    one_token = [shape[0] for shape in tiny.model.shapes if shape[1] == 1]
    assert set(one_token) <= {1, 2, 4, 8, 16} and {4, 8} <= set(one_token)
    assert padded == plain  # greedy and seeded streams alike
    assert sum(finish == "cancelled" for _, finish in plain.values()) >= 1
    state = batch.stats()
    assert (state.decoding, state.pad_rows, state.waiting) == (0, 0, 0)  # pads leave at the end


def test_batching_disabled_runs_one_stream_at_a_time(tiny: LoadedModel) -> None:
    batch = ModelBatch(tiny, BatchingConfig(enabled=False), PromptCacheConfig(enabled=False))
    streams = [ActiveStream(_request(i, 5, 0.0), tiny.decode) for i in range(3)]
    for stream in streams:
        batch.add(stream)
    batch.step()
    assert (batch.stats().waiting, len(batch)) == (2, 3)
    while len(batch):
        batch.step()
        assert batch.stats().decoding + batch.stats().prefilling <= 1
    assert all(s.request.sink.finish == "length" and len(s.request.sink.ids) == 5
               for s in streams)


def test_prompt_cache_keeps_to_its_entry_and_byte_budgets(tiny: LoadedModel) -> None:
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    def kv(tokens: list[int]) -> list[Any]:
        cache = make_prompt_cache(tiny.model.model)
        tiny.model.model(mx.array([tokens]), cache=cache)
        return cache

    sequences = [[5 + i, *list(range(20, 60))] for i in range(4)]
    by_count = PromptCache(PromptCacheConfig(max_entries=2, max_bytes=1 << 30))
    for tokens in sequences:
        by_count.store(tokens, kv(tokens))
    assert by_count.stats.entries == 2
    assert by_count.fetch(sequences[0] + [7]) is None  # the oldest went first
    hit = by_count.fetch(sequences[3] + [7, 8])
    assert hit is not None and hit.reused == len(sequences[3]) and hit.rest == [7, 8]

    one_entry = by_count.stats.bytes // 2
    by_bytes = PromptCache(PromptCacheConfig(max_entries=16, max_bytes=one_entry * 3 // 2))
    for tokens in sequences:
        by_bytes.store(tokens, kv(tokens))
        assert by_bytes.stats.bytes <= one_entry * 3 // 2
    assert by_bytes.stats.entries == 1

    exact = by_bytes.fetch(sequences[3])  # all cached: the last token still runs
    assert exact is not None and exact.rest == sequences[3][-1:]
    assert by_bytes.fetch(sequences[3][:10]) is None  # a shared prefix under min_prefix_tokens


def test_a_long_prompt_joins_in_small_chunks_while_a_stream_decodes(tiny: LoadedModel) -> None:
    config = BatchingConfig(target_step_ms=0.001, min_prefill_chunk=32)
    batch = ModelBatch(tiny, config, PromptCacheConfig(enabled=False))
    running = ActiveStream(_request(1, 200, 0.0), tiny.decode)
    batch.add(running)
    while not running.request.sink.ids:
        batch.step()
    long_prompt = _request(2, 4, 0.0)
    long_prompt.prompt = [0] + [5 + k % 400 for k in range(300)]
    joining = ActiveStream(long_prompt, tiny.decode)
    tiny.model.shapes.clear()
    batch.add(joining)
    before = len(running.request.sink.ids)
    while not joining.request.sink.ids:
        batch.step()
    chunks = [shape for shape in tiny.model.shapes if shape[1] > 1]
    assert len(chunks) >= 300 // 32 - 1 and max(shape[1] for shape in chunks) <= 64
    assert len(running.request.sink.ids) - before >= len(chunks)  # it kept decoding meanwhile
    assert batch.stats().prefill_chunk == 2048  # nothing prefills now: full chunks again
    batch.remove(running)
    running.cancel()
    while len(batch):
        batch.step()
