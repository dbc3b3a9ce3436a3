"""The HTTP front serves a sharded model: --model with --distributed preloads
it over 2 ring ranks on 127.0.0.1, and the OpenAI API answers from it."""

from __future__ import annotations

from pathlib import Path

import openai
from http_runtime import HttpRuntime


def test_a_model_preloaded_with_distributed_serves_the_openai_api(models: Path) -> None:
    runtime = HttpRuntime("--model", f"{models / 'tiny'}=tiny", "--distributed",
                          "127.0.0.1,127.0.0.1")
    try:
        runtime.wait_for(lambda: any(n["method"] == "runtime/ready"
                                     for n in runtime.notifications), timeout=180)
        (model,) = runtime.result("model/list")["models"]
        assert model["group"]["ranks"] == 2 and model["group"]["state"] == "ready"
        expected = runtime.result("generate", {"model": "tiny", "prompt": "The little fox",
                                               "max_tokens": 12, "temperature": 0,
                                               "streaming": False})["text"]
        oai = openai.OpenAI(base_url=runtime.url + "/v1", api_key="none", max_retries=0)
        reply = oai.completions.create(model="tiny", prompt="The little fox", max_tokens=12,
                                       temperature=0)
        assert reply.choices[0].text == expected and expected
    finally:
        runtime.stop()
    runtime.assert_conforms()
