"""Image URLs: every hop checked against the fetch policy, hops capped,
no remote bytes in errors; image pixels checked before decoding."""

from __future__ import annotations

import http.server
import io
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mlx_serving.api.errors import ErrorCode, ServingError
from mlx_serving.engine.images import ImageLimits, load_image, load_images
from mlx_serving.engine.url_fetch import FetchPolicy
from runtime_client import ROOT, RuntimeClient

_SECRET = "SECRET-BANNER-4711"
LOOPBACK = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=3.0,
                       fetch_policy=FetchPolicy(allow=("127.0.0.1",)))
DEFAULT = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=3.0)


def _png(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def _declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height; its data is a few bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def banner() -> Iterator[int]:
    """A non-HTTP service on loopback that greets with a secret line."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(f"{_SECRET} ready\r\n".encode())
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def hostile(banner: int) -> Iterator[str]:
    targets = {
        "/ftp": "ftp://127.0.0.1/x.png",
        "/file": "file:///etc/passwd",
        "/banner": f"http://127.0.0.1:{banner}/",
        "/metadata": "http://169.254.169.254/latest/meta-data/",
        "/private": "http://10.1.2.3/x.png",
        "/v6-loopback": "http://[::1]/x.png",
        "/ok-redirect": "/red.png",
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in targets:
                self.send_response(302)
                self.send_header("Location", targets[self.path])
                self.end_headers()
            elif self.path.startswith("/loop"):
                hops = int(self.path[5:] or 0)
                self.send_response(302)
                self.send_header("Location", f"/loop{hops + 1}")
                self.end_headers()
            elif self.path == "/phrase":
                self.send_response(404, _SECRET)
                self.end_headers()
            elif self.path == "/red.png":
                body = _png()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _failure(source: str, limits: ImageLimits = LOOPBACK) -> ServingError:
    with pytest.raises(ServingError) as caught:
        load_image(source, 0, limits)
    assert _SECRET not in caught.value.message
    return caught.value


@pytest.mark.parametrize("path, reason", [
    ("/ftp", "only http and https"),
    ("/file", "only http and https"),
    ("/metadata", "link-local address"),
    ("/private", "private address"),
    ("/v6-loopback", "loopback address"),
    ("/loop", "more than 3 redirects"),
])
def test_every_redirect_hop_is_checked(hostile: str, path: str, reason: str) -> None:
    error = _failure(hostile + path)
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED and reason in error.message


def test_a_redirect_within_the_policy_is_followed(hostile: str) -> None:
    assert load_image(hostile + "/ok-redirect", 0, LOOPBACK).size == (8, 8)


def test_a_non_http_service_is_never_echoed(hostile: str, banner: int) -> None:
    assert "not valid HTTP" in _failure(hostile + "/banner").message
    assert "not valid HTTP" in _failure(f"http://127.0.0.1:{banner}/x.png").message


def test_a_reason_phrase_is_never_echoed(hostile: str) -> None:
    assert "HTTP 404 Not Found" in _failure(hostile + "/phrase").message


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.png", "http://localhost:9/x.png",
                                 "http://2130706433:9/x.png", "http://[::ffff:127.0.0.1]:9/x",
                                 "http://169.254.169.254/latest/meta-data/",
                                 "http://0.0.0.0:9/x.png"])
def test_non_public_addresses_are_denied_by_default(url: str) -> None:
    error = _failure(url, DEFAULT)
    assert "address, which is not fetched unless vision.fetch_allow names it" in error.message


def test_fetch_deny_wins_over_allow(hostile: str) -> None:
    denied = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=3.0,
                         fetch_policy=FetchPolicy(allow=("127.0.0.1",), deny=("127.0.0.0/8",)))
    assert "denied address (vision.fetch_deny)" in _failure(hostile + "/red.png", denied).message


def test_declared_pixels_are_checked_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_declared_png(9400, 9400))
    error = _failure(str(path))
    assert "9400x9400 pixels is over the limit of 64000000" in error.message


def test_pixels_per_request_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png((300, 300)))
    limits = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=3.0,
                         max_pixels=100_000, max_request_pixels=150_000)
    with pytest.raises(ServingError) as caught:
        load_images([str(path), str(path)], limits)
    assert "declare more than 150000 pixels in all" in caught.value.message
    assert caught.value.data()["image"] == 1  # the first one fits, the second does not


def test_the_runtime_refuses_a_redirect_to_the_metadata_service(models: Path,
                                                                hostile: str) -> None:
    client = RuntimeClient("--config", str(ROOT / "tests" / "fetch-loopback.yaml"))
    try:
        client.result("model/loadVision", {"model": str(models / "tiny-vision"),
                                           "model_id": "v"})
        error = client.error("generate", {"model": "v", "prompt": "Hi", "max_tokens": 2,
                                          "streaming": False,
                                          "images": [hostile + "/metadata"]})
        assert error["data"]["code"] == "IMAGE_FETCH_FAILED"
        assert "link-local address" in error["message"]
        ok = client.result("generate", {"model": "v", "prompt": "Hi", "max_tokens": 2,
                                        "streaming": False, "images": [hostile + "/red.png"]})
        assert ok["stats"]["generated_tokens"] == 2
    finally:
        client.stop()
    client.assert_conforms()
