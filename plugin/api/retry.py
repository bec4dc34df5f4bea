"""Failures and what to do about them: error mapping, retry decisions and the retry loop.

Everything here is free of I/O. A request is *described* by yielding effects — ``Send`` (give
me the response to this request, or throw the ``httpx`` transport error into me) and ``Sleep``
(wait this many seconds) — and the sync and async clients only carry them out. That is how the
two clients share one implementation of everything but sending and sleeping.

- :func:`error_from_response` is the one place that turns an error response into the
  exception tree of :mod:`gemini_vision.errors` (and finds how long the server wants us to wait);
- :class:`RetryPolicy` decides whether and how long to wait before the next attempt;
- :class:`RetryLoop` runs one request through the policy and keeps :class:`ClientStats`.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import httpx
from pydantic import SecretStr

from gemini_vision.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GeminiVisionError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    TransportError,
    redact,
)

__all__ = [
    "ClientStats",
    "Effect",
    "Exchange",
    "Op",
    "RetryLoop",
    "RetryPolicy",
    "Send",
    "Sleep",
    "error_from_response",
    "error_from_transport",
    "parse_retry_delay",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Effects


@dataclass(frozen=True)
class Send:
    """Send ``request``; resume with the (fully read) ``httpx.Response`` or throw its error."""

    request: httpx.Request


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before resuming (with None)."""

    seconds: float


Effect = Send | Sleep
#: an operation: yields effects, returns a T
Op = Generator[Effect, Any, T]


class Exchange(NamedTuple):
    """The successful response of a request and how many retries it took to get it."""

    response: httpx.Response
    retries: int


# --------------------------------------------------------------------------------------------
# Error mapping

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


def _safe_url(request: httpx.Request) -> str:
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
    where = f"{request.method} {_safe_url(request)}"
    if isinstance(exc, httpx.TimeoutException):
        error: TransportError = APITimeoutError(
            f"{where} timed out ({type(exc).__name__}: {text}); raise the client timeout "
            "for large images or slow models"
        )
    else:
        error = APIConnectionError(f"{where} failed ({type(exc).__name__}: {text})")
    error.__cause__ = exc if text == str(exc) else type(exc)(text)
    return error


# --------------------------------------------------------------------------------------------
# Retry policy and statistics

#: transport errors raised before a single byte reached the server: always safe to repeat
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed request, and how long to wait first.

    Defaults follow the official SDK's opt-in retry options: 5 attempts in all, waits of
    ``initial_delay * multiplier**n + uniform(0, jitter)`` seconds capped at ``max_delay``
    (about 1, 2, 4, 8 s), on 408/429/500/502/503/504, timeouts and connection errors. Unlike
    the SDK, a delay the server asks for (RetryInfo, "Please retry in", Retry-After) wins over
    the backoff, up to ``max_retry_after`` seconds; asked to wait longer, we give up at once.
    Per-day quota errors and other 4xx are never retried, whatever ``retry_statuses`` says.
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 1.0
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    retry_transport_errors: bool = True
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first try, so it must be at least 1")
        if min(self.initial_delay, self.max_delay, self.jitter, self.max_retry_after) < 0:
            raise ValueError("retry delays must not be negative")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(max_attempts=1)

    def backoff(self, retries_taken: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retries_taken + 1`` (0-based exponent)."""
        exponent = min(retries_taken, 64)  # keeps multiplier**exponent finite
        raw = self.initial_delay * self.multiplier**exponent + rng.uniform(0, self.jitter)
        return min(self.max_delay, raw)

    def is_retryable(self, error: GeminiVisionError) -> bool:
        """Whether this kind of failure may succeed on a later attempt."""
        if isinstance(error, QuotaExhaustedError):
            return False
        if isinstance(error, APIStatusError):
            return error.status_code in self.retry_statuses and (
                error.status_code >= 500 or error.status_code in (408, 429)
            )
        return isinstance(error, TransportError) and self.retry_transport_errors

    def delay(
        self, error: GeminiVisionError, retries_taken: int, rng: random.Random
    ) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up."""
        if retries_taken + 1 >= self.max_attempts or not self.is_retryable(error):
            return None
        asked = error.retry_after if isinstance(error, APIStatusError) else None
        if asked is None:
            return self.backoff(retries_taken, rng)
        return asked if asked <= self.max_retry_after else None


@dataclass
class ClientStats:
    """Counters over the life of a client (thread-safe). ``by_status`` counts HTTP statuses."""

    requests: int = 0
    retries: int = 0
    transport_errors: int = 0
    rate_limited: int = 0
    slept_seconds: float = 0.0
    by_status: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def record_response(self, status_code: int) -> None:
        with self._lock:
            self.requests += 1
            self.by_status[status_code] += 1
            if status_code == 429:
                self.rate_limited += 1

    def record_transport_error(self) -> None:
        self._add(requests=1, transport_errors=1)

    def record_retry(self, seconds: float) -> None:
        self._add(retries=1, slept_seconds=seconds)

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy, safe to log or store."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "transport_errors": self.transport_errors,
                "rate_limited": self.rate_limited,
                "slept_seconds": round(self.slept_seconds, 3),
                "by_status": dict(self.by_status),
            }


# --------------------------------------------------------------------------------------------
# The retry loop


def _after_retries(error: GeminiVisionError, retries: int) -> GeminiVisionError:
    """``error`` whose text also says how many retries came before it (if any)."""
    if retries:
        note = f" (after {retries} {'retry' if retries == 1 else 'retries'})"
        if isinstance(error, APIStatusError):
            error.message += note
        error.args = (f"{error.args[0]}{note}", *error.args[1:])
    return error


class RetryLoop:
    """Sends one request through the :class:`RetryPolicy`, as a generator of effects.

    ``on_rate_limited(retry_after)`` is called on every 429 (``retry_after`` in seconds, or
    None), so a shared rate limiter can slow everyone down, not just this request.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        stats: ClientStats,
        *,
        secrets: Sequence[SecretStr] = (),
        on_rate_limited: Callable[[float | None], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.stats = stats
        self._secrets = tuple(secrets)
        self._on_rate_limited = on_rate_limited
        self._rng = rng or random.Random()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to scrub from server text (held as SecretStr, unwrapped only here)."""
        return tuple(secret.get_secret_value() for secret in self._secrets)

    def _failure(
        self, outcome: httpx.Response | httpx.RequestError, request: httpx.Request
    ) -> tuple[GeminiVisionError, bool]:
        """The error for a failed attempt, and whether the server surely did not act on it."""
        if isinstance(outcome, httpx.Response):
            error = error_from_response(outcome, secrets=self.secrets)
            if outcome.status_code == 429 and self._on_rate_limited is not None:
                self._on_rate_limited(error.retry_after)
            return error, outcome.status_code == 429
        self.stats.record_transport_error()
        not_sent = isinstance(outcome, _NOT_SENT)
        return error_from_transport(outcome, request, secrets=self.secrets), not_sent

    def send(self, request: httpx.Request, *, idempotent: bool = True) -> Op[Exchange]:
        """Sends ``request`` until it succeeds (2xx) or the policy gives up (raises).

        With ``idempotent=False`` (e.g. creating a batch) only failures the server surely did
        not act on are retried: 429s and errors before the connection was made.
        """
        retries = 0
        while True:
            outcome: httpx.Response | httpx.RequestError
            try:
                response: httpx.Response = yield Send(request)
            except httpx.RequestError as exc:
                outcome = exc
            else:
                self.stats.record_response(response.status_code)
                logger.debug(
                    "%s %s -> %d", request.method, _safe_url(request), response.status_code
                )
                if response.is_success:
                    return Exchange(response, retries)
                outcome = response
            error, not_acted_on = self._failure(outcome, request)
            wait = self.policy.delay(error, retries, self._rng)
            if wait is None or not (idempotent or not_acted_on):
                raise _after_retries(error, retries)
            retries += 1
            self.stats.record_retry(wait)
            logger.info(
                "Retrying %s %s in %.1fs after %s (retry %d of %d)",
                request.method,
                _safe_url(request),
                wait,
                error.reason,
                retries,
                self.policy.max_attempts - 1,
            )
            yield Sleep(wait)
