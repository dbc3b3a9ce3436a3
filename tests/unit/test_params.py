"""Param folding: snake_case and camelCase twins, aliases, clear errors."""

from __future__ import annotations

import pytest

from mlx_serving.api.errors import ServingError
from mlx_serving.api.methods import METHODS
from mlx_serving.rpc.params import decode_params, snake_case


@pytest.mark.parametrize("name, expected", [
    ("maxTokens", "max_tokens"), ("max_tokens", "max_tokens"), ("topP", "top_p"),
    ("stopTokenIds", "stop_token_ids"), ("addBos", "add_bos"), ("model", "model"),
])
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def test_camel_case_twins_and_aliases_fold_onto_fields() -> None:
    params = decode_params(METHODS["generate"], {
        "model_id": "m", "prompt": "p", "maxTokens": 5, "topK": 3, "stream": False,
        "add_special_tokens": False, "stopSequences": ["x"],
    })
    assert (params.model, params.max_tokens, params.top_k) == ("m", 5, 3)
    assert params.streaming is False and params.add_bos is False
    assert params.stop_sequences == ["x"]


def test_equal_twins_are_accepted_and_different_ones_refused() -> None:
    spec = METHODS["generate"]
    assert decode_params(spec, {"model": "m", "max_tokens": 5, "maxTokens": 5}).max_tokens == 5
    with pytest.raises(ServingError, match="`max_tokens` and `maxTokens`"):
        decode_params(spec, {"model": "m", "max_tokens": 5, "maxTokens": 6})


def test_alias_that_is_also_a_field() -> None:
    spec = METHODS["model/load"]
    both = decode_params(spec, {"model": "/models/x", "model_id": "x"})
    assert (both.model, both.model_id) == ("/models/x", "x")
    legacy = decode_params(spec, {"model_id": "/models/x"})
    assert legacy.model == "/models/x"


def test_unknown_params_are_all_named() -> None:
    with pytest.raises(ServingError) as caught:
        decode_params(METHODS["tokenize"], {"model": "m", "text": "t", "txet": 1, "fooBar": 2})
    assert caught.value.details["unknown"] == ["txet", "fooBar"]
    assert "expected: model, text, add_bos" in caught.value.message


def test_errors_name_the_param_as_sent() -> None:
    with pytest.raises(ServingError, match=r"at `\$\.params\.maxTokens`"):
        decode_params(METHODS["generate"], {"model": "m", "maxTokens": 0})


def test_missing_params_object_means_no_params() -> None:
    assert decode_params(METHODS["runtime/info"], None) is not None
    with pytest.raises(ServingError, match="missing required field `model`"):
        decode_params(METHODS["tokenize"], None)
