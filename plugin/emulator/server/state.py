"""The emulator's memory: request statistics, uploaded files and resumable upload sessions.

Everything here is shared by the request threads and guarded by locks; nothing sleeps while
holding one.
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["EmulatorStats", "FileStore", "StoredFile", "UploadSession", "rfc3339"]

_ID_ALPHABET = string.ascii_lowercase + string.digits


def rfc3339(epoch: float) -> str:
    """``2025-09-10T13:37:39.328452Z``: the API's timestamp format."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IdMaker:
    """Seeded, thread-safe resource ids of ``[a-z0-9]`` (like ``t5snrshrqff1``)."""

    def __init__(self, seed: int, salt: str) -> None:
        self._rng = random.Random(f"{seed}:{salt}")
        self._lock = threading.Lock()

    def new(self, length: int) -> str:
        with self._lock:
            return "".join(self._rng.choice(_ID_ALPHABET) for _ in range(length))


@dataclass
class EmulatorStats:
    """Counters of what the emulator saw and did. Read them with :meth:`snapshot`.

    - ``requests``: requests per endpoint (``"generateContent"``, ``"files.upload"``...)
    - ``responses``: responses per ``(endpoint, HTTP status)``; status 0 = no answer (timeout)
    - ``image_calls``: generateContent calls per sha256 hex of each received image's bytes
    - ``injected``: faults sent (``"429"``, ``"rpm"``, ``"tpm"``, ``"rpd"``, ``"500"``,
      ``"503"``, ``"504"``, ``"timeout"``, ``"malformed"``, ``"fenced"``, ``"prose"``,
      ``"safety"``, ``"safety_finish"``, ``"max_tokens"``)
    - ``tokens``: usage served in successful answers (``prompt``, ``candidates``,
      ``thoughts``, ``total``)
    - ``peak_connections``: the most client connections open at once
    """

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[tuple[str, int]] = field(default_factory=Counter)
    image_calls: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)
    #: the most client connections open at once
    peak_connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_response(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[endpoint] += 1
            self.responses[(endpoint, status)] += 1

    def record_images(self, hashes: list[str]) -> None:
        with self._lock:
            self.image_calls.update(hashes)

    def record_connections(self, open_now: int) -> None:
        with self._lock:
            self.peak_connections = max(self.peak_connections, open_now)

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def record_usage(self, usage: dict[str, Any]) -> None:
        with self._lock:
            self.tokens["prompt"] += usage.get("promptTokenCount", 0)
            self.tokens["candidates"] += usage.get("candidatesTokenCount", 0)
            self.tokens["thoughts"] += usage.get("thoughtsTokenCount", 0)
            self.tokens["total"] += usage.get("totalTokenCount", 0)

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """Responses sent, optionally only for ``endpoint`` and/or ``status``."""
        with self._lock:
            return sum(
                n
                for (ep, st), n in self.responses.items()
                if (endpoint is None or ep == endpoint) and (status is None or st == status)
            )

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter (JSON-friendly keys)."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "responses": {f"{ep} {st}": n for (ep, st), n in self.responses.items()},
                "image_calls": dict(self.image_calls),
                "injected": dict(self.injected),
                "tokens": dict(self.tokens),
                "peak_connections": self.peak_connections,
            }

    def reset(self) -> None:
        with self._lock:
            for counter in (
                self.requests,
                self.responses,
                self.image_calls,
                self.injected,
                self.tokens,
            ):
                counter.clear()
            self.peak_connections = 0


@dataclass
class StoredFile:
    """A file resource and its bytes. ``created`` is epoch seconds."""

    file_id: str
    data: bytes
    mime_type: str
    display_name: str | None
    created: float
    processing_delay: float
    ttl: float
    source: str = "UPLOADED"

    def state(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        return "ACTIVE" if now >= self.created + self.processing_delay else "PROCESSING"

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.created + self.ttl

    def resource(self, base_url: str) -> dict[str, Any]:
        """The File JSON: int64 ``sizeBytes`` as a string, ``sha256Hash`` = base64(hex)."""
        digest = hashlib.sha256(self.data).hexdigest()
        updated = self.created + (self.processing_delay if self.state() == "ACTIVE" else 0.0)
        body: dict[str, Any] = {"name": f"files/{self.file_id}"}
        if self.display_name:
            body["displayName"] = self.display_name
        body |= {
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(updated),
            "expirationTime": rfc3339(self.created + self.ttl),
            "sha256Hash": base64.b64encode(digest.encode("ascii")).decode("ascii"),
            "uri": f"{base_url}/v1beta/files/{self.file_id}",
            "state": self.state(),
            "source": self.source,
        }
        if self.source == "GENERATED":
            body["downloadUri"] = (
                f"{base_url}/download/v1beta/files/{self.file_id}:download?alt=media"
            )
        return body


@dataclass
class UploadSession:
    """A resumable upload in progress (``X-Goog-Upload-Protocol: resumable``)."""

    upload_id: str
    file_id: str
    display_name: str | None
    mime_type: str
    declared_size: int | None
    received: bytearray = field(default_factory=bytearray)
    status: str = "active"  # "active", "final" or "cancelled"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class FileStore:
    """Uploaded and generated files, and open upload sessions."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._sessions: dict[str, UploadSession] = {}
        self._ids = IdMaker(seed, "files")

    def new_file_id(self) -> str:
        return self._ids.new(12)

    def open_session(
        self,
        file_id: str,
        display_name: str | None,
        mime_type: str,
        declared_size: int | None,
    ) -> UploadSession:
        session = UploadSession(
            upload_id=self._ids.new(40),
            file_id=file_id,
            display_name=display_name,
            mime_type=mime_type,
            declared_size=declared_size,
        )
        with self._lock:
            self._sessions[session.upload_id] = session
        return session

    def session(self, upload_id: str) -> UploadSession | None:
        with self._lock:
            return self._sessions.get(upload_id)

    def close_session(self, upload_id: str) -> None:
        with self._lock:
            self._sessions.pop(upload_id, None)

    def add(self, stored: StoredFile) -> None:
        with self._lock:
            self._files[stored.file_id] = stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file, or None when it does not exist or has expired."""
        with self._lock:
            stored = self._files.get(file_id)
            if stored is not None and stored.expired():
                del self._files[file_id]
                return None
            return stored

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    def page(self, page_size: int, offset: int) -> tuple[list[StoredFile], int | None]:
        """Live files, newest first: one page and the offset of the next (None at the end)."""
        with self._lock:
            for file_id in [f.file_id for f in self._files.values() if f.expired()]:
                del self._files[file_id]
            ordered = sorted(self._files.values(), key=lambda f: f.created, reverse=True)
        chunk = ordered[offset : offset + page_size]
        following = offset + page_size
        return chunk, following if following < len(ordered) else None
