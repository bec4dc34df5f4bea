"""From a failed request to the exception tree of :mod:`gemini_vision.errors`.

:func:`error_from_response` reads an error body (``google.rpc.Status``: code, message, status
and the ErrorInfo, QuotaFailure and RetryInfo details) and picks the exception class;
:func:`error_from_transport` does the same for an ``httpx`` transport failure.
:func:`parse_retry_delay` finds how long the server wants us to wait. No I/O here.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from gemini_vision.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    TransportError,
    redact,
)

__all__ = ["error_from_response", "error_from_transport", "parse_retry_delay", "url_for_logs"]

# ErrorInfo reasons that mean "this key may not call the API", not "no access to this object".
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED"})
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
#: "Quota exceeded for metric: …, limit: 0, model: …"
_ZERO_LIMIT = re.compile(r"\blimit:\s*0(?![\d.])")
_RETRY_IN_TEXT = re.compile(r"retry in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)
_MAX_BODY_IN_MESSAGE = 300


def _redact_tree(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, list):
        return [_redact_tree(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _redact_tree(item, secrets) for key, item in value.items()}
    return value


def _status_body(response: httpx.Response) -> tuple[str, str | None, list[dict[str, Any]]]:
    """(message, status, details) of a ``google.rpc.Status`` body, or of a non-JSON body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    # The OpenAI-compatible route (and some proxies) wrap the error in a one-element list.
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        status = error.get("status")
        message = str(error.get("message") or "").strip()
        return message or response.reason_phrase, str(status) if status else None, details
    if isinstance(error, str) and error.strip():
        return error.strip(), None, []
    text = " ".join(response.text.split())
    if len(text) > _MAX_BODY_IN_MESSAGE:
        text = text[:_MAX_BODY_IN_MESSAGE] + "..."
    return text or response.reason_phrase or "no error message", None, []


def _detail(details: Iterable[dict[str, Any]], type_suffix: str) -> dict[str, Any]:
    return next((d for d in details if str(d.get("@type", "")).endswith(type_suffix)), {})


def _duration_seconds(value: Any) -> float | None:
    """A protobuf Duration in JSON (``"26s"``, ``"53.016s"``) or as ``{seconds, nanos}``."""
    if isinstance(value, str):
        match = _RETRY_DELAY.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict) and ("seconds" in value or "nanos" in value):
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def _retry_after_header(value: str | None, now: float) -> float | None:
    """``Retry-After``: delta seconds or an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - now


def parse_retry_delay(
    details: Iterable[dict[str, Any]],
    message: str,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
) -> float | None:
    """Seconds the server asked us to wait before retrying, or None if it did not say.

    Sources, in order: ``google.rpc.RetryInfo.retryDelay``, the ``"Please retry in 53.01s."``
    sentence of the message, the ``Retry-After`` header (seconds or HTTP date, relative to
    ``now``, a Unix time). Negative values (a date in the past) become 0.
    """
    seconds = _duration_seconds(_detail(details, "RetryInfo").get("retryDelay"))
    if seconds is None and (match := _RETRY_IN_TEXT.search(message)):
        seconds = float(match.group(1)) / (1000.0 if match.group(2).lower() == "ms" else 1.0)
    if seconds is None:
        seconds = _retry_after_header(
            headers.get("retry-after"), time.time() if now is None else now
        )
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _quota_cannot_refill(violations: list[Any], message: str) -> bool:
    """A per-day quota, or a quota of 0 (a model without free tier): waiting will not help."""
    for violation in violations:
        if not isinstance(violation, dict):
            continue
        if "perday" in str(violation.get("quotaId", "")).lower():
            return True
        if str(violation.get("quotaValue", "")).strip() == "0":
            return True
    return _ZERO_LIMIT.search(message) is not None


def _error_class(
    code: int, status: str | None, message: str, details: list[dict[str, Any]]
) -> type[APIStatusError]:
    reason = str(_detail(details, "ErrorInfo").get("reason", ""))
    if code == 400:
        if reason == "API_KEY_INVALID":
            return AuthenticationError
        if status == "FAILED_PRECONDITION" and "file" not in message.lower():
            # "User location is not supported", "free tier is not available in your country":
            # the account cannot use the API, so every other request would fail the same way.
            return AuthenticationError
        return BadRequestError
    if code == 401:
        return AuthenticationError
    if code == 403:
        return AuthenticationError if reason in _KEY_REASONS else PermissionDeniedError
    if code == 404:
        return NotFoundError
    if code == 429:
        violations = _detail(details, "QuotaFailure").get("violations") or []
        return QuotaExhaustedError if _quota_cannot_refill(violations, message) else RateLimitError
    if code == 402:
        # Prepaid credit used up: like a daily quota, waiting a minute will not help.
        return QuotaExhaustedError
    if code >= 500:
        return ServerError
    return APIStatusError


def _redirect_message(response: httpx.Response) -> str:
    location = response.headers.get("location", "")
    # the query may hold an upload id or a signed token: not for logs
    target = location.split("?", 1)[0].split("#", 1)[0] or "an unnamed location"
    return (
        f"the server redirected to {target}; redirects are not followed (the API key header "
        "would go along). Check the base URL (GOOGLE_GEMINI_BASE_URL) and use the final one"
    )


def error_from_response(
    response: httpx.Response, *, secrets: tuple[str, ...] = (), now: float | None = None
) -> APIStatusError:
    """The exception for an error response (``{"error": {code, message, status, details}}``).

    Also accepts a one-element list of that, and bodies that are not JSON at all. Server text
    is passed through :func:`~gemini_vision.errors.redact` (plus the known ``secrets``).
    """
    message, status, details = _status_body(response)
    if response.is_redirect:
        message = _redirect_message(response)
    message = redact(message, *secrets)
    details = _redact_tree(details, secrets)
    cls = _error_class(response.status_code, status, message, details)
    return cls(
        message,
        status_code=response.status_code,
        status=status,
        details=details,
        retry_after=parse_retry_delay(details, message, response.headers, now=now),
    )


def url_for_logs(request: httpx.Request) -> str:
    """``request``'s URL without its query, fit for messages and logs."""
    # Upload-session URLs carry an upload id in the query; no need to spread it.
    return str(request.url.copy_with(query=None))


def error_from_transport(
    exc: httpx.RequestError, request: httpx.Request, *, secrets: tuple[str, ...] = ()
) -> TransportError:
    """APITimeoutError for httpx timeouts, APIConnectionError for every other request error.

    The httpx error becomes the ``__cause__``; if its text had to be redacted, a redacted
    copy of the same type takes its place.
    """
    text = redact(str(exc), *secrets) or "no details"
    where = f"{request.method} {url_for_logs(request)}"
    if isinstance(exc, httpx.TimeoutException):
        error: TransportError = APITimeoutError(
            f"{where} timed out ({type(exc).__name__}: {text}); raise the client timeout "
            "for large images or slow models"
        )
    else:
        error = APIConnectionError(f"{where} failed ({type(exc).__name__}: {text})")
    error.__cause__ = exc if text == str(exc) else type(exc)(text)
    return error
