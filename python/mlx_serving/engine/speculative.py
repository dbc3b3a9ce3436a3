"""Speculative decoding: a draft model proposes tokens, the target checks them in one pass.

A model with a draft attached (model/loadDraft) gets this runner beside its
batch. Every stream keeps a KV cache in each model and advances one round per
engine step: the draft proposes up to `num_draft_tokens` tokens (greedily:
its most likely ones), the target scores all of them in one forward pass, and
the target's own sampler picks each token in order. Proposals are kept while
the sampler picks them; the first token it picks otherwise ends the round.

Output is exactly what the target alone would write: greedy streams are
token-for-token the same, and a seeded sampler draws one key per emitted
token, as on the batch lane, so the same seed gives the same tokens with or
without a draft. The draft only changes how many target passes that takes.

Built from mlx-lm's pieces (prompt caches and their trimming, samplers,
logits processors) rather than its `speculative_generate_step` generator,
so that one round is one engine step (fair to the other lanes), prompts are
prefilled in chunks, sampling matches the batch lane, and a draft can be
detached from a running stream (it goes on decoding with the target alone).
Streams of this lane run one after another (sequential.py), not batched.
"""

from __future__ import annotations

from typing import Any, cast

from ..api.errors import ErrorCode, ServingError
from .models import LoadedModel
from .sampling import make_logits_processors, make_sampler
from .sequential import SequentialRunner
from .stream import ActiveStream, DraftCounts


class SpeculativeRunner(SequentialRunner["SpeculativeDecoding"]):
    """The speculative lane of one target model."""

    lane = "speculative"

    def start(self, stream: ActiveStream) -> SpeculativeDecoding:
        draft = self.model.draft
        if draft is None:
            raise ServingError(ErrorCode.DRAFT_NOT_LOADED,
                               f"model {self.model.model_id!r} has no draft model",
                               model=self.model.model_id)
        return SpeculativeDecoding(self.model, draft, stream, self.prefill_step)

    def detach_draft(self) -> int:
        """Let every stream go on without its draft; returns how many had one."""
        return sum(decoding.drop_draft() for decoding in self._decodings.values())


class SpeculativeDecoding:
    """One stream's state: its caches, the tokens so far and what to feed next."""

    def __init__(self, target: LoadedModel, draft: LoadedModel, stream: ActiveStream,
                 prefill_step: int) -> None:
        from mlx_lm.models.cache import make_prompt_cache
        from mlx_lm.sample_utils import greedy_sampler

        request = stream.request
        self.stream = stream
        self._target = target.model
        self._draft: Any = draft.model
        self._target_cache = make_prompt_cache(self._target)
        self._draft_cache: list[Any] | None = make_prompt_cache(self._draft)
        self._num_draft = request.num_draft_tokens
        self._sampler = make_sampler(request.sampling, target.vocab_size)
        self._greedy = self._sampler is greedy_sampler
        self._processors = make_logits_processors(request.sampling)
        self._penalty_window = request.sampling.penalty_context_size
        self._prefill_step = prefill_step
        self._prompt = request.prompt
        self._prefilled = 0  # prompt tokens in the caches; the last one is fed by round one
        self._tokens = list(request.prompt)  # prompt + emitted: the processors' context
        # Tokens each model has not seen yet; the draft may lag one behind.
        self._target_input = self._prompt[-1:]
        self._draft_input = self._prompt[-1:]
        self._counts = stream.draft_counts = DraftCounts()

    def drop_draft(self) -> bool:
        had = self._draft is not None
        self._draft = self._draft_cache = None
        return had

    def close(self) -> None:
        # Free the caches now, not whenever this object is collected.
        self.drop_draft()
        self._target_cache = []

    def advance(self) -> bool:
        """One prefill chunk or one round; True when the stream has finished."""
        if self._prefilled < len(self._prompt) - 1:
            self._prefill_chunk()
            return False
        return self._round()

    def _prefill_chunk(self) -> None:
        import mlx.core as mx

        end = min(self._prefilled + self._prefill_step, len(self._prompt) - 1)
        chunk = mx.array(self._prompt[self._prefilled:end])[None]
        caches = list(self._target_cache)
        self._target(chunk, cache=self._target_cache)
        if self._draft is not None and self._draft_cache is not None:
            self._draft(chunk, cache=self._draft_cache)
            caches += self._draft_cache
        mx.eval([cache.state for cache in caches])
        self._prefilled = end

    def _round(self) -> bool:
        import mlx.core as mx
        from mlx_lm.models.cache import trim_prompt_cache

        # Never let a round write past the budget: k proposals + 1 token.
        k = 0 if self._draft is None else min(self._num_draft, self.stream.tokens_left - 1)
        proposed = self._propose(k)
        inputs = mx.concatenate([mx.array(self._target_input, dtype=mx.int32), proposed])
        logits = self._target(inputs[None], cache=self._target_cache)[0, -(k + 1):, :]
        logprobs = self._logprobs(logits, proposed)
        drafts, chosen = self._choose(logprobs, proposed, k)
        accepted = len(chosen) - 1
        self._counts.proposed += k
        self._counts.accepted += accepted
        trim_prompt_cache(self._target_cache, k - accepted)
        if self._draft_cache is not None:
            # The draft never saw its own last proposal: it is one token behind.
            trim_prompt_cache(self._draft_cache, max(k - 1 - accepted, 0))
        self._target_input = chosen[-1:]
        self._draft_input = [drafts[-1], chosen[-1]] if k and accepted == k else chosen[-1:]
        return any(self._emit(token, logprobs, row, from_draft=row < accepted)
                   for row, token in enumerate(chosen))

    def _propose(self, k: int) -> Any:
        """k draft tokens, lazily: the draft's most likely continuation."""
        import mlx.core as mx

        proposed: list[Any] = []
        inputs = mx.array(self._draft_input, dtype=mx.int32)
        for _ in range(k):
            logits = self._draft(inputs[None], cache=self._draft_cache)[0, -1:, :]
            inputs = mx.argmax(self._processed(logits, proposed), axis=-1).astype(mx.int32)
            proposed.append(inputs)
        return mx.concatenate(proposed) if proposed else mx.array([], dtype=mx.int32)

    def _logprobs(self, logits: Any, proposed: Any) -> Any:
        """Normalized log-probabilities of each row, after the logits processors
        (row i continues the tokens so far plus the first i proposals)."""
        import mlx.core as mx

        if self._processors:
            rows = [self._processed(logits[i:i + 1], [proposed[:i]]) for i in range(len(logits))]
            logits = mx.concatenate(rows)
        return logits - mx.logsumexp(logits, axis=-1, keepdims=True)

    def _processed(self, logits: Any, proposed: list[Any]) -> Any:
        import mlx.core as mx

        if not self._processors:
            return logits
        context = mx.concatenate(
            [mx.array(self._tokens[-self._penalty_window:]), *proposed]).astype(mx.int32)
        for processor in self._processors:
            logits = processor(context, logits)
        return logits

    def _choose(self, logprobs: Any, proposed: Any, k: int) -> tuple[list[int], list[int]]:
        """(the proposals, the tokens this round emits): the proposals the
        target's sampler agrees with, then the first token it picks otherwise
        (or one more after all k)."""
        import mlx.core as mx

        if self._greedy:
            picks = mx.argmax(logprobs, axis=-1)
            mx.eval(picks, proposed)
            targets, drafts = _token_list(picks), _token_list(proposed)
            n = next((i for i in range(k) if targets[i] != drafts[i]), k)
            return drafts, [*drafts[:n], targets[n]]
        mx.eval(proposed)
        drafts = _token_list(proposed)
        chosen: list[int] = []
        # Row by row, so the sampler draws exactly one key per emitted token.
        for row in range(k + 1):
            chosen.append(self._sampler(logprobs[row:row + 1]).item())
            if row == k or chosen[-1] != drafts[row]:
                return drafts, chosen
        raise AssertionError("unreachable")

    def _emit(self, token: int, logprobs: Any, row: int, from_draft: bool) -> bool:
        self._tokens.append(token)
        return self.stream.emit(token, logprobs[row], from_draft=from_draft)


def _token_list(tokens: Any) -> list[int]:
    """A 1-d array of token ids as a list (tolist() is typed for any shape)."""
    return cast(list[int], tokens.tolist())
