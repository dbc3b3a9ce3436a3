"""Rank 0's view of a sharded model's group: forming it, watching it, ending it.

A watcher thread checks the follower processes twice a second. A follower
that exits, or a collective (a step, the load) that runs past its deadline,
fails the group: every follower is killed, which makes a collective rank 0
is blocked in raise instead of waiting forever, and the model's streams and
later requests get RANK_FAILED naming the rank and its host. A failed group
cannot be formed again in this process (MLX keeps one group per process),
so the model stays failed until it is unloaded.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...api.errors import ErrorCode, ServingError
from ...api.messages import GroupInfo
from . import channel
from .plan import GroupPlan
from .ranks import RankProcess, backend_env, become_rank_zero, scratch_folder, start_followers

log = logging.getLogger(__name__)

_WATCH_EVERY_S = 0.5
_CLOSE_GRACE_S = 5.0
_formed = False  # mx.distributed.init forms one group per process, once


class ShardGroup:
    def __init__(self, plan: GroupPlan, model_id: str, first_port: int) -> None:
        self.plan = plan
        self.model_id = model_id
        self.group: Any = None  # mx.distributed.Group once formed
        self.failure: ServingError | None = None
        self._first_port = first_port
        self._processes: list[RankProcess] = []
        self._folder = scratch_folder()
        self._deadline: float | None = None  # of the collective in progress
        self._doing = ""
        self._closing = False
        self._lock = threading.Lock()

    # --- forming ---------------------------------------------------------

    def start(self, setup: channel.Setup, timeout_s: float) -> None:
        """Start the followers and form the group (rank 0 is this process)."""
        global _formed
        if _formed:
            raise ServingError(ErrorCode.UNSUPPORTED,
                               "this runtime has formed its mx.distributed group already (MLX keeps "
                               "one per process): restart the runtime to shard another model",
                               model=self.model_id, param="distributed")
        _formed = True
        env, files = backend_env(self.plan, self._first_port)
        command = ["-m", "mlx_serving.engine.distributed.follower", channel.encode_setup(setup)]
        self._processes = start_followers(self.plan, env, files, command)
        threading.Thread(target=self._watch, name=f"group-{self.model_id}", daemon=True).start()
        become_rank_zero(env, files, self._folder)
        self.group = self._form(timeout_s)
        log.info("group of %s formed: %d ranks (%s, %s parallel) on %s", self.model_id,
                 self.plan.size, self.plan.backend, self.plan.parallel,
                 ", ".join(host.ssh for host in self.plan.hosts))

    def _form(self, timeout_s: float) -> Any:
        """mx.distributed.init, which waits for every rank, bounded: on a thread
        of its own, since it cannot be interrupted (a timed-out one stays blocked)."""
        import mlx.core as mx

        formed: list[Any] = []
        errors: list[BaseException] = []

        def init() -> None:
            try:
                formed.append(mx.distributed.init(strict=True, backend=self.plan.backend))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=init, name="group-init", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout_s
        while thread.is_alive() and time.monotonic() < deadline and self.failure is None:
            thread.join(_WATCH_EVERY_S)
        if formed:
            return formed[0]
        if self.failure is None:
            reason = (f"{type(errors[0]).__name__}: {errors[0]}" if errors
                      else f"the ranks did not connect within {timeout_s:.0f} s")
            self._fail(ServingError(ErrorCode.RANK_FAILED,
                                    f"the group of {self.model_id!r} did not form: {reason}",
                                    model=self.model_id))
        raise self.failure  # type: ignore[misc]

    # --- running ---------------------------------------------------------

    def check(self) -> None:
        """Raise RANK_FAILED if the group has failed, or a follower has exited
        (looked at here too, not only by the watcher: no collective may be
        issued to a dead rank, see lockstep.py)."""
        if self.failure is None:
            self._notice_exits()
        if self.failure is not None:
            raise self.failure

    @contextmanager
    def collective(self, doing: str, timeout_s: float) -> Iterator[None]:
        """Run a part every rank takes part in (a step, the shard load). It is
        watched: past `timeout_s`, the ranks are taken to hang. Any error inside
        leaves the ranks out of step, so it fails the group (RANK_FAILED)."""
        self.check()
        self._doing, self._deadline = doing, time.monotonic() + timeout_s
        try:
            yield
        except BaseException as exc:
            self._deadline = None
            self._wait_for_watcher()
            if self.failure is None:
                self._fail(ServingError(
                    ErrorCode.RANK_FAILED,
                    f"the group of {self.model_id!r} fell out of step while {doing}: "
                    f"{type(exc).__name__}: {exc}", model=self.model_id, rank=0,
                    host=self.plan.hosts[0].ssh))
            raise self.failure from None  # type: ignore[misc]
        finally:
            self._deadline = None

    def close(self) -> None:
        """Stop every follower (a healthy group is told to exit first) and wait."""
        self._closing = True
        if self.failure is None and self.group is not None:
            try:
                with self.collective("closing", _CLOSE_GRACE_S):
                    channel.send(self.group, channel.Message(ops=[], action="close"))
            except ServingError:
                pass  # the followers are killed below
        for process in self._processes:
            process.stop(_CLOSE_GRACE_S)
        shutil.rmtree(self._folder, ignore_errors=True)
        log.info("group of %s closed", self.model_id)

    def info(self) -> GroupInfo:
        return GroupInfo(backend=self.plan.backend, parallel=self.plan.parallel,
                         ranks=self.plan.size, hosts=[host.ssh for host in self.plan.hosts],
                         state="failed" if self.failure else "ready",
                         failure=None if self.failure is None else self.failure.message)

    # --- watching --------------------------------------------------------

    def _watch(self) -> None:
        while not self._closing and self.failure is None:
            if self._notice_exits():
                return
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline and not self._closing:
                self._fail(self._hang_error())
                return
            time.sleep(_WATCH_EVERY_S)

    def _notice_exits(self) -> bool:
        """Fail the group if a follower has exited (unless it is closing)."""
        for process in self._processes:
            reason = process.exit_reason()
            if reason is not None and not self._closing:
                self._fail(ServingError(
                    ErrorCode.RANK_FAILED, f"{process.label} of model {self.model_id!r} {reason}",
                    model=self.model_id, rank=process.host.rank, host=process.host.ssh))
                return True
        return False

    def _hang_error(self) -> ServingError:
        """A collective past its deadline: the rank that hangs, when it can be
        told (a local process that is stopped), else every follower."""
        stopped = [process for process in self._processes if process.is_stopped()]
        suspects = stopped or self._processes
        names = ", ".join(process.label for process in suspects)
        first = suspects[0].host
        return ServingError(ErrorCode.RANK_FAILED,
                            f"the group of {self.model_id!r} stopped answering while {self._doing} "
                            f"(no answer from {names}); its ranks were stopped",
                            model=self.model_id, rank=first.rank, host=first.ssh)

    def _fail(self, error: ServingError) -> None:
        with self._lock:
            if self.failure is not None:
                return
            self.failure = error
        log.error("%s", error.message)
        for process in self._processes:  # a blocked collective of rank 0 then raises
            process.kill()

    def _wait_for_watcher(self) -> None:
        """A collective that raised because a rank died: give the watcher the
        moment it needs to name that rank."""
        end = time.monotonic() + 2 * _WATCH_EVERY_S + 0.5
        while self.failure is None and time.monotonic() < end:
            if any(process.exit_reason() is not None for process in self._processes):
                time.sleep(_WATCH_EVERY_S)  # the watcher names it
            else:
                time.sleep(0.05)
