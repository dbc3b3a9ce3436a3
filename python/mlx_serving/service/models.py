"""The model use cases: load, unload and list models; tokens and back.

Tokenizers are thread-safe and need no MLX: tokenize and detokenize run on
the caller's thread (the reader, an HTTP worker) and never wait behind a
decode step. Loading and unloading run on the engine thread. A request that
names a model whose load is still queued waits for that load (Engine.with_model).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

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


class ModelService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self, params: LoadModelParams, kind: ModelKind = "text",
             progress: Callable[[str], LoadProgress] | None = None) -> Future[LoadModelResult]:
        """`progress(model_id)`: where the load of a text model reports how far it is."""
        model_id = params.model if params.model_id is UNSET else params.model_id
        report = no_progress if progress is None or kind != "text" else progress(model_id)
        return self._engine.load(params.model, model_id, kind, progress=report)

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
        return self._engine.with_model(params.model, lambda model: len(prompt_tokens(
            model, params.prompt, params.messages, params.add_bos, params.tools)))

    def tokenize(self, params: TokenizeParams) -> Future[TokenizeResult]:
        return self._engine.with_model(params.model, lambda model: TokenizeResult(
            tokens=encode_text(model, params.text, params.add_bos)))

    def batch_tokenize(self, params: BatchTokenizeParams) -> Future[BatchTokenizeResult]:
        return self._engine.with_model(params.model, lambda model: BatchTokenizeResult(
            tokens=[encode_text(model, text, params.add_bos) for text in params.texts]))

    def detokenize(self, params: DetokenizeParams) -> Future[DetokenizeResult]:
        def run(model: LoadedModel) -> DetokenizeResult:
            check_token_ids(model, params.tokens)
            return DetokenizeResult(text=model.tokenizer.decode(
                params.tokens, skip_special_tokens=params.skip_special_tokens))

        return self._engine.with_model(params.model, run)
