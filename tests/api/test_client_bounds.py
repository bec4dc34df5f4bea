"""The client reads an answer as it streams in, and gives up on it past its size or its
deadline, however the server sends it; the envelope's JSON is parsed with a nesting bound.
Against the emulator's hostile cases over a real socket, sync and async. (The emulator runs in
this process here; the memory these answers cost the plugin is measured, with the emulator in
a process of its own, by tests/adapters/test_hostile_answers.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from gemini_vision import errors
from gemini_vision.api import wire
from gemini_vision.api.client import AsyncGeminiClient, GeminiClient
from gemini_vision.api.retry import RetryPolicy
from gemini_vision.emulator import Emulator, EmulatorConfig

KEY = "test-key-client-bounds-01"
MODEL = "gemini-2.5-flash"
NO_RETRY = RetryPolicy(max_attempts=1)
REQUEST = wire.GenerateContentRequest(
    contents=[wire.Content(role="user", parts=[wire.Part.from_text("Describe.")])]
)


@pytest.fixture
def hostile() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(hostile_drip_seconds=0.2)) as server:
        yield server


def ask(emu: Emulator, case: str, **options: object) -> BaseException:
    emu.config.hostile = case
    client = GeminiClient(KEY, base_url=emu.base_url, retry=NO_RETRY, **options)  # type: ignore[arg-type]
    with client, pytest.raises(errors.GeminiVisionError) as caught:
        client.generate_content(MODEL, REQUEST)
    return caught.value


@pytest.mark.parametrize("case", ["huge_body", "huge_after_valid", "endless_body"])
def test_an_answer_past_the_size_limit_is_refused_without_reading_the_rest(
    hostile: Emulator, case: str
) -> None:
    error = ask(hostile, case, max_response_bytes=1_000_000)
    assert isinstance(error, errors.InvalidResponseError)
    assert "larger than 1 MB (the client's max_response_bytes)" in str(error)


def test_an_answer_trickling_in_meets_the_overall_deadline(hostile: Emulator) -> None:
    started = time.monotonic()
    error = ask(hostile, "slow_drip", deadline=1.0, timeout=30.0)
    # each byte arrives well within the read timeout: only the overall deadline ends it
    assert isinstance(error, errors.APITimeoutError)
    assert "within the 1 s deadline" in str(error)
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("nested_envelope", "response is not JSON"),
        ("not_utf8", "response is not JSON"),
        ("html_200", "response is not JSON"),
        ("empty_200", "response is not JSON"),
        ("json_not_object", "unexpected GenerateContentResponse"),
    ],
)
def test_an_unreadable_envelope_is_one_clear_error(
    hostile: Emulator, case: str, says: str
) -> None:
    error = ask(hostile, case)
    assert isinstance(error, errors.InvalidResponseError)
    assert says in str(error) and "\n" not in str(error) and len(str(error)) < 1000
    assert KEY not in str(error) and KEY not in repr(error.__context__)


def test_the_async_client_keeps_the_same_bounds(hostile: Emulator) -> None:
    async def go(case: str, **options: object) -> BaseException:
        hostile.config.hostile = case
        client = AsyncGeminiClient(KEY, base_url=hostile.base_url, retry=NO_RETRY, **options)  # type: ignore[arg-type]
        async with client:
            with pytest.raises(errors.GeminiVisionError) as caught:
                await client.generate_content(MODEL, REQUEST)
        return caught.value

    too_big = asyncio.run(go("endless_body", max_response_bytes=500_000))
    assert "larger than 0.5 MB" in str(too_big)
    started = time.monotonic()
    too_slow = asyncio.run(go("slow_drip", deadline=1.0, timeout=30.0))
    assert isinstance(too_slow, errors.APITimeoutError) and time.monotonic() - started < 3.0
