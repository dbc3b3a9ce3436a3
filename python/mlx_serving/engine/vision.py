"""Vision-language models through mlx-vlm: loading, prompts with images, the vision lane.

A vision model's generations run in a runner of their own beside the other
lanes: each stream drives mlx-vlm's `generate_step` (which embeds the images,
prefills and decodes, whatever the model family), one token per engine step,
with the sampler and logits processors of sampling.py and the same stream
bookkeeping (detokenizer, stops, stats) as text models. Streams of this lane
run one after another (sequential.py), not batched together.

Who runs what: images are read and decoded and the chat template rendered on
a worker thread (`render_prompt`, images.py); the processor turns text and
images into arrays and the model runs on the engine thread (`VisionRunner`).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, cast

from msgspec import UNSET

from ..api.errors import ErrorCode, ServingError
from ..api.messages import ChatMessage
from .models import LoadedModel, describe_model, load_errors, model_folder
from .prompting import check_fits, check_token_ids
from .sampling import make_logits_processors, make_sampler
from .sequential import SequentialRunner
from .stream import ActiveStream

# mlx-vlm's hub download patterns (processor and chat template files included).
HUB_FILES = ["*.json", "*.jsonl", "*.safetensors", "*.py", "*.model", "*.tiktoken", "*.txt",
             "*.jinja"]


def load_vision_model(source: str, model_id: str) -> LoadedModel:
    """Load through mlx-vlm (engine thread); its tokenizer serves tokenize & co."""
    from mlx_lm.tokenizer_utils import TokenizerWrapper

    path = model_folder(source, HUB_FILES)
    # mlx-vlm passes template arguments the way transformers 5 warns about on
    # every request; the warning tells a user nothing they can act on.
    logging.getLogger("transformers.processing_utils").setLevel(logging.ERROR)
    with load_errors(source):
        from mlx_vlm.utils import load, load_config

        model, processor = load(str(path))
        config = load_config(path)
        eos = getattr(model.config, "eos_token_id", None)
        tokenizer = TokenizerWrapper(getattr(processor, "tokenizer", processor),
                                     eos_token_ids=[eos] if isinstance(eos, int) else eos)
    return describe_model(model_id, source, path, model, tokenizer, config, kind="vision",
                          processor=processor)


@dataclass
class VisionPrompt:
    """A vision request, ready for the processor: the rendered prompt (or
    token ids) and its decoded images."""

    text: str | None
    token_ids: list[int] | None
    images: list[Any]


def render_prompt(model: LoadedModel, prompt: str | list[int] | Any,
                  messages: list[ChatMessage] | Any, images: list[Any]) -> VisionPrompt:
    """The prompt as the model expects it (worker thread: no MLX): text and
    messages go through the chat template, which places one image
    placeholder per image (mlx-vlm's rules for the model family)."""
    from mlx_vlm.prompt_utils import apply_chat_template

    if isinstance(prompt, list):
        if images:
            raise ServingError(ErrorCode.INVALID_PARAMS,
                               "a prompt of token ids cannot place images; send `prompt` as text "
                               "or `messages`", model=model.model_id)
        check_token_ids(model, prompt)
        return VisionPrompt(text=None, token_ids=prompt, images=[])
    turns: str | list[dict[str, str]] = prompt if prompt is not UNSET else [
        {"role": message.role, "content": message.content} for message in messages]
    try:
        # Untokenized, the template gives text (its union also covers tokens).
        text = cast(str, apply_chat_template(model.processor, model.model.config, turns,
                                             num_images=len(images)))
    except Exception as exc:  # no template, roles it rejects, too many images for the family
        raise ServingError(ErrorCode.UNSUPPORTED,
                           f"could not build the prompt of vision model {model.model_id!r}: "
                           f"{type(exc).__name__}: {exc}", model=model.model_id) from None
    return VisionPrompt(text=text, token_ids=None, images=images)


class VisionRunner(SequentialRunner["VisionDecoding"]):
    """The lane of one vision model."""

    lane = "vision"

    def start(self, stream: ActiveStream) -> VisionDecoding:
        return VisionDecoding(self.model, stream, self.prefill_step)


class VisionDecoding:
    """One stream: the processor's inputs and mlx-vlm's token generator."""

    def __init__(self, model: LoadedModel, stream: ActiveStream, prefill_step: int) -> None:
        from mlx_vlm.generate import generate_step

        request = stream.request
        self.stream = stream
        assert request.vision is not None, "the service renders a vision prompt first"
        input_ids, pixel_values, mask, extra = _model_inputs(model, request.vision)
        prompt: list[int] = input_ids[0].tolist()
        check_fits(model, prompt)
        stream.set_prompt(prompt)
        # (token id, logprobs): mlx-vlm annotates the id as an array; it yields an int.
        self._tokens: Generator[tuple[Any, Any], None, None] = generate_step(
            input_ids, model.model, pixel_values, mask,
            max_tokens=stream.budget,
            sampler=make_sampler(request.sampling, model.vocab_size),
            logits_processors=make_logits_processors(request.sampling),
            prefill_step_size=prefill_step,
            **extra,
        )

    def advance(self) -> bool:
        """One token; True when the stream has finished."""
        token, logprobs = next(self._tokens)
        return self.stream.emit(token, logprobs)

    def close(self) -> None:
        self._tokens.close()


def _model_inputs(model: LoadedModel, prompt: VisionPrompt
                  ) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(input_ids, pixel_values, attention mask, model-specific extras) for generate_step."""
    import mlx.core as mx
    from mlx_vlm.utils import prepare_inputs, should_add_special_tokens

    if prompt.token_ids is not None:
        return mx.array([prompt.token_ids]), None, None, {}
    config = model.model.config
    try:
        # One prompt needs no padding; asking for none also keeps the tokenizer's
        # settings untouched while the reader thread tokenizes with it.
        inputs = prepare_inputs(
            model.processor, images=prompt.images or None, prompts=prompt.text,
            image_token_index=getattr(config, "image_token_index", None),
            add_special_tokens=should_add_special_tokens(config.model_type, model.processor),
            padding=False)
    except Exception as exc:  # the processor's own checks (sizes, aspect ratios, ...)
        code = ErrorCode.IMAGE_INVALID if prompt.images else ErrorCode.INVALID_PARAMS
        raise ServingError(code, f"the processor of {model.model_id!r} rejected the input: "
                             f"{type(exc).__name__}: {exc}", model=model.model_id) from None
    extra = {key: value for key, value in inputs.items()
             if key not in ("input_ids", "pixel_values", "attention_mask")}
    return inputs["input_ids"], inputs.get("pixel_values"), inputs.get("attention_mask"), extra
