"""A loopback HTTP server for image-fetch tests: /red.png at once, /slow.png
after a pause, /trickle.png a byte at a time (TRICKLE_S apart, so that every
read gets a byte long before a socket timeout), 404 for anything else."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

SLOW_S = 1.0
TRICKLE_S = 0.1


def png(size: tuple[int, int] = (40, 30), color=(250, 20, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in ("/red.png", "/slow.png", "/trickle.png"):
            self.send_error(404, "Not Found")
            return
        body = png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/slow.png":
            time.sleep(SLOW_S)
        if self.path == "/trickle.png":
            self._trickle(body)
        else:
            self.wfile.write(body)

    def _trickle(self, body: bytes) -> None:
        try:
            for offset in range(len(body)):
                self.wfile.write(body[offset:offset + 1])
                self.wfile.flush()
                time.sleep(TRICKLE_S)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, *args) -> None:
        pass


@contextmanager
def image_server() -> Iterator[str]:
    """Serve on 127.0.0.1 (a free port) while inside; yields the base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
