"""Loading a model sharded over a group: the checks made before any rank
starts, and each rank's shard through mlx-lm's sharded_load (tensor
parallelism through the model's shard(), pipeline through its pipeline())."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ...api.errors import ErrorCode, ServingError
from ...api.messages import DistributedParams
from ...config import RuntimeConfig
from ..models import LoadedModel, describe_model, load_errors, model_folder
from .channel import Setup
from .group import ShardGroup
from .lockstep import lockstep_batching
from .plan import GroupPlan, Parallel, plan_group

log = logging.getLogger(__name__)


def load_sharded_model(source: str, model_id: str, params: DistributedParams,
                       config: RuntimeConfig) -> LoadedModel:
    """Start the group of `params` and load rank 0's shard; the followers load theirs."""
    path = model_folder(source)
    plan = plan_group(params, source)
    check_shardable(path, plan, source)
    group = ShardGroup(plan, model_id, config.distributed.first_port)
    setup = Setup(backend=plan.backend, parallel=plan.parallel, model_path=str(path),
                  model_id=model_id, batching=lockstep_batching(config.batching),
                  prompt_cache=config.prompt_cache, guidance=config.guidance,
                  log_level=config.logging.level)
    try:
        group.start(setup, config.distributed.start_timeout_s)
        with group.collective("loading the shards", config.distributed.start_timeout_s):
            model = load_shard(path, group.group, plan.parallel, source, model_id, group)
    except BaseException:
        group.close()
        raise
    return model


def load_shard(path: Path, group: Any, parallel: Parallel, source: str, model_id: str,
               shard_group: ShardGroup | None = None) -> LoadedModel:
    """This rank's part of the model (every rank calls it; it ends in a collective)."""
    from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache
    from mlx_lm.utils import sharded_load

    with load_errors(source):
        model, tokenizer, config = sharded_load(
            str(path), return_config=True,
            tensor_group=group if parallel == "tensor" else None,
            pipeline_group=group if parallel == "pipeline" else None)
    return describe_model(model_id, source, path, model, tokenizer, config,
                          rewindable_cache=can_trim_prompt_cache(make_prompt_cache(model)),
                          group=shard_group)


def check_shardable(path: Path, plan: GroupPlan, source: str) -> None:
    """Refuse, before any rank starts, a model that cannot be split this way."""
    from mlx_lm.utils import load_model

    def refuse(reason: str) -> ServingError:
        return ServingError(ErrorCode.UNSUPPORTED, f"cannot shard {source!r} over {plan.size} "
                            f"ranks ({plan.parallel} parallel): {reason}", model=source,
                            param="distributed")

    with load_errors(source):
        model, config = load_model(path, lazy=True, strict=False)
    family = config.get("model_type", "?")
    if "vision_config" in config:
        raise refuse("it is a vision model; shard its text model instead")
    if plan.parallel == "tensor":
        if not hasattr(model, "shard"):
            raise refuse(f"mlx-lm's {family} model has no shard() (tensor parallelism)")
        for key in ("num_attention_heads", "num_key_value_heads"):
            heads = config.get(key) or (config.get("text_config") or {}).get(key)
            if isinstance(heads, int) and heads % plan.size:
                raise refuse(f"its {key} ({heads}) is not divisible by {plan.size}")
    else:
        inner = getattr(model, "model", None)
        if not hasattr(inner, "pipeline"):
            raise refuse(f"mlx-lm's {family} model has no pipeline() (pipeline parallelism)")
        layers = len(getattr(inner, "layers", []))
        if layers < plan.size:
            raise refuse(f"it has {layers} layers, fewer than the ranks")
        if not (path / "model.safetensors.index.json").is_file():
            raise refuse("pipeline loading needs model.safetensors.index.json")
