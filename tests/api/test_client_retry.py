"""Retry rules: which failures retry, how long we wait, what is counted and reported."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from support.fakes import (
    AsyncSleeps,
    Script,
    Sleeps,
    answer,
    error_body,
    make_async_client,
    make_client,
    quota_details,
)

from gemini_vision import errors
from gemini_vision.api import wire
from gemini_vision.api.retry import RetryPolicy

REQUEST = wire.GenerateContentRequest(contents=[wire.Content(parts=[wire.Part.from_text("hi")])])
NO_JITTER = RetryPolicy(jitter=0.0)


def failing(status: int, times: int = 1, **headers: str) -> list[httpx.Response | Exception]:
    body = error_body(status, f"failure {status}", "SOME_STATUS")
    return [httpx.Response(status, json=body, headers=headers) for _ in range(times)]


def ok() -> httpx.Response:
    return httpx.Response(200, json=answer("done"))


def rate_limited(quota_id: str, retry_delay: str | None = None) -> httpx.Response:
    body = error_body(429, "quota", "RESOURCE_EXHAUSTED", quota_details(quota_id, retry_delay))
    return httpx.Response(429, json=body)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int) -> None:
    script = Script([*failing(status, 2), ok()])
    client = make_client(script)
    response = client.generate_content("gemini-2.5-flash", REQUEST)
    assert response.text == "done"
    assert response.retries_taken == 2
    assert len(script.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    script = Script([*failing(status), ok()])
    sleeps = Sleeps()
    client = make_client(script, sleep=sleeps)
    with pytest.raises(errors.APIStatusError) as info:
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert info.value.status_code == status
    assert len(script.requests) == 1
    assert sleeps == []


def test_client_errors_never_retry_even_if_configured() -> None:
    script = Script([*failing(400), *failing(403), ok()])
    client = make_client(script, retry=RetryPolicy(retry_statuses=frozenset({400, 403, 503})))
    with pytest.raises(errors.BadRequestError):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert len(script.requests) == 1


def test_per_day_quota_is_never_retried() -> None:
    daily = rate_limited("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "30s")
    script = Script([daily, ok()])
    sleeps = Sleeps()
    client = make_client(script, sleep=sleeps)
    with pytest.raises(errors.QuotaExhaustedError):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert len(script.requests) == 1
    assert sleeps == []


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    script = Script(failing(503, 10))
    sleeps = Sleeps()
    client = make_client(script, retry=RetryPolicy(max_attempts=4), sleep=sleeps)
    with pytest.raises(errors.ServerError, match=r"failure 503 \(after 3 retries\)"):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert len(script.requests) == 4
    assert len(sleeps) == 3
    assert client.stats.retries == 3


def test_backoff_doubles_from_one_second() -> None:
    sleeps = Sleeps()
    client = make_client(Script(failing(500, 10)), retry=NO_JITTER, sleep=sleeps)
    with pytest.raises(errors.ServerError):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=6, initial_delay=10.0, max_delay=25.0, jitter=0.0)
    sleeps = Sleeps()
    client = make_client(Script(failing(503, 10)), retry=policy, sleep=sleeps)
    with pytest.raises(errors.ServerError):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert sleeps == [10.0, 20.0, 25.0, 25.0, 25.0]


def test_jitter_stays_within_bounds_and_varies() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=60.0, jitter=1.0)
    rng = random.Random(7)
    for retry in range(5):
        base = 2.0**retry
        waits = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(base <= wait <= base + 1.0 for wait in waits)
        assert max(waits) - min(waits) > 0.5  # really random, not a constant offset
    assert all(policy.backoff(10, rng) == 60.0 for _ in range(50))  # the cap includes jitter


def test_retry_info_delay_is_honoured() -> None:
    minute = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    script = Script([rate_limited(minute, "26s"), rate_limited(minute, "53.016s"), ok()])
    sleeps = Sleeps()
    client = make_client(script, sleep=sleeps)
    assert client.generate_content("gemini-2.5-flash", REQUEST).retries_taken == 2
    assert sleeps == [26.0, 53.016]


def test_please_retry_in_text_and_retry_after_header_are_honoured() -> None:
    text = error_body(429, "Quota exceeded. Please retry in 3.25s.", "RESOURCE_EXHAUSTED")
    header = httpx.Response(
        503, json=error_body(503, "busy", "UNAVAILABLE"), headers={"Retry-After": "5"}
    )
    sleeps = Sleeps()
    client = make_client(Script([httpx.Response(429, json=text), header, ok()]), sleep=sleeps)
    client.generate_content("gemini-2.5-flash", REQUEST)
    assert sleeps == [3.25, 5.0]


def test_server_delay_longer_than_the_cap_is_waited_up_to_max_retry_after() -> None:
    policy = RetryPolicy(max_delay=60.0, max_retry_after=120.0)
    sleeps = Sleeps()
    client = make_client(
        Script([rate_limited("PerMinute", "90s"), ok()]), retry=policy, sleep=sleeps
    )
    client.generate_content("gemini-2.5-flash", REQUEST)
    assert sleeps == [90.0]


def test_server_delay_beyond_max_retry_after_gives_up_at_once() -> None:
    script = Script([rate_limited("PerMinute", "3600s"), ok()])
    sleeps = Sleeps()
    client = make_client(script, retry=RetryPolicy(max_retry_after=120.0), sleep=sleeps)
    with pytest.raises(errors.RateLimitError) as info:
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert info.value.retry_after == 3600.0
    assert len(script.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "raised", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.ReadError("reset")]
)
def test_transport_errors_are_retried(raised: Exception) -> None:
    script = Script([raised, ok()])
    sleeps = Sleeps()
    client = make_client(script, retry=NO_JITTER, sleep=sleeps)
    assert client.generate_content("gemini-2.5-flash", REQUEST).retries_taken == 1
    assert sleeps == [1.0]
    assert client.stats.transport_errors == 1


def test_transport_retries_can_be_switched_off() -> None:
    script = Script([httpx.ReadTimeout("slow"), ok()])
    client = make_client(script, retry=RetryPolicy(retry_transport_errors=False))
    with pytest.raises(errors.APITimeoutError):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert len(script.requests) == 1


def test_never_policy_makes_one_attempt() -> None:
    script = Script([*failing(503), ok()])
    with pytest.raises(errors.ServerError):
        make_client(script, retry=RetryPolicy.never()).generate_content("m", REQUEST)
    assert len(script.requests) == 1


BATCH = {"name": "batches/b1", "metadata": {"state": "BATCH_STATE_PENDING"}}


@pytest.mark.parametrize(
    ("first", "retried"),
    [
        pytest.param(rate_limited("PerMinute", "1s"), True, id="429-rejected-before-work"),
        pytest.param(httpx.ConnectError("refused"), True, id="connect-never-sent"),
        pytest.param(failing(503)[0], False, id="503-ambiguous"),
        pytest.param(httpx.ReadTimeout("slow"), False, id="read-timeout-ambiguous"),
    ],
)
def test_batch_creation_retries_only_when_the_server_surely_did_nothing(
    first: httpx.Response | Exception, retried: bool
) -> None:
    script = Script([first, httpx.Response(200, json=BATCH)])
    client = make_client(script)
    requests = [("k1", REQUEST)]
    if retried:
        assert client.create_batch("gemini-2.5-flash", requests).name == "batches/b1"
    else:
        with pytest.raises(errors.GeminiVisionError):
            client.create_batch("gemini-2.5-flash", requests)
    assert len(script.requests) == (2 if retried else 1)


def test_rate_limit_hook_hears_every_429() -> None:
    heard: list[float | None] = []
    script = Script([rate_limited("PerMinute", "2s"), *failing(429), ok()])
    client = make_client(script, on_rate_limited=heard.append)
    client.generate_content("gemini-2.5-flash", REQUEST)
    assert heard == [2.0, None]


def test_stats_count_requests_retries_and_statuses() -> None:
    script = Script([*failing(503), httpx.ConnectError("refused"), ok(), ok()])
    client = make_client(script, retry=NO_JITTER)
    client.generate_content("gemini-2.5-flash", REQUEST)
    client.generate_content("gemini-2.5-flash", REQUEST)
    snapshot = client.stats.snapshot()
    assert snapshot == {
        "requests": 4,
        "retries": 2,
        "transport_errors": 1,
        "rate_limited": 0,
        "reauthorized": 0,
        "slept_seconds": 3.0,
        "by_status": {503: 1, 200: 2},
    }


def test_retries_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(Script([*failing(503), ok()]), retry=NO_JITTER)
    with caplog.at_level("INFO", logger="gemini_vision.api.retry"):
        client.generate_content("gemini-2.5-flash", REQUEST)
    assert "Retrying POST https://gemini.test/v1beta/models/gemini-2.5-flash:generateContent" in (
        caplog.text
    )
    assert "ServerError" in caplog.text


def test_async_client_retries_with_its_own_sleep() -> None:
    sleeps = AsyncSleeps()
    script = Script([*failing(500), rate_limited("PerMinute", "7s"), ok()])
    client = make_async_client(script, sleep=sleeps, retry=NO_JITTER)

    async def run() -> wire.GenerateContentResponse:
        async with client:
            return await client.generate_content("gemini-2.5-flash", REQUEST)

    response = asyncio.run(run())
    assert response.retries_taken == 2
    assert sleeps == [1.0, 7.0]
    assert client.stats.by_status == {500: 1, 429: 1, 200: 1}


def test_async_client_gives_up_like_the_sync_one() -> None:
    script = Script(failing(503, 10))
    client = make_async_client(script, retry=RetryPolicy(max_attempts=3, jitter=0.0))
    with pytest.raises(errors.ServerError):
        asyncio.run(client.generate_content("gemini-2.5-flash", REQUEST))
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    "options", [{"max_attempts": 0}, {"initial_delay": -1.0}, {"max_retry_after": -5.0}]
)
def test_invalid_policies_are_rejected(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)  # type: ignore[arg-type]
