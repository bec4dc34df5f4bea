"""Small fakes for the client tests: a scripted Gemini over httpx.MockTransport, sleep recorders.

Not a test module; imported by tests/test_client*.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from gemini_vision.api.client import AsyncGeminiClient, GeminiClient

#: recognisable, key-shaped (39 chars, "AIza" prefix) and fake
KEY = "AIzaSyFAKE_gemini_vision_test_key_00042"
BASE = "https://gemini.test"
assert len(KEY) == 39

Handler = Callable[[httpx.Request], httpx.Response]
Reply = httpx.Response | Exception


class Sleeps(list[float]):
    """A sleep function that records the requested waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class AsyncSleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Script:
    """Answers requests with queued replies (responses or exceptions) and records them.

    ``routes`` maps ``"METHOD /path"`` to a queue; the last reply of a queue repeats.
    """

    def __init__(self, replies: list[Reply] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[str, list[Reply]] = {}
        if replies is not None:
            self.routes["*"] = list(replies)

    def on(self, method: str, path: str, *replies: Reply) -> Script:
        self.routes[f"{method} {path}"] = list(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = f"{request.method} {request.url.path}"
        queue = self.routes.get(route) or self.routes.get("*")
        if not queue:
            return httpx.Response(404, json=error_body(404, f"no route {route}", "NOT_FOUND"))
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def make_client(handler: Handler, **options: Any) -> GeminiClient:
    """A sync client on a MockTransport, recording sleeps, with a seeded jitter."""
    options.setdefault("sleep", Sleeps())
    options.setdefault("rng", random.Random(0))
    return GeminiClient(KEY, base_url=BASE, transport=httpx.MockTransport(handler), **options)


def make_async_client(handler: Handler, **options: Any) -> AsyncGeminiClient:
    options.setdefault("sleep", AsyncSleeps())
    options.setdefault("rng", random.Random(0))
    return AsyncGeminiClient(KEY, base_url=BASE, transport=httpx.MockTransport(handler), **options)


def error_body(
    code: int, message: str, status: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def quota_details(quota_id: str, retry_delay: str | None = None) -> list[dict[str, Any]]:
    """QuotaFailure + Help (+ RetryInfo), as a real 429 carries them."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generate_content_requests", "quotaId": quota_id}],
        },
        {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
    ]
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    return details


def answer(text: str = "ok", finish: str = "STOP", **extra: Any) -> dict[str, Any]:
    """A generateContent response body with one candidate."""
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 2,
            "totalTokenCount": 12,
        },
        "modelVersion": "gemini-2.5-flash",
        **extra,
    }


def file_resource(file_id: str = "abc123", state: str = "ACTIVE", **extra: Any) -> dict[str, Any]:
    return {
        "name": f"files/{file_id}",
        "mimeType": "image/png",
        "sizeBytes": "10",
        "uri": f"{BASE}/v1beta/files/{file_id}",
        "state": state,
        **extra,
    }
