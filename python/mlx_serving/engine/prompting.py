"""Turn a request's prompt (text, token ids or chat messages) into token ids."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from ..api.errors import ErrorCode, ServingError
from ..api.messages import ChatMessage
from .models import LoadedModel


def _context_error(model: LoadedModel, detail: str) -> ServingError:
    return ServingError(
        ErrorCode.CONTEXT_LENGTH_EXCEEDED,
        f"{detail}, but model {model.model_id!r} has a context window of "
        f"{model.context_length} tokens (and generation needs at least one more)",
        context_length=model.context_length,
    )


def check_token_ids(model: LoadedModel, tokens: list[int]) -> None:
    bad = [t for t in tokens if t >= model.vocab_size]
    if bad:
        raise ServingError(ErrorCode.INVALID_PARAMS,
                           f"token ids {bad[:5]} are outside the vocabulary of "
                           f"{model.vocab_size} tokens")


def check_fits(model: LoadedModel, tokens: list[int]) -> None:
    """Refuse a prompt that leaves no room in the context window for one more token."""
    if len(tokens) >= model.context_length:
        raise _context_error(model, f"the prompt has {len(tokens)} tokens")


def encode_text(model: LoadedModel, text: str, add_bos: bool | object = UNSET) -> list[int]:
    """Token ids of `text`. By default the tokenizer adds its special tokens
    (BOS) unless the text already starts with the BOS token, as mlx-lm does."""
    tokenizer = model.tokenizer
    if add_bos is UNSET:
        bos = tokenizer.bos_token
        add_bos = bos is None or not text.startswith(bos)
    ids: list[int] = tokenizer.encode(text, add_special_tokens=bool(add_bos))
    return ids


def render_chat(model: LoadedModel, messages: list[ChatMessage],
                tools: list[dict[str, Any]] | None = None) -> str:
    tokenizer = model.tokenizer
    if not tokenizer.has_chat_template:
        raise ServingError(ErrorCode.UNSUPPORTED,
                           f"model {model.model_id!r} has no chat template; send `prompt` instead "
                           "of `messages`", model=model.model_id)
    try:
        text: str = tokenizer.apply_chat_template(
            [msg.template_dict() for msg in messages],
            tools=tools,
            add_generation_prompt=True,
            tokenize=False,
        )
    except Exception as exc:  # templates raise on roles or orders they reject
        raise ServingError(ErrorCode.INVALID_PARAMS,
                           f"the chat template of {model.model_id!r} rejected the messages: {exc}"
                           ) from None
    return text


def prompt_tokens(
    model: LoadedModel,
    prompt: str | list[int] | object,
    messages: list[ChatMessage] | object,
    add_bos: bool | object,
    tools: list[dict[str, Any]] | object = UNSET,
) -> list[int]:
    """Validated prompt token ids: non-empty and shorter than the context."""
    if (prompt is UNSET) == (messages is UNSET):
        raise ServingError(ErrorCode.INVALID_PARAMS, "give exactly one of `prompt` and `messages`")
    if isinstance(prompt, list):
        tokens = prompt
        check_token_ids(model, tokens)
    else:
        if isinstance(prompt, str):
            text = prompt
        else:
            text = render_chat(model, messages,  # type: ignore[arg-type]
                               None if tools is UNSET else tools)  # type: ignore[arg-type]
            # Chat templates write their own BOS; add one only when asked.
            add_bos = False if add_bos is UNSET else add_bos
        # Cheap early refusal of huge texts: no token covers more characters
        # than the longest vocabulary piece, so this many tokens at least.
        at_least = len(text) // model.longest_token_chars
        if at_least >= model.context_length:
            raise _context_error(model, f"the prompt has at least {at_least} tokens")
        tokens = encode_text(model, text, add_bos)
    if not tokens:
        raise ServingError(ErrorCode.INVALID_PARAMS,
                           "the prompt is empty (no tokens); send some text or set add_bos")
    check_fits(model, tokens)
    return tokens
