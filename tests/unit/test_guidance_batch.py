"""Guided streams of different grammars in one ModelBatch step.

Each stream carries its own matcher as a logits processor; the batch runs
both through the same forward pass and samples each row under its own mask.
With the random-weights tiny model, only the masks make the outputs valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from guidance_corpus import Case
from mlx_serving.api.messages import Guidance
from mlx_serving.config import BatchingConfig, GuidanceConfig, PromptCacheConfig
from mlx_serving.engine.batch import ModelBatch
from mlx_serving.engine.models import LoadedModel, load_text_model
from mlx_serving.engine.sampling import SamplingSettings
from mlx_serving.engine.stream import ActiveStream, GenerationRequest
from mlx_serving.guidance.compiler import GuidanceCompiler

PERSON = Case("person", {"mode": "json_schema", "schema": {
    "type": "object", "properties": {"name": {"type": "string", "maxLength": 4},
                                     "ok": {"type": "boolean"}},
    "required": ["name", "ok"], "additionalProperties": False}})
PHONE = Case("phone", {"mode": "regex", "pattern": r"\+1-\d{3}-\d{3}-\d{4}"})


class _Sink:
    """Keeps a stream's text, its end, and the batch steps that gave it tokens."""

    def __init__(self, steps: list[int]) -> None:
        self._steps = steps  # the current step number, shared by the test
        self.text = ""
        self.token_steps: set[int] = set()
        self.finish: str | None = None
        self.complete: bool | None = None

    def accepted(self, stream_id: str) -> None: ...

    def rejected(self, error: Any) -> None: ...

    def tokens(self, stream_id: str, tokens: list[Any]) -> None:
        self.text += "".join(token.text for token in tokens)
        self.token_steps.add(self._steps[0])

    def end(self, stream_id: str, finish_reason: str, stats: Any, guidance: Any = None) -> None:
        self.finish, self.complete = finish_reason, guidance.complete

    def error(self, stream_id: str, error: Any, stats: Any) -> None:
        raise AssertionError(error)


@pytest.fixture(scope="module")
def tiny(models: Path) -> LoadedModel:
    return load_text_model(str(models / "tiny"), "tiny")


def _stream(model: LoadedModel, compiler: GuidanceCompiler, case: Case, seed: int,
            steps: list[int]) -> ActiveStream:
    sampling = SamplingSettings(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, seed=seed,
                                repetition_penalty=1.0, presence_penalty=0.0,
                                frequency_penalty=0.0, penalty_context_size=20)
    request = GenerationRequest(
        stream_id=f"{case.name}{seed}", model_id="tiny", prompt=[0, 40, 41, 42], max_tokens=80,
        sampling=sampling, stop_strings=[], stop_token_ids=[], logprobs=False,
        sink=_Sink(steps),
        guidance=compiler.compile(model, msgspec.convert(case.guidance, Guidance)))
    return ActiveStream(request, model.decode)


@pytest.mark.parametrize("backend", ["llguidance", "outlines-core"])
def test_two_grammars_decode_in_the_same_steps(tiny: LoadedModel, backend: str) -> None:
    compiler = GuidanceCompiler(GuidanceConfig(backend=backend))
    batch = ModelBatch(tiny, BatchingConfig(max_batch_size=4, prefill_batch_size=4),
                       PromptCacheConfig(enabled=False))
    steps = [0]
    pairs = [(_stream(tiny, compiler, PERSON, seed, steps),
              _stream(tiny, compiler, PHONE, seed, steps)) for seed in range(3)]
    for pair in pairs:
        for stream in pair:
            batch.add(stream)
    while len(batch):
        steps[0] += 1
        batch.step()
    for json_stream, regex_stream in pairs:
        json_sink, regex_sink = json_stream.request.sink, regex_stream.request.sink
        # Both ran through the same forward passes, each under its own mask ...
        assert len(json_sink.token_steps & regex_sink.token_steps) >= 10
        # ... and each output is whole and valid for its own grammar.
        for case, sink in ((PERSON, json_sink), (PHONE, regex_sink)):
            assert (sink.finish, sink.complete) == ("stop", True), (case.name, sink.text)
            case.check(sink.text)
