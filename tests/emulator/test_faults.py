"""Fault injection: quotas, injected errors, timeouts, damaged answers, latency, determinism."""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from gemini_vision.emulator import Emulator, EmulatorConfig
from gemini_vision.emulator.model.responder import Reply
from gemini_vision.emulator.server.faults import fence, malform, wrap_in_prose

KEY = "fault-key"
MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
ANSWER = json.dumps(
    [
        {"box_2d": [100, 120, 400, 380], "label": "red circle"},
        {"box_2d": [500, 520, 900, 880], "label": "blue square"},
    ]
)
RETRY_DELAY = re.compile(r"^\d+(\.\d+)?s$")


def respond(request: Any, images: list, *, model: str, rng: random.Random) -> Reply:
    return Reply(text=ANSWER, kind="detect")


def png(color: str) -> str:
    import base64

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def body(text: str = "Detect", image: str | None = None) -> dict:
    parts: list[dict] = [{"text": text}]
    if image is not None:
        parts.insert(0, {"inlineData": {"mimeType": "image/png", "data": image}})
    return {
        "contents": [{"parts": parts}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}},
    }


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quota_window=1.0), respond=respond) as server:
        yield server


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": KEY}) as client:
        yield client


def details_by_type(error: dict) -> dict[str, dict]:
    return {d["@type"].rsplit(".", 1)[-1]: d for d in error["details"]}


def seconds(duration: str) -> float:
    assert RETRY_DELAY.match(duration), duration
    return float(duration[:-1])


# --- quotas --------------------------------------------------------------------------------


def test_rpm_quota_answers_the_real_429_and_frees_a_slot_after_the_delay(
    emu: Emulator, http: httpx.Client
):
    emu.config.rpm = 2
    assert [http.post(GEN, json=body()).status_code for _ in range(2)] == [200, 200]
    limited = http.post(GEN, json=body())
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["message"].startswith("You exceeded your current quota")
    assert re.search(r"Please retry in \d+\.\d\ds\.$", error["message"])
    details = details_by_type(error)
    (violation,) = details["QuotaFailure"]["violations"]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    assert violation["quotaDimensions"] == {"location": "global", "model": MODEL}
    assert violation["quotaValue"] == "2"
    assert (
        details["Help"]["links"][0]["url"] == "https://ai.google.dev/gemini-api/docs/rate-limits"
    )
    delay = seconds(details["RetryInfo"]["retryDelay"])
    assert 0 < delay <= 1.0
    time.sleep(delay + 0.05)
    assert http.post(GEN, json=body()).status_code == 200
    assert emu.stats.injected["rpm"] == 1


def test_quotas_are_per_model(emu: Emulator, http: httpx.Client):
    emu.config.rpm = {MODEL: 1}
    assert http.post(GEN, json=body()).status_code == 200
    assert http.post(GEN, json=body()).status_code == 429
    other = "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert [http.post(other, json=body()).status_code for _ in range(3)] == [200] * 3


def test_tpm_quota_counts_prompt_tokens(emu: Emulator, http: httpx.Client):
    emu.config.tpm = 30  # "x" * 80 is 20 tokens: one request fits, two do not
    assert http.post(GEN, json=body("x" * 80)).status_code == 200
    limited = http.post(GEN, json=body("x" * 80))
    assert limited.status_code == 429
    (violation,) = details_by_type(limited.json()["error"])["QuotaFailure"]["violations"]
    assert violation["quotaId"] == "GenerateContentInputTokensPerModelPerMinute-FreeTier"
    assert http.post(GEN, json=body("x" * 20)).status_code == 200  # 5 more tokens still fit
    assert emu.stats.injected["tpm"] == 1


def test_daily_quota_asks_to_wait_until_the_pacific_midnight(emu: Emulator, http: httpx.Client):
    emu.config.rpd = 1
    assert http.post(GEN, json=body()).status_code == 200
    error = http.post(GEN, json=body()).json()["error"]
    details = details_by_type(error)
    (violation,) = details["QuotaFailure"]["violations"]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert 1 <= seconds(details["RetryInfo"]["retryDelay"]) <= 25 * 3600
    assert emu.stats.injected["rpd"] == 1


def test_paid_tier_uses_paid_quota_names(emu: Emulator, http: httpx.Client):
    emu.config.tier = "paid"
    emu.config.tpm = 1
    error = http.post(GEN, json=body("x" * 40)).json()["error"]
    (violation,) = details_by_type(error)["QuotaFailure"]["violations"]
    assert violation["quotaId"] == "GenerateContentPaidTierInputTokensPerModelPerMinute"


# --- injected errors -----------------------------------------------------------------------


def test_injected_429_carries_a_retry_delay_around_the_knob(emu: Emulator, http: httpx.Client):
    emu.config.fault_rate_429 = 1.0
    emu.config.fault_429_retry_delay = 4.0
    for _ in range(5):
        response = http.post(GEN, json=body())
        assert response.status_code == 429
        delay = details_by_type(response.json()["error"])["RetryInfo"]["retryDelay"]
        assert 2.0 <= seconds(delay) <= 6.0
    assert emu.stats.injected["429"] == 5


@pytest.mark.parametrize(
    ("knob", "code", "status", "message"),
    [
        (
            "fault_rate_500",
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in"
            " https://developers.generativeai.google/guide/troubleshooting",
        ),
        ("fault_rate_503", 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        ("fault_rate_504", 504, "DEADLINE_EXCEEDED", None),
    ],
)
def test_injected_server_errors(
    emu: Emulator, http: httpx.Client, knob: str, code: int, status: str, message: str | None
):
    setattr(emu.config, knob, 1.0)
    response = http.post(GEN, json=body())
    assert response.status_code == code
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    if message is not None:
        assert error["message"] == message
    assert emu.stats.injected[str(code)] == 1


def test_timeout_close_mode_drops_the_connection_without_an_answer(
    emu: Emulator, http: httpx.Client
):
    emu.config.timeout_rate = 1.0
    emu.config.timeout_mode = "close"
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(GEN, json=body())
    assert emu.stats.injected["timeout"] == 1
    assert emu.stats.count("generateContent", 0) == 1


def test_timeout_hang_mode_outlasts_the_client_timeout(emu: Emulator, http: httpx.Client):
    emu.config.timeout_rate = 1.0
    emu.config.timeout_hold = 1.0
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        http.post(GEN, json=body(), timeout=0.3)
    assert time.monotonic() - started < 0.9


def test_faults_follow_runtime_changes_of_the_config(emu: Emulator, http: httpx.Client):
    assert http.post(GEN, json=body()).status_code == 200
    emu.config.fault_rate_503 = 1.0
    assert http.post(GEN, json=body()).status_code == 503
    emu.config.fault_rate_503 = 0.0
    assert http.post(GEN, json=body()).status_code == 200


# --- damaged answers -----------------------------------------------------------------------


def answer_of(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def text_of(response: httpx.Response) -> str:
    return answer_of(response)["candidates"][0]["content"]["parts"][0]["text"]


def test_malformed_answers_are_not_json_any_more(emu: Emulator, http: httpx.Client):
    emu.config.malformed_rate = 1.0
    texts = [text_of(http.post(GEN, json=body(f"Detect {i}"))) for i in range(20)]
    for text in texts:
        with pytest.raises(ValueError):
            json.loads(text)
    assert len(set(texts)) > 3  # several kinds of damage, at several places
    assert emu.stats.injected["malformed"] == 20


def test_fenced_answer_is_the_clean_answer_in_a_json_fence(emu: Emulator, http: httpx.Client):
    emu.config.fenced_rate = 1.0
    assert text_of(http.post(GEN, json=body())) == f"```json\n{ANSWER}\n```"


def test_prose_wrapped_answer_keeps_the_fenced_json(emu: Emulator, http: httpx.Client):
    emu.config.prose_rate = 1.0
    text = text_of(http.post(GEN, json=body()))
    lead, fenced = text.split("```json\n", 1)
    assert lead.strip()  # some prose before the fence
    inner, _tail = fenced.split("\n```", 1)
    assert json.loads(inner) == json.loads(ANSWER)


def test_blocked_prompt_is_200_with_only_prompt_feedback(emu: Emulator, http: httpx.Client):
    emu.config.safety_rate = 1.0
    result = answer_of(http.post(GEN, json=body()))
    assert "candidates" not in result
    assert result["promptFeedback"]["blockReason"] == "SAFETY"
    assert any(r.get("blocked") for r in result["promptFeedback"]["safetyRatings"])
    usage = result["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"]
    assert "candidatesTokenCount" not in usage


def test_safety_finish_is_a_candidate_without_text(emu: Emulator, http: httpx.Client):
    emu.config.safety_finish_rate = 1.0
    candidate = answer_of(http.post(GEN, json=body()))["candidates"][0]
    assert candidate["finishReason"] == "SAFETY"
    assert "content" not in candidate
    assert any(r.get("blocked") for r in candidate["safetyRatings"])


def test_blocked_images_are_always_blocked(emu: Emulator, http: httpx.Client):
    import base64
    import hashlib

    red, blue = png("red"), png("blue")
    emu.config.blocked_images = {hashlib.sha256(base64.b64decode(red)).hexdigest()}
    assert "promptFeedback" in answer_of(http.post(GEN, json=body(image=red)))
    assert "candidates" in answer_of(http.post(GEN, json=body(image=blue)))


def test_max_tokens_fault_cuts_the_answer(emu: Emulator, http: httpx.Client):
    emu.config.max_tokens_rate = 1.0
    result = answer_of(http.post(GEN, json=body()))
    candidate = result["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    text = candidate["content"]["parts"][0]["text"]
    assert ANSWER.startswith(text) and len(text) < len(ANSWER)
    assert result["usageMetadata"]["candidatesTokenCount"] == -(-len(text) // 4)


# --- latency and determinism ---------------------------------------------------------------


def test_latency_is_added_and_jitter_stays_within_its_bounds(emu: Emulator, http: httpx.Client):
    emu.config.latency = 0.2
    emu.config.latency_jitter = 0.1
    durations = []
    for _ in range(5):
        started = time.monotonic()
        http.post(GEN, json=body())
        durations.append(time.monotonic() - started)
    assert all(0.1 <= d < 0.45 for d in durations)
    assert max(durations) - min(durations) > 0.01  # jitter, not a fixed sleep


def test_latency_does_not_serialise_concurrent_requests(emu: Emulator):
    emu.config.latency = 0.4
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=40)
    with httpx.Client(headers={"x-goog-api-key": KEY}, limits=limits) as client:

        def call() -> None:
            statuses.append(client.post(emu.base_url + GEN, json=body()).status_code)

        threads = [threading.Thread(target=call) for _ in range(40)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert statuses == [200] * 40
    assert elapsed < 1.2


def outcome(response: httpx.Response) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    candidate = response.json()["candidates"][0]
    return f"{candidate['finishReason']}:{candidate['content']['parts'][0]['text'][:12]}"


MIXED = EmulatorConfig(
    seed=7,
    fault_rate_429=0.15,
    fault_rate_503=0.15,
    fenced_rate=0.2,
    malformed_rate=0.2,
    fault_429_retry_delay=0.01,
)


def run_sequence(config: EmulatorConfig, images: list[str]) -> list[str]:
    with (
        Emulator(config, respond=respond) as server,
        httpx.Client(base_url=server.base_url, headers={"x-goog-api-key": KEY}) as client,
    ):
        return [outcome(client.post(GEN, json=body(image=image))) for image in images]


def test_faults_are_reproducible_for_a_seed_and_differ_across_seeds():
    images = [png("red")] * 30
    first = run_sequence(MIXED, images)
    assert run_sequence(MIXED, images) == first
    assert len(set(first)) >= 3  # errors, fences and clean answers are all in there
    other = EmulatorConfig(**{**MIXED.__dict__, "seed": 8})
    assert run_sequence(other, images) != first


def test_per_image_faults_do_not_depend_on_request_order():
    config = EmulatorConfig(**{**MIXED.__dict__, "faults_per_image": True})
    colors = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"]
    images = [png(c) for c in colors]
    forward = dict(zip(colors, run_sequence(config, images), strict=True))
    backward = dict(zip(colors[::-1], run_sequence(config, images[::-1]), strict=True))
    assert forward == backward


def test_reset_restarts_the_fault_sequence(emu: Emulator, http: httpx.Client):
    emu.config.seed = 3
    emu.config.fault_rate_503 = 0.5
    first = [http.post(GEN, json=body()).status_code for _ in range(12)]
    emu.reset()
    assert [http.post(GEN, json=body()).status_code for _ in range(12)] == first
    assert emu.stats.count("generateContent") == 12


# --- the text manglers on their own --------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_malform_always_breaks_json(seed: int):
    assert _fails_to_parse(malform(ANSWER, random.Random(seed)))


def _fails_to_parse(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def test_fence_does_not_fence_twice():
    assert fence(fence("[]")) == "```json\n[]\n```"


def test_prose_wrapper_styles_vary_with_the_seed():
    styles = {wrap_in_prose("[]", "detect", random.Random(seed)) for seed in range(20)}
    assert len(styles) > 2
    assert all("```json\n[]\n```" in style for style in styles)


def test_latency_includes_the_work_of_answering() -> None:
    """Gemini's latency is the whole time of a call: work that fits in it adds nothing."""

    def slow(request: Any, images: list, *, model: str, rng: random.Random) -> Reply:
        time.sleep(0.3)
        return respond(request, images, model=model, rng=rng)

    config = EmulatorConfig(latency=0.5)
    client = httpx.Client(headers={"x-goog-api-key": KEY})
    with Emulator(config, respond=slow) as server, client:
        client.post(server.base_url + GEN, json=body())  # connection and first call
        durations = []
        for _ in range(3):
            started = time.monotonic()
            assert client.post(server.base_url + GEN, json=body()).status_code == 200
            durations.append(time.monotonic() - started)
    assert all(0.5 <= d < 0.7 for d in durations), durations
