"""The images of a generateContent request: read from inline data, Files API files or
Cloud Storage URIs, opened (headers only), and decoded once per picture.

An image's pixels are decoded (400 ``Unable to process input image`` when they cannot be) the
first time its pixel identity (:mod:`gemini_vision.emulator.model.identity`) is seen; an
image with the same identity decodes the same way, so later requests skip the decode, and the
responder remembers what it saw by that identity too.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from gemini_vision.api import wire
from gemini_vision.emulator.model.identity import IDENTITY_KEY, pixel_identity
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.state import FileStore

try:  # HEIC/HEIF are among the formats Gemini accepts
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass

__all__ = ["SUPPORTED_IMAGE_TYPES", "Media", "ReadUri", "collect_media", "load_pixels"]

SUPPORTED_IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
)
_FILE_REF = re.compile(r"(?:^|/)files/([a-z0-9-]+)$")
_UNPROCESSABLE = (
    "Unable to process input image. Please retry or report in"
    " https://developers.generativeai.google/guide/troubleshooting"
)


@dataclass
class Media:
    """One image of the prompt, with the sha256 hex of the bytes the client sent and its
    pixel identity (:func:`gemini_vision.emulator.model.identity.pixel_identity`)."""

    data: bytes
    mime_type: str
    sha256: str
    image: Image.Image
    identity: bytes = b""
    media_resolution: str | None = None


def _file_id(uri: str) -> str | None:
    match = _FILE_REF.search(uri.split("?", 1)[0])
    return match.group(1) if match else None


def _inline_bytes(blob: wire.Blob, where: str) -> bytes:
    try:
        return blob.to_bytes()
    except ValueError:
        raise ApiError.invalid_payload(
            f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
            f' for "{blob.data[:40]}"',
            f"{where}.inline_data.data",
        ) from None


#: reads the bytes and content type a fileData URI names (Vertex AI: gs:// objects)
ReadUri = Callable[[str], tuple[bytes, str]]


def _part_media(
    part: wire.Part, where: str, files: FileStore, read_uri: ReadUri | None
) -> tuple[bytes, str] | None:
    """The bytes and MIME type a part carries, or None for a part without media."""
    if part.inline_data is not None:
        return _inline_bytes(part.inline_data, where), part.inline_data.mime_type
    if part.file_data is not None and read_uri is not None:
        data, _ = read_uri(part.file_data.file_uri)
        return data, part.file_data.mime_type or "application/octet-stream"
    if part.file_data is not None:
        file_id = _file_id(part.file_data.file_uri)
        if file_id is None:
            raise ApiError.invalid_argument(
                f"Cannot fetch content from the provided URL: {part.file_data.file_uri}"
            )
        stored = files.get(file_id)
        if stored is None:
            raise ApiError.file_permission(file_id)
        if stored.state() != "ACTIVE":
            raise ApiError.file_not_active(file_id)
        return stored.data, stored.mime_type
    return None


def collect_media(
    request: wire.GenerateContentRequest, files: FileStore, read_uri: ReadUri | None = None
) -> list[Media]:
    """The images of ``request`` in prompt order, opened with PIL (headers read, pixels not:
    see :func:`load_pixels`). ``fileData`` URIs are Files API files, or read by ``read_uri``.

    Raises the API's 400/403 for bad base64, unknown or inactive files, unsupported MIME
    types and bytes that are not an image.
    """
    global_resolution = None
    if request.generation_config is not None:
        global_resolution = request.generation_config.media_resolution
    media: list[Media] = []
    for i, content in enumerate(request.contents):
        for j, part in enumerate(content.parts):
            found = _part_media(part, f"contents[{i}].parts[{j}]", files, read_uri)
            if found is None:
                continue
            data, mime_type = found
            if mime_type.lower() not in SUPPORTED_IMAGE_TYPES:
                raise ApiError.invalid_argument(f"Unsupported MIME type: {mime_type}")
            try:
                image = Image.open(io.BytesIO(data))
            except Exception:
                raise ApiError.invalid_argument(_UNPROCESSABLE) from None
            identity = pixel_identity(data)
            image.info[IDENTITY_KEY] = identity
            level = part.media_resolution.level if part.media_resolution else None
            media.append(
                Media(
                    data=data,
                    mime_type=mime_type,
                    sha256=hashlib.sha256(data).hexdigest(),
                    image=image,
                    identity=identity,
                    media_resolution=level or global_resolution,
                )
            )
    return media


def load_pixels(media: list[Media]) -> None:
    """Decodes every image; 400 for bytes whose header looked fine but whose pixels do not.

    An image whose pixel identity decoded before is not decoded again here: it would decode
    the same way, and what was seen in it is remembered by that identity.
    """
    for item in media:
        if item.identity and _decoded.holds(item.identity):
            continue
        try:
            item.image.load()
        except Exception:
            raise ApiError.invalid_argument(_UNPROCESSABLE) from None
        if item.identity:
            _decoded.add(item.identity)


class _Identities:
    """A bounded set of pixel identities, the least recently used dropped first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._members: OrderedDict[bytes, None] = OrderedDict()

    def holds(self, identity: bytes) -> bool:
        with self._lock:
            if identity not in self._members:
                return False
            self._members.move_to_end(identity)
            return True

    def add(self, identity: bytes) -> None:
        with self._lock:
            self._members[identity] = None
            while len(self._members) > self._capacity:
                self._members.popitem(last=False)


#: the images that decoded, by pixel identity (20 bytes each)
_decoded = _Identities(capacity=16384)
