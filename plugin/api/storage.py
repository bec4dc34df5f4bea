"""The first bytes of Cloud Storage objects, read with the run's own Google Cloud credentials.

A sample whose media is a ``gs://`` URI is passed to Vertex AI by reference, never downloaded
and sent again; but whether that is safe (a format Vertex AI reads, no EXIF rotation that
Vertex AI would ignore) and how big the image is are in its header. :class:`CloudStorage`
reads the object's metadata and its first :data:`HEADER_BYTES` through the Cloud Storage JSON
API (``storage.objects.get``, a ranged ``alt=media`` read). ``STORAGE_EMULATOR_HOST`` (the name
Google's Cloud Storage libraries read) points it at another host, e.g. the local emulator.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from gemini_vision.api.config import SecretSource, lookup, resolve_base_url
from gemini_vision.api.credentials import AccessTokens
from gemini_vision.errors import GeminiVisionError, ImageError

__all__ = [
    "DEFAULT_STORAGE_URL",
    "HEADER_BYTES",
    "STORAGE_HOST_NAME",
    "CloudObject",
    "CloudStorage",
    "split_gs_uri",
]

STORAGE_HOST_NAME = "STORAGE_EMULATOR_HOST"
DEFAULT_STORAGE_URL = "https://storage.googleapis.com"
#: enough for the EXIF block (at most 64 kB) and the frame header of a JPEG, PNG or WebP
HEADER_BYTES = 256 * 1024
_GS = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._\-]{1,220})/(?P<name>.+)$")


def split_gs_uri(uri: str) -> tuple[str, str]:
    """(bucket, object name) of ``gs://bucket/name``; ImageError for anything else."""
    found = _GS.match(uri)
    if found is None:
        raise ImageError("not a gs://bucket/object URI", source=uri)
    return found["bucket"], found["name"]


@dataclass(frozen=True)
class CloudObject:
    """An object's URI, size in bytes, content type, generation and first bytes."""

    uri: str
    size: int
    content_type: str
    generation: str
    head: bytes


class CloudStorage:
    """Reads object headers with bearer tokens from ``tokens`` (thread-safe)."""

    def __init__(
        self,
        tokens: AccessTokens | None,
        *,
        secrets: SecretSource | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._tokens = tokens
        explicit = base_url or lookup((STORAGE_HOST_NAME,), secrets) or DEFAULT_STORAGE_URL
        if "://" not in explicit:  # the libraries accept "localhost:9023"
            explicit = f"http://{explicit}"
        self.base_url = resolve_base_url(explicit, {}, setting=STORAGE_HOST_NAME)
        self._timeout = timeout
        self._transport = transport
        # made on the first gs:// sample: most Vertex AI runs never read Cloud Storage
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self._timeout, transport=self._transport, follow_redirects=False
                )
            return self._http

    def head(self, uri: str, size: int = HEADER_BYTES) -> CloudObject:
        """The object's metadata and first ``size`` bytes; ImageError naming ``uri`` and the
        cause when it cannot be read."""
        bucket, name = split_gs_uri(uri)
        if self._tokens is None:
            raise ImageError(
                "gs:// media needs Google Cloud credentials to be checked before it is sent; "
                "an express-mode API key cannot read Cloud Storage",
                source=uri,
            )
        url = f"{self.base_url}/storage/v1/b/{bucket}/o/{quote(name, safe='')}"
        meta = self._get(uri, url, {}).json()
        head = self._get(uri, url, {"Range": f"bytes=0-{size - 1}"}, media=True).content
        return CloudObject(
            uri=uri,
            size=int(meta.get("size") or 0),
            content_type=str(meta.get("contentType") or ""),
            generation=str(meta.get("generation") or ""),
            head=head,
        )

    def _get(
        self, uri: str, url: str, headers: dict[str, str], *, media: bool = False
    ) -> httpx.Response:
        assert self._tokens is not None
        try:
            token = self._tokens.token()
        except GeminiVisionError as exc:
            raise ImageError(
                f"cannot read it from Cloud Storage: {exc.reason}", source=uri
            ) from None
        params = {"alt": "media"} if media else {}
        try:
            response = self._client().get(
                url, params=params, headers={**headers, "authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise ImageError(
                f"cannot reach Cloud Storage ({type(exc).__name__})", source=uri
            ) from None
        if response.status_code == 404:
            raise ImageError("no such object in Cloud Storage", source=uri)
        if response.status_code in (401, 403):
            raise ImageError(
                "the credentials may not read this object (they need storage.objects.get, "
                "e.g. the Storage Object Viewer role)",
                source=uri,
            )
        if not response.is_success:
            raise ImageError(f"Cloud Storage answered HTTP {response.status_code}", source=uri)
        return response
