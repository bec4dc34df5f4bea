"""The API key travels only in the x-goog-api-key header: never in a URL, body, log, error or repr.

One recognisable fake key; a fake server that succeeds, fails in every way, and even echoes the
key back in its error texts. Everything the client produces is collected and searched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from support.fakes import (
    BASE,
    KEY,
    answer,
    error_body,
    file_resource,
    make_async_client,
    make_client,
    quota_details,
)

from gemini_vision.api import wire
from gemini_vision.api.client import AsyncGeminiClient, GeminiClient
from gemini_vision.api.retry import RetryPolicy
from gemini_vision.errors import GeminiVisionError

REQUEST = wire.GenerateContentRequest(contents=[wire.Content(parts=[wire.Part.from_text("hi")])])
SESSION = f"{BASE}/upload/v1beta/files?upload_id=s1"
INVALID_KEY = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]

#: failures by model name: generateContent on ``models/<name>`` answers with (status, body)
#: or raises (httpx error type, message)
FAILURES: dict[str, tuple[Any, Any]] = {
    "bad-key": (
        400,
        error_body(400, f"API key not valid: {KEY}", "INVALID_ARGUMENT", INVALID_KEY),
    ),
    "unauthenticated": (401, error_body(401, f"key={KEY}", "UNAUTHENTICATED")),
    "denied": (403, [error_body(403, f"x-goog-api-key: {KEY} is blocked", "PERMISSION_DENIED")]),
    "missing": (404, error_body(404, "not found", "NOT_FOUND")),
    "per-minute": (
        429,
        error_body(
            429, f"{KEY} slow down", "RESOURCE_EXHAUSTED", quota_details("PerMinute", "1s")
        ),
    ),
    "per-day": (429, error_body(429, "daily", "RESOURCE_EXHAUSTED", quota_details("PerDay"))),
    "internal": (500, error_body(500, "internal", "INTERNAL")),
    "html": (502, f"<html>proxy saw ?key={KEY}</html>"),
    "not-json-200": (200, f"echo {KEY}"),
    "timeout": (httpx.ReadTimeout, "The read operation timed out"),
    "refused": (httpx.ConnectError, "[Errno 111] Connection refused"),
    "echoing-transport": (httpx.ConnectError, f"proxy rejected {KEY}"),
}


def failure_reply(name: str) -> httpx.Response:
    kind, body = FAILURES[name]
    if not isinstance(kind, int):
        raise kind(body)
    if isinstance(body, str):
        return httpx.Response(kind, text=body)
    return httpx.Response(kind, json=body)


def fake_gemini(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    command = request.headers.get("x-goog-upload-command", "")
    if command == "start":
        return httpx.Response(200, headers={"X-Goog-Upload-URL": SESSION})
    if "upload" in command:
        status = "final" if "finalize" in command else "active"
        body = {"file": file_resource("up1")} if status == "final" else {}
        return httpx.Response(200, headers={"X-Goog-Upload-Status": status}, json=body)
    if path.endswith(":generateContent"):
        name = path.split("/models/")[1].split(":")[0]
        return failure_reply(name) if name in FAILURES else httpx.Response(200, json=answer())
    if path.startswith("/download/"):
        return httpx.Response(404, json=error_body(404, "no", "NOT_FOUND"))
    if path.endswith(":download"):
        return httpx.Response(200, content=b'{"key": "a"}\n')
    if path.endswith(":countTokens"):
        return httpx.Response(200, json={"totalTokens": 3})
    if path.endswith(":batchGenerateContent") or path.startswith("/v1beta/batches"):
        return httpx.Response(200, json={"name": "batches/b1", "metadata": {"state": "x"}})
    if path == "/v1beta/models":
        token = request.url.params.get("pageToken")
        page: dict[str, Any] = {"models": [{"name": f"models/m{token or 0}"}]}
        if not token:
            page["nextPageToken"] = "1"
        return httpx.Response(200, json=page)
    return httpx.Response(404, json=error_body(404, "no route", "NOT_FOUND"))


class Recording:
    """Wraps the fake server and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return fake_gemini(request)


def calls(client: GeminiClient) -> Iterator[Callable[[], Any]]:
    yield lambda: client.generate_content("gemini-2.5-flash", REQUEST)
    yield lambda: client.count_tokens("gemini-2.5-flash", REQUEST)
    yield lambda: client.list_models(page_size=1)
    yield lambda: client.upload_file(b"0123456789", mime_type="image/png", chunk_size=4)
    yield lambda: client.image_part(bytes(300), "image/png")
    yield lambda: client.create_batch("gemini-2.5-flash", [("k", REQUEST)])
    yield lambda: client.get_batch("b1")
    yield lambda: client.download_file("batch-b1")
    for name in FAILURES:
        yield lambda name=name: client.generate_content(name, REQUEST)


def exception_texts(error: BaseException) -> Iterator[str]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        if isinstance(current, GeminiVisionError):
            yield current.reason
            yield repr(vars(current))
        current = current.__cause__ or current.__context__


def object_texts(*objects: Any) -> Iterator[str]:
    for obj in objects:
        yield repr(obj)
        if hasattr(obj, "__dict__"):
            yield repr(vars(obj))
        if hasattr(obj, "model_dump_json"):
            yield obj.model_dump_json()


def request_texts(requests: list[httpx.Request]) -> Iterator[str]:
    for request in requests:
        yield str(request.url)
        yield request.content.decode("latin-1")
        yield repr(request)
        for name, value in request.headers.items():
            if name != "x-goog-api-key":
                yield f"{name}: {value}"


def exercise(client: GeminiClient) -> tuple[list[Any], list[BaseException]]:
    results: list[Any] = []
    failures: list[BaseException] = []
    for call in calls(client):
        try:
            results.append(call())
        except GeminiVisionError as exc:
            failures.append(exc)
    return results, failures


def test_the_key_never_leaves_the_header(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = Recording()
    client = make_client(server, retry=RetryPolicy(max_attempts=2), inline_limit_bytes=100)
    results, failures = exercise(client)

    assert len(results) == 8
    assert len(failures) == len(FAILURES)  # every failure type really happened
    texts = [
        *request_texts(server.requests),
        *(text for failure in failures for text in exception_texts(failure)),
        *object_texts(client, client.config, client.stats, client._ops, client._ops.loop),
        *object_texts(*results),
        *(record.getMessage() for record in caplog.records),
        caplog.text,
    ]
    leaks = [text for text in texts if KEY in text]
    assert leaks == []
    assert any("[REDACTED]" in text for text in texts)  # the echoed keys were scrubbed

    api_requests = [r for r in server.requests if not str(r.url).startswith(SESSION)]
    chunk_requests = [r for r in server.requests if str(r.url).startswith(SESSION)]
    assert chunk_requests and all("x-goog-api-key" not in r.headers for r in chunk_requests)
    assert all(r.headers["x-goog-api-key"] == KEY for r in api_requests)


def test_the_async_client_keeps_the_key_in_the_header_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = Recording()
    client: AsyncGeminiClient = make_async_client(server, retry=RetryPolicy(max_attempts=2))

    async def run() -> list[BaseException]:
        errors: list[BaseException] = []
        await client.upload_file(b"abcdef", mime_type="image/png", chunk_size=2)
        for name in FAILURES:
            try:
                await client.generate_content(name, REQUEST)
            except GeminiVisionError as exc:
                errors.append(exc)
        return errors

    failures = asyncio.run(run())
    assert len(failures) == len(FAILURES)
    texts = [
        *request_texts(server.requests),
        *(text for failure in failures for text in exception_texts(failure)),
        *object_texts(client, client.config),
        caplog.text,
    ]
    assert [text for text in texts if KEY in text] == []
