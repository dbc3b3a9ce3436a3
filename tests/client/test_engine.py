"""The Python client against the real runtime and the tiny local model; one
engine serves every test here (each test leaves it idle)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import LONG_SEEDS, PROMPT, active_streams, end_of, eventually, text_of, tokens_of
from msgspec import UNSET

from mlx_serving import Engine, EngineError
from mlx_serving.api.messages import GuidanceOutcome, ModelProgress
from mlx_serving.client import ErrorChunk, MetadataChunk, TokenChunk


def test_a_generator_yields_one_chunk_per_token_then_the_metadata_and_generate_returns_the_same_text(
        engine: Engine) -> None:
    params = {"model": "tiny", "prompt": PROMPT, "max_tokens": 24, "seed": 7, "temperature": 0.9}
    chunks = list(engine.create_generator(params))
    tokens = tokens_of(chunks)
    end = end_of(chunks)
    assert (end.finish_reason, end.stats.generated_tokens, len(tokens), len(chunks)) == ("length", 24, 24, 25)
    assert end.model == "tiny" and end.variant == "stable"
    assert all(isinstance(token.token_id, int) and isinstance(token.token, str) for token in tokens)

    text = engine.generate(params)
    assert isinstance(text, str)
    assert text == text_of(chunks), "same seed, same tokens, streamed or not"
    detailed = engine.generate_detailed(**params)
    assert (detailed.text, detailed.finish_reason, detailed.stats.generated_tokens) == (text, "length", 24)
    assert detailed.stream_id.startswith("py-") and detailed.model == "tiny"


def test_params_take_either_spelling_and_aliases_and_two_that_disagree_are_refused(engine: Engine) -> None:
    chunks = list(engine.create_generator(model="tiny", prompt=PROMPT, maxTokens=3, temperature=0))
    assert end_of(chunks).stats.generated_tokens == 3
    assert engine.generate({"model": "tiny", "prompt": PROMPT, "maxTokens": 3, "temperature": 0}) == text_of(chunks)
    with pytest.raises(EngineError) as refused:
        engine.generate(model="tiny", prompt=PROMPT, max_tokens=3, maxTokens=4)
    assert refused.value.code == "INVALID_OPTIONS" and "max_tokens" in refused.value.message
    with pytest.raises(EngineError) as streaming:
        engine.generate(model="tiny", prompt=PROMPT, stream=True)
    assert streaming.value.code == "INVALID_OPTIONS" and "create_generator()" in streaming.value.message


def test_logprobs_ride_along_on_each_token_chunk(engine: Engine) -> None:
    tokens = tokens_of(list(engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=4, logprobs=True,
                                                    temperature=0)))
    assert len(tokens) == 4
    assert all(token.logprob is not None and token.logprob <= 0 for token in tokens)


def test_top_logprobs_ride_along_ranked(engine: Engine) -> None:
    tokens = tokens_of(list(engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=6, top_logprobs=3,
                                                    temperature=0, repetition_penalty=1.5)))
    assert len(tokens) == 6
    for token in tokens:
        top = token.top_logprobs
        assert top is not None and len(top) == 3
        assert [a.logprob for a in top] == sorted((a.logprob for a in top), reverse=True)
        # Greedy: the chosen token tops the row it was picked from.
        assert top[0].token_id == token.token_id and top[0].logprob == pytest.approx(token.logprob)
        assert all(isinstance(a.token, str) for a in top)
    whole = engine.generate_detailed({"model": "tiny", "prompt": PROMPT, "maxTokens": 4, "topLogprobs": 2,
                                      "temperature": 0, "repetitionPenalty": 1.5})
    assert whole.tokens is not UNSET and [t.id for t in whole.tokens] == [t.token_id for t in tokens[:4]]
    assert all(t.top_logprobs is not UNSET and len(t.top_logprobs) == 2 for t in whole.tokens)
    plain = tokens_of(list(engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=2)))
    assert all(token.top_logprobs is None and token.logprob is None for token in plain)
    with pytest.raises(EngineError) as bad:
        engine.generate(model="tiny", prompt=PROMPT, max_tokens=2, top_logprobs=21)
    assert bad.value.code == "INVALID_PARAMS" and "top_logprobs" in bad.value.message


def test_runtime_errors_are_engine_errors_with_the_stable_code_and_the_engine_keeps_serving(engine: Engine) -> None:
    with pytest.raises(EngineError) as missing:
        engine.generate(model="nope", prompt=PROMPT)
    assert (missing.value.code, missing.value.rpc_code) == ("MODEL_NOT_LOADED", -32001)
    with pytest.raises(EngineError) as bad:
        engine.generate(model="tiny", prompt=PROMPT, max_tokens=0)
    assert bad.value.code == "INVALID_PARAMS" and "max_tokens" in bad.value.message
    chunks = list(engine.create_generator(model="nope", prompt=PROMPT))
    assert len(chunks) == 1 and isinstance(chunks[0], ErrorChunk)
    assert chunks[0].error.code == "MODEL_NOT_LOADED"
    with pytest.raises(EngineError) as unknown:
        engine.request("no/such-method")
    assert unknown.value.code == "METHOD_NOT_FOUND"
    assert engine.tokenize(model="tiny", text=PROMPT), "still serving"


def test_leaving_the_loop_early_cancels_the_stream_on_the_runtime(engine: Engine) -> None:
    generator = engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=500, seed=LONG_SEEDS[0])
    for chunk in generator:
        assert isinstance(chunk, TokenChunk)
        break
    eventually(lambda: active_streams(engine) == 0, "the runtime to drop the stream")
    eventually(lambda: engine.get_info().open_streams == 0, "its end to come back")
    # cancel() instead: the stream ends with the runtime's "cancelled".
    other = engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=500, seed=LONG_SEEDS[1])
    reading = iter(other)  # one pass over the stream: dropping it would leave the stream
    assert isinstance(next(reading), TokenChunk)
    other.cancel()
    rest = list(reading)
    assert end_of(rest).finish_reason == "cancelled" and other.finish_reason == "cancelled"


def test_async_for_reads_a_stream_and_async_with_closes_the_generator(engine: Engine) -> None:
    expected = engine.generate(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0)

    async def read() -> list[str]:
        texts: list[str] = []
        async for chunk in engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0):
            if isinstance(chunk, TokenChunk):
                texts.append(chunk.token)
            else:
                assert isinstance(chunk, MetadataChunk) and chunk.finish_reason == "length"
        async with engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=500,
                                           seed=LONG_SEEDS[2]) as unread:
            async for _chunk in unread:
                break
        return texts

    assert "".join(asyncio.run(read())) == expected
    eventually(lambda: active_streams(engine) == 0, "the runtime to drop the stream left early")


def test_two_async_streams_run_at_once_on_one_loop(engine: Engine) -> None:
    async def one(seed: int) -> str:
        chunks = [chunk async for chunk in engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=16,
                                                                    seed=seed)]
        return text_of(chunks)

    async def both() -> list[str]:
        return list(await asyncio.gather(one(3), one(4)))

    assert asyncio.run(both()) == [engine.generate(model="tiny", prompt=PROMPT, max_tokens=16, seed=seed)
                                   for seed in (3, 4)]


def test_tokenize_and_detokenize_round_trip(engine: Engine) -> None:
    ids = engine.tokenize(model="tiny", text=PROMPT, add_bos=False)
    assert ids and all(isinstance(token, int) for token in ids)
    assert engine.detokenize(model="tiny", tokens=ids) == PROMPT


def test_generate_json_parses_a_guided_value_and_refuses_a_cut_one(engine: Engine) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0, "maximum": 30}},
              "required": ["age"], "additionalProperties": False}
    value = engine.generate_json(model="tiny", prompt="A pet as JSON:", max_tokens=40, temperature=0,
                                 guidance={"mode": "json_schema", "schema": schema})
    assert isinstance(value, dict) and set(value) == {"age"} and 0 <= value["age"] <= 30
    with pytest.raises(EngineError) as cut:
        engine.generate_json(model="tiny", prompt="A pet as JSON:", max_tokens=2,
                             guidance={"mode": "json_schema", "schema": schema})
    assert cut.value.code == "GUIDANCE_INCOMPLETE" and cut.value.data["finish_reason"] == "length"
    assert isinstance(cut.value.data["text"], str)
    with pytest.raises(EngineError) as no_schema:
        engine.generate_json(model="tiny", prompt="x", guidance={"mode": "regex", "pattern": "a+"})
    assert no_schema.value.code == "INVALID_OPTIONS"
    guided = engine.generate_detailed(model="tiny", prompt="x", max_tokens=30,
                                      guidance={"mode": "regex", "pattern": "(yes|no)"})
    assert guided.text in ("yes", "no") and isinstance(guided.guidance, GuidanceOutcome) and guided.guidance.complete


def test_request_reaches_any_method_typed_and_refuses_the_ones_that_keep_state(engine: Engine) -> None:
    state = engine.request("runtime/state")
    assert state.status == "ready" and [model.model_id for model in state.models] == ["tiny"]
    assert engine.request("batch_tokenize", {"model": "tiny", "texts": ["a", "b"]}).tokens
    for method in ("model/load", "load_model", "generate", "runtime/shutdown"):
        with pytest.raises(EngineError) as refused:
            engine.request(method, {})
        assert refused.value.code == "INVALID_OPTIONS" and "instead of request" in refused.value.message


def test_metrics_prometheus_flags_and_config_reload(engine: Engine) -> None:
    engine.generate(model="tiny", prompt=PROMPT, max_tokens=3)
    metrics = engine.get_metrics("tiny")
    window = metrics.models["tiny"].window
    assert window.requests.completed >= 1 and window.ttft_ms.p50 is not None
    assert "mlx_serving_requests_total" in engine.get_prometheus_metrics()
    flags = engine.get_flags("user-42")
    assert "prompt_cache" in flags.flags and flags.flags["prompt_cache"].on_for_key is not None
    reloaded = engine.reload_config()
    assert reloaded.changed == [] and reloaded.flags_changed == []
    with pytest.raises(EngineError) as unknown:
        engine.get_metrics("nope")
    assert unknown.value.code == "MODEL_NOT_LOADED"


def test_models_drafts_and_the_info_that_tracks_them(engine: Engine, models: Path) -> None:
    assert [model.model_id for model in engine.list_models()] == ["tiny"]
    check = engine.is_draft_model_compatible(model="tiny", draft_model=str(models / "tiny-draft"))
    assert check.compatible and check.reasons == []
    attached = engine.load_draft_model({"model": "tiny", "draftModel": str(models / "tiny-draft")})
    assert attached.model_id == "tiny" and engine.get_info().drafts == {"tiny": str(models / "tiny-draft")}
    chunks = list(engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=8, temperature=0))
    assert isinstance(end_of(chunks).stats.draft_tokens_proposed, int), "decoded with the draft"
    engine.unload_draft_model("tiny")
    assert engine.get_info().drafts == {}
    with pytest.raises(EngineError) as none:
        engine.unload_draft_model("tiny")
    assert none.value.code == "DRAFT_NOT_LOADED"
    seen: list[ModelProgress] = []
    second = engine.load_model({"model": str(models / "tiny-4bit"), "modelId": "tiny4"}, on_progress=seen.append)
    assert second.model_id == "tiny4" and engine.get_info().models == ["tiny", "tiny4"]
    assert seen and {progress.model_id for progress in seen} == {"tiny4"}
    assert seen[-1].done == seen[-1].total and "reading" in {progress.phase for progress in seen}
    assert engine.unload_model("tiny4").model_id == "tiny4"
    assert engine.get_info().models == ["tiny"]


def test_a_vision_model_reads_an_image(engine: Engine, models: Path, tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(image)
    loaded = engine.load_vision_model(str(models / "tiny-vision"), model_id="vision")
    assert loaded.kind == "vision"
    try:
        chunks = list(engine.create_vision_generator(model="vision", prompt="What is this?", images=[str(image)],
                                                     max_tokens=4))
        assert end_of(chunks).stats.generated_tokens == len(tokens_of(chunks))
        with pytest.raises(EngineError) as no_images:
            engine.create_vision_generator(model="vision", prompt="What is this?")
        assert no_images.value.code == "INVALID_OPTIONS"
        failed = list(engine.create_vision_generator(model="vision", prompt="x", images=[str(tmp_path / "gone.png")]))
        assert isinstance(failed[-1], ErrorChunk) and failed[-1].error.code == "IMAGE_INVALID"
    finally:
        engine.unload_model("vision")


def test_a_consumer_that_sleeps_gets_every_token_in_order_while_reading_pauses(engine: Engine) -> None:
    before = engine.get_info().flow.pauses
    chunks = []
    for index, chunk in enumerate(engine.create_generator(model="tiny", prompt=PROMPT, max_tokens=120,
                                                          seed=LONG_SEEDS[0])):
        if index % 4 == 0:
            time.sleep(0.3 if index == 0 else 0.01)  # a long nap first (the runtime gets well ahead)
        chunks.append(chunk)
    assert len(tokens_of(chunks)) == end_of(chunks).stats.generated_tokens
    info = engine.get_info().flow
    assert info.pauses + info.stream_pauses > before, "the client paused while its consumer was behind"
    assert not info.paused


def test_a_generator_nobody_reads_stays_within_a_bound_then_resumes_token_for_token(engine: Engine) -> None:
    params = {"model": "tiny", "prompt": PROMPT, "max_tokens": 400, "seed": LONG_SEEDS[1]}
    expected = engine.generate(params)
    pauses = engine.get_info().flow.stream_pauses
    # Its time limit runs only while its consumer waits, not while it is paused for being behind.
    slow = engine.create_generator(params, timeout=0.5)
    fast = list(engine.create_generator({**params, "seed": LONG_SEEDS[2]}))
    assert len(tokens_of(fast)) == 400
    eventually(lambda: engine.get_info().flow.paused_streams == 1, "the unread stream to pause")
    time.sleep(0.7)
    # The mark (4), plus what was under way when the runtime paused it: far from its 400 tokens.
    assert slow.buffered_tokens < 100
    assert engine.get_info().flow.stream_pauses > pauses
    assert not engine.get_info().flow.paused, "paused on the runtime, it no longer holds the pipe"
    chunks = list(slow)
    assert end_of(chunks).finish_reason == "length"
    assert text_of(chunks) == expected, "paused and resumed, token for token"
    assert engine.get_info().flow.paused_streams == 0


def test_importing_the_client_imports_no_mlx() -> None:
    code = ("import sys, mlx_serving; from mlx_serving import Engine, create_engine, EngineError; "
            "import mlx_serving.client; print(sorted(m for m in sys.modules if m == 'mlx' or m.startswith('mlx.')))")
    python = Path(__file__).resolve().parents[2] / "python"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(python)})
    assert out.stdout.strip() == "[]"
