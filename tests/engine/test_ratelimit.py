"""The rate limiter paces requests evenly under RPM/TPM and adapts to 429s (virtual clock)."""

from __future__ import annotations

import asyncio

import pytest

from gemini_vision.engine.ratelimit import RateLimiter, RateLimitSettings


class VirtualClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def acquire_times(
    limiter: RateLimiter, clock: VirtualClock, n: int, tokens: int = 0
) -> list[float]:
    times = []

    async def go() -> None:
        for _ in range(n):
            await limiter.acquire(tokens)
            times.append(clock.now)

    asyncio.run(go())
    return times


def max_in_any_window(times: list[float], window: float = 60.0) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_unlimited_limiter_never_waits() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert acquire_times(limiter, clock, 100) == [0.0] * 100


def test_rpm_pacing_never_exceeds_quota_in_any_minute() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(
        RateLimitSettings(requests_per_minute=300), clock=clock, sleep=clock.sleep
    )
    times = acquire_times(limiter, clock, 1000)
    assert max_in_any_window(times) <= 300
    achieved_per_minute = (len(times) - 1) / (times[-1] - times[0]) * 60
    assert achieved_per_minute == pytest.approx(300 * 0.97, rel=1e-6)


def test_tpm_pacing_spaces_requests_by_their_tokens() -> None:
    clock = VirtualClock()
    settings = RateLimitSettings(tokens_per_minute=60_000, safety_factor=1.0)
    limiter = RateLimiter(settings, clock=clock, sleep=clock.sleep)
    times = acquire_times(limiter, clock, 5, tokens=2000)
    # 60k tokens/min = 1000 tokens/s, so 2000-token requests go out 2 s apart
    assert times == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0])


def test_429_pauses_everyone_for_the_retry_delay_and_slows_down() -> None:
    clock = VirtualClock()
    settings = RateLimitSettings(requests_per_minute=600, safety_factor=1.0, backoff_factor=0.5)
    limiter = RateLimiter(settings, clock=clock, sleep=clock.sleep)
    acquire_times(limiter, clock, 3)
    limiter.on_rate_limited(retry_after=7.0)
    before = clock.now
    asyncio.run(limiter.acquire())
    assert clock.now >= before + 7.0
    assert limiter.requests_per_minute == pytest.approx(300)
    assert limiter.stats.rate_limited == 1


def test_successes_restore_the_configured_pace_but_not_beyond() -> None:
    clock = VirtualClock()
    settings = RateLimitSettings(
        requests_per_minute=600, safety_factor=1.0, backoff_factor=0.5, recovery_successes=2
    )
    limiter = RateLimiter(settings, clock=clock, sleep=clock.sleep)
    limiter.on_rate_limited(retry_after=None)
    assert limiter.requests_per_minute == pytest.approx(300)
    for _ in range(200):
        limiter.on_success()
    assert limiter.requests_per_minute == pytest.approx(600)


def test_unconfigured_limiter_starts_pacing_below_the_achieved_rate_after_a_429() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(RateLimitSettings(backoff_factor=0.5), clock=clock, sleep=clock.sleep)

    async def burst() -> None:
        for _ in range(120):  # 2 requests per second for a minute
            await limiter.acquire()
            await clock.sleep(0.5)

    asyncio.run(burst())
    limiter.on_rate_limited(retry_after=None)
    assert limiter.requests_per_minute == pytest.approx(60, rel=0.05)


@pytest.mark.parametrize("value", [0, -5])
def test_settings_reject_non_positive_quotas(value: int) -> None:
    with pytest.raises(ValueError):
        RateLimitSettings(requests_per_minute=value)
