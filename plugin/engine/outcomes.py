"""What the engine hands back: work items, their outcomes, progress, the run's report, and why
a run stopped.

Shared by the online engine (:mod:`gemini_vision.engine.pipeline`) and Batch mode
(:mod:`gemini_vision.engine.batch`). No FiftyOne, no I/O.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from gemini_vision.engine.requests import ImageInfo
from gemini_vision.errors import (
    AuthenticationError,
    GeminiVisionError,
    NotFoundError,
    QuotaExhaustedError,
)

__all__ = [
    "EngineReport",
    "ImageInfo",
    "ItemOutcome",
    "Progress",
    "Sink",
    "WorkItem",
    "failed_outcome",
    "one_line",
    "stop_message",
]


#: distinct failure reasons a run keeps count of (the most common ones are reported)
MAX_REASONS = 100

#: stores a batch of outcomes; returns the reasons (by key) of the ones it could not store
Sink = Callable[[list["ItemOutcome"]], "Mapping[str, str] | None"]


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: a key the sink understands (a sample id) and an image source (a path,
    an http(s) URL, or the file's bytes)."""

    key: str
    source: str | bytes


@dataclass
class ItemOutcome:
    key: str
    status: Literal["ok", "failed"]
    answer: Any = None
    image: ImageInfo | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    error: str | None = None
    error_type: str | None = None
    raw_text: str | None = None
    cache_key: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: why a usable answer is known to be incomplete (cut off at the output limit, or broken
    #: JSON whose complete items were kept), else None
    incomplete: str | None = None
    #: what the sink will store, built from ``answer`` by the engine's ``convert`` hook
    converted: Any = None
    #: the error behind a failure (not stored: ``error`` and ``error_type`` say it in words)
    exception: GeminiVisionError | None = field(default=None, repr=False, compare=False)


@dataclass
class Progress:
    total: int | None = None
    done: int = 0
    ok: int = 0
    failed: int = 0
    cached: int = 0
    #: labelled from an answer known to be incomplete (see ``ItemOutcome.incomplete``)
    incomplete: int = 0
    #: segmentation objects written with a box but no usable mask (see ``mask_error``)
    objects_without_mask: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped_reason: str | None = None
    #: the stop came from an error every request would hit (key, model, quota)
    refused: bool = False
    #: why items failed, in words, with how many each (at most MAX_REASONS distinct ones)
    failure_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

    def record(self, outcome: ItemOutcome, errors: Counter[str], *, masks: bool = False) -> None:
        """Counts one finished item (its failure kind into ``errors``); ``masks``: the task
        asks for masks, so objects without a usable one are counted."""
        self.done += 1
        self.input_tokens += outcome.input_tokens
        self.output_tokens += outcome.output_tokens
        if outcome.status == "ok":
            self.ok += 1
            self.cached += int(outcome.cached)
            self.incomplete += outcome.incomplete is not None
            if masks:
                self.objects_without_mask += sum(
                    o.mask is None or o.mask.kind not in ("png", "polygon")
                    for o in getattr(outcome.answer, "objects", ())
                )
        else:
            self.failed += 1
            errors[outcome.error_type or "Error"] += 1
            reason = outcome.error or outcome.error_type or "failed"
            if reason in self.failure_reasons or len(self.failure_reasons) < MAX_REASONS:
                self.failure_reasons[reason] += 1

    def unstored(self, reasons: Mapping[str, str], errors: Counter[str]) -> None:
        """Recounts items counted as labelled whose labels the sink could not store (it
        gives their reasons, by key): they failed."""
        for reason in reasons.values():
            self.ok -= 1
            self.failed += 1
            errors["StorageError"] += 1
            if reason in self.failure_reasons or len(self.failure_reasons) < MAX_REASONS:
                self.failure_reasons[reason] += 1

    def label(self) -> str:
        total = f"/{self.total}" if self.total else ""
        return f"{self.done}{total} samples · {self.ok} labelled · {self.failed} failed" + (
            f" · {self.cached} from cache" if self.cached else ""
        )


@dataclass
class EngineReport:
    progress: Progress
    errors: Counter[str]
    retries: int
    rate_limited: int
    duration_seconds: float
    cost_usd: float
    requests: int = 0
    parse_retries: int = 0
    uploaded_files: int = 0
    reused_uploads: int = 0
    #: mode-specific figures (e.g. batch jobs), merged into :meth:`to_dict`
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        p = self.progress
        return self.extra | {
            "processed": p.done,
            "labelled": p.ok,
            "incomplete": p.incomplete,
            "objects_without_mask": p.objects_without_mask,
            "failed": p.failed,
            "from_cache": p.cached,
            "input_tokens": p.input_tokens,
            "output_tokens": p.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "requests": self.requests,
            "retries": self.retries,
            "parse_retries": self.parse_retries,
            "rate_limited": self.rate_limited,
            "uploaded_files": self.uploaded_files,
            "reused_uploads": self.reused_uploads,
            "duration_seconds": round(self.duration_seconds, 3),
            "stopped_reason": p.stopped_reason,
            "errors": dict(self.errors.most_common(20)),
            "failure_reasons": dict(p.failure_reasons.most_common(3)),
        }


def stop_message(exc: GeminiVisionError, max_wait: float | None = None) -> str:
    """Why the run stopped and what to do, for ``stopped_reason``. ``max_wait``: the longest
    wait the run accepts; a 429 asking for more stops it with when to come back."""
    saved = "Everything finished so far is saved"
    asked = getattr(exc, "retry_after", None)
    if max_wait is not None and asked is not None and asked > max_wait:
        back = datetime.now(timezone.utc) + timedelta(seconds=asked)
        return (
            f"Gemini asked to wait {_duration(asked)} before the next request ({exc.reason}); "
            f"waiting longer than {_duration(max_wait)} is not worth holding a worker. {saved}; "
            f"run again after {back:%Y-%m-%d %H:%M} UTC to continue."
        )
    if isinstance(exc, QuotaExhaustedError):
        if exc.status_code == 402:
            return f"Prepaid credit used up ({exc.reason}). {saved}; add credit and run again."
        if any("PerDay" in quota for quota in exc.quota_ids):
            return (
                f"Per-day quota exhausted ({exc.reason}). {saved}; run again after the quota "
                "resets (midnight Pacific time) to continue."
            )
        return (
            f"This key has no quota for the model ({exc.reason}). {saved}; choose another "
            "model, or enable billing for this one, and run again."
        )
    if isinstance(exc, AuthenticationError):
        if exc.status == "FAILED_PRECONDITION":
            return (
                f"The Gemini API refused this account ({exc.reason}); the free tier may not be "
                "available where you are: enable billing, then run again."
            )
        return f"The API key was refused ({exc.reason}); fix the key and run again."
    if isinstance(exc, NotFoundError):
        return f"The model was not found ({exc.reason}); choose another model and run again."
    return f"{exc.reason}. Unfinished samples were left untouched; run again to continue."


def _duration(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} s"


def failed_outcome(
    key: str, exc: GeminiVisionError, base: ItemOutcome | None = None
) -> ItemOutcome:
    """``base`` (or a new outcome for ``key``) failed with ``exc``'s one-line reason."""
    outcome = base or ItemOutcome(key, "failed")
    return dataclasses.replace(
        outcome,
        status="failed",
        answer=None,
        error=one_line(exc.reason),
        error_type=type(exc).__name__,
        raw_text=getattr(exc, "raw_text", None) or outcome.raw_text,
        exception=exc,
    )


def one_line(text: str, limit: int = 1000) -> str:
    """``text`` on one line (server messages span several), at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
