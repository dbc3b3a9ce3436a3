"""Which ranks a sharded model runs on: model/load `distributed`, checked up front.

Hosts come as a list (one entry per rank) or as an mlx.launch hostfile, read
with MLX's own parser, so a hostfile written for `mlx.launch` works here.
Rank 0 is this process; its entry names the address the others reach it at.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from msgspec import UNSET

from ...api.errors import ErrorCode, ServingError
from ...api.messages import DistributedParams

Backend = Literal["ring", "jaccl", "mpi", "nccl"]
Parallel = Literal["tensor", "pipeline"]
LOOPBACK = "127.0.0.1"
_BACKENDS: dict[str, Backend] = {"ring": "ring", "jaccl": "jaccl", "mpi": "mpi", "nccl": "nccl"}


@dataclass(frozen=True)
class RankHost:
    rank: int
    ssh: str  # the host to ssh into; LOOPBACK: a local process
    ips: list[str]  # addresses the ring connects over
    rdma: list[str | None]  # jaccl: the RDMA device towards each rank

    @property
    def local(self) -> bool:
        return self.ssh == LOOPBACK


@dataclass(frozen=True)
class GroupPlan:
    backend: Backend
    parallel: Parallel
    hosts: list[RankHost]
    envs: list[str]  # NAME=value for every rank: the hostfile's `envs`

    @property
    def size(self) -> int:
        return len(self.hosts)


def plan_group(params: DistributedParams, model: str) -> GroupPlan:
    """The group `params` asks for; ServingError (INVALID_PARAMS / UNSUPPORTED) with the reason."""
    from mlx._distributed_utils.common import Hostfile

    def refuse(code: ErrorCode, reason: str) -> ServingError:
        return ServingError(code, f"cannot shard {model!r}: {reason}", model=model,
                            param="distributed")

    if (params.hosts is UNSET) == (params.hostfile is UNSET):
        raise refuse(ErrorCode.INVALID_PARAMS, "give exactly one of `hosts` and `hostfile`")
    try:
        # MLX's launcher code is untyped.
        hostfile = (Hostfile.from_file(params.hostfile)  # type: ignore[no-untyped-call]
                    if params.hosts is UNSET
                    else Hostfile.from_list(",".join(params.hosts)))  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise refuse(ErrorCode.INVALID_PARAMS, str(exc)) from None
    hosts = [RankHost(h.rank, h.ssh_hostname, list(h.ips), list(h.rdma)) for h in hostfile.hosts]
    named = params.backend if params.backend is not UNSET else hostfile.backend or "ring"
    backend = _BACKENDS.get(named)
    if backend is None:
        raise refuse(ErrorCode.INVALID_PARAMS, f"the hostfile names backend {named!r}; "
                     f"expected one of {', '.join(_BACKENDS)}")
    if len(hosts) < 2:
        raise refuse(ErrorCode.INVALID_PARAMS, f"a group needs 2 ranks or more, got {len(hosts)}")
    if backend == "mpi":
        raise refuse(ErrorCode.UNSUPPORTED,
                     "mpi ranks are all started by mpirun, so a running runtime cannot be "
                     "rank 0 of one; use ring (TCP) or jaccl (RDMA) instead")
    if backend == "nccl" and params.parallel == "pipeline":
        raise refuse(ErrorCode.UNSUPPORTED, "pipeline parallelism needs send/recv, which "
                     "MLX's nccl backend does not have; use parallel: tensor")
    if backend in ("ring", "nccl", "jaccl"):
        for host in hosts[: 1 if backend != "ring" else len(hosts)]:
            if not host.ips or not all(_is_ip(ip) for ip in host.ips):
                raise refuse(ErrorCode.INVALID_PARAMS,
                             f"rank {host.rank} ({host.ssh}) needs an IP address the other "
                             f"ranks can reach (backend {backend})")
    if backend == "jaccl" and not all(len(h.rdma) == len(hosts) for h in hosts):
        raise refuse(ErrorCode.INVALID_PARAMS, "jaccl needs a hostfile whose `rdma` lists "
                     "name one RDMA device per rank (null for the rank itself)")
    return GroupPlan(backend, params.parallel, hosts, [str(entry) for entry in hostfile.envs])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
