"""Compiling guidance: the cache, the errors, the capability check."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlx_serving.api.errors import ServingError
from mlx_serving.api.messages import JsonSchemaGuidance, RegexGuidance, XmlGuidance
from mlx_serving.config import GuidanceConfig
from mlx_serving.guidance.compiler import GuidanceCompiler


@pytest.fixture(scope="module")
def model(models: Path) -> Any:
    """What the compiler reads of a LoadedModel."""
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    tokenizer = load_tokenizer(models / "tiny")
    return SimpleNamespace(model_id="tiny", path=str(models / "tiny"), vocab_size=512,
                           tokenizer=tokenizer, require_text=lambda feature: None)


@pytest.mark.parametrize("backend", ["llguidance", "outlines-core"])
def test_repeats_come_from_the_cache(model: Any, backend: str) -> None:
    compiler = GuidanceCompiler(GuidanceConfig(backend=backend, cache_size=2))
    first = compiler.compile(model, JsonSchemaGuidance(schema={"type": "boolean", "title": "t"}))
    same = compiler.compile(model, JsonSchemaGuidance(schema={"title": "t", "type": "boolean"}))
    assert same.grammar is first.grammar  # key order does not matter
    assert first.eos_ids == frozenset(model.tokenizer.eos_token_ids)
    compiler.compile(model, RegexGuidance(pattern="a+"))
    compiler.compile(model, XmlGuidance(schema="<!ELEMENT a EMPTY>"))
    again = compiler.compile(model, JsonSchemaGuidance(schema={"type": "boolean", "title": "t"}))
    assert again.grammar is not first.grammar  # the bound of 2 pushed it out
    # Each stream gets a matcher of its own.
    one, two = again.start([]), again.start([7])
    assert one._matcher is not two._matcher


def test_errors_name_the_problem(model: Any) -> None:
    compiler = GuidanceCompiler(GuidanceConfig())
    with pytest.raises(ServingError) as raised:
        compiler.compile(model, JsonSchemaGuidance(schema={"type": "strin"}))
    assert raised.value.code.name == "GUIDANCE_INVALID"
    assert raised.value.data() == {"code": "GUIDANCE_INVALID", "mode": "json_schema",
                                   "backend": "llguidance"}
    assert "strin" in raised.value.message


@pytest.mark.parametrize("backend", ["llguidance", "outlines-core"])
@pytest.mark.parametrize("guidance, message", [
    # outlines-core used to compile these to `{}` (or nothing) and call it complete.
    (JsonSchemaGuidance(schema={"properties": {"a": {"type": "boolean"}}, "required": ["b"],
                                "additionalProperties": False}), "`b` is required"),
    (JsonSchemaGuidance(schema={"enum": []}), "`enum` is empty"),
    # llguidance's regex translation used to drop the trailing backslash.
    (RegexGuidance(pattern="abc\\"), "ends in a lone backslash"),
    (RegexGuidance(pattern="\\"), "ends in a lone backslash"),
    (RegexGuidance(pattern="(a)\\1"), "backreferences are not supported"),
])
def test_refused_on_both_backends(model: Any, backend: str, guidance: Any, message: str) -> None:
    compiler = GuidanceCompiler(GuidanceConfig(backend=backend))
    with pytest.raises(ServingError) as raised:
        compiler.compile(model, guidance)
    assert raised.value.code.name == "GUIDANCE_INVALID"
    assert message in raised.value.message


def test_outlines_core_refuses_required_names_it_would_not_write(model: Any) -> None:
    schema = {"type": "object", "required": ["b"]}
    GuidanceCompiler(GuidanceConfig()).compile(model, JsonSchemaGuidance(schema=schema))
    with pytest.raises(ServingError, match="cannot enforce required `b`"):
        GuidanceCompiler(GuidanceConfig(backend="outlines-core")).compile(
            model, JsonSchemaGuidance(schema=schema))
