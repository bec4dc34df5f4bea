"""The client against the local emulator over a real socket: the wire forms agree end to end."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from gemini_vision import errors
from gemini_vision.api import wire
from gemini_vision.api.client import AsyncGeminiClient, GeminiClient, answer_text
from gemini_vision.api.retry import RetryPolicy
from gemini_vision.emulator import Emulator, EmulatorConfig

KEY = "AIzaSyEMULATOR_client_test_key_000000042"
MODEL = "gemini-2.5-flash"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(batch_pending_time=0.0, batch_running_time=0.05)) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(emu: Emulator, sleeps: list[float]) -> Iterator[Callable[..., GeminiClient]]:
    """Makes clients of the emulator that record their sleeps; closes them afterwards."""
    made: list[GeminiClient] = []

    def make(**options: Any) -> GeminiClient:
        options.setdefault("sleep", sleeps.append)
        made.append(GeminiClient(KEY, base_url=emu.base_url, **options))
        return made[-1]

    yield make
    for gemini in made:
        gemini.close()


@pytest.fixture
def client(connect: Callable[..., GeminiClient]) -> GeminiClient:
    return connect()


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def ask(part: wire.Part, prompt: str = "Describe this image.") -> wire.GenerateContentRequest:
    return wire.GenerateContentRequest(
        contents=[wire.Content(role="user", parts=[part, wire.Part.from_text(prompt)])]
    )


def test_generate_with_an_inline_image(emu: Emulator, client: GeminiClient) -> None:
    data = png()
    response = client.generate_content(MODEL, ask(wire.Part.from_bytes(data, "image/png")))
    assert answer_text(response)
    assert response.retries_taken == 0
    assert response.usage_metadata is not None and response.usage_metadata.input_tokens > 258
    assert emu.stats.image_calls[hashlib.sha256(data).hexdigest()] == 1


def test_upload_in_chunks_then_generate_with_file_data(
    emu: Emulator, client: GeminiClient
) -> None:
    data = png(300, 200)
    uploaded = client.upload_file(data, mime_type="image/png", display_name="red", chunk_size=256)
    active = client.wait_until_active(uploaded)
    assert active.size_bytes == len(data)
    assert active.uri and active.uri.startswith(emu.base_url)
    chunks = -(-len(data) // 256)
    assert emu.stats.count("files.upload_chunk", 200) == chunks

    response = client.generate_content(MODEL, ask(wire.Part.from_uri(active.uri, "image/png")))
    assert answer_text(response)
    assert emu.stats.image_calls[hashlib.sha256(data).hexdigest()] == 1
    assert [f.name for f in client.list_files(page_size=1)] == [active.name]
    client.delete_file(active.name)
    with pytest.raises(errors.PermissionDeniedError):
        client.get_file(active.name)


def test_image_part_uploads_above_the_inline_limit(
    emu: Emulator, connect: Callable[..., GeminiClient]
) -> None:
    data = png(400, 400)
    client = connect(inline_limit_bytes=len(data))
    part = client.image_part(data, "image/png")
    assert part.file_data is not None
    assert answer_text(client.generate_content(MODEL, ask(part)))
    assert emu.stats.count("files.upload", 200) == 1


def test_count_tokens_for_contents_and_for_a_full_request(client: GeminiClient) -> None:
    request = ask(wire.Part.from_bytes(png(), "image/png"))
    by_contents = client.count_tokens(MODEL, wire.CountTokensRequest(contents=request.contents))
    by_request = client.count_tokens(MODEL, request)
    image = [
        d.token_count for d in by_contents.prompt_tokens_details or [] if d.modality == "IMAGE"
    ]
    assert image == [258]  # an image of at most 384 px a side
    assert by_request.total_tokens == by_contents.total_tokens > 258


def test_list_models_pages_and_get_model(emu: Emulator, client: GeminiClient) -> None:
    models = client.list_models(page_size=3)
    assert MODEL in [m.model_id for m in models]
    assert emu.stats.count("models.list", 200) == -(-len(models) // 3)
    assert "generateContent" in client.get_model(MODEL).supported_generation_methods


def test_unknown_model_is_not_found(client: GeminiClient) -> None:
    with pytest.raises(errors.NotFoundError, match="gemini-0-nothing"):
        client.generate_content("gemini-0-nothing", ask(wire.Part.from_text("x")))


def test_429_with_retry_info_is_waited_out_and_reported(
    emu: Emulator, connect: Callable[..., GeminiClient], sleeps: list[float]
) -> None:
    emu.config.fault_rate_429 = 1.0
    emu.config.fault_429_retry_delay = 20.0
    heard: list[float | None] = []

    def on_rate_limited(retry_after: float | None) -> None:
        heard.append(retry_after)
        emu.config.fault_rate_429 = 0.0  # the server recovers before the retry

    client = connect(on_rate_limited=on_rate_limited)
    response = client.generate_content(MODEL, ask(wire.Part.from_bytes(png(), "image/png")))
    assert response.retries_taken == 1
    assert len(heard) == 1 and heard[0] is not None and 10.0 <= heard[0] <= 30.0
    assert sleeps == [heard[0]]  # the server's RetryInfo, not our 1-2 s backoff
    assert client.stats.by_status == {429: 1, 200: 1}


def test_per_day_quota_stops_without_retrying(
    emu: Emulator, client: GeminiClient, sleeps: list[float]
) -> None:
    emu.config.rpd = 1
    request = ask(wire.Part.from_text("hello"))
    client.generate_content(MODEL, request)
    with pytest.raises(errors.QuotaExhaustedError) as info:
        client.generate_content(MODEL, request)
    assert any("PerDay" in quota_id for quota_id in info.value.quota_ids)
    assert sleeps == []
    assert emu.stats.count("generateContent") == 2


def test_rejected_key_is_an_authentication_error_without_the_key(
    emu: Emulator, client: GeminiClient
) -> None:
    emu.config.rejected_api_keys = {KEY}
    with pytest.raises(errors.AuthenticationError) as info:
        client.list_models()
    assert KEY not in str(info.value)
    assert client.stats.requests == 1


def test_a_hung_connection_times_out_and_is_retried(
    emu: Emulator, connect: Callable[..., GeminiClient], sleeps: list[float]
) -> None:
    emu.config.timeout_rate = 1.0
    emu.config.timeout_hold = 5.0
    client = connect(timeout=0.3, retry=RetryPolicy(max_attempts=2, jitter=0.0))
    started = time.monotonic()
    with pytest.raises(errors.APITimeoutError):
        client.generate_content(MODEL, ask(wire.Part.from_text("x")))
    assert time.monotonic() - started < 3.0
    assert sleeps == [1.0]
    assert client.stats.transport_errors == 2


def test_batch_from_a_jsonl_file_and_its_downloaded_results(client: GeminiClient) -> None:
    request = ask(wire.Part.from_text("Say hi"))
    lines = [json.dumps({"key": f"r{i}", "request": request.to_wire()}) for i in range(3)]
    source = client.upload_file("\n".join(lines).encode(), mime_type="application/jsonl")
    batch = client.create_batch(MODEL, file_name=source.name, display_name="file batch")
    assert batch.state in ("PENDING", "RUNNING")
    for _ in range(100):
        batch = client.get_batch(batch.name)
        if batch.state not in ("PENDING", "RUNNING"):
            break
        time.sleep(0.02)
    assert batch.state == "SUCCEEDED"
    assert batch.metadata is not None and batch.metadata.output is not None
    results_file = batch.metadata.output.responses_file
    assert results_file
    results = [json.loads(line) for line in client.download_file(results_file).splitlines()]
    assert [r["key"] for r in results] == ["r0", "r1", "r2"]
    answer = wire.GenerateContentResponse.model_validate(results[0]["response"])
    assert answer_text(answer)
    assert batch.name in [b.name for b in client.list_batches()]
    client.delete_batch(batch.name)


def test_async_client_in_parallel(emu: Emulator) -> None:
    images = [png(32 + i, 32) for i in range(5)]

    async def run() -> list[str]:
        async with AsyncGeminiClient(KEY, base_url=emu.base_url) as client:
            responses = await asyncio.gather(
                *(
                    client.generate_content(MODEL, ask(wire.Part.from_bytes(d, "image/png")))
                    for d in images
                )
            )
            uploaded = await client.upload_file(images[0], mime_type="image/png", chunk_size=64)
            await client.wait_until_active(uploaded.name)
        return [answer_text(r) for r in responses]

    assert all(asyncio.run(run()))
    assert emu.stats.count("generateContent", 200) == 5


def test_no_log_line_carries_the_key(
    emu: Emulator, client: GeminiClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.generate_content(MODEL, ask(wire.Part.from_bytes(png(), "image/png")))
    client.upload_file(png(), mime_type="image/png", chunk_size=100)
    emu.config.rejected_api_keys = {KEY}
    with pytest.raises(errors.AuthenticationError):
        client.list_files()
    assert caplog.records  # httpx, httpcore and the emulator did log
    assert KEY not in caplog.text
