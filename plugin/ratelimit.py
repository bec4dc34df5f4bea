"""Client-side pacing of requests by requests-per-minute and tokens-per-minute, adaptive to 429s.

Gemini enforces quotas per project and per model over one-minute windows (RPM, input TPM) and
per day (RPD). Sending in bursts and retrying on 429 wastes the quota on refused requests, so we
*pace* instead: each request reserves the next free slot of an evenly spaced schedule (a GCRA-
style virtual clock), which never exceeds ``limit`` requests in any 60-second window.

Adaptive behaviour (AIMD), for quotas we were not told about or that are shared with others:

- on a 429 the pace drops to ``backoff_factor`` × the current rate, and every request waits
  until the server's retry delay has passed;
- after ``recovery_successes`` successes in a row, the rate climbs back by ``recovery_step`` ×
  the configured limit, never above it;
- with no configured RPM, the limiter starts unlimited (concurrency bounds the rate) and, on the
  first 429, starts pacing just below the rate that was achieved over the last minute.

The limiter is used from one asyncio event loop; reservations are synchronous, so no lock is
needed. ``clock`` and ``sleep`` are injectable for tests.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["RateLimitSettings", "RateLimiter"]

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RateLimitSettings:
    """Quotas for one model, as the user's tier grants them (``None`` = not limited)."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    #: pace at this fraction of the quota, leaving room for clock skew between us and the server
    safety_factor: float = 0.97
    backoff_factor: float = 0.7
    recovery_successes: int = 20
    recovery_step: float = 0.05

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")


@dataclass
class _Schedule:
    """A virtual clock for one resource: the time at which the next unit may be spent."""

    rate_per_second: float | None
    next_free: float = 0.0

    def reserve(self, now: float, units: float) -> float:
        """Reserves ``units`` and returns the time at which they may be spent."""
        if self.rate_per_second is None:
            return now
        start = max(now, self.next_free)
        self.next_free = start + units / self.rate_per_second
        return start


@dataclass
class LimiterStats:
    acquired: int = 0
    waited_seconds: float = 0.0
    rate_limited: int = 0
    current_rpm: float | None = None
    history: collections.deque[float] = field(default_factory=lambda: collections.deque())


class RateLimiter:
    """Paces requests to stay under RPM/TPM quotas and adapts to the server's 429s."""

    def __init__(
        self,
        settings: RateLimitSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings or RateLimitSettings()
        self._clock = clock
        self._sleep = sleep
        s = self.settings
        self._max_rps = (
            s.requests_per_minute * s.safety_factor / WINDOW_SECONDS
            if s.requests_per_minute
            else None
        )
        self._requests = _Schedule(self._max_rps)
        self._tokens = _Schedule(
            s.tokens_per_minute * s.safety_factor / WINDOW_SECONDS if s.tokens_per_minute else None
        )
        self._paused_until = 0.0
        self._successes_in_a_row = 0
        self.stats = LimiterStats(current_rpm=self.requests_per_minute)

    @property
    def requests_per_minute(self) -> float | None:
        """The pace currently applied, in requests per minute (``None`` = unlimited)."""
        rate = self._requests.rate_per_second
        return None if rate is None else rate * WINDOW_SECONDS

    async def acquire(self, tokens: int = 0) -> None:
        """Waits for a request slot that also has room for ``tokens`` input tokens."""
        now = self._clock()
        start = max(
            now,
            self._paused_until,
            self._requests.reserve(now, 1.0),
            self._tokens.reserve(now, float(tokens)),
        )
        delay = start - now
        if delay > 0:
            self.stats.waited_seconds += delay
            await self._sleep(delay)
        self.stats.acquired += 1
        history = self.stats.history
        history.append(self._clock())
        while history and history[0] < history[-1] - WINDOW_SECONDS:
            history.popleft()

    def on_success(self) -> None:
        """Called after a request the server accepted: slowly restores the configured pace."""
        self._successes_in_a_row += 1
        rate = self._requests.rate_per_second
        if rate is None or self._successes_in_a_row < self.settings.recovery_successes:
            return
        self._successes_in_a_row = 0
        if self._max_rps is None:
            step = rate * self.settings.recovery_step
            self._requests.rate_per_second = rate + step
        else:
            step = self._max_rps * self.settings.recovery_step
            self._requests.rate_per_second = min(self._max_rps, rate + step)
        self.stats.current_rpm = self.requests_per_minute

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Called on a 429: pause everyone for the server's delay and slow the pace down."""
        now = self._clock()
        self.stats.rate_limited += 1
        self._successes_in_a_row = 0
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        rate = self._requests.rate_per_second
        if rate is None:
            achieved = len(self.stats.history) / WINDOW_SECONDS
            elapsed = now - self.stats.history[0] if self.stats.history else 0.0
            if elapsed > 1.0:
                achieved = len(self.stats.history) / max(elapsed, 1.0)
            rate = max(achieved, 1.0 / WINDOW_SECONDS)
        self._requests.rate_per_second = rate * self.settings.backoff_factor
        # Requests already scheduled keep their slots; new ones follow the new pace.
        self._requests.next_free = max(self._requests.next_free, self._paused_until)
        self.stats.current_rpm = self.requests_per_minute
