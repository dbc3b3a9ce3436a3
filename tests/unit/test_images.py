"""engine/images.py: reading, checking, decoding and scaling request images."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from image_server import image_server
from mlx_serving.api.errors import ErrorCode, ServingError
from mlx_serving.engine.images import ImageLimits, load_image, load_images, short
from mlx_serving.engine.url_fetch import FetchPolicy

# The test config: the loopback image server may be fetched.
LOOPBACK = FetchPolicy(allow=("127.0.0.1",))
LIMITS = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=2.0, fetch_policy=LOOPBACK)
FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp"}


def encoded(fmt: str, size: tuple[int, int] = (40, 30), color=(250, 20, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def failure(source: str, limits: ImageLimits = LIMITS) -> ServingError:
    with pytest.raises(ServingError) as caught:
        load_image(source, 0, limits)
    return caught.value


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_supported_format_from_a_file_and_a_data_url(fmt: str, tmp_path: Path) -> None:
    data = encoded(fmt)
    path = tmp_path / f"image.{FORMATS[fmt]}"
    path.write_bytes(data)
    for source in (str(path), path.as_uri(), data_url(data, f"image/{FORMATS[fmt]}")):
        image = load_image(source, 0, LIMITS)
        assert image.mode == "RGB" and image.size == (40, 30)
        red, green, _ = image.getpixel((20, 15))
        assert red > 200 and green < 60  # decoded, not just opened


def test_large_images_are_scaled_down_keeping_their_aspect(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    path.write_bytes(encoded("PNG", size=(1024, 300)))
    assert load_image(str(path), 0, LIMITS).size == (256, 75)
    path.write_bytes(encoded("PNG", size=(100, 512)))
    assert load_image(str(path), 0, LIMITS).size == (50, 256)
    path.write_bytes(encoded("PNG", size=(256, 10)))  # at the limit: untouched
    assert load_image(str(path), 0, LIMITS).size == (256, 10)


def test_images_keep_their_order() -> None:
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = load_images([data_url(encoded("PNG", color=c)) for c in colors], LIMITS)
    assert [image.getpixel((0, 0)) for image in images] == colors


def test_missing_file_and_folder(tmp_path: Path) -> None:
    error = failure(str(tmp_path / "nope.png"))
    assert error.code is ErrorCode.IMAGE_INVALID and "no such file" in error.message
    assert error.details == {"image": 0, "source": str(tmp_path / "nope.png")}
    assert "not a file" in failure(str(tmp_path)).message


def test_corrupt_and_truncated_data(tmp_path: Path) -> None:
    error = failure(data_url(b"definitely not an image"))
    assert error.code is ErrorCode.IMAGE_INVALID and "not a readable image" in error.message
    path = tmp_path / "cut.png"
    path.write_bytes(encoded("PNG", size=(200, 200), color=(1, 2, 3))[:-40])
    error = failure(str(path))
    assert error.code is ErrorCode.IMAGE_INVALID and "corrupt PNG" in error.message


def test_unsupported_format() -> None:
    error = failure(data_url(encoded("GIF"), "image/gif"))
    assert error.code is ErrorCode.IMAGE_INVALID
    assert "unsupported format GIF" in error.message and "WebP" in error.message


def test_bad_data_urls() -> None:
    assert "not valid base64" in failure("data:image/png;base64,@@@@").message
    assert "is not base64" in failure("data:image/png,rawbytes").message
    assert "malformed data: URL" in failure("data:image/png;base64").message


def test_size_limits(tmp_path: Path) -> None:
    small = ImageLimits(max_bytes=2048, max_side=256, fetch_timeout_s=1.0, fetch_policy=LOOPBACK)
    big = encoded("BMP", size=(100, 100))  # 30 kB uncompressed
    path = tmp_path / "big.bmp"
    path.write_bytes(big)
    assert "over the limit of 2048" in failure(str(path), small).message
    assert "over the limit of 2048" in failure(data_url(big, "image/bmp"), small).message


def test_unreachable_url_fails_fast_and_names_it() -> None:
    error = failure("http://127.0.0.1:9/cat.png")
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED
    assert "http://127.0.0.1:9/cat.png" in error.message and "could not fetch" in error.message


def test_other_schemes_are_refused() -> None:
    error = failure("ftp://example.com/cat.png")
    assert error.code is ErrorCode.IMAGE_INVALID and "unsupported source" in error.message


def test_long_sources_are_shortened_in_messages() -> None:
    source = data_url(b"x" * 3000)
    assert len(short(source)) < 80 and short("/a/b.png") == "/a/b.png"
    assert len(failure(source).message) < 200


def test_a_broken_header(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    error = failure(str(path))
    assert error.code is ErrorCode.IMAGE_INVALID and "corrupt image data" in error.message


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with image_server() as url:
        yield url


def test_fetch_an_image(server: str) -> None:
    assert load_image(f"{server}/red.png", 0, LIMITS).size == (40, 30)


def test_fetch_errors_name_the_url_and_the_reason(server: str) -> None:
    error = failure(f"{server}/missing.png")
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED and "HTTP 404" in error.message
    assert f"{server}/missing.png" in error.message
    tiny = ImageLimits(max_bytes=64, max_side=256, fetch_timeout_s=2.0, fetch_policy=LOOPBACK)
    assert "over the limit of 64" in failure(f"{server}/red.png", tiny).message
    impatient = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=0.2, fetch_policy=LOOPBACK)
    error = failure(f"{server}/slow.png", impatient)
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED and "0.2 s" in error.message


# fetch_timeout_s is a deadline for the whole fetch; the bounds below are
# generous (several times the timeout), only there to show it is not unbounded.
IMPATIENT = ImageLimits(max_bytes=1 << 20, max_side=256, fetch_timeout_s=1.0, fetch_policy=LOOPBACK)


def timed_failure(source: str) -> tuple[ServingError, float]:
    started = time.monotonic()
    error = failure(source, IMPATIENT)
    return error, time.monotonic() - started


def test_a_trickling_body_fails_at_the_deadline(server: str) -> None:
    # Each read gets a byte within 0.1 s, so no socket timeout ever trips;
    # the whole body would take about 10 s.
    error, elapsed = timed_failure(f"{server}/trickle.png")
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED
    assert "took longer than 1 s (vision.fetch_timeout_s)" in error.message
    assert elapsed < 5


def test_an_unknown_host_fails_within_the_deadline() -> None:
    error, elapsed = timed_failure("http://no-such-host.invalid/x.png")
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED
    assert "http://no-such-host.invalid/x.png" in error.message
    assert elapsed < 5


def test_a_hung_dns_lookup_fails_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()

    def hung_lookup(*args, **kwargs):
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "released")

    monkeypatch.setattr(socket, "getaddrinfo", hung_lookup)
    try:
        error, elapsed = timed_failure("http://images.example/cat.png")
    finally:
        released.set()
    assert error.code is ErrorCode.IMAGE_FETCH_FAILED
    assert "took longer than 1 s" in error.message and elapsed < 5
