"""Per-request samplers and logits processors, composed from mlx-lm's.

Every sampling request gets its own PRNG key (from `seed`, or a random one),
so a seeded request gives the same tokens whether it runs alone or inside a
batch beside other streams. Greedy requests share one sampler object, which
lets mlx-lm's BatchGenerator take a single argmax over the whole batch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from ..api.messages import GenerateParams
from ..config import SamplingDefaults

Sampler = Callable[[Any], Any]
LogitsProcessor = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    seed: int
    repetition_penalty: float
    presence_penalty: float
    frequency_penalty: float
    penalty_context_size: int


def resolve_settings(params: GenerateParams, defaults: SamplingDefaults) -> SamplingSettings:
    """The request's values, each falling back to config/runtime.yaml's default."""

    def pick(name: str) -> Any:
        value = getattr(params, name)
        return getattr(defaults, name) if value is UNSET else value

    return SamplingSettings(
        temperature=pick("temperature"),
        top_p=pick("top_p"),
        top_k=pick("top_k"),
        min_p=pick("min_p"),
        seed=secrets.randbits(63) if params.seed is UNSET else params.seed,
        repetition_penalty=pick("repetition_penalty"),
        presence_penalty=pick("presence_penalty"),
        frequency_penalty=pick("frequency_penalty"),
        penalty_context_size=pick("penalty_context_size"),
    )


def make_sampler(settings: SamplingSettings, vocab_size: int) -> Sampler:
    """A sampler over log-probabilities; call on the thread that owns MLX."""
    import mlx.core as mx
    from mlx_lm.sample_utils import apply_min_p, apply_top_k, apply_top_p, greedy_sampler

    if settings.temperature == 0:
        return greedy_sampler

    filters: list[Callable[[Any], Any]] = []
    if settings.top_p < 1.0:
        filters.append(lambda x: apply_top_p(x, settings.top_p))
    if settings.min_p > 0.0:
        filters.append(lambda x: apply_min_p(x, settings.min_p))
    if 0 < settings.top_k < vocab_size:
        filters.append(lambda x: apply_top_k(x, settings.top_k))
    inverse_temperature = 1.0 / settings.temperature
    key = mx.random.key(settings.seed)

    def sample(logprobs: Any) -> Any:
        nonlocal key
        key, step_key = mx.random.split(key)
        for apply in filters:
            logprobs = apply(logprobs)
        return mx.random.categorical(logprobs * inverse_temperature, key=step_key)

    return sample


def make_logits_processors(settings: SamplingSettings) -> list[LogitsProcessor]:
    from mlx_lm.sample_utils import make_logits_processors as mlx_lm_processors

    size = settings.penalty_context_size
    return mlx_lm_processors(
        repetition_penalty=None if settings.repetition_penalty == 1.0 else settings.repetition_penalty,
        repetition_context_size=size,
        presence_penalty=settings.presence_penalty or None,
        presence_context_size=size,
        frequency_penalty=settings.frequency_penalty or None,
        frequency_context_size=size,
    )
