"""Files API uploads reused across requests and runs until they expire.

An image too big to go inline is uploaded once; the resulting file (name, uri, expiry) is
recorded under the SHA-256 of the uploaded bytes, so the next request, the next run, or another
worker refers to the same file instead of uploading the bytes again. Uploaded files live 48 h;
a record is used only while :func:`~.files.file_is_usable` says the file has at least an hour
left (a request or batch may still be queued for a while), and is dropped when the server says
the file is gone (403).

Files belong to a project, so records are kept per *namespace*: a keyed digest (HMAC) of the
base URL and the API key under a random secret of this installation, kept in a file of the
user's configuration folder - never the key, and nothing a holder of the database alone could
test a guessed key against. Registries: :class:`MemoryUploads` (one process) and, in
the FiftyOne adapter, :class:`~.store.MongoUploads` (every worker of one database).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from gemini_vision.api import file_is_usable, wire

__all__ = [
    "MemoryUploads",
    "UploadRecord",
    "UploadRegistry",
    "install_secret",
    "upload_namespace",
]


def upload_namespace(base_url: str, api_key: str | None, secret: bytes | None = None) -> str:
    """A short keyed digest naming the project files are uploaded to: HMAC-SHA256 of the base
    URL and the key under ``secret`` (default: :func:`install_secret`)."""
    blob = f"{base_url.rstrip('/')}\0{api_key or ''}".encode()
    digest = hmac.new(secret or install_secret(), blob, hashlib.sha256).hexdigest()
    return digest[:24]


#: where the installation's secret is kept (``$XDG_CONFIG_HOME`` or ``~/.config``)
SECRET_FILE = "gemini_vision/install-secret"
_secret: bytes | None = None
_secret_lock = threading.Lock()


def install_secret() -> bytes:
    """32 random bytes made once per installation and kept (mode 0600) in the user's
    configuration folder; where that cannot be written, once per process (uploads are then
    reused within the process only)."""
    global _secret
    with _secret_lock:
        if _secret is None:
            _secret = _read_or_make_secret()
        return _secret


def _read_or_make_secret() -> bytes:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = Path(base) / SECRET_FILE
    try:
        if path.is_file() and len(data := path.read_bytes()) >= 32:
            return data
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = secrets.token_bytes(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(fresh)
        return fresh
    except FileExistsError:  # another process made it meanwhile
        return path.read_bytes()
    except OSError:
        return secrets.token_bytes(32)


@dataclass(frozen=True)
class UploadRecord:
    """One uploaded file: the sha256 hex of its bytes, its ``files/...`` name and uri, its
    MIME type, and when it expires (UTC; ``None`` = no expiry announced)."""

    namespace: str
    sha256: str
    name: str
    uri: str
    mime_type: str
    expires: datetime | None

    @classmethod
    def from_file(cls, namespace: str, sha256: str, file: wire.File) -> UploadRecord:
        expires = file.expiration_time
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return cls(
            namespace=namespace,
            sha256=sha256,
            name=file.name or "",
            uri=file.uri or "",
            mime_type=file.mime_type or "application/octet-stream",
            expires=expires,
        )

    def usable(
        self, *, margin: timedelta = timedelta(hours=1), now: datetime | None = None
    ) -> bool:
        """Whether the file can still be referred to (ACTIVE when recorded, not expiring)."""
        file = wire.File(
            name=self.name, uri=self.uri, state="ACTIVE", expiration_time=self.expires
        )
        return file_is_usable(file, margin=margin, now=now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadRecord:
        fields = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in fields}
        expires = values.get("expires")
        if isinstance(expires, datetime) and expires.tzinfo is None:
            values["expires"] = expires.replace(tzinfo=timezone.utc)  # Mongo returns naive UTC
        return cls(**values)

    def part(self) -> wire.Part:
        return wire.Part.from_uri(self.uri, self.mime_type)


class UploadRegistry(Protocol):
    """Where upload records are kept. Implementations must be safe to use from threads."""

    def get(self, namespace: str, sha256: str) -> UploadRecord | None: ...

    def put(self, record: UploadRecord) -> None: ...

    def forget(self, namespace: str, sha256: str) -> None: ...


class MemoryUploads:
    """Upload records in a dict (tests, one-off runs)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], UploadRecord] = {}
        self._lock = threading.Lock()

    def get(self, namespace: str, sha256: str) -> UploadRecord | None:
        with self._lock:
            return self._items.get((namespace, sha256))

    def put(self, record: UploadRecord) -> None:
        with self._lock:
            self._items[(record.namespace, record.sha256)] = record

    def forget(self, namespace: str, sha256: str) -> None:
        with self._lock:
            self._items.pop((namespace, sha256), None)

    def __len__(self) -> int:
        return len(self._items)
