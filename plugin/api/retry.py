"""Whether, and after how long, a failed request is tried again; and the loop that does it.

:class:`RetryPolicy` decides; :class:`RetryLoop` sends one request through the policy as a
generator of effects (see :mod:`gemini_vision.api.effects`) and keeps :class:`ClientStats`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from gemini_vision.api.effects import PENDING_BEARER, Authorize, Exchange, Op, Send, Sleep
from gemini_vision.api.status import error_from_response, error_from_transport, url_for_logs
from gemini_vision.errors import (
    APIStatusError,
    GeminiVisionError,
    QuotaExhaustedError,
    TransportError,
)

__all__ = ["ClientStats", "RetryLoop", "RetryPolicy"]

logger = logging.getLogger(__name__)

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
    #: requests sent again with a fresh access token after a 401 (Vertex AI)
    reauthorized: int = 0
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

    def record_reauthorization(self) -> None:
        self._add(reauthorized=1)

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
                "reauthorized": self.reauthorized,
                "by_status": dict(self.by_status),
            }


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
        max_bytes: int | None = None,
        deadline: float | None = None,
        tokens: Callable[[], tuple[str, ...]] | None = None,
    ) -> None:
        self.policy = policy
        self.stats = stats
        #: the most answer body a request may bring (None: no limit), and the seconds it may take
        self.max_bytes = max_bytes
        self.deadline = deadline
        self._secrets = tuple(secrets)
        #: the access tokens handed out so far (Vertex AI), scrubbed like the key
        self._tokens = tokens
        self._on_rate_limited = on_rate_limited
        self._rng = rng or random.Random()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to scrub from server text (held as SecretStr, unwrapped only here)."""
        keys = tuple(secret.get_secret_value() for secret in self._secrets)
        return keys + (self._tokens() if self._tokens is not None else ())

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

    def send(
        self, request: httpx.Request, *, idempotent: bool = True, bounded: bool = True
    ) -> Op[Exchange]:
        """Sends ``request`` until it succeeds (2xx) or the policy gives up (raises).

        With ``idempotent=False`` (e.g. creating a batch) only failures the server surely did
        not act on are retried: 429s and errors before the connection was made. ``bounded``:
        the answer is held to :attr:`max_bytes` and :attr:`deadline` (downloads of our own
        files are not).
        """
        retries = 0
        limits = (self.max_bytes, self.deadline) if bounded else (None, None)
        bearer = request.headers.get("authorization") == PENDING_BEARER
        stale: str | None = None
        while True:
            outcome: httpx.Response | httpx.RequestError
            if bearer:
                yield Authorize(request, stale)
            try:
                response: httpx.Response = yield Send(request, *limits)
            except httpx.RequestError as exc:
                outcome = exc
            else:
                self.stats.record_response(response.status_code)
                if logger.isEnabledFor(logging.DEBUG):  # the URL costs more than the check
                    logger.debug(
                        "%s %s -> %d", request.method, url_for_logs(request), response.status_code
                    )
                if response.is_success:
                    return Exchange(response, retries)
                if bearer and response.status_code == 401 and stale is None:
                    # the token may have expired or been revoked in flight: one fresh token,
                    # one more try (not counted as a retry)
                    stale = request.headers["authorization"].removeprefix("Bearer ")
                    self.stats.record_reauthorization()
                    continue
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
                url_for_logs(request),
                wait,
                error.reason,
                retries,
                self.policy.max_attempts - 1,
            )
            yield Sleep(wait)
