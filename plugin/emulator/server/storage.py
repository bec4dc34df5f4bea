"""Cloud Storage for tests: ``gs://bucket/...`` mapped to local folders.

Two readers use the mapping (:attr:`EmulatorConfig.gcs_buckets`, bucket name -> folder):
Vertex AI's ``fileData`` parts with ``gs://`` URIs, and the subset of the Cloud Storage JSON
API the plugin calls to read an object's metadata and first bytes:

- ``GET /storage/v1/b/{bucket}/o/{object}``: the object resource (name, size, contentType,
  generation, md5Hash);
- ``GET /storage/v1/b/{bucket}/o/{object}?alt=media``: its bytes, honouring ``Range:
  bytes=a-b``.

Object names are percent-encoded in the path, as the real API expects; names that would leave
the bucket's folder are refused.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.transport import HttpCall, HttpReply, json_reply

__all__ = ["STORAGE_PREFIX", "object_bytes", "object_route", "serve_object"]

STORAGE_PREFIX = "/storage/v1/b/"
_OBJECT = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_GS = re.compile(r"^gs://(?P<bucket>[^/]+)/(?P<name>.+)$")


def _path(config: EmulatorConfig, bucket: str, name: str) -> Path:
    folder = config.gcs_buckets.get(bucket)
    if folder is None:
        raise ApiError(404, "NOT_FOUND", f"The specified bucket does not exist: {bucket}")
    root = Path(folder).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise ApiError(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
    return path


def object_bytes(uri: str, config: EmulatorConfig) -> tuple[bytes, str]:
    """The bytes and content type of ``gs://bucket/name`` (404 when there is no such object)."""
    found = _GS.match(uri)
    if found is None:
        raise ApiError.invalid_argument(f"Invalid Cloud Storage URI: {uri}")
    path = _path(config, found["bucket"], found["name"])
    return path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def object_route(path: str) -> tuple[str, str] | None:
    """(bucket, object name) of a JSON API object path, or None."""
    found = _OBJECT.match(path)
    return (found["bucket"], unquote(found["name"])) if found else None


def serve_object(call: HttpCall, bucket: str, name: str, config: EmulatorConfig) -> HttpReply:
    """The object's resource, or its bytes (``alt=media``, with an optional Range)."""
    path = _path(config, bucket, name)
    stat = path.stat()
    if call.query.get("alt") != "media":
        data = path.read_bytes()
        resource: dict[str, Any] = {
            "kind": "storage#object",
            "bucket": bucket,
            "name": name,
            "size": str(stat.st_size),
            "contentType": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "generation": str(int(stat.st_mtime_ns // 1000)),
            "md5Hash": base64.b64encode(
                hashlib.md5(data, usedforsecurity=False).digest()
            ).decode(),
        }
        return json_reply(resource)
    start, end = 0, stat.st_size - 1
    wanted = _RANGE.match(call.headers.get("Range") or "")
    if wanted:
        start = int(wanted[1])
        end = min(end, int(wanted[2])) if wanted[2] else end
    with open(path, "rb") as f:
        f.seek(start)
        chunk = f.read(max(0, end - start + 1))
    headers = {"Content-Range": f"bytes {start}-{end}/{stat.st_size}"} if wanted else {}
    return HttpReply(
        status=206 if wanted else 200,
        body=chunk,
        content_type="application/octet-stream",
        headers=headers,
    )
