"""model/load `distributed` -> the group's plan: mlx.launch's hostfile format, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from mlx_serving.api.errors import ServingError
from mlx_serving.api.messages import DistributedParams
from mlx_serving.engine.distributed.plan import plan_group
from mlx_serving.engine.distributed.ranks import backend_env


def params(**fields: object) -> DistributedParams:
    return msgspec.convert(fields, DistributedParams)


def test_a_host_list_is_one_rank_per_entry_with_ring_and_tensor_by_default() -> None:
    plan = plan_group(params(hosts=["127.0.0.1", "10.0.0.2"]), "m")
    assert (plan.backend, plan.parallel, plan.size) == ("ring", "tensor", 2)
    assert [(h.rank, h.ssh, h.ips, h.local) for h in plan.hosts] == [
        (0, "127.0.0.1", ["127.0.0.1"], True), (1, "10.0.0.2", ["10.0.0.2"], False)]


def test_an_mlx_launch_hostfile_gives_hosts_backend_and_envs(tmp_path: Path) -> None:
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps({
        "backend": "jaccl", "envs": ["MLX_METAL_FAST_SYNCH=1"],
        "hosts": [{"ssh": "mac1", "ips": ["10.0.0.1"], "rdma": [None, "rdma_en3"]},
                  {"ssh": "mac2", "ips": ["10.0.0.2"], "rdma": ["rdma_en3", None]}]}))
    plan = plan_group(params(hostfile=str(hostfile)), "m")
    assert plan.backend == "jaccl" and [h.ssh for h in plan.hosts] == ["mac1", "mac2"]
    env, files = backend_env(plan, first_port=40000)
    assert env == ["MLX_METAL_FAST_SYNCH=1", "MLX_JACCL_COORDINATOR=10.0.0.1:40000"]
    assert json.loads(files["MLX_IBV_DEVICES"]) == [[None, "rdma_en3"], ["rdma_en3", None]]
    # The request's backend wins over the hostfile's.
    assert plan_group(params(hostfile=str(hostfile), backend="ring"), "m").backend == "ring"


def test_the_ring_gets_one_address_per_rank_and_free_ports_on_loopback() -> None:
    plan = plan_group(params(hosts=["127.0.0.1", "127.0.0.1", "10.0.0.3"]), "m")
    env, files = backend_env(plan, first_port=40000)
    ring = json.loads(files["MLX_HOSTFILE"])
    assert env == [] and len(ring) == 3 and ring[2] == ["10.0.0.3:40002"]
    assert ring[0][0].startswith("127.0.0.1:") and ring[0] != ring[1]


@pytest.mark.parametrize(("fields", "code", "words"), [
    ({}, "INVALID_PARAMS", "exactly one of `hosts` and `hostfile`"),
    ({"hosts": ["127.0.0.1", "mac2.local"]}, "INVALID_PARAMS", "rank 1 (mac2.local) needs an IP"),
    ({"hosts": ["127.0.0.1", "127.0.0.1"], "backend": "mpi"}, "UNSUPPORTED", "mpirun"),
    ({"hosts": ["127.0.0.1", "127.0.0.1"], "backend": "nccl", "parallel": "pipeline"},
     "UNSUPPORTED", "send/recv"),
    ({"hosts": ["127.0.0.1", "127.0.0.1"], "backend": "jaccl"}, "INVALID_PARAMS", "RDMA device"),
    ({"hostfile": "/no/such/hosts.json"}, "INVALID_PARAMS", "doesn't exist"),
])
def test_what_cannot_form_a_group_is_refused_with_the_reason(
        fields: dict[str, object], code: str, words: str) -> None:
    with pytest.raises(ServingError) as refused:
        plan_group(params(**fields), "m")
    assert refused.value.code.name == code and words in refused.value.message
    assert refused.value.details["param"] == "distributed"


def test_a_hostfile_of_one_host_is_no_group(tmp_path: Path) -> None:
    hostfile = tmp_path / "one.json"
    hostfile.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}]))
    with pytest.raises(ServingError, match="2 ranks or more"):
        plan_group(params(hostfile=str(hostfile)), "m")
    with pytest.raises(msgspec.ValidationError, match="length >= 2"):
        params(hosts=["127.0.0.1"])  # a list says so at decoding already
