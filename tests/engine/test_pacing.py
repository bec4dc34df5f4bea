"""Adaptive pacing under the 429s real quotas and random faults send (virtual clock), and the
published tier quotas."""

from __future__ import annotations

import asyncio

import pytest

from gemini_vision.catalog import TIER_LIMITS
from gemini_vision.engine.ratelimit import RateLimiter, RateLimitSettings


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter_with(settings: RateLimitSettings) -> tuple[RateLimiter, VirtualClock]:
    clock = VirtualClock()
    return RateLimiter(settings, clock=clock, sleep=clock.sleep), clock


def send(limiter: RateLimiter, clock: VirtualClock, n: int, *, spacing: float = 0.0) -> None:
    async def go() -> None:
        for _ in range(n):
            await limiter.acquire()
            limiter.on_success()
            await clock.sleep(spacing)

    asyncio.run(go())


def test_a_burst_of_429s_is_one_slowdown_not_many() -> None:
    limiter, _ = limiter_with(RateLimitSettings(requests_per_minute=600, safety_factor=1.0))
    for _ in range(16):  # every request in flight is refused at once
        limiter.on_rate_limited(retry_after=0.2)
    assert limiter.stats.slowdowns == 1
    assert limiter.requests_per_minute == pytest.approx(600 * 0.7)


def test_random_429s_cannot_stall_a_run_below_the_floor() -> None:
    settings = RateLimitSettings(requests_per_minute=600, safety_factor=1.0, cooldown=1.0)
    limiter, clock = limiter_with(settings)
    for _ in range(200):  # a 429 every two seconds for minutes, whatever our pace
        limiter.on_rate_limited(retry_after=0.1)
        clock.now += 2.0
    assert limiter.requests_per_minute == pytest.approx(600 * settings.min_rate_fraction)


def test_unpaced_runs_only_pause_for_a_short_server_delay() -> None:
    limiter, clock = limiter_with(RateLimitSettings())
    send(limiter, clock, 50, spacing=0.01)
    limiter.on_rate_limited(retry_after=0.5)
    assert limiter.requests_per_minute is None  # still unpaced
    before = clock.now
    asyncio.run(limiter.acquire())
    assert clock.now == pytest.approx(before + 0.5)


def test_a_full_minute_window_sets_the_pace_to_what_the_server_accepted() -> None:
    # 300 accepted in 10 s, then "retry in 50 s": the quota is about 300 per minute
    limiter, clock = limiter_with(RateLimitSettings())
    send(limiter, clock, 300, spacing=10 / 300)
    limiter.on_rate_limited(retry_after=50.0)
    learned = 300 * 0.97
    assert limiter.requests_per_minute == pytest.approx(learned, rel=0.01)
    for _ in range(15):  # the rest of the burst, refused for the same full window
        limiter.on_rate_limited(retry_after=49.0)
    assert limiter.requests_per_minute == pytest.approx(learned, rel=0.01)
    send(limiter, clock, 200, spacing=0.2)  # recovery climbs back to the learned quota only
    assert limiter.requests_per_minute == pytest.approx(learned, rel=0.01)


def test_pacing_recovers_after_429s_stop() -> None:
    limiter, clock = limiter_with(
        RateLimitSettings(requests_per_minute=600, safety_factor=1.0, recovery_successes=5)
    )
    limiter.on_rate_limited(retry_after=None)
    assert limiter.requests_per_minute == pytest.approx(420)
    send(limiter, clock, 100)
    assert limiter.requests_per_minute == pytest.approx(600)


@pytest.mark.parametrize(
    ("model", "tier", "rpm"),
    [
        ("gemini-2.5-flash", "free", 10),
        ("gemini-2.5-flash", "tier1", 1_000),
        ("models/gemini-2.5-flash-lite", "tier1", 4_000),
        ("gemini-2.5-pro", "tier1", 150),
        ("gemini-2.5-flash", "tier3", 10_000),
    ],
)
def test_tier_presets_follow_the_published_table(model: str, tier: str, rpm: int) -> None:
    settings = RateLimitSettings.for_tier(model, tier)
    assert settings.requests_per_minute == rpm


def test_explicit_quotas_win_over_the_tier_and_unknown_entries_adapt() -> None:
    settings = RateLimitSettings.for_tier("gemini-2.5-flash", "free", requests_per_minute=42)
    assert settings.requests_per_minute == 42
    assert settings.tokens_per_minute == TIER_LIMITS["flash"]["free"][1]
    assert RateLimitSettings.for_tier("gemini-2.5-pro", "tier3").requests_per_minute is None
    assert RateLimitSettings.for_tier("gemini-2.5-pro", None).requests_per_minute is None
    with pytest.raises(ValueError, match="unknown tier"):
        RateLimitSettings.for_tier("gemini-2.5-flash", "gold")


def test_workers_sharing_a_quota_each_pace_at_their_share() -> None:
    limiter, _ = limiter_with(RateLimitSettings(requests_per_minute=300, safety_factor=1.0))
    limiter.set_share(0.5)
    assert limiter.requests_per_minute == pytest.approx(150)
    limiter.on_rate_limited(retry_after=None)
    limiter.set_share(1.0)  # the other worker finished: back to the whole quota, same ratio
    assert limiter.requests_per_minute == pytest.approx(300 * 0.7)
