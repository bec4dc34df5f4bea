"""Where the client's settings come from: API key, base URL, timeouts and size limits.

Order of precedence, for both the key and the base URL: an explicit argument, then the
``secrets`` mapping (FiftyOne passes ``ctx.secrets``), then the process environment.

The key is held in a :class:`pydantic.SecretStr`, so it never shows up in a ``repr``, a log
line or a traceback's locals; the client reads it only to fill the ``x-goog-api-key`` header.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from gemini_vision.errors import ConfigurationError

if TYPE_CHECKING:
    from gemini_vision.api.backend import VertexTarget
    from gemini_vision.api.credentials import AccessTokens

__all__ = [
    "API_KEY_NAMES",
    "BASE_URL_NAME",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_BATCH_INLINE_LIMIT_BYTES",
    "DEFAULT_DEADLINE",
    "DEFAULT_INLINE_LIMIT_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_UPLOAD_CHUNK_SIZE",
    "ClientConfig",
    "SecretSource",
    "resolve_api_key",
    "resolve_base_url",
    "uses_vertex",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"

#: secret / environment names searched for the API key, in order
API_KEY_NAMES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
#: secret / environment name of a base-URL override (the official SDK reads the same name)
BASE_URL_NAME = "GOOGLE_GEMINI_BASE_URL"

#: vision calls on large images with thinking can take a minute or more; connecting cannot
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
#: a generateContent body (base64-inflated) above this goes through the Files API instead;
#: the service accepts 100 MB since 2026-01, but 20 MB is what older versions of Google's
#: "Image understanding" guide promise
DEFAULT_INLINE_LIMIT_BYTES = 20_000_000
#: batch creation with inlined requests is limited to 20 MB in total (use a JSONL file above)
DEFAULT_BATCH_INLINE_LIMIT_BYTES = 20_000_000
#: resumable-upload chunk size of the official SDK and of the curl sample in Google's
#: "Files API" guide (8 MiB)
DEFAULT_UPLOAD_CHUNK_SIZE = 8 * 1024 * 1024
#: the most body an API answer may have: the largest real answers (many objects with masks)
#: are a few hundred kB, so this leaves room while keeping 16 requests in flight far from
#: a machine's memory
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: seconds one attempt of a request may take in all, however its body trickles in
DEFAULT_DEADLINE = 300.0

MISSING_KEY_HELP = (
    "No Gemini API key found. Pass api_key=..., set the GEMINI_API_KEY (or GOOGLE_API_KEY) "
    "environment variable, or add GEMINI_API_KEY as a FiftyOne plugin secret. Get a key at "
    "https://aistudio.google.com/apikey. To work offline, start the local emulator "
    "(`python -m gemini_vision.emulator --port 0`), set GOOGLE_GEMINI_BASE_URL to the URL it "
    "prints, and use any non-empty key: the emulator accepts them all."
)

_API_VERSION = re.compile(r"^v\d+(?:alpha|beta)?\d*$")
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


class SecretSource(Protocol):
    """Anything indexable by name: a dict, ``os.environ``, or FiftyOne's ``ctx.secrets``."""

    def __getitem__(self, key: str, /) -> Any: ...


def _get(source: SecretSource, name: str) -> str | None:
    # FiftyOne's SecretsDictionary has no .get() and answers None for unknown names; its
    # first lookup of a lazily resolved secret may hand back the resolver's object.
    try:
        value = source[name]
    except LookupError:
        return None
    if value is not None and not isinstance(value, str):
        value = getattr(value, "value", None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def lookup(names: tuple[str, ...], secrets: SecretSource | None) -> str | None:
    """The first non-blank value among ``names`` in ``secrets``, then in the environment."""
    for source in (secrets or {}, os.environ):
        for name in names:
            value = _get(source, name)
            if value is not None:
                return value
    return None


def resolve_api_key(
    explicit: str | None = None,
    secrets: SecretSource | None = None,
    *,
    names: tuple[str, ...] = API_KEY_NAMES,
) -> str | None:
    """The API key: ``explicit``, else secrets then env ``GEMINI_API_KEY``/``GOOGLE_API_KEY``
    (or the given ``names``).

    Blank values count as missing; surrounding whitespace (a pasted newline) is stripped.
    Returns None when no key is configured anywhere.
    """
    if explicit is not None and explicit.strip():
        return explicit.strip()
    return lookup(names, secrets)


def resolve_base_url(
    explicit: str | None = None,
    secrets: SecretSource | None = None,
    *,
    setting: str = BASE_URL_NAME,
) -> str:
    """The service root without a version (``https://host[:port][/prefix]``, no trailing /).

    A trailing API version (``.../v1beta``) is dropped: the client adds its own to every path.

    ``explicit``, else ``setting`` (``GOOGLE_GEMINI_BASE_URL``) from secrets then env, else
    :data:`DEFAULT_BASE_URL`. Raises ConfigurationError for a URL that is not http(s).
    """
    url = (explicit or "").strip() or lookup((setting,), secrets) or DEFAULT_BASE_URL
    parts = urlsplit(url)
    service = "Gemini" if setting == BASE_URL_NAME else "Vertex AI"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"Invalid {service} base URL {url!r} (from {setting} or base_url=): expected "
            f"http(s)://host[:port], e.g. {DEFAULT_BASE_URL} or the URL printed by the local "
            "emulator."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{service} base URL {url!r} must not have a query or fragment.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # The key travels in a header; over plain HTTP anyone on the path can read it.
        logger.warning("Gemini base URL %s is plain http on a non-local host", url)
    root, _, last = url.rstrip("/").rpartition("/")
    if _API_VERSION.fullmatch(last) and urlsplit(root).hostname:
        # "http://host:port/v1beta" copied from a REST example: the version is added per call
        return root
    return url.rstrip("/")


USE_VERTEX_NAME = "GOOGLE_GENAI_USE_VERTEXAI"
_TRUE = frozenset({"1", "true", "yes", "on"})


def uses_vertex(explicit: bool | None = None, secrets: SecretSource | None = None) -> bool:
    """Whether to use Vertex AI: ``explicit``, else ``GOOGLE_GENAI_USE_VERTEXAI`` is true."""
    if explicit is not None:
        return bool(explicit)
    value = lookup((USE_VERTEX_NAME,), secrets)
    return value is not None and value.lower() in _TRUE


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _as_timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if value <= 0:
        raise ConfigurationError(f"timeout must be positive seconds, got {value!r}")
    return httpx.Timeout(float(value), connect=min(float(value), DEFAULT_TIMEOUT.connect or 10.0))


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """Resolved, validated settings shared by the sync and async clients.

    Sizes are bytes; timeouts are seconds (an ``httpx.Timeout`` with connect/read/write/pool).
    On Vertex AI (``vertex`` set) requests carry an access token from ``tokens``, or the
    express-mode ``api_key``.
    """

    api_key: SecretStr | None
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    inline_limit_bytes: int = DEFAULT_INLINE_LIMIT_BYTES
    batch_inline_limit_bytes: int = DEFAULT_BATCH_INLINE_LIMIT_BYTES
    upload_chunk_size: int = DEFAULT_UPLOAD_CHUNK_SIZE
    #: answers larger than this are refused unread (see DEFAULT_MAX_RESPONSE_BYTES)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: seconds one attempt of a request may take, body included
    deadline: float = DEFAULT_DEADLINE
    #: Vertex AI's host, project and location (None: the Gemini Developer API)
    vertex: VertexTarget | None = None
    #: the access tokens of Google Cloud credentials (Vertex AI without an API key)
    tokens: AccessTokens | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.tokens is not None and self.api_key is None:
            key = None
        else:
            key = self.api_key.get_secret_value() if self.api_key is not None else ""
        if key == "":
            raise ConfigurationError(MISSING_KEY_HELP)
        if key is not None and not _HEADER_SAFE.fullmatch(key):
            # Never echo the value: it may be a real key with a stray character in it.
            raise ConfigurationError(
                "The Gemini API key contains spaces or non-ASCII characters and cannot be sent; "
                "check the value of GEMINI_API_KEY / GOOGLE_API_KEY or the plugin secret."
            )
        if not _API_VERSION.fullmatch(self.api_version):
            raise ConfigurationError(
                f"Invalid API version {self.api_version!r}: expected e.g. v1beta, v1 or v1alpha."
            )
        for name in (
            "inline_limit_bytes",
            "batch_inline_limit_bytes",
            "upload_chunk_size",
            "max_response_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number of bytes")
        if not self.deadline > 0:
            raise ConfigurationError(f"deadline must be positive seconds, got {self.deadline!r}")

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        *,
        secrets: SecretSource | None = None,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        inline_limit_bytes: int | None = None,
        batch_inline_limit_bytes: int | None = None,
        upload_chunk_size: int | None = None,
        max_response_bytes: int | None = None,
        deadline: float | None = None,
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
    ) -> ClientConfig:
        """Builds a config from arguments, ``secrets`` and the environment.

        Sizes left as None take their defaults. ``vertexai`` (else GOOGLE_GENAI_USE_VERTEXAI)
        chooses Vertex AI, with ``project``, ``location`` and google-auth ``credentials`` (see
        :mod:`gemini_vision.api.backend`). Raises ConfigurationError (with instructions) when
        no API key, or no Vertex AI project or credentials, is found.
        """
        if uses_vertex(vertexai, secrets):
            # imported here: the Vertex AI modules read their settings with this module's helpers
            from gemini_vision.api.backend import resolve_vertex

            vertex, key, tokens = resolve_vertex(
                secrets=secrets,
                base_url=base_url,
                project=project,
                location=location,
                api_key=api_key,
                credentials=credentials,
            )
            root, version = vertex.base_url, vertex.api_version
        else:
            vertex, tokens = None, None
            key = resolve_api_key(api_key, secrets)
            if key is None:
                raise ConfigurationError(MISSING_KEY_HELP)
            root, version = resolve_base_url(base_url, secrets), api_version
        return cls(
            api_key=SecretStr(key) if key is not None else None,
            base_url=root,
            api_version=version,
            vertex=vertex,
            tokens=tokens,
            timeout=_as_timeout(timeout),
            inline_limit_bytes=_or(inline_limit_bytes, DEFAULT_INLINE_LIMIT_BYTES),
            batch_inline_limit_bytes=_or(
                batch_inline_limit_bytes, DEFAULT_BATCH_INLINE_LIMIT_BYTES
            ),
            upload_chunk_size=_or(upload_chunk_size, DEFAULT_UPLOAD_CHUNK_SIZE),
            max_response_bytes=_or(max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES),
            deadline=DEFAULT_DEADLINE if deadline is None else deadline,
        )

    @property
    def api_root(self) -> str:
        """``{base_url}/{api_version}``: the prefix of every REST resource path."""
        return f"{self.base_url}/{self.api_version}"

    @property
    def backend_name(self) -> str:
        """For forms and messages: ``Gemini Developer API`` or ``Vertex AI (project p, ...)``."""
        if self.vertex is None:
            return "Gemini Developer API"
        if self.tokens is None:
            return self.vertex.describe()
        return f"{self.vertex.describe()} with {self.tokens.describe()}"

    def identity(self) -> str:
        """Who is calling, for keyed digests only (never shown): the key, or the account and
        project of the credentials."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        vertex = self.vertex
        account = self.tokens.account if self.tokens is not None else None
        return f"{account or 'user'}@{vertex.project if vertex else ''}"

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"backend={self.backend_name!r}, api_key='***')"
        )
