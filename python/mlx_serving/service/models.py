"""The model use cases: load, unload and list models; tokens and back.

Tokenizers are thread-safe and need no MLX: tokenize and detokenize run on
the caller's thread (the reader, an HTTP worker) and never wait behind a
decode step. Loading and unloading run on the engine thread. A request that
names a model whose load is still queued waits for that load (Engine.with_model).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

import msgspec
from msgspec import UNSET

from ..api.messages import (
    BatchTokenizeParams,
    BatchTokenizeResult,
    DetokenizeParams,
    DetokenizeResult,
    GenerateParams,
    ListModelsResult,
    LoadModelParams,
    LoadModelResult,
    ModelRefParams,
    TokenizeParams,
    TokenizeResult,
    UnloadModelResult,
)
from ..engine.engine import Engine, ModelKind
from ..engine.models import LoadedModel
from ..engine.progress import LoadProgress, no_progress
from ..engine.prompting import check_token_ids, encode_text, prompt_tokens
from .load_options import load_request
from .request_options import model_for


class ModelService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self, params: LoadModelParams, kind: ModelKind = "text",
             progress: Callable[[str], LoadProgress] | None = None) -> Future[LoadModelResult]:
        """`progress(model_id)`: where the load of a text model reports how far
        it is. The answer carries the warnings of options that have no effect."""
        request = load_request(params)
        report = no_progress if progress is None or kind != "text" else progress(request.model_id)
        loaded = self._engine.load(
            request.source, request.model_id, kind=kind, progress=report,
            distributed=None if params.distributed is UNSET else params.distributed,
            defaults=request.defaults)
        if not request.warnings:
            return loaded
        warned: Future[LoadModelResult] = Future()
        loaded.add_done_callback(lambda done: _settle(done, warned, request.warnings))
        return warned

    def unload(self, params: ModelRefParams) -> Future[UnloadModelResult]:
        engine = self._engine
        return engine.with_model_then(params.model, lambda model: engine.unload(model.model_id))

    def list(self) -> ListModelsResult:
        return ListModelsResult(models=[model.info() for model in self._engine.models.all()])

    def find(self, model_id: str) -> LoadedModel | None:
        """The loaded model of that id, if any (read-only: its tokenizer, its chat format)."""
        return self._engine.models.find(model_id)

    def count_prompt_tokens(self, params: GenerateParams) -> Future[int]:
        """The prompt tokens a generate request would prefill (chat template and tools included)."""
        model_id = model_for(params, self._engine.models.all(), self._engine.models.loading_ids())
        return self._engine.with_model(model_id, lambda model: len(prompt_tokens(
            model, params.prompt, params.messages, params.add_bos, params.tools)))

    def tokenize(self, params: TokenizeParams) -> Future[TokenizeResult]:
        def run(model: LoadedModel) -> TokenizeResult:
            tokens = encode_text(model, params.text, params.add_bos)
            return TokenizeResult(tokens=tokens, token_strings=token_texts(model, tokens))

        return self._engine.with_model(params.model, run)

    def batch_tokenize(self, params: BatchTokenizeParams) -> Future[BatchTokenizeResult]:
        return self._engine.with_model(params.model, lambda model: BatchTokenizeResult(
            tokens=[encode_text(model, text, params.add_bos) for text in params.texts]))

    def detokenize(self, params: DetokenizeParams) -> Future[DetokenizeResult]:
        def run(model: LoadedModel) -> DetokenizeResult:
            check_token_ids(model, params.tokens)
            return DetokenizeResult(text=model.tokenizer.decode(
                params.tokens, skip_special_tokens=params.skip_special_tokens))

        return self._engine.with_model(params.model, run)


def token_texts(model: LoadedModel, tokens: list[int]) -> list[str]:
    """Each token's own text, as the original's tokenize answered `tokenStrings`."""
    return [model.tokenizer.decode([token]) for token in tokens]


def _settle(done: Future[LoadModelResult], warned: Future[LoadModelResult],
            warnings: list[str]) -> None:
    error = done.exception()
    if error is not None:
        warned.set_exception(error)
    else:
        result = done.result()
        warned.set_result(msgspec.structs.replace(result, warnings=[*result.warnings, *warnings]))
