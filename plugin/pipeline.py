"""The engine: stream work items through image preparation, Gemini and parsing, concurrently.

::

    items (sync iterator, e.g. a DB cursor)
      └─ producer ──► queue (bounded) ──► N workers ──► results queue ──► writer ──► sink(batch)
                                          │ prepare image (thread pool, off the event loop)
                                          │ build request → cache lookup
                                          │ rate limiter → client (retries inside) → cache put
                                          └ parse (retry once on malformed/truncated text)

Memory stays flat whatever the number of items: the producer pulls from the iterator only as
fast as workers drain a bounded queue, and results leave in batches. Every item ends either
``ok`` (an answer) or ``failed`` (a one-line reason naming the cause), except when the run is
stopped by an error that is not the item's fault (per-day quota exhausted, invalid API key,
unknown model): then unfinished items are left untouched, so a rerun picks them up.

This module is pure: the FiftyOne adapter supplies the items and the sink.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from . import images as images_mod
from . import tasks as tasks_mod
from .cache import ResponseCache, answer_from_response, request_cache_key
from .catalog import price_for
from .client import AsyncGeminiClient, answer_text
from .errors import (
    AuthenticationError,
    BlockedResponseError,
    GeminiVisionError,
    NotFoundError,
    ParseError,
    PermissionDeniedError,
    QuotaExhaustedError,
    TruncatedResponseError,
)
from .ratelimit import RateLimiter, RateLimitSettings

__all__ = [
    "Engine",
    "EngineReport",
    "EngineSettings",
    "ItemOutcome",
    "Progress",
    "WorkItem",
    "run_coroutine_sync",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: errors that are not the item's fault and would fail every other item the same way
FATAL_ERRORS: tuple[type[GeminiVisionError], ...] = (
    QuotaExhaustedError,
    AuthenticationError,
    NotFoundError,
)


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: a key the sink understands (a sample id) and an image source (a path,
    an http(s) URL, or the file's bytes)."""

    key: str
    source: str | bytes


@dataclass(frozen=True)
class ImageInfo:
    """What we sent for an item: sizes in pixels (width, height) and the bytes' digest."""

    display_size: tuple[int, int]
    sent_size: tuple[int, int]
    sha256: str
    mime_type: str


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


@dataclass(frozen=True)
class EngineSettings:
    model: str
    max_image_side: int | None = images_mod.DEFAULT_MAX_SIDE
    concurrency: int = 16
    prepare_workers: int = 2
    #: extra requests for an answer that was malformed or truncated before giving up
    parse_retries: int = 1
    write_batch_size: int = 64
    write_interval_seconds: float = 2.0
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    #: requests whose inline images exceed this many bytes upload them with the Files API
    inline_limit_bytes: int = 20 * 1024 * 1024
    request_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    total: int | None = None
    done: int = 0
    ok: int = 0
    failed: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped_reason: str | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

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

    def to_dict(self) -> dict[str, Any]:
        p = self.progress
        return {
            "processed": p.done,
            "labelled": p.ok,
            "failed": p.failed,
            "from_cache": p.cached,
            "input_tokens": p.input_tokens,
            "output_tokens": p.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "duration_seconds": round(self.duration_seconds, 3),
            "stopped_reason": p.stopped_reason,
            "errors": dict(self.errors.most_common(20)),
        }


class _Stop(Exception):
    """Raised inside a worker when the run must stop for a reason that is not the item's."""


class Engine:
    """Runs one task over many items with bounded concurrency, pacing, caching and retries."""

    def __init__(
        self,
        client: AsyncGeminiClient,
        task: tasks_mod.TaskSpec,
        settings: EngineSettings,
        *,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        tasks_mod.check_model_supports(task, settings.model)
        self.client = client
        self.task = task
        self.settings = settings
        self.cache = cache
        self.limiter = limiter or RateLimiter(settings.rate_limits)
        self.on_progress = on_progress
        self.progress = Progress()
        self.errors: Counter[str] = Counter()
        self._stop_reason: str | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.prepare_workers, thread_name_prefix="gemini-prepare"
        )
        self._price = price_for(settings.model)
        self._retries_before = client.stats.retries

    # ---------------------------------------------------------------------------------------
    # public API

    async def run(
        self,
        items: Iterable[WorkItem],
        sink: Callable[[list[ItemOutcome]], None],
        *,
        total: int | None = None,
    ) -> EngineReport:
        """Processes every item (or until a fatal error) and hands outcomes to ``sink``."""
        self.progress = Progress(total=total)
        work: asyncio.Queue[WorkItem | None] = asyncio.Queue(maxsize=2 * self.settings.concurrency)
        results: asyncio.Queue[ItemOutcome | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write(results, sink))
        workers = [
            asyncio.create_task(self._work(work, results))
            for _ in range(max(1, self.settings.concurrency))
        ]
        try:
            await self._produce(iter(items), work)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await results.put(None)
            await writer
            self._pool.shutdown(wait=False)
        return self.report()

    async def answer(self, sources: Sequence[str]) -> ItemOutcome:
        """One request with every image of ``sources`` (multi-image prompts)."""
        try:
            prepared = [await self._prepare(source) for source in sources]
            outcome = await self._ask(",".join(sources), prepared)
        except GeminiVisionError as exc:
            outcome = ItemOutcome(
                ",".join(sources), "failed", error=exc.reason, error_type=type(exc).__name__
            )
        finally:
            self._pool.shutdown(wait=False)
        self._count(outcome)
        return outcome

    def report(self) -> EngineReport:
        p = self.progress
        return EngineReport(
            progress=p,
            errors=self.errors,
            retries=self.client.stats.retries - self._retries_before,
            rate_limited=self.limiter.stats.rate_limited,
            duration_seconds=p.elapsed,
            cost_usd=self._price.cost(p.input_tokens, p.output_tokens),
        )

    # ---------------------------------------------------------------------------------------
    # stages

    async def _produce(
        self, items: Iterator[WorkItem], work: asyncio.Queue[WorkItem | None]
    ) -> None:
        chunk_size = 32
        while self._stop_reason is None:
            chunk = await asyncio.to_thread(_take, items, chunk_size)
            for item in chunk:
                if self._stop_reason is not None:
                    break
                await work.put(item)
            if len(chunk) < chunk_size:
                break
        for _ in range(self.settings.concurrency):
            await work.put(None)

    async def _work(
        self, work: asyncio.Queue[WorkItem | None], results: asyncio.Queue[ItemOutcome | None]
    ) -> None:
        while True:
            item = await work.get()
            if item is None or self._stop_reason is not None:
                return
            try:
                outcome = await self._process(item)
            except _Stop:
                return
            self._count(outcome)
            await results.put(outcome)

    async def _write(
        self, results: asyncio.Queue[ItemOutcome | None], sink: Callable[[list[ItemOutcome]], None]
    ) -> None:
        batch: list[ItemOutcome] = []
        last_flush = time.monotonic()
        finished = False
        while not finished:
            timeout = max(
                0.05, self.settings.write_interval_seconds - (time.monotonic() - last_flush)
            )
            try:
                outcome = await asyncio.wait_for(results.get(), timeout)
            except asyncio.TimeoutError:
                outcome = ...  # type: ignore[assignment]
            if outcome is None:
                finished = True
            elif outcome is not ...:
                batch.append(outcome)
            due = time.monotonic() - last_flush >= self.settings.write_interval_seconds
            if batch and (finished or due or len(batch) >= self.settings.write_batch_size):
                await asyncio.to_thread(sink, batch)
                batch = []
                last_flush = time.monotonic()
                if self.on_progress is not None:
                    self.on_progress(self.progress)

    # ---------------------------------------------------------------------------------------
    # one item

    async def _process(self, item: WorkItem) -> ItemOutcome:
        try:
            prepared = await self._prepare(item.source)
            return await self._ask(item.key, [prepared])
        except FATAL_ERRORS as exc:
            self._stop(exc)
            raise _Stop from exc
        except PermissionDeniedError as exc:
            if "file" in str(exc).lower():
                return _failed(item.key, exc)
            self._stop(exc)
            raise _Stop from exc
        except GeminiVisionError as exc:
            return _failed(item.key, exc)

    async def _prepare(self, source: str) -> images_mod.PreparedImage:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool,
            lambda: images_mod.prepare_image(source, max_side=self.settings.max_image_side),
        )

    async def _ask(self, key: str, prepared: list[images_mod.PreparedImage]) -> ItemOutcome:
        parts = [await self._image_part(image) for image in prepared]
        request = tasks_mod.build_request(
            self.task, parts, model=self.settings.model, **self.settings.request_options
        )
        cache_key = request_cache_key(self.settings.model, request)
        info = _image_info(prepared[0])
        cached = await asyncio.to_thread(self.cache.get, cache_key) if self.cache else None
        if cached is not None:
            try:
                answer = tasks_mod.interpret_answer(self.task, cached.text)
                return ItemOutcome(key, "ok", answer, info, cached=True, cache_key=cache_key)
            except ParseError:
                pass  # an older parser accepted it; ask again

        last_error: GeminiVisionError | None = None
        outcome = ItemOutcome(key, "failed", image=info, cache_key=cache_key)
        for _attempt in range(1 + self.settings.parse_retries):
            tokens = sum(image.estimated_tokens(self.settings.model) for image in prepared)
            await self.limiter.acquire(tokens)
            response = await self.client.generate_content(self.settings.model, request)
            self.limiter.on_success()
            usage = response.usage_metadata
            outcome.input_tokens += usage.input_tokens if usage else 0
            outcome.output_tokens += usage.output_tokens if usage else 0
            try:
                text = answer_text(response)
            except TruncatedResponseError as exc:
                last_error = exc
                salvaged = _salvage(self.task, exc.raw_text)
                if salvaged is not None:
                    outcome.status, outcome.answer, outcome.raw_text = "ok", salvaged, exc.raw_text
                    outcome.warnings.append(
                        "answer truncated at the output limit; kept the complete items"
                    )
                    return outcome
                continue
            except BlockedResponseError as exc:
                return _failed(key, exc, outcome)
            try:
                outcome.answer = tasks_mod.interpret_answer(self.task, text)
            except ParseError as exc:
                last_error = exc
                outcome.raw_text = text
                continue
            outcome.status, outcome.raw_text = "ok", text
            if self.cache is not None:
                await asyncio.to_thread(
                    self.cache.put, cache_key, answer_from_response(text, response)
                )
            return outcome
        assert last_error is not None
        return _failed(key, last_error, outcome)

    async def _image_part(self, image: images_mod.PreparedImage) -> Any:
        if len(image.data) * 4 // 3 < self.settings.inline_limit_bytes:
            return image.to_part()
        uploaded = await self.client.upload_file(image.data, mime_type=image.mime_type)
        uploaded = await self.client.wait_until_active(uploaded.name)
        from .wire import Part

        return Part.from_uri(uploaded.uri or "", image.mime_type)

    # ---------------------------------------------------------------------------------------
    # bookkeeping

    def _count(self, outcome: ItemOutcome) -> None:
        p = self.progress
        p.done += 1
        p.input_tokens += outcome.input_tokens
        p.output_tokens += outcome.output_tokens
        if outcome.status == "ok":
            p.ok += 1
            p.cached += int(outcome.cached)
        else:
            p.failed += 1
            self.errors[outcome.error_type or "Error"] += 1

    def _stop(self, exc: GeminiVisionError) -> None:
        if self._stop_reason is None:
            self._stop_reason = exc.reason
            self.progress.stopped_reason = exc.reason
            logger.warning("Stopping the run: %s", exc.reason)


def _take(items: Iterator[T], n: int) -> list[T]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= n:
            break
    return chunk


def _image_info(image: images_mod.PreparedImage) -> ImageInfo:
    return ImageInfo(
        display_size=image.display_size,
        sent_size=image.sent_size,
        sha256=image.sha256,
        mime_type=image.mime_type,
    )


def _failed(key: str, exc: GeminiVisionError, base: ItemOutcome | None = None) -> ItemOutcome:
    outcome = base or ItemOutcome(key, "failed")
    return dataclasses.replace(
        outcome,
        status="failed",
        answer=None,
        error=exc.reason,
        error_type=type(exc).__name__,
        raw_text=getattr(exc, "raw_text", None) or outcome.raw_text,
    )


def _salvage(task: tasks_mod.TaskSpec, partial: str | None) -> Any:
    """The complete items of a truncated structured answer, or None if there are none."""
    if not partial:
        return None
    try:
        answer = tasks_mod.interpret_answer(task, partial)
    except ParseError:
        return None
    objects = getattr(answer, "objects", None)
    return answer if objects else None


def run_coroutine_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs ``factory()`` to completion from synchronous code.

    Works whether or not the calling thread already runs an event loop (the FiftyOne App's
    server, Jupyter): in that case the coroutine runs on a fresh loop in a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="gemini-vision-engine", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


AwaitableSink = Callable[[list[ItemOutcome]], Awaitable[None]]
