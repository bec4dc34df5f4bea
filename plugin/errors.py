"""The one exception tree of gemini_vision.

::

    GeminiVisionError
    ├── ConfigurationError            missing API key, unknown model, bad option
    ├── ImageError                    a sample's image cannot be read or converted
    ├── ParseError                    model text that yields nothing usable (keeps .raw_text)
    ├── RunStoppedError               a run stopped before labelling anything (key, model, quota)
    ├── LockBusyError                 another worker is changing the same dataset field right now
    ├── DatabaseUnavailableError      FiftyOne's database went away: the run stops, nothing is lost
    ├── TransportError                no HTTP response at all (retryable)
    │   ├── APITimeoutError
    │   └── APIConnectionError
    ├── APIStatusError                the server answered {"error": {code, message, status, ...}}
    │   ├── BadRequestError           400 INVALID_ARGUMENT / FAILED_PRECONDITION
    │   ├── AuthenticationError       400 API_KEY_INVALID, 401, 403 on the API itself
    │   ├── PermissionDeniedError     403 (e.g. a missing or foreign file)
    │   ├── NotFoundError             404
    │   ├── RateLimitError            429 RESOURCE_EXHAUSTED (per-minute; retryable)
    │   │   └── QuotaExhaustedError   429 on a per-day quota: stop, do not retry
    │   └── ServerError               5xx (500, 502, 503, 504; retryable)
    └── ResponseError                 HTTP 200, but the answer cannot be used
        ├── BlockedResponseError      promptFeedback.blockReason or a safety finishReason
        ├── TruncatedResponseError    finishReason MAX_TOKENS (keeps the partial text)
        ├── InvalidResponseError      no candidates, no text, too large, or an unreadable envelope
        └── AnswerTooSlowError        reading the answer took longer than its time limit

Messages never contain the API key: the key only ever travels in the ``x-goog-api-key``
header, and :func:`redact` scrubs anything that looks like a key from texts we did not write.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AnswerTooSlowError",
    "AuthenticationError",
    "BadRequestError",
    "BlockedResponseError",
    "ConfigurationError",
    "DatabaseUnavailableError",
    "GeminiVisionError",
    "ImageError",
    "InvalidResponseError",
    "LockBusyError",
    "NotFoundError",
    "ParseError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ResponseError",
    "RunStoppedError",
    "ServerError",
    "TransportError",
    "TruncatedResponseError",
    "redact",
]

# Google API keys are 39 characters starting with "AIza"; also scrub `key=` query values.
_KEY_PATTERNS = (
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)([?&]key=)[^&\s\"']+"),
    re.compile(r"(?i)(x-goog-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
)


def redact(text: str, *secrets: str | None) -> str:
    """Returns ``text`` with API keys (known ``secrets`` and key-shaped strings) replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    text = _KEY_PATTERNS[0].sub("[REDACTED]", text)
    text = _KEY_PATTERNS[1].sub(r"\1[REDACTED]", text)
    return _KEY_PATTERNS[2].sub(r"\1[REDACTED]", text)


class GeminiVisionError(Exception):
    """Base class of every error raised by gemini_vision."""

    #: whether retrying the same request later may succeed
    retryable: bool = False

    @property
    def reason(self) -> str:
        """A one-line reason suitable for a per-sample error field."""
        return f"{type(self).__name__}: {self}"


class ConfigurationError(GeminiVisionError):
    """The client or a task is misconfigured (missing key, unsupported model or option)."""


class ImageError(GeminiVisionError):
    """An image cannot be loaded, decoded or converted into a format Gemini accepts."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message if source is None else f"{source}: {message}")
        self.source = source


class ParseError(GeminiVisionError):
    """The model's text could not be turned into the expected structure.

    ``raw_text`` holds the model's answer unchanged, so it can be stored and re-parsed later.
    """

    def __init__(self, message: str, *, raw_text: str) -> None:
        super().__init__(message)
        self.raw_text = raw_text


class RunStoppedError(GeminiVisionError):
    """A run stopped before it could label anything, for a reason no sample can get past (a
    refused key, an unknown model, an exhausted quota). The message says what to do."""


class LockBusyError(GeminiVisionError):
    """Another live worker holds a lock this run needs (it is changing the same output field
    of the same dataset). The message says which and what to do."""


class DatabaseUnavailableError(GeminiVisionError):
    """FiftyOne's database cannot be reached: the run stops at once (sending nothing more) and
    says so; what was finished is kept, and a rerun after the database is back continues."""


class TransportError(GeminiVisionError):
    """The request got no HTTP response (timeout, refused or dropped connection)."""

    retryable = True


class APITimeoutError(TransportError):
    """The request timed out."""


class APIConnectionError(TransportError):
    """The connection could not be made or was lost."""


class APIStatusError(GeminiVisionError):
    """The API answered with an error status and a ``google.rpc.Status`` body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.status = status
        self.details = details or []
        #: seconds the server asked us to wait (RetryInfo.retryDelay or Retry-After)
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = f" {self.status}" if self.status else ""
        return f"{self.status_code}{status}: {self.message}"

    def detail(self, type_suffix: str) -> dict[str, Any] | None:
        """The first detail whose ``@type`` ends with ``type_suffix`` (e.g. ``"RetryInfo"``)."""
        for item in self.details:
            if str(item.get("@type", "")).endswith(type_suffix):
                return item
        return None


class BadRequestError(APIStatusError):
    """400: the request is malformed or not allowed (fix the request; do not retry)."""


class AuthenticationError(APIStatusError):
    """The API key is missing, invalid or not allowed to call this API."""


class PermissionDeniedError(APIStatusError):
    """403: no access to the resource (e.g. a file that expired or belongs to someone else)."""


class NotFoundError(APIStatusError):
    """404: unknown model, batch or method."""


class RateLimitError(APIStatusError):
    """429: a per-minute rate or token quota was exceeded; wait ``retry_after`` and retry."""

    retryable = True

    @property
    def quota_ids(self) -> list[str]:
        failure = self.detail("QuotaFailure") or {}
        return [str(v.get("quotaId", "")) for v in failure.get("violations", [])]


class QuotaExhaustedError(RateLimitError):
    """429 on a per-day quota: retrying today is pointless; finished work is kept."""

    retryable = False


class ServerError(APIStatusError):
    """5xx: the service failed or is overloaded; retry with backoff."""

    retryable = True


class ResponseError(GeminiVisionError):
    """HTTP 200, but the response cannot be used as an answer."""

    def __init__(self, message: str, *, raw_text: str | None = None) -> None:
        super().__init__(message)
        self.raw_text = raw_text


class BlockedResponseError(ResponseError):
    """The prompt or the answer was blocked (``blockReason`` or a safety ``finishReason``)."""

    def __init__(self, message: str, *, block_reason: str, raw_text: str | None = None) -> None:
        super().__init__(message, raw_text=raw_text)
        self.block_reason = block_reason


class TruncatedResponseError(ResponseError):
    """``finishReason`` was MAX_TOKENS: ``raw_text`` holds the partial answer (may be empty)."""


class InvalidResponseError(ResponseError):
    """The response had no candidate, no text, or a shape we do not understand."""


class AnswerTooSlowError(ResponseError):
    """Reading an answer took longer than its time limit (a pathological answer); the item
    fails, the run goes on."""
