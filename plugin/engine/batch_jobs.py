"""What a Batch API job is made of on our side: its record in the journal (what must survive a
restart), the journal itself, and the request file being assembled.

See :mod:`.batch` for the runner that submits, polls and collects jobs.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from gemini_vision.api import wire
from gemini_vision.engine.requests import PreparedRequest

__all__ = [
    "DISPLAY_PREFIX",
    "BatchJournal",
    "BatchRecord",
    "JobChunk",
    "MemoryJournal",
    "parse_line",
]

#: display names of our jobs: this prefix and the record's token (finds a job after a crash)
DISPLAY_PREFIX = "gemini-vision-"


@dataclass
class BatchRecord:
    """What we must remember of one job to finish it after a restart.

    ``requests`` maps each request key to ``{"cache_key", "samples": [keys], "image": {...}}``
    where ``image`` holds the display/sent sizes (pixels), sha256 and MIME type."""

    token: str
    group: str
    model: str
    requests: dict[str, dict[str, Any]]
    state: str = "submitting"
    name: str | None = None
    input_file: str | None = None
    created: float = field(default_factory=time.time)

    @property
    def display_name(self) -> str:
        return DISPLAY_PREFIX + self.token

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def sample_count(self) -> int:
        return sum(len(entry["samples"]) for entry in self.requests.values())


class BatchJournal(Protocol):
    """Where open job records are kept between runs."""

    def open_records(self, group: str) -> list[BatchRecord]: ...

    def save(self, record: BatchRecord) -> None: ...

    def delete(self, token: str) -> None: ...


class MemoryJournal:
    """Records in a dict (tests; a restart of the process loses them)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def open_records(self, group: str) -> list[BatchRecord]:
        return [BatchRecord.from_dict(r) for r in self.records.values() if r["group"] == group]

    def save(self, record: BatchRecord) -> None:
        self.records[record.token] = json.loads(json.dumps(record.to_dict()))

    def delete(self, token: str) -> None:
        self.records.pop(token, None)


class JobChunk:
    """Requests of the next job: inline pairs in memory until they pass the inline limit, then
    JSONL lines in a temporary file (so memory stays flat for huge jobs)."""

    def __init__(self, inline_limit: int) -> None:
        self.inline_limit = inline_limit
        self.requests: dict[str, dict[str, Any]] = {}
        self.pairs: list[tuple[str, wire.GenerateContentRequest]] = []
        self.size = 0
        self.path: str | None = None
        self._file: Any = None

    def add(self, prepared: PreparedRequest, request: wire.GenerateContentRequest) -> None:
        entry = self.requests.get(prepared.cache_key)
        if entry is not None:
            entry["samples"].append(prepared.key)
            return
        info = prepared.info
        self.requests[prepared.cache_key] = {
            "samples": [prepared.key],
            "image": {
                "display_size": list(info.display_size),
                "sent_size": list(info.sent_size),
                "sha256": info.sha256,
                "mime_type": info.mime_type,
            },
        }
        line = json.dumps({"key": prepared.cache_key, "request": request.to_wire()})
        self.size += len(line) + 1
        if self.path is None and self.size <= self.inline_limit:
            self.pairs.append((prepared.cache_key, request))
            return
        if self.path is None:
            fd, self.path = tempfile.mkstemp(prefix="gemini-batch-", suffix=".jsonl")
            self._file = os.fdopen(fd, "w", encoding="utf-8")
            for key, earlier in self.pairs:
                self._file.write(json.dumps({"key": key, "request": earlier.to_wire()}) + "\n")
            self.pairs = []
        self._file.write(line + "\n")

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def inline(self) -> bool:
        return self.path is None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        if self.path:
            os.unlink(self.path)
            self.path = None


def parse_line(raw: bytes) -> dict[str, Any]:
    """One line of a responses file: ``{"key", "response" | "error"}`` with typed values."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    response = data.get("response")
    error = data.get("error")
    return {
        "key": data.get("key"),
        "response": wire.GenerateContentResponse.model_validate(response) if response else None,
        "error": wire.Status.model_validate(error) if error else None,
    }
