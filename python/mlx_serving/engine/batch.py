"""One model's continuous batch: mlx-lm's BatchGenerator plus stream bookkeeping.

Streams join while others run and leave (finished, stopped by text,
cancelled) without stalling the rest; each keeps its own sampler, logits
processors, stop tokens and max_tokens. Around the generator:

- admission: accepted streams wait in arrival order until the batch has room
  (`max_batch_size` streams, `prefill_batch_size` of them prefilling; one at
  a time when batching is disabled);
- prompt cache: a prompt that shares a prefix with an earlier sequence
  starts from its KV cache (prompt_cache.py), and every stream that leaves
  the decode batch gives its KV cache back to it;
- adaptive sizing: prefill chunks are sized so that running streams keep
  streaming while a long prompt joins (pacing.py);
- buckets: the decode batch keeps a few sizes, padded with idle rows (buckets.py).

The batch decides itself when a stream ends (its stop token ids, its token
budget): mlx-lm would drop a finished row at once, and with buckets the row
must stay, as a pad, until the batch can shrink to a smaller bucket.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from ..api.messages import BatchState
from ..config import BatchingConfig, PromptCacheConfig
from .buckets import bucket_of, bucket_sizes, join_group
from .kv_cache import new_cache
from .models import LoadedModel
from .pacing import PrefillPacer
from .prompt_cache import PromptCache
from .sampling import LogitsProcessor, Sampler, make_logits_processors, make_sampler
from .stream import ActiveStream, GenerationRequest

_UNBOUNDED = 1 << 62  # max_tokens for mlx-lm: the batch ends rows itself
_PAD_TOKEN = 0
_OVERLONG_PAD = 256  # a pad this much longer than every stream is replaced by a fresh one


@dataclass
class _Admission:
    """A stream accepted by `add`, with what mlx-lm needs to run it."""

    stream: ActiveStream
    sampler: Sampler
    logits_processors: list[LogitsProcessor]
    stop_ids: frozenset[int]
    budget: int  # tokens it may generate


@dataclass
class _Row:
    """A sequence inside the generator: a stream's, or a pad (no admission)."""

    admission: _Admission | None
    length: int  # tokens in its KV cache
    ready: bool = False  # prefilled up to its last token: joins the decode batch next step
    decoding: bool = False
    prefilled: int = 0
    generated: int = 0


class ModelBatch:
    def __init__(self, model: LoadedModel, config: BatchingConfig,
                 cache_config: PromptCacheConfig) -> None:
        import mlx.core as mx
        from mlx_lm.generate import BatchGenerator, StopSequences
        from mlx_lm.sample_utils import greedy_sampler

        self.model = model
        self._config = config
        # The generator's own limits never bind: admission and buckets decide.
        self._generator = BatchGenerator(
            model.model,
            sampler=greedy_sampler,
            completion_batch_size=2 * config.max_batch_size + config.prefill_batch_size,
            prefill_batch_size=config.max_batch_size + config.prefill_batch_size,
            prefill_step_size=config.prefill_step_size,
        )
        self._no_stops = StopSequences()
        self._waiting: deque[_Admission] = deque()
        self._rows: dict[int, _Row] = {}
        self._uids: dict[str, int] = {}
        self.bucket_sizes = bucket_sizes(config.buckets, config.max_batch_size,
                                         on_gpu=mx.default_device().type == mx.gpu)
        self._pacer = PrefillPacer(config.prefill_step_size, config.min_prefill_chunk,
                                   config.target_step_ms, config.adaptive_sizing)
        self.prompt_cache = PromptCache(cache_config) if cache_config.enabled else None
        # Lowered by QoS reduce_batch or the batching flag (Engine.set_batch_limit).
        self._max_batch_size = config.max_batch_size

    @property
    def streams(self) -> list[ActiveStream]:
        return [a.stream for a in self._waiting] + [
            row.admission.stream for row in self._rows.values() if row.admission]

    def __len__(self) -> int:
        return len(self._waiting) + len(self._uids)

    def add(self, stream: ActiveStream) -> None:
        model, request = self.model, stream.request
        stop_ids = frozenset(model.tokenizer.eos_token_ids) | frozenset(request.stop_token_ids)
        sampler = make_sampler(request.sampling, model.vocab_size)
        processors = make_logits_processors(request.sampling)
        if stream.guide is not None:  # the grammar mask goes last, over the penalties
            processors.append(stream.guide)
            sampler = stream.guide.watch(sampler)
        self._waiting.append(_Admission(
            stream=stream,
            sampler=sampler,
            logits_processors=processors,
            stop_ids=stop_ids,
            budget=min(request.max_tokens, model.context_length - len(request.prompt)),
        ))

    def set_max_batch_size(self, size: int) -> None:
        """Streams beyond `size` wait for a free slot; none is dropped."""
        self._max_batch_size = size

    def remove(self, stream: ActiveStream) -> None:
        uid = self._uids.get(stream.stream_id)
        if uid is None:
            self._waiting.remove(next(a for a in self._waiting if a.stream is stream))
            return
        row = self._rows[uid]
        if row.decoding:
            self._retire(uid, row)
            if self.bucket_sizes:
                self._drop_surplus_pads()
        else:  # still prefilling
            self._generator.remove([uid])
            del self._rows[uid], self._uids[stream.stream_id]

    def step(self) -> list[ActiveStream]:
        """One decode step (plus a prefill chunk for joining streams); returns
        the streams that finished in it."""
        if self._waiting:
            self._admit()
        if self.bucket_sizes:
            self._add_pads()
        decoding = prefilling = 0
        for row in self._rows.values():
            decoding += row.decoding
            prefilling += not (row.decoding or row.ready)
        self._generator.prefill_step_size = self._pacer.plan(decoding, prefilling)
        started = perf_counter()
        prompt_responses, responses = self._generator.next()
        elapsed = perf_counter() - started
        finished = []
        for response in responses:
            stream = self._on_token(response)
            if stream is not None:
                finished.append(stream)
        prefilled = self._on_progress(prompt_responses)
        self._pacer.observe(elapsed, prefilled, decoded=bool(responses))
        if self.bucket_sizes:
            self._drop_surplus_pads()
        return finished

    def close(self) -> None:
        self._generator.close()
        if self.prompt_cache is not None:
            self.prompt_cache.clear()

    def stats(self) -> BatchState:
        """Safe to call from any thread."""
        rows = list(self._rows.values())
        decoding = [row for row in rows if row.decoding]
        pacer = self._pacer
        return BatchState(
            waiting=len(self._waiting),
            prefilling=sum(1 for row in rows if not row.decoding and row.admission),
            decoding=sum(1 for row in decoding if row.admission),
            pad_rows=sum(1 for row in decoding if not row.admission),
            buckets=list(self.bucket_sizes),
            prefill_chunk=pacer.chunk,
            decode_step_ms=pacer.decode_step_ms,
            prefill_tokens_per_s=pacer.prefill_tokens_per_s,
        )

    # --- admission ------------------------------------------------------

    def _admit(self) -> None:
        config = self._config
        limit = min(self._max_batch_size, config.max_batch_size if config.enabled else 1)
        prefilling = sum(1 for row in self._rows.values() if not row.decoding and row.admission)
        while self._waiting and len(self._uids) < limit and prefilling < config.prefill_batch_size:
            self._insert(self._waiting.popleft())
            prefilling += 1

    def _insert(self, admission: _Admission) -> None:
        request = admission.stream.request
        prompt = request.prompt
        # A request can opt out (feature flag prompt_cache): no reuse, and its KV is not kept.
        hit = self.prompt_cache.fetch(prompt) if self._caches(request) else None
        cache, rest, reused = (hit.cache, hit.rest, hit.reused) if hit else (
            new_cache(self.model.model), prompt, 0)
        admission.stream.cached_tokens = reused
        (uid,) = self._generator.insert(
            [rest],
            max_tokens=[_UNBOUNDED],
            caches=[cache],
            all_tokens=[prompt[:reused]],
            samplers=[admission.sampler],
            logits_processors=[admission.logits_processors],
            stop_sequences=[self._no_stops],
        )
        self._rows[uid] = _Row(admission, length=len(prompt), ready=len(rest) == 1)
        self._uids[admission.stream.stream_id] = uid

    # --- tokens ---------------------------------------------------------

    def _on_token(self, response: Any) -> ActiveStream | None:
        """Hand a sampled token to its stream; the stream if it ended."""
        row = self._rows[response.uid]
        row.length += 1
        admission = row.admission
        if admission is None:  # a pad: nobody reads it
            return None
        row.generated += 1
        token = response.token
        if token in admission.stop_ids:
            finish = "stop"
        elif row.generated >= admission.budget:
            finish = "length"
        else:
            finish = None
        stream = admission.stream
        logprob = response.logprobs[token].item() if stream.request.logprobs else None
        if stream.on_token(token, logprob, finish) is None:
            return None
        self._retire(response.uid, row)
        return stream

    def _on_progress(self, responses: list[Any]) -> int:
        """Note prefill progress and joins; returns the prompt tokens prefilled."""
        prefilled = 0
        for response in responses:
            row = self._rows.get(response.uid)
            if row is None:
                continue
            if response.end_of_prompt:
                row.decoding, row.ready = True, False
                continue
            done, total = response.progress
            prefilled += done - row.prefilled
            row.prefilled = done
            row.ready = done == total - 1
        return prefilled

    def _retire(self, uid: int, row: _Row) -> None:
        """A decoding stream is done: keep its KV cache, free or pad its row."""
        assert row.admission is not None
        del self._uids[row.admission.stream.stream_id]
        keep = self._caches(row.admission.stream.request)
        row.admission = None
        if self.bucket_sizes:  # the row stays, as a pad
            caches = self._generator.extract_cache([uid]) if keep else {}
        else:
            caches = self._generator.remove([uid], return_prompt_caches=keep)
            del self._rows[uid]
        for cache, tokens in caches.values():
            self.prompt_cache.store(tokens, cache)  # type: ignore[union-attr]

    def _caches(self, request: GenerationRequest) -> bool:
        return self.prompt_cache is not None and request.use_prompt_cache

    # --- buckets --------------------------------------------------------

    def _add_pads(self) -> None:
        """Top up the streams that join in the coming step to a bucket-sized
        group; or, when none join, replace a pad that outgrew every stream."""
        rows = self._rows.values()
        joining = sum(1 for row in rows if row.ready and row.admission)
        decoding = [row for row in rows if row.decoding]
        streams = sum(1 for row in decoding if row.admission)
        if joining:
            pads = join_group(joining, streams, len(decoding), self.bucket_sizes) - joining
        else:
            longest_stream = max((r.length for r in decoding if r.admission), default=0)
            longest_pad = max((r.length for r in decoding if not r.admission), default=0)
            pads = 1 if streams and longest_pad > longest_stream + _OVERLONG_PAD else 0
        if not pads:
            return
        uids = self._generator.insert(
            [[_PAD_TOKEN]] * pads,
            max_tokens=[_UNBOUNDED] * pads,
            caches=[new_cache(self.model.model) for _ in range(pads)],
            stop_sequences=[self._no_stops] * pads,
        )
        for uid in uids:
            self._rows[uid] = _Row(None, length=1, ready=True)

    def _drop_surplus_pads(self) -> None:
        """Shrink the decode batch to the bucket of its streams, longest pads first."""
        decoding = [(row.length, uid) for uid, row in self._rows.items() if row.decoding]
        streams = sum(1 for _, uid in decoding if self._rows[uid].admission)
        surplus = len(decoding) - bucket_of(streams, self.bucket_sizes)
        if surplus <= 0:
            return
        pads = sorted(((length, uid) for length, uid in decoding
                       if not self._rows[uid].admission), reverse=True)[:surplus]
        self._generator.remove([uid for _, uid in pads])
        for _, uid in pads:
            del self._rows[uid]
