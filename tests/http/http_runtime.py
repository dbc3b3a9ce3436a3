"""A runtime serving HTTP on a free port of 127.0.0.1, with its stdio front
open too (the tests load vision models and read runtime/state through it)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from runtime_client import RuntimeClient

_SERVING = re.compile(r"APIs on (http://127\.0\.0\.1:\d+)")


class HttpRuntime(RuntimeClient):
    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 config: Path | None = None) -> None:
        extra = ("--config", str(config)) if config is not None else ()
        super().__init__("--http", "127.0.0.1:0", *extra, *args, env=env)
        self.url = self._wait_url()

    def _wait_url(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stderr_lines:
                found = _SERVING.search(line)
                if found:
                    return found.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError("the runtime exited:\n" + "".join(self.stderr_lines))
            time.sleep(0.02)
        raise TimeoutError("no HTTP address logged:\n" + "".join(self.stderr_lines))

    def wait_ready(self) -> None:
        """Until the models of --model are preloaded."""
        self.wait_for(lambda: any(n["method"] == "runtime/ready" for n in self.notifications))

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no stream is active (a cancelled one freed its slot)."""
        deadline = time.monotonic() + timeout
        while self.result("runtime/state")["active_streams"]:
            assert time.monotonic() < deadline, "streams still active"
            time.sleep(0.02)


# The conftest's own_server fixture: `with own_server(config, env=...) as runtime:`.
OwnServer = Callable[..., AbstractContextManager[HttpRuntime]]
