"""RunSettings: one object from the user's choices, checked at once; environment settings that
cannot be read fall back to their default with a sentence saying why."""

from __future__ import annotations

import pytest

from gemini_vision.api import AsyncGeminiClient
from gemini_vision.engine import RateLimitSettings, RequestBuilder
from gemini_vision.errors import ConfigurationError
from gemini_vision.settings import EngineTuning, RunSettings, env_number
from gemini_vision.tasks import TaskSpec


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"mode": "fast"}, "mode"),
        ({"tier": "gold"}, "tier"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": "8"}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"max_image_side": -1}, "max_image_side"),
        ({"max_image_side": "big"}, "max_image_side"),
        ({"requests_per_minute": 0}, "requests_per_minute"),
        ({"tokens_per_minute": float("nan")}, "tokens_per_minute"),
        ({"timeout": -5}, "timeout"),
        ({"lease_seconds": 0}, "lease_seconds"),
    ],
    ids=lambda value: str(value),
)
def test_bad_settings_are_refused_at_once_naming_the_setting(options: dict, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        RunSettings(**options)


def test_zero_image_side_means_full_size_and_tiers_are_spelt_loosely() -> None:
    assert RunSettings(max_image_side=0).max_image_side is None
    assert RunSettings(tier="Tier 1").tier == "Tier 1"


def test_the_record_keeps_no_secret_and_no_internals() -> None:
    public = RunSettings(api_key="AIzaSecret", secrets={"GEMINI_API_KEY": "x"}).public()
    assert "api_key" not in public and "secrets" not in public and "tuning" not in public
    assert "AIzaSecret" not in repr(RunSettings(api_key="AIzaSecret"))


def test_one_settings_object_drives_quotas_and_the_request_builder() -> None:
    settings = RunSettings(
        model="gemini-2.5-flash",
        tier="tier1",
        tokens_per_minute=123_456,
        max_image_side=640,
        tuning=EngineTuning(inline_limit_bytes=4096, prepare_workers=3),
    )
    limits = RateLimitSettings.from_run(settings)
    assert (limits.requests_per_minute, limits.tokens_per_minute) == (1_000, 123_456)
    client = AsyncGeminiClient("test-key-settings", base_url="http://127.0.0.1:9")
    builder = RequestBuilder.from_settings(TaskSpec(kind="detect"), settings, client)
    try:
        assert (builder.model, builder.max_image_side) == ("gemini-2.5-flash", 640)
        assert builder.inline_limit_bytes == 4096 and builder._pool._max_workers == 3
    finally:
        builder.close()


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf", "1e999", "  "])
def test_an_unreadable_environment_number_falls_back_and_says_why(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_VISION_TEST_NUMBER", text)
    setting = env_number("GEMINI_VISION_TEST_NUMBER", 100)
    assert setting.value == 100
    if text.strip():
        assert setting.problem and "GEMINI_VISION_TEST_NUMBER" in setting.problem
    else:
        assert setting.problem is None


def test_a_good_environment_number_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_VISION_TEST_NUMBER", " 250 ")
    setting = env_number("GEMINI_VISION_TEST_NUMBER", 100)
    assert (setting.value, setting.problem) == (250, None)
