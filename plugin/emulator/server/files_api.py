"""Files API endpoints: the resumable upload protocol, get, list, delete and download.

The protocol of the official SDK and of the curl samples in Google's "Files API" guide: the
start request carries ``X-Goog-Upload-*`` headers and an optional ``{"file": {...}}`` body; the
answer's ``X-Goog-Upload-URL`` header is the session URL (pointing back at this server); chunks
go there with ``X-Goog-Upload-Command`` ``upload`` / ``upload, finalize`` and
``X-Goog-Upload-Offset``, need no API key, and every chunk answer carries
``X-Goog-Upload-Status``. A missing file is a 403, never a 404.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import time

from gemini_vision.api import wire
from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server.bodies import parse_body, read_json
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.state import FileStore, StoredFile, UploadSession
from gemini_vision.emulator.server.transport import HttpCall, HttpReply, error_reply, json_reply

__all__ = [
    "decode_page_token",
    "delete_file",
    "download_file",
    "encode_page_token",
    "get_file",
    "list_files",
    "start_upload",
    "upload_chunk",
]

CHUNK_GRANULARITY = 8 * 1024 * 1024
_FILE_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> int:
    """The offset a ``pageToken`` stands for (0 when absent); 400 when it is not ours."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("offset:"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError.invalid_argument("Invalid page token.") from None


def page_size(call: HttpCall, default: int, maximum: int) -> int:
    """``pageSize`` from the query: default when absent or 0, capped at ``maximum``."""
    raw = call.query.get("pageSize") or call.query.get("page_size") or "0"
    try:
        size = int(raw)
    except ValueError:
        raise ApiError.invalid_argument(f"Invalid value for pageSize: {raw}") from None
    if size < 0:
        raise ApiError.invalid_argument("pageSize must not be negative.")
    return min(size or default, maximum)


def _declared_size(call: HttpCall, spec: wire.FileSpec | None) -> int | None:
    header = call.headers.get("X-Goog-Upload-Header-Content-Length")
    if header is not None:
        try:
            return int(header)
        except ValueError:
            raise ApiError.invalid_argument(
                f"Invalid X-Goog-Upload-Header-Content-Length: {header}"
            ) from None
    return spec.size_bytes if spec else None


def _mime_type(call: HttpCall, spec: wire.FileSpec | None) -> str:
    declared = call.headers.get("X-Goog-Upload-Header-Content-Type")
    if declared:
        return declared
    if spec and spec.mime_type:
        return spec.mime_type
    guessed, _ = mimetypes.guess_type(call.headers.get("X-Goog-Upload-File-Name") or "")
    return guessed or "application/octet-stream"


def start_upload(call: HttpCall, store: FileStore, version: str) -> HttpReply:
    """``POST /upload/{v}/files`` with ``X-Goog-Upload-Command: start``."""
    protocol = (call.headers.get("X-Goog-Upload-Protocol") or "").lower()
    command = (call.headers.get("X-Goog-Upload-Command") or "").lower()
    if protocol != "resumable" or command != "start":
        raise ApiError.invalid_argument(
            "Only resumable uploads are supported: send X-Goog-Upload-Protocol: resumable and"
            " X-Goog-Upload-Command: start."
        )
    spec = parse_body(wire.CreateFileRequest, read_json(call.body), "CreateFileRequest").file
    file_id = store.new_file_id()
    if spec and spec.name:
        file_id = spec.name.removeprefix("files/")
        if not _FILE_ID.match(file_id):
            raise ApiError.bullets(
                "CreateFileRequest.file.name: The name may contain only lowercase alphanumeric"
                " characters or dashes (-) and cannot begin or end with a dash."
            )
        if store.get(file_id) is not None:
            raise ApiError(409, "ALREADY_EXISTS", f"File files/{file_id} already exists.")
    session = store.open_session(
        file_id,
        spec.display_name if spec else None,
        _mime_type(call, spec),
        _declared_size(call, spec),
    )
    url = (
        f"{call.base_url}/upload/{version}/files?upload_id={session.upload_id}"
        "&upload_protocol=resumable"
    )
    return HttpReply(
        content_type=None,
        headers={
            "X-Goog-Upload-URL": url,
            "X-Goog-Upload-Status": "active",
            "X-Goog-Upload-Chunk-Granularity": str(CHUNK_GRANULARITY),
            "X-GUploader-UploadID": session.upload_id,
        },
    )


def _status_headers(session: UploadSession) -> dict[str, str]:
    return {
        "X-Goog-Upload-Status": session.status,
        "X-Goog-Upload-Size-Received": str(len(session.received)),
    }


def upload_chunk(call: HttpCall, store: FileStore, config: EmulatorConfig) -> HttpReply:
    """A chunk (or ``query``/``cancel``) sent to an upload session URL; no API key needed."""
    upload_id = call.query.get("upload_id", "")
    session = store.session(upload_id)
    if session is None:
        error = ApiError.not_found(f"Upload session {upload_id} was not found or has ended.")
        error.headers["X-Goog-Upload-Status"] = "final"
        return error_reply(error)
    commands = {
        c.strip().lower() for c in (call.headers.get("X-Goog-Upload-Command") or "").split(",")
    }
    with session.lock:
        if "cancel" in commands:
            session.status = "cancelled"
            store.close_session(upload_id)
            return HttpReply(content_type=None, headers=_status_headers(session))
        if "query" in commands:
            return HttpReply(content_type=None, headers=_status_headers(session))
        if "upload" not in commands and "finalize" not in commands:
            return _chunk_error(
                session, "X-Goog-Upload-Command must be upload, finalize or query."
            )
        if "upload" in commands:
            offset = call.headers.get("X-Goog-Upload-Offset")
            if offset is None or not offset.strip().isdigit():
                return _chunk_error(session, "X-Goog-Upload-Offset is required with upload.")
            if int(offset) != len(session.received):
                return _chunk_error(
                    session,
                    f"Invalid X-Goog-Upload-Offset {int(offset)}: the server has received"
                    f" {len(session.received)} bytes.",
                )
            session.received += call.body
        if "finalize" not in commands:
            return HttpReply(content_type=None, headers=_status_headers(session))
        return _finalize(session, store, config, call.base_url)


def _chunk_error(session: UploadSession, message: str) -> HttpReply:
    error = ApiError.invalid_argument(message)
    error.headers.update(_status_headers(session))
    return error_reply(error)


def _finalize(
    session: UploadSession, store: FileStore, config: EmulatorConfig, base_url: str
) -> HttpReply:
    received = len(session.received)
    if session.declared_size is not None and received != session.declared_size:
        return _chunk_error(
            session,
            f"The upload is incomplete: {received} of {session.declared_size} declared bytes"
            " were received.",
        )
    stored = StoredFile(
        file_id=session.file_id,
        data=bytes(session.received),
        mime_type=session.mime_type,
        display_name=session.display_name,
        created=time.time(),
        processing_delay=config.file_processing_delay,
        ttl=config.file_ttl,
    )
    store.add(stored)
    session.status = "final"
    store.close_session(session.upload_id)
    return json_reply({"file": stored.resource(base_url)}, headers=_status_headers(session))


def _stored(store: FileStore, file_id: str) -> StoredFile:
    stored = store.get(file_id)
    if stored is None:
        raise ApiError.file_permission(file_id)
    return stored


def get_file(call: HttpCall, store: FileStore, file_id: str) -> HttpReply:
    return json_reply(_stored(store, file_id).resource(call.base_url))


def delete_file(store: FileStore, file_id: str) -> HttpReply:
    if not store.delete(file_id):
        raise ApiError.file_permission(file_id)
    return json_reply({})


def list_files(call: HttpCall, store: FileStore) -> HttpReply:
    """``{"files": [...], "nextPageToken": ...}``; empty fields left out, like proto3 JSON."""
    size = page_size(call, default=10, maximum=100)
    files, following = store.page(size, decode_page_token(call.query.get("pageToken")))
    body: dict[str, object] = {}
    if files:
        body["files"] = [f.resource(call.base_url) for f in files]
    if following is not None:
        body["nextPageToken"] = encode_page_token(following)
    return json_reply(body)


def download_file(call: HttpCall, store: FileStore, file_id: str) -> HttpReply:
    """The raw bytes of a generated file (``?alt=media``); uploaded files cannot be read."""
    stored = _stored(store, file_id)
    if call.query.get("alt") != "media":
        raise ApiError.invalid_argument("Downloads need the query parameter alt=media.")
    if stored.source != "GENERATED":
        raise ApiError.invalid_argument(
            f"The File {file_id} was uploaded; only generated files can be downloaded."
        )
    return HttpReply(body=stored.data, content_type=stored.mime_type)
