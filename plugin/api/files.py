"""The Files API: resumable uploads, waiting for ACTIVE, expiry, downloads, inline-or-upload.

Operations here are generators of effects run by either client (see
:mod:`gemini_vision.api.effects`). The upload follows the resumable protocol of the official
SDK and of the curl sample in Google's "Files API" guide:

1. ``POST {base}/upload/{version}/files`` with ``X-Goog-Upload-Protocol: resumable``,
   ``X-Goog-Upload-Command: start``, ``X-Goog-Upload-Header-Content-Length/-Type`` and the body
   ``{"file": {...}}``; the answer's ``X-Goog-Upload-URL`` header is the session URL;
2. chunks (8 MiB by default) to the session URL, *without* the API key, with
   ``X-Goog-Upload-Command: upload`` (last: ``upload, finalize``) and ``X-Goog-Upload-Offset``;
   each answer's ``X-Goog-Upload-Status`` is ``active``, the last one ``final`` with the body
   ``{"file": File}``.

Files are kept 48 hours (``expirationTime``); :func:`file_is_usable` checks that with a margin.
"""

from __future__ import annotations

import math
import mimetypes
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, BinaryIO

from gemini_vision.api import wire
from gemini_vision.api.effects import Op, Sleep
from gemini_vision.errors import (
    APITimeoutError,
    ConfigurationError,
    ImageError,
    InvalidResponseError,
)
from gemini_vision.errors import NotFoundError as _NotFound

if TYPE_CHECKING:
    from gemini_vision.api.operations import Operations

__all__ = [
    "UploadSource",
    "file_is_usable",
    "fits_inline",
    "inline_size",
]

#: bytes, a path, or an open binary file (read from its current position to the end)
UploadSource = bytes | str | os.PathLike[str] | BinaryIO

#: JSON around one inline image part: {"inlineData":{"mimeType":"image/jpeg","data":""}},
_INLINE_PART_OVERHEAD = 64


def inline_size(num_bytes: int) -> int:
    """Bytes that ``num_bytes`` of binary data take in a request once base64-encoded."""
    return 4 * math.ceil(num_bytes / 3)


def fits_inline(num_bytes: int, other_request_bytes: int, limit_bytes: int) -> bool:
    """Whether an image of ``num_bytes`` can go inline in a request whose other content
    (JSON, prompt text, other images) already takes ``other_request_bytes``, under a total
    request size of ``limit_bytes``."""
    total = other_request_bytes + inline_size(num_bytes) + _INLINE_PART_OVERHEAD
    return total <= limit_bytes


def file_is_usable(
    file: wire.File, *, margin: timedelta = timedelta(hours=1), now: datetime | None = None
) -> bool:
    """Whether ``file`` is ACTIVE and will not expire within ``margin`` (default one hour).

    Uploaded files are deleted 48 h after creation; a request (or a batch, which may run for
    hours) that refers to an expired file fails with 403. A file without ``expirationTime``
    is assumed not to expire.
    """
    if wire.enum_value(file.state) != wire.FileState.ACTIVE.value:
        return False
    if file.expiration_time is None:
        return True
    now = now or datetime.now(timezone.utc)
    expires = file.expiration_time
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    return expires - margin > now


class _UploadResult(wire.ResponseModel):
    file: wire.File | None = None


def _describe_source(
    source: UploadSource, mime_type: str | None
) -> tuple[int, str, BinaryIO | bytes, str | None]:
    """(size in bytes, mime type, data or reader, path) of what is to be uploaded."""
    path: str | None = None
    data: BinaryIO | bytes
    if isinstance(source, bytes):
        data, size = source, len(source)
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        data, size = open(path, "rb"), os.path.getsize(path)  # noqa: SIM115 (closed by caller)
    else:
        data = source
        start = source.tell()
        size = source.seek(0, os.SEEK_END) - start
        source.seek(start)
    mime = mime_type or (mimetypes.guess_type(path)[0] if path else None)
    if not mime:
        if path and not isinstance(data, bytes):
            data.close()
        raise ConfigurationError(f"upload_file needs mime_type= for {path or 'raw data'}")
    return size, mime, data, path


def _chunks(data: BinaryIO | bytes, size: int, chunk_size: int) -> Iterator[bytes]:
    """The upload's chunks (one empty chunk for an empty file)."""
    if size == 0:
        yield b""
        return
    for offset in range(0, size, chunk_size):
        length = min(chunk_size, size - offset)
        if isinstance(data, bytes):
            yield data[offset : offset + length]
            continue
        chunk = data.read(length)
        if len(chunk) != length:
            raise ConfigurationError(f"the file shrank while uploading (at byte {offset})")
        yield chunk


def _check_status(response_status: str | None, *, last: bool, offset: int) -> None:
    expected = "final" if last else "active"
    if (response_status or "").lower() != expected:
        raise InvalidResponseError(
            f"Upload chunk at byte {offset}: expected X-Goog-Upload-Status {expected!r}, got "
            f"{response_status!r}; the file was not stored, upload it again"
        )


def upload(
    core: Operations,
    source: UploadSource,
    *,
    mime_type: str | None,
    display_name: str | None,
    chunk_size: int | None,
) -> Op[wire.File]:
    """Uploads ``source`` with the resumable protocol; returns the File (maybe PROCESSING)."""
    chunk_size = chunk_size or core.config.upload_chunk_size
    if chunk_size <= 0:
        raise ConfigurationError("chunk_size must be a positive number of bytes")
    size, mime, data, path = _describe_source(source, mime_type)
    try:
        spec = wire.FileSpec(display_name=display_name, mime_type=mime, size_bytes=size)
        start = core.request(
            "POST",
            f"{core.config.base_url}/upload/{core.config.api_version}/files",
            body=wire.CreateFileRequest(file=spec).to_wire(),
            headers={
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime,
            },
        )
        started = yield from core.loop.send(start)
        session_url = started.response.headers.get("x-goog-upload-url")
        if not session_url or not session_url.startswith(("http://", "https://")):
            raise InvalidResponseError(
                "Upload start answered without a usable X-Goog-Upload-URL header "
                f"(HTTP {started.response.status_code}); nothing was uploaded"
            )
        offset = 0
        for chunk in _chunks(data, size, chunk_size):
            last = offset + len(chunk) >= size
            request = core.request(
                "POST",
                session_url,
                content=chunk,
                headers={
                    "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                    "X-Goog-Upload-Offset": str(offset),
                },
                with_key=False,  # the session URL is the credential; never send the key there
            )
            sent = yield from core.loop.send(request)
            _check_status(
                sent.response.headers.get("x-goog-upload-status"), last=last, offset=offset
            )
            offset += len(chunk)
    finally:
        if path is not None and not isinstance(data, bytes):
            data.close()
    result = core.parse(sent.response, _UploadResult)
    if result.file is None:
        raise InvalidResponseError("Upload finished but the answer has no 'file' object")
    return result.file


def wait_until_active(
    core: Operations, file: str | wire.File, *, timeout: float, poll_interval: float
) -> Op[wire.File]:
    """Polls the file until ACTIVE; ImageError if FAILED, APITimeoutError after ``timeout``.

    ``timeout`` counts seconds spent waiting between polls. A file that reports no state at
    all is taken as usable.
    """
    current = file if isinstance(file, wire.File) else None
    name = file.name if isinstance(file, wire.File) else file
    waited = 0.0
    while True:
        if current is None:
            current = yield from core.get_file(name)
        state = wire.enum_value(current.state)
        if state in (None, wire.FileState.ACTIVE.value):
            return current
        if state == wire.FileState.FAILED.value:
            reason = (current.error or {}).get("message") or "no reason given"
            raise ImageError(f"Gemini could not process {current.name}: {reason}", source=name)
        if waited >= timeout:
            raise APITimeoutError(
                f"{current.name} is still {state} after {waited:.0f}s; wait longer "
                "(wait_until_active(timeout=...)) or upload a smaller file"
            )
        pause = max(0.0, min(poll_interval, timeout - waited))
        yield Sleep(pause)
        waited += pause
        current = None


def image_part(
    core: Operations,
    data: bytes,
    mime_type: str,
    *,
    other_request_bytes: int,
    display_name: str | None,
) -> Op[wire.Part]:
    """An inline part if the request stays under the inline limit, else an uploaded file's."""
    if fits_inline(len(data), other_request_bytes, core.config.inline_limit_bytes):
        return wire.Part.from_bytes(data, mime_type)
    uploaded = yield from upload(
        core, data, mime_type=mime_type, display_name=display_name, chunk_size=None
    )
    active = yield from wait_until_active(core, uploaded, timeout=300.0, poll_interval=2.0)
    if not active.uri:
        raise InvalidResponseError(f"Uploaded file {active.name} has no uri")
    return wire.Part.from_uri(active.uri, mime_type)


def download(core: Operations, name: str) -> Op[bytes]:
    """The content of a generated file (e.g. ``files/batch-…`` results), as bytes.

    Google's REST reference for the Files API gives
    ``/download/{version}/files/{id}:download?alt=media``; the official SDK uses
    ``/{version}/files/{id}:download?alt=media``. We try the first, then the second.
    """
    path = core.resource_path(name, "files")
    config = core.config
    urls = (
        f"{config.base_url}/download/{config.api_version}/{path}:download",
        f"{config.api_root}/{path}:download",
    )
    try:
        exchange = yield from core.loop.send(
            core.request("GET", urls[0], params={"alt": "media"}), bounded=False
        )
    except _NotFound:
        exchange = yield from core.loop.send(
            core.request("GET", urls[1], params={"alt": "media"}), bounded=False
        )
    return exchange.response.content
