"""Client-side pacing of requests by requests-per-minute and tokens-per-minute, adaptive to 429s.

Gemini enforces quotas per project and per model over one-minute windows (RPM, input TPM) and
per day (RPD). Sending in bursts and retrying on 429 wastes the quota on refused requests, so we
*pace* instead: each request reserves the next free slot of an evenly spaced schedule (a GCRA-
style virtual clock), which never exceeds ``limit`` requests in any 60-second window.

Quotas come from the user (``requests_per_minute``, ``tokens_per_minute``) or from the
published table of their tier (:meth:`RateLimitSettings.for_tier`). Adaptive behaviour (AIMD),
for quotas we were not told about or that are shared with other clients of the project:

- on a 429 every request waits until the server's retry delay has passed, and the pace drops
  to ``backoff_factor`` × the current rate - at most once per ``cooldown`` (or per retry delay,
  if longer), because the 429s of one burst are one event, not many. Without a configured
  quota, a short retry delay is only honoured (a pause); pacing starts from ``backoff_factor``
  × the rate achieved over the last minute when a 429 comes without any delay;
- a long retry delay (``window_hint_seconds`` or more) means a per-minute window is full: the
  requests the server accepted over the last minute (once there are ``recovery_successes`` of
  them, enough to go by) are then the best estimate of the quota, and the pace drops to that
  at once instead of creeping down; without a configured quota, that estimate becomes the
  ceiling recovery climbs back to;
- the pace never falls below ``min_rate_fraction`` of the reference rate (the configured
  limit, or the rate achieved before the first 429) except on such evidence, so 429s that do
  not depend on our rate (bursts of other clients, injected faults) cannot stall a run;
- after ``recovery_successes`` accepted requests since the last change, the pace climbs back
  by ``recovery_step`` (× the configured limit, never above it; × the current pace when none
  was configured).

The limiter is used from one asyncio event loop; reservations are synchronous, so no lock is
needed. ``clock`` and ``sleep`` are injectable for tests.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gemini_vision.catalog import tier_quota
from gemini_vision.settings import RunSettings

__all__ = ["LimiterStats", "RateLimitSettings", "RateLimiter"]

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RateLimitSettings:
    """Quotas for one model, as the user's tier grants them (``None`` = not limited).

    Rates are per minute; times in seconds; fractions in (0, 1].
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    #: pace at this fraction of the quota, leaving room for clock skew between us and the server
    safety_factor: float = 0.97
    backoff_factor: float = 0.7
    recovery_successes: int = 20
    recovery_step: float = 0.05
    #: minimum seconds between two slow-downs (429s closer together are one event)
    cooldown: float = 1.0
    #: the pace never drops below this fraction of the reference rate on plain 429s
    min_rate_fraction: float = 0.25
    #: a retry delay at least this long means a per-minute window is full (see module doc)
    window_hint_seconds: float = 5.0
    #: the longest pause a 429 may impose on everyone (the run stops rather than wait more)
    max_pause: float = 300.0

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0 < self.min_rate_fraction <= 1 or not 0 < self.backoff_factor <= 1:
            raise ValueError("min_rate_fraction and backoff_factor must be in (0, 1]")

    @classmethod
    def from_run(cls, settings: RunSettings) -> RateLimitSettings:
        """The quotas a run paces itself under: its tier's, or the ones it names."""
        quotas = cls.for_tier(
            settings.model,
            settings.tier,
            requests_per_minute=settings.requests_per_minute,
            tokens_per_minute=settings.tokens_per_minute,
        )
        return dataclasses.replace(quotas, max_pause=settings.max_retry_wait)

    @classmethod
    def for_tier(
        cls,
        model: str,
        tier: str | None,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ) -> RateLimitSettings:
        """The published quotas of ``model`` on ``tier`` (``catalog.TIER_LIMITS``); explicit
        ``requests_per_minute`` / ``tokens_per_minute`` win over the table."""
        rpm, tpm = tier_quota(model, tier) if tier else (None, None)
        return cls(
            requests_per_minute=requests_per_minute or rpm,
            tokens_per_minute=tokens_per_minute or tpm,
        )


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
    """What the limiter did: slots handed out, seconds waited, 429s heard, the current pace."""

    acquired: int = 0
    waited_seconds: float = 0.0
    rate_limited: int = 0
    slowdowns: int = 0
    current_rpm: float | None = None
    #: times of recent acquisitions (the last minute)
    history: collections.deque[float] = field(default_factory=lambda: collections.deque())
    #: times of recent requests the server accepted (the last minute)
    accepted: collections.deque[float] = field(default_factory=lambda: collections.deque())


def _trim(times: collections.deque[float], now: float) -> None:
    while times and times[0] < now - WINDOW_SECONDS:
        times.popleft()


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
        self._reference_rps = self._max_rps
        self._requests = _Schedule(self._max_rps)
        self._tokens = _Schedule(
            s.tokens_per_minute * s.safety_factor / WINDOW_SECONDS if s.tokens_per_minute else None
        )
        self._paused_until = 0.0
        self._successes_since_change = 0
        self._cooldown_until = -float("inf")
        self.stats = LimiterStats(current_rpm=self.requests_per_minute)

    @property
    def requests_per_minute(self) -> float | None:
        """The pace currently applied, in requests per minute (``None`` = unlimited)."""
        rate = self._requests.rate_per_second
        return None if rate is None else rate * WINDOW_SECONDS

    def set_share(self, fraction: float) -> None:
        """Uses ``fraction`` of the configured quotas (several workers share one project's
        quota). Safe to call from another thread: it only replaces numbers."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        s = self.settings
        if s.requests_per_minute:
            new_max = s.requests_per_minute * s.safety_factor / WINDOW_SECONDS * fraction
            if self._max_rps and self._requests.rate_per_second:
                self._requests.rate_per_second *= new_max / self._max_rps
            self._max_rps = self._reference_rps = new_max
            self.stats.current_rpm = self.requests_per_minute
        if s.tokens_per_minute:
            tokens = s.tokens_per_minute * s.safety_factor / WINDOW_SECONDS
            self._tokens.rate_per_second = tokens * fraction

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
        _trim(history, history[-1])

    def on_success(self) -> None:
        """Called after a request the server accepted: slowly restores the configured pace."""
        now = self._clock()
        self.stats.accepted.append(now)
        _trim(self.stats.accepted, now)
        self._successes_since_change += 1
        rate = self._requests.rate_per_second
        if rate is None or self._successes_since_change < self.settings.recovery_successes:
            return
        self._successes_since_change = 0
        if self._max_rps is None:
            self._requests.rate_per_second = rate * (1 + self.settings.recovery_step)
        else:
            step = self._max_rps * self.settings.recovery_step
            self._requests.rate_per_second = min(self._max_rps, rate + step)
        self.stats.current_rpm = self.requests_per_minute

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Called on a 429: pause everyone for the server's delay and slow the pace down."""
        now = self._clock()
        self.stats.rate_limited += 1
        self._successes_since_change = 0
        if retry_after:
            retry_after = min(retry_after, self.settings.max_pause)
            self._paused_until = max(self._paused_until, now + retry_after)
        window_full = (
            retry_after is not None
            and retry_after >= self.settings.window_hint_seconds
            and len(self.stats.accepted) >= self.settings.recovery_successes
        )
        rate = self._requests.rate_per_second
        if window_full:
            # what the server accepted over the full window is the quota (as far as it is ours)
            learned = len(self.stats.accepted) * self.settings.safety_factor / WINDOW_SECONDS
            if self.settings.requests_per_minute is None:
                # a quota we were not told: recovery climbs back to it, not beyond
                self._max_rps = self._reference_rps = learned
            if rate is not None and rate <= learned:
                return  # already within it: this 429 answers a request sent before
            new_rate = learned
        else:
            if rate is None and retry_after:
                return  # unpaced, and the server said how long to wait: the pause is enough
            if now < self._cooldown_until:
                return  # part of the burst we already slowed down for
            if rate is None:
                rate = self._reference_rps = self._achieved_rate(now)
            assert self._reference_rps is not None
            floor = self._reference_rps * self.settings.min_rate_fraction
            new_rate = max(rate * self.settings.backoff_factor, floor)
            if new_rate >= rate:
                return
        self._requests.rate_per_second = new_rate
        self._cooldown_until = now + max(self.settings.cooldown, retry_after or 0.0)
        self.stats.slowdowns += 1
        # Requests already scheduled keep their slots; new ones follow the new pace.
        self._requests.next_free = max(self._requests.next_free, self._paused_until)
        self.stats.current_rpm = self.requests_per_minute
        logger.info(
            "Rate limited by the server: pacing at %.1f requests/min (retry delay %s s)",
            self.stats.current_rpm or 0.0,
            f"{retry_after:.1f}" if retry_after else "none",
        )

    def _achieved_rate(self, now: float) -> float:
        """Requests per second over the last minute (at least one per minute)."""
        history = self.stats.history
        elapsed = now - history[0] if history else 0.0
        return max(len(history) / max(elapsed, 1.0), 1.0 / WINDOW_SECONDS)
