"""A content-addressed cache of model answers, so no answer is ever paid for twice.

The key of a request is the SHA-256 of its canonical JSON body with every inline image replaced
by the SHA-256 of its bytes, plus the model id: the same pixels, prompt, schema and settings give
the same key, whatever the sample or the dataset. Reruns, crash recoveries and re-parses with a
better parser therefore cost nothing. Only usable answers are stored (never errors).

Stores: :class:`MemoryCache` (tests, one-off runs) and, in the FiftyOne adapters, a store in
FiftyOne's MongoDB database shared by every delegated-operation worker.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from gemini_vision.api.wire import GenerateContentRequest

__all__ = [
    "CachedAnswer",
    "MemoryCache",
    "ResponseCache",
    "answer_from_response",
    "request_cache_key",
]

CACHE_KEY_VERSION = 1


@dataclass(frozen=True)
class CachedAnswer:
    """What we keep of one successful response."""

    text: str
    finish_reason: str | None
    model_version: str | None
    input_tokens: int
    output_tokens: int
    created: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CachedAnswer:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


class ResponseCache(Protocol):
    """Where answers are kept. Implementations must be safe to call from several threads."""

    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, key: str, answer: CachedAnswer) -> None: ...


def _strip_payloads(node: Any) -> Any:
    """Replaces inline image bytes by their digest, recursively, so keys stay small."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("inlineData", "inline_data") and isinstance(value, dict):
                data = str(value.get("data", ""))
                digest = hashlib.sha256(data.encode("ascii", "replace")).hexdigest()
                out[key] = {"mimeType": value.get("mimeType"), "sha256": digest}
            else:
                out[key] = _strip_payloads(value)
        return out
    if isinstance(node, list):
        return [_strip_payloads(item) for item in node]
    return node


def request_cache_key(model: str, request: GenerateContentRequest) -> str:
    """The content address of ``request`` sent to ``model`` (hex SHA-256)."""
    body = _strip_payloads(request.to_wire())
    canonical = json.dumps(
        {"v": CACHE_KEY_VERSION, "model": model.removeprefix("models/"), "request": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class MemoryCache:
    """A dict in memory (tests, one-off runs)."""

    def __init__(self) -> None:
        self._items: dict[str, CachedAnswer] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._items[key] = answer

    def __len__(self) -> int:
        return len(self._items)


def answer_from_response(text: str, response: Any) -> CachedAnswer:
    """Builds the cache entry for a usable ``wire.GenerateContentResponse``."""
    usage = response.usage_metadata
    return CachedAnswer(
        text=text,
        finish_reason=response.finish_reason,
        model_version=response.model_version,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        created=time.time(),
    )
