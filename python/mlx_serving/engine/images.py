"""The images of a vision request: read from a file, a data: URL or an http(s)
URL, checked, decoded and scaled down.

No MLX here, only bytes and Pillow: this runs on a worker thread, never on
the engine thread. Every failure is an ServingError naming the image (its index
and a short form of its source) and the reason.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent import futures
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from ..api.errors import ErrorCode, ServingError
from ..config import VisionConfig

# Pillow format name -> the name users know.
SUPPORTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
_DATA_URL = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*),(?P<payload>.*)", re.DOTALL)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_side: int
    fetch_timeout_s: float

    @classmethod
    def of(cls, config: VisionConfig) -> ImageLimits:
        return cls(max_bytes=config.max_image_bytes, max_side=config.max_image_side,
                   fetch_timeout_s=config.fetch_timeout_s)


def load_images(sources: list[str], limits: ImageLimits) -> list[Any]:
    """RGB Pillow images, in order, no side longer than limits.max_side."""
    return [load_image(source, index, limits) for index, source in enumerate(sources)]


def load_image(source: str, index: int, limits: ImageLimits) -> Any:
    return _decode(_read(source, index, limits), source, index, limits)


def short(source: str) -> str:
    """A source fit for an error message (data: URLs can be megabytes)."""
    if source.startswith("data:") and len(source) > 64:
        return f"{source[:40]}... ({len(source)} characters)"
    return source


def _error(code: ErrorCode, source: str, index: int, reason: str) -> ServingError:
    return ServingError(code, f"image {index} ({short(source)}): {reason}", image=index,
                        source=short(source))


def _read(source: str, index: int, limits: ImageLimits) -> bytes:
    if source.startswith("data:"):
        return _from_data_url(source, index, limits)
    lowered = source.lower()
    if lowered.startswith(("http://", "https://")):
        return _fetch(source, index, limits)
    if lowered.startswith("file://"):
        return _from_file(urllib.request.url2pathname(source[len("file://"):]), source, index,
                          limits)
    if _SCHEME.match(source):
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "unsupported source; send a file path, a data: URL or an http(s) URL")
    return _from_file(source, source, index, limits)


def _from_file(path_text: str, source: str, index: int, limits: ImageLimits) -> bytes:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "no such file (send a file path, a data: URL or an http(s) URL)")
    if not path.is_file():
        raise _error(ErrorCode.IMAGE_INVALID, source, index, "not a file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"{size} bytes is over the limit of {limits.max_bytes} "
                     "(vision.max_image_bytes)")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"cannot read it: {exc.strerror or exc}") from None


def _from_data_url(source: str, index: int, limits: ImageLimits) -> bytes:
    match = _DATA_URL.fullmatch(source)
    if match is None:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "malformed data: URL; expected data:image/<type>;base64,<data>")
    if ";base64" not in match["params"].lower():
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "data: URL is not base64; expected data:image/<type>;base64,<data>")
    payload = "".join(match["payload"].split())
    if len(payload) // 4 * 3 > limits.max_bytes:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"about {len(payload) // 4 * 3} bytes, over the limit of "
                     f"{limits.max_bytes} (vision.max_image_bytes)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"data: URL is not valid base64 ({exc})") from None


def _fetch(url: str, index: int, limits: ImageLimits) -> bytes:
    """The body of `url`, within the size limit and within fetch_timeout_s in
    all: DNS lookup, connect, headers and body. urllib's own timeout bounds
    each socket operation alone (a server sending a byte a second never
    trips it) and not the DNS lookup at all, so the fetch runs on a helper
    thread that is given up at the deadline; left behind, it stops at its
    next read (or when a hung DNS lookup returns)."""
    deadline = time.monotonic() + limits.fetch_timeout_s
    outcome: futures.Future[bytes] = futures.Future()

    def fetch() -> None:
        try:
            outcome.set_result(_fetch_until(url, index, limits, deadline))
        except Exception as exc:  # handed to the waiting thread, which raises it
            outcome.set_exception(exc)

    threading.Thread(target=fetch, name="image-fetch", daemon=True).start()
    try:
        return outcome.result(timeout=max(deadline - time.monotonic(), 0.0))
    except futures.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
        raise _fetch_error(url, index, _too_slow(limits)) from None


def _fetch_error(url: str, index: int, reason: str) -> ServingError:
    return _error(ErrorCode.IMAGE_FETCH_FAILED, url, index, f"could not fetch it: {reason}")


def _too_slow(limits: ImageLimits) -> str:
    return f"took longer than {limits.fetch_timeout_s:g} s (vision.fetch_timeout_s)"


def _fetch_until(url: str, index: int, limits: ImageLimits, deadline: float) -> bytes:
    """The fetch itself (helper thread); read1 hands over whatever bytes have
    come, so a trickling body is noticed at the deadline."""
    def failed(reason: str) -> ServingError:
        return _fetch_error(url, index, reason)

    request = urllib.request.Request(url, headers={"User-Agent": "mlx-serving"})
    try:
        with urllib.request.urlopen(request, timeout=limits.fetch_timeout_s) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise failed(f"{declared} bytes is over the limit of {limits.max_bytes} "
                             "(vision.max_image_bytes)")
            body = bytearray()
            while chunk := response.read1(_CHUNK):
                body += chunk
                if len(body) > limits.max_bytes:
                    raise failed(f"more than {limits.max_bytes} bytes "
                                 "(vision.max_image_bytes)")
                if time.monotonic() > deadline:
                    raise failed(_too_slow(limits))
            return bytes(body)
    except ServingError:
        raise
    except urllib.error.HTTPError as exc:
        raise failed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise failed(str(exc.reason)) from None
    except TimeoutError:
        raise failed(f"timed out after {limits.fetch_timeout_s:g} s "
                     "(vision.fetch_timeout_s)") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # resets, bad URLs, ...
        raise failed(f"{type(exc).__name__}: {exc}") from None


def _decode(data: bytes, source: str, index: int, limits: ImageLimits) -> Any:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(BytesIO(data))
    except UnidentifiedImageError:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "not a readable image (corrupt, or not an image at all)") from None
    except Image.DecompressionBombError as exc:
        raise _error(ErrorCode.IMAGE_INVALID, source, index, str(exc)) from None
    except Exception as exc:  # a known format's header, broken: OSError, SyntaxError, ...
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"corrupt image data ({type(exc).__name__}: {exc})") from None
    name = SUPPORTED_FORMATS.get(image.format or "")
    if name is None:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"unsupported format {image.format}; send "
                     f"{', '.join(SUPPORTED_FORMATS.values())}")
    try:
        image.load()
        rgb = ImageOps.exif_transpose(image).convert("RGB")
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ... on bad data
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"corrupt {name} data ({exc})") from None
    if max(rgb.size) > limits.max_side:
        rgb.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
    return rgb
