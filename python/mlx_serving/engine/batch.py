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
- buckets: the decode batch keeps a few sizes, padded with idle rows (buckets.py);
- solo: a stream that has the model to itself decodes outside the generator,
  on the model's plain caches (solo.py), which is faster than a batch of one.
  It moves into the generator, without prefilling again, as soon as another
  stream is admitted, and back out when it is the only one left;
- pause (backpressure from a slow reader): a paused stream leaves the
  generator or the solo path the same way, as a solo decoding that is not
  stepped (its caches and the token it sampled next), and joins again on
  resume, without a token of prefill repeated or a sampler draw skipped.

The stream's record decides when it ends (ActiveStream.emit: its stop token
ids, its token budget), not mlx-lm: mlx-lm would drop a finished row at once,
and with buckets the row must stay, as a pad, until the batch can shrink to
a smaller bucket.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from ..api.messages import BatchState
from ..config import BatchingConfig, PromptCacheConfig
from .batch_limits import BatchLimits
from .batch_sizing import batch_size_of
from .buckets import bucket_of, bucket_sizes, join_group
from .kv_cache import LeanKVCache, new_cache
from .models import LoadedModel
from .pacing import PrefillPacer
from .prompt_cache import PromptCache
from .sampling import LogitsProcessor, Sampler, make_logits_processors, make_sampler
from .solo import Sampled, SoloDecoding
from .stream import ActiveStream, GenerationRequest

_UNBOUNDED = 1 << 62  # max_tokens for mlx-lm: the batch ends rows itself
_PAD_TOKEN = 0
_OVERLONG_PAD = 256  # a pad this much longer than every stream is replaced by a fresh one


@dataclass(eq=False)
class _Admission:
    """A stream accepted by `add`: what mlx-lm needs to run it, and where it is
    (waiting, alone, in the generator, or set aside while paused)."""

    stream: ActiveStream
    sampler: Sampler
    logits_processors: list[LogitsProcessor]
    uid: int | None = None  # its row, while it is in the generator
    # Asked to pause while prefilling in the generator: it stops at its first token.
    pausing: bool = False
    paused: bool = False  # set aside (not waiting, alone nor in the generator) until resume
    # A stream that was paused: where it stood (its caches, the tokens they
    # hold, the token sampled next); it resumes from there, not from its prompt.
    parked: SoloDecoding | None = None


@dataclass
class _Row:
    """A sequence inside the generator: a stream's, or a pad (no admission)."""

    admission: _Admission | None
    length: int  # tokens in its KV cache
    ready: bool = False  # prefilled up to its last token: joins the decode batch next step
    decoding: bool = False
    prefilled: int = 0
    prefill_total: int = 0  # prompt tokens the generator was given to prefill


@dataclass
class _Solo:
    """The stream that decodes on its own, outside the generator."""

    admission: _Admission
    decoding: SoloDecoding


class ModelBatch:
    def __init__(self, model: LoadedModel, config: BatchingConfig,
                 cache_config: PromptCacheConfig, limits: BatchLimits | None = None) -> None:
        import mlx.core as mx
        from mlx_lm.generate import BatchGenerator, StopSequences
        from mlx_lm.sample_utils import greedy_sampler

        self.model = model
        self._config = config
        self.max_batch_size = batch_size_of(config, model.max_batch_size)
        # The generator's own limits never bind: admission and buckets decide.
        self._generator = BatchGenerator(
            model.model,
            sampler=greedy_sampler,
            completion_batch_size=2 * self.max_batch_size + config.prefill_batch_size,
            prefill_batch_size=self.max_batch_size + config.prefill_batch_size,
            prefill_step_size=config.prefill_step_size,
        )
        self._no_stops = StopSequences()
        self._streams: dict[str, _Admission] = {}  # every stream it holds, by stream id
        self._waiting: deque[_Admission] = deque()  # in admission order
        self._rows: dict[int, _Row] = {}  # the generator's sequences: streams' and pads
        self._solo: _Solo | None = None
        self.bucket_sizes = bucket_sizes(config.buckets, self.max_batch_size,
                                         on_gpu=mx.default_device().type == mx.gpu)
        self._pacer = PrefillPacer(config.prefill_step_size, config.min_prefill_chunk,
                                   config.target_step_ms, config.adaptive_sizing)
        self.prompt_cache = PromptCache(cache_config) if cache_config.enabled else None
        # The model's lowered max batch size (the engine's, shared by its batches).
        self._limits = BatchLimits() if limits is None else limits
        # Decode steps run and the stream tokens they made: the mean batch size.
        self._decode_steps = 0
        self._decoded_tokens = 0

    @property
    def streams(self) -> list[ActiveStream]:
        return [admission.stream for admission in self._streams.values()]

    def __len__(self) -> int:
        return len(self._streams)

    def add(self, stream: ActiveStream) -> None:
        model, request = self.model, stream.request
        stream.set_limits(model)
        sampler = make_sampler(request.sampling, model.vocab_size)
        processors = make_logits_processors(request.sampling)
        if stream.guide is not None:  # the grammar mask goes last, over the penalties
            processors.append(stream.guide)
            sampler = stream.guide.watch(sampler)
        admission = _Admission(stream=stream, sampler=sampler, logits_processors=processors)
        self._streams[stream.stream_id] = admission
        self._waiting.append(admission)

    def set_max_batch_size(self, size: int | None) -> None:
        """Lower its model's max batch size to `size` (None: back to its own):
        streams beyond it wait for a free slot; none is dropped."""
        self._limits.set(self.model.model_id, size)

    def pause(self, stream: ActiveStream) -> None:
        """Stop decoding `stream` until resume(); it keeps its caches. A
        stream still prefilling in the generator stops once it has its first token."""
        admission = self._streams[stream.stream_id]
        admission.pausing = True
        self._park(admission)
        if self.bucket_sizes:
            self._drop_surplus_pads()

    def resume(self, stream: ActiveStream) -> None:
        """Decode a paused stream again; it is admitted ahead of new streams."""
        admission = self._streams[stream.stream_id]
        admission.pausing = False
        if admission.paused:
            admission.paused = False
            self._waiting.appendleft(admission)

    def remove(self, stream: ActiveStream) -> None:
        admission = self._streams.pop(stream.stream_id)
        if admission.paused:
            decoding = admission.parked
            if decoding is not None and not decoding.prefilling:
                self._keep(stream.request, decoding.tokens, decoding.cache)
            return
        solo = self._solo
        if solo is not None and solo.admission is admission:
            self._solo = None
            if not solo.decoding.prefilling:
                self._keep(stream.request, solo.decoding.tokens, solo.decoding.cache)
            return
        uid = admission.uid
        if uid is None:
            self._waiting.remove(admission)
            return
        row = self._rows[uid]
        if row.decoding:
            self._retire(uid, row)
            if self.bucket_sizes:
                self._drop_surplus_pads()
        else:  # still prefilling
            self._generator.remove([uid])
            del self._rows[uid]

    def step(self) -> list[ActiveStream]:
        """One decode step (plus a prefill chunk for joining streams); returns
        the streams that finished in it."""
        finished = self._admit() if self._waiting else []
        if self._solo is not None:
            return finished + self._step_solo()
        if not self._stream_uids():  # nothing to decode (pads alone, or every stream paused)
            return finished
        if self.bucket_sizes:
            self._add_pads()
        decoding = prefilling = 0
        for row in self._rows.values():
            decoding += row.decoding or row.ready  # a ready row decodes from this step on
            prefilling += not (row.decoding or row.ready)
        self._generator.prefill_step_size = self._pacer.plan(decoding, prefilling)
        started = perf_counter()
        prompt_responses, responses = self._generator.next()
        elapsed = perf_counter() - started
        if responses:
            self._decode_steps += 1
            self._decoded_tokens += len(responses)
        for response in responses:
            stream = self._on_token(response)
            if stream is not None:
                finished.append(stream)
        prefilled, prefilled_pausing = self._on_progress(prompt_responses)
        self._pacer.observe(elapsed, prefilled, decoded=bool(responses))
        for admission in prefilled_pausing:
            self._park(admission)
        if self.bucket_sizes:
            self._drop_surplus_pads()
        if self._alone():
            self._go_solo()
        return finished

    def close(self) -> None:
        self._solo = None
        self._streams.clear()
        self._generator.close()
        if self.prompt_cache is not None:
            self.prompt_cache.clear()

    def stats(self) -> BatchState:
        """Safe to call from any thread."""
        rows = list(self._rows.values())
        decoding = [row for row in rows if row.decoding]
        solo = self._solo
        solo_prefilling = solo is not None and solo.decoding.prefilling
        pacer = self._pacer
        return BatchState(
            waiting=len(self._waiting),
            prefilling=sum(1 for row in rows if not row.decoding and row.admission)
            + solo_prefilling,
            decoding=sum(1 for row in decoding if row.admission)
            + (solo is not None and not solo_prefilling),
            solo=solo is not None,
            pad_rows=sum(1 for row in decoding if not row.admission),
            max_batch_size=self.max_batch_size,
            buckets=list(self.bucket_sizes),
            prefill_chunk=pacer.chunk,
            decode_step_ms=pacer.decode_step_ms,
            prefill_tokens_per_s=pacer.prefill_tokens_per_s,
            decode_steps=self._decode_steps,
            decoded_tokens=self._decoded_tokens,
        )

    # --- admission ------------------------------------------------------

    def _admit(self) -> list[ActiveStream]:
        """Start waiting streams; returns the streams that ended meanwhile
        (a solo stream emits its pending token when it joins the generator)."""
        config = self._config
        limit = self._limit()
        ended: list[ActiveStream] = []
        if self._solo is not None:
            if limit < 2:
                return ended  # it keeps the model to itself; the others wait
            ended = self._join_generator()
        joined = len(self._stream_uids())
        if config.solo and not joined and (limit < 2 or len(self._waiting) == 1):
            self._start_solo(self._waiting.popleft())
            return ended
        prefilling = sum(1 for row in self._rows.values() if not row.decoding and row.admission)
        while self._waiting and joined < limit and prefilling < config.prefill_batch_size:
            admission = self._waiting.popleft()
            if admission.parked is None:
                self._insert(admission, *self._start(admission))
            elif self._join(admission, admission.parked):
                ended.append(admission.stream)
                continue
            prefilling += 1
            joined += 1
        return ended

    def _limit(self) -> int:
        """How many streams may be in the generator (or alone) at once."""
        own = self.max_batch_size if self._config.enabled else 1
        lowered = self._lowered_limit()
        return own if lowered is None else min(lowered, own)

    def _lowered_limit(self) -> int | None:
        """Its model's lowered max batch size, if it has one."""
        return self._limits.get(self.model.model_id)

    def _stream_uids(self) -> list[int]:
        """The rows of the streams in the generator (pads have none)."""
        return [admission.uid for admission in self._streams.values() if admission.uid is not None]

    def _start(self, admission: _Admission) -> tuple[list[Any], list[int], list[int]]:
        """A new stream's cache, the prompt tokens it holds and those still to feed."""
        request = admission.stream.request
        prompt = request.prompt
        # A request can opt out (feature flag prompt_cache): no reuse, and its KV is not kept.
        cache = self.prompt_cache
        hit = cache.fetch(prompt) if cache is not None and request.use_prompt_cache else None
        admission.stream.cached_tokens = hit.reused if hit else 0
        if hit is None:
            return new_cache(self.model.model), [], prompt
        return hit.cache, prompt[:hit.reused], hit.rest

    def _insert(self, admission: _Admission, cache: list[Any], cached: list[int],
                rest: list[int]) -> None:
        """Into the generator, from `cache` (holding `cached`), with `rest` to feed."""
        (uid,) = self._generator.insert(
            [rest],
            max_tokens=[_UNBOUNDED],
            caches=[cache],
            all_tokens=[cached],
            samplers=[admission.sampler],
            logits_processors=[admission.logits_processors],
            stop_sequences=[self._no_stops],
        )
        self._rows[uid] = _Row(admission, length=len(cached) + len(rest), ready=len(rest) == 1)
        admission.uid = uid

    # --- solo -----------------------------------------------------------

    def _start_solo(self, admission: _Admission) -> None:
        if admission.parked is not None:  # a resumed stream goes on where it stood
            self._solo, admission.parked = _Solo(admission, admission.parked), None
            return
        cache, cached, rest = self._start(admission)
        self._solo = _Solo(admission, SoloDecoding(
            self.model.model, cache, cached, admission.sampler, admission.logits_processors,
            self._config.prefill_step_size, rest=rest))

    def _step_solo(self) -> list[ActiveStream]:
        solo = self._solo
        assert solo is not None
        admission = solo.admission
        sampled = solo.decoding.advance(more=admission.stream.tokens_left > 1)
        if sampled is None:
            admission.stream.on_prefill(*solo.decoding.prefill_progress)
            return []
        self._decode_steps += 1
        self._decoded_tokens += 1
        if not admission.stream.emit(*sampled):
            return []
        self._solo = None
        self._keep(admission.stream.request, solo.decoding.tokens, solo.decoding.cache)
        del self._streams[admission.stream.stream_id]
        return [admission.stream]

    def _join_generator(self) -> list[ActiveStream]:
        """Move the solo stream into the generator; [it] if it ended instead."""
        solo = self._solo
        assert solo is not None
        self._solo = None
        return [solo.admission.stream] if self._join(solo.admission, solo.decoding) else []

    def _join(self, admission: _Admission, decoding: SoloDecoding) -> bool:
        """Insert a sequence that decoded outside the generator; True when it
        ended instead (the token it had sampled was its last)."""
        admission.parked = None
        handoff = decoding.handoff()
        if handoff.pending is not None and admission.stream.emit(*handoff.pending):
            self._keep(admission.stream.request, handoff.tokens, handoff.cache)
            del self._streams[admission.stream.stream_id]
            return True
        self._insert(admission, handoff.cache, handoff.tokens, handoff.rest)
        return False

    def _alone(self) -> bool:
        """Whether the one stream left decodes alone from now on (nothing
        waits that could join it)."""
        if not self._config.solo or (self._waiting and self._limit() > 1):
            return False
        uids = self._stream_uids()
        return len(uids) == 1 and self._rows[uids[0]].decoding

    def _go_solo(self) -> None:
        """Take the only stream out of the generator, with its cache and the
        token it has sampled but not emitted yet; the pads go too."""
        (uid,) = self._stream_uids()
        admission = self._rows[uid].admission
        assert admission is not None
        decoding = self._take_out(uid, keep_row=False)
        pads = list(self._rows)
        if pads:
            self._generator.remove(pads)
        self._rows.clear()
        self._solo = _Solo(admission, decoding)

    def _take_out(self, uid: int, keep_row: bool) -> SoloDecoding:
        """A decoding row's sequence as a solo decoding (its cache, and the
        token it has sampled but not emitted yet); its row goes, or stays as
        a pad (`keep_row`, to keep the batch at its bucket size)."""
        row = self._rows[uid]
        admission = row.admission
        assert admission is not None and row.decoding
        sampled = _pending_token(self._generator, uid)
        if keep_row:
            ((cache, tokens),) = self._generator.extract_cache([uid]).values()
            tokens = list(tokens)  # the pad goes on appending to the generator's list
            _detach_row(self._generator, uid)
            row.admission = None
        else:
            ((cache, tokens),) = self._generator.remove([uid], return_prompt_caches=True).values()
            del self._rows[uid]
        admission.uid = None
        return SoloDecoding(
            self.model.model, [LeanKVCache.adopt(layer) for layer in cache], tokens,
            admission.sampler, admission.logits_processors, self._config.prefill_step_size,
            sampled=sampled)

    def _park(self, admission: _Admission) -> None:
        """Set aside a stream asked to pause, if it can stop now: any but one
        still prefilling in the generator (it stops at its first token)."""
        if self._take_parkable(admission):
            admission.pausing, admission.paused = False, True

    def _take_parkable(self, admission: _Admission) -> bool:
        """Take a stream out of wherever it runs, with its state; False while
        it prefills in the generator."""
        solo = self._solo
        if solo is not None and solo.admission is admission:
            self._solo, admission.parked = None, solo.decoding
            return True
        uid = admission.uid
        if uid is None:  # waiting (never started, or resumed and not readmitted yet)
            self._waiting.remove(admission)
            return True
        if not self._rows[uid].decoding:
            return False
        admission.parked = self._take_out(uid, keep_row=bool(self.bucket_sizes))
        return True

    # --- tokens ---------------------------------------------------------

    def _on_token(self, response: Any) -> ActiveStream | None:
        """Hand a sampled token to its stream; the stream if it ended."""
        row = self._rows[response.uid]
        row.length += 1
        admission = row.admission
        if admission is None:  # a pad: nobody reads it
            return None
        if not admission.stream.emit(response.token, response.logprobs):
            return None
        self._retire(response.uid, row)
        del self._streams[admission.stream.stream_id]
        return admission.stream

    def _on_progress(self, responses: list[Any]) -> tuple[int, list[_Admission]]:
        """Note prefill progress and joins; returns the prompt tokens prefilled,
        and the streams asked to pause that can stop now (their prefill is done)."""
        prefilled = 0
        can_stop: list[_Admission] = []
        for response in responses:
            row = self._rows.get(response.uid)
            if row is None:
                continue
            if response.end_of_prompt:
                row.decoding, row.ready = True, False
                if row.admission is not None and row.admission.pausing:
                    can_stop.append(row.admission)
                if row.admission is not None and row.prefill_total:  # the last token went in
                    row.admission.stream.on_prefill(row.prefill_total, row.prefill_total)
                continue
            done, total = response.progress
            row.prefill_total = total
            if row.admission is not None:
                row.admission.stream.on_prefill(done, total)
            prefilled += done - row.prefilled
            row.prefilled = done
            row.ready = done == total - 1
        return prefilled, can_stop

    def _retire(self, uid: int, row: _Row) -> None:
        """A decoding stream is done: keep its KV cache, free or pad its row."""
        assert row.admission is not None
        request = row.admission.stream.request
        keep = self._caches(request)
        row.admission.uid, row.admission = None, None
        if self.bucket_sizes:  # the row stays, as a pad
            caches = self._generator.extract_cache([uid]) if keep else {}
        else:
            caches = self._generator.remove([uid], return_prompt_caches=keep)
            del self._rows[uid]
        for cache, tokens in caches.values():
            self._keep(request, tokens, cache)

    def _keep(self, request: GenerationRequest, tokens: list[int], cache: list[Any]) -> None:
        """Give the KV cache of a stream that left to the prompt cache."""
        if self.prompt_cache is not None and request.use_prompt_cache:
            self.prompt_cache.store(tokens, cache)

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


def _pending_token(generator: Any, uid: int) -> Sampled:
    """The token a generator row has sampled but not returned yet.

    mlx-lm's generator samples a row's next token one step ahead and keeps it
    (with its logprobs) in its generation batch; it has no public accessor,
    so this reads mlx-lm 0.32's private fields (pinned in constraints.txt)."""
    batch = generator._generation_batch
    index = batch.uids.index(uid)
    return Sampled(batch._next_tokens[index:index + 1], batch._next_logprobs[index])


def _detach_row(generator: Any, uid: int) -> None:
    """Make a decoding row idle, to stay as a pad while its stream is paused:
    it must not draw from the stream's sampler (a seeded stream's key) nor
    feed its logits processors (a grammar's state). The generator samples such
    rows greedily. Reads mlx-lm 0.32's private fields, as _pending_token does."""
    batch = generator._generation_batch
    index = batch.uids.index(uid)
    batch.samplers[index] = None
    batch.logits_processors[index] = None
