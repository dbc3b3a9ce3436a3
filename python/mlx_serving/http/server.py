"""uvicorn on its own thread with its own event loop: the main thread stays
the engine thread (the MLX owner)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger(__name__)


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT, or PORT alone (host 127.0.0.1)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--http wants HOST:PORT or PORT, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class HttpServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        # Bound here, on the caller's thread: a port in use fails the start-up
        # at once, and port 0 gets its real number before anyone asks for it.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by the accepted connections: a response written in two
        # pieces (headers, body) must not wait for a delayed ACK (40 ms).
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self._socket.listen(2048)
        self.host = host
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("http: serving the OpenAI and Anthropic APIs on %s", self.url)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        """Finish open responses (they end as their streams do), then close."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
