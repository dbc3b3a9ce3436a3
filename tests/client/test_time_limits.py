"""Time limits on the real runtime, made slow by its debug faults: a
generate() that times out is cancelled on the runtime, and a stream that
stalls while its consumer waits ends with TIMEOUT (and is cancelled)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import LONG_SEEDS, PROMPT, active_streams, eventually

from mlx_serving import Engine, EngineError, create_engine
from mlx_serving.client import ErrorChunk, TokenChunk


@pytest.fixture(scope="module")
def slow(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    config = tmp_path_factory.mktemp("config") / "runtime.yaml"
    # "tiny" stalls 4 s before its fifth token; "crawl" takes 50 ms per token.
    config.write_text("debug:\n  faults:\n    tiny: {stall_ms: 4000, stall_at_token: 5}\n"
                      "    crawl: {token_delay_ms: 50}\n")
    with create_engine(config_path=str(config)) as engine:
        engine.load_model(str(models / "tiny"), model_id="tiny")
        engine.load_model(str(models / "tiny"), model_id="crawl")
        yield engine


def test_a_generate_that_times_out_is_cancelled_on_the_runtime(slow: Engine) -> None:
    with pytest.raises(EngineError) as late:
        slow.generate(model="crawl", prompt=PROMPT, max_tokens=400, seed=LONG_SEEDS[0], timeout=0.5)
    assert late.value.code == "TIMEOUT" and late.value.data["method"] == "generate"
    eventually(lambda: active_streams(slow) == 0, "the runtime to cancel the generation")


def test_a_stream_that_stalls_while_its_consumer_waits_ends_with_timeout_and_is_cancelled(slow: Engine) -> None:
    chunks = list(slow.create_generator(model="tiny", prompt=PROMPT, max_tokens=400, seed=LONG_SEEDS[1],
                                        timeout=0.5))
    assert [chunk.type for chunk in chunks[:4]] == ["token"] * 4
    last = chunks[-1]
    assert isinstance(last, ErrorChunk) and last.error.code == "TIMEOUT" and "sent nothing" in last.error.message
    assert all(isinstance(chunk, TokenChunk) for chunk in chunks[:-1])
    eventually(lambda: active_streams(slow) == 0, "the runtime to cancel the stalled stream")
