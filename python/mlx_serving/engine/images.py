"""The images of a vision request: read from a file, a data: URL or an http(s)
URL, checked, decoded and scaled down.

Files are read through files.py (regular files only, capped); URLs through
url_fetch.py (each hop checked against the fetch policy); an image's pixels,
as its header declares them, are checked before it is decoded, alone and
with the other images of the request.

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
from dataclasses import dataclass, field
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import Any

from ..api.errors import ErrorCode, ServingError
from ..config import VisionConfig
from .files import FileRefused, read_capped
from .url_fetch import FetchPolicy, FetchRefused

# Pillow format name -> the name users know.
SUPPORTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
_DATA_URL = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*),(?P<payload>.*)", re.DOTALL)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]+={0,2}\s*")
_MIN_BASE64 = 64
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_side: int
    fetch_timeout_s: float
    max_pixels: int = 64_000_000
    max_request_pixels: int = 128_000_000
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)

    @classmethod
    def of(cls, config: VisionConfig) -> ImageLimits:
        return cls(max_bytes=config.max_image_bytes, max_side=config.max_image_side,
                   fetch_timeout_s=config.fetch_timeout_s, max_pixels=config.max_image_pixels,
                   max_request_pixels=config.max_request_pixels,
                   fetch_policy=FetchPolicy(allow=tuple(config.fetch_allow),
                                            deny=tuple(config.fetch_deny),
                                            max_redirects=config.fetch_max_redirects))


class _PixelBudget:
    """The pixels the images of one request may still declare."""

    def __init__(self, pixels: int) -> None:
        self.left = pixels


def load_images(sources: list[str], limits: ImageLimits) -> list[Any]:
    """RGB Pillow images, in order, no side longer than limits.max_side."""
    budget = _PixelBudget(limits.max_request_pixels)
    return [load_image(source, index, limits, budget) for index, source in enumerate(sources)]


def load_image(source: str, index: int, limits: ImageLimits,
               budget: _PixelBudget | None = None) -> Any:
    return _decode(_read(source, index, limits), source, index, limits,
                   budget or _PixelBudget(limits.max_request_pixels))


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
    if _is_bare_base64(source):
        return _from_base64("".join(source.split()), source, index, limits)
    return _from_file(source, source, index, limits)


def _is_bare_base64(source: str) -> bool:
    """An image's bytes in base64, as the original sends a Buffer: long (no image is
    under 48 bytes), base64 characters only, and no file of that name."""
    return (len(source) >= _MIN_BASE64 and _BASE64.fullmatch(source) is not None
            and not Path(source).expanduser().exists())


def _from_file(path_text: str, source: str, index: int, limits: ImageLimits) -> bytes:
    try:
        return read_capped(Path(path_text).expanduser(), limits.max_bytes,
                           "vision.max_image_bytes")
    except FileRefused as exc:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"{exc} (send a file path, a data: URL or an http(s) URL)") from None


def _from_data_url(source: str, index: int, limits: ImageLimits) -> bytes:
    match = _DATA_URL.fullmatch(source)
    if match is None:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "malformed data: URL; expected data:image/<type>;base64,<data>")
    if ";base64" not in match["params"].lower():
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     "data: URL is not base64; expected data:image/<type>;base64,<data>")
    return _from_base64("".join(match["payload"].split()), source, index, limits)


def _from_base64(payload: str, source: str, index: int, limits: ImageLimits) -> bytes:
    if len(payload) // 4 * 3 > limits.max_bytes:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"about {len(payload) // 4 * 3} bytes, over the limit of "
                     f"{limits.max_bytes} (vision.max_image_bytes)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"not valid base64 ({exc})") from None


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
    policy = limits.fetch_policy
    try:
        policy.check_url(url)
        with policy.opener().open(request, timeout=limits.fetch_timeout_s) as response:
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
    # Only our own words and the status code: what a server sent (its reason
    # phrase, a non-HTTP service's banner) never goes into an error.
    except ServingError:
        raise
    except FetchRefused as exc:
        raise failed(str(exc)) from None
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # urllib's own refusal of a redirect to another scheme
            raise failed("a redirect was refused: only http and https are fetched") from None
        raise failed(f"HTTP {exc.code} {_phrase(exc.code)}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, FetchRefused):
            raise failed(str(reason)) from None
        raise failed(_os_reason(reason) if isinstance(reason, OSError)
                     else "the URL cannot be fetched") from None
    except TimeoutError:
        raise failed(f"timed out after {limits.fetch_timeout_s:g} s "
                     "(vision.fetch_timeout_s)") from None
    except http.client.HTTPException as exc:  # not HTTP at all, or a broken response
        raise failed(f"the server's answer is not valid HTTP ({type(exc).__name__})") from None
    except (OSError, ValueError) as exc:  # resets, bad URLs, ...
        raise failed(_os_reason(exc) if isinstance(exc, OSError)
                     else "malformed URL") from None


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "(unknown status)"


def _os_reason(exc: OSError) -> str:
    """A local error's own words (errno text), never bytes from the peer."""
    return exc.strerror or type(exc).__name__


def _decode(data: bytes, source: str, index: int, limits: ImageLimits,
            budget: _PixelBudget) -> Any:
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
    _check_pixels(image.size, source, index, limits, budget)
    try:
        image.draft("RGB", (limits.max_side, limits.max_side))  # JPEG: decode scaled down
        image.load()
        rgb = ImageOps.exif_transpose(image).convert("RGB")
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ... on bad data
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"corrupt {name} data ({exc})") from None
    if max(rgb.size) > limits.max_side:
        rgb.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
    return rgb


def _check_pixels(size: tuple[int, int], source: str, index: int, limits: ImageLimits,
                  budget: _PixelBudget) -> None:
    """Refuse, before decoding, an image whose header declares too many pixels."""
    width, height = size
    pixels = width * height
    if pixels > limits.max_pixels:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"{width}x{height} pixels is over the limit of {limits.max_pixels} "
                     "(vision.max_image_pixels)")
    if pixels > budget.left:
        raise _error(ErrorCode.IMAGE_INVALID, source, index,
                     f"the request's images declare more than {limits.max_request_pixels} "
                     "pixels in all (vision.max_request_pixels)")
    budget.left -= pixels
