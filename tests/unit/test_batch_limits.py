"""The lowered max batch size, kept once (engine/batch_limits.py): set says
whether it changed, None lifts it, and a batch given the map obeys what is
set in it later (as ops sets it on the engine's map)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlx_serving.config import BatchingConfig, PromptCacheConfig
from mlx_serving.engine.batch import ModelBatch
from mlx_serving.engine.batch_limits import BatchLimits
from mlx_serving.engine.models import LoadedModel, load_text_model
from mlx_serving.engine.sampling import SamplingSettings
from mlx_serving.engine.stream import ActiveStream, GenerationRequest, NullSink

GREEDY = SamplingSettings(temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, seed=0,
                          repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                          penalty_context_size=20)


def test_set_tells_whether_the_limit_changed() -> None:
    limits = BatchLimits()
    assert limits.get("tiny") is None and limits.all() == {}
    assert limits.set("tiny", 2) is True
    assert limits.set("tiny", 2) is False  # the same limit again: nothing to tell
    assert limits.set("other", 1) is True
    assert (limits.get("tiny"), limits.all()) == (2, {"tiny": 2, "other": 1})
    assert limits.set("tiny", None) is True
    assert limits.set("tiny", None) is False
    assert limits.all() == {"other": 1}


def test_all_is_a_copy() -> None:
    limits = BatchLimits()
    limits.set("tiny", 1)
    limits.all().clear()
    assert limits.get("tiny") == 1


@pytest.fixture(scope="module")
def tiny(models: Path) -> LoadedModel:
    return load_text_model(str(models / "tiny"), "tiny")


def _stream(model: LoadedModel, name: str) -> ActiveStream:
    request = GenerationRequest(stream_id=name, model_id="tiny", prompt=[0, 5, 9, 14],
                                max_tokens=12, sampling=GREEDY, stop_strings=[],
                                stop_token_ids=[], logprobs=False, sink=NullSink())
    return ActiveStream(request, model.decode)


def test_a_batch_obeys_a_limit_set_in_its_map_and_its_lifting(tiny: LoadedModel) -> None:
    limits = BatchLimits()
    batch = ModelBatch(tiny, BatchingConfig(solo=False, prefill_batch_size=4),
                       PromptCacheConfig(enabled=False), limits)
    limits.set("tiny", 1)
    for index in range(3):
        batch.add(_stream(tiny, f"s{index}"))
    batch.step()
    state = batch.stats()
    assert (state.prefilling + state.decoding, state.waiting) == (1, 2)
    limits.set("tiny", None)
    batch.step()
    assert batch.stats().waiting == 0  # the others joined once the limit was lifted
    while len(batch):
        batch.step()
