"""One model's continuous batch: mlx-lm's BatchGenerator plus stream bookkeeping.

Streams join while others run and leave (finished, stopped by text,
cancelled) without stalling the rest; each keeps its own sampler, logits
processors, stop tokens and max_tokens.
"""

from __future__ import annotations

from ..config import BatchingConfig
from .models import LoadedModel
from .sampling import make_logits_processors, make_sampler
from .stream import ActiveStream


class ModelBatch:
    def __init__(self, model: LoadedModel, config: BatchingConfig) -> None:
        from mlx_lm.generate import BatchGenerator
        from mlx_lm.sample_utils import greedy_sampler

        self.model = model
        self._generator = BatchGenerator(
            model.model,
            sampler=greedy_sampler,
            completion_batch_size=config.max_batch_size,
            prefill_batch_size=min(config.prefill_batch_size, config.max_batch_size),
            prefill_step_size=config.prefill_step_size,
        )
        self._streams: dict[int, ActiveStream] = {}
        self._uids: dict[str, int] = {}
        self._prefill_batch_size = self._generator.prefill_batch_size

    @property
    def streams(self) -> list[ActiveStream]:
        return list(self._streams.values())

    def __len__(self) -> int:
        return len(self._streams)

    def add(self, stream: ActiveStream) -> None:
        from mlx_lm.generate import StopSequences

        model, request = self.model, stream.request
        stop_ids = sorted(set(model.tokenizer.eos_token_ids) | set(request.stop_token_ids))
        budget = min(request.max_tokens, model.context_length - len(request.prompt))
        sampler = make_sampler(request.sampling, model.vocab_size)
        processors = make_logits_processors(request.sampling)
        if stream.guide is not None:  # the grammar mask goes last, over the penalties
            processors.append(stream.guide)
            sampler = stream.guide.watch(sampler)
        (uid,) = self._generator.insert(
            [request.prompt],
            max_tokens=[budget],
            samplers=[sampler],
            logits_processors=[processors],
            stop_sequences=[StopSequences([(token,) for token in stop_ids])],
        )
        self._streams[uid] = stream
        self._uids[stream.stream_id] = uid

    def set_max_batch_size(self, size: int) -> None:
        """Streams beyond `size` wait in the generator's queue; none is dropped."""
        self._generator.prefill_batch_size = min(self._prefill_batch_size, size)
        self._generator.completion_batch_size = size

    def remove(self, stream: ActiveStream) -> None:
        uid = self._uids.pop(stream.stream_id)
        self._generator.remove([uid])
        del self._streams[uid]

    def step(self) -> list[ActiveStream]:
        """One decode step (plus a prefill chunk for joining streams); returns
        the streams that finished in it."""
        _, responses = self._generator.next()
        finished = []
        for response in responses:
            stream = self._streams[response.uid]
            logprob = (
                response.logprobs[response.token].item() if stream.request.logprobs else None
            )
            reason = stream.on_token(response.token, logprob, response.finish_reason)
            if reason is None:
                continue
            if response.finish_reason is None:  # stopped by text: the batch doesn't know
                self._generator.remove([response.uid])
            del self._streams[response.uid]
            del self._uids[stream.stream_id]
            finished.append(stream)
        return finished

    def close(self) -> None:
        self._generator.close()
