"""Starting the follower ranks, the way mlx.launch does: local processes for
127.0.0.1, `ssh -tt` for other hosts, with MLX's own launch script (its
pidfile, environment and temporary files), and the backend's environment
(MLX_HOSTFILE for ring, the coordinator for jaccl and nccl) set for rank 0,
this process, too.

A follower's stdin is a pipe (or, through ssh, a terminal) held by this
process: when the runtime is gone, the pipe closes and the follower exits.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

from .plan import LOOPBACK, GroupPlan, RankHost

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding mlx_serving/
_TAIL_LINES = 20


class RankProcess:
    """One follower rank, started through MLX's RemoteProcess."""

    def __init__(self, host: RankHost, env: list[str], files: dict[str, str],
                 command: list[str]) -> None:
        from mlx._distributed_utils.launch import RemoteProcess

        self.host = host
        # MLX's launcher code is untyped.
        self._remote = RemoteProcess(  # type: ignore[no-untyped-call]
            host.rank, host.ssh, sys.executable, None, files,
            [f"PYTHONPATH={_PACKAGE_ROOT}", *env], command)
        self.process: subprocess.Popen[bytes] = self._remote.process
        self.stderr_tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._pidfile_read = threading.Event()
        threading.Thread(target=self._pump, args=(self.process.stdout, True),
                         name=f"rank{host.rank}-out", daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, False),
                         name=f"rank{host.rank}-err", daemon=True).start()

    @property
    def label(self) -> str:
        return f"rank {self.host.rank} ({self.host.ssh})"

    def exit_reason(self) -> str | None:
        """How it ended, or None while it runs."""
        code = self.process.poll()
        if code is None:
            return None
        # bash reports a signal as 128 + N; Popen as -N.
        signal_number = -code if code < 0 else code - 128 if code > 128 else 0
        how = (f"was killed by signal {signal_number}" if signal_number
               else f"exited with code {code}")
        last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
        return f"{how}{f' (last words: {last.strip()[:300]})' if last else ''}"

    def is_stopped(self) -> bool:
        """Whether it is a local process stopped by a signal (SIGSTOP, a debugger)."""
        if not self.host.local or self.process.poll() is not None:
            return False
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] in ("T", "t")

    def stop(self, grace_s: float) -> None:
        """Wait up to `grace_s` for it to exit, then terminate it, then kill it."""
        try:
            self.process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
        if self._pidfile_read.is_set() and not self.host.local:
            try:  # MLX's kill script ends the remote program, not just ssh
                self._remote.terminate()  # type: ignore[no-untyped-call]
            except Exception:
                log.warning("could not stop %s on its host", self.label, exc_info=True)
        self.process.terminate()
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """End it now (a rank that hangs)."""
        if self.process.poll() is None:
            self.process.kill()
            if not self.host.local and self._pidfile_read.is_set():
                threading.Thread(target=self._remote.terminate, daemon=True).start()

    def _pump(self, pipe: Any, is_stdout: bool) -> None:
        """Its output goes to our log; its stdout starts with MLX's pidfile line."""
        for raw in pipe:
            line = raw.decode(errors="replace")
            if is_stdout and not self._pidfile_read.is_set():
                self._remote.preprocess_output(  # type: ignore[no-untyped-call]
                    line, is_stdout=True)
                self._pidfile_read.set()
                continue
            if not is_stdout:
                self.stderr_tail.append(line)
            log.info("[%s] %s", self.label, line.rstrip())


def backend_env(plan: GroupPlan, first_port: int) -> tuple[list[str], dict[str, str]]:
    """The environment (NAME=value entries) and the files (env name -> content)
    that every rank of the group needs, as mlx.launch gives them."""
    hosts = plan.hosts
    if plan.backend == "ring":
        ring = [[f"{ip}:{_port(ip, first_port + host.rank)}" for ip in host.ips]
                for host in hosts]
        return [*plan.envs], {"MLX_HOSTFILE": json.dumps(ring)}
    coordinator = f"{hosts[0].ips[0]}:{_port(hosts[0].ips[0], first_port)}"
    if plan.backend == "nccl":
        ip, port = coordinator.rsplit(":", 1)
        return [*plan.envs, f"NCCL_HOST_IP={ip}", f"NCCL_PORT={port}",
                f"MLX_WORLD_SIZE={plan.size}"], {}
    # jaccl
    return [*plan.envs, f"MLX_JACCL_COORDINATOR={coordinator}"], {
        "MLX_IBV_DEVICES": json.dumps([host.rdma for host in hosts])}


def become_rank_zero(env: list[str], files: dict[str, str], folder: str) -> None:
    """Set this process's environment as rank 0 of the group, before init."""
    for entry in env:
        key, _, value = entry.partition("=")
        os.environ[key] = value
    for name, content in files.items():
        path = os.path.join(folder, name.lower() + ".json")
        Path(path).write_text(content)
        os.environ[name] = path
    os.environ["MLX_RANK"] = "0"


def start_followers(plan: GroupPlan, env: list[str], files: dict[str, str],
                    command: list[str]) -> list[RankProcess]:
    processes: list[RankProcess] = []
    for host in plan.hosts[1:]:
        extra = [f"CUDA_VISIBLE_DEVICES={host.rank}"] if plan.backend == "nccl" and host.local \
            else []
        processes.append(RankProcess(host, env + extra, files, command))
    return processes


def scratch_folder() -> str:
    return tempfile.mkdtemp(prefix="mlx-serving-group-")


def _port(ip: str, fallback: int) -> int:
    """A free port for a loopback address (tests, one machine); `fallback` elsewhere."""
    if ip != LOOPBACK:
        return fallback
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])
